"""Response headers: the Content-Security-Policy on every page (and pages that need nothing it forbids),
no-store on survey, staff, export and API URLs, HSTS and the HTTPS redirect, cookie flags."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import SsoVettingRule
from accounts.services import api_token_create, sso_provider_create
from exports import services as export_services
from responses.models import Answer
from tests.conftest import PASSWORD, login_with_mfa
from tests.exports.helpers import run_export
from tests.security.conftest import CODED_ITEM, url_patterns

EXPECTED_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


class InlineCode(HTMLParser):
    """Collects what a strict policy would block: inline scripts, event handlers, style attributes and
    elements, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes and attributes.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:...>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def staff(client, admin_ada):
    return login_with_mfa(client, admin_ada)


def test_every_page_sends_the_policy_and_contains_nothing_it_would_block(
    hostile_2017, admin_ada, officer_alice
):
    edition = hostile_2017
    staff = login_with_mfa(Client(), admin_ada)
    officer = Client()
    officer.force_login(officer_alice)
    anonymous = Client()
    pages = [
        (anonymous, "/"),
        (anonymous, "/accounts/login/"),
        (anonymous, "/accounts/signup/"),
        (anonymous, "/anonymity/"),
        (anonymous, f"/receipts/{edition.pk}/"),
        (officer, "/portal/"),
        (officer, f"/portal/{edition.pk}/"),
        (officer, "/profile/"),
        (staff, "/staff/editions/"),
        (staff, "/staff/editions/import/"),
        (staff, f"/staff/editions/{edition.pk}/"),
        (staff, f"/staff/editions/{edition.pk}/preview/"),
        (staff, f"/staff/coding/editions/{edition.pk}/"),
        (staff, f"/staff/coding/editions/{edition.pk}/items/{CODED_ITEM}/"),
        (staff, f"/staff/coding/editions/{edition.pk}/items/{CODED_ITEM}/?view=table"),
        (staff, f"/staff/coding/editions/{edition.pk}/items/{CODED_ITEM}/codebook/"),
        (staff, f"/staff/results/{edition.pk}/"),
        (staff, f"/staff/results/{edition.pk}/?page=2"),
        (staff, f"/staff/results/{edition.pk}/report/"),
        (staff, "/staff/exports/"),
        (staff, "/staff/people/"),
        (staff, "/staff/people/vetting/"),
        (staff, "/staff/people/tokens/"),
        (staff, "/accounts/2fa/"),
        (staff, "/api/v1/docs/"),
    ]
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html"), path
        assert policy(response) == EXPECTED_POLICY, path
        assert "unsafe" not in response["Content-Security-Policy"], path
        assert inline_code(response.content.decode()) == [], path


def test_the_policy_detector_finds_inline_code():
    """The page scan above can fail: it sees each kind of inline code a policy would block."""
    html = (
        '<script>x()</script><script type="application/json">{}</script>'
        '<a onclick="x()" href="javascript:x()"><div style="width: 1%"></div><style>p {}</style>'
    )
    assert inline_code(html) == [
        "inline <script>",
        "<a onclick=...>",
        "<a href=javascript:...>",
        "<div style=...>",
        "<style> element",
    ]


def test_the_api_docs_load_their_init_script_from_a_url(staff):
    page = staff.get("/api/v1/docs/").content.decode()
    (script_url,) = re.findall(r'<script src="([^"]+script=[^"]*)"', page)
    script = staff.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_single_sign_on_pages_may_post_to_the_identity_provider(client, admin_ada):
    """allauth's SSO form posts to itself and is redirected to the agency's provider (any https origin);
    every other page keeps form-action 'self'."""
    sso_provider_create(
        slug="kent-police",
        name="Kent Police",
        server_url="https://idp.kent.example",
        client_id="survey-client",
        secret="s3cret",
        agency="Kent Police",
        country="GB",
        vetting_rule=SsoVettingRule.REVIEW,
        actor=admin_ada,
    )
    response = client.get("/accounts/oidc/kent-police/login/")
    assert response.status_code == 200
    assert policy(response)["form-action"] == ["'self'", "https:"]
    assert policy(client.get("/accounts/login/"))["form-action"] == ["'self'"]


# --- Cache-Control: no-store -----------------------------------------------------------------------

# The areas whose every URL must never be cached: the officer portal and receipts, coding, results,
# exports (pages and downloads), the whole API.
NO_STORE_AREAS = ("responses:", "coding:", "results:", "exports:", "api-")
# In those areas but public and free of answers.
MAY_BE_CACHED = {"responses:anonymity": "explains the anonymity measures; the same for everyone"}


@pytest.fixture
def objects(hostile_2017, admin_ada, export_dir):
    job = run_export(admin_ada, [hostile_2017], format="csv", free_text="omit")
    return {
        "edition_id": hostile_2017.pk,
        "previous_id": hostile_2017.pk,
        "item_code": CODED_ITEM,
        "answer_id": Answer.objects.filter(item__code=CODED_ITEM).first().pk,
        "job_id": job.pk,
        "export_id": job.pk,
        "token": export_services.export_download_token(job=job, user=admin_ada),
        "run_id": "00000000-0000-4000-8000-000000000000",
        "code": "0",
    }


def test_survey_staff_export_and_api_urls_are_never_cached(objects, admin_ada, officer_alice):
    staff = login_with_mfa(Client(), admin_ada)
    officer = Client()
    officer.force_login(officer_alice)
    token = api_token_create(user=admin_ada)
    walked = []
    for name, _route, pattern in url_patterns():
        if not name.startswith(NO_STORE_AREAS) or name in MAY_BE_CACHED:
            continue
        kwargs = {key: objects[key] for key in pattern.pattern.converters}
        path = reverse(name, kwargs=kwargs)
        if name == "api-export-download":
            path += f"?token={objects['token']}"
        if name.startswith("responses:"):
            client = officer
        elif name.startswith("api-"):
            client = Client(HTTP_AUTHORIZATION=f"Token {token}")
        else:
            client = staff
        response = client.get(path)
        assert "no-store" in response.get("Cache-Control", ""), (path, response.status_code)
        assert response.get("Pragma") == "no-cache", path
        walked.append((name, response.status_code))
    codes = dict(walked)
    # The pages that show answers and the downloads really answered (not only a redirect or an error).
    for name in (
        "responses:questionnaire",
        "responses:receipt_check",
        "coding:item",
        "results:page",
        "results:report",
        "results:item_csv",
        "exports:detail",
        "exports:download",
        "api-export-download",
        "api-item-answers",
        "api-edition-results",
    ):
        assert codes[name] == 200, (name, codes[name])
    assert len(walked) >= 30


def test_a_pdf_report_and_an_export_file_are_not_cached_either(objects, staff):
    pdf = staff.get(f"/staff/results/{objects['edition_id']}/report/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert "no-store" in pdf["Cache-Control"] and pdf["Pragma"] == "no-cache"


def test_public_pages_outside_those_areas_may_be_cached(client):
    assert "no-store" not in client.get("/anonymity/").get("Cache-Control", "")


# --- HTTPS ----------------------------------------------------------------------------------------


def test_plain_http_is_redirected_to_https_in_production(settings, db):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # a new client loads the middleware with the production setting
    response = client.get("/portal/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/portal/"
    assert client.get("/healthz").status_code == 200  # load balancers probe over plain HTTP


def test_https_responses_carry_hsts_and_the_other_security_headers(client, settings):
    settings.SECURE_HSTS_PRELOAD = False
    response = client.get("/anonymity/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in client.get("/anonymity/")  # never over plain HTTP


def test_session_and_csrf_cookies_are_secure_http_only_and_same_site_lax(client, officer_alice):
    login_page = client.get("/accounts/login/", secure=True)
    csrf = login_page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(
        "/accounts/login/",
        {"login": officer_alice.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf.value},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
