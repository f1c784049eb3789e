"""Releasing the pool: one shuffled transaction, nothing lost or doubled, the key destroyed after."""

import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from responses import keys, services
from responses.models import Answer, PoolKey, PoolKeyStatus, ReceiptDigest, Response, StagedSubmission
from surveys import services as survey_services
from surveys.models import Edition
from surveys.questionnaire import AnswersInvalid
from tests.conftest import import_reference
from tests.responses.conftest import BASE_ANSWERS


def submit_all(edition, users, answers=BASE_ANSWERS):
    return [services.response_submit(edition=edition, officer=u, answers=answers).code for u in users]


def test_release_turns_the_pool_into_responses_and_destroys_the_key(
    open_2017, officers, worker_keys, django_capture_on_commit_callbacks
):
    receipts = submit_all(open_2017, officers(3))
    key = PoolKey.objects.get(edition=open_2017)
    assert keys.private_key_ids() >= {key.id}
    with django_capture_on_commit_callbacks(execute=True):
        assert services.pool_release(edition_id=open_2017.pk) == 3
    assert Response.objects.filter(edition=open_2017).count() == 3
    assert not StagedSubmission.objects.exists()
    key.refresh_from_db()
    assert key.status == PoolKeyStatus.DESTROYED
    assert key.id not in keys.private_key_ids()
    assert all(services.receipt_is_released(edition=open_2017, code=code) for code in receipts)
    assert not services.receipt_is_released(edition=open_2017, code="AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")


def test_released_answers_hold_every_value_typed(open_2017, officer_alice, worker_keys):
    submit_all(open_2017, [officer_alice])
    services.pool_release(edition_id=open_2017.pk)
    rows = Answer.objects.select_related("item")
    by_item: dict[str, list] = {}
    for row in rows:
        by_item.setdefault(row.item.code, []).append(row.choice or row.number or row.text)
    assert sorted(by_item["better_equipped_reasons"]) == ["other", "tools"]
    assert by_item["avg_case_video_hours"] == [pytest.approx(4.5)]
    assert by_item["children_rescued"] == [12]
    assert by_item["workload_reasons"] == ["More data and more devices per case"]
    assert set(by_item) == set(BASE_ANSWERS)


@pytest.fixture
def open_unbounded(series):
    """An edition with a decimal item that has no bounds (common in questionnaires: "how many hours")."""
    definition = {
        "format": "vetted-survey/1",
        "title": {"en": "T"},
        "groups": [
            {
                "code": "p",
                "label": {"en": "P"},
                "children": [{"code": "hours", "type": "decimal", "label": {"en": "Hours"}}],
            }
        ],
    }
    draft = survey_services.edition_import_definition(series=series, label="2030", definition=definition)
    return survey_services.edition_open(edition=draft, closes_at=timezone.now() + timedelta(days=1))


@pytest.mark.parametrize("value", ["1e35", "-1E+30", "1" * 31])
def test_a_number_too_large_to_store_is_refused_at_submission_not_at_release(
    open_unbounded, officers, worker_keys, value
):
    # Accepted before, it made the release's one transaction fail (numeric overflow), every retry too:
    # one officer's answer kept every response of the edition from being released.
    alice, bob = officers(2)
    with pytest.raises(AnswersInvalid) as caught:
        services.response_submit(edition=open_unbounded, officer=alice, answers={"hours": value})
    assert "hours" in caught.value.errors
    services.response_submit(edition=open_unbounded, officer=bob, answers={"hours": "1e29"})
    assert services.pool_release(edition_id=open_unbounded.pk) == 1
    assert Answer.objects.get().number == Decimal("1e29")


def test_text_that_is_not_valid_unicode_is_refused_at_submission_not_at_release(
    open_2017, officers, worker_keys
):
    # "\ud800" in a JSON string is a lone surrogate: sealed fine, then the release failed encoding it.
    alice, bob = officers(2)
    with pytest.raises(AnswersInvalid):
        services.response_submit(
            edition=open_2017, officer=alice, answers={**BASE_ANSWERS, "workload_reasons": "a \ud800 b"}
        )
    services.response_submit(edition=open_2017, officer=bob, answers=BASE_ANSWERS)
    assert services.pool_release(edition_id=open_2017.pk) == 1


def test_a_second_release_finds_nothing_to_do(open_2017, officers, worker_keys):
    submit_all(open_2017, officers(2))
    assert services.pool_release(edition_id=open_2017.pk) == 2
    assert services.pool_release(edition_id=open_2017.pk) == 0
    assert Response.objects.count() == 2


def test_a_crash_inside_the_release_loses_nothing_and_a_retry_completes(open_2017, officers, worker_keys):
    submit_all(open_2017, officers(3))
    with (
        mock.patch.object(Answer.objects, "bulk_create", side_effect=RuntimeError("worker killed")),
        pytest.raises(RuntimeError),
    ):
        services.pool_release(edition_id=open_2017.pk)
    assert StagedSubmission.objects.count() == 3
    assert not Response.objects.exists()
    assert services.pool_release(edition_id=open_2017.pk) == 3
    assert Response.objects.count() == 3 and Answer.objects.values("response").distinct().count() == 3


def test_a_midway_release_needs_the_minimum_and_new_submissions_use_a_new_key(
    open_2017, officers, worker_keys, settings
):
    settings.POOL_MIDWAY_MINIMUM = 3
    people = officers(4)
    submit_all(open_2017, people[:2])
    assert services.pool_release_midway() == []
    submit_all(open_2017, people[2:3])
    assert services.pool_release_midway() == [open_2017.pk]
    assert Response.objects.count() == 3
    services.pool_keys_replenish(spare=1)
    submit_all(open_2017, people[3:])
    staged = StagedSubmission.objects.get()
    assert PoolKey.objects.get(pk=staged.key_id).status == PoolKeyStatus.ACTIVE


def test_the_sweep_releases_closed_editions_that_still_hold_submissions(
    open_2017, officers, worker_keys, django_capture_on_commit_callbacks
):
    submit_all(open_2017, officers(2))
    with (
        mock.patch(
            "responses.tasks.pool_release_task.apply_async", side_effect=ConnectionError("redis is down")
        ) as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        survey_services.edition_close(edition=open_2017)
    assert send.called
    assert StagedSubmission.objects.count() == 2  # the release message was lost
    assert services.pool_release_sweep() == [open_2017.pk]
    assert Response.objects.count() == 2


def test_a_missing_private_key_stops_the_release_without_losing_anything(open_2017, officers, worker_keys):
    submit_all(open_2017, officers(2))
    for key_id in keys.private_key_ids():
        (worker_keys / f"{key_id}.key").rename(worker_keys / f"{key_id}.moved")
    with pytest.raises(keys.KeyMissing):
        services.pool_release(edition_id=open_2017.pk)
    assert StagedSubmission.objects.count() == 2


def test_the_keys_replenisher_keeps_spares_and_deletes_released_private_keys(
    open_2017, officers, worker_keys
):
    submit_all(open_2017, officers(1))
    used = PoolKey.objects.get(edition=open_2017).id
    with mock.patch.object(keys, "private_key_destroy"):  # the process died before deleting the file
        services.pool_release(edition_id=open_2017.pk)
    assert used in keys.private_key_ids()
    services.pool_keys_replenish(spare=2)
    assert used not in keys.private_key_ids()
    assert PoolKey.objects.filter(status=PoolKeyStatus.SPARE).count() == 2


@pytest.mark.worker
def test_closing_the_edition_releases_it_through_a_real_worker(celery_worker, series, officers, worker_keys):
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    submit_all(edition, officers(5))
    survey_services.edition_close(edition=Edition.objects.get(pk=edition.pk))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and StagedSubmission.objects.exists():
        time.sleep(0.2)
    assert not StagedSubmission.objects.exists()
    assert Response.objects.filter(edition=edition).count() == 5
    assert ReceiptDigest.objects.filter(edition=edition).count() == 5


def test_a_text_with_a_lone_surrogate_is_refused_and_cannot_block_the_release(
    open_2017, officers, worker_keys
):
    from surveys.questionnaire import AnswersInvalid

    first, second, third = officers(3)
    submit_all(open_2017, [first, second])
    # JSON's "\ud800" escape decodes to a lone surrogate, which PostgreSQL cannot store: accepted, it
    # would sit sealed in the pool and make every release of the edition fail.
    with pytest.raises(AnswersInvalid) as refused:
        submit_all(open_2017, [third], answers={**BASE_ANSWERS, "workload_reasons": "More data \ud800"})
    assert set(refused.value.errors) == {"workload_reasons"}
    assert services.pool_release(edition_id=open_2017.pk) == 2
    assert not StagedSubmission.objects.exists()
