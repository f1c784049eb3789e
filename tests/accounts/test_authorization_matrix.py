"""Walks every URL pattern as anonymous, pending officer, vetted officer, analyst and administrator,
and checks each answer against docs/authorization.md. A URL missing from the document fails the test.

Outcomes in the document: ok (200), login (redirect to the login page), redirect (any other
redirect), or a status code (401, 403, 404, 405). Every request is a GET; for a POST-only view the
document says 405 for whoever passes the access check, which runs first.
Set AUTHZ_DUMP=<directory> to write what each role observed (to add rows for new URLs; then check
each cell).
"""

import fnmatch
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import AgencyDomain, AgencyProvider, SsoVettingRule
from accounts.services import api_token_create, invitations_issue
from surveys import services as survey_services
from tests.conftest import import_reference, login_with_mfa

MATRIX = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
ROLES = ["anonymous", "pending", "officer", "analyst", "administrator"]
CAST = {
    "pending": "pending_pete",
    "officer": "officer_alice",
    "analyst": "analyst_ann",
    "administrator": "admin_ada",
}


def url_patterns(patterns=None, prefix="", namespace=""):
    """(key, route, pattern) for every endpoint: key is namespace:name, or the route when unnamed."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(part for part in (namespace, p.namespace or "") if part)
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = ":".join(part for part in (namespace, p.name) if part) if p.name else ""
            yield name or prefix + str(p.pattern), prefix + str(p.pattern), p


def read_matrix() -> dict[str, dict[str, str]]:
    rows = {}
    for line in MATRIX.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(ROLES) + 1 or not cells[0].startswith("`"):
            continue
        rows[cells[0].strip("`")] = dict(zip(ROLES, cells[1:], strict=True))
    return rows


def row_for(key: str, rows: dict[str, dict[str, str]]) -> dict[str, str] | None:
    if key in rows:
        return rows[key]
    globs = [k for k in rows if "*" in k and fnmatch.fnmatchcase(key, k)]
    return rows[max(globs, key=len)] if globs else None


def test_every_url_pattern_is_in_the_matrix():
    rows = read_matrix()
    missing = sorted({key for key, _, _ in url_patterns() if row_for(key, rows) is None})
    assert not missing, f"add these URLs to {MATRIX.name}:\n" + "\n".join(missing)


@pytest.fixture
def objects(open_2017, pending_pete, admin_ada, analyst_ann):
    """What parameterised URLs point at."""
    [(invitation, code)] = invitations_issue(
        agency="Kent Police",
        count=1,
        max_uses=1,
        expires_at=timezone.now() + timedelta(days=9),
        actor=admin_ada,
    )
    app = SocialApp.objects.create(
        provider="openid_connect",
        provider_id="kent-police",
        name="Kent",
        client_id="c",
        secret="s",
        settings={"server_url": "https://idp.example"},
    )
    api_token_create(user=analyst_ann)
    return {
        "edition_id": open_2017.pk,
        # Another edition of the series: an edition is never compared with itself (404).
        "previous_id": survey_services.edition_open(
            edition=import_reference(open_2017.series, "2016"), closes_at=open_2017.closes_at
        ).pk,
        "item_code": "workload_reasons",
        "profile_id": pending_pete.officer_profile.pk,
        "domain_id": AgencyDomain.objects.create(pattern="police.example").pk,
        "invitation_id": invitation.pk,
        "code": code,
        "provider_id": AgencyProvider.objects.create(
            app=app, agency="Kent", vetting_rule=SsoVettingRule.REVIEW
        ).pk,
        "digest": AuthToken.objects.get(user=analyst_ann).digest,
        "user_id": analyst_ann.pk,
        # Ids of things that do not exist here: an authorised request gets 404.
        "answer_id": uuid.uuid4(),
        "job_id": uuid.uuid4(),
        "export_id": uuid.uuid4(),
        "run_id": uuid.uuid4(),
        "token": "not-a-token",
        "key": "not-a-key",
        "uidb36": "0",
        "content_type_id": "1",
        "object_id": "1",
        "app_label": "accounts",
        "url": "nowhere/",
    }


# Parameters whose value depends on the URL (same name, different meaning).
OVERRIDES = {
    "openid_connect_login": {"provider_id": "kent-police"},
    "openid_connect_callback": {"provider_id": "kent-police"},
}


def path_for(key, route, pattern, objects):
    names = list(pattern.pattern.converters) or re.findall(r"\(\?P<(\w+)>", route)
    values = {n: OVERRIDES.get(key, {}).get(n, objects.get(n)) for n in names}
    if "/" not in key:  # a URL name
        return reverse(key, kwargs=values)
    path = route
    for n, v in values.items():
        path = re.sub(rf"\(\?P<{n}>[^)]*\)|<(?:\w+:)?{n}>", str(v), path)
    return "/" + path.replace("^", "").replace("$", "")


def outcome(response) -> str:
    if response.status_code == 200:
        return "ok"
    if response.status_code in (301, 302):
        return "login" if response["Location"].startswith(reverse("account_login")) else "redirect"
    return str(response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_each_url_answers_each_role_as_the_matrix_says(role, request, objects, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    rows = read_matrix()
    user = request.getfixturevalue(CAST[role]) if role in CAST else None
    observed, wrong = {}, []
    for key, route, pattern in url_patterns():
        client = Client(raise_request_exception=False)
        if user is not None:
            if role in ("analyst", "administrator"):
                login_with_mfa(client, user)
            else:
                client.force_login(user)
        path = path_for(key, route, pattern, objects)
        got = outcome(client.get(path))
        observed[key] = got
        row = row_for(key, rows)
        if row is not None and row[role] != got:
            wrong.append(f"{key} ({path}): matrix says {row[role]}, got {got}")
    if os.environ.get("AUTHZ_DUMP"):
        (Path(os.environ["AUTHZ_DUMP"]) / f"authz-{role}.tsv").write_text(
            "".join(f"{k}\t{v}\n" for k, v in observed.items())
        )
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
