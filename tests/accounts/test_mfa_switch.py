"""Staff MFA can be switched off only for the local demo, never without DEBUG."""

import subprocess
import sys

import pytest


def test_staff_pages_open_without_mfa_only_when_switched_off(client, analyst_ann, settings):
    client.force_login(analyst_ann)
    assert client.get("/staff/editions/").status_code == 302  # to MFA set-up
    settings.STAFF_MFA_REQUIRED = False
    assert client.get("/staff/editions/").status_code == 200


@pytest.mark.parametrize("debug", ["0", "1"])
def test_switching_mfa_off_needs_debug(debug):
    env = {
        "STAFF_MFA_REQUIRED": "0",
        "DEBUG": debug,
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True
    )
    if debug == "0":
        assert run.returncode != 0 and "STAFF_MFA_REQUIRED=0 is for the local demo only" in run.stderr
    else:
        assert run.returncode == 0, run.stderr
