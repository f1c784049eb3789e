"""Agency single sign-on: an administrator adds an OpenID Connect provider; an officer arriving
through it is vetted by that agency's rule. The provider is simulated at the HTTP level."""

import json
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from accounts.models import AgencyDomain, AgencyProvider, AuditEvent, Role, SsoVettingRule, User
from accounts.services import ProviderInvalid, officer_vetting_reject, sso_provider_create
from tests.conftest import login_with_mfa

ISSUER = "https://idp.kent.police.example"


class FakeIdP:
    """Answers allauth's requests as a provider would: discovery, token endpoint, userinfo."""

    def __init__(self, claims):
        self.claims = claims
        self.token_requests = []

    def respond(self, method, url, **kwargs):
        if url == f"{ISSUER}/.well-known/openid-configuration":
            body = {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "userinfo_endpoint": f"{ISSUER}/userinfo",
                "jwks_uri": f"{ISSUER}/jwks",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        elif url == f"{ISSUER}/token":
            self.token_requests.append(kwargs.get("data") or {})
            now = int(time.time())
            id_token = jwt.encode(
                {"iss": ISSUER, "aud": "survey-client", "iat": now, "exp": now + 300, **self.claims},
                "not-checked-when-fetched-directly",
                algorithm="HS256",
            )
            body = {"access_token": "at", "token_type": "Bearer", "id_token": id_token}
        elif url == f"{ISSUER}/userinfo":
            body = self.claims
        else:
            raise AssertionError(f"unexpected request to {url}")
        response = requests.Response()
        response.status_code = 200
        response.headers["content-type"] = "application/json"
        response._content = json.dumps(body).encode()
        return response


@pytest.fixture
def kent(admin_ada):
    def make(rule):
        return sso_provider_create(
            slug="kent-police",
            name="Kent Police",
            server_url=ISSUER,
            client_id="survey-client",
            secret="s3cret",
            agency="Kent Police",
            country="GB",
            vetting_rule=rule,
            actor=admin_ada,
        )

    return make


def sign_in_through(client, monkeypatch, claims):
    idp = FakeIdP(claims)
    monkeypatch.setattr(requests.Session, "request", idp.respond)
    start = client.post("/accounts/oidc/kent-police/login/")
    assert start.status_code == 302 and start["Location"].startswith(f"{ISSUER}/authorize")
    query = parse_qs(urlparse(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]  # PKCE
    callback = client.get(
        "/accounts/oidc/kent-police/login/callback/", {"code": "auth-code", "state": query["state"][0]}
    )
    return callback, idp


CLAIMS = {"sub": "k-1234", "email": "dana@kent.police.uk", "email_verified": True}


def test_a_trusted_agency_provider_vets_the_officer_on_arrival(client, kent, monkeypatch):
    kent(SsoVettingRule.TRUSTED)
    response, idp = sign_in_through(client, monkeypatch, CLAIMS)
    assert response.status_code == 302
    user = User.objects.get(email="dana@kent.police.uk")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.has_role(Role.OFFICER) and not user.has_usable_password()
    profile = user.officer_profile
    assert (profile.vetting_status, profile.vetted_via, profile.agency, profile.country) == (
        "vetted",
        "single_sign_on",
        "Kent Police",
        "GB",
    )
    assert SocialAccount.objects.get(user=user).provider == "kent-police"
    assert idp.token_requests[0]["code_verifier"]
    login = AuditEvent.objects.get(action="login.succeeded")
    assert login.details == {"method": "single_sign_on", "mfa": False}
    assert AuditEvent.objects.get(action="vetting.approved").details == {
        "via": "single_sign_on",
        "provider": "kent-police",
    }


def test_a_review_provider_leaves_the_officer_pending(client, kent, monkeypatch):
    kent(SsoVettingRule.REVIEW)
    sign_in_through(client, monkeypatch, CLAIMS)
    assert User.objects.get(email="dana@kent.police.uk").officer_profile.vetting_status == "pending"


def test_a_domain_provider_vets_only_allowlisted_verified_addresses(client, kent, monkeypatch):
    kent(SsoVettingRule.DOMAINS)
    AgencyDomain.objects.create(pattern="*.police.uk")
    sign_in_through(client, monkeypatch, CLAIMS)
    assert User.objects.get(email="dana@kent.police.uk").officer_profile.vetting_status == "vetted"
    client.logout()
    sign_in_through(client, monkeypatch, {"sub": "k-9", "email": "eve@gmail.example", "email_verified": True})
    assert User.objects.get(email="eve@gmail.example").officer_profile.vetting_status == "pending"


def test_the_provider_cannot_vouch_for_a_rejected_officer(client, kent, monkeypatch, admin_ada):
    kent(SsoVettingRule.REVIEW)
    sign_in_through(client, monkeypatch, CLAIMS)
    user = User.objects.get(email="dana@kent.police.uk")
    officer_vetting_reject(profile=user.officer_profile, actor=admin_ada, reason="Left the force.")
    AgencyProvider.objects.update(vetting_rule=SsoVettingRule.TRUSTED)
    client.logout()
    sign_in_through(client, monkeypatch, CLAIMS)
    user.officer_profile.refresh_from_db()
    assert user.officer_profile.vetting_status == "rejected"


def test_an_administrator_adds_and_removes_a_provider_on_the_page(client, admin_ada):
    client = login_with_mfa(client, admin_ada)
    response = client.post(
        "/staff/people/sso/",
        {
            "name": "Kent Police",
            "slug": "kent-police",
            "server_url": ISSUER,
            "client_id": "survey-client",
            "secret": "s3cret",
            "agency": "Kent Police",
            "country": "GB",
            "vetting_rule": "trusted",
        },
    )
    assert response.status_code == 302
    app = SocialApp.objects.get(provider_id="kent-police")
    assert (app.provider, app.settings, app.agency_provider.vetting_rule) == (
        "openid_connect",
        {"server_url": ISSUER},
        "trusted",
    )
    page = client.get("/staff/people/sso/").content.decode()
    assert "/accounts/oidc/kent-police/login/callback/" in page and "s3cret" not in page
    assert "Kent Police" in Client().get("/accounts/login/").content.decode()
    event = AuditEvent.objects.get(action="sso.provider_added")
    assert "s3cret" not in json.dumps(event.details)

    client.post(f"/staff/people/sso/{app.agency_provider.pk}/delete/")
    assert not SocialApp.objects.exists() and not AgencyProvider.objects.exists()
    assert AuditEvent.objects.filter(action="sso.provider_removed", target="kent-police").exists()


def test_a_provider_must_use_https_and_a_free_identifier(kent, admin_ada):
    kent(SsoVettingRule.REVIEW)
    with pytest.raises(ProviderInvalid, match="already exists"):
        kent(SsoVettingRule.REVIEW)
    with pytest.raises(ProviderInvalid, match="https"):
        sso_provider_create(
            slug="other",
            name="Other",
            server_url="http://idp.example",
            client_id="c",
            secret="s",
            agency="Other",
            vetting_rule=SsoVettingRule.REVIEW,
            actor=admin_ada,
        )
