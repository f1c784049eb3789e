"""Staff in a real browser: an administrator imports the 2017 XLSForm, previews, opens and closes it (and
sees a broken form refused with located errors); an analyst codes free-text answers by keyboard and by
mouse, runs auto-coding on a real Celery worker, and downloads a redacted CSV export.

Both log in as people do: e-mail and password, then the code of their authenticator app."""

import csv
import io
import re
import threading
import uuid
from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from celery.signals import task_postrun
from django.utils import timezone

from accounts.models import User
from coding import selectors as coding_selectors
from coding import services as coding_services
from coding.models import AnswerCode, CodingRun, HumanCoding, RunStatus
from exports.models import ExportJob, ExportStatus
from responses.demo import demo_payloads_2017, demo_release
from responses.models import Answer
from surveys import services as survey_services
from surveys.models import Edition, EditionStatus, Series
from surveys.reference import REFERENCE_DIR
from tests.conftest import PASSWORD, TOTP_SECRET, import_reference
from tests.surveys.xlsform_helpers import build_xlsform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
RELEASED = 60  # responses to the closed 2017 edition in the analyst's journey
COLLEAGUE_CODED = 12  # answers another analyst has coded before this one starts


@pytest.fixture(autouse=True)
def _real_login_settings(settings):
    # A code computed at the end of a 30-second window may be checked in the next one.
    settings.MFA_TOTP_TOLERANCE = 1
    # allauth's rate-limit and lockout counters live in the cache: each test starts with none.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"e2e-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def page(browser, live_server):
    """A fresh browser with no session: whoever uses it logs in through the login pages."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def finished_tasks():
    """wait(name, *args): block until the worker has finished that task call (not a retry) and return
    its state. Event-driven: the worker's task_postrun signal wakes the test, nothing polls."""
    done: list[tuple[str, tuple, str]] = []
    changed = threading.Condition()

    def record(sender=None, args=None, state=None, **_):
        with changed:
            done.append((sender.name, tuple(args or ()), state))
            changed.notify_all()

    task_postrun.connect(record, weak=False)

    def wait(name: str, *args, timeout: float = 90) -> str:
        def finished() -> str | None:
            return next((s for n, a, s in done if (n, a) == (name, args) and s != "RETRY"), None)

        with changed:
            assert changed.wait_for(finished, timeout), f"{name}{args} not finished in {timeout} s: {done}"
            return finished()

    yield wait
    task_postrun.disconnect(record)


def authenticator_code() -> str:
    """What the staff member's authenticator app shows now (the cast's TOTP secret)."""
    return format_hotp_value(hotp_value(TOTP_SECRET, int(timezone.now().timestamp()) // 30))


def log_in_with_authenticator(page, shot, user: User, next_path: str) -> None:
    page.goto(f"/accounts/login/?next={next_path}")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    shot(page, "login")
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.fill("input[name=code]", authenticator_code())
    shot(page, "authenticator-code")
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url(f"**{next_path}")


def status_shown(page, text: str) -> None:
    expect(page.locator("dl.facts .status")).to_have_text(text)


# --- the administrator ------------------------------------------------------------------------------


def broken_xlsform() -> bytes:
    """A survey sheet with an unknown question type and a choice list that does not exist."""
    return build_xlsform(
        [
            ("text", "name_of_unit", "Your unit"),
            ("colour", "favourite", "Favourite colour"),
            ("select_one sizes", "unit_size", "Size of your unit"),
        ],
        [("yes_no", "yes", "Yes"), ("yes_no", "no", "No")],
    )


def test_an_administrator_imports_previews_opens_and_closes_an_edition(
    page, shot, admin_ada, celery_worker, finished_tasks
):
    log_in_with_authenticator(page, shot, admin_ada, "/staff/editions/")
    expect(page.locator("h1")).to_have_text("Series and editions")
    expect(page.locator("table.data tbody")).to_contain_text("No editions yet.")
    shot(page, "editions-empty")

    # A broken form: every problem located by sheet, row and column, and nothing saved, not even the series.
    page.get_by_role("link", name="Import a questionnaire").click()
    page.fill("#id_new_series_slug", "law-enforcement-survey")
    page.fill("#id_new_series_title", "Annual law-enforcement survey")
    page.fill("#id_label", "2017")
    page.set_input_files(
        "#id_file",
        {
            "name": "broken.xlsx",
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "buffer": broken_xlsform(),
        },
    )
    page.get_by_role("button", name="Import as a draft").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("The file was not imported (2 problems)")
    expect(summary).to_contain_text("Nothing was saved.")
    rows = [
        [cell.strip() for cell in row]
        for row in page.locator(".error-summary tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    ]
    assert [row[:3] for row in rows] == [["survey", "3", "A"], ["survey", "4", "A"]], rows
    assert "Unknown type 'colour'" in rows[0][3]
    assert "sizes" in rows[1][3]
    shot(page, "import-refused")
    assert not Edition.objects.exists()
    assert not Series.objects.exists()

    # The 2017 reference XLSForm goes in as a draft.
    page.fill("#id_new_series_slug", "law-enforcement-survey")
    page.fill("#id_new_series_title", "Annual law-enforcement survey")
    page.fill("#id_label", "2017")
    page.set_input_files("#id_file", REFERENCE_DIR / "netclean-2017.xlsx")
    page.get_by_role("button", name="Import as a draft").click()
    edition = Edition.objects.get(series__slug="law-enforcement-survey", label="2017")
    page.wait_for_url(f"**/staff/editions/{edition.pk}/")
    expect(page.locator(".messages")).to_contain_text("as a draft")
    status_shown(page, "Draft")
    expect(page.get_by_role("button", name="Open")).to_be_visible()
    expect(page.locator(".page-summary")).to_have_count(8)
    assert edition.status == EditionStatus.DRAFT
    shot(page, "draft-imported")

    # The preview renders the questionnaire as officers will see it, page by page.
    page.get_by_role("link", name="Preview as an officer").click()
    expect(page.locator(".preview-banner")).to_contain_text(
        "Answers entered here are checked but never stored"
    )
    expect(page.locator(".progress-text")).to_have_text("Page 1 of 8")
    expect(page.locator("#f-country")).to_be_visible()
    expect(page.locator("input[name=agency_type]")).to_have_count(5)
    shot(page, "preview-page-1")
    page.get_by_role("link", name="Next").click()
    expect(page.locator(".progress-text")).to_have_text("Page 2 of 8")
    expect(page.locator("input[name=workload_change]").first).to_be_visible()
    page.get_by_role("button", name="Check this page").click()
    expect(page.locator(".progress-text")).to_have_text("Page 2 of 8")
    shot(page, "preview-page-2-checked")
    page.get_by_role("link", name="Back to the edition").click()

    # Opened with a closing date: the questionnaire is frozen.
    closes_at = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    page.fill("#id_closes_at", closes_at.strftime("%Y-%m-%dT%H:%M"))
    shot(page, "opening")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("The edition is open; its questionnaire is now frozen.")
    status_shown(page, "Open")
    expect(page.locator("dl.facts")).to_contain_text(f"to {closes_at:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("dl.facts")).to_contain_text("sha256:")
    edition.refresh_from_db()
    assert edition.status == EditionStatus.OPEN
    assert edition.closes_at == closes_at
    assert edition.definition_sha256
    shot(page, "open")
    page.goto("/staff/editions/")
    expect(page.locator("table.data tbody tr")).to_have_count(1)
    expect(page.locator("table.data tbody tr .status")).to_have_text("Open")
    # The worker sends the invitations (there is no officer yet, so none goes out).
    assert finished_tasks("accounts.participations_invite", edition.pk) == "SUCCESS"

    # Closed now: the window ends and the anonymous pool is released by the worker.
    page.get_by_role("link", name="2017").click()
    page.get_by_role("button", name="Close now").click()
    expect(page.locator(".messages")).to_contain_text("The edition is closed.")
    status_shown(page, "Closed")
    expect(page.get_by_role("button", name="Archive")).to_be_visible()
    edition.refresh_from_db()
    assert edition.status == EditionStatus.CLOSED
    assert edition.closes_at <= timezone.now()
    shot(page, "closed")
    assert finished_tasks("responses.pool_release", edition.pk) == "SUCCESS"


# --- the analyst ------------------------------------------------------------------------------------


@pytest.fixture
def released_2017(series, officer_alice, analyst_ann, celery_worker, finished_tasks):
    """The 2017 edition, closed, with RELEASED synthetic responses, the reference codebooks, and
    COLLEAGUE_CODED workload_reasons answers coded by a colleague. One answer quotes two users' e-mail
    addresses. Returns the edition, that answer, and the categories each text was written for."""
    edition = import_reference(series, "2017")
    survey_services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=1))
    survey_services.edition_close(edition=edition)
    # The worker's part of opening and closing (no officer to invite, an empty pool to release).
    assert finished_tasks("accounts.participations_invite", edition.pk) == "SUCCESS"
    assert finished_tasks("responses.pool_release", edition.pk) == "SUCCESS"
    payloads = [p for p in demo_payloads_2017() if "workload_reasons" in p["answers"]][:RELEASED]
    quoting = f"Ask {analyst_ann.email} or {officer_alice.email}: more devices per case, and bigger ones."
    payloads[0]["answers"]["workload_reasons"] = quoting
    payloads[0]["codes"]["workload_reasons"] = ["more_data", "technology"]
    assert demo_release(edition=edition, payloads=payloads) == RELEASED
    coding_services.codebooks_import_reference(edition=edition)
    codes_of = {p["answers"]["workload_reasons"]: p["codes"]["workload_reasons"] for p in payloads}
    answers = Answer.objects.filter(item__edition=edition, item__code="workload_reasons").order_by("id")
    for answer in list(answers.exclude(text=quoting))[-COLLEAGUE_CODED:]:
        coding_services.answer_codes_set(answer_id=answer.pk, codes=codes_of[answer.text], coder="colleague")
    return edition, answers.get(text=quoting), codes_of


def my_codes(answer_id, coder: str) -> set[str]:
    """The codes `coder` gave an answer (as stored)."""
    return set(
        AnswerCode.objects.filter(answer_id=answer_id, coder=coder, source="human").values_list(
            "category__code", flat=True
        )
    )


def expect_ticked(page, categories: list[str], ticked: set[str]) -> None:
    """The answer on screen has exactly `ticked` of the codebook's categories ticked."""
    for code in categories:
        box = page.locator(f".coding-answer input[name=codes][value={code}]")
        if code in ticked:
            expect(box).to_be_checked()
        else:
            expect(box).not_to_be_checked()


def test_an_analyst_codes_answers_runs_auto_coding_and_downloads_a_redacted_export(
    page, shot, tmp_path, settings, released_2017, analyst_ann, finished_tasks
):
    edition, quoting, codes_of = released_2017
    settings.EXPORT_DIR = tmp_path / "exports"
    me = coding_services.coder_label(user_id=analyst_ann.pk)
    categories = [
        c["code"] for c in coding_selectors.codebook_for(edition_id=edition.pk, item_code="workload_reasons")
    ]
    log_in_with_authenticator(page, shot, analyst_ann, "/staff/editions/")
    page.get_by_role("link", name="2017", exact=True).click()
    status_shown(page, "Closed")
    page.get_by_role("link", name="Free-text coding").click()

    # The edition's codebooks, with the colleague's progress.
    row = page.locator("table.data tbody tr", has_text="workload_reasons")
    expect(row.locator("td")).to_have_text(
        [
            "workload_reasons (codebook)",
            "8",
            str(RELEASED),
            str(COLLEAGUE_CODED),
            "0",
            str(RELEASED - COLLEAGUE_CODED),
        ]
    )
    shot(page, "codebooks")
    row.get_by_role("link", name="workload_reasons").click()
    expect(page.locator("h1")).to_have_text(f"Coding: workload_reasons ({edition})")
    pagination = page.locator("nav.pagination")
    progress = page.locator("#progress-h + p")
    expect(pagination).to_contain_text(f"Page 1 of {RELEASED}")

    # Found by searching; coded with the mouse: tick the categories the answer speaks of, then save.
    page.fill("input[name=q]", "more devices per case")
    page.get_by_role("button", name="Apply").click()
    expect(pagination).to_contain_text("Page 1 of 1")
    expect(page.locator(".coding-answer blockquote")).to_have_text(quoting.text)
    for code in ["more_data", "technology"]:
        page.locator(f".coding-answer input[name=codes][value={code}]").click()
    shot(page, "ticked-with-the-mouse")
    page.get_by_role("button", name="Save codes").click()
    expect(progress).to_contain_text(f"{COLLEAGUE_CODED + 1} human-coded")
    expect(pagination).to_contain_text("Page 1 of 1")  # back on the same search
    expect_ticked(page, categories, {"more_data", "technology"})
    assert my_codes(quoting.pk, me) == {"more_data", "technology"}
    assert HumanCoding.objects.filter(answer=quoting, coder=me).exists()

    # Only what this analyst has not coded yet; then the keyboard alone: 1-8 toggle, Enter saves and the
    # next uncoded answer comes up.
    page.fill("input[name=q]", "")
    page.select_option("select[name=filter]", "uncoded")
    page.get_by_role("button", name="Apply").click()
    expect(pagination).to_contain_text(f"Page 1 of {RELEASED - 1}")
    shot(page, "uncoded-filter")
    answers = Answer.objects.filter(item__edition=edition, item__code="workload_reasons").order_by("id")
    keyboard_coded = list(answers.exclude(pk=quoting.pk)[:4])
    for done, answer in enumerate(keyboard_coded, start=1):
        expect(page.locator(".coding-answer blockquote")).to_have_text(answer.text)
        page.locator("h1").click()  # focus on the page, not in a form field
        for code in codes_of[answer.text]:
            page.keyboard.press(str(categories.index(code) + 1))
        expect_ticked(page, categories, set(codes_of[answer.text]))
        if done == 1:
            shot(page, "toggled-with-the-keyboard")
        page.keyboard.press("Enter")
        expect(pagination).to_contain_text(f"Page 1 of {RELEASED - 1 - done}")
    for answer in keyboard_coded:
        assert my_codes(answer.pk, me) == set(codes_of[answer.text])
    expect(progress).to_contain_text(f"{COLLEAGUE_CODED + 1 + len(keyboard_coded)} human-coded")
    shot(page, "coded-with-the-keyboard")

    # Auto-coding on the worker, trained on the human codes; the page shows its cross-validated metrics.
    page.get_by_role("button", name="Run auto-coding").click()
    expect(page.locator(".messages")).to_contain_text("Auto-coding queued (Model trained on human codes")
    shot(page, "auto-coding-queued")
    run = CodingRun.objects.get(edition=edition, item_code="workload_reasons")
    assert finished_tasks("coding.run", str(run.pk)) == "SUCCESS"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    cv = run.metrics["cross_validation"]
    assert run.metrics["human_coded"] == COLLEAGUE_CODED + 1 + len(keyboard_coded)
    assert run.metrics["coded"] == RELEASED - run.metrics["human_coded"]
    page.reload()
    latest = page.locator("#runs-h ~ table tbody tr").first
    expect(latest.locator("td")).to_have_text(
        [
            re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"),
            "Model trained on human codes",
            re.compile(rf"^{run.classifier} v{run.classifier_version} \(seed {run.seed}\)$"),
            "Succeeded",
            "100 %",
            str(cv["alpha"]),
            str(cv["micro_f1"]),
        ]
    )
    # Per category, the run's cross-validated precision and recall (and the human-only flags).
    report = page.locator("#model-report tbody tr")
    expect(report).to_have_count(len(cv["categories"]))
    more_data = cv["categories"]["more_data"]
    expect(page.locator("#model-report tbody tr", has_text="(more_data)").locator("td").nth(1)).to_have_text(
        str(more_data["precision"] if more_data["precision"] is not None else "—")
    )
    expect(page.locator("#model-report tbody tr", has_text="human coding only")).to_have_count(
        len(run.metrics["human_only"])
    )
    shot(page, "auto-coding-metrics")
    page.select_option("select[name=filter]", "automatic")
    page.get_by_role("button", name="Apply").click()
    expect(pagination).to_contain_text(f"Page 1 of {run.metrics['coded']}")
    expect(progress).to_contain_text(f"{run.metrics['coded']} automatic, 0 uncoded of {RELEASED}")
    # The answer shown carries the run's probabilities next to its categories.
    shown = page.locator(".coding-answer").get_attribute("id").removeprefix("answer-")
    expect(page.locator(".coding-answer small.auto")).to_have_count(
        AnswerCode.objects.filter(answer_id=shown, source="auto", run=run).count()
    )
    shot(page, "automatic-filter")

    # An export: CSV, free text redacted in the main file. The page follows the job and offers the file.
    page.get_by_role("link", name="Exports").click()
    page.get_by_label(str(edition)).check()
    page.select_option("#id_format", "csv")
    page.select_option("#id_free_text", "redacted")
    shot(page, "export-requested")
    expect(page.get_by_label("Review the free text before the file is built")).to_be_checked()
    page.get_by_role("button", name="Build export").click()
    expect(page.locator(".messages")).to_contain_text("The export is queued.")
    shot(page, "export-queued")
    # With free text, a person reads it before the file is built (exports/review.py).
    review_link = page.get_by_role("link", name="Review the free text")
    expect(review_link).to_be_visible(timeout=90_000)  # progress.js reloads when the review is ready
    expect(page.get_by_role("link", name=re.compile(r"^Download "))).to_have_count(0)
    review_link.click()
    texts = Answer.objects.filter(item__edition=edition, text__isnull=False).count()
    expect(page.locator(".review-answer")).to_have_count(min(50, texts))
    expect(page.locator(".review-answer mark").first).to_be_visible()  # what the redactor replaced
    shot(page, "export-review")
    page.get_by_label(re.compile("I have read every answer")).check()
    page.get_by_role("button", name="Approve the free text and build the file").click()
    expect(page.locator(".messages")).to_contain_text("Approved.")
    download_link = page.get_by_role("link", name=re.compile(r"^Download "))
    expect(download_link).to_be_visible(timeout=90_000)  # progress.js reloads the page when it is done
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.SUCCEEDED and job.row_count == RELEASED
    shot(page, "export-ready")
    with page.expect_download() as download_info:
        download_link.click()
    download = download_info.value
    assert download.suggested_filename == job.file_name
    body = tmp_path / download.suggested_filename
    download.save_as(body)
    text = body.read_text(encoding="utf-8")

    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == RELEASED
    assert "workload_reasons" in rows[0]
    assert sum("[EMAIL]" in row["workload_reasons"] for row in rows) == 1
    assert not EMAIL.search(text)
    for email in User.objects.values_list("email", flat=True):
        assert email not in text
