"""Helpers for the browser tests."""

import json

DRAFT_PREFIX = "vetted-survey:draft:v1:"  # static/js/portal.js
BALLOT_PREFIX = "vetted-survey:ballot:v1:"  # static/js/portal.js


def drafts(page) -> dict[str, dict]:
    """The portal drafts in this page's localStorage, by key."""
    raw = page.evaluate(
        """prefix => Object.fromEntries(Object.keys(localStorage)
             .filter(k => k.startsWith(prefix)).map(k => [k, localStorage.getItem(k)]))""",
        DRAFT_PREFIX,
    )
    return {key: json.loads(value) for key, value in raw.items()}


def ballot_key(edition, officer) -> str:
    """Where portal.js keeps an officer's ballot for an edition in localStorage (never sent anywhere)."""
    return f"{BALLOT_PREFIX}{edition.pk}:{officer.pk}"


def ballots(page) -> dict[str, dict]:
    """The ballots in this page's localStorage, by key."""
    raw = page.evaluate(
        """prefix => Object.fromEntries(Object.keys(localStorage)
             .filter(k => k.startsWith(prefix)).map(k => [k, localStorage.getItem(k)]))""",
        BALLOT_PREFIX,
    )
    return {key: json.loads(value) for key, value in raw.items()}
