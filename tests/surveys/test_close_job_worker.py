"""The periodic close job through a real Celery worker on the Redis broker."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.celery import app
from surveys import services
from surveys.models import Edition, EditionStatus
from surveys.tasks import editions_close_due_task
from tests.conftest import import_reference


@pytest.fixture
def celery_worker(transactional_db):
    # A worker thread with its own database connection, fed through the real broker.
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


@pytest.mark.worker
def test_the_worker_closes_an_edition_whose_time_has_passed(celery_worker, series):
    edition = services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(seconds=1)
    )
    time.sleep(1.2)
    editions_close_due_task.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Edition.objects.get(pk=edition.pk).status == EditionStatus.CLOSED:
            break
        time.sleep(0.2)
    assert Edition.objects.get(pk=edition.pk).status == EditionStatus.CLOSED
