"""Example quotes for coded free text: a few answers per category, with personal data redacted.

Shown only for a category whose count is itself shown (at least RESULTS_MIN_CELL respondents), drawn in
a random order that stays until the item's final codes are written again (coding/finals.py), minus the
answers an analyst hid. Text passes the exports' redaction (exports/anonymise/pii.py) every time it is
shown, after any decision a reviewer made on it for an export (exports/review.py: their text stands; an
answer they left out or withheld is never quoted); only the chosen answer ids are cached
(results/cache.py), never a text.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.text import Truncator

from coding.selectors import coded_answer_sample
from exports.anonymise.pii import WITHHELD, redactor
from exports.review import review_withdrawn, texts_as_reviewed
from results.cache import results_cache_keys, results_cached_many
from results.models import HiddenQuote
from results.selectors import ResultFilter, filtered_response_ids, min_cell, released_count
from surveys.models import Edition

QUOTES_PER_CATEGORY = 3
QUOTE_MAX_CHARS = 300
TEXT_TYPES = ("text", "long_text")


@dataclass(frozen=True)
class Quote:
    answer_id: uuid.UUID
    text: str


def quotable(results: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Coded free-text items → their categories whose counts pass disclosure control."""
    return {
        item_code: [code for code, count in result["counts"].items() if count and count >= min_cell()]
        for item_code, result in results.items()
        if result["type"] in TEXT_TYPES and result["summary"].get("coded") and result["counts"]
    }


def example_quotes(
    *, edition: Edition, results: Mapping[str, Mapping[str, Any]], filters: Sequence[ResultFilter] = ()
) -> dict[str, dict[str, list[Quote]]]:
    """item code → category code → up to QUOTES_PER_CATEGORY redacted quotes, for the items in
    `results` (edition_results' items, computed with the same `filters`)."""
    chosen = example_quote_ids(edition=edition, results=results, filters=filters)
    ids = [uuid.UUID(a) for by_code in chosen.values() for answer_ids in by_code.values() for a in answer_ids]
    # Decisions made since the ids were cached still hold: a withdrawn answer just drops out.
    texts = {pk: text for pk, text in texts_as_reviewed(ids).items() if text != WITHHELD}
    redact = redactor().redact
    return {
        item: {
            code: [
                Quote(uuid.UUID(a), Truncator(redact(texts[uuid.UUID(a)])).chars(QUOTE_MAX_CHARS))
                for a in answer_ids
                if uuid.UUID(a) in texts
            ]
            for code, answer_ids in by_code.items()
        }
        for item, by_code in chosen.items()
    }


def example_quote_ids(
    *, edition: Edition, results: Mapping[str, Mapping[str, Any]], filters: Sequence[ResultFilter] = ()
) -> dict[str, dict[str, list[str]]]:
    """item code → category code → ids (strings) of the answers to quote, from the results cache when it
    holds them (the warm-up calls this: no text is read)."""
    wanted = {item: codes for item, codes in quotable(results).items() if codes}
    if not wanted:
        return {}
    released = released_count(edition)
    return results_cached_many(
        list(wanted),
        # Each item's quotes are their own entry, keyed by the categories quoted.
        lambda: results_cache_keys(
            edition=edition, response_count=released, filters=filters, parts=wanted, kind="quote-ids"
        ),
        lambda missing: _choose(edition, {item: wanted[item] for item in missing}, filters),
    )


def _choose(
    edition: Edition, wanted: Mapping[str, list[str]], filters: Sequence[ResultFilter]
) -> dict[str, Any]:
    """Answer ids (as strings, for the cache) of the quotes to show: item → category → ids."""
    # Hidden by an analyst, or withdrawn by a reviewer.
    not_quoted = set(
        HiddenQuote.objects.filter(
            answer__item__edition=edition, answer__item__code__in=list(wanted)
        ).values_list("answer__item__code", "answer_id")
    ) | review_withdrawn(edition=edition, item_codes=wanted)
    response_ids = filtered_response_ids(edition, filters)
    chosen: dict[str, Any] = {}
    for item, codes in wanted.items():
        skipped = {answer_id for code, answer_id in not_quoted if code == item}
        sample = coded_answer_sample(
            edition_id=edition.pk,
            item_code=item,
            per_category=QUOTES_PER_CATEGORY + len(skipped),
            response_ids=response_ids,
        )
        chosen[item] = {
            code: [str(a) for a in sample.get(code, []) if a not in skipped][:QUOTES_PER_CATEGORY]
            for code in codes
        }
    return chosen
