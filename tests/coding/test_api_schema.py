"""The coding API's responses match its OpenAPI schema (docs/api.md: the schema is generated from the code,
so clients can rely on it). The fuzzing (tests/security/test_api_fuzz.py) checks for server errors only."""

import json

import pytest
import requests
import schemathesis
from schemathesis.core.transport import Response as SchemaResponse

from coding import services
from tests.coding.conftest import code_by_human
from tests.conftest import api_client_for

ITEM = "workload_reasons"


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    return schemathesis.openapi.from_dict(json.loads(document))


def assert_conforms(schema, path: str, method: str, url: str, response) -> None:
    """Raises (with the mismatch) unless the schema documents this status and the body matches it."""
    assert str(response.status_code) in schema.raw_schema["paths"][path][method.lower()]["responses"]
    schema[path][method].validate_response(
        SchemaResponse(
            status_code=response.status_code,
            headers={"Content-Type": [response["Content-Type"]]},
            content=response.content,
            request=requests.Request(method, f"http://testserver{url}").prepare(),
            elapsed=0.0,
            verify=True,
        )
    )


def test_the_answers_page_and_its_refusals_match_the_schema(schema, coded_item, analyst_ann):
    edition, pairs = coded_item
    code_by_human(pairs, 3, coder=services.coder_label(user_id=analyst_ann.pk))
    client = api_client_for(analyst_ann)
    path = "/api/v1/editions/{edition_id}/items/{item_code}/answers/"
    for query in ("?page_size=2", "?filter=nope", "?filtre=uncoded", "?page_size=501", "?page=99"):
        url = f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/{query}"
        assert_conforms(schema, path, "GET", url, client.get(url))
    parameters = {p["name"]: p for p in schema.raw_schema["paths"][path]["get"]["parameters"]}
    assert {"page", "page_size", "filter", "q"} <= set(parameters)
    # The bounds the server checks are in the schema a client generates its checks from.
    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}


@pytest.mark.parametrize("body", [{"codes": ["nope"]}, {"codes": "more_data"}, {"codes": [], "x": 1}])
def test_refused_codes_match_the_schema(schema, coded_item, analyst_ann, body):
    _, pairs = coded_item
    url = f"/api/v1/answers/{pairs[0][0].pk}/codes/"
    response = api_client_for(analyst_ann).put(url, body, format="json")
    assert response.status_code == 400
    assert_conforms(schema, "/api/v1/answers/{answer_id}/codes/", "PUT", url, response)


def test_unknown_answers_and_runs_match_the_schema(schema, analyst_ann):
    client = api_client_for(analyst_ann)
    nothing = "00000000-0000-0000-0000-000000000000"
    url = f"/api/v1/answers/{nothing}/codes/"
    response = client.put(url, {"codes": []}, format="json")
    assert response.status_code == 404
    assert_conforms(schema, "/api/v1/answers/{answer_id}/codes/", "PUT", url, response)
    url = f"/api/v1/coding-runs/{nothing}/"
    response = client.get(url)
    assert response.status_code == 404
    assert_conforms(schema, "/api/v1/coding-runs/{run_id}/", "GET", url, response)


@pytest.mark.parametrize("body", [{"classifier": "nope"}, {"seed": -1}])
def test_a_refused_run_matches_the_schema(
    schema, coded_item, analyst_ann, body, django_capture_on_commit_callbacks
):
    edition, _ = coded_item
    url = f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/"
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for(analyst_ann).post(url, body, format="json")
    assert response.status_code == 400
    path = "/api/v1/editions/{edition_id}/items/{item_code}/coding-runs/"
    assert_conforms(schema, path, "POST", url, response)


def test_codes_set_and_a_run_started_and_followed_match_the_schema(
    schema, coded_item, analyst_ann, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    client = api_client_for(analyst_ann)
    url = f"/api/v1/answers/{pairs[0][0].pk}/codes/"
    response = client.put(url, {"codes": ["more_data"]}, format="json")
    assert response.status_code == 200
    assert_conforms(schema, "/api/v1/answers/{answer_id}/codes/", "PUT", url, response)
    url = f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/"
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(url, {"seed": 7}, format="json")
    assert started.status_code == 202
    assert_conforms(
        schema, "/api/v1/editions/{edition_id}/items/{item_code}/coding-runs/", "POST", url, started
    )
    services.coding_run_execute(run_id=started.json()["id"])
    url = f"/api/v1/coding-runs/{started.json()['id']}/"
    followed = client.get(url)
    assert followed.json()["status"] == "succeeded"
    assert_conforms(schema, "/api/v1/coding-runs/{run_id}/", "GET", url, followed)
