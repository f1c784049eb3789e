"""The coding API: answers with codes, human codes, starting and following a run."""

import uuid

import pytest

from coding import selectors, services
from coding.models import AnswerCode, CodingRun, RunStatus
from tests.coding.conftest import code_by_human
from tests.conftest import api_client_for

ITEM = "workload_reasons"


def test_answers_are_listed_with_their_codes_paginated(coded_item, analyst_ann):
    edition, pairs = coded_item
    code_by_human(pairs, 3, coder=services.coder_label(user_id=analyst_ann.pk))
    body = (
        api_client_for(analyst_ann)
        .get(f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?page_size=10")
        .json()
    )
    assert body["count"] == 80 and len(body["results"]) == 10 and body["next"]
    by_id = {row["id"]: row for row in body["results"]}
    for answer, codes in pairs[:3]:
        if str(answer.pk) in by_id:
            assert by_id[str(answer.pk)]["codes"] == [
                {"code": c, "source": "human", "probability": None} for c in sorted(codes)
            ]
    uncoded = api_client_for(analyst_ann).get(
        f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?filter=uncoded"
    )
    assert uncoded.json()["count"] == 77


def test_put_sets_human_codes_and_refuses_unknown_ones(coded_item, analyst_ann):
    edition, pairs = coded_item
    answer = pairs[0][0]
    client = api_client_for(analyst_ann)
    ok = client.put(
        f"/api/v1/answers/{answer.pk}/codes/", {"codes": ["more_data", "technology"]}, format="json"
    )
    assert ok.status_code == 200 and ok.json() == {"codes": ["more_data", "technology"]}
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[answer.pk] == {
        "more_data",
        "technology",
    }
    bad = client.put(f"/api/v1/answers/{answer.pk}/codes/", {"codes": ["nope"]}, format="json")
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]


@pytest.mark.parametrize("who", ["officer_alice", None])
def test_only_staff_may_use_the_coding_api(request, coded_item, who):
    edition, pairs = coded_item
    client = api_client_for(request.getfixturevalue(who) if who else None)
    assert client.get(f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/").status_code in (401, 403)
    assert client.put(
        f"/api/v1/answers/{pairs[0][0].pk}/codes/", {"codes": []}, format="json"
    ).status_code in (
        401,
        403,
    )
    assert client.post(f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/").status_code in (401, 403)


def test_a_run_is_started_with_202_and_followed(coded_item, analyst_ann, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    client = api_client_for(analyst_ann)
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(
            f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/",
            {"classifier": "tfidf-lr"},
            format="json",
        )
    assert started.status_code == 202
    run_id = started.json()["id"]
    assert client.get(f"/api/v1/coding-runs/{run_id}/").json()["status"] == "queued"
    services.coding_run_execute(run_id=run_id)
    body = client.get(f"/api/v1/coding-runs/{run_id}/").json()
    assert body["status"] == RunStatus.SUCCEEDED and body["progress"] == 100
    assert "alpha" in body["metrics"]["cross_validation"]
    listed = client.get(f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?filter=automatic").json()
    assert listed["count"] == 40
    assert all(
        c["source"] == "auto" and 0 <= c["probability"] <= 1 for r in listed["results"] for c in r["codes"]
    )


def test_a_run_without_a_codebook_is_refused(open_2017, analyst_ann):
    response = api_client_for(analyst_ann).post(f"/api/v1/editions/{open_2017.pk}/items/trends/coding-runs/")
    assert response.status_code == 400 and "no codebook" in response.json()["detail"]


def test_an_unknown_filter_is_a_400_not_every_answer(coded_item, analyst_ann):
    edition, pairs = coded_item
    code_by_human(pairs, 3, coder=services.coder_label(user_id=analyst_ann.pk))
    # A typo ("uncode") used to list all 80 answers as if they were the 77 uncoded ones.
    typo = api_client_for(analyst_ann).get(
        f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?filter=uncode"
    )
    assert typo.status_code == 400
    assert "uncoded" in typo.json()["detail"]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("filtre=uncoded", "unknown query parameter filtre; known: page, page_size, filter, q"),
        ("page_size=abc", "page_size: A valid integer is required."),
        ("page_size=0", "page_size: Ensure this value is greater than or equal to 1."),
        ("page_size=-5", "page_size: Ensure this value is greater than or equal to 1."),
        ("page_size=501", "page_size: Ensure this value is less than or equal to 500."),
        ("page=abc", "page: A valid integer is required."),
        ("page=0", "page: Ensure this value is greater than or equal to 1."),
        ("page=last", "page: A valid integer is required."),
        ("filter=uncoded&filter=automatic", "given more than once: filter"),
        # DRF answered an unknown rendering 404 "Not found.", as if the item did not exist.
        ("format=xml", "format: 'xml' is not one of json, api"),
        (
            "pagesize=10&filter=nope",
            'filter: "nope" is not one of uncoded, automatic, low_confidence, disagreement, incomplete; '
            "unknown query parameter pagesize; known: page, page_size, filter, q",
        ),
    ],
)
def test_a_query_the_listing_does_not_understand_is_a_400_not_a_guess(coded_item, analyst_ann, query, said):
    """A misspelt parameter (?filtre=uncoded) listed all 80 answers as if filtered, and a bad page_size
    gave 50 answers (or 500 for one over 500) as if asked: a script read them as what it had asked for."""
    edition, _ = coded_item
    refused = api_client_for(analyst_ann).get(f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?{query}")
    assert refused.status_code == 400 and refused.json() == {"detail": said}


def test_the_listing_pages_as_asked_and_a_page_past_the_last_is_a_404(coded_item, analyst_ann):
    edition, _ = coded_item
    client = api_client_for(analyst_ann)
    url = f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/"
    everything = client.get(f"{url}?page_size=500&format=json&filter=&q=")
    assert everything.status_code == 200 and len(everything.json()["results"]) == 80
    # An empty value is a parameter left out (as a form sends an empty field): the default.
    assert len(client.get(f"{url}?page_size=&page=").json()["results"]) == 50
    ids = [row["id"] for row in everything.json()["results"]]
    last = client.get(f"{url}?page=27&page_size=3")
    assert [row["id"] for row in last.json()["results"]] == ids[78:]
    assert last.json()["next"] is None and "page=26" in last.json()["previous"]
    assert client.get(f"{url}?page=28&page_size=3").status_code == 404


def test_put_with_adjudicate_settles_a_disagreement_and_is_refused_for_a_single_coder(
    coded_item, analyst_ann
):
    edition, pairs = coded_item
    (disputed, _), (single, _) = pairs[0], pairs[1]
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_data", "more_cases"], coder="A")
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_data"], coder="B")
    services.answer_codes_set(answer_id=single.pk, codes=["more_data"], coder="A")
    client = api_client_for(analyst_ann)
    settled = client.put(
        f"/api/v1/answers/{disputed.pk}/codes/", {"codes": ["more_cases"], "adjudicate": True}, format="json"
    )
    assert settled.status_code == 200 and settled.json() == {"codes": ["more_cases"]}
    finals = selectors.final_codes(edition_id=edition.pk, item_code=ITEM)
    assert finals[disputed.pk] == {"more_cases"} and finals[single.pk] == {"more_data"}
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == []
    refused = client.put(
        f"/api/v1/answers/{single.pk}/codes/", {"codes": ["technology"], "adjudicate": True}, format="json"
    )
    assert refused.status_code == 400 and "two or more coders" in refused.json()["detail"]
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[single.pk] == {"more_data"}


def test_listed_codes_are_the_final_codes_so_no_human_only_category_is_an_automatic_code(
    coded_item, analyst_ann, django_capture_on_commit_callbacks
):
    """A category flagged 'human coding only' is not among an automatic answer's final codes (results and
    exports leave it out); the listing showed the model's accepted code for it all the same."""
    from django.db.models import Count

    from coding.finals import final_codes_refresh
    from coding.models import AnswerCode, Category
    from surveys.models import Item

    edition, pairs = coded_item
    code_by_human(pairs, 40)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    most_given = (
        AnswerCode.objects.filter(run=run, accepted=True)
        .values("category")
        .annotate(n=Count("*"))
        .order_by("-n")
        .first()["category"]
    )
    flagged = Category.objects.get(pk=most_given)
    Category.objects.filter(pk=flagged.pk).update(human_only=True)  # as a run flags it, then refreshes
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=ITEM).pk)

    body = (
        api_client_for(analyst_ann)
        .get(f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/?filter=automatic&page_size=500")
        .json()
    )
    assert body["count"] == 40
    final = selectors.final_codes(edition_id=edition.pk, item_code=ITEM)
    for row in body["results"]:
        assert {c["code"] for c in row["codes"]} == final[uuid.UUID(row["id"])]
        assert all(c["source"] == "auto" and 0 < c["probability"] <= 1 for c in row["codes"])
    assert not any(c["code"] == flagged.code for row in body["results"] for c in row["codes"])


@pytest.mark.parametrize("item_code", ["workload_reason", "country"])
def test_answers_of_an_unknown_or_non_text_item_are_a_404_not_an_empty_list(
    coded_item, analyst_ann, item_code
):
    edition, _ = coded_item
    response = api_client_for(analyst_ann).get(f"/api/v1/editions/{edition.pk}/items/{item_code}/answers/")
    assert response.status_code == 404


def test_a_misspelt_key_is_refused_and_the_saved_codes_stay(coded_item, analyst_ann):
    """{"adjudicated": true} (for "adjudicate") replaced the caller's own codes with the set meant to
    settle the disagreement, and answered 200 as if it had been settled."""
    edition, pairs = coded_item
    answer = pairs[0][0]
    me = services.coder_label(user_id=analyst_ann.pk)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data", "more_cases"], coder=me)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="B")
    response = api_client_for(analyst_ann).put(
        f"/api/v1/answers/{answer.pk}/codes/", {"codes": [], "adjudicated": True}, format="json"
    )
    assert response.status_code == 400 and "adjudicated" in response.json()
    assert set(
        AnswerCode.objects.filter(answer=answer, source="human", coder=me).values_list(
            "category__code", flat=True
        )
    ) == {"more_data", "more_cases"}
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == [answer.pk]


def test_a_run_with_a_misspelt_key_is_refused_not_started_with_the_default(
    coded_item, analyst_ann, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for(analyst_ann).post(
            f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/",
            {"classifer": "tfidf-lr"},
            format="json",
        )
    assert response.status_code == 400 and "classifer" in response.json()
    assert not CodingRun.objects.exists()


@pytest.mark.parametrize("item_code", ["workload_reason", "country"])
def test_a_run_of_an_unknown_or_non_text_item_is_a_404_as_its_answers_are(coded_item, analyst_ann, item_code):
    """A mistyped or choice item was a 400 "has no codebook yet", which reads as "import one" for an item
    that cannot have one; the answers of the same URL are a 404."""
    edition, _ = coded_item
    client = api_client_for(analyst_ann)
    response = client.post(f"/api/v1/editions/{edition.pk}/items/{item_code}/coding-runs/")
    assert response.status_code == 404
    assert not CodingRun.objects.exists()


def test_a_huge_list_of_unknown_codes_is_refused_briefly_and_the_saved_codes_stay(coded_item, analyst_ann):
    """200,000 unknown codes (a 2 MB body) were looked up in one SQL statement of that size and all named
    in the 400: 7 s of a web worker and a 1.7 MB answer, measured; 5 MB bodies are accepted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, pairs = coded_item
    answer = pairs[0][0]
    me = services.coder_label(user_id=analyst_ann.pk)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder=me)
    codes = [f"code_{i}" for i in range(50_000)]
    with CaptureQueriesContext(connection) as queries:
        response = api_client_for(analyst_ann).put(
            f"/api/v1/answers/{answer.pk}/codes/", {"codes": ["more_data", *codes]}, format="json"
        )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "code_0" in detail and "50000" in detail and len(detail) < 500
    assert max(len(q["sql"]) for q in queries.captured_queries) < 5_000
    assert set(
        AnswerCode.objects.filter(answer=answer, coder=me).values_list("category__code", flat=True)
    ) == {"more_data"}
