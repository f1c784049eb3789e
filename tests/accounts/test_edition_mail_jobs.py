"""Invitations and reminders by e-mail when an edition opens and before it closes: Celery jobs that
take an edition id, work in batches, and are idempotent because the Participation ledger records
who was invited and reminded (a status and a flag, never a time)."""

import time
from datetime import timedelta
from smtplib import SMTPException

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from accounts import services, tasks
from accounts.models import AuditEvent, Participation, ParticipationStatus, Role, User
from accounts.services import (
    officer_vetting_approve,
    officer_vetting_reject,
    participations_invite,
    participations_remind,
    user_create,
)
from config.celery import app
from surveys import services as survey_services
from tests.conftest import import_reference


def officers(n, *, vetted=True):
    return [user_create(email=f"o{i}@police.example", role=Role.OFFICER, vetted=vetted) for i in range(n)]


def invited_emails(edition):
    return sorted(Participation.objects.filter(edition=edition).values_list("user__email", flat=True))


def test_opening_an_edition_queues_the_invitation_job_with_its_id_only(
    draft_2017, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        tasks.participations_invite_task, "apply_async", lambda args, **options: queued.append(args)
    )
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.edition_open(edition=draft_2017, closes_at=timezone.now() + timedelta(days=30))
    assert queued == [(draft_2017.pk,)]


def test_every_vetted_officer_is_invited_once(open_2017, officer_alice, officer_bob, pending_pete, admin_ada):
    rejected = user_create(email="rex@police.example", role=Role.OFFICER)
    officer_vetting_reject(profile=rejected.officer_profile, actor=admin_ada, reason="No.")
    inactive = user_create(email="gone@police.example", role=Role.OFFICER, vetted=True)
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    mail.outbox.clear()

    assert participations_invite(edition_id=open_2017.pk) == 2
    assert invited_emails(open_2017) == ["alice@police.example", "bob@police.example"]
    assert set(Participation.objects.values_list("status", "reminded")) == {
        (ParticipationStatus.INVITED, False)
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@police.example", "bob@police.example"]
    message = mail.outbox[0]
    assert open_2017.display_title in message.subject
    assert "http://127.0.0.1:8000/" in message.body and "anonymous" in message.body
    # Every officer can compare the ballot key their browser gets with the one announced here.
    assert open_2017.ballot_key.fingerprint in message.body
    assert AuditEvent.objects.get(action="edition.invitations_sent").details["count"] == 2

    # A second delivery of the same job finds nobody left.
    assert participations_invite(edition_id=open_2017.pk) == 0
    assert len(mail.outbox) == 2


def test_invitations_go_out_in_batches_over_one_connection_each(open_2017, settings, monkeypatch):
    settings.MAIL_BATCH_SIZE = 2
    officers(5)
    connections = []
    real = services.send_emails
    monkeypatch.setattr(services, "send_emails", lambda msgs: connections.append(len(list(msgs))) or real([]))
    requeued = []
    monkeypatch.setattr(tasks.participations_invite_task, "delay", lambda *args: requeued.append(args))

    tasks.participations_invite_task(open_2017.pk)
    assert connections == [2] and requeued == [(open_2017.pk,)]  # a full batch: queue the next one
    tasks.participations_invite_task(open_2017.pk)
    tasks.participations_invite_task(open_2017.pk)
    assert connections == [2, 2, 1] and len(requeued) == 2  # the short batch was the last
    assert Participation.objects.filter(edition=open_2017).count() == 5


def test_a_mail_server_failure_rolls_the_batch_back_so_a_retry_sends_it(
    open_2017, officer_alice, monkeypatch
):
    def broken(_messages):
        raise SMTPException("421 try later")

    monkeypatch.setattr(services, "send_emails", broken)
    with pytest.raises(SMTPException):
        participations_invite(edition_id=open_2017.pk)
    assert not Participation.objects.exists()
    monkeypatch.undo()
    assert participations_invite(edition_id=open_2017.pk) == 1
    assert len(mail.outbox) == 1


def test_a_draft_invites_nobody(draft_2017, officer_alice):
    assert participations_invite(edition_id=draft_2017.pk) == 0
    assert mail.outbox == []


def test_a_closed_edition_invites_nobody(open_2017, officer_alice):
    survey_services.edition_close(edition=open_2017)
    assert participations_invite(edition_id=open_2017.pk) == 0
    assert mail.outbox == []


def test_an_officer_vetted_while_an_edition_is_open_is_invited_too(
    open_2017, pending_pete, admin_ada, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        tasks.participations_invite_task, "apply_async", lambda args, **options: queued.append(args)
    )
    with django_capture_on_commit_callbacks(execute=True):
        officer_vetting_approve(profile=pending_pete.officer_profile, actor=admin_ada)
    assert queued == [(open_2017.pk,)]
    participations_invite(edition_id=open_2017.pk)
    assert invited_emails(open_2017) == ["pete@police.example"]


@pytest.fixture
def closing_soon(open_2017, officer_alice, officer_bob):
    """The 2017 edition, invited, now three days before it closes."""
    participations_invite(edition_id=open_2017.pk)
    mail.outbox.clear()
    return open_2017, open_2017.closes_at - timedelta(days=3)


def test_one_reminder_goes_to_those_who_have_not_answered(closing_soon, officer_alice, officer_bob):
    edition, now = closing_soon
    Participation.objects.filter(user=officer_bob).update(status=ParticipationStatus.SUBMITTED)
    assert participations_remind(edition_id=edition.pk, now=now) == 1
    assert [m.to for m in mail.outbox] == [["alice@police.example"]]
    assert "closes on" in mail.outbox[0].subject and "only reminder" in mail.outbox[0].body
    assert Participation.objects.get(user=officer_alice).reminded
    assert not Participation.objects.get(user=officer_bob).reminded
    # Tomorrow's run (or a second delivery) sends nothing more.
    assert participations_remind(edition_id=edition.pk, now=now + timedelta(days=1)) == 0
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.get(action="edition.reminders_sent").details["count"] == 1


def test_no_reminder_before_the_window_or_after_the_close(closing_soon, officer_alice, settings):
    edition, _ = closing_soon
    assert settings.REMINDER_DAYS_BEFORE_CLOSE == 7
    assert participations_remind(edition_id=edition.pk, now=edition.closes_at - timedelta(days=8)) == 0
    assert participations_remind(edition_id=edition.pk, now=edition.closes_at + timedelta(minutes=1)) == 0
    settings.REMINDER_DAYS_BEFORE_CLOSE = 0  # reminders off
    assert participations_remind(edition_id=edition.pk, now=edition.closes_at - timedelta(days=1)) == 0
    assert mail.outbox == [] and not Participation.objects.filter(reminded=True).exists()


def test_a_rejected_officer_gets_no_reminder(closing_soon, officer_alice, admin_ada):
    edition, now = closing_soon
    officer_vetting_reject(profile=officer_alice.officer_profile, actor=admin_ada, reason="Left the force.")
    mail.outbox.clear()
    assert participations_remind(edition_id=edition.pk, now=now) == 1
    assert [m.to for m in mail.outbox] == [["bob@police.example"]]


def test_the_daily_job_queues_reminders_for_editions_in_the_window(closing_soon, monkeypatch):
    edition, now = closing_soon
    assert services.editions_due_for_reminders(now=now) == [edition.pk]
    assert services.editions_due_for_reminders(now=edition.closes_at - timedelta(days=30)) == []
    queued = []
    monkeypatch.setattr(tasks.participations_remind_task, "delay", lambda *args: queued.append(args))
    monkeypatch.setattr(services, "editions_due_for_reminders", lambda: [edition.pk])
    tasks.participations_remind_due_task()
    assert queued == [(edition.pk,)]


def test_the_mails_say_nothing_about_answers_or_times_of_answering(closing_soon, officer_alice):
    edition, now = closing_soon
    participations_remind(edition_id=edition.pk, now=now)
    body = mail.outbox[0].body
    assert "submitted" not in body.lower() and "invited" not in body.lower()
    assert edition.closes_at.strftime("%Y") in body  # the only date: when the edition closes


@pytest.fixture
def celery_worker(transactional_db):
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


@pytest.mark.worker
def test_opening_an_edition_invites_through_a_real_worker(celery_worker, series):
    user_create(email="alice@police.example", role=Role.OFFICER, vetted=True)
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=30)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Participation.objects.filter(edition=edition).exists():
        time.sleep(0.2)
    assert invited_emails(edition) == ["alice@police.example"]
    assert [m.to for m in mail.outbox] == [["alice@police.example"]]
