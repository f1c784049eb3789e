"""A submission the database refuses is held, not a reason to keep the whole edition unreleased."""

import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from responses import services
from responses.models import (
    Answer,
    HeldSubmission,
    PoolKey,
    PoolKeyStatus,
    ReceiptDigest,
    Response,
    StagedSubmission,
)
from tests.conftest import login_with_mfa
from tests.responses.conftest import BASE_ANSWERS


def stage_unchecked(edition, answers):
    """Seal answers into the pool as the submission path would, minus its checks: the way a payload the
    checks wrongly passed (two such gaps were found: lone surrogates, numbers over numeric(40,10)) gets in."""
    _, payload = services.answers_sealable(edition=edition, answers=BASE_ANSWERS)
    body = json.loads(payload)
    body["answers"].update(answers)
    with transaction.atomic():
        services.pool_lock_for_staging(edition)
        services.pool_stage(edition=edition, payload=json.dumps(body).encode())
    return body["receipt"]


def xmins(table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT xmin::text FROM {table}")  # noqa: S608 (fixed table names)
        return {row[0] for row in cursor.fetchall()}


def test_a_row_the_database_refuses_is_held_and_every_other_one_released(
    open_2017, officers, worker_keys, caplog
):
    caplog.set_level(logging.DEBUG)
    receipts = [
        services.response_submit(edition=open_2017, officer=officer, answers=BASE_ANSWERS).code
        for officer in officers(3)
    ]
    stage_unchecked(open_2017, {"children_rescued": "1e35"})  # numeric(40,10) overflows
    stage_unchecked(open_2017, {"workload_reasons": "CANARY\x00text"})  # PostgreSQL text holds no NUL

    assert services.pool_release(edition_id=open_2017.pk) == 3

    assert Response.objects.filter(edition=open_2017).count() == 3
    assert all(services.receipt_is_released(edition=open_2017, code=code) for code in receipts)
    held = HeldSubmission.objects.filter(edition=open_2017)
    assert sorted(row.reason.split(":")[0] for row in held) == ["DataError", "ValueError"]
    payloads = [json.loads(bytes(row.payload)) for row in held]
    assert sorted(str(p["answers"]["children_rescued"]) for p in payloads) == ["12", "1e35"]
    assert "CANARY\x00text" in [p["answers"]["workload_reasons"] for p in payloads]
    assert services.edition_response_counts(edition=open_2017)["held"] == 2
    # Nothing left in the pool, the key destroyed: the held rows were kept in the same transaction.
    assert not StagedSubmission.objects.exists()
    assert PoolKey.objects.get(edition=open_2017).status == PoolKeyStatus.DESTROYED
    # The released rows still share one transaction id (the per-row tries were rolled back).
    assert len(xmins("responses_response")) == 1
    assert xmins("responses_answer") == xmins("responses_response") == xmins("responses_receiptdigest")
    # The logs say how many and why in kind, never what was answered.
    assert "held 2 submission(s)" in caplog.text
    assert "CANARY" not in caplog.text and "1e35" not in caplog.text


def test_a_release_where_no_row_can_be_written_keeps_the_pool(open_2017, worker_keys):
    stage_unchecked(open_2017, {"children_rescued": "1e35"})
    with pytest.raises(services.ReleaseFailed, match="none of the 1 submissions"):
        services.pool_release(edition_id=open_2017.pk)
    assert StagedSubmission.objects.count() == 1
    assert not HeldSubmission.objects.exists() and not Response.objects.exists()


def test_held_submissions_are_released_once_they_can_be_written(open_2017, officers, worker_keys):
    services.response_submit(edition=open_2017, officer=officers(1)[0], answers=BASE_ANSWERS)
    receipt_digest = stage_unchecked(open_2017, {"children_rescued": "1e35"})
    services.pool_release(edition_id=open_2017.pk)

    with pytest.raises(CommandError, match="still cannot be written"):
        call_command("release_held", str(open_2017.pk))
    assert HeldSubmission.objects.count() == 1 and Response.objects.count() == 1

    held = HeldSubmission.objects.get()  # the cause fixed: here, the value made storable
    payload = json.loads(bytes(held.payload))
    payload["answers"]["children_rescued"] = 7
    held.payload = json.dumps(payload).encode()
    held.save()
    call_command("release_held", str(open_2017.pk))
    assert not HeldSubmission.objects.exists()
    assert Response.objects.count() == 2
    assert sorted(Answer.objects.filter(item__code="children_rescued").values_list("number", flat=True)) == [
        7,
        12,
    ]
    assert ReceiptDigest.objects.filter(digest=receipt_digest).exists()


def test_administrators_see_held_submissions_on_the_edition_page(client, admin_ada, open_2017, worker_keys):
    stage_unchecked(open_2017, {"children_rescued": 3})
    stage_unchecked(open_2017, {"children_rescued": "1e35"})
    services.pool_release(edition_id=open_2017.pk)
    login_with_mfa(client, admin_ada)
    page = client.get(f"/staff/editions/{open_2017.pk}/").content.decode()
    assert "1 submission could not be written as response at the last release and is held" in page
