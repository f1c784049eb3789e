"""`manage.py check --deploy` is clean with production settings (DEBUG off, a real key, a host name,
nothing else set), and it does fail when a production setting is made insecure."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Variables that would change the outcome if inherited from the developer's or CI's shell.
OVERRIDES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_COOKIES",
    "BEHIND_TLS_PROXY",
    "STAFF_MFA_REQUIRED",
)


def deploy_check(tmp_path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "survey.example.org",
        "DATA_DIR": str(tmp_path),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    run = deploy_check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_production_behind_a_tls_proxy_passes_too(tmp_path):
    run = deploy_check(tmp_path, BEHIND_TLS_PROXY="1", SECURE_HSTS_PRELOAD="1")
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("setting", "value", "warning"),
    [
        ("SECURE_SSL_REDIRECT", "0", "security.W008"),
        ("SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("SECURE_COOKIES", "0", "security.W012"),  # SESSION_COOKIE_SECURE (W016 for the CSRF cookie)
        ("SECRET_KEY", "short-and-guessable", "security.W009"),
    ],
)
def test_an_insecure_production_setting_fails_the_deploy_check(tmp_path, setting, value, warning):
    run = deploy_check(tmp_path, **{setting: value})
    assert run.returncode != 0
    assert warning in run.stderr


def test_the_production_defaults_are_the_documented_ones(tmp_path):
    """HSTS for a year with subdomains, preload only by choice; Secure, HttpOnly, SameSite cookies."""
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.CSRF_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE, s.X_FRAME_OPTIONS, "
        "s.SECURE_REFERRER_POLICY, s.SECURE_CROSS_ORIGIN_OPENER_POLICY, s.SECURE_PROXY_SSL_HEADER)"
    )
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": "k" * 60}
    env |= {"DATA_DIR": str(tmp_path)}
    prod = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert prod.stdout.split() == [
        "31536000", "True", "False", "True", "True", "True", "True", "True", "Lax", "Lax", "DENY",
        "same-origin", "same-origin", "None",
    ], prod.stderr  # fmt: skip

    proxied = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env | {"BEHIND_TLS_PROXY": "1"}, capture_output=True,
        text=True,
    )  # fmt: skip
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in proxied.stdout, proxied.stderr

    # `make run`: DEBUG=1 over plain http on loopback: no redirect, no HSTS, cookies without Secure.
    dev = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env | {"DEBUG": "1"}, capture_output=True, text=True
    )
    values = dev.stdout.split()
    assert values[0] == "0" and values[3] == "False" and values[4] == "False", dev.stderr
