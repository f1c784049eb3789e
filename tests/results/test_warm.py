"""The results warm-up (results/jobs.py, results.warm): after a release, and debounced after coding writes,
a worker computes the edition's results into the cache, so the first page, chart, report or API view is
served without aggregating; the task carries the edition id only; no broker or cache costs the write."""

import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coding.services import answer_codes_set, codebooks_import_reference
from config.celery import app
from responses import services as response_services
from responses.models import Answer, StagedSubmission
from results import tasks
from results.cache import results_stale
from results.jobs import results_warm_soon
from results.selectors import edition_results
from results.services import _warm_entries, results_keep_warm, results_warm, results_warmed
from results.tallies import filter_tallies_current
from surveys import services as survey_services
from surveys.models import Edition
from tests.conftest import api_client_for, import_reference, login_with_mfa
from tests.responses.conftest import BASE_ANSWERS
from tests.results.test_results import people, release

TRENDS_PAGE = 7
AGGREGATING = ("COUNT(", "GROUP BY", "PERCENTILE_CONT", "WITH ANS")


def aggregations(queries):
    """The queries that aggregate answers or codes (the released-response count of the cache key is
    not one: it reads responses, not answers)."""
    return [
        q["sql"]
        for q in queries
        if any(word in q["sql"].upper() for word in AGGREGATING)
        and ("responses_answer" in q["sql"] or "coding_" in q["sql"])
    ]


def wait_until(check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def first_views(client, api, edition):
    """The results page with coded free text, a chart, the report and the API, each for the first time."""
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/staff/results/{edition.pk}/?page={TRENDS_PAGE}")
        chart = client.get(f"/staff/results/{edition.pk}/items/workload_change.csv")
        report = client.get(f"/staff/results/{edition.pk}/report/")
        whole = api.get(f"/api/v1/editions/{edition.pk}/results/")
    assert [r.status_code for r in (page, chart, report, whole)] == [200, 200, 200, 200]
    return page.content.decode(), whole.json(), aggregations(queries.captured_queries)


@pytest.mark.worker
def test_after_a_release_the_first_views_aggregate_nothing(
    celery_worker, series, officers, worker_keys, client, analyst_ann
):
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    codebooks_import_reference(edition=edition)
    for officer in officers(12):
        response_services.response_submit(edition=edition, officer=officer, answers=BASE_ANSWERS)
    # Closing queues the release; the release queues the warm-up; the real worker runs both.
    survey_services.edition_close(edition=Edition.objects.get(pk=edition.pk))
    assert wait_until(lambda: not StagedSubmission.objects.exists())
    assert wait_until(lambda: results_warmed(edition=edition)), "the worker did not warm the results"

    page, whole, aggregating = first_views(
        login_with_mfa(client, analyst_ann), api_client_for(analyst_ann), edition
    )
    assert aggregating == []
    assert whole["respondents"] == 12 and whole["items"]["workload_change"]["counts"]["increased"] == 12
    assert "12 respondents" in page


@pytest.mark.worker
def test_coding_writes_queue_one_debounced_warm_up_with_the_edition_id_only(
    celery_worker, open_2017, client, analyst_ann, settings, monkeypatch
):
    settings.RESULTS_WARM_DEBOUNCE_SECONDS = 5
    release(open_2017, [{"trends": f"Live streaming everywhere {i}"} for i in range(12)])
    sent = []
    original = tasks.results_warm_task.apply_async

    def spy(args=None, kwargs=None, **options):
        sent.append((json.dumps([args, kwargs]), options.get("countdown")))
        return original(args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(tasks.results_warm_task, "apply_async", spy)
    # A coding session within one window: the codebook, then a code on each of twelve answers.
    codebooks_import_reference(edition=open_2017)
    for answer in Answer.objects.filter(item__code="trends", item__edition=open_2017):
        answer_codes_set(answer_id=answer.pk, codes=["live_streaming"], coder="ann")
    assert sent == [(json.dumps([[open_2017.pk], {}]), 5)]
    assert wait_until(lambda: results_warmed(edition=open_2017)), "the worker did not warm the results"

    page, whole, aggregating = first_views(
        login_with_mfa(client, analyst_ann), api_client_for(analyst_ann), open_2017
    )
    assert aggregating == []
    # Computed after the last write of the window: every answer's code counts.
    assert whole["items"]["trends"]["counts"]["live_streaming"] == 12
    assert "Live streaming everywhere" in page  # quoted: the quote ids were warmed too


@pytest.fixture
def embedded_jobs():
    """Jobs run in-process, as `make run` without Redis does (CELERY_TASK_ALWAYS_EAGER)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_in_embedded_mode_the_warm_up_runs_in_process_after_commit(
    open_2017, django_capture_on_commit_callbacks, embedded_jobs
):
    release(open_2017, people(15, workload_change="increased"))
    with django_capture_on_commit_callbacks(execute=True):
        results_warm_soon(edition_id=open_2017.pk, debounce=False)  # as a release would
    assert results_warmed(edition=open_2017)
    with CaptureQueriesContext(connection) as queries:
        assert edition_results(edition=open_2017)["items"]["workload_change"]["counts"]["increased"] == 15
    assert aggregations(queries.captured_queries) == []


def test_one_request_fills_the_entries_other_views_read(open_2017, client, analyst_ann):
    release(open_2017, people(15, workload_change="increased", country="SE"))
    api_client_for(analyst_ann).get(f"/api/v1/editions/{open_2017.pk}/results/")
    staff = login_with_mfa(client, analyst_ann)
    with CaptureQueriesContext(connection) as queries:
        for page in range(1, 9):
            assert staff.get(f"/staff/results/{open_2017.pk}/?page={page}").status_code == 200
        assert staff.get(f"/staff/results/{open_2017.pk}/items/country.csv").status_code == 200
    assert aggregations(queries.captured_queries) == []


def test_a_write_succeeds_when_neither_broker_nor_cache_can_be_reached(
    open_2017, settings, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    codebooks_import_reference(edition=open_2017)
    release(open_2017, [{"trends": f"Encrypted apps {i}"} for i in range(12)])
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.results_warm_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        for answer in Answer.objects.filter(item__code="trends", item__edition=open_2017):
            assert answer_codes_set(answer_id=answer.pk, codes=["encryption"], coder="ann") == ["encryption"]
        results_warm_soon(edition_id=open_2017.pk, debounce=False)  # as a release would
    assert "results.warm not queued (ConnectionError)" in caplog.text
    # The warm-up itself computes and returns without a cache (a worker whose Redis went away).
    tasks.results_warm_task.run(open_2017.pk)
    assert edition_results(edition=open_2017)["items"]["trends"]["counts"]["encryption"] == 12


def seconds_left(key):
    """The time to live Redis has for a cache entry (the suite's cache is the real Redis)."""
    return cache._cache.get_client(key).ttl(cache.make_and_validate_key(key))


def test_beat_keeps_current_entries_alive_recomputes_lost_ones_lets_stale_ones_expire(open_2017, settings):
    release(open_2017, people(15, workload_change="increased"))
    settings.RESULTS_CACHE_SECONDS = 60
    results_warm(edition_id=open_2017.pk)
    before, complete = _warm_entries(open_2017)
    assert complete and all(0 < seconds_left(key) <= 60 for key in before)

    settings.RESULTS_CACHE_SECONDS = 600
    assert results_keep_warm() == 1  # the one published edition with released responses
    assert all(60 < seconds_left(key) <= 600 for key in before)

    cache.delete(before[0])  # an entry expired, or Redis evicted it
    assert not results_warmed(edition=open_2017)
    results_keep_warm()
    assert results_warmed(edition=open_2017)

    results_stale(edition_id=open_2017.pk)  # a coding write: these entries are no longer read
    settings.RESULTS_CACHE_SECONDS = 900
    results_keep_warm()
    after, complete = _warm_entries(open_2017)
    assert complete and not set(after) & set(before)
    assert all(seconds_left(key) <= 600 for key in before if cache.get(key) is not None)
    assert all(600 < seconds_left(key) <= 900 for key in after)


def test_beat_keeps_nothing_warm_when_the_cache_is_off(open_2017, settings):
    release(open_2017, people(15, workload_change="increased"))
    settings.RESULTS_CACHE_SECONDS = 0
    assert results_keep_warm() == 0
    assert "results.keep_warm" in {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}


def test_beat_counts_the_filter_tallies_a_warm_up_left_uncounted(open_2017, settings):
    release(open_2017, people(15, country="US", agency_type="national", workload_change="increased"))
    settings.RESULTS_CACHE_SECONDS = 600
    with mock.patch("results.services.filter_tallies_refresh"):
        results_warm(edition_id=open_2017.pk)  # the worker stopped after the cache entries
    assert results_warmed(edition=open_2017)
    assert not filter_tallies_current(edition_id=open_2017.pk)
    results_keep_warm()
    assert filter_tallies_current(edition_id=open_2017.pk)
