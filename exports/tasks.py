"""Celery entry points of exports: ids in, one service call, no results stored."""

from celery import shared_task

from exports import services


# acks_late (settings): a worker that dies mid-job leaves the message to be delivered again; the
# job row decides whether that delivery runs (exports/services.py::export_run). If the dead attempt
# still holds the job, try again once it counts as dead (EXPORT_STALE_SECONDS) rather than wait for the
# sweep; a live attempt finishing first makes the retry a no-op.
@shared_task(name="exports.export_run", bind=True, max_retries=None)
def export_run_task(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    services.export_run(job_id=job_id)
    retry_in = services.export_retry_in(job_id=job_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="exports.exports_expire")
def exports_expire_task() -> None:
    services.exports_expire()


@shared_task(name="exports.exports_requeue_stale")
def exports_requeue_stale_task() -> None:
    services.exports_requeue_stale()
