"""A Celery worker SIGKILLed in the middle of a job: the job runs again and completes, exactly once in
effect. Each job waits at a pause point (config/faults.py) so the kill lands at a known moment:

- the pool release, killed inside its write transaction (the whole worker, as a lost machine): Redis
  hands the message out again after JOB_REDELIVERY_SECONDS and a new worker releases everything once;
- an export, killed after writing its files (only the pool process, as the OOM killer does): the worker
  puts the message back at once, the new attempt waits until the dead one counts as stale, and one file
  is produced;
- an auto-coding run, killed inside its write transaction (the whole worker): the run is taken over by
  a new attempt and its codes are those a clean run writes.
"""

import os
import random
import signal

import pytest
from django.db import transaction

from accounts.models import Participation, ParticipationStatus, Role
from accounts.services import user_create
from coding import services as coding_services
from coding.models import AnswerCode, CodingRun, ReviewItem, RunStatus
from exports import services as export_services
from exports.models import ExportJob, ExportStatus
from exports.synthetic import synthetic_answers
from responses import keys
from responses import services as response_services
from responses.models import PoolKey, PoolKeyStatus, ReceiptDigest, Response, StagedSubmission
from surveys import services as survey_services
from tests.coding.conftest import CORPUS, add_answers
from tests.exports.helpers import job_path, read_csv
from tests.faults.conftest import wait_until
from tests.responses.conftest import BASE_ANSWERS

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

# Short, so the tests wait seconds; production keeps an hour and ten minutes (config/settings.py).
FAST_RECOVERY = {"JOB_REDELIVERY_SECONDS": "3", "EXPORT_STALE_SECONDS": "3", "CODING_STALE_SECONDS": "3"}


def test_a_worker_killed_while_releasing_the_pool_releases_everything_once_after(
    platform, open_2017, django_capture_on_commit_callbacks
):
    response_services.pool_keys_replenish(spare=2)
    officers = [
        user_create(email=f"officer{i}@police.example", role=Role.OFFICER, vetted=True) for i in range(30)
    ]
    receipts = [
        response_services.response_submit(edition=open_2017, officer=o, answers=BASE_ANSWERS).code
        for o in officers
    ]
    with django_capture_on_commit_callbacks(execute=False):  # the test sends the release itself
        survey_services.edition_close(edition=open_2017)

    worker = platform.start_worker(**FAST_RECOVERY)
    platform.arm("release.writing")
    platform.send("responses.pool_release", open_2017.pk)
    platform.wait_paused("release.writing")
    platform.kill_worker(worker)

    # The killed transaction left nothing behind: every submission still waits, sealed, in the pool.
    assert Response.objects.filter(edition=open_2017).count() == 0
    assert StagedSubmission.objects.filter(edition=open_2017).count() == 30
    assert PoolKey.objects.get(edition=open_2017).status == PoolKeyStatus.RELEASING

    platform.start_worker(**FAST_RECOVERY)
    wait_until(
        lambda: not StagedSubmission.objects.filter(edition=open_2017).exists(),
        timeout=90,
        what="the redelivered release",
    )
    assert Response.objects.filter(edition=open_2017).count() == 30
    assert Participation.objects.filter(edition=open_2017, status=ParticipationStatus.SUBMITTED).count() == 30
    released = set(ReceiptDigest.objects.filter(edition=open_2017).values_list("digest", flat=True))
    assert released == {response_services.receipt_digest(r) for r in receipts}
    key = PoolKey.objects.get(edition=open_2017)
    assert key.status == PoolKeyStatus.DESTROYED
    wait_until(lambda: key.id not in keys.private_key_ids(), timeout=10, what="the key to be destroyed")


def test_an_export_whose_pool_process_is_killed_is_built_once_by_the_next_attempt(
    platform, open_2017, django_capture_on_commit_callbacks
):
    rng = random.Random(2017)
    with transaction.atomic():
        response_services.responses_write_released(
            edition_id=open_2017.pk, payloads=[{"answers": synthetic_answers(rng, n)} for n in range(200)]
        )
    analyst = user_create(email="ann@agency.example", role=Role.ANALYST)
    with django_capture_on_commit_callbacks(execute=False):
        job = export_services.export_request(
            actor=analyst,
            editions=[open_2017],
            options=export_services.ExportOptions(format="csv", free_text="omit"),
        )

    # Stale after 8 s: the message comes back at once, while the dead attempt still looks alive.
    platform.start_worker(**(FAST_RECOVERY | {"EXPORT_STALE_SECONDS": "8"}))
    platform.arm("export.files_written")
    platform.send("exports.export_run", str(job.pk))
    pool_process = platform.wait_paused("export.files_written")
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ExportStatus.RUNNING, 1)
    os.kill(pool_process, signal.SIGKILL)

    wait_until(
        lambda: ExportJob.objects.filter(pk=job.pk, status=ExportStatus.SUCCEEDED).exists(),
        timeout=90,
        what="the export to be retried and to succeed",
    )
    job.refresh_from_db()
    assert job.attempts == 2 and job.progress == 100 and job.row_count == 200
    # The redelivered task waited for the dead attempt to go stale, then took over (exports/tasks.py).
    assert "retry: Retry in" in platform.log()
    # One file, whole, and no directory of the dead attempt left over.
    assert list((platform.export_dir / str(job.pk)).iterdir()) == [job_path(job)]
    rows = read_csv(job_path(job))
    assert sorted(r["row_id"] for r in rows) == [float(i) for i in range(1, 201)]


def test_a_worker_killed_while_auto_coding_is_taken_over_and_codes_as_a_clean_run(
    platform, open_2017, django_capture_on_commit_callbacks
):
    coding_services.codebooks_import_reference(edition=open_2017)
    item = "workload_reasons"
    add_answers(open_2017, item, [row["text"] for row in CORPUS["items"][item][:80]])
    with django_capture_on_commit_callbacks(execute=False):
        run = coding_services.coding_run_start(edition=open_2017, item_code=item)

    worker = platform.start_worker(**FAST_RECOVERY)
    platform.arm("coding.writing")
    platform.send("coding.run", str(run.pk))
    platform.wait_paused("coding.writing")
    platform.kill_worker(worker)
    assert not AnswerCode.objects.exists()  # the killed transaction wrote nothing

    platform.start_worker(**FAST_RECOVERY)
    wait_until(
        lambda: CodingRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).exists(),
        timeout=90,
        what="the coding run to be taken over and to succeed",
    )
    run.refresh_from_db()
    assert run.attempts == 2 and run.progress == 100 and run.metrics["coded"] == 80

    def output():
        codes = sorted(AnswerCode.objects.values_list("answer_id", "category__code", "probability"))
        return codes, sorted(ReviewItem.objects.values_list("answer_id", "priority"))

    after_kill = output()
    assert after_kill[0], "the run wrote suggestions"
    assert set(AnswerCode.objects.values_list("run_id", flat=True)) == {run.pk}
    # A clean run of the same classifier in this process replaces them with exactly the same output.
    with django_capture_on_commit_callbacks(execute=False):
        clean = coding_services.coding_run_start(edition=open_2017, item_code=item)
    assert coding_services.coding_run_execute(run_id=clean.pk)
    assert output() == after_kill
