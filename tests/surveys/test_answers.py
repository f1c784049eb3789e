"""The one normalisation point: raw answers become typed values or errors by item code."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from surveys.definition import validate_definition
from surveys.questionnaire import AnswersInvalid, Questionnaire
from surveys.selectors import edition_questionnaire

MINIMAL = {
    "country": "SE",
    "workload_change": "unchanged",
    "better_equipped": "no",
    "viewing_handson_correlation": "rare",
}


@pytest.fixture
def questionnaire(open_2017):
    return edition_questionnaire(open_2017)


def test_a_complete_valid_set_comes_back_typed(questionnaire):
    answers = questionnaire.clean_answers(
        {
            **MINIMAL,
            "workload_change": "increased",
            "workload_reasons": "  More data and encrypted phones  ",
            "offender_age": ["40_50", "20_30"],
            "avg_case_images_total": "5000",
            "avg_case_images_csam": 1200,
            "avg_case_video_hours": "2.5",
            "access_family": "common",
        }
    )
    assert answers["workload_reasons"] == "More data and encrypted phones"
    assert answers["offender_age"] == ["20_30", "40_50"]  # questionnaire order
    assert answers["avg_case_images_total"] == 5000 and answers["avg_case_images_csam"] == 1200
    assert answers["avg_case_video_hours"] == Decimal("2.5")


def test_missing_required_answers_are_listed_by_code(questionnaire):
    with pytest.raises(AnswersInvalid) as caught:
        questionnaire.clean_answers({})
    assert set(caught.value.errors) == {
        "country",
        "workload_change",
        "better_equipped",
        "viewing_handson_correlation",
    }


def test_an_answer_to_a_hidden_item_is_refused(questionnaire):
    with pytest.raises(AnswersInvalid) as caught:
        questionnaire.clean_answers({**MINIMAL, "workload_reasons": "More cases"})
    assert list(caught.value.errors) == ["workload_reasons"]
    assert "not asked" in caught.value.errors["workload_reasons"][0]


def test_other_please_specify_is_asked_only_when_other_is_chosen(questionnaire):
    base = {**MINIMAL, "better_equipped": "yes"}
    assert questionnaire.clean_answers(
        {**base, "better_equipped_reasons": ["other"], "better_equipped_other": "Dogs"}
    )
    with pytest.raises(AnswersInvalid):
        questionnaire.clean_answers(
            {**base, "better_equipped_reasons": ["tools"], "better_equipped_other": "Dogs"}
        )


def test_a_constraint_on_another_answer_is_applied(questionnaire):
    with pytest.raises(AnswersInvalid) as caught:
        questionnaire.clean_answers({**MINIMAL, "avg_case_images_total": 100, "avg_case_images_csam": 101})
    assert list(caught.value.errors) == ["avg_case_images_csam"]


@pytest.mark.parametrize(
    ("code", "raw"),
    [
        ("country", "XX"),
        ("country", ["SE"]),
        ("offender_age", ["below_20", "teen"]),
        ("offender_age", 3),
        ("children_rescued", "12.5"),
        ("children_rescued", "+-5"),
        ("children_rescued", "²"),
        ("children_rescued", "1" * 31),
        ("children_rescued", True),
        ("children_rescued", -1),
        ("children_rescued", 100_001),
        # No max, but past what an answer column stores (the release would fail on it): JSON numbers.
        ("avg_case_images_csam", 10**40),
        ("avg_case_images_csam", 1e35),
        ("avg_case_video_hours", "NaN"),
        ("avg_case_video_hours", "lots"),
        ("trends", 42),
        ("trends", "x" * 20_001),
        ("trends", "nul\x00byte"),
        ("trends", "lone \ud800 surrogate"),  # JSON can carry it; UTF-8 (and PostgreSQL) cannot
    ],
)
def test_wrong_values_are_refused_by_the_item(questionnaire, code, raw):
    with pytest.raises(ValidationError):
        questionnaire.items[code].clean_answer(raw)


def test_unknown_item_codes_are_reported(questionnaire):
    with pytest.raises(AnswersInvalid) as caught:
        questionnaire.clean_answers({**MINIMAL, "favourite_colour": "blue"})
    assert list(caught.value.errors) == ["favourite_colour"]


def test_the_model_method_uses_the_same_normalisation(open_2017):
    item = open_2017.items.get(code="children_rescued")
    assert item.clean_answer("3114") == 3114
    with pytest.raises(ValidationError):
        item.clean_answer("many")


def _one_text_item(**fields):
    item = {"code": "t", "type": "text", "label": {"en": "T"}, **fields}
    gate = {"code": "g", "type": "text", "label": {"en": "G"}}
    return Questionnaire(
        validate_definition(
            {"format": "vetted-survey/1", "title": {"en": "T"},
             "groups": [{"code": "p", "label": {"en": "P"}, "children": [gate, item]}]}
        )
    )  # fmt: skip


def test_a_constraint_that_cannot_be_checked_in_time_refuses_the_answer_with_a_clear_error():
    questionnaire = _one_text_item(constraint="regex(., '^(a|aa)+$')")
    with pytest.raises(AnswersInvalid) as caught:
        questionnaire.clean_answers({"t": "a" * 60 + "!"})
    assert caught.value.errors == {
        "t": ["This answer could not be checked against the question's rule; please shorten it."]
    }
    assert questionnaire.clean_answers({"t": "aaaa"}) == {"t": "aaaa"}


def test_a_skip_condition_that_cannot_be_decided_asks_the_question():
    questionnaire = _one_text_item(relevant="regex(${g}, '^(a|aa)+$')")
    assert "t" in questionnaire.asked_items({"g": "a" * 60 + "!"})
    assert "t" not in questionnaire.asked_items({"g": "b"})
