"""Rate limits (allauth's) and the lockout after repeated failed logins, with clear messages."""

import pytest
from django.core import mail

from accounts.models import AuditEvent
from tests.accounts.conftest import link_in
from tests.conftest import PASSWORD


def attempt(client, password, email="alice@police.example"):
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_five_failures_lock_the_account_even_against_the_right_password(client, officer_alice, settings):
    assert settings.LOGIN_LOCKOUT_ATTEMPTS == 5
    for n in range(5):
        response = attempt(client, f"wrong-password-{n}")
        assert "Too many failed attempts" not in response.content.decode()
    response = attempt(client, PASSWORD)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Too many failed attempts to log in to this account: it is locked for 15 minutes" in body
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login.failed").count() == 5
    assert AuditEvent.objects.get(action="login.locked_out").target == "alice@police.example"


def test_the_lockout_is_per_account(client, officer_alice, officer_bob):
    for n in range(5):
        attempt(client, f"wrong-password-{n}")
    attempt(client, PASSWORD, email="bob@police.example")
    assert client.session["_auth_user_id"] == str(officer_bob.pk)


def test_a_successful_login_before_the_limit_does_not_hide_earlier_failures(client, officer_alice):
    for n in range(4):
        attempt(client, f"wrong-password-{n}")
    attempt(client, PASSWORD)
    assert client.session["_auth_user_id"] == str(officer_alice.pk)
    client.logout()
    # allauth rolls back only the successful attempt: one more failure locks the account.
    attempt(client, "wrong-password-x")
    assert "Too many failed attempts" in attempt(client, PASSWORD).content.decode()


def test_a_password_reset_lifts_the_lockout(client, officer_alice):
    for n in range(5):
        attempt(client, f"wrong-password-{n}")
    client.post("/accounts/password/reset/", {"email": "alice@police.example"})
    page = client.get(link_in(mail.outbox[-1]), follow=True)
    new_password = "a-brand-new-passphrase-7"
    client.post(page.redirect_chain[-1][0], {"password1": new_password, "password2": new_password})
    attempt(client, new_password)
    assert client.session["_auth_user_id"] == str(officer_alice.pk)


@pytest.mark.django_db
def test_sign_up_is_limited_per_address_with_a_clear_page(client):
    statuses = [
        client.post(
            "/accounts/signup/",
            {
                "email": f"x{n}@example.org",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "agency": "A",
                "country": "GB",
            },
        ).status_code
        for n in range(6)
    ]
    assert statuses == [302] * 5 + [429]
    page = client.post("/accounts/signup/", {}).content.decode()
    assert "Too many attempts" in page and "try again" in page


def test_password_reset_requests_are_limited_per_address(client, officer_alice):
    statuses = [
        client.post("/accounts/password/reset/", {"email": "alice@police.example"}).status_code
        for _ in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
    assert len(mail.outbox) == 3
