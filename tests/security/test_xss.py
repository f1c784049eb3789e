"""XSS: attack strings typed into every free-text item (and into coding-frame labels) are shown as text
wherever they appear: the coding screen, the results pages and report, the PDF report, the exported HTML
codebook, and the officer's own answers carried between questionnaire pages.

The browser tests run twice: once with the site's Content-Security-Policy bypassed, so that escaping
alone must keep the page safe, and once with the policy, which must report no violation (a violation
would mean markup got through and only the policy stopped it).
"""

import html
import io
import zipfile

import pytest
from django.test import Client
from pypdf import PdfReader

from exports import services as export_services
from surveys.selectors import edition_questionnaire
from tests.conftest import login_with_mfa
from tests.e2e.conftest import browser  # noqa: F401 - the Chromium fixture (module scope)
from tests.exports.helpers import run_export
from tests.security.conftest import ALL_ASKED, CODED_ITEM, XSS_PAYLOADS, text_items

# A payload that gets through unescaped would show one of these in the page source.
RAW_MARKERS = ["<script>window.__xss", "<img src=x onerror", "<svg onload", "</textarea><script>"]


def assert_escaped(source: str, where: str, shown: str = XSS_PAYLOADS[0]) -> None:
    """No payload's markup in `source`, and `shown` present as escaped text (so the check saw it)."""
    for marker in RAW_MARKERS:
        assert marker not in source, f"{where}: unescaped {marker!r}"
    assert html.escape(shown, quote=False) in source or html.escape(shown) in source, (
        f"{where}: {shown!r} is not shown at all, so this check saw nothing"
    )


@pytest.fixture
def staff(admin_ada):
    return login_with_mfa(Client(), admin_ada)


# --- Server-rendered pages, files and the PDF ---------------------------------------------------------


def test_the_coding_screen_shows_answers_and_labels_as_text(hostile_2017, staff):
    for view in ("one", "table"):
        page = staff.get(f"/staff/coding/editions/{hostile_2017.pk}/items/{CODED_ITEM}/?view={view}")
        assert page.status_code == 200
        assert_escaped(page.content.decode(), f"coding screen ({view})")
    codebook = staff.get(f"/staff/coding/editions/{hostile_2017.pk}/items/{CODED_ITEM}/codebook/")
    assert_escaped(codebook.content.decode(), "codebook editor")


def test_the_coding_api_returns_answers_as_json_data_not_markup(hostile_2017, admin_ada):
    from tests.conftest import api_client_for

    response = api_client_for(admin_ada).get(
        f"/api/v1/editions/{hostile_2017.pk}/items/{CODED_ITEM}/answers/", HTTP_ACCEPT="application/json"
    )
    assert response["Content-Type"].startswith("application/json")
    texts = {row["text"] for row in response.json()["results"]}
    assert set(XSS_PAYLOADS) <= texts  # stored and returned exactly as typed


def test_results_pages_and_report_show_labels_as_text(hostile_2017, staff):
    number = next(
        i for i, page in enumerate(build_pages_of(hostile_2017), 1) if CODED_ITEM in page.item_codes
    )
    for path in (
        f"/staff/results/{hostile_2017.pk}/?page={number}",
        f"/staff/results/{hostile_2017.pk}/report/",
    ):
        page = staff.get(path)
        assert page.status_code == 200
        # Results show counts of coded categories, so the coding frame's label is what appears.
        assert_escaped(page.content.decode(), path, shown=XSS_PAYLOADS[1])
    data = staff.get(f"/staff/results/{hostile_2017.pk}/items/{CODED_ITEM}.csv")
    assert data.status_code == 200
    assert "<script" not in data.content.decode()  # codes and counts only, never answer text


def build_pages_of(edition):
    from surveys.presentation import build_pages
    from surveys.selectors import edition_definition

    return build_pages(edition_definition(edition))


def test_the_pdf_report_holds_the_payload_as_literal_text(hostile_2017, staff):
    response = staff.get(f"/staff/results/{hostile_2017.pk}/report/?format=pdf")
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    # The category label was drawn as the characters typed, markup and all: it was text to WeasyPrint.
    assert "onerror=window.__xss=1>" in " ".join(text.split())


def test_the_exported_html_codebook_escapes_labels(hostile_2017, admin_ada, export_dir):
    # Free text itself is left out (with it the export waits for a human review); the coding frame's
    # labels and descriptions are in the codebook either way.
    job = run_export(admin_ada, [hostile_2017], format="bundle", free_text="omit")
    with zipfile.ZipFile(export_services.export_dir() / job.file_path) as bundle:
        (name,) = [n for n in bundle.namelist() if n.endswith("_codebook.html")]
        source = bundle.read(name).decode()
    for marker in RAW_MARKERS:
        assert marker not in source
    assert html.escape(XSS_PAYLOADS[1]) in source  # the coding frame's label, as text


def test_the_questionnaire_echoes_an_officers_answers_escaped_going_forward_and_back(
    open_2017, officer_alice
):
    client = Client()
    client.force_login(officer_alice)
    codes = text_items(edition_questionnaire(open_2017))
    answers = {**ALL_ASKED, **{code: XSS_PAYLOADS[i % len(XSS_PAYLOADS)] for i, code in enumerate(codes)}}
    url = f"/portal/{open_2017.pk}/"
    forward = client.post(url, {**answers, "_page": "0", "_action": "next"})
    assert forward.status_code == 200
    source = forward.content.decode()
    for marker in RAW_MARKERS:
        assert marker not in source
    # The page's own text box holds the answer as text, and the others travel as escaped hidden fields.
    assert f">{html.escape(answers[CODED_ITEM], quote=False)}</textarea>" in source or (
        f'value="{html.escape(answers[CODED_ITEM])}"' in source
    )
    for code in codes:
        assert html.escape(answers[code]) in source or html.escape(answers[code], quote=False) in source
    back = client.post(url, {**answers, "_page": "1", "_action": "back"})
    source = back.content.decode()
    for marker in RAW_MARKERS:
        assert marker not in source
    assert f'value="{html.escape(XSS_PAYLOADS[1])}"' in source


# --- In a real browser -------------------------------------------------------------------------------


@pytest.fixture
def open_page(browser, live_server, settings):  # noqa: F811 - `browser` is the imported fixture
    """A page in a new browser context logged in as `user` (with MFA for staff)."""
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    contexts = []

    def open_as(user, *, bypass_csp: bool):
        client = login_with_mfa(Client(), user)
        context = browser.new_context(base_url=live_server.url, bypass_csp=bypass_csp)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.violations = []
        page.on("console", lambda m: "Content Security Policy" in m.text and page.violations.append(m.text))
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bypass_csp", [True, False], ids=["escaping-alone", "with-the-policy"])
def test_no_payload_runs_in_the_browser(hostile_2017, admin_ada, open_page, bypass_csp):
    page = open_page(admin_ada, bypass_csp=bypass_csp)
    number = next(i for i, p in enumerate(build_pages_of(hostile_2017), 1) if CODED_ITEM in p.item_codes)
    coding = f"/staff/coding/editions/{hostile_2017.pk}/items/{CODED_ITEM}/"
    # Each page, and where a payload must be visible as typed: page text, or a form field's value.
    pages = {
        coding: "text",
        f"{coding}?view=table": "text",
        f"{coding}codebook/": "field",
        f"/staff/results/{hostile_2017.pk}/?page={number}": "text",
        f"/staff/results/{hostile_2017.pk}/report/": "text",
    }
    for path, shown_in in pages.items():
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.locator("img[src=x], svg[onload]").count() == 0, path
        if shown_in == "text":
            assert XSS_PAYLOADS[1] in page.inner_text("main"), path
        else:
            values = page.eval_on_selector_all("main input, main textarea", "els => els.map(e => e.value)")
            assert XSS_PAYLOADS[1] in values, path
        assert page.violations == [], (path, page.violations)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_keyboard_shortcuts_work_from_their_static_file(hostile_2017, admin_ada, open_page):
    """The coding screen's shortcuts moved out of an inline script: 1 toggles the first category."""
    page = open_page(admin_ada, bypass_csp=False)
    page.goto(f"/staff/coding/editions/{hostile_2017.pk}/items/{CODED_ITEM}/")
    box = page.locator('[data-coding-form] input[data-key="1"]').first
    before = box.is_checked()
    page.locator("body").press("1")
    assert box.is_checked() != before
    assert page.violations == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_work_under_the_policy(admin_ada, open_page):
    page = open_page(admin_ada, bypass_csp=False)
    page.goto("/api/v1/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 15  # every operation rendered by Swagger UI
    assert page.violations == [], page.violations
