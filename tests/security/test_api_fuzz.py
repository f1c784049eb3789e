"""Schemathesis drives every operation of the OpenAPI schema (/api/v1/schema/) with generated requests,
as an administrator with an API token and anonymously; no request may end in a server error (5xx).

Bounded and reproducible: a fixed number of examples per operation and derandomized generation (the
same requests on every run). Path parameters are half the time the ids of real objects (an open edition
with answers, codebooks, an export and a coding run), so the operations get past their 404s.
Nothing is excluded: every operation in the schema is exercised in both modes.
"""

import json
import os
from collections import defaultdict

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from accounts.services import api_token_create
from coding import services as coding_services
from responses.models import Answer
from tests.exports.helpers import run_export
from tests.security.conftest import CODED_ITEM

# FUZZ_EXAMPLES=200 for a deeper (slower) run; the default keeps the suite's run short.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "15"))


@pytest.fixture
def real_ids(hostile_2017, admin_ada, export_dir):
    job = run_export(admin_ada, [hostile_2017], format="csv", free_text="omit")
    run = coding_services.coding_run_start(edition=hostile_2017, item_code=CODED_ITEM)
    return {
        "edition_id": hostile_2017.pk,
        "item_code": CODED_ITEM,
        "answer_id": str(Answer.objects.filter(item__code=CODED_ITEM).first().pk),
        "export_id": str(job.pk),
        "run_id": str(run.pk),
    }


def openapi_document() -> dict:
    """The schema /api/v1/schema/ serves, generated the same way (drf-spectacular) without a request."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = get_wsgi_application()  # requests go straight into Django, as gunicorn would send them
REAL_IDS: dict[str, str | int] = {}  # filled by the `real_ids` fixture for the running test


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    real = {k: v for k, v in REAL_IDS.items() if k in (path_parameters or {})}
    return st.sampled_from([path_parameters, {**path_parameters, **real}] if real else [path_parameters])


@pytest.fixture(autouse=True)
def _real_ids_and_host(real_ids, settings):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]  # schemathesis's WSGI client: Host: localhost
    REAL_IDS.clear()
    REAL_IDS.update(real_ids)
    # As Django's test client does: the handler must not close the test's connection (and transaction)
    # at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    REAL_IDS.clear()


def test_the_fuzzed_schema_is_the_served_one(client):
    served = client.get("/api/v1/schema/?format=json").json()
    assert served["paths"].keys() == openapi_document()["paths"].keys()
    assert len(served["paths"]) >= 15


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    # The database fixtures are per test, not per example, on purpose: examples may build on each other.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


# Status codes each operation answered the administrator with, to show the fuzzing got past the front door.
ADMIN_STATUSES: dict[str, set[int]] = defaultdict(set)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_an_administrator_token_with_a_server_error(case, admin_ada):
    token = api_token_create(user=admin_ada)
    response = case.call_and_validate(
        headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
    )
    if case.method.upper() == case.operation.method.upper():  # not a negative test's wrong method
        ADMIN_STATUSES[case.operation.label].add(response.status_code)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_an_anonymous_request_with_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])


def test_the_administrator_fuzzing_reached_every_operation_past_authentication():
    """Runs after the fuzzing above (same module, file order): each operation answered the token with
    something other than 401/403/404 at least once, so its own validation and logic were exercised."""
    if not ADMIN_STATUSES:
        pytest.skip("run together with the fuzzing tests above")
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert set(ADMIN_STATUSES) == operations
    stuck = {op: codes for op, codes in ADMIN_STATUSES.items() if codes <= {401, 403, 404}}
    assert not stuck, stuck
