"""Celery entry points: ids in, one service call, nothing sensitive in arguments or results."""

from celery import shared_task

from surveys import services


@shared_task(name="surveys.editions_close_due")
def editions_close_due_task() -> None:
    services.editions_close_due()
