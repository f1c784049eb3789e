"""The officer portal without JavaScript: pages, skip logic, back and next, errors, submit, receipt."""

import re

import pytest

from accounts.models import Participation, ParticipationStatus
from responses.models import StagedSubmission
from surveys.services import edition_close


@pytest.fixture
def alice_client(client, officer_alice):
    client.force_login(officer_alice)
    return client


def post(client, edition, page: int, action: str, **answers):
    return client.post(f"/portal/{edition.pk}/", {"_page": str(page), "_action": action, **answers})


def test_anonymous_visitors_log_in_first_and_pending_officers_are_refused(client, open_2017, pending_pete):
    response = client.get(f"/portal/{open_2017.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(pending_pete)
    assert client.get(f"/portal/{open_2017.pk}/").status_code == 403
    assert client.get("/portal/").status_code == 403


def test_the_portal_lists_open_editions_to_answer(alice_client, open_2017):
    body = alice_client.get("/portal/").content.decode()
    assert f'href="/portal/{open_2017.pk}/"' in body


def test_the_first_page_shows_its_items_the_progress_and_the_anonymity_link(alice_client, open_2017):
    body = alice_client.get(f"/portal/{open_2017.pk}/").content.decode()
    assert 'name="country"' in body and 'name="agency_type"' in body
    assert "Page 1 of 8" in body
    assert 'href="/anonymity/"' in body
    assert "never stored on our server" in body
    assert "no-store" in alice_client.get(f"/portal/{open_2017.pk}/")["Cache-Control"]


def test_next_refuses_a_page_with_a_missing_required_answer(alice_client, open_2017):
    body = post(alice_client, open_2017, 0, "next", agency_type="local").content.decode()
    assert "error-summary" in body and 'href="#q-country"' in body
    assert 'value="local" checked' in body  # what was entered is kept
    assert "Page 1 of 8" in body


def test_next_and_back_carry_the_answers_in_the_form_not_on_the_server(alice_client, open_2017):
    body = post(alice_client, open_2017, 0, "next", country="SE", agency_type="local").content.decode()
    assert "Page 2 of 8" in body and 'name="workload_change"' in body
    assert '<input type="hidden" name="country" value="SE">' in body
    back = post(alice_client, open_2017, 1, "back", country="SE", agency_type="local").content.decode()
    assert "Page 1 of 8" in back and '<option value="SE" selected>' in back
    assert not StagedSubmission.objects.exists()
    session = alice_client.session
    assert "SE" not in str(dict(session.items()))


def test_answers_hidden_by_a_later_change_are_dropped_not_submitted(alice_client, open_2017, worker_keys):
    answers = {
        "country": "SE",
        "workload_change": "unchanged",
        "workload_reasons": "text left over from when it said increased",
        "better_equipped": "no",
        "viewing_handson_correlation": "rare",
    }
    body = post(alice_client, open_2017, 7, "submit", **answers).content.decode()
    assert "your answers are in" in body
    assert StagedSubmission.objects.count() == 1


def test_submit_with_a_problem_on_an_earlier_page_goes_back_to_it(alice_client, open_2017, worker_keys):
    body = post(alice_client, open_2017, 7, "submit", country="SE").content.decode()
    assert "error-summary" in body and 'href="#q-workload_change"' in body
    assert "Page 2 of" in body
    assert not StagedSubmission.objects.exists()


def test_a_complete_submission_shows_a_receipt_once(alice_client, open_2017, officer_alice, worker_keys):
    answers = {
        "country": "SE",
        "workload_change": "decreased",
        "better_equipped": "no",
        "viewing_handson_correlation": "rare",
        "offender_age": ["20_30", "30_40"],
    }
    body = post(alice_client, open_2017, 7, "submit", **answers).content.decode()
    assert re.search(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}", body)
    assert (
        Participation.objects.get(user=officer_alice, edition=open_2017).status
        == ParticipationStatus.SUBMITTED
    )
    again = alice_client.get(f"/portal/{open_2017.pk}/").content.decode()
    assert "already answered" in again
    resubmit = post(alice_client, open_2017, 7, "submit", **answers).content.decode()
    assert "already answered" in resubmit
    assert StagedSubmission.objects.count() == 1


def test_answers_sent_after_the_close_are_told_so_not_a_404(alice_client, open_2017, worker_keys):
    # The officer still has the last page open when the edition closes, then presses Submit.
    edition_close(edition=open_2017)
    for response in (
        post(alice_client, open_2017, 7, "submit", country="SE"),
        alice_client.get(f"/portal/{open_2017.pk}/"),
    ):
        assert response.status_code == 403
        assert "not open for answers" in response.content.decode()
    assert not StagedSubmission.objects.exists()


def test_a_draft_is_not_found_in_the_portal(alice_client, draft_2017):
    assert alice_client.get(f"/portal/{draft_2017.pk}/").status_code == 404


def test_the_grid_page_renders_rows_as_an_accessible_table(alice_client, open_2017):
    body = post(
        alice_client, open_2017, 2, "next", country="SE", workload_change="decreased", better_equipped="no"
    ).content.decode()
    assert '<fieldset class="grid" id="q-access"' in body
    assert "<legend>How common is it that offenders have access to children through…</legend>" in body
    assert '<th scope="row">Extended family' in body


def test_the_receipt_check_page_says_yes_or_no(client, open_2017, officer_alice, worker_keys):
    from responses import services

    code = services.response_submit(
        edition=open_2017,
        officer=officer_alice,
        answers={
            "country": "SE",
            "workload_change": "decreased",
            "better_equipped": "no",
            "viewing_handson_correlation": "rare",
        },
    ).code
    url = f"/receipts/{open_2017.pk}/"
    assert b"not among the released" in client.post(url, {"receipt": code}).content
    services.pool_release(edition_id=open_2017.pk)
    assert b"Yes: this receipt is among" in client.post(url, {"receipt": code.lower()}).content
    assert b"not among the released" in client.post(url, {"receipt": "AAAA"}).content


def test_the_anonymity_page_is_public(client, db):
    body = client.get("/anonymity/").content.decode()
    assert "How your answers stay anonymous" in body and "sealed" in body
    # It explains the ballot (level 2), the fingerprint check and the fallback, in plain words.
    text = " ".join(body.split())
    assert "blind signature" in text and "fingerprint" in text and "without your login" in text
    assert "on its way" not in text


def test_every_other_page_comes_empty_in_an_inert_template_for_the_browser(alice_client, open_2017):
    body = post(alice_client, open_2017, 0, "next", country="SE", agency_type="local").content.decode()
    assert "Page 2 of 8" in body
    templates = re.findall(r'<template class="page-template" data-page="(\d)">(.*?)</template>', body, re.S)
    assert [number for number, _ in templates] == ["0", "2", "3", "4", "5", "6", "7"]
    about_you = dict(templates)["0"]
    assert 'name="country"' in about_you and 'name="agency_type"' in about_you
    # The level-1 answers travel in the form's hidden fields, never into the browser's pages.
    assert all(" checked" not in html and " selected" not in html for _, html in templates)
    assert '<input type="hidden" name="country" value="SE">' in body
    start = body.index('id="questionnaire"')
    form = body[start : body.index("</form>", start)]
    assert "<template" not in form and form.count('class="page"') == 1


def issue_ballot(officer, edition) -> None:
    """The officer's browser obtains its ballot (what the portal page does on arrival)."""
    from cryptography.hazmat.primitives import serialization

    from responses import ballots, blindrsa

    published = ballots.ballot_key_published(edition)
    public = serialization.load_pem_public_key(published.public_pem.encode())
    blinded, _ = blindrsa.blind(public, blindrsa.prepare(b"a ballot kept in the browser"))
    ballots.ballot_issue(officer=officer, edition=edition, blinded_msg=blinded)


def test_an_edition_with_a_ballot_in_a_browser_is_shown_apart_with_a_link_to_continue(
    alice_client, open_2017, officer_alice
):
    issue_ballot(officer_alice, open_2017)
    assert (
        Participation.objects.get(user=officer_alice, edition=open_2017).status
        == ParticipationStatus.BALLOT_ISSUED
    )
    body = alice_client.get("/portal/").content.decode()
    held = re.search(
        rf'<section class="card ballot-held" id="ballot-held-{open_2017.pk}">(.*?)</section>', body, re.S
    )
    assert held, "the edition is not shown as started with a ballot"
    text = " ".join(held.group(1).split())
    assert "You have a ballot for this questionnaire in the browser where you started." in text
    assert "Continue there; if you already sent your answers, nothing more is needed." in text
    assert f'href="/portal/{open_2017.pk}/"' in text
    # Not offered as one still to answer, nor listed as answered (the server cannot know that).
    assert ">Answer</a>" not in body and "thank you" not in body
    assert "There is no questionnaire for you to answer" not in body
    # The link leads to the questionnaire, where the browser holding the ballot finds it.
    assert alice_client.get(f"/portal/{open_2017.pk}/").status_code == 200
