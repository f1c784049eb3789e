"""CSRF: every URL refuses a state-changing request from a logged-in browser session that lacks the CSRF
token, except the few listed below with the reason.

API requests authenticated with a token (`Authorization: Token KEY`) are exempt by design: a browser
never adds that header on its own, so another site cannot forge one. DRF's session authentication
enforces CSRF itself (DRF views are csrf_exempt at the Django level and check in
SessionAuthentication), and the walk below logs in with a session, so it covers the API too.
"""

from django.test import Client
from django.urls import reverse
from rest_framework.views import APIView

from surveys.models import EditionStatus
from tests.accounts.test_authorization_matrix import objects, path_for  # noqa: F401 - fixture
from tests.conftest import login_with_mfa
from tests.security.conftest import url_patterns

UNSAFE = ("post", "put", "patch", "delete")
# URLs that take state-changing requests without a CSRF token, and why that is safe.
EXEMPT = {
    "api-edition-ballot-key": "takes no session and no cookie (authentication_classes = []); read-only",
    "api-edition-anonymous-responses": (
        "level-2 submissions take no session and set no cookie on purpose (a blind-signed ballot is the "
        "credential, so a forged request could only spend a ballot the forger already holds); the view "
        "checks the Origin header instead"
    ),
}


def csrf_refused(response) -> bool:
    body = response.content.decode(errors="replace")
    # DRF's error as data (an HTML-rendered DRF view, such as the API docs, shows only "403 Forbidden").
    detail = str((getattr(response, "data", None) or {}).get("detail", ""))
    return response.status_code == 403 and (
        "CSRF verification failed" in body  # Django's CsrfViewMiddleware
        or "CSRF Failed" in body  # DRF's SessionAuthentication, rendered as JSON
        or detail.startswith("CSRF Failed")
    )


def unsafe_methods(pattern) -> list[str]:
    """POST for every view; for DRF views also the other unsafe methods they implement."""
    view_class = getattr(pattern.callback, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView):
        return ["post", *(m for m in UNSAFE[1:] if hasattr(view_class, m))]
    return ["post"]


def client_for(name: str, cast: dict) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if name.startswith(("responses:", "me:")) or name == "api-edition-ballots":
        client.force_login(cast["officer"])
    else:
        login_with_mfa(client, cast["administrator"])
    return client


def test_every_state_changing_request_without_the_token_is_refused(
    objects,  # noqa: F811 - the fixture imported above
    admin_ada,
    officer_alice,
    settings,
):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    cast = {"administrator": admin_ada, "officer": officer_alice}
    checked, accepted = 0, []
    for name, route, pattern in url_patterns():
        path = path_for(name, route, pattern, objects)
        client = client_for(name, cast)
        for method in unsafe_methods(pattern):
            response = getattr(client, method)(path, {"probe": "1"}, content_type="application/json")
            if name in EXEMPT:
                assert not csrf_refused(response), (
                    f"{name} is listed as exempt but checks CSRF: update EXEMPT"
                )
            elif not csrf_refused(response):
                accepted.append(f"{method.upper()} {path} ({name}): {response.status_code}")
            checked += 1
    assert not accepted, "accepted without a CSRF token:\n" + "\n".join(accepted)
    assert checked > 100  # every pattern: ours, allauth's, the admin's, the API


def test_the_same_forms_work_with_the_token(open_2017, admin_ada, officer_alice):
    """The refusals above are CSRF's, not something else: with the token, forms and session API calls
    go through (a staff form, a session API call, the officer's questionnaire)."""
    staff = login_with_mfa(Client(enforce_csrf_checks=True), admin_ada)
    staff.get(reverse("surveys:edition_detail", args=[open_2017.pk]))  # sets the CSRF cookie
    token = staff.cookies["csrftoken"].value
    results = staff.post(f"/api/v1/editions/{open_2017.pk}/stats/", HTTP_X_CSRFTOKEN=token)
    assert results.status_code == 405  # past CSRF and authentication: the view only reads
    closed = staff.post(reverse("surveys:edition_close", args=[open_2017.pk]), {"csrfmiddlewaretoken": token})
    assert closed.status_code == 302
    open_2017.refresh_from_db()
    assert open_2017.status == EditionStatus.CLOSED

    officer = Client(enforce_csrf_checks=True)
    officer.force_login(officer_alice)
    officer.get("/portal/")
    token = officer.cookies["csrftoken"].value
    page = officer.post("/profile/", {"csrfmiddlewaretoken": token})
    assert not csrf_refused(page)
    assert csrf_refused(officer.post("/profile/", {}))


def test_token_authenticated_api_calls_need_no_csrf_token(open_2017, admin_ada):
    """By design: the header is the credential, and browsers never send it by themselves."""
    from accounts.services import api_token_create

    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {api_token_create(user=admin_ada)}")
    response = client.post(f"/api/v1/editions/{open_2017.pk}/close/")
    assert response.status_code == 200, response.content
    open_2017.refresh_from_db()
    assert open_2017.status == EditionStatus.CLOSED
