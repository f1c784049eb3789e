"""Codebooks: the reference frames, analysts' edits, retiring, carrying to the next edition."""

import pytest

from coding import selectors, services
from coding.models import Category, Codebook
from tests.conftest import import_reference


def test_the_reference_frames_are_imported_for_the_free_text_items(open_2017):
    books = services.codebooks_import_reference(edition=open_2017)
    assert {b.item_code for b in books} == {
        "workload_reasons",
        "offender_professions",
        "offender_change_how",
        "trends",
    }
    codebook = selectors.codebook_for(edition_id=open_2017.pk, item_code="workload_reasons")
    assert codebook[0]["code"] == "more_data" and len(codebook) == 8
    assert not any(c["retired"] for c in codebook)


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([], "non-empty list"),
        ({"code": "x"}, "non-empty list"),
        ([{"code": "Bad Code", "label": "x"}], "is not a code"),
        ([{"code": "a", "label": "A"}, {"code": "a", "label": "B"}], "appears twice"),
        ([{"code": "a", "label": ""}], "label of 1 to 200"),
        ([{"code": "a", "label": "A", "examples": "nope"}], "examples: must be a list"),
        ([{"code": "a", "label": "A", "colour": "red"}], "unknown field(s) colour"),
        (["just text"], "must be an object"),
        # PostgreSQL refuses NUL and lone surrogates: these were a ValueError / UnicodeEncodeError (a 500).
        ([{"code": "a", "label": "A\x00"}], "[0].label: must not contain a NUL"),
        ([{"code": "a", "label": "A", "description": "x\x00y"}], "description: must not contain a NUL"),
        ([{"code": "a", "label": "A", "examples": ["ok", "\x00"]}], "examples[1]: must not contain a NUL"),
        ([{"code": "a", "label": "\ud800"}], "label: is not valid Unicode"),
    ],
)
def test_malformed_codebooks_are_refused_with_clear_errors(open_2017, categories, message):
    with pytest.raises(services.CodebookInvalid) as refused:
        services.codebook_import(edition=open_2017, item_code="trends", categories=categories)
    assert message in str(refused.value)
    assert not Codebook.objects.exists()


def test_only_free_text_items_get_codebooks(open_2017):
    with pytest.raises(services.CodebookInvalid, match="only free-text items"):
        services.codebook_import(
            edition=open_2017, item_code="country", categories=[{"code": "a", "label": "A"}]
        )
    with pytest.raises(services.CodebookInvalid, match="no such item"):
        services.codebook_import(
            edition=open_2017, item_code="nope", categories=[{"code": "a", "label": "A"}]
        )


def test_retiring_a_category_keeps_its_history(coded_item):
    from tests.coding.conftest import code_by_human

    edition, pairs = coded_item
    code_by_human(pairs, 20)
    used = next(codes[0] for _, codes in pairs[:20])
    before = selectors.final_codes(edition_id=edition.pk, item_code="workload_reasons")
    category = Category.objects.get(
        codebook__edition=edition, codebook__item_code="workload_reasons", code=used
    )
    assert services.category_remove(category=category) == "retired"
    category.refresh_from_db()
    assert category.retired
    assert selectors.final_codes(edition_id=edition.pk, item_code="workload_reasons") == before
    assert {"code": used, "retired": True}.items() <= next(
        c
        for c in selectors.codebook_for(edition_id=edition.pk, item_code="workload_reasons")
        if c["code"] == used
    ).items()
    # A retired category cannot be given any more.
    with pytest.raises(services.CodesInvalid, match="retired"):
        services.answer_codes_set(answer_id=pairs[30][0].pk, codes=[used], coder="A")


def test_an_unused_category_is_deleted_only_once_that_is_confirmed(open_2017):
    """Deleting cannot be undone: unconfirmed, nothing changes and the refusal says what would go."""
    (book, *_) = services.codebooks_import_reference(edition=open_2017)
    category = services.category_create(codebook=book, code="other", label="Other")
    with pytest.raises(services.CategoryDeleteUnconfirmed) as refused:
        services.category_remove(category=category)
    assert refused.value.usage == selectors.CategoryUsage() and not refused.value.usage.used
    assert Category.objects.filter(pk=category.pk, retired=False).exists()
    assert services.category_remove(category=category, delete_confirmed=True) == "deleted"
    assert not Category.objects.filter(pk=category.pk).exists()


def test_a_code_means_the_same_in_every_edition_of_a_series(open_2017, series):
    services.codebooks_import_reference(edition=open_2017)
    draft_2016 = import_reference(series, "2016")
    with pytest.raises(services.CodebookInvalid, match="means 'More data"):
        services.codebook_import(
            edition=draft_2016,
            item_code="workload_reasons",
            categories=[{"code": "more_data", "label": "Less"}],
        )


def test_a_codebook_is_carried_to_the_next_edition(open_2017, series):
    book = services.codebooks_import_reference(edition=open_2017)[0]
    category = book.categories.get(code="more_cases")
    category.retired = True
    category.save()
    next_edition = import_reference(series, "2016")  # stands in for the next edition of the series
    carried = services.codebook_carry_forward(codebook=book, to_edition=next_edition)
    codes = [c.code for c in carried.categories.all()]
    assert "more_cases" not in codes and "more_data" in codes
    assert carried.source == "carried from 2017"


def test_carrying_over_a_codebook_the_edition_already_has_needs_replace(open_2017, series):
    book = services.codebooks_import_reference(edition=open_2017)[0]
    next_edition = import_reference(series, "2016")
    own = services.codebook_import(
        edition=next_edition,
        item_code=book.item_code,
        categories=[
            {"code": "more_data", "label": book.categories.get(code="more_data").label},
            {"code": "added_2016", "label": "An analyst's own category"},
        ],
    )
    with pytest.raises(services.CodebookInvalid, match=r"already has a codebook .*\(2 categories\)"):
        services.codebook_carry_forward(codebook=book, to_edition=next_edition)
    assert own.categories.filter(code="added_2016").exists()
    carried = services.codebook_carry_forward(codebook=book, to_edition=next_edition, replace=True)
    assert not carried.categories.filter(code="added_2016").exists()
    assert carried.source == "carried from 2017"


def test_editing_a_label_keeps_a_code_meaning_the_same_across_the_series(open_2017, series):
    services.codebooks_import_reference(edition=open_2017)
    draft_2016 = import_reference(series, "2016")
    services.codebooks_import_reference(edition=draft_2016)
    assert Category.objects.filter(
        codebook__edition=draft_2016, codebook__item_code="workload_reasons", code="more_data"
    ).exists()
    category = Category.objects.get(
        codebook__edition=open_2017, codebook__item_code="workload_reasons", code="more_data"
    )
    with pytest.raises(services.CodebookInvalid, match="means 'More data"):
        services.category_update(category=category, label="Less data")
    category.refresh_from_db()
    assert category.label.startswith("More data")
    services.category_update(category=category, label=category.label.upper(), description="Reworded")


def test_a_codebook_is_not_carried_onto_its_own_edition(coded_item):
    """The form offers other editions only, but a POST could name its own: that re-imported its active
    categories, deleting a retired one whose codes had since been removed, and set 'carried from'."""
    edition, pairs = coded_item
    book = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    answer = pairs[0][0]
    services.answer_codes_set(answer_id=answer.pk, codes=["more_cases"], coder="A")
    assert services.category_remove(category=book.categories.get(code="more_cases")) == "retired"
    services.answer_codes_set(answer_id=answer.pk, codes=[], coder="A")  # unticked: no code left
    before = selectors.codebook_for(edition_id=edition.pk, item_code="workload_reasons")
    with pytest.raises(services.CodebookInvalid, match="not to its own"):
        services.codebook_carry_forward(codebook=book, to_edition=edition)
    assert selectors.codebook_for(edition_id=edition.pk, item_code="workload_reasons") == before
    book.refresh_from_db()
    assert book.source == "reference"


def test_a_label_written_in_another_unicode_form_or_spacing_keeps_its_meaning(open_2017, series):
    """'Données' with a composed 'é' in one edition and 'e' + combining accent (as some tools write it)
    in the next look identical; they were refused as two meanings of the code."""
    import unicodedata

    services.codebook_import(
        edition=open_2017,
        item_code="trends",
        categories=[{"code": "data", "label": unicodedata.normalize("NFC", "Données  massives")}],
    )
    draft_2016 = import_reference(series, "2016")
    services.codebook_import(
        edition=draft_2016,
        item_code="trends",
        categories=[{"code": "data", "label": unicodedata.normalize("NFD", "données massives")}],
    )
    with pytest.raises(services.CodebookInvalid, match="means"):
        services.codebook_import(
            edition=draft_2016, item_code="trends", categories=[{"code": "data", "label": "Donnees massives"}]
        )


def test_a_label_is_measured_without_its_surrounding_spaces(open_2017):
    (book,) = [
        b for b in services.codebooks_import_reference(edition=open_2017) if b.item_code == "workload_reasons"
    ]
    category = services.category_create(codebook=book, code="other", label=" " + "x" * 200 + "\n")
    assert category.label == "x" * 200
    with pytest.raises(services.CodebookInvalid, match="1 to 200"):
        services.category_create(codebook=book, code="other2", label="x" * 201)


def test_a_code_saved_after_the_count_is_never_deleted_with_its_category(coded_item, monkeypatch):
    """A coder's save landing between category_remove's count and its delete: the delete removed every
    code of the category, that person's code with it, unseen. Now only suggestions go with a category, a
    code that came in the meantime is protected, and the category is retired instead."""
    from coding.models import AnswerCode

    edition, pairs = coded_item
    book = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    other = services.category_create(codebook=book, code="other", label="Other reasons")
    counted_before_the_save = selectors.category_usage(category_ids=[other.pk])
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=["other"], coder="A")
    monkeypatch.setattr(selectors, "category_usage", lambda **_: counted_before_the_save)

    assert services.category_remove(category=other, delete_confirmed=True) == "retired"
    other.refresh_from_db()
    assert other.retired
    assert AnswerCode.objects.filter(category=other, coder="A", answer=pairs[0][0]).exists()


def test_a_category_coders_were_offered_is_retired_not_deleted_even_if_nobody_ticked_it(coded_item):
    """Offered to a coder and left unticked, a category holds that person's "no": its figure is a measured
    0 %, not a missing one. Deleting it took those decisions with it (CategorySeen cascades), so it is
    retired like a category with codes, and the codebook page says it was offered."""
    from coding.models import CategorySeen

    edition, pairs = coded_item
    book = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    other = services.category_create(codebook=book, code="other", label="Other reasons")
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[pairs[0][1][0]], coder="A")
    assert CategorySeen.objects.filter(category=other).count() == 1

    assert services.category_remove(category=other, delete_confirmed=True) == "retired"
    other.refresh_from_db()
    assert other.retired and CategorySeen.objects.filter(category=other).count() == 1
    assert selectors.category_usage(category_ids=[other.pk])[other.pk] == selectors.CategoryUsage(offered=1)
