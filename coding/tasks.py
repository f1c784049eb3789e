"""Celery entry points of coding: a run id in, one service call, nothing stored or returned."""

from celery import shared_task

from coding import services


@shared_task(name="coding.run", acks_late=True, ignore_result=True)
def coding_run_task(run_id: str) -> None:
    services.coding_run_execute(run_id=run_id)
