"""Released responses to export, written the way the pool release writes them."""

import random

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from config.celery import app
from exports.synthetic import synthetic_answers
from responses.services import responses_write_released


@pytest.fixture
def release():
    """release(edition, [answers, ...]) → writes Response/Answer rows as a pool release does."""

    def write(edition, answer_sets):
        with transaction.atomic():
            responses_write_released(edition_id=edition.pk, payloads=[{"answers": a} for a in answer_sets])

    return write


@pytest.fixture
def synthetic(release):
    def make(edition, count, seed=2017):
        rng = random.Random(seed)
        answer_sets = [synthetic_answers(rng, n) for n in range(count)]
        release(edition, answer_sets)
        return answer_sets

    return make


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def celery_worker(transactional_db):
    """A real worker thread consuming from the Redis broker, with its own database connection."""
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker
