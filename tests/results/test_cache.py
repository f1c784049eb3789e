"""The results cache (results/cache.py): served until a release or a coding write changes the results,
aggregates and answer ids only, and a cache that cannot be reached costs speed, not the page."""

import uuid

import pytest
from django.core.cache import cache

from coding.services import answer_codes_set, codebooks_import_reference
from responses.models import Answer
from results.selectors import edition_results
from tests.conftest import login_with_mfa
from tests.results.test_results import people, release


@pytest.fixture
def edition(open_2017):
    return open_2017


def workload(edition):
    return edition_results(edition=edition)["items"]["workload_change"]["counts"]


def test_results_are_served_from_the_cache_until_a_release_adds_responses(edition, settings):
    release(edition, people(20, workload_change="increased"))
    assert workload(edition)["increased"] == 20
    # Rows changed behind the services' back are not seen: the figures come from the cache.
    Answer.objects.filter(item__code="workload_change").update(choice="decreased")
    assert workload(edition)["increased"] == 20
    # A release changes the number of responses, so the next read computes afresh.
    release(edition, people(12, workload_change="unchanged"))
    assert workload(edition) == {"increased": 0, "unchanged": 12, "decreased": 20}
    settings.RESULTS_CACHE_SECONDS = 0  # off: always computed
    Answer.objects.filter(item__code="workload_change", choice="unchanged").update(choice="increased")
    assert workload(edition) == {"increased": 12, "unchanged": 0, "decreased": 20}


def test_a_coding_write_drops_the_cached_results(edition, django_capture_on_commit_callbacks):
    codebooks_import_reference(edition=edition)
    release(edition, [{"trends": f"Live streaming everywhere {i}"} for i in range(12)])
    answers = list(Answer.objects.filter(item__code="trends", item__edition=edition))
    with django_capture_on_commit_callbacks(execute=True):
        for answer in answers:
            answer_codes_set(answer_id=answer.pk, codes=["live_streaming"], coder="ann")
    assert edition_results(edition=edition)["items"]["trends"]["counts"]["live_streaming"] == 12
    with django_capture_on_commit_callbacks(execute=True):
        for answer in answers:
            answer_codes_set(answer_id=answer.pk, codes=["encryption"], coder="ann")
    counts = edition_results(edition=edition)["items"]["trends"]["counts"]
    assert counts["live_streaming"] == 0 and counts["encryption"] == 12  # same responses, new codes


def test_the_cache_holds_no_answer_text(edition, client, analyst_ann):
    codebooks_import_reference(edition=edition)
    canary = f"canary-{uuid.uuid4().hex}"
    release(
        edition,
        [{"trends": f"Live streaming {canary} {i}", "workload_change": "increased"} for i in range(12)],
    )
    for answer in Answer.objects.filter(item__code="trends", item__edition=edition):
        answer_codes_set(answer_id=answer.pk, codes=["live_streaming"], coder="ann")
    page = login_with_mfa(client, analyst_ann).get(f"/staff/results/{edition.pk}/?page=7").content.decode()
    assert canary in page  # quoted on the page, so its id was chosen and cached
    redis = cache._cache.get_client()
    keys = list(redis.scan_iter(match="*results:*"))
    assert any(b"results:quote-ids:" in key for key in keys) and any(
        b"results:results:" in key for key in keys
    )
    for key in keys:
        assert canary.encode() not in (redis.get(key) or b""), key


def test_results_are_computed_when_the_cache_cannot_be_reached(edition, settings, client, analyst_ann):
    release(edition, people(15, workload_change="increased", country="SE"))
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert workload(edition)["increased"] == 15
    page = login_with_mfa(client, analyst_ann).get(f"/staff/results/{edition.pk}/?page=2")
    assert page.status_code == 200 and "15 respondents" in page.content.decode()
