"""Writes of the results app: hiding an answer as an example quote, and showing it again."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from accounts.services import audit_record
from responses.models import Answer
from results.cache import CACHE_ERRORS, results_cache_keys, results_invalidate
from results.models import HiddenQuote
from results.quotes import example_quote_ids, quotable
from results.selectors import RESPONDENTS, edition_results, min_cell, released_count
from surveys.models import Edition, EditionStatus
from surveys.selectors import edition_questionnaire


def _free_text_answer(edition: Edition, answer_id: uuid.UUID) -> Answer:
    """The answer, if it is a free-text answer of this edition (Answer.DoesNotExist otherwise)."""
    return Answer.objects.select_related("item").get(pk=answer_id, item__edition=edition, text__isnull=False)


@transaction.atomic
def quote_hide(*, edition: Edition, answer_id: uuid.UUID, actor: User) -> None:
    answer = _free_text_answer(edition, answer_id)
    HiddenQuote.objects.get_or_create(answer=answer)
    results_invalidate(edition_id=edition.pk)
    # The audit row names the item, not the answer: nothing on the identity side points at an answer.
    audit_record(
        actor=actor, action="results.quote_hidden", target=str(edition), details={"item": answer.item.code}
    )


@transaction.atomic
def quote_show(*, edition: Edition, answer_id: uuid.UUID, actor: User) -> None:
    answer = _free_text_answer(edition, answer_id)
    HiddenQuote.objects.filter(answer=answer).delete()
    results_invalidate(edition_id=edition.pk)
    audit_record(
        actor=actor, action="results.quote_shown", target=str(edition), details={"item": answer.item.code}
    )


def results_warm(*, edition_id: int) -> None:
    """Compute and cache what the first views after a release or a coding change read: every item's
    unfiltered result and its quotes' ids. Pages, charts, the API and the report read these same
    entries (results/cache.py). Filtered views are computed when asked."""
    edition = Edition.objects.exclude(status=EditionStatus.DRAFT).filter(pk=edition_id).first()
    if edition is None:
        return  # gone, or never opened: nothing is shown
    results = edition_results(edition=edition)
    example_quote_ids(edition=edition, results=results["items"])


def results_warmed(*, edition: Edition) -> bool:
    """Whether the cache holds everything `results_warm` computes for the edition now (reads only)."""
    try:
        return _warmed(edition)
    except CACHE_ERRORS:
        return False


def _warmed(edition: Edition) -> bool:
    count = released_count(edition)
    codes = [item.code for item in edition_questionnaire(edition) if item.type != "note"]
    keys = results_cache_keys(
        edition=edition,
        response_count=count,
        filters=(),
        parts={RESPONDENTS: None} | {code: [] for code in codes},
    )
    found = cache.get_many(list(keys.values()))
    if keys[RESPONDENTS] not in found:
        return False
    if found[keys[RESPONDENTS]] < min_cell():
        return True  # nothing is shown, so nothing else is computed
    if len(found) < len(keys):
        return False
    wanted = {item: cats for item, cats in quotable({c: found[keys[c]] for c in codes}).items() if cats}
    quote_keys = results_cache_keys(
        edition=edition, response_count=count, filters=(), parts=wanted, kind="quote-ids"
    )
    return len(cache.get_many(list(quote_keys.values()))) == len(quote_keys)
