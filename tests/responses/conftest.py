import random

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.models import Role
from accounts.services import user_create
from config.celery import app
from responses.services import pool_keys_replenish

# A complete, valid set of answers to the 2017 questionnaire (required items and a few more).
BASE_ANSWERS = {
    "country": "SE",
    "agency_type": "national",
    "workload_change": "increased",
    "workload_reasons": "More data and more devices per case",
    "better_equipped": "yes",
    "better_equipped_reasons": ["tools", "other"],
    "better_equipped_other": "New triage software",
    "avg_case_images_total": 40000,
    "avg_case_images_csam": 3000,
    "avg_case_video_hours": "4.5",
    "offender_age": ["30_40", "40_50"],
    "access_family": "common",
    "viewing_handson_correlation": "common",
    "children_rescued": 12,
}


@pytest.fixture
def worker_keys(settings, tmp_path):
    """Plays the worker's part: a private key directory and spare staging keys in it."""
    settings.POOL_KEY_DIR = tmp_path / "pool-keys"
    pool_keys_replenish(spare=2)
    return settings.POOL_KEY_DIR


@pytest.fixture
def officers(db):
    def make(count: int):
        return [
            # No password: hashing one per officer would dominate the run time of these tests.
            user_create(email=f"officer{i}@police.example", role=Role.OFFICER, vetted=True)
            for i in range(count)
        ]

    return make


@pytest.fixture
def celery_worker(transactional_db):
    """A real worker thread consuming from the Redis broker, with its own database connection."""
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


@pytest.fixture
def rng():
    return random.Random(20170523)
