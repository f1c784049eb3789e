"""With a ballot, no answer travels with the session: the browser moves between the questionnaire's pages
itself (docs/anonymity.md, "In the browser"). Every request of a full answering journey is recorded and
searched for the answers; the per-page checks, a language change, a lost ballot response, a lost
submission response and a questionnaire that closes in the meantime are handled in the page."""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Participation, ParticipationStatus
from responses import services as response_services
from responses.models import Answer, StagedSubmission
from surveys import services as survey_services
from surveys.models import Edition
from surveys.selectors import edition_definition
from tests.e2e.helpers import ballot_key, ballots, drafts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect

# Distinctive answers: if one of them shows up in a request, that request carried an answer.
CANARY_TEXTS = {
    "workload_reasons": "canary-Qx7 more phones per seizure",
    "better_equipped_other": "canary-Zk4 triage tool",
    "offender_professions": "canary-Vb9 sports coaches",
    "offender_change_how": "canary-Hm2 encrypted apps",
    "correlation_comment": "canary-Jt5 often both",
    "workplace_comment": "canary-Rw8 schools",
    "trends": "canary-Np3 livestreaming",
}
CANARY_NUMBERS = {
    "avg_case_images_total": "48151623",
    "avg_case_images_csam": "3141592",
    "avg_case_video_hours": "271.828",
    "largest_case_images_total": "7777321",
    "largest_case_images_csam": "6543210",
    "largest_case_terabytes": "1618.034",
    "children_rescued": "31337",
}
CANARIES = [*CANARY_TEXTS.values(), *CANARY_NUMBERS.values()]


def progress(page, text: str) -> None:
    expect(page.locator(".progress-text")).to_have_text(text)


def press(page, action: str, text: str) -> None:
    page.click(f"button[name=_action][value={action}]")
    progress(page, text)


def fill(page, answers: dict[str, str]) -> None:
    for code, value in answers.items():
        page.fill(f"#f-{code}", value)


# Records every mode the ballot box goes through (portal.js sets data-mode on #ballot).
MODE_CHANGES = """document.addEventListener('DOMContentLoaded', () => {
  const box = document.getElementById('ballot');
  window.ballotModes = [box.dataset.mode];
  new MutationObserver(() => window.ballotModes.push(box.dataset.mode))
    .observe(box, {attributes: true, attributeFilter: ['data-mode']});
});"""


def carried_canaries(request) -> list[str]:
    """The canaries in a request's address or body."""
    body = request.post_data_buffer or b""
    seen = request.url + body.decode("utf-8", "replace")
    return [canary for canary in CANARIES if canary in seen]


def has_session(request) -> bool:
    return f"{settings.SESSION_COOKIE_NAME}=" in request.all_headers().get("cookie", "")


def test_no_request_with_the_session_carries_an_answer_during_a_whole_journey(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    recorded = []
    page.context.on("request", lambda request: recorded.append(request))
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    expect(page.locator("#ballot-message")).to_contain_text("Moving between pages happens in this browser")
    progress(page, "Page 1 of 8")
    page.select_option("#f-country", "SE")
    page.check("input[name=agency_type][value=national]")
    press(page, "next", "Page 2 of 8")
    expect(page).to_have_title(f"Workload (insight 1) · {open_2017.display_title}")
    expect(page.locator("h1")).to_have_text("Workload (insight 1)")
    expect(page.locator("h1")).to_be_focused()
    page.check("input[name=workload_change][value=increased]")
    page.check("input[name=better_equipped][value=yes]")
    page.check("input[name=better_equipped_reasons][value=other]")
    fill(page, {c: CANARY_TEXTS[c] for c in ("workload_reasons", "better_equipped_other")})
    press(page, "next", "Page 3 of 8")
    fill(page, {c: v for c, v in CANARY_NUMBERS.items() if c != "children_rescued"})
    press(page, "back", "Page 2 of 8")
    expect(page.locator("#f-workload_reasons")).to_have_value(CANARY_TEXTS["workload_reasons"])
    press(page, "next", "Page 3 of 8")
    expect(page.locator("#f-avg_case_images_total")).to_have_value(CANARY_NUMBERS["avg_case_images_total"])
    press(page, "next", "Page 4 of 8")
    page.check("input[name=access_family][value=common]")
    page.check("input[name=offender_changed][value=yes]")
    fill(page, {c: CANARY_TEXTS[c] for c in ("offender_professions", "offender_change_how")})
    shot(page, "page-4-in-the-browser")

    # Leaving and coming back: the page is fetched again (with the session, without answers), the
    # draft restored from this device, and "Continue" goes to page 4 in the browser.
    page.goto("/portal/")
    expect(page.locator(f"#ballot-held-{open_2017.pk}")).to_contain_text(
        "You have a ballot for this questionnaire in the browser where you started"
    )
    page.click(f"#ballot-held-{open_2017.pk} a")
    progress(page, "Page 1 of 8")
    expect(page.locator("#draft-status")).to_contain_text("Draft restored from this device")
    page.click("#draft-continue")
    progress(page, "Page 4 of 8")
    expect(page.locator("#draft-continue")).to_have_count(0)
    expect(page.locator("#f-offender_change_how")).to_have_value(CANARY_TEXTS["offender_change_how"])
    press(page, "next", "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation][value=common]")
    fill(page, {"correlation_comment": CANARY_TEXTS["correlation_comment"]})
    press(page, "next", "Page 6 of 8")
    fill(page, {"workplace_comment": CANARY_TEXTS["workplace_comment"]})
    press(page, "next", "Page 7 of 8")
    fill(page, {"trends": CANARY_TEXTS["trends"]})
    press(page, "next", "Page 8 of 8")
    expect(page.locator("button[name=_action][value=next]")).to_have_count(0)
    fill(page, {"children_rescued": CANARY_NUMBERS["children_rescued"]})
    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as sent:
        page.click("button[name=_action][value=submit]")
    expect(page.locator("h1")).to_have_text("Thank you — your answers are in")
    assert sent.value.status == 201

    submissions = [r for r in recorded if r.url.endswith("/anonymous-responses/")]
    others = [r for r in recorded if r not in submissions]
    identified = [r for r in others if has_session(r)]
    print(f"\n{len(recorded)} requests: {len(identified)} with the session, {len(submissions)} anonymous")
    for r in recorded:
        who = "session" if r in identified else "no cookie"
        print(f"  {r.method} {urlsplit(r.url).path} ({who}, body {len(r.post_data_buffer or b'')} bytes)")
    # The check is not vacuous: the page loads and the ballot request did carry the session.
    paths = {(r.method, urlsplit(r.url).path) for r in identified}
    assert ("GET", f"/portal/{open_2017.pk}/") in paths and ("GET", "/portal/") in paths
    assert ("POST", f"/api/v1/editions/{open_2017.pk}/ballots/") in paths
    # No request but the anonymous one carries an answer, and none with the session has a body or a
    # query string, except the ballot request, which holds the blinded message only.
    assert {canary: r.url for r in others for canary in carried_canaries(r)} == {}
    for r in identified:
        if r.method == "POST":
            assert r.url.endswith("/ballots/") and set(json.loads(r.post_data)) == {"blinded_msg"}
        else:
            assert r.method == "GET" and not r.post_data and urlsplit(r.url).query == "", r.url
    assert not [r for r in recorded if r.method == "POST" and "/portal/" in r.url]
    # The one anonymous request carries every answer and no cookie.
    (submission,) = submissions
    assert "cookie" not in submission.all_headers()
    assert sorted(carried_canaries(submission)) == sorted(CANARIES)
    answers = json.loads(submission.post_data)["answers"]
    assert answers["workload_reasons"] == CANARY_TEXTS["workload_reasons"]
    assert answers["children_rescued"] == CANARY_NUMBERS["children_rescued"]

    # And they arrive: released, the free-text canaries are among the answers.
    survey_services.edition_close(edition=open_2017)
    assert response_services.pool_release(edition_id=open_2017.pk) == 1
    released = set(Answer.objects.filter(text__startswith="canary-").values_list("text", flat=True))
    assert released == set(CANARY_TEXTS.values())


def test_each_page_is_checked_in_the_browser_before_moving_on_or_sending(
    login, shot, open_2017, officer_alice
):
    page = login(officer_alice)
    recorded = []
    page.context.on("request", lambda request: recorded.append(request))
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    before = len(recorded)
    page.check("input[name=agency_type][value=local]")
    page.click("button[name=_action][value=next]")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("This question needs an answer.")
    expect(page.locator("#q-country .field-error")).to_have_text("This question needs an answer.")
    progress(page, "Page 1 of 8")
    shot(page, "required-checked-in-the-browser")
    page.select_option("#f-country", "FI")
    press(page, "next", "Page 2 of 8")
    expect(page.locator("#error-summary")).to_have_count(0)
    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    press(page, "next", "Page 3 of 8")
    # A constraint that refers to another answer, checked as the server would.
    fill(page, {"avg_case_images_total": "100", "avg_case_images_csam": "200"})
    page.click("button[name=_action][value=next]")
    expect(page.locator("#q-avg_case_images_csam .field-error")).to_have_text("This answer is not allowed.")
    fill(page, {"avg_case_images_csam": "20"})
    press(page, "next", "Page 4 of 8")
    press(page, "next", "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation][value=rare]")
    for number in range(6, 9):
        press(page, "next", f"Page {number} of 8")
    fill(page, {"children_rescued": "-5"})
    page.click("button[name=_action][value=submit]")
    expect(page.locator("#q-children_rescued .field-error")).to_have_text("The smallest allowed value is 0.")
    expect(page.locator("#f-children_rescued")).to_have_attribute("aria-invalid", "true")
    # Nothing was sent for any of this: the checks ran in the page.
    assert not [r for r in recorded[before:] if r.resource_type in {"xhr", "fetch", "document"}]
    assert StagedSubmission.objects.count() == 0


def test_a_language_change_asks_the_server_for_the_language_only_and_keeps_page_and_answers(
    login, series, draft_2017, officer_alice
):
    definition = edition_definition(draft_2017)
    definition["languages"].append({"code": "sv", "name": "Svenska"})
    for group in definition["groups"]:
        group["label"]["sv"] = "SV " + group["label"]["en"]
    bilingual = survey_services.edition_import_definition(
        series=series, label="2017-sv", definition=definition
    )
    survey_services.edition_open(edition=bilingual, closes_at=timezone.now() + timedelta(days=30))

    page = login(officer_alice)
    recorded = []
    page.context.on("request", lambda request: recorded.append(request))
    page.goto(f"/portal/{bilingual.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    page.select_option("#f-country", "SE")
    press(page, "next", "Page 2 of 8")
    page.check("input[name=workload_change][value=increased]")
    fill(page, {"workload_reasons": CANARY_TEXTS["workload_reasons"]})
    page.select_option("#lang", "sv")
    with page.expect_navigation():
        page.click("button[name=_action][value=language]")
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    progress(page, "Page 2 of 8")
    expect(page.locator("h1")).to_have_text("SV Workload (insight 1)")
    expect(page.locator("#f-workload_reasons")).to_have_value(CANARY_TEXTS["workload_reasons"])
    assert urlsplit(page.url).fragment == ""  # the page number was read and dropped
    (changed,) = [r for r in recorded if r.is_navigation_request() and "lang=" in r.url]
    assert changed.method == "GET" and urlsplit(changed.url).query == "lang=sv"
    assert not [r for r in recorded if carried_canaries(r)]


def test_a_lost_ballot_response_is_asked_again_with_the_same_blinded_message_and_recovers(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    asked = []
    lost = []

    def lose_the_first_answer(route):
        asked.append(route.request.post_data)
        if not lost:
            lost.append(route.fetch())  # the server signs and commits; the browser never hears back
            route.abort()
        else:
            route.continue_()

    page.route("**/ballots/", lose_the_first_answer)
    answered = []
    page.on("response", lambda r: answered.append(r) if r.url.endswith("/ballots/") else None)
    page.add_init_script(MODE_CHANGES)
    page.goto(f"/portal/{open_2017.pk}/")
    # Pages switch in the browser whatever the ballot is doing.
    page.select_option("#f-country", "SE")
    press(page, "next", "Page 2 of 8")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    modes = page.evaluate("window.ballotModes")
    assert modes[modes.index("retry") :] == ["retry", "ready"]  # lost, asked again a moment later, kept
    assert (
        Participation.objects.get(user=officer_alice, edition=open_2017).status
        == ParticipationStatus.BALLOT_ISSUED
    )
    assert len(asked) == 2 and asked[0] == asked[1]  # the same blinded message, kept before it left
    (again,) = answered
    assert again.status == 201 and again.json()["blind_sig"] == lost[0].json()["blind_sig"]
    assert set(ballots(page)[ballot_key(open_2017, officer_alice)]) == {"fingerprint", "token", "signature"}

    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    press(page, "next", "Page 3 of 8")
    press(page, "next", "Page 4 of 8")
    press(page, "next", "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation][value=rare]")
    for number in range(6, 9):
        press(page, "next", f"Page {number} of 8")
    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as sent:
        page.click("button[name=_action][value=submit]")
    assert sent.value.status == 201
    expect(page.locator("h1")).to_have_text("Thank you — your answers are in")
    assert StagedSubmission.objects.count() == 1


def answer_to_the_last_page(page, edition) -> None:
    page.goto(f"/portal/{edition.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")
    page.select_option("#f-country", "SE")
    press(page, "next", "Page 2 of 8")
    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    press(page, "next", "Page 3 of 8")
    press(page, "next", "Page 4 of 8")
    press(page, "next", "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation][value=rare]")
    for number in range(6, 9):
        press(page, "next", f"Page {number} of 8")


def test_answers_that_arrived_although_the_page_never_heard_back_are_reported_as_received(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    answer_to_the_last_page(page, open_2017)
    lost = []

    def lose_the_first_answer(route):
        if not lost:
            lost.append(route.fetch())  # staged and the ballot spent; the answer never reaches the page
            route.abort()
        else:
            route.continue_()

    page.route("**/anonymous-responses/", lose_the_first_answer)
    page.click("button[name=_action][value=submit]")
    expect(page.locator("#ballot-send-status")).to_contain_text("no connection to the server")
    assert lost[0].status == 201 and StagedSubmission.objects.count() == 1
    assert drafts(page)  # nothing deleted while the page does not know

    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as again:
        page.click("button[name=_action][value=submit]")
    assert again.value.status == 409 and again.value.json()["code"] == "ballot_spent"
    expect(page.locator("#ballot-message")).to_contain_text("Your answers were already received")
    expect(page.locator("#questionnaire")).to_be_hidden()
    shot(page, "already-received")
    assert drafts(page) == {}
    assert ballots(page) == {ballot_key(open_2017, officer_alice): {"sent": True}}
    assert StagedSubmission.objects.count() == 1


def test_a_questionnaire_closed_before_sending_keeps_the_draft_and_says_so(
    login, shot, open_2017, officer_alice
):
    page = login(officer_alice)
    answer_to_the_last_page(page, open_2017)
    fill(page, {"children_rescued": CANARY_NUMBERS["children_rescued"]})
    Edition.objects.filter(pk=open_2017.pk).update(closes_at=timezone.now() - timedelta(seconds=1))
    held = ballots(page)
    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as sent:
        page.click("button[name=_action][value=submit]")
    assert sent.value.status == 409 and sent.value.json()["code"] == "not_open"
    expect(page.locator("#ballot-message")).to_contain_text("This questionnaire has closed")
    expect(page.locator("#ballot-send-status")).to_contain_text("They are still on this device")
    expect(page.locator("button[name=_action][value=submit]")).to_be_disabled()
    shot(page, "closed-before-sending")
    (draft,) = drafts(page).values()
    assert draft["answers"]["children_rescued"] == CANARY_NUMBERS["children_rescued"]
    assert ballots(page) == held
    assert StagedSubmission.objects.count() == 0


def test_the_level_1_fallback_still_moves_between_pages_through_the_server(login, open_2017, officer_alice):
    page = login(officer_alice)
    page.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })")
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "fallback")
    page.select_option("#f-country", "SE")
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/portal/{open_2017.pk}/")
    ) as posted:
        press(page, "next", "Page 2 of 8")
    assert "country=SE" in posted.value.post_data  # level 1, as the page says
    # The pages the browser would switch to stay inert templates, never part of the form.
    assert page.locator("#questionnaire .page").count() == 1
    assert page.locator("template.page-template").count() == 7
    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    press(page, "next", "Page 3 of 8")
    assert page.locator("input[type=hidden][name=country]").get_attribute("value") == "SE"
