"""An administrator resets the two-factor authentication of a staff member who lost their authenticator
and recovery codes: audited, the person told by e-mail, a new authenticator required at next login."""

from allauth.mfa.models import Authenticator

from accounts.models import AuditEvent
from tests.conftest import PASSWORD, login_with_mfa

ROLES_PAGE = "/staff/people/roles/"


def reset_url(user):
    return f"/staff/people/roles/{user.pk}/mfa-reset/"


def test_an_administrator_resets_a_lost_authenticator_and_it_is_audited_and_told(
    client, admin_ada, analyst_ann, mailoutbox, django_capture_on_commit_callbacks
):
    login_with_mfa(client, admin_ada)
    assert reset_url(analyst_ann) in client.get(ROLES_PAGE).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reset_url(analyst_ann))
    assert response.status_code == 302 and response["Location"] == ROLES_PAGE
    assert not Authenticator.objects.filter(user=analyst_ann).exists()
    assert Authenticator.objects.filter(user=admin_ada).exists()
    event = AuditEvent.objects.get(action="mfa.cleared")
    assert (event.actor_email, event.target, event.details) == (
        "ada@agency.example",
        "ann@agency.example",
        {"removed": 1},
    )
    [mail] = mailoutbox
    assert mail.to == ["ann@agency.example"] and "did not ask for this" in mail.body

    client.logout()
    client.post("/accounts/login/", {"login": "ann@agency.example", "password": PASSWORD})
    response = client.get("/staff/editions/")
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


def test_nobody_resets_their_own(client, admin_ada, mailoutbox):
    login_with_mfa(client, admin_ada)
    assert reset_url(admin_ada) not in client.get(ROLES_PAGE).content.decode()
    response = client.post(reset_url(admin_ada), follow=True)
    assert "reset by another administrator" in response.content.decode()
    assert Authenticator.objects.filter(user=admin_ada).exists()
    assert not AuditEvent.objects.filter(action="mfa.cleared").exists() and not mailoutbox


def test_only_administrators_reset_and_only_by_post(client, admin_ada, analyst_ann, officer_alice):
    login_with_mfa(client, analyst_ann)
    assert client.post(reset_url(admin_ada)).status_code == 403
    assert Authenticator.objects.filter(user=admin_ada).exists()

    login_with_mfa(client, admin_ada)
    assert client.get(reset_url(analyst_ann)).status_code == 405
    assert client.post(reset_url(officer_alice)).status_code == 404  # officers are not on the roles page
    assert Authenticator.objects.filter(user=analyst_ann).exists()
