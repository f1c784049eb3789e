"""The JSON questionnaire definition (docs/questionnaire-format.md): validation and normalisation.

`validate_definition` checks a definition completely, reports every problem it finds at once, and
returns a normalised copy in which every optional key is present. Normalising a normalised definition
returns an equal dict, which is what makes the JSON export/import round trip exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import pycountry

from surveys.expressions import (
    Expression,
    ExpressionError,
    has_computed_regex_pattern,
    numeric_bounds,
    parse,
)

FORMAT = "vetted-survey/1"

ITEM_TYPES: tuple[str, ...] = (
    "text",
    "long_text",
    "select_one",
    "select_multiple",
    "yes_no",
    "country",
    "integer",
    "decimal",
    "note",
)
# Types whose answer is one or more codes of a choice list.
LIST_TYPES = frozenset({"select_one", "select_multiple", "yes_no"})
# Rows of a grid share one scale, so only these types can be grid rows.
GRID_ROW_TYPES = LIST_TYPES
NUMERIC_TYPES = frozenset({"integer", "decimal"})
TEXT_TYPES = frozenset({"text", "long_text"})

CODE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CHOICE_CODE_RE = re.compile(r"[A-Za-z0-9_.-]+")
# ISO 639 code with optional BCP 47 subtags (en, fil, pt-BR, zh-Hant).
LANGUAGE_CODE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
LANGUAGE_CODE_MAX_LENGTH = 16
FORM_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
CODE_MAX_LENGTH = 64
CHOICE_CODE_MAX_LENGTH = 64
LANGUAGE_NAME_MAX_LENGTH = 64
VERSION_MAX_LENGTH = 64

# Limits on answers (enforced when answers are cleaned) and on the definition's own texts.
TEXT_MAX_LENGTH = 2_000
LONG_TEXT_MAX_LENGTH = 20_000
ANSWER_MAX_LENGTH = {"text": TEXT_MAX_LENGTH, "long_text": LONG_TEXT_MAX_LENGTH}
DISPLAY_TEXT_MAX_LENGTH = 10_000
EXPRESSION_MAX_LENGTH = 4_000
APPEARANCE_MAX_LENGTH = 64
# Nesting deeper than this is no questionnaire anyone can answer, and bounds the recursion.
MAX_GROUP_DEPTH = 8
# Bounds are stored as decimals of at most 30 integer digits and 10 decimal places.
BOUND_MAX_INTEGER_DIGITS = 30
BOUND_MAX_DECIMAL_PLACES = 10

DEFAULT_LANGUAGE = "en"
QUASI_IDENTIFIER_CODES = frozenset({"agency_type"})
GRID_APPEARANCE = "table-list"

TOP_KEYS = (
    "format",
    "title",
    "form_id",
    "version",
    "default_language",
    "languages",
    "choice_lists",
    "groups",
)
GROUP_KEYS = ("kind", "code", "label", "relevant", "appearance", "children")
ITEM_KEYS = (
    "kind",
    "code",
    "type",
    "label",
    "hint",
    "required",
    "required_message",
    "relevant",
    "constraint",
    "constraint_message",
    "appearance",
    "choice_list",
    "min",
    "max",
    "quasi_identifier",
)
CHOICE_KEYS = ("code", "label")
LANGUAGE_KEYS = ("code", "name")


@cache
def iso_country_codes() -> frozenset[str]:
    """Current ISO 3166-1 alpha-2 codes."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def language_name(code: str) -> str:
    """English name of an ISO 639 language code (the code itself when unknown)."""
    base = code.split("-", 1)[0].lower()
    lang = pycountry.languages.get(alpha_2=base) if len(base) == 2 else pycountry.languages.get(alpha_3=base)
    return str(lang.name) if lang is not None else code


def has_lone_surrogate(text: str) -> bool:
    """JSON's \\ud800 escapes decode to lone surrogates, which PostgreSQL's text and JSON refuse."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition.

    `element` is the code of the item or group concerned, or `choices:LIST` / `choices:LIST:CODE`;
    `field` the key concerned. An XLSForm import also gives the sheet, the 1-based row and the column
    letter of the cell. `pointer` is the JSON Pointer (RFC 6901) of the offending value.
    """

    message: str
    element: str | None
    field: str | None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.sheet:
            parts.append(f"{self.sheet} sheet")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        where = ", ".join(parts) if parts else (self.element or "")
        if self.field:
            where = f"{where} ({self.field})" if where else f"({self.field})"
        return f"{where}: {self.message}" if where else self.message


class DefinitionInvalid(Exception):  # noqa: N818, RUF100 - the name is the API (pyproject ignores N818)
    """A definition (or XLSForm) with one or more errors; `errors` lists all of them."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        self.errors: list[DefinitionError] = list(errors)
        count = len(self.errors)
        summary = f"{count} error{'s' if count != 1 else ''} in the questionnaire definition"
        super().__init__("\n".join([summary, *(str(error) for error in self.errors)]))

    # Keeps the error list when the exception is pickled (e.g. by a task queue).
    def __reduce__(self) -> tuple[type[DefinitionInvalid], tuple[list[DefinitionError]]]:
        return (type(self), (self.errors,))


def _escape_pointer(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str | int) -> str:
    return "".join("/" + _escape_pointer(token) for token in tokens)


def decimal_text(value: Decimal) -> str:
    """Canonical plain text of a finite decimal: no exponent, no trailing zeros, no negative zero."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in {"-0", ""}:
        text = "0"
    return text


def bound_problem(value: Decimal) -> str | None:
    """Why a min/max cannot be stored, or None."""
    if not value.is_finite():
        return "The bound must be a finite number."
    if not value:
        return None
    if value.adjusted() >= BOUND_MAX_INTEGER_DIGITS:
        return f"The bound has more than {BOUND_MAX_INTEGER_DIGITS} digits before the decimal point."
    # Checked before formatting, so a tiny exponent never expands into a huge string.
    text = decimal_text(value) if value.adjusted() >= -BOUND_MAX_DECIMAL_PLACES else "0." + "0" * 99
    if "." in text and len(text.split(".", 1)[1]) > BOUND_MAX_DECIMAL_PLACES:
        return f"The bound has more than {BOUND_MAX_DECIMAL_PLACES} decimal places."
    return None


def _is_grid(group: Mapping[str, Any]) -> bool:
    appearance = group.get("appearance")
    return isinstance(appearance, str) and GRID_APPEARANCE in appearance.split()


def _is_group(node: Mapping[str, Any]) -> bool:
    kind = node.get("kind")
    return kind == "group" or (kind is None and "children" in node)


def iter_items(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield every item of a (normalised) definition with its enclosing groups, outermost first,
    in document order."""

    def walk(
        group: dict[str, Any], chain: list[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        chain = [*chain, group]
        for child in group.get("children", []):
            if _is_group(child):
                yield from walk(child, chain)
            else:
                yield child, chain

    for page in definition.get("groups", []):
        yield from walk(page, [])


def iter_groups(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield every group (pages first-level) with its enclosing groups, in document order."""

    def walk(
        group: dict[str, Any], chain: list[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        yield group, chain
        for child in group.get("children", []):
            if _is_group(child):
                yield from walk(child, [*chain, group])

    for page in definition.get("groups", []):
        yield from walk(page, [])


@dataclass
class _Element:
    """What the cross-element checks need to know about one item or group."""

    node: dict[str, Any]
    kind: str
    pointer: str
    ancestors: tuple[str, ...]


class _Validator:
    def __init__(self) -> None:
        self.errors: list[DefinitionError] = []
        self.default_language = DEFAULT_LANGUAGE
        self.languages: set[str] = {DEFAULT_LANGUAGE}
        self.choice_lists: dict[str, list[dict[str, Any]]] = {}
        self.elements: dict[str, _Element] = {}
        # Every item and group in document order, for the checks that need every code first.
        self.order: list[_Element] = []
        self.checked_country_lists: set[str] = set()
        self.answerable = 0

    def error(self, message: str, element: str | None, field: str | None, pointer: str | None) -> None:
        self.errors.append(DefinitionError(message, element, field, pointer=pointer))

    # ---- scalar helpers -------------------------------------------------------------------------

    def unknown_keys(
        self,
        data: Mapping[str, Any],
        allowed: tuple[str, ...],
        element: str | None,
        base: tuple[str | int, ...],
    ) -> None:
        for key in data:
            if key not in allowed:
                self.error(
                    f"Unknown key {key!r}; allowed keys are {', '.join(allowed)}.",
                    element,
                    str(key),
                    _pointer(*base, str(key)),
                )

    def text(
        self,
        value: Any,
        element: str | None,
        field: str,
        pointer: str,
        *,
        required: bool,
    ) -> dict[str, str]:
        """A translatable text: a string (the default language) or an object language → string."""
        if value is None:
            value = {}
        if isinstance(value, str):
            value = {self.default_language: value}
        if not isinstance(value, dict):
            self.error("Must be an object mapping language codes to texts.", element, field, pointer)
            return {}
        out: dict[str, str] = {}
        for language, text in value.items():
            if not isinstance(text, str):
                self.error(f"The {language!r} text must be a string.", element, field, pointer)
                continue
            if "\x00" in text:  # PostgreSQL cannot store NUL in text or JSON
                self.error(f"The {language!r} text contains a NUL character.", element, field, pointer)
                continue
            if has_lone_surrogate(text):
                self.error(f"The {language!r} text contains a lone surrogate.", element, field, pointer)
                continue
            if language not in self.languages:
                self.error(f"Language {language!r} is not declared in 'languages'.", element, field, pointer)
                continue
            if len(text) > DISPLAY_TEXT_MAX_LENGTH:
                self.error(
                    f"The {language!r} text is longer than {DISPLAY_TEXT_MAX_LENGTH:,} characters.",
                    element,
                    field,
                    pointer,
                )
                continue
            # Blank translations are absent translations: the portal falls back to the default.
            if text.strip():
                out[language] = text
        if out and self.default_language not in out:
            self.error(
                f"The text has no {self.default_language!r} version (the default language).",
                element,
                field,
                pointer,
            )
        elif required and not out:
            self.error(
                f"Missing: a {field} in {self.default_language!r} (the default language) is required.",
                element,
                field,
                pointer,
            )
        return out

    def string(self, value: Any, element: str | None, field: str, pointer: str, *, max_length: int) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error("Must be a string.", element, field, pointer)
            return ""
        text: str = value.strip()
        if "\x00" in text:
            self.error("Contains a NUL character.", element, field, pointer)
            return ""
        if has_lone_surrogate(text):
            self.error("Contains a lone surrogate.", element, field, pointer)
            return ""
        if len(text) > max_length:
            self.error(f"Longer than {max_length:,} characters.", element, field, pointer)
        return text

    def boolean(self, value: Any, element: str | None, field: str, pointer: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error("Must be true or false.", element, field, pointer)
            return default
        return value

    def code(self, value: Any, element_kind: str, pointer: str, *, field: str = "code") -> str | None:
        if not isinstance(value, str) or not value:
            self.error(f"Every {element_kind} needs a code (a non-empty string).", None, field, pointer)
            return None
        if not CODE_RE.fullmatch(value):
            self.error(
                f"Invalid code {value!r}: use letters, digits and '_', not starting with a digit.",
                value,
                field,
                pointer,
            )
        elif len(value) > CODE_MAX_LENGTH:
            self.error(f"Code {value!r} is longer than {CODE_MAX_LENGTH} characters.", value, field, pointer)
        return value

    def bound(self, value: Any, element: str | None, field: str, pointer: str) -> Decimal | None:
        if value is None:
            return None
        number: Decimal | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value)) if math.isfinite(value) else None
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite():
            self.error(
                "Must be a number (or a string holding a decimal number) or null.", element, field, pointer
            )
            return None
        problem = bound_problem(number)
        if problem:
            self.error(problem, element, field, pointer)
            return None
        return number

    # ---- top level ------------------------------------------------------------------------------

    def definition(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.error("A questionnaire definition must be a JSON object.", None, None, "")
            return {}
        self.unknown_keys(data, TOP_KEYS, None, ())
        if data.get("format") != FORMAT:
            self.error(f"'format' must be {FORMAT!r}, not {data.get('format')!r}.", None, "format", "/format")
        default_language = data.get("default_language", DEFAULT_LANGUAGE)
        if (
            not isinstance(default_language, str)
            or not LANGUAGE_CODE_RE.fullmatch(default_language)
            or len(default_language) > LANGUAGE_CODE_MAX_LENGTH
        ):
            self.error(
                "'default_language' must be a language code such as 'en' or 'pt-BR'.",
                None,
                "default_language",
                "/default_language",
            )
            default_language = DEFAULT_LANGUAGE
        self.default_language = default_language
        languages = self.language_list(data.get("languages"))
        self.languages = {language["code"] for language in languages}
        out: dict[str, Any] = {
            "format": FORMAT,
            "title": self.text(data.get("title"), None, "title", "/title", required=True),
            "form_id": self.string(
                data.get("form_id"), None, "form_id", "/form_id", max_length=CODE_MAX_LENGTH
            ),
            "version": self.string(
                data.get("version"), None, "version", "/version", max_length=VERSION_MAX_LENGTH
            ),
            "default_language": default_language,
            "languages": languages,
        }
        if out["form_id"] and not FORM_ID_RE.fullmatch(out["form_id"]):
            self.error(
                f"Invalid form_id {out['form_id']!r}: use letters, digits, '_', '.' and '-'.",
                None,
                "form_id",
                "/form_id",
            )
        out["choice_lists"] = self.choice_list_map(data.get("choice_lists"))
        out["groups"] = self.pages(data.get("groups"))
        self.cross_checks()
        return out

    def language_list(self, value: Any) -> list[dict[str, str]]:
        if value is None:
            return [{"code": self.default_language, "name": language_name(self.default_language)}]
        if not isinstance(value, list):
            self.error("'languages' must be a list of {code, name} objects.", None, "languages", "/languages")
            return [{"code": self.default_language, "name": language_name(self.default_language)}]
        out: list[dict[str, str]] = []
        seen: set[str] = set()
        for index, entry in enumerate(value):
            pointer = _pointer("languages", index)
            if not isinstance(entry, dict):
                self.error("Each language must be an object {code, name}.", None, "languages", pointer)
                continue
            self.unknown_keys(entry, LANGUAGE_KEYS, None, ("languages", index))
            code = entry.get("code")
            if (
                not isinstance(code, str)
                or not LANGUAGE_CODE_RE.fullmatch(code)
                or len(code) > LANGUAGE_CODE_MAX_LENGTH
            ):
                self.error(f"Invalid language code {code!r}.", None, "languages", pointer)
                continue
            if code in seen:
                self.error(f"Language {code!r} is declared twice.", None, "languages", pointer)
                continue
            name = entry.get("name")
            if name is None:
                name = language_name(code)
            if not isinstance(name, str) or not name.strip() or len(name) > LANGUAGE_NAME_MAX_LENGTH:
                self.error(f"Language {code!r} needs a name (a short string).", None, "languages", pointer)
                name = code
            seen.add(code)
            out.append({"code": code, "name": name.strip()})
        if self.default_language not in seen:
            self.error(
                f"The default language {self.default_language!r} is not declared in 'languages'.",
                None,
                "languages",
                "/languages",
            )
            # Declared anyway so texts are not reported once more for the same mistake.
            out.insert(0, {"code": self.default_language, "name": language_name(self.default_language)})
        return out

    def choice_list_map(self, value: Any) -> dict[str, list[dict[str, Any]]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(
                "'choice_lists' must be an object mapping list names to lists of choices.",
                None,
                "choice_lists",
                "/choice_lists",
            )
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for name, choices in value.items():
            element = f"choices:{name}"
            pointer = _pointer("choice_lists", name)
            if not CODE_RE.fullmatch(name) or len(name) > CODE_MAX_LENGTH:
                self.error(
                    f"Invalid choice list name {name!r}: use letters, digits and '_' "
                    f"(at most {CODE_MAX_LENGTH} characters).",
                    element,
                    "choice_list",
                    pointer,
                )
            if not isinstance(choices, list) or not choices:
                self.error("A choice list must be a non-empty list of choices.", element, "choices", pointer)
                out[name] = []
                continue
            out[name] = self.choices(name, choices)
        self.choice_lists = out
        return out

    def choices(self, name: str, choices: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, choice in enumerate(choices):
            pointer = _pointer("choice_lists", name, index)
            if not isinstance(choice, dict):
                self.error(
                    "Each choice must be an object {code, label}.", f"choices:{name}", "choices", pointer
                )
                continue
            code = choice.get("code")
            if not isinstance(code, str) or not code:
                self.error(
                    "Each choice needs a code (a non-empty string).", f"choices:{name}", "code", pointer
                )
                continue
            element = f"choices:{name}:{code}"
            self.unknown_keys(choice, CHOICE_KEYS, element, ("choice_lists", name, index))
            if not CHOICE_CODE_RE.fullmatch(code):
                self.error(
                    f"Invalid choice code {code!r}: use letters, digits, '_', '.' and '-'.",
                    element,
                    "code",
                    pointer,
                )
            elif len(code) > CHOICE_CODE_MAX_LENGTH:
                self.error(
                    f"Choice code {code!r} is longer than {CHOICE_CODE_MAX_LENGTH} characters.",
                    element,
                    "code",
                    pointer,
                )
            if code in seen:
                self.error(f"Choice code {code!r} appears twice in list {name!r}.", element, "code", pointer)
            seen.add(code)
            label = self.text(choice.get("label"), element, "label", pointer + "/label", required=True)
            out.append({"code": code, "label": label})
        return out

    # ---- groups and items -----------------------------------------------------------------------

    def pages(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            self.error("'groups' must be a list of pages (groups).", None, "groups", "/groups")
            return []
        out: list[dict[str, Any]] = []
        for index, page in enumerate(value):
            pointer = _pointer("groups", index)
            if not isinstance(page, dict):
                self.error("Each page must be an object.", None, "groups", pointer)
                continue
            if page.get("kind", "group") != "group":
                self.error(
                    "Top-level entries of 'groups' are pages and must be groups; put items inside a group.",
                    page.get("code") if isinstance(page.get("code"), str) else None,
                    "kind",
                    pointer + "/kind",
                )
                continue
            node = self.group(page, ("groups", index), ancestors=(), top_level=True)
            if node is not None:
                out.append(node)
        return out

    def register(
        self, code: str | None, node: dict[str, Any], kind: str, pointer: str, ancestors: tuple[str, ...]
    ) -> None:
        if code is None:
            return
        element = _Element(node=node, kind=kind, pointer=pointer, ancestors=ancestors)
        self.order.append(element)
        if code in self.elements:
            other = self.elements[code]
            self.error(
                f"Code {code!r} is used twice (items and groups share one namespace; "
                f"first at {other.pointer}).",
                code,
                "code",
                pointer + "/code",
            )
            return
        self.elements[code] = element

    def group(
        self,
        data: dict[str, Any],
        path: tuple[str | int, ...],
        *,
        ancestors: tuple[str, ...],
        top_level: bool,
    ) -> dict[str, Any] | None:
        pointer = _pointer(*path)
        code = self.code(data.get("code"), "group", pointer + "/code")
        element = code
        self.unknown_keys(data, GROUP_KEYS, element, path)
        node: dict[str, Any] = {} if top_level else {"kind": "group"}
        node.update(
            {
                "code": code or "",
                "label": self.text(data.get("label"), element, "label", pointer + "/label", required=False),
                "relevant": self.string(
                    data.get("relevant"),
                    element,
                    "relevant",
                    pointer + "/relevant",
                    max_length=EXPRESSION_MAX_LENGTH,
                ),
                "appearance": self.string(
                    data.get("appearance"),
                    element,
                    "appearance",
                    pointer + "/appearance",
                    max_length=APPEARANCE_MAX_LENGTH,
                ),
            }
        )
        self.register(code, node, "group", pointer, ancestors)
        inner = (*ancestors, code) if code else ancestors
        children = data.get("children")
        out_children: list[dict[str, Any]] = []
        if not isinstance(children, list) or not children:
            self.error(
                "A group must have a non-empty list of children.", element, "children", pointer + "/children"
            )
        elif len(inner) > MAX_GROUP_DEPTH:
            self.error(
                f"Groups are nested more than {MAX_GROUP_DEPTH} deep.",
                element,
                "children",
                pointer + "/children",
            )
        else:
            for index, child in enumerate(children):
                child_path = (*path, "children", index)
                if not isinstance(child, dict):
                    self.error(
                        "Each child must be an item or group object.",
                        element,
                        "children",
                        _pointer(*child_path),
                    )
                    continue
                kind = child.get("kind", "group" if "children" in child else "item")
                if kind == "group":
                    sub = self.group(child, child_path, ancestors=inner, top_level=False)
                elif kind == "item":
                    sub = self.item(child, child_path, ancestors=inner)
                else:
                    self.error(
                        f"'kind' must be 'item' or 'group', not {kind!r}.",
                        child.get("code") if isinstance(child.get("code"), str) else None,
                        "kind",
                        _pointer(*child_path, "kind"),
                    )
                    continue
                if sub is not None:
                    out_children.append(sub)
        node["children"] = out_children
        # Only a nested group is a grid; a page with appearance table-list is an ordinary page.
        if not top_level and _is_grid(node):
            self.grid(node, pointer)
        return node

    def grid(self, node: dict[str, Any], pointer: str) -> None:
        scale: str | None = None
        for index, child in enumerate(node["children"]):
            child_pointer = f"{pointer}/children/{index}"
            if child.get("kind") == "group":
                self.error(
                    f"Grid {node['code']!r} (appearance table-list) cannot contain a group.",
                    child["code"] or None,
                    "kind",
                    child_pointer + "/kind",
                )
                continue
            if child["type"] not in GRID_ROW_TYPES:
                self.error(
                    f"Rows of grid {node['code']!r} must be select_one, select_multiple or yes_no items, "
                    f"not {child['type']}.",
                    child["code"] or None,
                    "type",
                    child_pointer + "/type",
                )
                continue
            if scale is None:
                scale = child["choice_list"]
            elif child["choice_list"] != scale:
                self.error(
                    f"Rows of grid {node['code']!r} must all use one choice list: "
                    f"{child['choice_list']!r} differs from {scale!r}.",
                    child["code"] or None,
                    "choice_list",
                    child_pointer + "/choice_list",
                )

    def item(
        self, data: dict[str, Any], path: tuple[str | int, ...], *, ancestors: tuple[str, ...]
    ) -> dict[str, Any] | None:
        pointer = _pointer(*path)
        code = self.code(data.get("code"), "item", pointer + "/code")
        element = code
        self.unknown_keys(data, ITEM_KEYS, element, path)
        item_type = data.get("type")
        if item_type not in ITEM_TYPES:
            self.error(
                f"Unknown item type {item_type!r}; use one of {', '.join(ITEM_TYPES)}.",
                element,
                "type",
                pointer + "/type",
            )
            item_type = "text" if not isinstance(item_type, str) else item_type

        def text(key: str, required: bool = False) -> dict[str, str]:
            return self.text(data.get(key), element, key, f"{pointer}/{key}", required=required)

        def string(key: str, max_length: int) -> str:
            return self.string(data.get(key), element, key, f"{pointer}/{key}", max_length=max_length)

        node: dict[str, Any] = {
            "kind": "item",
            "code": code or "",
            "type": item_type,
            "label": text("label", required=True),
            "hint": text("hint"),
            "required": self.boolean(data.get("required"), element, "required", pointer + "/required", False),
            "required_message": text("required_message"),
            "relevant": string("relevant", EXPRESSION_MAX_LENGTH),
            "constraint": string("constraint", EXPRESSION_MAX_LENGTH),
            "constraint_message": text("constraint_message"),
            "appearance": string("appearance", APPEARANCE_MAX_LENGTH),
            "choice_list": None,
            "min": None,
            "max": None,
            "quasi_identifier": self.boolean(
                data.get("quasi_identifier"),
                element,
                "quasi_identifier",
                pointer + "/quasi_identifier",
                item_type == "country" or code in QUASI_IDENTIFIER_CODES,
            ),
        }
        node["choice_list"] = self.item_choice_list(data.get("choice_list"), item_type, element, pointer)
        explicit_min = self.bound(data.get("min"), element, "min", pointer + "/min")
        explicit_max = self.bound(data.get("max"), element, "max", pointer + "/max")
        if item_type not in NUMERIC_TYPES:
            for key, bound in (("min", explicit_min), ("max", explicit_max)):
                if bound is not None:
                    self.error(
                        f"Only integer and decimal items take '{key}'.", element, key, f"{pointer}/{key}"
                    )
        else:
            node["min"] = explicit_min
            node["max"] = explicit_max
        if item_type == "note":
            if node["required"]:
                self.error(
                    "A note is never answered, so it cannot be required.",
                    element,
                    "required",
                    pointer + "/required",
                )
            if node["constraint"]:
                self.error(
                    "A note is never answered, so it cannot have a constraint.",
                    element,
                    "constraint",
                    pointer + "/constraint",
                )
        if item_type in ITEM_TYPES and item_type != "note":
            self.answerable += 1
        self.register(code, node, "item", pointer, ancestors)
        return node

    def item_choice_list(self, value: Any, item_type: str, element: str | None, pointer: str) -> str | None:
        field_pointer = pointer + "/choice_list"
        if value is not None and not isinstance(value, str):
            self.error("'choice_list' must be a list name or null.", element, "choice_list", field_pointer)
            return None
        if item_type not in LIST_TYPES and item_type != "country":
            if value:
                self.error(f"A {item_type} item takes no choice list.", element, "choice_list", field_pointer)
            return None
        if not value:
            if item_type in LIST_TYPES:
                self.error(
                    f"A {item_type} item needs a 'choice_list'.", element, "choice_list", field_pointer
                )
            return None
        if value not in self.choice_lists:
            self.error(f"Unknown choice list {value!r}.", element, "choice_list", field_pointer)
            return value
        codes = [choice["code"] for choice in self.choice_lists[value]]
        if item_type == "yes_no" and sorted(codes) != ["no", "yes"]:
            self.error(
                f"A yes_no item needs a list whose codes are exactly 'yes' and 'no'; {value!r} has "
                f"{', '.join(codes) or 'no choices'}.",
                element,
                "choice_list",
                field_pointer,
            )
        if item_type == "country" and value not in self.checked_country_lists:
            self.checked_country_lists.add(value)
            valid = iso_country_codes()
            for index, code in enumerate(codes):
                if code not in valid:
                    self.error(
                        f"{code!r} is not an ISO 3166-1 alpha-2 country code (list {value!r} is used by a "
                        "country item).",
                        f"choices:{value}:{code}",
                        "code",
                        _pointer("choice_lists", value, index, "code"),
                    )
        return value

    # ---- checks that need every code ------------------------------------------------------------

    def cross_checks(self) -> None:
        for element in self.order:
            node = element.node
            code = node["code"]
            if self.elements.get(code) is not element:
                continue  # a duplicate, already reported
            relevant = self.expression(node["relevant"], code, "relevant", element.pointer)
            if relevant is not None:
                self.check_references(relevant, code, "relevant", element)
                if relevant.uses_current:
                    self.error(
                        "'.' (the item's own answer) cannot be used in a relevant expression.",
                        code,
                        "relevant",
                        element.pointer + "/relevant",
                    )
            if element.kind != "item":
                continue
            constraint = self.expression(node["constraint"], code, "constraint", element.pointer)
            if constraint is not None:
                self.check_references(constraint, code, "constraint", element)
            if node["type"] in NUMERIC_TYPES:
                self.fill_bounds(node, constraint, element.pointer)
        if self.answerable == 0:
            self.error("The questionnaire has no item to answer.", None, "groups", "/groups")

    def expression(self, source: str, code: str, field: str, pointer: str) -> Expression | None:
        if not source:
            return None
        try:
            expression = parse(source)
        except ExpressionError as exc:
            self.error(f"Invalid expression: {exc}", code, field, f"{pointer}/{field}")
            return None
        if has_computed_regex_pattern(expression):
            # Checked once here, never at submission: a pattern built from answers could fail or run
            # for minutes on the server when an officer submits.
            self.error(
                "The pattern of regex() must be a quoted text, e.g. regex(., '^[0-9]+$').",
                code,
                field,
                f"{pointer}/{field}",
            )
            return None
        return expression

    def check_references(self, expression: Expression, code: str, field: str, element: _Element) -> None:
        pointer = f"{element.pointer}/{field}"
        for reference in sorted(expression.references):
            target = self.elements.get(reference)
            if target is None:
                self.error(f"${{{reference}}} names no item of this questionnaire.", code, field, pointer)
            elif target.kind == "group":
                self.error(f"${{{reference}}} names a group; only items have answers.", code, field, pointer)
            elif target.node["type"] == "note":
                self.error(f"${{{reference}}} names a note, which has no answer.", code, field, pointer)
            elif field == "relevant" and reference == code:
                self.error("A relevant expression cannot depend on the item itself.", code, field, pointer)
            elif field == "relevant" and element.kind == "group" and code in target.ancestors:
                self.error(
                    f"The group's relevant expression depends on ${{{reference}}}, "
                    "which is inside the group.",
                    code,
                    field,
                    pointer,
                )

    def fill_bounds(self, node: dict[str, Any], constraint: Expression | None, pointer: str) -> None:
        low: Decimal | None = node["min"]
        high: Decimal | None = node["max"]
        if constraint is not None and (low is None or high is None):
            derived_low, derived_high = numeric_bounds(constraint)
            for derived in (derived_low, derived_high):
                problem = bound_problem(derived) if derived is not None else None
                if problem:
                    self.error(
                        f"{problem} (read from the constraint)",
                        node["code"] or None,
                        "constraint",
                        pointer + "/constraint",
                    )
                    return
            low = derived_low if low is None else low
            high = derived_high if high is None else high
        if low is not None and high is not None and low > high:
            self.error(
                f"min ({decimal_text(low)}) is greater than max ({decimal_text(high)}).",
                node["code"] or None,
                "min",
                pointer + "/min",
            )
        node["min"] = decimal_text(low) if low is not None else None
        node["max"] = decimal_text(high) if high is not None else None


def validate_definition(data: object) -> dict[str, Any]:
    """Check a JSON definition completely and return its normalised copy.

    Raises DefinitionInvalid listing every error found."""
    validator = _Validator()
    normalised = validator.definition(data)
    if validator.errors:
        raise DefinitionInvalid(validator.errors)
    return normalised
