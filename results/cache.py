"""The results cache: computed results of an edition, kept in Django's cache (Redis in production).

What is cached is what `edition_results` returns: aggregated counts and summaries after disclosure
control (cells and denominators under the minimum already removed), keyed by item and choice or category
codes; and which answers serve as example quotes (results/quotes.py), as answer ids only. Never an
answer's text, and nothing about who answered.

The key rule lives here alone (`results_cache_key`). A key names:
- the edition: its id and its opening time (ids restart when a database is recreated, e.g. between test
  runs, while the cache outlives it);
- the released responses: their number, which every pool release changes (a release only adds rows);
- the coding generation: a token that every write of free-text codes or hidden quotes replaces
  (`results_invalidate`);
- what is cached (results or quote ids) and the request's parameters: filters, items and bins.
Labels and languages are not part of the value (codes only), so they are not part of the key.
Stale entries are never read again once a key part changes; they expire after RESULTS_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from results.selectors import ResultFilter
    from surveys.models import Edition

logger = logging.getLogger(__name__)
# A cache that cannot be reached costs speed, never a page: results are computed instead.
CACHE_ERRORS = (RedisError, ConnectionError, OSError)


def _generation_key(edition_id: int) -> str:
    return f"results:coding-generation:{edition_id}"


def _coding_generation(edition_id: int) -> str:
    key = _generation_key(edition_id)
    token = cache.get(key)
    if token is None:
        cache.add(key, secrets.token_hex(8), timeout=None)
        token = cache.get(key)
    return str(token)


def results_invalidate(*, edition_id: int) -> None:
    """Codes of the edition's free text (or its hidden quotes) changed: what is cached for it is stale
    once this commits."""

    def bump() -> None:
        try:
            cache.set(_generation_key(edition_id), secrets.token_hex(8), timeout=None)
        except CACHE_ERRORS:
            # Cannot be reached now: entries still expire after RESULTS_CACHE_SECONDS.
            logger.warning("results cache unreachable; results of edition %s may be stale", edition_id)

    transaction.on_commit(bump)


def results_cache_key(
    *,
    edition: Edition,
    response_count: int,
    filters: Sequence[ResultFilter],
    item_codes: Iterable[str] | None,
    bins: Mapping[str, Sequence[Decimal]] | None,
    kind: str = "results",
) -> str:
    params = {
        "filters": sorted([f.item_code, sorted(f.choices)] for f in filters),
        "items": sorted(item_codes) if item_codes is not None else None,
        "bins": {code: [str(edge) for edge in edges] for code, edges in sorted((bins or {}).items())},
    }
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]
    opened = edition.opens_at.timestamp() if edition.opens_at else "draft"
    generation = _coding_generation(edition.pk)
    return f"results:{kind}:{edition.pk}:{opened}:{response_count}:{generation}:{digest}"


def results_cached(key_of: Callable[[], str], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The cached value under `key_of()`, or `compute()` stored there; the cache off or unreachable
    just means computing."""
    seconds = int(settings.RESULTS_CACHE_SECONDS)
    if seconds <= 0:
        return compute()
    try:
        key = key_of()
        found = cache.get(key)
    except CACHE_ERRORS:
        logger.warning("results cache unreachable; computing results")
        return compute()
    if found is not None:
        return found  # type: ignore[no-any-return]
    value = compute()
    try:
        cache.set(key, value, timeout=seconds)
    except CACHE_ERRORS:
        logger.warning("results cache unreachable; results not stored")
    return value
