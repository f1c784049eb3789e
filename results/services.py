"""Writes of the results app: hiding an answer as an example quote, and showing it again."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from accounts.services import audit_record
from responses.models import Answer, Response
from results.cache import CACHE_ERRORS, results_cache_keys, results_invalidate
from results.models import HiddenQuote
from results.quotes import example_quote_ids, quotable
from results.selectors import RESPONDENTS, edition_results, min_cell, released_count
from results.tallies import filter_tallies_current, filter_tallies_refresh
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
    entries (results/cache.py). Filtered views are computed when asked, from the pair counts this
    counts again after a release (results/tallies.py) for the filters the pages offer."""
    edition = Edition.objects.exclude(status=EditionStatus.DRAFT).filter(pk=edition_id).first()
    if edition is None:
        return  # gone, or never opened: nothing is shown
    results = edition_results(edition=edition)
    example_quote_ids(edition=edition, results=results["items"])
    # After the unfiltered entries, which the first views read: this takes longer (seconds at 100,000).
    filter_tallies_refresh(edition_id=edition.pk)


def results_keep_warm() -> int:
    """Keep the warm entries of every published edition with released responses from expiring while
    they are current: renew their time to live, and compute any that are missing (results_warm), so the
    first view an hour or a month after a release is still served from the cache. Stale entries (an
    older release or coding generation) are left to expire. Run by beat more often than entries expire
    (RESULTS_CACHE_SECONDS), and count the filters' tallies if a warm-up did not (results/tallies.py);
    returns how many editions it looked at."""
    seconds = int(settings.RESULTS_CACHE_SECONDS)
    if seconds <= 0:
        return 0
    editions = Edition.objects.exclude(status=EditionStatus.DRAFT).filter(
        pk__in=Response.objects.values("edition_id")
    )
    count = 0
    for edition in editions:
        try:
            keys, complete = _warm_entries(edition)
            for key in keys:
                cache.touch(key, seconds)
        except CACHE_ERRORS:
            return count  # nothing to keep; the cache computes when it is back
        if not complete or not filter_tallies_current(edition_id=edition.pk):
            results_warm(edition_id=edition.pk)
        count += 1
    return count


def results_warmed(*, edition: Edition) -> bool:
    """Whether the cache holds everything `results_warm` computes for the edition now (reads only)."""
    try:
        return _warm_entries(edition)[1]
    except CACHE_ERRORS:
        return False


def _warm_entries(edition: Edition) -> tuple[list[str], bool]:
    """The keys of what `results_warm` computes for the edition now that the cache holds, and whether it
    holds all of them."""
    count = released_count(edition)
    codes = [item.code for item in edition_questionnaire(edition) if item.type != "note"]
    keys = results_cache_keys(
        edition=edition,
        response_count=count,
        filters=(),
        parts={RESPONDENTS: None} | {code: [] for code in codes},
    )
    found = cache.get_many(list(keys.values()))
    present = list(found)
    if keys[RESPONDENTS] not in found:
        return present, False
    if found[keys[RESPONDENTS]] < min_cell():
        return present, True  # nothing is shown, so nothing else is computed
    if len(found) < len(keys):
        return present, False
    wanted = {item: cats for item, cats in quotable({c: found[keys[c]] for c in codes}).items() if cats}
    quote_keys = results_cache_keys(
        edition=edition, response_count=count, filters=(), parts=wanted, kind="quote-ids"
    )
    quotes_found = list(cache.get_many(list(quote_keys.values())))
    return present + quotes_found, len(quotes_found) == len(quote_keys)
