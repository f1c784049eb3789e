"""Helpers for the identity-side tests."""

import re
import time
import uuid

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from tests.conftest import TOTP_SECRET


@pytest.fixture(autouse=True)
def _totp_window_tolerance(settings):
    # A code computed at the end of a 30-second window may be checked in the next one.
    settings.MFA_TOTP_TOLERANCE = 1


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    # allauth keeps rate-limit and lockout counters in the cache; each test starts with none
    # (a local-memory cache is shared by LOCATION, hence a fresh one per test).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4()}",
        }
    }


def totp_code(secret: str = TOTP_SECRET, *, window: int = 0) -> str:
    """The authenticator app's code now (window=0) or in the next 30-second window (window=1)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + window))


def link_in(message) -> str:
    """The first link into this site in an e-mail body, as a path."""
    match = re.search(r"https?://[^/\s]+(/\S*)", message.body)
    assert match, message.body
    return match.group(1)
