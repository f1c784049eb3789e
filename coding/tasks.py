"""Celery entry points of coding: a run id in, one service call, nothing stored or returned."""

from celery import shared_task

from coding import services


# acks_late (settings): a worker that dies mid-run leaves the message to be delivered again. If the dead
# attempt still holds the run then, try again once it counts as dead (CODING_STALE_SECONDS), so the run
# completes without waiting for the sweep; a live attempt finishing first makes the retry a no-op.
@shared_task(name="coding.run", bind=True, acks_late=True, ignore_result=True, max_retries=None)
def coding_run_task(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    if not services.coding_run_execute(run_id=run_id):
        retry_in = services.coding_run_retry_in(run_id=run_id)
        if retry_in is not None:
            raise self.retry(countdown=retry_in)


@shared_task(name="coding.runs_requeue_stale")
def coding_runs_requeue_stale_task() -> None:
    services.coding_runs_requeue_stale()


# An edition id in, nothing out. Losing this message costs nothing but time: a coding run embeds whatever
# has no stored vector, so there is no sweep for it.
@shared_task(name="coding.answers_embed_released", acks_late=True, ignore_result=True)
def answers_embed_released_task(edition_id: int) -> None:
    services.answers_embed_released(edition_id=edition_id)
