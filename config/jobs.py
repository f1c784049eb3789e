"""Queueing Celery jobs after commit without making a request depend on the broker."""

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)

# A few quick tries (well under a second in all), not kombu's default of retrying for longer: the
# request that asked for the job is waiting, and a periodic sweep queues the job again anyway.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def enqueue(task: Task, *args: Any, countdown: float | None = None) -> bool:
    """Send `task(*args)` now (to run `countdown` seconds later); a broker that cannot be reached is
    logged, not raised. Returns whether it was sent."""
    try:
        task.apply_async(args=args, kwargs={}, countdown=countdown, retry=True, retry_policy=_PUBLISH_RETRY)
    except Exception as exc:
        logger.warning("%s not queued (%s): left to the periodic sweep", task.name, type(exc).__name__)
        return False
    return True


def enqueue_on_commit(task: Task, *args: Any) -> None:
    """Send `task(*args)` once the current transaction commits.

    What asked for the job is already stored (a job row, a closed edition) and a beat sweep queues
    every such job that has not run (CELERY_BEAT_SCHEDULE, JOB_SWEEP_SECONDS). So when Redis is
    unreachable the request still succeeds: the failure is logged, and the sweep catches up."""
    transaction.on_commit(lambda: enqueue(task, *args))
