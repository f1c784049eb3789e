"""Sign-up with e-mail verification, login, logout, password change and reset (allauth, our pages)."""

import pytest
from django.core import mail

from accounts.models import AgencyDomain, AuditEvent, OfficerProfile, Role, User, VettingStatus
from tests.accounts.conftest import link_in
from tests.conftest import PASSWORD

NEW_PASSWORD = "another-long-passphrase-42"


def sign_up(client, email="dana@met.police.uk", **extra):
    data = {
        "email": email,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "agency": "Metropolitan Police",
        "country": "GB",
        "job_title": "Detective sergeant",
        **extra,
    }
    return client.post("/accounts/signup/", data)


def confirm(client, message):
    path = link_in(message)
    assert path.startswith("/accounts/confirm-email/")
    return client.post(path)


@pytest.mark.django_db
def test_signing_up_makes_a_pending_officer_and_sends_a_verification_email(client):
    response = sign_up(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="dana@met.police.uk")
    assert user.has_role(Role.OFFICER)
    profile = user.officer_profile
    assert (profile.vetting_status, profile.agency, profile.country, profile.job_title) == (
        VettingStatus.PENDING,
        "Metropolitan Police",
        "GB",
        "Detective sergeant",
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dana@met.police.uk"]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="officer.signed_up", target="dana@met.police.uk").exists()


@pytest.mark.django_db
def test_nobody_logs_in_before_verifying_the_address(client):
    sign_up(client)
    client.logout()
    response = client.post("/accounts/login/", {"login": "dana@met.police.uk", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1  # the verification e-mail is not resent within its cooldown


@pytest.mark.django_db
def test_confirming_logs_in_and_stays_pending_without_an_allowlisted_domain(client):
    sign_up(client, email="dana@gmail.example")
    response = confirm(client, mail.outbox[0])
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(email="dana@gmail.example").pk)
    profile = OfficerProfile.objects.get(user__email="dana@gmail.example")
    assert profile.vetting_status == VettingStatus.PENDING
    home = client.get("/").content.decode()
    assert "waiting to be vetted" in home


@pytest.mark.django_db
def test_confirming_an_address_on_an_allowlisted_domain_vets_the_officer(client):
    AgencyDomain.objects.create(pattern="*.police.uk", agency="UK police")
    sign_up(client, email="dana@met.police.uk")
    confirm(client, mail.outbox[0])
    profile = OfficerProfile.objects.get(user__email="dana@met.police.uk")
    assert profile.vetting_status == VettingStatus.VETTED
    assert profile.vetted_via == "email_domain"
    event = AuditEvent.objects.get(action="vetting.approved", target="dana@met.police.uk")
    assert event.details == {"via": "email_domain", "rule": "*.police.uk"}


@pytest.mark.django_db
def test_an_unverified_address_on_an_allowlisted_domain_vets_nobody(client):
    AgencyDomain.objects.create(pattern="*.police.uk")
    sign_up(client, email="dana@met.police.uk")
    assert OfficerProfile.objects.get(user__email="dana@met.police.uk").vetting_status == "pending"


@pytest.mark.django_db
def test_sign_up_asks_for_agency_and_country(client):
    response = sign_up(client, agency="", country="")
    assert response.status_code == 200
    assert not User.objects.exists()
    assert response.context["form"].errors.keys() >= {"agency", "country"}


@pytest.mark.django_db
def test_login_and_logout_are_recorded(client, officer_alice):
    client.post("/accounts/login/", {"login": "alice@police.example", "password": PASSWORD})
    assert client.session["_auth_user_id"] == str(officer_alice.pk)
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="login.succeeded")
    assert (event.actor_email, event.details) == (
        "alice@police.example",
        {"method": "password", "mfa": False},
    )


@pytest.mark.django_db
def test_a_failed_login_is_recorded_with_the_account_only_when_it_exists(client, officer_alice):
    client.post("/accounts/login/", {"login": "alice@police.example", "password": "wrong-password-123"})
    client.post("/accounts/login/", {"login": "hunter2hunter2@nowhere.example", "password": "x"})
    targets = list(AuditEvent.objects.filter(action="login.failed").values_list("target", flat=True))
    assert sorted(targets) == ["alice@police.example", "unknown account"]


@pytest.mark.django_db
def test_password_change_is_audited(client, officer_alice):
    client.force_login(officer_alice)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    officer_alice.refresh_from_db()
    assert officer_alice.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="password.changed", target="alice@police.example").exists()


@pytest.mark.django_db
def test_password_reset_by_email_link(client, officer_alice):
    response = client.post("/accounts/password/reset/", {"email": "alice@police.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@police.example"]
    path = link_in(mail.outbox[0])
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    response = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    officer_alice.refresh_from_db()
    assert officer_alice.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="password.reset", target="alice@police.example").exists()


@pytest.mark.django_db
def test_password_reset_for_an_unknown_address_reveals_nothing_on_the_page(client, officer_alice):
    known = client.post("/accounts/password/reset/", {"email": "alice@police.example"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@police.example"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    # The unknown address is told by e-mail that it has no account; no reset link goes there.
    to_unknown = [m for m in mail.outbox if m.to == ["nobody@police.example"]]
    assert len(to_unknown) == 1 and "/accounts/password/reset/key/" not in to_unknown[0].body
