from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def answer_value(values: Any, code: str) -> str:
    """The value a form field had when posted, so a page re-renders with the officer's input."""
    return values.get(code, "") if values else ""


@register.simple_tag
def is_chosen(values: Any, code: str, choice: str) -> bool:
    if not values:
        return False
    if hasattr(values, "getlist"):
        return choice in values.getlist(code)
    value = values.get(code)
    return choice in value if isinstance(value, list) else value == choice


@register.filter
def errors_for(errors: dict[str, list[str]], code: str) -> list[str]:
    return errors.get(code, []) if errors else []
