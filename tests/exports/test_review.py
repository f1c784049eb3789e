"""A person reviews the redacted free text before an export's file is built (exports/review.py)."""

import time

import pytest
from django.apps import apps
from django.db import models

from accounts.models import AuditEvent, Role
from accounts.services import user_create
from exports import review, services
from exports.models import ExportJob, ExportStatus, RedactedText
from responses.models import Answer
from tests.conftest import api_client_for, login_with_mfa
from tests.exports.helpers import csv_rows, job_path, read_csv, read_xlsx, unzip

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
TEXTS = {
    "nickname": "Reason 1: the blue falcon crew shares everything",
    "person": "Reason 2: ask DS John Smith about it",
    "exclude": "Reason 3: only one of us works nights at the depot",
    "withhold": "Reason 4: my own story, too easy to recognise",
    "plain": "Reason 5: more data and more devices per case",
    "xss": f"Reason 6: {XSS}",
}


@pytest.fixture
def texts(open_2017, release):
    """Six respondents in one quasi-identifier group (k holds), one free-text answer each."""
    release(
        open_2017,
        [
            {
                "country": "SE",
                "agency_type": "national",
                "workload_change": "increased",
                "better_equipped": "no",
                "viewing_handson_correlation": "rare",
                "workload_reasons": text,
            }
            for text in TEXTS.values()
        ],
    )
    return TEXTS


def request(actor, edition, **options):
    options = services.ExportOptions(**options)
    return services.export_request(actor=actor, editions=[edition], options=options)


def run(job):
    services.export_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def entry(text_key):
    return RedactedText.objects.get(answer__text=TEXTS[text_key])


def reviewed_job(analyst, edition, **options):
    """An export prepared for review, edited the way a careful reviewer would, and approved."""
    job = run(request(analyst, edition, **options))
    assert job.status == ExportStatus.AWAITING_REVIEW
    assert "blue falcon" in entry("nickname").text  # the redactor has no way to know this nickname
    edit = review.redacted_text_edit
    edit(job=job, answer_id=entry("nickname").pk, action="redact", phrases=[("Blue Falcon", "[ORG]")])
    edit(job=job, answer_id=entry("exclude").pk, action="exclude")
    edit(job=job, answer_id=entry("withhold").pk, action="withhold")
    services.export_review_approve(job=job, actor=analyst, digest=review.review_digest(job=job))
    return run(job)


EXPECTED = {
    "Reason 1: the [ORG] crew shares everything",
    "Reason 2: ask DS [PERSON] about it",
    "[REDACTED]",
    "Reason 5: more data and more devices per case",
    f"Reason 6: {XSS}",
}


# --- the option -----------------------------------------------------------------------------------


def test_review_is_on_by_default_whenever_the_export_holds_free_text():
    assert services.ExportOptions().review is True  # free text separate, CSV
    assert services.ExportOptions(free_text="redacted", format="sav").review is True
    assert services.ExportOptions(free_text="omit").review is False
    assert services.ExportOptions(format="codebook").review is False  # no rows, no text
    assert services.ExportOptions(review=False).review is False
    assert services.ExportOptions.clean({"review": "false"}).review is False
    assert services.ExportOptions.clean({"free_text": "omit", "review": True}).review is False


# --- the file -------------------------------------------------------------------------------------


def test_no_file_exists_and_no_download_works_before_approval(open_2017, texts, analyst_ann, export_dir):
    job = run(request(analyst_ann, open_2017, format="csv", free_text="redacted"))
    assert job.status == ExportStatus.AWAITING_REVIEW and not job.file_path
    assert not list(export_dir.rglob("*.csv"))
    # Every free-text answer has its automatic redaction stored for the reviewer.
    assert RedactedText.objects.count() == Answer.objects.filter(text__isnull=False).count() == 6
    assert entry("person").automatic == "Reason 2: ask DS [PERSON] about it"

    token = services.export_download_token(job=job, user=analyst_ann)
    with pytest.raises(services.DownloadRefused):
        services.export_download_open(job=job, user=analyst_ann, token=token)
    client = api_client_for(analyst_ann)
    status = client.get(f"/api/v1/exports/{job.pk}/").json()
    assert status["status"] == "awaiting_review" and status["download_url"] is None
    assert status["review"] == {
        "required": True,
        "approved": False,
        "url": f"/api/v1/exports/{job.pk}/review/",
    }
    assert client.get(f"/api/v1/exports/{job.pk}/download/?token={token}").status_code == 403
    # A second delivery of the task while the job waits does nothing.
    assert run(job).status == ExportStatus.AWAITING_REVIEW and job.attempts == 1


def test_the_reviewers_redaction_is_in_the_csv_and_an_excluded_answer_is_not(
    open_2017, texts, analyst_ann, export_dir
):
    job = reviewed_job(analyst_ann, open_2017, format="csv", free_text="redacted")
    assert job.status == ExportStatus.SUCCEEDED, (job.error_type, job.error_message)
    rows = read_csv(job_path(job))
    assert len(rows) == 6  # the excluded answer's respondent stays; only the text is gone
    released = {row["workload_reasons"] for row in rows} - {None}
    assert released == EXPECTED
    body = job_path(job).read_text()
    for secret in ("blue falcon", "John Smith", "depot", "too easy to recognise"):
        assert secret not in body
    review_report = job.report["free_text"]["review"]
    assert review_report["by_a_person"] is True
    assert (review_report["edited"], review_report["withheld"], review_report["excluded"]) == (1, 1, 1)


def test_the_reviewers_redaction_is_in_the_xlsx_free_text_file(open_2017, texts, analyst_ann, export_dir):
    job = reviewed_job(analyst_ann, open_2017, format="xlsx", free_text="separate")
    files = unzip(job_path(job))
    path = export_dir / "free_text.xlsx"
    path.write_bytes(files["law-enforcement-survey_2017_free_text.xlsx"])
    assert {row["text"] for row in read_xlsx(path)} == EXPECTED


def test_the_file_holds_exactly_what_the_reviewer_was_shown(open_2017, synthetic, analyst_ann, export_dir):
    synthetic(open_2017, 300)
    job = run(request(analyst_ann, open_2017, format="csv", free_text="separate"))
    shown = [e for e in review.review_entries(job=job) if not e.excluded]
    services.export_review_approve(job=job, actor=analyst_ann, digest=review.review_digest(job=job))
    job = run(job)
    files = unzip(job_path(job))
    written = csv_rows(files["law-enforcement-survey_2017_free_text.csv"])
    assert sorted(row["text"] for row in written) == sorted(e.text for e in shown)
    assert len(written) == Answer.objects.filter(text__isnull=False).count() > 50


def test_a_decision_applies_to_later_exports_even_without_review(open_2017, texts, analyst_ann, export_dir):
    reviewed_job(analyst_ann, open_2017, format="csv", free_text="redacted")
    later = run(request(analyst_ann, open_2017, format="csv", free_text="redacted", review=False))
    assert later.status == ExportStatus.SUCCEEDED
    released = {row["workload_reasons"] for row in read_csv(job_path(later))} - {None}
    assert released == EXPECTED
    assert later.report["free_text"]["review"] == {"by_a_person": False}


def test_an_export_without_free_text_answers_is_built_at_once(open_2017, release, analyst_ann, export_dir):
    release(open_2017, [{"country": "SE", "agency_type": "national"} for _ in range(5)])
    job = run(request(analyst_ann, open_2017, format="csv", free_text="separate"))
    assert job.status == ExportStatus.SUCCEEDED
    assert job.report["free_text"]["review"]["answers"] == 0


# --- approval -------------------------------------------------------------------------------------


def test_the_approval_is_audited_with_who_and_how_many_but_no_answer(
    open_2017, texts, analyst_ann, export_dir
):
    job = reviewed_job(analyst_ann, open_2017, format="csv", free_text="separate")
    event = AuditEvent.objects.get(action="export.review_approved")
    assert event.actor == analyst_ann and event.target == f"export {job.pk}"
    assert event.details["answers"] == 6
    assert (event.details["edited"], event.details["withheld"], event.details["excluded"]) == (1, 1, 1)
    logged = str(event.details)
    for answer_id, text in Answer.objects.filter(text__isnull=False).values_list("pk", "text"):
        assert str(answer_id) not in logged and text not in logged


def test_an_approval_of_text_that_changed_since_it_was_read_is_refused(
    open_2017, texts, analyst_ann, export_dir
):
    job = run(request(analyst_ann, open_2017))
    read = review.review_digest(job=job)
    review.redacted_text_edit(job=job, answer_id=entry("plain").pk, action="withhold")
    with pytest.raises(review.ReviewConflict):
        services.export_review_approve(job=job, actor=analyst_ann, digest=read)
    job.refresh_from_db()
    assert job.status == ExportStatus.AWAITING_REVIEW
    assert not AuditEvent.objects.filter(action="export.review_approved").exists()


def test_the_embedded_digest_is_the_same_as_the_one_made_in_postgresql(
    open_2017, texts, release, analyst_ann, export_dir
):
    """SQLite (`make run`) digests in Python: what an approval there covers is what it covers here."""
    job = run(request(analyst_ann, open_2017))
    review.redacted_text_edit(job=job, answer_id=entry("plain").pk, action="withhold")
    review.redacted_text_edit(job=job, answer_id=entry("exclude").pk, action="exclude")
    release(open_2017, [{"country": "SE", "agency_type": "national", "trends": "Not reviewed yet"}])
    assert not RedactedText.objects.filter(answer__text="Not reviewed yet").exists()
    assert review._review_digest_python(job) == review.review_digest(job=job)


def test_text_changed_after_approval_sends_the_job_back_to_review(
    open_2017, texts, release, analyst_ann, export_dir
):
    job = run(request(analyst_ann, open_2017))
    services.export_review_approve(job=job, actor=analyst_ann, digest=review.review_digest(job=job))
    # Before the worker builds the file, more answers are released: nobody has read them.
    release(open_2017, [{"country": "SE", "agency_type": "national", "trends": "Call Anna Berg"}])
    job = run(job)
    assert job.status == ExportStatus.AWAITING_REVIEW and job.error_type == "ReviewOutdated"
    assert not job.review_digest and not job.file_path
    assert RedactedText.objects.get(answer__text="Call Anna Berg").automatic == "Call [PERSON]"


def test_a_decision_changed_while_the_file_is_written_sends_the_job_back_to_review(
    open_2017, texts, analyst_ann, export_dir, monkeypatch
):
    """Another export's reviewer may undo a decision while this file's rows stream: the file is thrown
    away rather than released with text nobody approved."""
    from exports.exporters.tabular import CsvExporter

    job = run(request(analyst_ann, open_2017, format="csv", free_text="redacted"))
    review.redacted_text_edit(job=job, answer_id=entry("plain").pk, action="withhold")
    services.export_review_approve(job=job, actor=analyst_ann, digest=review.review_digest(job=job))
    write = CsvExporter.write

    def write_then_undo(self, dataset, path, progress):
        write(self, dataset, path, progress)
        RedactedText.objects.filter(pk=entry("plain").pk).update(reviewed=None)

    monkeypatch.setattr(CsvExporter, "write", write_then_undo)
    job = run(job)
    assert job.status == ExportStatus.AWAITING_REVIEW and job.error_type == "ReviewOutdated"
    assert not job.file_path and not list(export_dir.rglob("*.csv"))


def test_edits_are_refused_once_the_export_is_not_waiting_for_review(
    open_2017, texts, analyst_ann, export_dir
):
    job = reviewed_job(analyst_ann, open_2017, format="csv", free_text="separate")
    with pytest.raises(review.ReviewConflict):
        review.redacted_text_edit(job=job, answer_id=entry("plain").pk, action="exclude")
    with pytest.raises(review.ReviewConflict):
        services.export_review_approve(job=job, actor=analyst_ann, digest=review.review_digest(job=job))


def test_a_reviewer_can_only_redact_words_that_are_there_and_undo(open_2017, texts, analyst_ann, export_dir):
    job = run(request(analyst_ann, open_2017))
    plain = entry("plain").pk
    with pytest.raises(review.ReviewRefused):
        review.redacted_text_edit(
            job=job, answer_id=plain, action="redact", phrases=[("Berlin", "[LOCATION]")]
        )
    with pytest.raises(review.ReviewRefused):
        review.redacted_text_edit(job=job, answer_id=plain, action="redact", phrases=[("data", "<b>")])
    with pytest.raises(RedactedText.DoesNotExist):
        review.redacted_text_edit(job=job, answer_id=job.pk, action="exclude")  # not an answer of it
    row = review.redacted_text_edit(
        job=job, answer_id=plain, action="redact", phrases=[("DATA", "[ID]"), ("devices", "[ID]")]
    )
    assert row.text == "Reason 5: more [ID] and more [ID] per case"
    row = review.redacted_text_edit(job=job, answer_id=plain, action="restore")
    assert row.text == TEXTS["plain"] and row.reviewed is None and not row.excluded


def test_a_review_nobody_finishes_expires(open_2017, texts, analyst_ann, export_dir):
    from datetime import timedelta

    from django.utils import timezone

    job = run(request(analyst_ann, open_2017))
    assert services.exports_expire() == 0
    assert services.exports_expire(now=timezone.now() + timedelta(days=8)) == 1
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED


# --- anonymity ------------------------------------------------------------------------------------


def test_review_decisions_are_kept_on_the_anonymous_side():
    """Keyed by the answer; no person, no job, no time (tests/responses/test_anonymity.py's rules)."""
    assert RedactedText._meta.pk.name == "answer"
    for field in RedactedText._meta.get_fields():
        if field.is_relation and field.concrete:
            assert field.related_model is Answer, field.name
        assert not isinstance(field, models.DateField | models.DateTimeField | models.TimeField), field
    identity = {"accounts", "auth", "sessions", "account", "mfa", "socialaccount", "knox", "admin"}
    for model in apps.get_models():
        if model._meta.app_label in identity:
            for field in model._meta.get_fields():
                assert getattr(field, "related_model", None) is not RedactedText, (model, field)


# --- pages ----------------------------------------------------------------------------------------


def test_an_analyst_reviews_on_the_page_and_approves(client, open_2017, texts, analyst_ann, export_dir):
    staff = login_with_mfa(client, analyst_ann)
    response = staff.post(
        "/staff/exports/",
        {
            "editions": [open_2017.pk],
            "format": "csv",
            "k": 5,
            "free_text": "separate",
            "language": "en",
            "review": "on",
        },
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and job.options["review"] is True
    job = run(job)
    detail = staff.get(f"/staff/exports/{job.pk}/").content.decode()
    assert f"/staff/exports/{job.pk}/review/" in detail and "Download" not in detail
    assert (
        staff.get(f"/staff/exports/{job.pk}/status/").json()["review_url"]
        == f"/staff/exports/{job.pk}/review/"
    )

    page = staff.get(f"/staff/exports/{job.pk}/review/").content.decode()
    assert page.count('class="review-answer"') == 6
    assert "Reason 2: ask DS <mark>[PERSON]</mark> about it" in page

    answer = entry("nickname").pk
    back = f"/staff/exports/{job.pk}/review/?show=all"
    response = staff.post(
        f"/staff/exports/{job.pk}/review/{answer}/",
        {"action": "redact", "phrase": "blue falcon", "placeholder": "[ORG]", "next": back},
    )
    assert response.status_code == 302 and response["Location"] == f"{back}#answer-{answer}"
    assert entry("nickname").text == "Reason 1: the [ORG] crew shares everything"
    edited = staff.get(f"/staff/exports/{job.pk}/review/?show=edited").content.decode()
    assert edited.count('class="review-answer"') == 1 and "<mark>[ORG]</mark>" in edited
    # An outside address in `next` is not followed.
    away = staff.post(
        f"/staff/exports/{job.pk}/review/{answer}/", {"action": "exclude", "next": "https://evil.example/"}
    )
    assert away["Location"].startswith(f"/staff/exports/{job.pk}/review/")

    digest = review.review_digest(job=job)
    unconfirmed = staff.post(f"/staff/exports/{job.pk}/review/approve/", {"digest": digest})
    assert unconfirmed.status_code == 302 and ExportJob.objects.get().status == ExportStatus.AWAITING_REVIEW
    approved = staff.post(f"/staff/exports/{job.pk}/review/approve/", {"digest": digest, "confirm": "1"})
    assert approved["Location"] == f"/staff/exports/{job.pk}/"
    assert ExportJob.objects.get().status == ExportStatus.QUEUED
    assert staff.get(f"/staff/exports/{job.pk}/review/").status_code == 302  # nothing to review now


def test_the_review_page_shows_hostile_text_inert(client, open_2017, texts, analyst_ann, export_dir):
    job = run(request(analyst_ann, open_2017))
    staff = login_with_mfa(client, analyst_ann)
    page = staff.get(f"/staff/exports/{job.pk}/review/").content.decode()
    assert XSS not in page and "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # Redacting part of it: the placeholder is marked, the rest around it still escaped.
    staff.post(
        f"/staff/exports/{job.pk}/review/{entry('xss').pk}/",
        {"action": "redact", "phrase": 'alert("x")', "placeholder": "[ID]"},
    )
    edited = staff.get(f"/staff/exports/{job.pk}/review/?show=edited").content.decode()
    assert (
        "Reason 6: &lt;script&gt;<mark>[ID]</mark>&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in edited
    )
    assert "<img src=x" not in edited and "<script>" not in edited.split("</main>")[0]


def test_only_the_requester_and_administrators_reach_a_review(
    client, open_2017, texts, analyst_ann, admin_ada, officer_alice, export_dir
):
    job = run(request(analyst_ann, open_2017))
    other = user_create(email="otto@agency.example", role=Role.ANALYST)
    answer = entry("plain").pk
    assert api_client_for(other).get(f"/api/v1/exports/{job.pk}/review/").status_code == 404
    assert (
        api_client_for(other)
        .post(f"/api/v1/exports/{job.pk}/review/answers/{answer}/", {"action": "exclude"}, format="json")
        .status_code
        == 404
    )
    assert api_client_for(officer_alice).get(f"/api/v1/exports/{job.pk}/review/").status_code == 403
    assert api_client_for(admin_ada).get(f"/api/v1/exports/{job.pk}/review/").status_code == 200
    assert login_with_mfa(client, officer_alice).get(f"/staff/exports/{job.pk}/review/").status_code == 403
    assert not RedactedText.objects.filter(excluded=True).exists()


# --- API ------------------------------------------------------------------------------------------


def test_the_api_lists_edits_and_approves(open_2017, texts, analyst_ann, export_dir):
    client = api_client_for(analyst_ann)
    job = run(request(analyst_ann, open_2017, format="csv", free_text="redacted"))
    listing = client.get(f"/api/v1/exports/{job.pk}/review/?show=redacted").json()
    assert listing["count"] == 1 and listing["counts"]["answers"] == 6
    [person] = listing["results"]
    assert person["text"] == "Reason 2: ask DS [PERSON] about it"
    assert person["placeholders"] == ["[PERSON]"] and person["decision"] == "automatic"
    assert person["redacted_automatically"] is True and person["item"] == "workload_reasons"

    url = f"/api/v1/exports/{job.pk}/review/answers/{entry('nickname').pk}/"
    bad = client.post(
        url, {"action": "redact", "phrases": [{"text": "Berlin", "placeholder": "[ORG]"}]}, format="json"
    )
    assert bad.status_code == 400
    edited = client.post(
        url, {"action": "redact", "phrases": [{"text": "blue falcon", "placeholder": "[ORG]"}]}, format="json"
    ).json()
    assert edited["text"] == "Reason 1: the [ORG] crew shares everything" and edited["decision"] == "edited"

    stale = client.post(
        f"/api/v1/exports/{job.pk}/review/approve/", {"digest": listing["digest"]}, format="json"
    )
    assert stale.status_code == 409  # the text changed since that listing
    digest = client.get(f"/api/v1/exports/{job.pk}/review/").json()["digest"]
    approved = client.post(f"/api/v1/exports/{job.pk}/review/approve/", {"digest": digest}, format="json")
    assert approved.status_code == 202 and approved.json() == {"id": str(job.pk)}
    assert client.post(url, {"action": "exclude"}, format="json").status_code == 409
    assert client.get(f"/api/v1/exports/{job.pk}/review/").status_code == 409

    job = run(job)
    status = client.get(f"/api/v1/exports/{job.pk}/").json()
    assert status["status"] == "succeeded" and status["review"]["approved"] is True
    body = b"".join(client.get(status["download_url"]).streaming_content).decode()
    assert "the [ORG] crew" in body and "blue falcon" not in body


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("show=redcated", 'show: "redcated" is not one of all, redacted, unchanged, edited, excluded'),
        ("sho=redacted", "unknown query parameter sho; known: page, page_size, show"),
        ("page_size=abc", "page_size: A valid integer is required."),
        ("page_size=0", "page_size: Ensure this value is greater than or equal to 1."),
        ("page_size=501", "page_size: Ensure this value is less than or equal to 500."),
        ("page=0", "page: Ensure this value is greater than or equal to 1."),
        ("page=x", "page: A valid integer is required."),
        ("show=edited&show=all", "given more than once: show"),
    ],
)
def test_a_review_query_the_listing_does_not_understand_is_a_400_not_a_guess(
    open_2017, texts, analyst_ann, export_dir, query, said
):
    """A misspelt ?sho=redacted listed every answer as if filtered, a bad page_size gave 50 a page and one
    over 500 was cut to 500, page=0 was a 404 "Invalid page.", all without a word."""
    job = run(request(analyst_ann, open_2017, format="csv", free_text="redacted"))
    refused = api_client_for(analyst_ann).get(f"/api/v1/exports/{job.pk}/review/?{query}")
    assert refused.status_code == 400 and refused.json() == {"detail": said}


def test_the_review_listing_pages_at_the_size_asked(open_2017, texts, analyst_ann, export_dir):
    client = api_client_for(analyst_ann)
    job = run(request(analyst_ann, open_2017, format="csv", free_text="redacted"))
    url = f"/api/v1/exports/{job.pk}/review/"
    first = client.get(f"{url}?page_size=4&show=all&format=json").json()
    assert first["count"] == 6 and len(first["results"]) == 4
    assert "page=2" in first["next"] and "page_size=4" in first["next"]
    last = client.get(f"{url}?page=2&page_size=4").json()
    assert len(last["results"]) == 2 and last["next"] is None
    assert client.get(f"{url}?page=3&page_size=4").status_code == 404  # past the last: DRF's 404
    assert len(client.get(f"{url}?page=&page_size=&show=").json()["results"]) == 6  # empty = left out


def test_the_openapi_schema_describes_the_review(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    listing = paths["/api/v1/exports/{export_id}/review/"]["get"]
    assert {"200", "400", "404", "409"} <= set(listing["responses"])
    parameters = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert parameters["show"]["enum"] == list(review.FILTERS)
    assert "post" in paths["/api/v1/exports/{export_id}/review/answers/{answer_id}/"]
    approve = paths["/api/v1/exports/{export_id}/review/approve/"]["post"]
    assert {"202", "409"} <= set(approve["responses"])
    request_body = schema["components"]["schemas"]["ExportRequestRequest"]["properties"]
    assert request_body["review"]["type"] == "boolean" and request_body["review"].get("nullable") is True
    assert "awaiting_review" in schema["components"]["schemas"]["ExportStatusStatusEnum"]["enum"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_reviewed_export_runs_on_a_real_worker(open_2017, texts, analyst_ann, export_dir, celery_worker):
    client = api_client_for(analyst_ann)
    created = client.post(
        f"/api/v1/editions/{open_2017.pk}/exports/", {"format": "csv", "free_text": "separate"}, format="json"
    )
    export_id = created.json()["id"]

    def wait_for(*states):
        deadline = time.monotonic() + 90
        while True:
            status = client.get(f"/api/v1/exports/{export_id}/").json()
            if status["status"] in (*states, "failed") or time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    assert wait_for("awaiting_review")["status"] == "awaiting_review"
    listing = client.get(f"/api/v1/exports/{export_id}/review/").json()
    nickname = next(e for e in listing["results"] if "blue falcon" in e["text"])
    client.post(
        f"/api/v1/exports/{export_id}/review/answers/{nickname['answer_id']}/",
        {"action": "exclude"},
        format="json",
    )
    digest = client.get(f"/api/v1/exports/{export_id}/review/").json()["digest"]
    assert (
        client.post(
            f"/api/v1/exports/{export_id}/review/approve/", {"digest": digest}, format="json"
        ).status_code
        == 202
    )
    status = wait_for("succeeded")
    assert status["status"] == "succeeded", status
    files = unzip(job_path(ExportJob.objects.get(pk=export_id)))
    texts = {row["text"] for row in csv_rows(files["law-enforcement-survey_2017_free_text.csv"])}
    assert len(texts) == 5 and not any("blue falcon" in t for t in texts)
    downloaded = client.get(status["download_url"])
    assert downloaded.status_code == 200
