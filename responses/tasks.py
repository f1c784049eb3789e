"""Celery entry points of the anonymous side: ids in, one service call, no results stored."""

from celery import shared_task

from responses import services


@shared_task(name="responses.pool_release", acks_late=True)
def pool_release_task(edition_id: int) -> None:
    services.pool_release(edition_id=edition_id)


@shared_task(name="responses.pool_release_sweep")
def pool_release_sweep_task() -> None:
    services.pool_release_sweep()


@shared_task(name="responses.pool_release_midway")
def pool_release_midway_task() -> None:
    services.pool_release_midway()


@shared_task(name="responses.pool_keys_replenish")
def pool_keys_replenish_task() -> None:
    services.pool_keys_replenish()
