"""Enqueueing the anonymous side's jobs from other apps' services (after commit)."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_pool_release(edition_id: int) -> None:
    """After commit, ask the worker to release the edition's pool. If the broker is down the periodic
    sweep (responses.pool_release_sweep) does it later, so a failure here is logged, not raised."""

    def send() -> None:
        from responses.tasks import pool_release_task

        try:
            pool_release_task.delay(edition_id)
        except Exception:
            logger.warning("release of edition %s not queued; the periodic sweep will release it", edition_id)

    transaction.on_commit(send)
