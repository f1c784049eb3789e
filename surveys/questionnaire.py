"""A compiled, immutable questionnaire: the one place where raw answers become typed values.

Built from a normalised definition (surveys/definition.py), with every expression parsed once. The
portal, the API and any import of answers go through `Questionnaire.clean_answers`, which applies each
item's `clean_answer`, skip logic, required flags and constraints, and reports every error by item code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import pycountry
from django.core.exceptions import ValidationError

from surveys.definition import BOUND_MAX_INTEGER_DIGITS, has_lone_surrogate, iter_items
from surveys.expressions import Expression, ExpressionError, parse

INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")
TEXT_MAX_LENGTH = {"text": 2_000, "long_text": 20_000}
STORABLE_LIMIT = Decimal(10) ** BOUND_MAX_INTEGER_DIGITS
SINGLE_CHOICE_TYPES = frozenset({"select_one", "yes_no", "country"})
CHOICE_TYPES = SINGLE_CHOICE_TYPES | {"select_multiple"}
Answer = str | list[str] | int | Decimal | None


@cache
def iso_country_codes() -> tuple[str, ...]:
    return tuple(sorted(c.alpha_2 for c in pycountry.countries))


def _holds_or_undecided(condition: Expression, values: Mapping[str, object]) -> bool:
    """A skip condition's value; one that cannot be decided (regex() gave up) shows the question, as the
    browser does with a pattern it cannot run: asking too much is safer than hiding a question."""
    try:
        return condition.is_true(values)
    except ExpressionError:
        return True


def _text(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or next(iter(texts.values()), "")


@dataclass(frozen=True)
class ItemSpec:
    code: str
    type: str
    label: Mapping[str, str]
    required: bool
    relevant: Expression | None
    constraint: Expression | None
    constraint_message: Mapping[str, str]
    required_message: Mapping[str, str]
    choices: tuple[str, ...]
    min: Decimal | None
    max: Decimal | None
    # Relevance of the enclosing groups, outermost first: all must hold for the item to be asked.
    group_relevant: tuple[Expression, ...] = field(default=())
    quasi_identifier: bool = False

    def clean_answer(self, raw: object) -> Answer:
        """Turn raw input into a typed value (None when unanswered) or raise ValidationError."""
        if raw is None or raw == "" or raw == []:
            return None
        if self.type == "note":
            raise ValidationError("This item is a note and takes no answer.", code="note")
        if self.type in TEXT_MAX_LENGTH:
            return self._clean_text(raw)
        if self.type in SINGLE_CHOICE_TYPES:
            return self._clean_single_choice(raw)
        if self.type == "select_multiple":
            return self._clean_multiple_choice(raw)
        if self.type == "integer":
            return self._check_bounds(self._clean_integer(raw))
        if self.type == "decimal":
            return self._check_bounds(self._clean_decimal(raw))
        raise ValidationError(
            f"Unknown item type {self.type!r}.", code="type"
        )  # unreachable for valid definitions

    def _clean_text(self, raw: object) -> str | None:
        if not isinstance(raw, str):
            raise ValidationError("Expected text.", code="type")
        if "\x00" in raw:
            raise ValidationError("Text must not contain NUL characters.", code="invalid")
        if has_lone_surrogate(raw):
            # Sealed, it would make the pool's release fail for every respondent of the edition.
            raise ValidationError("Text must be valid Unicode (no lone surrogates).", code="invalid")
        text = raw.strip()
        limit = TEXT_MAX_LENGTH[self.type]
        if len(text) > limit:
            raise ValidationError(f"At most {limit:,} characters, please.", code="max_length")
        return text or None

    def _clean_single_choice(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise ValidationError("Expected one choice code.", code="type")
        if raw not in self.choices:
            raise ValidationError(f"{raw!r} is not one of the choices.", code="invalid_choice")
        return raw

    def _clean_multiple_choice(self, raw: object) -> list[str] | None:
        codes: Sequence[object]
        if isinstance(raw, str):
            codes = raw.split()  # XLSForm's own encoding: codes separated by spaces
        elif isinstance(raw, list | tuple):
            codes = raw
        else:
            raise ValidationError("Expected a list of choice codes.", code="type")
        unknown = [c for c in codes if not isinstance(c, str) or c not in self.choices]
        if unknown:
            raise ValidationError(
                f"Not among the choices: {', '.join(map(repr, unknown))}.", code="invalid_choice"
            )
        chosen = set(codes)
        # Keep the questionnaire's order so equal answers are equal values.
        return [c for c in self.choices if c in chosen] or None

    def _clean_integer(self, raw: object) -> int:
        if isinstance(raw, bool):
            raise ValidationError("Expected a whole number.", code="type")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str) and INTEGER_TEXT.fullmatch(raw.strip()):
            return int(raw.strip())
        if isinstance(raw, float | Decimal) and math.isfinite(raw) and raw == int(raw):
            return int(raw)
        raise ValidationError("Expected a whole number.", code="type")

    def _clean_decimal(self, raw: object) -> Decimal:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
            raise ValidationError("Expected a number.", code="type")
        if isinstance(raw, str) and len(raw) > 40:
            raise ValidationError("Expected a number.", code="type")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValidationError("Expected a number.", code="type") from None
        if not value.is_finite():
            raise ValidationError("Expected a finite number.", code="type")
        return value

    def _check_bounds(self, value: int | Decimal) -> int | Decimal:
        # What an answer column holds (numeric(40, 10)): a larger number would fail the whole release.
        if abs(value) >= STORABLE_LIMIT:
            raise ValidationError(
                f"At most {BOUND_MAX_INTEGER_DIGITS} digits before the decimal point, please.",
                code="max_value",
            )
        if self.min is not None and value < self.min:
            raise ValidationError(
                f"The smallest allowed value is {self.min.normalize():f}.", code="min_value"
            )
        if self.max is not None and value > self.max:
            raise ValidationError(f"The largest allowed value is {self.max.normalize():f}.", code="max_value")
        return value


class AnswersInvalid(Exception):
    """Every problem with a set of answers, by item code (or "__all__")."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__(f"{sum(len(v) for v in errors.values())} invalid answer(s)")
        self.errors = dict(errors)


class Questionnaire:
    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.default_language: str = definition["default_language"]
        choice_lists = {
            name: tuple(choice["code"] for choice in choices)
            for name, choices in definition["choice_lists"].items()
        }
        items: dict[str, ItemSpec] = {}
        for item, groups in iter_items(definition):
            list_name = item.get("choice_list")
            if list_name:
                choices = choice_lists[list_name]
            elif item["type"] == "country":
                choices = iso_country_codes()
            else:
                choices = ()
            items[item["code"]] = ItemSpec(
                code=item["code"],
                type=item["type"],
                label=item["label"],
                required=item["required"],
                relevant=parse(item["relevant"]) if item["relevant"] else None,
                constraint=parse(item["constraint"]) if item["constraint"] else None,
                constraint_message=item["constraint_message"],
                required_message=item["required_message"],
                choices=choices,
                min=Decimal(item["min"]) if item["min"] is not None else None,
                max=Decimal(item["max"]) if item["max"] is not None else None,
                group_relevant=tuple(parse(g["relevant"]) for g in groups if g.get("relevant")),
                quasi_identifier=item["quasi_identifier"],
            )
        self.items = items

    def __iter__(self) -> Iterator[ItemSpec]:
        return iter(self.items.values())

    def is_relevant(self, item: ItemSpec, values: Mapping[str, object]) -> bool:
        conditions = (*item.group_relevant, *((item.relevant,) if item.relevant else ()))
        return all(_holds_or_undecided(expr, values) for expr in conditions)

    def _typed_or_none(self, raw: Mapping[str, object]) -> dict[str, Answer]:
        values: dict[str, Answer] = {}
        for item in self:
            try:
                values[item.code] = item.clean_answer(raw.get(item.code))
            except ValidationError:
                values[item.code] = None
        return values

    def asked_items(self, raw: Mapping[str, object]) -> set[str]:
        """Codes of the items that skip logic shows, given these (possibly partial, invalid) answers."""
        values = self._typed_or_none(raw)
        asked = set()
        for item in self:
            if self.is_relevant(item, values):
                asked.add(item.code)
            else:
                values[item.code] = None
        return asked

    def without_hidden(self, raw: Mapping[str, object]) -> dict[str, object]:
        """The answers minus those to items that other answers hide (the portal drops them, the API not)."""
        asked = self.asked_items(raw)
        return {code: value for code, value in raw.items() if code in asked or code not in self.items}

    def clean_answers(self, raw: Mapping[str, object], *, language: str | None = None) -> dict[str, Answer]:
        """Validate a whole set of answers (item code → raw value; absent items are unanswered).

        Returns the typed answers of the items that are asked and answered, or raises AnswersInvalid
        listing every problem: unknown codes, wrong types, answers to items that skip logic hides,
        missing required answers, violated constraints."""
        language = language or self.default_language
        errors: dict[str, list[str]] = {}
        for code in raw:
            if code not in self.items:
                errors.setdefault(str(code), []).append("There is no item with this code.")
        values: dict[str, Answer] = {}
        for item in self:
            try:
                values[item.code] = item.clean_answer(raw.get(item.code))
            except ValidationError as exc:
                errors.setdefault(item.code, []).extend(exc.messages)
                values[item.code] = None
        # Skip logic in document order: a hidden item counts as unanswered for the items after it.
        for item in self:
            if self.is_relevant(item, values):
                continue
            if values[item.code] is not None:
                errors.setdefault(item.code, []).append(
                    "This question is not asked given the other answers, so it cannot be answered."
                )
            values[item.code] = None
        for item in self:
            value = values[item.code]
            if item.code in errors or not self.is_relevant(item, values):
                continue
            if value is None:
                if item.required:
                    errors.setdefault(item.code, []).append(
                        _text(item.required_message, language) or "This question needs an answer."
                    )
                continue
            if item.constraint is None:
                continue
            try:
                allowed = item.constraint.is_true(values, current=value)
            except ExpressionError:  # regex() gave up on this text (surveys/expressions.py)
                errors.setdefault(item.code, []).append(
                    "This answer could not be checked against the question's rule; please shorten it."
                )
                continue
            if not allowed:
                errors.setdefault(item.code, []).append(
                    _text(item.constraint_message, language) or "This answer is not allowed."
                )
        if errors:
            raise AnswersInvalid(errors)
        return {code: value for code, value in values.items() if value is not None}
