"""Enqueueing coding's jobs from other apps' services (after commit)."""

from django.conf import settings

from config.jobs import enqueue_on_commit


def enqueue_answers_embed_released(edition_id: int) -> None:
    """After a pool release commits, ask the worker to embed the released answers of coded items
    (coding.services.answers_embed_released). Not with in-process jobs (`make run` without Redis): there it
    would hold up the request that closed the edition, and the coding run embeds them when asked."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from coding.tasks import answers_embed_released_task

    enqueue_on_commit(answers_embed_released_task, edition_id)
