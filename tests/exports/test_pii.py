"""Redaction recall on a planted corpus: personal data of every kind in sentences officers might write.

Run with -s to see the figures (docs/performance.md quotes them)."""

import itertools
import re

import pytest

from exports.anonymise.pii import RedactionStats, redactor

PERSONS = [
    "DS John Smith",
    "Detective Inspector Sarah O'Connor",
    "Sgt. Peter Lindqvist",
    "Kriminalkommissar Jürgen Weber",
    "Officer Maria Gonzalez",
    "Inspecteur Luc Moreau",
    "Mr Ahmed Khan",
    "Dr. Emily Watson",
    "Anna Berg",
    "Lars Eriksson",
    "Fatima Haddad",
    "Tom Jensen",
    "Chief Constable David Brown",
    "Special Agent Kevin Miller",
    "Mrs Olga Petrova",
    "Ingrid Solberg",
    "Marco Rossi",
    "Agent Paula Costa",
]
EMAILS = [
    "john.smith@met.police.uk",
    "s.oconnor@garda.ie",
    "peter.lindqvist@polisen.se",
    "j.weber@bka.bund.de",
    "tips@icac-taskforce.org",
    "maria_g@hotmail.com",
    "analyst7@europol.europa.eu",
    "kevin.miller@ice.dhs.gov",
]
PHONES = [
    "+44 20 7946 0958",
    "+46 8 123 456 78",
    "0171 2345678",
    "(555) 123-4567",
    "555-867-5309",
    "+49 30 901820",
    "020 7946 0018",
    "+1 202 555 0147",
    "0046 70 123 45 67",
    "+33 1 42 68 53 00",
]
URLS = [
    "https://example.org/report",
    "http://darkforum.onion.example/thread/42",
    "www.policeforum.net/login",
    "https://drive.example.com/share/abc123",
    "ftp://files.example.net/case",
]
IDS = [
    "case 2017/12345",
    "Case No. 4711-17",
    "ref AB-2017-00123",
    "incident #88213",
    "file K123456-19",
    "Operation Pacifier",
    "Operation Rescue",
    "operation Blackwrist",
    "report number CR-99812",
    "Aktenzeichen 12 Js 345/17",
    "ticket 2016-004512",
    "IP 192.168.10.23",
]
ORGS = [
    "Kent Police",
    "the Metropolitan Police Service",
    "the Child Exploitation Unit",
    "Europol",
    "the FBI",
    "HSI",
    "the ICAC Task Force",
    "Unit 7",
    "Team 12",
    "the Bundeskriminalamt",
    "Stockholm police",
    "the National Crime Agency",
    "the Police of Catalonia",
    "Cybercrime Squad",
    "RCMP",
]
PLACES = [
    "Malmö",
    "Göteborg",
    "Leeds",
    "Rotterdam",
    "Lyon",
    "Bavaria",
    "Texas",
    "Manchester",
    "Gdansk",
    "221B Baker Street",
    "NW1 6XE",
    "Drottninggatan 12",
    "Auckland",
    "Kraków",
    "Seville",
]
TEMPLATES = [
    "Please contact {} if you need more details.",
    "I discussed this with {} last year.",
    "The information came from {}.",
    "Our numbers were confirmed by {} during the review.",
    "See {} for the full background.",
]
KIND = {}
for values, placeholder in (
    (PERSONS, "[PERSON]"),
    (EMAILS, "[EMAIL]"),
    (PHONES, "[PHONE]"),
    (URLS, "[URL]"),
    (IDS, "[ID]"),
    (ORGS, "[ORG]"),
    (PLACES, "[LOCATION]"),
):
    for value in values:
        KIND[value] = placeholder

CLEAN = [
    "More data and more devices per case",
    "Cloud storage makes seizures slower and encrypted messaging apps are everywhere.",
    "We need better triage tools and more staff to keep up.",
    "Offenders are often teachers, sports coaches or priests.",
    "Most cases involve 40,000 images and about 4.5 hours of video.",
    "The workload increased because of new legislation in 2016.",
    "Collaboration between agencies has improved a lot.",
    "Nothing to add.",
    "Victims are younger than before and abuse is filmed more often.",
    "Training on new forensic tools was the most useful change.",
]


def corpus():
    """Every planted value in a rotating template: 83 values x 3 templates = 249 cases."""
    cases = []
    templates = itertools.cycle(TEMPLATES)
    for value in KIND:
        for _ in range(3):
            cases.append((next(templates).format(value), value))
    return cases


def _sensitive_tokens(value):
    # Words of the planted value that would still identify someone: proper names, numbers, hosts.
    generic = {
        "the",
        "of",
        "unit",
        "team",
        "police",
        "service",
        "task",
        "force",
        "squad",
        "operation",
        "case",
        "ref",
        "file",
        "report",
        "number",
        "ticket",
        "incident",
        "no",
        "ip",
        "www",
        "https",
        "http",
        "aktenzeichen",
        "js",
        "ftp",
        "com",
        "org",
        "net",
        "agent",
        "officer",
        "mr",
        "mrs",
        "dr",
        "ds",
        "sgt",
        "detective",
        "inspector",
        "special",
        "chief",
        "constable",
        "kriminalkommissar",
        "inspecteur",
        "agency",
        "crime",
        "national",
        "street",
    }
    return [t for t in re.findall(r"\w+", value) if t.lower() not in generic and len(t) > 1]


@pytest.fixture(scope="module")
def engine():
    return redactor()


def test_planted_personal_data_is_redacted(engine):
    cases = corpus()
    assert len(cases) >= 200
    removed = typed = 0
    misses = []
    stats = RedactionStats()
    for text, value in cases:
        out = engine.redact(text, stats)
        leaked = [t for t in _sensitive_tokens(value) if re.search(rf"\b{re.escape(t)}\b", out)]
        if not leaked:
            removed += 1
        else:
            misses.append((value, out))
        if KIND[value] in out:
            typed += 1
    recall = removed / len(cases)
    typed_recall = typed / len(cases)
    clean_changed = sum(engine.redact(t) != t for t in CLEAN)
    print(
        f"\nPII recall on {len(cases)} planted cases: {recall:.3f} removed, "
        f"{typed_recall:.3f} with the right placeholder; clean sentences changed: {clean_changed}/10"
    )
    for value, out in misses:
        print("  missed:", value, "→", out)
    assert recall >= 0.95
    assert typed_recall >= 0.80
    assert clean_changed <= 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contact DS John Smith at john.smith@met.police.uk.", "Contact DS [PERSON] at [EMAIL]."),
        # Intranet and reserved domains are not public suffixes, and still name a person.
        ("Ask ann@agency.example or desk-7@unit.local.", "Ask [EMAIL] or [EMAIL]."),
        ("Case 2017/12345 went to Kent Police.", "Case [ID] went to [ORG]."),
        ("Operation Pacifier found servers in Malmö.", "Operation [ID] found servers in [LOCATION]."),
        ("Call +44 20 7946 0958 or see https://example.org/x", "Call [PHONE] or see [URL]"),
    ],
)
def test_each_kind_gets_its_placeholder(engine, text, expected):
    assert engine.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("I am DC Smith, collar number 4521.", "4521"),
        ("My warrant number is 123456 if you need it.", "123456"),
        ("Badge 5512 here, on nights.", "5512"),
        ("PC 1234 from the online team.", "1234"),
        ("PCSO 77810 answered this.", "77810"),
        ("shoulder no. 2231", "2231"),
        ("Service number: A12345.", "A12345"),
        ("my staff ID is 87654", "87654"),
        ("Employee #4471 and payroll number 98765432.", "4471"),
    ],
)
def test_officer_identification_numbers_are_redacted(engine, text, number):
    # A collar, warrant or badge number names one officer as surely as their name does.
    out = engine.redact(text)
    assert number not in out and "[ID]" in out, out


def test_numbers_that_identify_no_one_are_kept(engine):
    text = "I have been an officer for 12 years; our team of 6 had 300 cases, 40 of them with service 24/7."
    assert engine.redact(text) == text
