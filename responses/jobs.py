"""Enqueueing the anonymous side's jobs from other apps' services (after commit)."""

from config.jobs import enqueue_on_commit


def enqueue_pool_release(edition_id: int) -> None:
    """After commit, ask the worker to release the edition's pool. If the broker is down the periodic
    sweep (responses.pool_release_sweep) releases it later, so the close still succeeds."""
    from responses.tasks import pool_release_task

    enqueue_on_commit(pool_release_task, edition_id)
