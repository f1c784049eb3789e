"""The results cache: computed results of an edition, kept in Django's cache (Redis in production).

What is cached is what `edition_results` returns: aggregated counts and summaries after disclosure
control (cells and denominators under the minimum already removed), keyed by item and choice or category
codes; and which answers serve as example quotes (results/quotes.py), as answer ids only. Never an
answer's text, and nothing about who answered.

The key rule lives here alone (`results_cache_keys`). Entries are per part (one item's result, one item's
quote ids, the respondents' total), so every page, chart, the API and the report read the same entries
and a warm-up of the whole edition (results/services.py::results_warm) serves them all. A key names:
- the edition: its id and its opening time (ids restart when a database is recreated, e.g. between test
  runs, while the cache outlives it);
- the released responses: their number, which every pool release changes (a release only adds rows);
- the coding generation: a token that every write of free-text codes or hidden quotes replaces
  (`results_invalidate`);
- what is cached (results or quote ids), the part (an item code or the total), the request's filters and
  the part's own parameters (that item's bins; the categories quoted).
Labels and languages are not part of the value (codes only), so they are not part of the key.
Stale entries are never read again once a key part changes; they expire after RESULTS_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
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


def coding_generation(edition_id: int) -> str | None:
    """The edition's current coding generation, or None when the cache cannot be reached (then nothing
    counted under a generation can be known current)."""
    try:
        return _coding_generation(edition_id)
    except CACHE_ERRORS:
        return None


def results_invalidate(*, edition_id: int) -> None:
    """Codes of the edition's free text (or its hidden quotes) changed: what is cached for it is stale
    once this commits, and a warm-up computes it again (debounced: results/jobs.py)."""
    from results.jobs import results_warm_soon

    transaction.on_commit(lambda: results_stale(edition_id=edition_id))
    # Registered after the bump, so it runs after it: the warm-up computes under the new generation.
    results_warm_soon(edition_id=edition_id, debounce=True)


def results_stale(*, edition_id: int) -> None:
    """Make every cached entry of the edition stale now: a new coding generation."""
    try:
        cache.set(_generation_key(edition_id), secrets.token_hex(8), timeout=None)
    except CACHE_ERRORS:
        # Cannot be reached now: entries still expire after RESULTS_CACHE_SECONDS.
        logger.warning("results cache unreachable; results of edition %s may be stale", edition_id)


def results_warm_claim(*, edition_id: int, seconds: int) -> bool:
    """True for the first caller in `seconds` (it queues the warm-up), False for the others and when the
    cache cannot be reached (then there is nothing to warm, and the broker is the same Redis)."""
    try:
        return bool(cache.add(f"results:warm-queued:{edition_id}", 1, timeout=seconds))
    except CACHE_ERRORS:
        return False


def results_cache_keys(
    *,
    edition: Edition,
    response_count: int,
    filters: Sequence[ResultFilter],
    parts: Mapping[str, Any],
    kind: str = "results",
) -> dict[str, str]:
    """One key per cached part: an item's result (or quote ids), or the respondents' total. A part's
    value depends on the edition, the released responses, the coding generation, the filters and its
    own parameters (`parts[name]`: an item's histogram bins, the categories to quote), so any set of
    items is served by the same entries: a page, a chart, the API and the report share them."""
    opened = edition.opens_at.timestamp() if edition.opens_at else "draft"
    generation = _coding_generation(edition.pk)
    chosen = sorted([f.item_code, sorted(f.choices)] for f in filters)
    keys = {}
    for name, own in parts.items():
        params = {"filters": chosen, "part": name, "own": own}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
        keys[name] = f"results:{kind}:{edition.pk}:{opened}:{response_count}:{generation}:{digest}"
    return keys


def results_cached_many(
    names: Sequence[str],
    keys_of: Callable[[], Mapping[str, str]],
    compute: Callable[[list[str]], Mapping[str, Any]],
) -> dict[str, Any]:
    """name -> value: read from the cache under `keys_of()[name]`; the names it lacks are computed
    together (`compute(missing)`, one pass over the database) and stored. The cache off or unreachable
    just means computing."""
    seconds = int(settings.RESULTS_CACHE_SECONDS)
    if seconds <= 0:
        return dict(compute(list(names)))
    try:
        keys = keys_of()
        found = cache.get_many([keys[name] for name in names])
    except CACHE_ERRORS:
        logger.warning("results cache unreachable; computing results")
        return dict(compute(list(names)))
    values = {name: found[keys[name]] for name in names if keys[name] in found}
    missing = [name for name in names if name not in values]
    if missing:
        computed = compute(missing)
        try:
            cache.set_many({keys[name]: computed[name] for name in missing}, timeout=seconds)
        except CACHE_ERRORS:
            logger.warning("results cache unreachable; results not stored")
        values |= {name: computed[name] for name in missing}
    return values
