"""MFA: administrators and analysts pass a second factor before any staff page or staff session API
call works; officers may turn it on; tokens keep working."""

from allauth.mfa.models import Authenticator
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Role, User
from accounts.services import user_create
from tests.accounts.conftest import totp_code
from tests.conftest import PASSWORD, api_client_for, login_with_mfa

STAFF_PAGE = "/staff/editions/"


def password_login(client, email):
    return client.post("/accounts/login/", {"login": email, "password": PASSWORD})


def test_a_staff_login_asks_for_the_authenticator_code_and_then_opens_staff_pages(client, admin_ada):
    response = password_login(client, "ada@agency.example")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session  # not logged in until the second factor
    assert client.get(STAFF_PAGE).status_code == 302

    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert response.status_code == 302
    assert client.get(STAFF_PAGE).status_code == 200
    event = AuditEvent.objects.get(action="login.succeeded")
    assert event.details == {"method": "password", "mfa": True}


def test_a_wrong_code_keeps_the_staff_member_out_and_is_recorded(client, analyst_ann):
    password_login(client, "ann@agency.example")
    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="mfa.failed", target="ann@agency.example").exists()


def test_staff_without_an_authenticator_are_sent_to_set_one_up(client, db):
    newcomer = user_create(email="new@agency.example", role=Role.ANALYST, password=PASSWORD)
    password_login(client, "new@agency.example")
    assert client.session["_auth_user_id"] == str(newcomer.pk)
    response = client.get(STAFF_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")
    # Every staff page, including the people pages, is closed until then.
    assert client.get("/staff/people/").status_code == 302


def test_setting_up_totp_then_confirming_opens_staff_pages(client, db, django_capture_on_commit_callbacks):
    user_create(email="new@agency.example", role=Role.ADMINISTRATOR, password=PASSWORD)
    password_login(client, "new@agency.example")
    # allauth asks for the password again before adding an authenticator.
    response = client.get("/accounts/2fa/totp/activate/")
    assert response["Location"].startswith("/accounts/reauthenticate/")
    client.post(response["Location"], {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    secret = page.context["form"].secret
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user__email="new@agency.example", type="totp").exists()
    assert AuditEvent.objects.filter(action="mfa.added", details__type="totp").exists()

    # The session began before the authenticator existed: confirm with it once.
    response = client.get(STAFF_PAGE)
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")
    # A code is accepted once, so confirm with the next window's code (allowed with tolerance 1).
    response = client.post(response["Location"], {"code": totp_code(secret, window=1)})
    assert response.status_code == 302 and response["Location"] == STAFF_PAGE
    assert client.get(STAFF_PAGE).status_code == 200


def test_a_session_that_skipped_mfa_is_sent_to_confirm(client, admin_ada):
    client.force_login(admin_ada)
    response = client.get(STAFF_PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fstaff%2Feditions%2F"


def test_officers_need_no_mfa_but_may_enable_it(client, officer_alice):
    password_login(client, "alice@police.example")
    assert client.get("/profile/").status_code == 200
    assert client.get("/accounts/2fa/").status_code == 200
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    client.post("/accounts/2fa/totp/activate/", {"code": totp_code(page.context["form"].secret)})
    assert Authenticator.objects.filter(user=officer_alice, type="totp").exists()


def test_the_api_ignores_a_staff_session_without_mfa_but_accepts_tokens(client, admin_ada):
    client.force_login(admin_ada)
    assert client.get("/api/v1/editions/").status_code in (401, 403)
    login_with_mfa(client, admin_ada)
    assert client.get("/api/v1/editions/").status_code == 200
    assert api_client_for(admin_ada).get("/api/v1/editions/").status_code == 200
    assert APIClient().get("/api/v1/editions/").status_code in (401, 403)


def test_an_officer_session_reaches_the_api_without_mfa(client, officer_alice):
    client.force_login(officer_alice)
    assert client.get("/api/v1/editions/").status_code == 200


def test_the_django_admin_needs_mfa_and_allauths_login_too(client, db):
    operator = User.objects.create_superuser(email="root@agency.example", password=PASSWORD)
    assert client.get("/django-admin/login/")["Location"].startswith("/accounts/login/")
    client.force_login(operator)
    assert client.get("/django-admin/").status_code == 302  # no MFA in this session
    login_with_mfa(client, operator)
    assert client.get("/django-admin/").status_code == 200
