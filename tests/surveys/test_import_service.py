"""Importing into the database: complete, all-or-nothing, consistent across a series, round-trippable."""

import io
import json

import pytest

from surveys import services
from surveys.definition import DefinitionInvalid
from surveys.models import ChoiceList, Edition, Group, Item, ItemType
from surveys.selectors import edition_definition
from tests.conftest import import_reference


def test_the_2017_reference_imports_with_every_item_group_and_choice(draft_2017):
    items = {
        i.code: i for i in Item.objects.filter(edition=draft_2017).select_related("group", "choice_list")
    }
    assert len(items) == 39
    assert items["country"].type == ItemType.COUNTRY and items["country"].quasi_identifier
    assert items["agency_type"].quasi_identifier
    assert items["workload_reasons"].type == ItemType.LONG_TEXT
    assert items["workload_reasons"].relevant == "${workload_change} = 'increased'"
    assert items["better_equipped"].type == ItemType.YES_NO
    assert items["better_equipped_other"].relevant == "selected(${better_equipped_reasons}, 'other')"
    assert items["avg_case_images_csam"].constraint == ". >= 0 and . <= ${avg_case_images_total}"
    assert (items["avg_case_images_total"].min_value, items["avg_case_images_total"].max_value) == (
        0,
        1_000_000_000,
    )
    assert items["access_family"].group.code == "access" and items["access_family"].group.is_grid
    assert items["access_family"].group.parent.code == "offenders"
    assert [c.code for c in items["offender_age"].choice_list.choices.all()] == [
        "below_20",
        "20_30",
        "30_40",
        "40_50",
        "50_60",
        "above_60",
    ]
    pages = Group.objects.filter(edition=draft_2017, parent=None).values_list("code", flat=True)
    assert list(pages) == [
        "about",
        "workload",
        "cases",
        "offenders",
        "abuse",
        "workplace",
        "trends_group",
        "outcomes",
    ]
    assert draft_2017.default_language == "en"


def test_the_json_definition_round_trips_unchanged(draft_2017, series):
    exported = edition_definition(draft_2017)
    payload = json.dumps(exported).encode()
    reimported = services.edition_import_definition(
        series=series,
        label="2017-copy",
        definition=services.definition_from_upload(fileobj=io.BytesIO(payload), filename="copy.json"),
    )
    assert edition_definition(reimported) == exported


def test_a_bad_definition_leaves_nothing_behind(series):
    definition = {"format": "vetted-survey/1", "groups": "not a list"}
    with pytest.raises(DefinitionInvalid):
        services.edition_import_definition(series=series, label="2018", definition=definition)
    assert not Edition.objects.exists() and not ChoiceList.objects.exists()


def test_an_item_code_cannot_change_type_within_a_series(draft_2017, series):
    definition = edition_definition(draft_2017)
    for page in definition["groups"]:
        for node in page["children"]:
            if node.get("code") == "children_rescued":
                node["type"] = "text"
                node["min"] = node["max"] = None
                node["constraint"] = ""
    with pytest.raises(DefinitionInvalid) as caught:
        services.edition_import_definition(series=series, label="2018", definition=definition)
    assert [e.element for e in caught.value.errors] == ["children_rescued"]
    assert "integer in another edition" in caught.value.errors[0].message


def test_the_same_label_twice_in_a_series_is_refused(draft_2017, series):
    with pytest.raises(DefinitionInvalid, match="already has an edition"):
        import_reference(series, "2017")


@pytest.mark.parametrize("label", ["2018/pilot", "../../2018", "2018\r\nX-Evil: 1", ".hidden"])
def test_a_label_that_cannot_name_a_file_is_refused(series, label):
    # The label names the definition download (a newline in it made that page a 500) and the export
    # files (a "/" made every export of the edition fail with FileNotFoundError).
    definition = {
        "format": "vetted-survey/1",
        "title": {"en": "T"},
        "groups": [
            {
                "code": "p",
                "label": {"en": "P"},
                "children": [{"code": "q", "type": "integer", "label": {"en": "Q"}}],
            }
        ],
    }
    with pytest.raises(DefinitionInvalid, match="letters, digits"):
        services.edition_import_definition(series=series, label=label, definition=definition)
    assert not Edition.objects.exists()
    assert services.edition_import_definition(series=series, label="2018_pilot-2.b", definition=definition)


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("form.csv", b"type,name\n", "Upload an XLSForm"),
        ("form.json", b"{not json", "Not valid JSON"),
        # 5,000 levels (35 kB) exhausted the JSON decoder's recursion: a 500 on the import page.
        ("form.json", b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
        ("form.xlsx", b"plain text pretending", None),
    ],
)
def test_uploads_that_are_not_questionnaires_get_a_clear_error(db, filename, content, expected):
    with pytest.raises(DefinitionInvalid) as caught:
        services.definition_from_upload(fileobj=io.BytesIO(content), filename=filename)
    assert caught.value.errors
    if expected:
        assert expected in caught.value.errors[0].message


def test_an_oversized_json_upload_is_refused_before_parsing(db, settings):
    settings.IMPORT_MAX_BYTES = 1000
    with pytest.raises(DefinitionInvalid, match="larger than"):
        services.definition_from_upload(fileobj=io.BytesIO(b" " * 2000), filename="big.json")


def test_a_json_upload_nested_too_deep_is_refused_not_a_500(db):
    upload = io.BytesIO(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(DefinitionInvalid, match="Not valid JSON"):
        services.definition_from_upload(fileobj=upload, filename="deep.json")


def test_a_lone_surrogate_in_a_definition_text_is_refused_where_it_is(draft_2017, series):
    exported = json.dumps(edition_definition(draft_2017))
    # JSON's \ud800 escape decodes to a lone surrogate, which PostgreSQL's JSON and text refuse.
    payload = exported.replace('"label": {"en": "', '"label": {"en": "\\ud800', 1).encode()
    with pytest.raises(DefinitionInvalid) as refused:
        services.definition_from_upload(fileobj=io.BytesIO(payload), filename="x.json")
    assert any("surrogate" in e.message for e in refused.value.errors)


@pytest.mark.parametrize("label", ["../../etc", "2018/pilot", "2018\\pilot", '2018"', "2018\r\nX-Header: 1"])
def test_an_edition_label_that_cannot_name_a_file_is_refused(draft_2017, series, label):
    # The label names the export files and downloads: with a "/" every export of the edition failed.
    with pytest.raises(DefinitionInvalid, match="edition label"):
        services.edition_import_definition(
            series=series, label=label, definition=edition_definition(draft_2017)
        )
    assert not Edition.objects.filter(label=label.strip()).exists()


def test_an_edition_label_may_have_words_digits_dots_dashes_and_spaces(draft_2017, series):
    edition = services.edition_import_definition(
        series=series, label="2018.1 pilot-sv", definition=edition_definition(draft_2017)
    )
    assert edition.label == "2018.1 pilot-sv"
