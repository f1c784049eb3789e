"""The editions API: who may list, read, import, open and close."""

from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.models import Edition, EditionStatus
from surveys.reference import REFERENCE_DIR
from tests.conftest import api_client_for


def upload(client, *, label="2017", series="law-enforcement-survey", name="netclean-2017.xlsx", content=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = content if content is not None else (REFERENCE_DIR / name).read_bytes()
    return client.post(
        "/api/v1/editions/",
        {"file": SimpleUploadedFile(name, data), "series": series, "label": label},
        format="multipart",
    )


def test_an_administrator_imports_an_xlsform_as_a_draft(admin_ada):
    response = upload(api_client_for(admin_ada))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["status"] == "draft" and body["label"] == "2017" and body["series"] == "law-enforcement-survey"
    )
    assert set(body) == {"id", "series", "label", "title", "status", "opens_at", "closes_at"}
    assert Edition.objects.filter(pk=body["id"], status=EditionStatus.DRAFT).exists()


def test_a_bad_upload_gets_400_with_located_errors(admin_ada):
    response = upload(api_client_for(admin_ada), name="broken.xlsx", content=b"PK\x03\x04 not really a zip")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and {"message", "sheet", "row", "column"} <= set(errors[0])
    assert not Edition.objects.exists()


@pytest.mark.parametrize("who", ["analyst_ann", "officer_alice", "pending_pete"])
def test_only_administrators_may_import(request, who):
    response = upload(api_client_for(request.getfixturevalue(who)))
    assert response.status_code == 403
    assert not Edition.objects.exists()


def test_anonymous_callers_are_refused(db):
    response = api_client_for(None).get("/api/v1/editions/")
    assert response.status_code in (401, 403)


def test_officers_see_published_editions_only(officer_alice, open_2017, series):
    from tests.conftest import import_reference

    draft = import_reference(series, "2016")
    client = api_client_for(officer_alice)
    listed = [e["id"] for e in client.get("/api/v1/editions/").json()]
    assert listed == [open_2017.pk]
    assert client.get(f"/api/v1/editions/{draft.pk}/").status_code == 404


def test_the_list_refuses_a_query_rather_than_list_every_edition(officer_alice, open_2017):
    """The list takes no parameters: ?status=open listed drafts and closed editions too, as if filtered."""
    client = api_client_for(officer_alice)
    refused = client.get("/api/v1/editions/?status=open&series=x")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "unknown query parameters series, status; known: none"}
    assert [e["id"] for e in client.get("/api/v1/editions/?format=json").json()] == [open_2017.pk]


def test_the_detail_holds_the_frozen_definition_by_code(officer_alice, open_2017):
    body = api_client_for(officer_alice).get(f"/api/v1/editions/{open_2017.pk}/").json()
    assert body["definition"] == open_2017.frozen_definition
    assert "common3" in body["definition"]["choice_lists"]


def test_open_and_close_through_the_api(admin_ada, draft_2017):
    client = api_client_for(admin_ada)
    closes_at = (timezone.now() + timedelta(days=7)).isoformat()
    opened = client.post(f"/api/v1/editions/{draft_2017.pk}/open/", {"closes_at": closes_at}, format="json")
    assert opened.status_code == 200 and opened.json()["status"] == "open"
    again = client.post(f"/api/v1/editions/{draft_2017.pk}/open/", {"closes_at": closes_at}, format="json")
    assert again.status_code == 409
    closed = client.post(f"/api/v1/editions/{draft_2017.pk}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_open_without_a_closing_time_is_a_400(admin_ada, draft_2017):
    response = api_client_for(admin_ada).post(f"/api/v1/editions/{draft_2017.pk}/open/", {}, format="json")
    assert response.status_code == 400 and "closes_at" in response.json()


@pytest.mark.parametrize("who", ["analyst_ann", "officer_alice"])
def test_only_administrators_may_open_or_close(request, who, draft_2017):
    client = api_client_for(request.getfixturevalue(who))
    closes_at = (timezone.now() + timedelta(days=7)).isoformat()
    assert (
        client.post(
            f"/api/v1/editions/{draft_2017.pk}/open/", {"closes_at": closes_at}, format="json"
        ).status_code
        == 403
    )
    assert client.post(f"/api/v1/editions/{draft_2017.pk}/close/").status_code == 403
    draft_2017.refresh_from_db()
    assert draft_2017.status == EditionStatus.DRAFT


def test_an_unknown_edition_is_a_404(admin_ada):
    assert api_client_for(admin_ada).get("/api/v1/editions/999999/").status_code == 404


def test_the_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/v1/editions/",
        "/api/v1/editions/{edition_id}/",
        "/api/v1/editions/{edition_id}/open/",
    } <= set(paths)
    assert client.get("/api/v1/docs/").status_code == 200


def test_a_refused_import_leaves_no_new_series_behind(admin_ada):
    from surveys.models import Series

    response = upload(api_client_for(admin_ada), series="brand-new-series", label="2017/pilot")
    assert response.status_code == 400
    assert not Series.objects.filter(slug="brand-new-series").exists()
