"""Queueing the results warm-up (results_warm_task) from other apps' services, after commit."""

from django.conf import settings
from django.db import transaction

from config.jobs import enqueue
from results.cache import results_warm_claim


def results_warm_soon(*, edition_id: int, debounce: bool) -> None:
    """Once the transaction commits, queue a warm-up of the edition's results, so the first view after a
    change is served from the cache.

    A release warms at once. Coding writes are debounced: the first write of a window of
    RESULTS_WARM_DEBOUNCE_SECONDS queues one warm-up that runs at the end of that window, and the writes
    within it queue nothing, so a coding session recomputes at most once per window, with the codes it
    has by then (a view before that computes for itself: the cache key already changed)."""

    if int(settings.RESULTS_CACHE_SECONDS) <= 0:
        return  # the cache is off: nothing would keep what a warm-up computes

    def send() -> None:
        from results.tasks import results_warm_task

        delay = int(settings.RESULTS_WARM_DEBOUNCE_SECONDS) if debounce else 0
        if delay and not results_warm_claim(edition_id=edition_id, seconds=delay):
            return  # a warm-up is already queued to run after this write
        enqueue(results_warm_task, edition_id, countdown=delay or None)

    transaction.on_commit(send)
