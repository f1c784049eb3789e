"""Export jobs: claimed once, retried after a dead worker, expired; API and pages with access rules."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from exports import services
from exports.models import ExportJob, ExportStatus
from tests.conftest import api_client_for, login_with_mfa
from tests.exports.helpers import job_path, read_csv, run_export


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in export_run catches it."""


def test_a_second_delivery_of_the_same_task_does_nothing(open_2017, synthetic, analyst_ann, export_dir):
    synthetic(open_2017, 20)
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="omit")
    before = (job.attempts, job.sha256, job.finished_at, job_path(job).stat().st_mtime_ns)
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.attempts, job.sha256, job.finished_at, job_path(job).stat().st_mtime_ns) == before


def test_a_running_job_is_left_alone_while_its_worker_reports(open_2017, analyst_ann, export_dir):
    job = services.export_request(actor=analyst_ann, editions=[open_2017], options=services.ExportOptions())
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and job.attempts == 1


def test_a_job_killed_midway_is_retried_and_completes_without_duplicate_rows(
    open_2017, synthetic, analyst_ann, export_dir, monkeypatch, settings
):
    synthetic(open_2017, 3000)
    job = services.export_request(
        actor=analyst_ann,
        editions=[open_2017],
        options=services.ExportOptions(format="csv", free_text="omit"),
    )
    original = services._Tracker.pass_callback

    def dying(self, count):
        callback = original(self, count)

        def progress(n):
            callback(n)
            if n >= count // 2:
                raise WorkerKilled

        return progress

    monkeypatch.setattr(services._Tracker, "pass_callback", dying)
    with pytest.raises(WorkerKilled):
        services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and 0 < job.progress < 100
    partial = list((export_dir / str(job.pk)).glob("attempt-1/*.csv"))
    assert partial, "the dead attempt left its half-written file"

    monkeypatch.setattr(services._Tracker, "pass_callback", original)
    services.export_run(job_id=job.pk)  # the redelivery: the worker still looks alive
    job.refresh_from_db()
    assert job.attempts == 1

    settings.EXPORT_STALE_SECONDS = 0
    time.sleep(0.01)
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.SUCCEEDED and job.attempts == 2
    rows = read_csv(job_path(job))
    assert len(rows) == 3000
    assert sorted(r["row_id"] for r in rows) == [float(i) for i in range(1, 3001)]
    assert not list((export_dir / str(job.pk)).glob("attempt-*"))


def test_an_attempt_presumed_dead_that_wakes_up_stops(
    open_2017, synthetic, analyst_ann, export_dir, monkeypatch
):
    synthetic(open_2017, 1500)
    job = services.export_request(
        actor=analyst_ann,
        editions=[open_2017],
        options=services.ExportOptions(format="csv", free_text="omit"),
    )
    original = services._Tracker.pass_callback

    def superseded(self, count):
        callback = original(self, count)

        def progress(n):
            if n >= count // 2:  # meanwhile another worker claimed the job
                ExportJob.objects.filter(pk=job.pk).update(attempts=7)
            callback(n)

        return progress

    monkeypatch.setattr(services._Tracker, "pass_callback", superseded)
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and job.attempts == 7 and not job.file_path
    assert not list((export_dir / str(job.pk)).glob("attempt-1"))


def test_a_stale_job_is_queued_again_by_the_sweep(open_2017, analyst_ann, export_dir, monkeypatch):
    job = services.export_request(actor=analyst_ann, editions=[open_2017], options=services.ExportOptions())
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    queued = []
    monkeypatch.setattr(services, "_enqueue", queued.append)
    assert services.exports_requeue_stale() == 1
    assert queued == [job.pk]


def test_expired_files_are_gone(open_2017, synthetic, analyst_ann, export_dir):
    synthetic(open_2017, 10)
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="omit")
    path = job_path(job)
    assert path.exists()
    assert job.expires_at - timezone.now() > timedelta(days=6)
    assert services.exports_expire() == 0
    assert services.exports_expire(now=timezone.now() + timedelta(days=8)) == 1
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED and not job.file_path
    assert not path.exists() and not path.parent.exists()
    token = services.export_download_token(job=job, user=analyst_ann)
    with pytest.raises(services.DownloadRefused):
        services.export_download_open(job=job, user=analyst_ann, token=token)


def test_a_failing_export_records_the_error(open_2017, analyst_ann, export_dir, monkeypatch):
    from exports.exporters.tabular import CsvExporter

    def broken(self, dataset, path, progress):
        raise RuntimeError("secret answer text")

    monkeypatch.setattr(CsvExporter, "write", broken)
    job = services.export_request(
        actor=analyst_ann,
        editions=[open_2017],
        options=services.ExportOptions(format="csv", free_text="omit"),
    )
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.error_type == "RuntimeError"
    assert "secret" not in job.error_message  # an unknown error's message could quote data
    assert job.duration_seconds is not None


# --- API ------------------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_api_runs_an_export_on_a_real_worker_and_serves_the_file(
    open_2017, synthetic, analyst_ann, export_dir, celery_worker
):
    synthetic(open_2017, 40)
    client = api_client_for(analyst_ann)
    response = client.post(
        f"/api/v1/editions/{open_2017.pk}/exports/",
        {"format": "csv", "k": 5, "free_text": "omit", "language": "en"},
        format="json",
    )
    assert response.status_code == 202
    export_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        status = client.get(f"/api/v1/exports/{export_id}/").json()
        if status["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["status"] == "succeeded", status
    assert status["progress"] == 100 and status["errors"] == []
    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert download["Cache-Control"] == "no-store, private"
    body = b"".join(download.streaming_content).decode()
    assert body.splitlines()[0].startswith("row_id,country,agency_type")
    assert len(body.splitlines()) == 41
    actions = list(AuditEvent.objects.filter(actor=analyst_ann).values_list("action", flat=True))
    assert "export.requested" in actions and "export.downloaded" in actions


def test_the_api_refuses_officers_and_unknown_ids(open_2017, officer_alice, analyst_ann, export_dir):
    officer = api_client_for(officer_alice)
    assert officer.post(f"/api/v1/editions/{open_2017.pk}/exports/", {}, format="json").status_code == 403
    job = services.export_request(actor=analyst_ann, editions=[open_2017], options=services.ExportOptions())
    assert officer.get(f"/api/v1/exports/{job.pk}/").status_code == 403
    assert officer.get(f"/api/v1/exports/{job.pk}/download/").status_code == 403
    analyst = api_client_for(analyst_ann)
    assert analyst.get("/api/v1/exports/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert analyst.post("/api/v1/editions/999999/exports/", {}, format="json").status_code == 404
    bad = analyst.post(f"/api/v1/editions/{open_2017.pk}/exports/", {"k": 2, "format": "pdf"}, format="json")
    assert bad.status_code == 400 and {"k", "format"} <= set(bad.json())


def test_analysts_see_their_own_exports_and_administrators_all(
    open_2017, synthetic, analyst_ann, admin_ada, export_dir
):
    from accounts.models import Role
    from accounts.services import user_create

    other = user_create(email="otto@agency.example", role=Role.ANALYST)
    synthetic(open_2017, 10)
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="omit")
    assert api_client_for(other).get(f"/api/v1/exports/{job.pk}/").status_code == 404
    status = api_client_for(admin_ada).get(f"/api/v1/exports/{job.pk}/").json()
    assert status["status"] == "succeeded"
    # A link minted for the administrator does not work for the analyst, nor a bare URL.
    analyst = api_client_for(analyst_ann)
    assert analyst.get(status["download_url"]).status_code == 403
    assert analyst.get(f"/api/v1/exports/{job.pk}/download/").status_code == 403


def test_download_links_expire(open_2017, synthetic, analyst_ann, export_dir, settings):
    synthetic(open_2017, 10)
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="omit")
    client = api_client_for(analyst_ann)
    url = client.get(f"/api/v1/exports/{job.pk}/").json()["download_url"]
    settings.EXPORT_LINK_MAX_AGE = -1
    response = client.get(url)
    assert response.status_code == 403 and "expired" in response.json()["detail"]


# --- pages ----------------------------------------------------------------------------------------


def logged_in(client, user):
    # Staff pages need a session that passed MFA (tests/surveys/test_staff_pages.py does the same).
    return login_with_mfa(client, user)


def test_officers_get_403_and_visitors_the_login_page(client, officer_alice, db):
    assert client.get("/staff/exports/").status_code == 302
    assert logged_in(client, officer_alice).get("/staff/exports/").status_code == 403


def test_an_analyst_requests_an_export_follows_it_and_downloads_it(
    client, open_2017, synthetic, analyst_ann, export_dir, django_capture_on_commit_callbacks
):
    synthetic(open_2017, 12)
    client = logged_in(client, analyst_ann)
    page = client.get("/staff/exports/")
    assert page.status_code == 200 and "Request an export" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/staff/exports/",
            {"editions": [open_2017.pk], "format": "csv", "k": 5, "free_text": "omit", "language": "en"},
        )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/staff/exports/{job.pk}/"
    assert len(callbacks) == 1  # the task is enqueued after commit
    detail = client.get(f"/staff/exports/{job.pk}/").content.decode()
    assert "<progress" in detail and "exports/progress.js" in detail
    assert client.get(f"/staff/exports/{job.pk}/status/").json()["status"] == "queued"

    services.export_run(job_id=job.pk)
    detail = client.get(f"/staff/exports/{job.pk}/").content.decode()
    assert "Disclosure control applied" in detail
    link = client.get(f"/staff/exports/{job.pk}/status/").json()["download_url"]
    download = client.get(link)
    assert download.status_code == 200 and download["Cache-Control"] == "no-store, private"
    assert AuditEvent.objects.filter(action="export.downloaded", actor=analyst_ann).count() == 1
    assert client.get(f"/staff/exports/{job.pk}/download/not-a-token/").status_code == 302


def test_a_k_below_three_is_refused_on_the_page(client, open_2017, analyst_ann, export_dir):
    response = logged_in(client, analyst_ann).post(
        "/staff/exports/", {"editions": [open_2017.pk], "format": "csv", "k": 2, "free_text": "omit"}
    )
    assert response.status_code == 200 and not ExportJob.objects.exists()
