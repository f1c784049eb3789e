"""Celery entry points of results: an edition id in, one service call, nothing stored or returned."""

from celery import shared_task

from results import services


@shared_task(name="results.warm", ignore_result=True)
def results_warm_task(edition_id: int) -> None:
    services.results_warm(edition_id=edition_id)


@shared_task(name="results.keep_warm", ignore_result=True)
def results_keep_warm_task() -> None:
    services.results_keep_warm()
