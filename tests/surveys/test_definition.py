"""The JSON questionnaire definition: normalisation, every validation error, and properties."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.definition import (
    FORMAT,
    ITEM_TYPES,
    DefinitionError,
    DefinitionInvalid,
    iter_groups,
    iter_items,
    validate_definition,
)


def item(code: str, type_: str = "text", **fields: Any) -> dict[str, Any]:
    return {"kind": "item", "code": code, "type": type_, "label": {"en": code.title()}, **fields}


def group(code: str, *children: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "kind": "group",
        "code": code,
        "label": {"en": code.title()},
        "children": list(children),
        **fields,
    }


def definition(*children: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A one-page definition around the given children (plus any top-level keys)."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "title": {"en": "Test"},
        "choice_lists": {
            "yes_no": [{"code": "yes", "label": {"en": "Yes"}}, {"code": "no", "label": {"en": "No"}}],
            "scale": [{"code": "low", "label": "Low"}, {"code": "high", "label": "High"}],
        },
        "groups": [{"code": "page", "label": {"en": "Page"}, "children": list(children) or [item("q")]}],
    }
    data.update(top)
    return data


def errors_of(data: Any) -> list[DefinitionError]:
    with pytest.raises(DefinitionInvalid) as caught:
        validate_definition(data)
    return caught.value.errors


def one_error(data: Any, field: str | None, fragment: str, element: str | None = "ANY") -> DefinitionError:
    """Exactly one error for `field`, containing `fragment` (and for `element` unless ANY)."""
    errors = errors_of(data)
    matching = [e for e in errors if e.field == field and fragment in e.message]
    assert len(matching) == 1, [str(e) for e in errors]
    if element != "ANY":
        assert matching[0].element == element
    return matching[0]


# ---- normalisation -------------------------------------------------------------------------------


def test_minimal_definition_gets_every_default() -> None:
    data = {
        "format": FORMAT,
        "title": "Survey",
        "groups": [{"code": "p", "children": [{"code": "q", "type": "integer", "label": "How many?"}]}],
    }
    assert validate_definition(data) == {
        "format": FORMAT,
        "title": {"en": "Survey"},
        "form_id": "",
        "version": "",
        "default_language": "en",
        "languages": [{"code": "en", "name": "English"}],
        "choice_lists": {},
        "groups": [
            {
                "code": "p",
                "label": {},
                "relevant": "",
                "appearance": "",
                "children": [
                    {
                        "kind": "item",
                        "code": "q",
                        "type": "integer",
                        "label": {"en": "How many?"},
                        "hint": {},
                        "required": False,
                        "required_message": {},
                        "relevant": "",
                        "constraint": "",
                        "constraint_message": {},
                        "appearance": "",
                        "choice_list": None,
                        "min": None,
                        "max": None,
                        "quasi_identifier": False,
                    }
                ],
            }
        ],
    }


def test_input_is_not_modified() -> None:
    data = definition(item("n", "integer", constraint=". >= 0"))
    before = copy.deepcopy(data)
    validate_definition(data)
    assert data == before


def test_texts_become_objects_and_blank_translations_are_dropped() -> None:
    data = definition(
        item("q", label="Question", hint={"en": "A hint", "fr": "  "}),
        languages=[{"code": "en", "name": "English"}, {"code": "fr", "name": "Français"}],
    )
    q = validate_definition(data)["groups"][0]["children"][0]
    assert q["label"] == {"en": "Question"}
    assert q["hint"] == {"en": "A hint"}


def test_quasi_identifier_defaults() -> None:
    data = definition(
        item("where", "country"),
        item("agency_type", "select_one", choice_list="scale"),
        item("other", "select_one", choice_list="scale"),
        item("born", "country", quasi_identifier=False),
        item("size", "integer", quasi_identifier=True),
    )
    flags = {i["code"]: i["quasi_identifier"] for i, _ in iter_items(validate_definition(data))}
    assert flags == {"where": True, "agency_type": True, "other": False, "born": False, "size": True}


def test_bounds_are_read_from_the_constraint_or_given() -> None:
    data = definition(
        item("a", "integer", constraint=". >= 0 and . <= 1000000000"),
        item("b", "decimal", constraint="0.5 <= . and . <= 99.50"),
        item("c", "integer", constraint=". >= 0 and . <= 10", min=5),
        item("d", "decimal", min="1.50", max=1e3),
        item("e", "integer", min=-3, max="-0"),
        item("f", "integer", constraint=". > 0 and . < 10"),
        item("g", "integer", constraint=". >= 0 and . <= ${a}"),
    )
    bounds = {i["code"]: (i["min"], i["max"]) for i, _ in iter_items(validate_definition(data))}
    assert bounds == {
        "a": ("0", "1000000000"),
        "b": ("0.5", "99.5"),
        "c": ("5", "10"),
        "d": ("1.5", "1000"),
        "e": ("-3", "0"),
        "f": (None, None),
        "g": ("0", None),
    }


def test_iter_items_and_groups_in_document_order() -> None:
    data = validate_definition(
        definition(
            item("a"),
            group("grid", item("r1", "yes_no", choice_list="yes_no"), appearance="table-list"),
            group("sub", item("b"), group("deeper", item("c"))),
            item("d"),
        )
    )
    assert [(i["code"], [g["code"] for g in chain]) for i, chain in iter_items(data)] == [
        ("a", ["page"]),
        ("r1", ["page", "grid"]),
        ("b", ["page", "sub"]),
        ("c", ["page", "sub", "deeper"]),
        ("d", ["page"]),
    ]
    assert [g["code"] for g, _ in iter_groups(data)] == ["page", "grid", "sub", "deeper"]


def test_top_level_kind_is_accepted_and_dropped() -> None:
    data = definition()
    data["groups"][0]["kind"] = "group"
    assert "kind" not in validate_definition(data)["groups"][0]


def test_kind_is_inferred_for_children() -> None:
    data = definition({"code": "sub", "children": [{"code": "q", "type": "text", "label": "Q"}]})
    sub = validate_definition(data)["groups"][0]["children"][0]
    assert sub["kind"] == "group" and sub["children"][0]["kind"] == "item"


def test_idempotent_and_json_round_trip_on_a_rich_definition() -> None:
    data = definition(
        item("where", "country", required=True, appearance="autocomplete"),
        item("agree", "yes_no", choice_list="yes_no", relevant="${where} = 'SE'"),
        group(
            "grid",
            item("r1", "select_one", choice_list="scale"),
            appearance="table-list",
            relevant="${agree} = 'yes'",
        ),
        item("n", "decimal", constraint=". >= 0 and . <= 10.25", constraint_message={"en": "0 to 10.25"}),
        item("long", "long_text", hint="Say more"),
        item("why", "note"),
        languages=[{"code": "en", "name": "English"}, {"code": "sv", "name": "Svenska"}],
        version="2017",
        form_id="le_survey",
    )
    once = validate_definition(data)
    assert validate_definition(once) == once
    assert validate_definition(json.loads(json.dumps(once))) == once


# ---- errors --------------------------------------------------------------------------------------


def test_not_an_object() -> None:
    for data in (None, [], "x", 3):
        assert len(errors_of(data)) == 1


def test_wrong_format_tag() -> None:
    one_error(definition(format="vetted-survey/2"), "format", "'format' must be")
    data = definition()
    del data["format"]
    one_error(data, "format", "'format' must be")


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("title", 3, "title"),
        ("form_id", 3, "form_id"),
        ("version", 2017, "version"),
        ("default_language", "english!", "default_language"),
        ("languages", "en", "languages"),
        ("choice_lists", [], "choice_lists"),
        ("groups", {}, "groups"),
        ("colour", "red", "colour"),
    ],
)
def test_wrong_top_level_types(key: str, value: Any, field: str) -> None:
    errors = errors_of(definition(**{key: value}))
    assert any(e.field == field and e.pointer == f"/{key}" for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"required": "yes"}, "required"),
        ({"label": ["x"]}, "label"),
        ({"hint": {"en": 3}}, "hint"),
        ({"relevant": 1}, "relevant"),
        ({"appearance": None, "choice_list": 3}, "choice_list"),
        ({"min": "ten"}, "min"),
        ({"max": True}, "max"),
        ({"quasi_identifier": "no"}, "quasi_identifier"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_wrong_item_field_types(fields: dict[str, Any], field: str) -> None:
    errors = errors_of(definition(item("q", "integer", **fields)))
    assert any(e.field == field and e.element == "q" for e in errors), [str(e) for e in errors]


def test_unknown_item_type_and_kind() -> None:
    error = one_error(definition(item("q", "date")), "type", "Unknown item type 'date'", "q")
    assert error.pointer == "/groups/0/children/0/type"
    one_error(definition({"kind": "repeat", "code": "r", "children": []}), "kind", "'kind' must be")
    one_error(definition(groups=[item("loose")]), "kind", "must be groups")


@pytest.mark.parametrize("code", ["1abc", "a-b", "a b", "", "x" * 65, "é"])
def test_bad_codes(code: str) -> None:
    errors = errors_of(definition(item(code)))
    assert any(e.field == "code" for e in errors)


def test_codes_share_one_namespace_across_items_and_groups() -> None:
    error = one_error(definition(item("page")), "code", "used twice", "page")
    assert error.pointer == "/groups/0/children/0/code"
    one_error(definition(item("a"), group("g", item("a"))), "code", "used twice", "a")


def test_choice_list_problems() -> None:
    one_error(definition(item("q", "select_one")), "choice_list", "needs a 'choice_list'", "q")
    one_error(
        definition(item("q", "select_multiple", choice_list="nope")),
        "choice_list",
        "Unknown choice list",
        "q",
    )
    one_error(definition(item("q", "text", choice_list="scale")), "choice_list", "takes no choice list", "q")
    lists = {"l": [{"code": "a", "label": "A"}, {"code": "a", "label": "A2"}, {"code": "b c", "label": "B"}]}
    data = definition(item("q", "select_one", choice_list="l"), choice_lists=lists)
    duplicate = one_error(data, "code", "appears twice", "choices:l:a")
    assert duplicate.pointer == "/choice_lists/l/1"
    one_error(data, "code", "Invalid choice code", "choices:l:b c")
    one_error(definition(choice_lists={"empty": []}), "choices", "non-empty", "choices:empty")
    one_error(
        definition(choice_lists={"1bad": [{"code": "a", "label": "A"}]}),
        "choice_list",
        "Invalid choice list name",
    )
    one_error(definition(choice_lists={"l": [{"code": "a"}]}), "label", "is required", "choices:l:a")
    one_error(
        definition(choice_lists={"l": [{"code": "a", "label": "A", "image": "x"}]}), "image", "Unknown key"
    )


def test_yes_no_lists_must_be_exactly_yes_and_no() -> None:
    lists = {
        "yn": [
            {"code": "yes", "label": "Yes"},
            {"code": "no", "label": "No"},
            {"code": "maybe", "label": "?"},
        ]
    }
    one_error(
        definition(item("q", "yes_no", choice_list="yn"), choice_lists=lists),
        "choice_list",
        "exactly 'yes' and 'no'",
    )
    one_error(definition(item("q", "yes_no")), "choice_list", "needs a 'choice_list'")


def test_country_choices_must_be_iso_alpha_2() -> None:
    lists = {
        "c": [
            {"code": "SE", "label": "Sweden"},
            {"code": "se", "label": "x"},
            {"code": "XK", "label": "Kosovo"},
        ]
    }
    data = definition(
        item("a", "country", choice_list="c"), item("b", "country", choice_list="c"), choice_lists=lists
    )
    errors = [e for e in errors_of(data) if "ISO 3166-1" in e.message]
    assert [e.element for e in errors] == ["choices:c:se", "choices:c:XK"]  # once per list, not per item
    assert (
        validate_definition(definition(item("a", "country")))["groups"][0]["children"][0]["choice_list"]
        is None
    )


def test_grids() -> None:
    ok = group(
        "grid", item("r1", "select_one", choice_list="scale"), item("r2", "select_one", choice_list="scale")
    )
    ok["appearance"] = "table-list"
    validate_definition(definition(ok))
    text_row = group(
        "grid", item("r1", "select_one", choice_list="scale"), item("r2"), appearance="table-list"
    )
    one_error(definition(text_row), "type", "must be select_one", "r2")
    mixed = group(
        "grid",
        item("r1", "select_one", choice_list="scale"),
        item("r2", "yes_no", choice_list="yes_no"),
        appearance="table-list",
    )
    one_error(definition(mixed), "choice_list", "one choice list", "r2")
    nested = group(
        "grid", item("r1", "yes_no", choice_list="yes_no"), group("inner", item("x")), appearance="table-list"
    )
    one_error(definition(nested), "kind", "cannot contain a group", "inner")
    # A page is no grid, whatever its appearance.
    page = definition(item("a"))
    page["groups"][0]["appearance"] = "table-list"
    validate_definition(page)


def test_expressions() -> None:
    one_error(definition(item("a", relevant="${q} = ")), "relevant", "Invalid expression", "a")
    one_error(definition(item("a", "integer", constraint=". >>= 3")), "constraint", "Invalid expression", "a")
    one_error(definition(item("a", relevant="${nobody} = 1")), "relevant", "names no item", "a")
    one_error(definition(item("a", relevant="${page} = 1")), "relevant", "names a group", "a")
    one_error(definition(item("n", "note"), item("a", relevant="${n} = 1")), "relevant", "names a note", "a")
    one_error(definition(item("a", relevant="${a} = 1")), "relevant", "itself", "a")
    one_error(definition(item("a", relevant=". = 1")), "relevant", "'.'", "a")
    one_error(definition(item("a", relevant="string-length() > 1")), "relevant", "'.'", "a")
    one_error(definition(group("g", item("a"), relevant="${a} = 'x'")), "relevant", "inside the group", "g")
    # A constraint may name the item itself, and any other item.
    validate_definition(
        definition(item("b", "integer"), item("a", "integer", constraint=". <= ${b} and ${a} >= 0"))
    )


def test_regex_pattern_must_be_a_literal() -> None:
    # A pattern taken from an answer is only known when an officer submits: it could be invalid then
    # (an error on the submission path) or backtrack for minutes, (a+)+$ on 30 characters takes ~30 s.
    one_error(definition(item("p"), item("a", constraint="regex(., ${p})")), "constraint", "regex()", "a")
    one_error(
        definition(item("p"), item("a", relevant="regex('x', concat('(', ${p}))")), "relevant", "regex()", "a"
    )
    one_error(definition(item("a", constraint="regex(., string(1))")), "constraint", "regex()", "a")
    validate_definition(definition(item("p"), item("a", constraint="regex(concat(., ${p}), '^[a-z]+$')")))


def test_bounds_problems() -> None:
    one_error(definition(item("a", "integer", min=10, max=5)), "min", "greater than max", "a")
    one_error(
        definition(item("a", "integer", constraint=". >= 10 and . <= 5")), "min", "greater than max", "a"
    )
    one_error(definition(item("a", "text", min=1)), "min", "Only integer and decimal", "a")
    one_error(definition(item("a", "integer", min="1" + "0" * 30)), "min", "digits before the decimal point")
    one_error(definition(item("a", "decimal", max="0.00000000001")), "max", "decimal places")
    one_error(definition(item("a", "decimal", max="NaN")), "max", "Must be a number")
    one_error(
        definition(item("a", "integer", constraint=". <= 1" + "0" * 30)),
        "constraint",
        "read from the constraint",
    )


def test_nul_characters_are_refused() -> None:
    one_error(definition(item("q", label="Q\x00")), "label", "NUL")
    one_error(definition(item("q", relevant="${x}\x00")), "relevant", "NUL")


def test_notes_are_never_answered() -> None:
    one_error(definition(item("n", "note", required=True), item("q")), "required", "cannot be required", "n")
    one_error(
        definition(item("n", "note", constraint=". = 1"), item("q")), "constraint", "cannot have a constraint"
    )


def test_empty_questionnaire() -> None:
    one_error(definition(groups=[]), "groups", "no item to answer")
    one_error(definition(item("n", "note")), "groups", "no item to answer")
    one_error(definition(group("g")), "children", "non-empty list of children", "g")


def test_languages() -> None:
    one_error(definition(item("q", label={"fr": "Q"})), "label", "not declared", "q")
    one_error(definition(item("q", label={"en": "", "fr": "Q"})), "label", "not declared", "q")
    both = [{"code": "en", "name": "English"}, {"code": "fr", "name": "Français"}]
    one_error(definition(item("q", label={"fr": "Q"}), languages=both), "label", "no 'en' version", "q")
    one_error(definition(item("q", hint={"fr": "H"}), languages=both), "hint", "no 'en' version", "q")
    one_error(
        definition(languages=[{"code": "fr", "name": "Français"}]), "languages", "default language 'en'"
    )
    one_error(definition(languages=[*both, {"code": "en", "name": "Again"}]), "languages", "declared twice")
    one_error(definition(title={"en": ""}), "title", "is required")
    page = {"code": "p", "children": [{"code": "q", "type": "text", "label": {"sv": "Fråga"}}]}
    swedish = definition(title={"sv": "Enkät"}, default_language="sv", choice_lists={}, groups=[page])
    sv = validate_definition(swedish)
    assert sv["languages"] == [{"code": "sv", "name": "Swedish"}]


def test_all_errors_are_reported_together() -> None:
    data = definition(
        item("1bad"),
        item("dup"),
        item("dup"),
        item("q", "select_one", choice_list="missing"),
        item("r", relevant="${ghost} = 1"),
        item("t", "teleport"),
        format="wrong",
    )
    errors = errors_of(data)
    assert {e.field for e in errors} >= {"format", "code", "choice_list", "relevant", "type"}
    assert len(errors) >= 6


def test_error_text_and_pickling() -> None:
    located = DefinitionError("Bad.", "q", "relevant", sheet="survey", row=12, column="F")
    assert str(located) == "survey sheet, row 12, column F (relevant): Bad."
    assert str(DefinitionError("Bad.", "q", "relevant")) == "q (relevant): Bad."
    assert str(DefinitionError("Bad.", None, None)) == "Bad."
    assert str(DefinitionError("Bad.", None, "format")) == "(format): Bad."
    error = DefinitionInvalid([located, DefinitionError("Worse.", None, None)])
    assert "2 errors" in str(error) and "row 12" in str(error)
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own data
    assert restored.errors == error.errors


# ---- properties ----------------------------------------------------------------------------------

CODES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
CHOICE_CODES = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,6}", fullmatch=True)
TEXTS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() != "")


def _text(draw: st.DrawFn, languages: list[str]) -> Any:
    """A text as a plain string or as an object with the default language and maybe others."""
    if draw(st.booleans()):
        return draw(TEXTS)
    out = {languages[0]: draw(TEXTS)}
    for language in languages[1:]:
        if draw(st.booleans()):
            out[language] = draw(TEXTS)
    return out


@st.composite
def valid_definitions(draw: st.DrawFn) -> dict[str, Any]:
    languages = ["en", *draw(st.lists(st.sampled_from(["fr", "sv", "de"]), unique=True, max_size=2))]
    codes = iter(draw(st.lists(CODES, min_size=30, max_size=30, unique=True)))
    lists: dict[str, Any] = {"yes_no": [{"code": "yes", "label": "Yes"}, {"code": "no", "label": "No"}]}
    for _ in range(draw(st.integers(1, 3))):
        choices = draw(st.lists(CHOICE_CODES, min_size=1, max_size=4, unique=True))
        lists[next(codes)] = [{"code": c, "label": _text(draw, languages)} for c in choices]
    select_lists = [name for name in lists if name != "yes_no"]
    answered: list[str] = []

    def make_item() -> dict[str, Any]:
        code = next(codes)
        type_ = draw(st.sampled_from([t for t in ITEM_TYPES if t != "note"] + ["note"]))
        node: dict[str, Any] = {"kind": "item", "code": code, "type": type_, "label": _text(draw, languages)}
        if type_ in ("select_one", "select_multiple"):
            node["choice_list"] = draw(st.sampled_from(select_lists))
        elif type_ == "yes_no":
            node["choice_list"] = "yes_no"
        elif type_ in ("integer", "decimal"):
            low = draw(st.integers(-1000, 1000))
            high = low + draw(st.integers(0, 1000))
            if draw(st.booleans()):
                node["constraint"] = f". >= {low} and . <= {high}"
            elif draw(st.booleans()):
                node["min"], node["max"] = low, str(high)
        if type_ != "note":
            if answered and draw(st.booleans()):
                node["relevant"] = f"${{{draw(st.sampled_from(answered))}}} != ''"
            node["required"] = draw(st.booleans())
            if draw(st.booleans()):
                node["hint"] = _text(draw, languages)
            answered.append(code)
        return node

    pages = []
    for _ in range(draw(st.integers(1, 3))):
        children: list[dict[str, Any]] = [make_item() for _ in range(draw(st.integers(1, 3)))]
        if draw(st.booleans()):
            scale = draw(st.sampled_from(select_lists))
            rows = [
                {
                    "kind": "item",
                    "code": next(codes),
                    "type": "select_one",
                    "label": _text(draw, languages),
                    "choice_list": scale,
                }
                for _ in range(draw(st.integers(1, 3)))
            ]
            children.append(
                {
                    "kind": "group",
                    "code": next(codes),
                    "label": "Grid",
                    "appearance": "table-list",
                    "children": rows,
                }
            )
        pages.append({"code": next(codes), "label": _text(draw, languages), "children": children})
    # At least one answerable item, as the format requires.
    pages[0]["children"].append({"kind": "item", "code": next(codes), "type": "text", "label": "Last"})
    return {
        "format": FORMAT,
        "title": _text(draw, languages),
        "default_language": "en",
        "languages": [{"code": code, "name": code.upper()} for code in languages],
        "choice_lists": lists,
        "groups": pages,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_definitions())
def test_valid_definitions_normalise_idempotently(data: dict[str, Any]) -> None:
    once = validate_definition(data)
    assert validate_definition(once) == once
    assert validate_definition(json.loads(json.dumps(once))) == once
    assert len(list(iter_items(once))) == len(list(iter_items(data)))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_definitions(), st.data())
def test_any_corruption_gives_errors_never_a_crash(data: dict[str, Any], draw: st.DataObject) -> None:
    paths = [path for path in _paths(data) if path]
    path = draw.draw(st.sampled_from(paths))
    replacement = draw.draw(JSON_VALUES)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    errors: list[DefinitionError] = []
    result: dict[str, Any] | None = None
    try:
        result = validate_definition(data)
    except DefinitionInvalid as exc:
        errors = exc.errors
    if result is None:
        assert errors
        assert all(isinstance(e, DefinitionError) and e.message for e in errors)
    else:
        assert validate_definition(result) == result


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_never_crashes(value: Any) -> None:
    with pytest.raises(DefinitionInvalid):
        validate_definition(value)
