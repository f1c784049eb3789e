"""Celery entry points of the identity side: ids in, one service call, nothing personal in arguments.

A task that fills a whole batch queues itself again for the next one, so one delivery never holds a
worker for thousands of e-mails. Retries cover transient mail-server failures only.
"""

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings

from accounts import services

_MAIL_RETRY = {
    "autoretry_for": (SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": 60,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(name="accounts.participations_invite", **_MAIL_RETRY)
def participations_invite_task(edition_id: int) -> None:
    if services.participations_invite(edition_id=edition_id) >= settings.MAIL_BATCH_SIZE:
        participations_invite_task.delay(edition_id)


@shared_task(name="accounts.participations_invite_open")
def participations_invite_open_task() -> None:
    """Beat: queue the invitations of every open edition someone is still waiting for (the job's message
    was lost while Redis was down); a no-op when everyone is invited."""
    for edition_id in services.editions_with_officers_to_invite():
        participations_invite_task.delay(edition_id)


@shared_task(name="accounts.participations_remind", **_MAIL_RETRY)
def participations_remind_task(edition_id: int) -> None:
    if services.participations_remind(edition_id=edition_id) >= settings.MAIL_BATCH_SIZE:
        participations_remind_task.delay(edition_id)


@shared_task(name="accounts.participations_remind_due")
def participations_remind_due_task() -> None:
    """Daily (beat): queue the reminder job of every edition that closes within the reminder window."""
    for edition_id in services.editions_due_for_reminders():
        participations_remind_task.delay(edition_id)


@shared_task(name="accounts.api_tokens_purge_expired")
def api_tokens_purge_expired_task() -> None:
    services.api_tokens_purge_expired()
