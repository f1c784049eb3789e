"""Celery entry points of exports: ids in, one service call, no results stored."""

from celery import shared_task

from exports import services


# acks_late (settings): a worker that dies mid-job leaves the message to be delivered again; the
# job row decides whether that delivery runs (exports/services.py::export_run).
@shared_task(name="exports.export_run")
def export_run_task(job_id: str) -> None:
    services.export_run(job_id=job_id)


@shared_task(name="exports.exports_expire")
def exports_expire_task() -> None:
    services.exports_expire()


@shared_task(name="exports.exports_requeue_stale")
def exports_requeue_stale_task() -> None:
    services.exports_requeue_stale()
