"""The agency domain allowlist: exact domains, explicit subdomain wildcards, and the look-alikes that
must never match."""

import pytest

from accounts.domains import DomainInvalid, email_domain, normalise_pattern, pattern_matches
from accounts.models import AgencyDomain, AuditEvent
from accounts.selectors import agency_domain_for_email
from accounts.services import agency_domain_add
from tests.conftest import PASSWORD, login_with_mfa


@pytest.mark.parametrize(
    ("pattern", "email", "matches"),
    [
        ("police.uk", "a@police.uk", True),
        ("police.uk", "a@POLICE.UK", True),
        ("police.uk", "a@police.uk.", True),  # a trailing dot is the same domain
        ("police.uk", "a@met.police.uk", False),  # exact means exact
        ("police.uk", "a@evilpolice.uk", False),
        ("police.uk", "a@police.uk.evil.com", False),
        ("*.police.uk", "a@met.police.uk", True),
        ("*.police.uk", "a@cyber.met.police.uk", True),
        ("*.police.uk", "a@police.uk", False),  # the wildcard is for subdomains only
        ("*.police.uk", "a@evilpolice.uk", False),
        ("*.police.uk", "a@met.evilpolice.uk", False),
        ("*.police.uk", "a@police.uk.evil.com", False),
        ("*.police.uk", "a@met.police.uk.evil.com", False),
        ("*.police.uk", "a@xpolice.uk", False),
        ("*.police.uk", "a@met-police.uk", False),
        ("*.police.uk", "a@met.p\u043elice.uk", False),  # Cyrillic o: a different domain
        ("*.police.uk", '"a@met.police.uk"@evil.com', False),  # the domain is after the last @
        ("*.police.uk", "met.police.uk", False),  # no @ at all
        ("*.police.uk", "a@", False),
        ("polizei.de", "a@POLIZEI.DE", True),
    ],
)
@pytest.mark.django_db
def test_domain_rules(pattern, email, matches):
    AgencyDomain.objects.create(pattern=normalise_pattern(pattern))
    assert (agency_domain_for_email(email) is not None) is matches
    domain = email_domain(email)
    assert (domain is not None and pattern_matches(normalise_pattern(pattern), domain)) is matches


@pytest.mark.django_db
def test_the_most_specific_entry_wins():
    AgencyDomain.objects.create(pattern="*.police.uk", agency="UK police")
    AgencyDomain.objects.create(pattern="*.met.police.uk", agency="Metropolitan Police")
    assert agency_domain_for_email("a@cyber.met.police.uk").agency == "Metropolitan Police"
    assert agency_domain_for_email("a@kent.police.uk").agency == "UK police"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Police.UK", "police.uk"),
        ("  *.Police.uk. ", "*.police.uk"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
    ],
)
def test_patterns_are_stored_normalised(raw, stored):
    assert normalise_pattern(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "*",
        "*.uk",
        "*police.uk",
        "police.*.uk",
        "police.*",
        ".police.uk",
        "alice@police.uk",
        "-police.uk",
        "police..uk",
        "exa mple.org",
        "a" * 64 + ".uk",
    ],
)
def test_ambiguous_or_overbroad_patterns_are_refused(raw):
    with pytest.raises(DomainInvalid):
        normalise_pattern(raw)


def test_an_administrator_adds_and_removes_a_domain_on_the_page(client, admin_ada):
    client = login_with_mfa(client, admin_ada)
    response = client.post("/staff/people/domains/", {"pattern": "*.Police.UK", "agency": "UK police"})
    assert response.status_code == 302
    domain = AgencyDomain.objects.get()
    assert (domain.pattern, domain.agency, domain.created_by) == ("*.police.uk", "UK police", admin_ada)
    assert "*.police.uk" in client.get("/staff/people/domains/").content.decode()

    refused = client.post("/staff/people/domains/", {"pattern": "*.uk"})
    assert refused.status_code == 200 and "at least two labels" in refused.content.decode()
    duplicate = client.post("/staff/people/domains/", {"pattern": "*.police.uk"})
    assert "already on the allowlist" in duplicate.content.decode()

    client.post(f"/staff/people/domains/{domain.pk}/remove/")
    assert not AgencyDomain.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="domain.").values_list("action", "target"))
    assert sorted(actions) == [("domain.added", "*.police.uk"), ("domain.removed", "*.police.uk")]


def test_a_domain_added_later_vets_a_pending_officer_at_their_next_login(client, pending_pete, admin_ada):
    agency_domain_add(pattern="police.example", agency="Example police", actor=admin_ada)
    client.post("/accounts/login/", {"login": "pete@police.example", "password": PASSWORD})
    pending_pete.officer_profile.refresh_from_db()
    assert pending_pete.officer_profile.vetting_status == "vetted"
    assert pending_pete.officer_profile.agency == "Example police"
