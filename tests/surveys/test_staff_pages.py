"""Staff pages: list, import with located errors, detail, preview, lifecycle buttons."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from surveys import services
from surveys.models import Edition, EditionStatus, Series
from surveys.reference import REFERENCE_DIR
from tests.conftest import login_with_mfa


def logged_in(client, user):
    # Staff pages need a session that passed MFA; officers' sessions are plain logins.
    return login_with_mfa(client, user)


def test_anonymous_visitors_are_sent_to_login(client, db):
    response = client.get("/staff/editions/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("who", ["officer_alice", "pending_pete", "outsider_charlie"])
def test_non_staff_get_403(request, client, who):
    assert logged_in(client, request.getfixturevalue(who)).get("/staff/editions/").status_code == 403


def test_the_list_shows_editions_to_analysts(client, analyst_ann, draft_2017):
    body = logged_in(client, analyst_ann).get("/staff/editions/").content.decode()
    assert "2017" in body and "Draft" in body


def test_staff_reach_exports_and_an_editions_results_and_coding_by_links(client, analyst_ann, draft_2017):
    client = logged_in(client, analyst_ann)
    assert 'href="/staff/exports/"' in client.get("/staff/editions/").content.decode()
    detail = f"/staff/editions/{draft_2017.pk}/"
    links = (f'href="/staff/results/{draft_2017.pk}/"', f'href="/staff/coding/editions/{draft_2017.pk}/"')
    page = client.get(detail).content.decode()
    assert not any(link in page for link in links)  # a draft has no answers to code or count
    services.edition_open(edition=draft_2017, closes_at=timezone.now() + timedelta(days=1))
    page = client.get(detail).content.decode()
    assert all(link in page for link in links)


def test_officers_see_no_staff_links(client, officer_alice):
    assert 'href="/staff/' not in logged_in(client, officer_alice).get("/").content.decode()


def test_analysts_may_not_import_or_open(client, analyst_ann, draft_2017):
    client = logged_in(client, analyst_ann)
    assert client.get("/staff/editions/import/").status_code == 403
    response = client.post(f"/staff/editions/{draft_2017.pk}/open/", {"closes_at": "2099-01-01T00:00"})
    assert response.status_code == 403
    draft_2017.refresh_from_db()
    assert draft_2017.status == EditionStatus.DRAFT


def test_an_administrator_imports_through_the_page(client, admin_ada):
    upload = SimpleUploadedFile("netclean-2017.xlsx", (REFERENCE_DIR / "netclean-2017.xlsx").read_bytes())
    response = logged_in(client, admin_ada).post(
        "/staff/editions/import/",
        {"new_series_slug": "le-survey", "new_series_title": "LE survey", "label": "2017", "file": upload},
    )
    edition = Edition.objects.get(series__slug="le-survey", label="2017")
    assert response.status_code == 302 and response["Location"] == f"/staff/editions/{edition.pk}/"


def test_a_bad_file_shows_the_errors_and_saves_nothing(client, admin_ada):
    upload = SimpleUploadedFile("form.xlsx", b"this is not a workbook")
    response = logged_in(client, admin_ada).post(
        "/staff/editions/import/", {"new_series_slug": "le-survey", "label": "2017", "file": upload}
    )
    assert response.status_code == 200
    assert "was not imported" in response.content.decode()
    assert not Edition.objects.exists()
    assert not Series.objects.exists()  # the new series named in the form goes only with its edition


def test_preview_renders_every_page_and_checks_answers_without_storing(client, analyst_ann, draft_2017):
    client = logged_in(client, analyst_ann)
    for number in range(1, 9):
        response = client.get(f"/staff/editions/{draft_2017.pk}/preview/?page={number}")
        assert response.status_code == 200
    grid_page = client.get(f"/staff/editions/{draft_2017.pk}/preview/?page=4").content.decode()
    assert '<fieldset class="grid" id="q-access"' in grid_page and 'name="access_family"' in grid_page
    checked = client.post(
        f"/staff/editions/{draft_2017.pk}/preview/?page=3",
        {"avg_case_images_total": "10", "avg_case_images_csam": "11"},
    ).content.decode()
    assert "error-summary" in checked and 'href="#q-avg_case_images_csam"' in checked


def test_an_administrator_opens_and_closes_from_the_detail_page(client, admin_ada, draft_2017):
    client = logged_in(client, admin_ada)
    closes = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/staff/editions/{draft_2017.pk}/open/", {"closes_at": closes})
    draft_2017.refresh_from_db()
    assert draft_2017.status == EditionStatus.OPEN
    page = client.get(f"/staff/editions/{draft_2017.pk}/").content.decode()
    assert "frozen" in page and "Close now" in page
    client.post(f"/staff/editions/{draft_2017.pk}/close/")
    draft_2017.refresh_from_db()
    assert draft_2017.status == EditionStatus.CLOSED


def test_the_definition_downloads_as_json(client, analyst_ann, draft_2017):
    response = logged_in(client, analyst_ann).get(f"/staff/editions/{draft_2017.pk}/definition.json")
    assert response.status_code == 200 and response.json()["format"] == "vetted-survey/1"
