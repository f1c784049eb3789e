"""The fixed cast every test uses, and the reference questionnaires as editions."""

import time
from datetime import timedelta

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_token_create, user_create
from surveys import services
from surveys.reference import REFERENCE_DIR

PASSWORD = "correct-horse-battery-staple"
# Administrators and analysts must pass MFA; the cast's staff have this TOTP secret (base32).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(autouse=True, scope="session")
def _plain_http():
    """The test client and the live server speak plain HTTP; production redirects it to HTTPS.

    Session-wide, before the live server's handler reads it (tests/security checks the redirect)."""
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Production serves hashed files from a collectstatic manifest; tests render pages without one.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Every opened edition gets a ballot key; the smallest allowed size keeps key generation quick.
    settings.BALLOT_KEY_BITS = 2048


def with_totp(user):
    TOTP.activate(user, TOTP_SECRET)
    return user


@pytest.fixture
def admin_ada(db):
    return with_totp(user_create(email="ada@agency.example", role=Role.ADMINISTRATOR, password=PASSWORD))


@pytest.fixture
def analyst_ann(db):
    return with_totp(user_create(email="ann@agency.example", role=Role.ANALYST, password=PASSWORD))


def login_with_mfa(client, user):
    """Log `user` in as if through the full login flow, password and authenticator code included.

    allauth keeps a record of each authentication step in the session; staff pages look for the
    "mfa" step (accounts/access.py). Plain `force_login` is a session that never passed MFA."""
    client.force_login(user)
    session = client.session
    now = time.time()
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": now, "email": user.email},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


@pytest.fixture
def officer_alice(db):
    return user_create(email="alice@police.example", role=Role.OFFICER, password=PASSWORD, vetted=True)


@pytest.fixture
def officer_bob(db):
    return user_create(email="bob@police.example", role=Role.OFFICER, password=PASSWORD, vetted=True)


@pytest.fixture
def pending_pete(db):
    return user_create(email="pete@police.example", role=Role.OFFICER, password=PASSWORD)


@pytest.fixture
def outsider_charlie(db):
    from accounts.models import User

    return User.objects.create_user(email="charlie@elsewhere.example", password=PASSWORD)


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")
    return client


@pytest.fixture
def series(db):
    return services.series_get_or_create(slug="law-enforcement-survey", title="Annual law-enforcement survey")


def import_reference(series, label: str):
    with (REFERENCE_DIR / f"netclean-{label}.xlsx").open("rb") as fh:
        definition = services.definition_from_upload(fileobj=fh, filename=fh.name)
    return services.edition_import_definition(series=series, label=label, definition=definition)


@pytest.fixture
def draft_2017(series):
    return import_reference(series, "2017")


@pytest.fixture
def open_2017(draft_2017):
    return services.edition_open(edition=draft_2017, closes_at=timezone.now() + timedelta(days=30))
