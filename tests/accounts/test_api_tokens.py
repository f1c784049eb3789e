"""Staff API tokens: created only on the MFA-gated page (or by createuser), shown once, revocable."""

from datetime import timedelta

from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from accounts.services import api_token_create, api_tokens_purge_expired
from tests.conftest import api_client_for, login_with_mfa


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_staff_member_creates_a_token_that_works_and_is_shown_once(client, analyst_ann):
    client = login_with_mfa(client, analyst_ann)
    response = client.post("/staff/people/tokens/")
    key = response.context["new_key"]
    assert key and key in response.content.decode()
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert token_client(key).get("/api/v1/editions/").status_code == 200
    assert key not in client.get("/staff/people/tokens/").content.decode()
    assert AuditEvent.objects.filter(action="api_token.created", target="ann@agency.example").exists()


def test_no_token_without_mfa(client, analyst_ann):
    client.force_login(analyst_ann)
    response = client.post("/staff/people/tokens/")
    assert response.status_code == 302 and "/accounts/2fa/reauthenticate/" in response["Location"]
    assert not AuthToken.objects.exists()


def test_officers_cannot_create_tokens_here(client, officer_alice):
    client.force_login(officer_alice)
    assert client.post("/staff/people/tokens/").status_code == 403
    assert not AuthToken.objects.exists()


def test_a_revoked_token_stops_working(client, analyst_ann):
    api = api_client_for(analyst_ann)
    token = AuthToken.objects.get(user=analyst_ann)
    assert api.get("/api/v1/editions/").status_code == 200
    login_with_mfa(client, analyst_ann).post(f"/staff/people/tokens/{token.digest}/revoke/")
    assert api.get("/api/v1/editions/").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked", actor_email="ann@agency.example").exists()


def test_administrators_may_revoke_anyones_token_analysts_only_their_own(client, admin_ada, analyst_ann):
    api_client_for(admin_ada)
    ada_token = AuthToken.objects.get(user=admin_ada)
    ann = login_with_mfa(client, analyst_ann)
    assert ann.post(f"/staff/people/tokens/{ada_token.digest}/revoke/").status_code == 404
    assert AuthToken.objects.filter(pk=ada_token.pk).exists()

    api_client_for(analyst_ann)
    ann_token = AuthToken.objects.get(user=analyst_ann)
    ada = login_with_mfa(client, admin_ada)
    assert "ann@agency.example" in ada.get("/staff/people/tokens/").content.decode()
    ada.post(f"/staff/people/tokens/{ann_token.digest}/revoke/")
    assert not AuthToken.objects.filter(pk=ann_token.pk).exists()


def test_an_expired_token_is_refused_and_the_daily_job_purges_expired_ones(officer_alice, officer_bob):
    expired, current = api_token_create(user=officer_alice), api_token_create(user=officer_bob)
    AuthToken.objects.filter(user=officer_alice).update(expiry=timezone.now() - timedelta(seconds=1))
    refused = APIClient(HTTP_AUTHORIZATION=f"Token {expired}").get("/api/v1/editions/")
    assert refused.status_code == 401
    assert APIClient(HTTP_AUTHORIZATION=f"Token {current}").get("/api/v1/editions/").status_code == 200
    # Authenticating does not sweep other users' expired tokens; the daily job does.
    api_token_create(user=officer_alice)
    AuthToken.objects.filter(user=officer_alice).update(expiry=timezone.now() - timedelta(seconds=1))
    assert APIClient(HTTP_AUTHORIZATION=f"Token {current}").get("/api/v1/editions/").status_code == 200
    assert AuthToken.objects.filter(user=officer_alice).count() == 1
    assert api_tokens_purge_expired() == 1
    assert list(AuthToken.objects.values_list("user_id", flat=True)) == [officer_bob.pk]
