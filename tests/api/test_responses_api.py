"""POST /api/v1/editions/{id}/responses/ and GET /stats/: the same service as the portal."""

import pytest

from responses.models import StagedSubmission
from tests.conftest import api_client_for
from tests.responses.conftest import BASE_ANSWERS


@pytest.fixture
def worker_keys(settings, tmp_path):
    from responses.services import pool_keys_replenish

    settings.POOL_KEY_DIR = tmp_path / "keys"
    pool_keys_replenish(spare=1)


def submit(user, edition, answers):
    return api_client_for(user).post(
        f"/api/v1/editions/{edition.pk}/responses/", {"answers": answers}, format="json"
    )


def test_a_vetted_officer_gets_a_receipt_and_a_second_try_gets_409(officer_alice, open_2017, worker_keys):
    first = submit(officer_alice, open_2017, BASE_ANSWERS)
    assert first.status_code == 201 and len(first.json()["receipt"]) == 29
    second = submit(officer_alice, open_2017, BASE_ANSWERS)
    assert second.status_code == 409
    assert StagedSubmission.objects.count() == 1


def test_invalid_answers_get_400_with_errors_by_item_code(officer_alice, open_2017, worker_keys):
    answers = {
        "country": "Sweden",  # not a code
        "workload_change": "unchanged",
        "workload_reasons": "hidden by skip logic",
        "children_rescued": "many",
        "made_up_item": 1,
    }
    response = submit(officer_alice, open_2017, answers)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "country",
        "workload_reasons",
        "children_rescued",
        "made_up_item",
        "better_equipped",
        "viewing_handson_correlation",
    }
    assert not StagedSubmission.objects.exists()


def test_a_body_without_an_answers_object_is_a_400(officer_alice, open_2017, worker_keys):
    response = api_client_for(officer_alice).post(
        f"/api/v1/editions/{open_2017.pk}/responses/", {"answers": ["SE"]}, format="json"
    )
    assert response.status_code == 400 and "answers" in response.json()["errors"]


@pytest.mark.parametrize("who", ["pending_pete", "analyst_ann", "admin_ada"])
def test_only_vetted_officers_may_submit(request, who, open_2017, worker_keys):
    assert submit(request.getfixturevalue(who), open_2017, BASE_ANSWERS).status_code == 403


def test_a_submission_reads_vetting_with_the_token_and_stages_in_one_statement(
    officer_alice, officer_bob, open_2017, worker_keys
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Participation

    assert submit(officer_bob, open_2017, BASE_ANSWERS).status_code == 201  # the edition's key is active
    Participation.objects.get_or_create(user=officer_alice, edition=open_2017)  # invited, as usual
    client = api_client_for(officer_alice)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/api/v1/editions/{open_2017.pk}/responses/", {"answers": BASE_ANSWERS}, format="json"
        )
    assert response.status_code == 201
    statements = [q["sql"] for q in captured.captured_queries]
    vetting = [sql for sql in statements if '"accounts_officerprofile"' in sql]
    assert len(vetting) == 1 and '"knox_authtoken"' in vetting[0]  # no separate eligibility query
    # token (with vetting), edition, and the staging function (pool lock, key and window re-check,
    # Participation UPDATE, INSERT: migration responses/0004) in one transaction of its own
    assert len(statements) == 3, statements
    assert statements[2].startswith("SELECT responses_stage_invited(")
    assert Participation.objects.get(user=officer_alice, edition=open_2017).status == "submitted"
    assert StagedSubmission.objects.count() == 2


def test_vetting_is_read_afresh_on_each_request_with_the_same_token(officer_alice, open_2017, worker_keys):
    from accounts.models import OfficerProfile, VettingStatus

    client = api_client_for(officer_alice)
    OfficerProfile.objects.filter(user=officer_alice).update(vetting_status=VettingStatus.REJECTED)
    url = f"/api/v1/editions/{open_2017.pk}/responses/"
    assert client.post(url, {"answers": BASE_ANSWERS}, format="json").status_code == 403
    OfficerProfile.objects.filter(user=officer_alice).update(vetting_status=VettingStatus.VETTED)
    assert client.post(url, {"answers": BASE_ANSWERS}, format="json").status_code == 201
    assert StagedSubmission.objects.count() == 1


def test_a_draft_edition_is_a_404(officer_alice, draft_2017, worker_keys):
    assert submit(officer_alice, draft_2017, BASE_ANSWERS).status_code == 404


def test_stats_are_totals_for_administrators_only(
    admin_ada, officer_alice, analyst_ann, open_2017, worker_keys
):
    submit(officer_alice, open_2017, BASE_ANSWERS)
    stats = api_client_for(admin_ada).get(f"/api/v1/editions/{open_2017.pk}/stats/")
    assert stats.json() == {
        "submitted": 1,
        "submitted_with_ballot": 0,
        "ballots_issued": 0,
        "released": 0,
        "held": 0,
    }
    assert api_client_for(officer_alice).get(f"/api/v1/editions/{open_2017.pk}/stats/").status_code == 403
    assert api_client_for(analyst_ann).get(f"/api/v1/editions/{open_2017.pk}/stats/").status_code == 403


@pytest.mark.parametrize("path", ["responses", "anonymous-responses"])
def test_a_body_nested_too_deep_to_parse_is_a_400_not_a_500(officer_alice, open_2017, path):
    from rest_framework.test import APIClient

    client = api_client_for(officer_alice) if path == "responses" else APIClient()
    body = '{"answers": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(f"/api/v1/editions/{open_2017.pk}/{path}/", body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
