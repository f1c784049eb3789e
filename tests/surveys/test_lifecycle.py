"""Editions move draft → open → closed → archived; opening freezes the questionnaire."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from surveys import services
from surveys.models import Edition, EditionStatus, Item
from surveys.reference import REFERENCE_DIR
from surveys.selectors import edition_definition
from tests.conftest import import_reference

IN_A_MONTH = timedelta(days=30)


def load_2016_definition():
    with (REFERENCE_DIR / "netclean-2016.xlsx").open("rb") as fh:
        return services.definition_from_upload(fileobj=fh, filename=fh.name)


def test_opening_freezes_the_definition_and_records_its_hash(draft_2017, admin_ada):
    before = edition_definition(draft_2017)
    edition = services.edition_open(
        edition=draft_2017, closes_at=timezone.now() + IN_A_MONTH, actor=admin_ada
    )
    assert edition.status == EditionStatus.OPEN
    assert edition.frozen_definition == before
    assert edition.definition_sha256 == services.definition_sha256(before)
    assert AuditEvent.objects.filter(action="edition.opened", actor=admin_ada).exists()


def test_a_frozen_edition_keeps_serving_its_snapshot_even_if_rows_are_tampered_with(open_2017):
    Item.objects.filter(edition=open_2017, code="trends").update(label={"en": "Changed behind our back"})
    definition = edition_definition(Edition.objects.get(pk=open_2017.pk))
    labels = [
        item["label"]["en"]
        for page in definition["groups"]
        for item in page["children"]
        if item.get("code") == "trends"
    ]
    assert labels == ["What new or increasing trends do you see in your investigations?"]
    assert "Changed behind our back" not in str(definition)


def test_an_open_edition_cannot_be_replaced_or_reopened_or_deleted(open_2017):
    with pytest.raises(services.LifecycleError, match="Only a draft can be changed"):
        services.edition_replace_definition(edition=open_2017, definition=load_2016_definition())
    with pytest.raises(services.LifecycleError, match="Only a draft can be opened"):
        services.edition_open(edition=open_2017, closes_at=timezone.now() + IN_A_MONTH)
    with pytest.raises(services.LifecycleError, match="Only a draft can be deleted"):
        services.edition_delete_draft(edition=open_2017)


def test_a_draft_can_be_replaced_and_the_old_questionnaire_is_gone(series):
    edition = import_reference(series, "2017")
    services.edition_replace_definition(edition=edition, definition=load_2016_definition())
    codes = set(Item.objects.filter(edition=edition).values_list("code", flat=True))
    assert codes == {
        "country",
        "workload_change",
        "workload_reasons",
        "better_equipped",
        "trends",
        "children_rescued",
    }


def test_opening_needs_a_closing_time_in_the_future_after_the_opening(draft_2017):
    now = timezone.now()
    with pytest.raises(services.LifecycleError, match="in the future"):
        services.edition_open(
            edition=draft_2017, opens_at=now - timedelta(days=3), closes_at=now - timedelta(days=1)
        )
    with pytest.raises(services.LifecycleError, match="after the opening"):
        services.edition_open(
            edition=draft_2017, opens_at=now + timedelta(days=3), closes_at=now + timedelta(days=2)
        )
    draft_2017.refresh_from_db()
    assert draft_2017.status == EditionStatus.DRAFT


def test_a_scheduled_edition_accepts_answers_only_inside_its_window(draft_2017):
    now = timezone.now()
    edition = services.edition_open(
        edition=draft_2017, opens_at=now + timedelta(days=1), closes_at=now + IN_A_MONTH
    )
    assert not edition.is_accepting_answers(now)
    assert edition.is_accepting_answers(now + timedelta(days=2))
    assert not edition.is_accepting_answers(now + IN_A_MONTH)


def test_close_then_archive_and_no_way_back(open_2017, admin_ada):
    closed = services.edition_close(edition=open_2017, actor=admin_ada)
    assert closed.status == EditionStatus.CLOSED
    assert closed.closes_at <= timezone.now()
    with pytest.raises(services.LifecycleError):
        services.edition_close(edition=closed)
    archived = services.edition_archive(edition=closed)
    assert archived.status == EditionStatus.ARCHIVED
    with pytest.raises(services.LifecycleError):
        services.edition_archive(edition=archived)


def test_only_closed_editions_can_be_archived(draft_2017):
    with pytest.raises(services.LifecycleError, match="Only a closed edition"):
        services.edition_archive(edition=draft_2017)


def test_the_periodic_job_closes_only_editions_past_their_closing_time(series):
    due = services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(hours=1)
    )
    later = services.edition_open(
        edition=import_reference(series, "2016"), closes_at=timezone.now() + timedelta(days=10)
    )
    closed = services.editions_close_due(now=timezone.now() + timedelta(hours=2))
    assert closed == [due.pk]
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (EditionStatus.CLOSED, EditionStatus.OPEN)
    assert services.editions_close_due(now=timezone.now() + timedelta(hours=2)) == []


def test_the_database_refuses_an_open_edition_without_a_snapshot(draft_2017):
    with pytest.raises(IntegrityError), transaction.atomic():
        Edition.objects.filter(pk=draft_2017.pk).update(status=EditionStatus.OPEN)


def test_a_draft_with_choice_lists_and_a_codebook_can_be_deleted(series, open_2017):
    from coding import services as coding_services
    from surveys.models import ChoiceList, Edition

    draft = import_reference(series, "2016")
    assert ChoiceList.objects.filter(edition=draft).exists()  # items point at these (PROTECT)
    book = coding_services.codebooks_import_reference(edition=open_2017)[0]
    coding_services.codebook_carry_forward(codebook=book, to_edition=draft)
    services.edition_delete_draft(edition=draft)
    assert not Edition.objects.filter(pk=draft.pk).exists()
    assert not Item.objects.filter(edition_id=draft.pk).exists()
