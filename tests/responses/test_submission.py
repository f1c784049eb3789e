"""Submitting: once per officer and edition, sealed, durable, validated by the one service."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Participation, ParticipationStatus
from responses import services
from responses.models import PoolKey, PoolKeyStatus, Response, StagedSubmission
from surveys import services as survey_services
from surveys.questionnaire import AnswersInvalid
from tests.responses.conftest import BASE_ANSWERS


def run_at_once(threads):
    """Start every thread (they meet at their barrier), then wait for all of them."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_submission_is_sealed_and_the_officer_marked(open_2017, officer_alice, worker_keys):
    receipt = services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert len(receipt.code) == 29  # 24 characters in groups of four
    staged = StagedSubmission.objects.get()
    assert b"More data" not in bytes(staged.sealed) and b"SE" not in bytes(staged.sealed)
    participation = Participation.objects.get(user=officer_alice, edition=open_2017)
    assert participation.status == ParticipationStatus.SUBMITTED
    assert not Response.objects.exists()  # nothing is readable before the release


def test_a_second_submission_is_refused_and_stores_nothing(open_2017, officer_alice, worker_keys):
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    with pytest.raises(services.AlreadySubmitted):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert StagedSubmission.objects.count() == 1


def test_invalid_answers_store_nothing_and_leave_the_officer_free_to_answer(
    open_2017, officer_alice, worker_keys
):
    with pytest.raises(AnswersInvalid) as caught:
        services.response_submit(edition=open_2017, officer=officer_alice, answers={"country": "SE"})
    assert "workload_change" in caught.value.errors
    assert not StagedSubmission.objects.exists()
    assert not Participation.objects.filter(status=ParticipationStatus.SUBMITTED).exists()


def test_only_vetted_officers_may_submit(open_2017, pending_pete, analyst_ann, worker_keys):
    for user in (pending_pete, analyst_ann):
        with pytest.raises(services.NotEligible):
            services.response_submit(edition=open_2017, officer=user, answers=BASE_ANSWERS)
    assert not StagedSubmission.objects.exists()


def test_a_closed_or_not_yet_open_edition_refuses(draft_2017, officer_alice, worker_keys):
    now = timezone.now()
    edition = survey_services.edition_open(
        edition=draft_2017, opens_at=now + timedelta(days=1), closes_at=now + timedelta(days=9)
    )
    with pytest.raises(services.EditionNotAccepting):
        services.response_submit(edition=edition, officer=officer_alice, answers=BASE_ANSWERS)
    survey_services.edition_close(edition=edition)
    edition.refresh_from_db()
    with pytest.raises(services.EditionNotAccepting):
        services.response_submit(edition=edition, officer=officer_alice, answers=BASE_ANSWERS)


def test_without_any_worker_key_the_submission_is_refused_not_lost(
    open_2017, officer_alice, settings, tmp_path
):
    with pytest.raises(services.PoolUnavailable):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert not Participation.objects.filter(status=ParticipationStatus.SUBMITTED).exists()
    assert not StagedSubmission.objects.exists()
    # Once a worker has made keys, the same officer can answer.
    settings.POOL_KEY_DIR = tmp_path / "keys"
    services.pool_keys_replenish(spare=1)
    assert services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS).code


def test_the_first_submission_claims_a_spare_key_for_the_edition(
    open_2017, officer_alice, officer_bob, worker_keys
):
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    services.response_submit(edition=open_2017, officer=officer_bob, answers=BASE_ANSWERS)
    active = PoolKey.objects.filter(edition=open_2017, status=PoolKeyStatus.ACTIVE)
    assert active.count() == 1
    assert set(StagedSubmission.objects.values_list("key_id", flat=True)) == {active.get().id}


def test_an_officer_without_an_invitation_row_answers_once(open_2017, officer_alice, worker_keys):
    # Vetted after the edition opened and before the invitation job ran: no Participation row yet.
    Participation.objects.filter(user=officer_alice).delete()
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert Participation.objects.get(user=officer_alice, edition=open_2017).status == "submitted"
    with pytest.raises(services.AlreadySubmitted):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert StagedSubmission.objects.count() == 1


def test_an_officer_holding_a_ballot_cannot_also_answer_by_name(open_2017, officer_alice, worker_keys):
    Participation.objects.update_or_create(
        user=officer_alice, edition=open_2017, defaults={"status": ParticipationStatus.BALLOT_ISSUED}
    )
    with pytest.raises(services.AlreadySubmitted, match="ballot"):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert Participation.objects.get(user=officer_alice).status == ParticipationStatus.BALLOT_ISSUED
    assert not StagedSubmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_tabs_submitting_at_the_same_moment_store_one_answer(series, officer_alice, worker_keys):
    from tests.conftest import import_reference

    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def tab() -> None:
        try:
            barrier.wait()
            services.response_submit(edition=edition, officer=officer_alice, answers=BASE_ANSWERS)
            outcomes.append("receipt")
        except services.AlreadySubmitted:
            outcomes.append("refused")
        finally:
            connection.close()

    run_at_once([threading.Thread(target=tab) for _ in range(4)])
    assert sorted(outcomes) == ["receipt", "refused", "refused", "refused"]
    assert StagedSubmission.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_first_submissions_is_all_taken_while_spare_keys_are_claimed(
    series, officers, worker_keys
):
    from tests.conftest import import_reference

    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    crowd = officers(8)  # more first submissions at once than spare keys (2)
    barrier = threading.Barrier(len(crowd))
    outcomes: list[str] = []

    def submit(officer) -> None:
        try:
            barrier.wait()
            services.response_submit(edition=edition, officer=officer, answers=BASE_ANSWERS)
            outcomes.append("receipt")
        except services.SubmissionRefused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    run_at_once([threading.Thread(target=submit, args=(officer,)) for officer in crowd])
    assert outcomes == ["receipt"] * len(crowd)
    assert StagedSubmission.objects.filter(edition=edition).count() == len(crowd)
    assert PoolKey.objects.filter(edition=edition, status=PoolKeyStatus.ACTIVE).count() == 1


def test_submissions_need_neither_redis_nor_a_worker(client, open_2017, officer_alice, worker_keys, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    client.force_login(officer_alice)
    answers = {"country": "SE", "workload_change": "decreased", "better_equipped": "no"}
    page = client.post(
        f"/portal/{open_2017.pk}/",
        {**answers, "viewing_handson_correlation": "rare", "_action": "submit", "_page": "7"},
    )
    assert b"your answers are in" in page.content
    assert StagedSubmission.objects.count() == 1


# The usual submission runs as one statement (the PostgreSQL function responses_stage_invited) once the
# process knows the edition's active key; the full path handles everything else. Both must behave alike.


def _stage_statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "responses_stage_invited" in q["sql"]]


def test_once_the_key_is_known_a_submission_is_one_statement_with_the_same_outcome(
    open_2017, officer_alice, officer_bob, worker_keys
):
    from django.test.utils import CaptureQueriesContext

    services.response_submit(edition=open_2017, officer=officer_bob, answers=BASE_ANSWERS)  # claims the key
    Participation.objects.get_or_create(user=officer_alice, edition=open_2017)  # invited, as usual
    with CaptureQueriesContext(connection) as captured:
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert len(_stage_statements(captured)) == 1
    assert not [q for q in captured.captured_queries if "accounts_participation" in q["sql"]]
    assert Participation.objects.get(user=officer_alice, edition=open_2017).status == "submitted"
    key = PoolKey.objects.get(edition=open_2017, status=PoolKeyStatus.ACTIVE)
    assert list(StagedSubmission.objects.values_list("key_id", flat=True)) == [key.id, key.id]
    with pytest.raises(services.AlreadySubmitted):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert StagedSubmission.objects.count() == 2


def test_a_known_key_a_release_retired_is_refused_and_the_submission_seals_to_the_new_one(
    open_2017, officer_alice, officer_bob, worker_keys
):
    services.response_submit(edition=open_2017, officer=officer_bob, answers=BASE_ANSWERS)
    first_key = PoolKey.objects.get(edition=open_2017, status=PoolKeyStatus.ACTIVE)
    assert services.pool_release(edition_id=open_2017.pk) == 1  # the process still knows first_key
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    staged = StagedSubmission.objects.get()
    assert staged.key_id != first_key.id
    assert PoolKey.objects.get(pk=staged.key_id).status == PoolKeyStatus.ACTIVE
    assert PoolKey.objects.get(pk=first_key.id).status == PoolKeyStatus.DESTROYED


def test_an_edition_closed_after_it_was_read_refuses_even_with_the_key_known(
    open_2017, officer_alice, officer_bob, worker_keys
):
    from surveys.models import Edition, EditionStatus

    services.response_submit(edition=open_2017, officer=officer_bob, answers=BASE_ANSWERS)
    Participation.objects.get_or_create(user=officer_alice, edition=open_2017)  # invited, as usual
    as_read = Edition.objects.get(pk=open_2017.pk)  # still open when the request read it
    Edition.objects.filter(pk=open_2017.pk).update(status=EditionStatus.CLOSED)
    with pytest.raises(services.EditionNotAccepting):
        services.response_submit(edition=as_read, officer=officer_alice, answers=BASE_ANSWERS)
    assert Participation.objects.get(user=officer_alice, edition=open_2017).status == "invited"
    assert StagedSubmission.objects.count() == 1


def test_with_the_key_known_a_ballot_holder_or_an_officer_without_a_row_gets_the_full_path(
    open_2017, officer_alice, officer_bob, officers, worker_keys
):
    services.response_submit(edition=open_2017, officer=officer_bob, answers=BASE_ANSWERS)
    Participation.objects.update_or_create(
        user=officer_alice, edition=open_2017, defaults={"status": ParticipationStatus.BALLOT_ISSUED}
    )
    with pytest.raises(services.AlreadySubmitted, match="ballot"):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert Participation.objects.get(user=officer_alice).status == ParticipationStatus.BALLOT_ISSUED
    (carol,) = officers(1)
    assert not Participation.objects.filter(user=carol).exists()  # vetted after the edition opened
    services.response_submit(edition=open_2017, officer=carol, answers=BASE_ANSWERS)
    assert Participation.objects.get(user=carol, edition=open_2017).status == "submitted"
    assert StagedSubmission.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_tabs_at_the_same_moment_store_one_answer_also_with_the_key_known(
    series, officer_alice, officer_bob, worker_keys
):
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import import_reference

    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    services.response_submit(edition=edition, officer=officer_bob, answers=BASE_ANSWERS)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    one_statement: list[bool] = []

    def tab() -> None:
        try:
            with CaptureQueriesContext(connection) as captured:
                barrier.wait()
                try:
                    services.response_submit(edition=edition, officer=officer_alice, answers=BASE_ANSWERS)
                    outcomes.append("receipt")
                except services.AlreadySubmitted:
                    outcomes.append("refused")
            one_statement.append(len(_stage_statements(captured)) == 1)
        finally:
            connection.close()

    run_at_once([threading.Thread(target=tab) for _ in range(4)])
    assert sorted(outcomes) == ["receipt", "refused", "refused", "refused"]
    assert one_statement == [True] * 4  # every tab tried the one-statement path first
    assert StagedSubmission.objects.filter(edition=edition).count() == 2
    assert Participation.objects.get(user=officer_alice, edition=edition).status == "submitted"
