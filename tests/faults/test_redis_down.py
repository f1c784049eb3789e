"""Redis stopped while officers submit: the submission path does not need Redis, requests that queue a
job still succeed (the job row or closed edition is stored; config/jobs.py logs the failed send), and
when Redis is back, empty, the beat sweeps queue every job again and each runs once.

gunicorn, a Celery worker and beat (JOB_SWEEP_SECONDS=2) run against the test database and a private
redis-server, which the test kills (SIGKILL, nothing persisted) and starts again on the same port.
"""

import time

import httpx
import pytest
from django.utils import timezone
from django.utils.crypto import get_random_string

from accounts.models import Participation, ParticipationStatus, Role
from accounts.services import api_token_create, user_create
from api.ballot_client import BallotClient
from coding import services as coding_services
from coding.models import CodingRun, RunStatus
from exports.models import ExportJob, ExportStatus
from responses.models import ReceiptDigest, Response, StagedSubmission
from responses.services import pool_keys_replenish, receipt_digest
from surveys import services as survey_services
from tests.coding.conftest import CORPUS, add_answers
from tests.conftest import PASSWORD, import_reference
from tests.faults.conftest import wait_until
from tests.responses.conftest import BASE_ANSWERS

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

SWEEPS = {
    "JOB_SWEEP_SECONDS": "2",
    "EXPORT_STALE_SECONDS": "2",
    "CODING_STALE_SECONDS": "2",
    "JOB_REDELIVERY_SECONDS": "10",
}


def submit(client: httpx.Client, edition_id: int, token: str) -> tuple[int, str, float]:
    started = time.monotonic()
    response = client.post(
        f"/api/v1/editions/{edition_id}/responses/",
        json={"answers": BASE_ANSWERS},
        headers={"Authorization": f"Token {token}"},
    )
    receipt = response.json().get("receipt", "") if response.status_code == 201 else response.text[:200]
    return response.status_code, receipt, time.monotonic() - started


def login(base_url: str, email: str) -> httpx.Response:
    """The sign-in form as a browser posts it. The CSRF secret is one we chose (Django accepts any it
    finds in both the cookie and the form): the page itself is not rendered, as these processes run with
    DEBUG off and no collected static files."""
    secret = get_random_string(32)
    with httpx.Client(base_url=base_url, timeout=20, cookies={"csrftoken": secret}) as browser:
        return browser.post(
            "/accounts/login/",
            data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": secret},
        )


def test_submissions_go_on_while_redis_is_down_and_the_jobs_run_when_it_is_back(platform, series, open_2017):
    pool_keys_replenish(spare=2)  # the worker's part, done before the edition takes answers
    tokens = [
        api_token_create(user=user_create(email=f"o{i}@police.example", role=Role.OFFICER, vetted=True))
        for i in range(30)
    ]
    admin = api_token_create(user=user_create(email="ada@agency.example", role=Role.ADMINISTRATOR))
    analyst = api_token_create(user=user_create(email="ann@agency.example", role=Role.ANALYST))
    user_create(email="alice@police.example", role=Role.OFFICER, password=PASSWORD, vetted=True)
    # A second edition with released free text, for an export and an auto-coding run.
    other = survey_services.edition_open(
        edition=import_reference(
            survey_services.series_get_or_create(slug="other-survey", title="Other"), "2017"
        ),
        closes_at=timezone.now() + timezone.timedelta(days=30),
    )
    coding_services.codebooks_import_reference(edition=other)
    add_answers(other, "workload_reasons", [row["text"] for row in CORPUS["items"]["workload_reasons"][:40]])

    platform.start_worker(beat=True, **SWEEPS)
    base = platform.start_web()
    web = httpx.Client(base_url=base, timeout=20)
    staff = {"admin": {"Authorization": f"Token {admin}"}, "analyst": {"Authorization": f"Token {analyst}"}}

    before = [submit(web, open_2017.pk, t) for t in tokens[:10]]
    assert [status for status, _, _ in before] == [201] * 10
    ballot_holders = [BallotClient(base, api_token=t) for t in tokens[25:]]

    platform.redis.kill()
    during = [submit(web, open_2017.pk, t) for t in tokens[10:25]]
    assert [status for status, _, _ in during] == [201] * 15, during
    assert max(seconds for _, _, seconds in during) < 5
    # Level 2: a ballot is issued and spent without Redis too.
    ballots = [holder.ballot_obtain(open_2017.pk) for holder in ballot_holders]
    anonymous = [h.answers_submit(b, BASE_ANSWERS) for h, b in zip(ballot_holders, ballots, strict=True)]

    # Signing in needs the rate-limit counters in Redis: refused cleanly (503), not let through unlimited.
    refused = login(base, "alice@police.example")
    assert (refused.status_code, refused.headers.get("retry-after")) == (503, "5")
    assert "Briefly unavailable" in refused.text

    # Requests that queue a job succeed; the jobs wait.
    export = web.post(
        f"/api/v1/editions/{other.pk}/exports/",
        json={"format": "csv", "free_text": "omit"},
        headers=staff["analyst"],
    )
    assert export.status_code == 202, export.text
    run = web.post(
        f"/api/v1/editions/{other.pk}/items/workload_reasons/coding-runs/", json={}, headers=staff["analyst"]
    )
    assert run.status_code == 202, run.text
    closed = web.post(f"/api/v1/editions/{open_2017.pk}/close/", headers=staff["admin"])
    assert closed.status_code == 200, closed.text
    time.sleep(3)
    assert StagedSubmission.objects.filter(edition=open_2017).count() == 30
    assert ExportJob.objects.get(pk=export.json()["id"]).status == ExportStatus.QUEUED
    assert CodingRun.objects.get(pk=run.json()["id"]).status == RunStatus.QUEUED

    platform.redis.start()  # back, and empty: every message sent before is gone
    wait_until(
        lambda: (
            not StagedSubmission.objects.filter(edition=open_2017).exists()
            and ExportJob.objects.filter(pk=export.json()["id"], status=ExportStatus.SUCCEEDED).exists()
            and CodingRun.objects.filter(pk=run.json()["id"], status=RunStatus.SUCCEEDED).exists()
        ),
        timeout=180,
        what=f"the sweeps to release the pool, build the export and code the item ({platform.root})",
    )
    assert login(base, "alice@police.example").status_code == 302  # signed in, now that Redis is back
    receipts = [r for _, r, _ in before + during] + anonymous
    assert Response.objects.filter(edition=open_2017).count() == 30
    submitted = Participation.objects.filter(edition=open_2017, status=ParticipationStatus.SUBMITTED)
    assert submitted.count() == 25  # the 5 ballots are, by design, not tied to anyone
    released = set(ReceiptDigest.objects.filter(edition=open_2017).values_list("digest", flat=True))
    assert released == {receipt_digest(r) for r in receipts} and len(released) == 30
    assert ExportJob.objects.get(pk=export.json()["id"]).attempts == 1
