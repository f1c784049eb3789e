"""An officer answers the 2017 edition in a real browser: live skip logic, back and next, a draft that
survives leaving the page, the answers sent with a blind-signed ballot, the receipt checked after the
release; a phone-sized screen and the keyboard alone. tests/e2e/test_ballots.py has the level-1 fallback."""

import re

import pytest

from accounts.models import Participation, ParticipationStatus
from responses import services as response_services
from responses.models import StagedSubmission
from surveys import services as survey_services
from tests.e2e.helpers import ballot_key, ballots, drafts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect


def progress(page, text: str) -> None:
    expect(page.locator(".progress-text")).to_have_text(text)


def press_next(page, text: str) -> None:
    page.click("button[name=_action][value=next]")
    progress(page, text)


def test_an_officer_answers_with_live_skip_logic_and_a_draft_kept_on_the_device(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    requests = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"/portal/{open_2017.pk}/")
    progress(page, "Page 1 of 8")
    expect(page.locator("#draft-status")).to_be_empty()
    assert drafts(page) == {}

    # The country list narrows as the officer types; the form still holds the ISO code.
    page.fill("#f-country-filter", "swed")
    expect(page.locator("#f-country")).to_have_value("SE")
    expect(page.locator("#f-country-filter-count")).to_contain_text("Sweden is chosen")
    page.check("input[name=agency_type][value=national]")
    (draft,) = drafts(page).values()
    assert draft["answers"] == {"country": "SE", "agency_type": "national"}
    shot(page, "about-you")
    press_next(page, "Page 2 of 8")

    # Follow-up questions appear and disappear as answers change, without a round trip.
    reasons, other = page.locator("#q-workload_reasons"), page.locator("#q-better_equipped_other")
    expect(reasons).to_be_hidden()
    expect(page.locator("#f-workload_reasons")).to_be_disabled()
    expect(page.locator("#q-better_equipped_reasons")).to_be_hidden()
    page.check("input[name=workload_change][value=increased]")
    expect(reasons).to_be_visible()
    page.fill("#f-workload_reasons", "More devices per case")
    page.check("input[name=better_equipped][value=yes]")
    expect(page.locator("#q-better_equipped_reasons")).to_be_visible()
    expect(other).to_be_hidden()
    page.check("input[name=better_equipped_reasons][value=other]")
    expect(other).to_be_visible()
    page.fill("#f-better_equipped_other", "New triage software")
    shot(page, "follow-ups-shown")
    page.check("input[name=workload_change][value=decreased]")
    expect(reasons).to_be_hidden()
    expect(page.locator("#f-workload_reasons")).to_be_disabled()  # so the hidden answer is not sent
    assert "workload_reasons" not in next(iter(drafts(page).values()))["answers"]
    page.check("input[name=workload_change][value=increased]")
    expect(page.locator("#f-workload_reasons")).to_have_value("More devices per case")

    # Back and next keep every answer (with a ballot the pages switch in the browser; nothing is sent).
    page.click("button[name=_action][value=back]")
    progress(page, "Page 1 of 8")
    expect(page.locator("#f-country")).to_have_value("SE")
    press_next(page, "Page 2 of 8")
    expect(page.locator("input[name=workload_change][value=increased]")).to_be_checked()
    expect(page.locator("#f-better_equipped_other")).to_have_value("New triage software")
    press_next(page, "Page 3 of 8")
    page.fill("#f-avg_case_images_total", "40000")
    page.fill("#f-avg_case_images_csam", "3000")
    shot(page, "cases")

    # The officer leaves and comes back later on the same device: the draft is restored.
    page.goto("/portal/")
    page.goto(f"/portal/{open_2017.pk}/")
    progress(page, "Page 1 of 8")
    expect(page.locator("#draft-status")).to_contain_text("Draft restored from this device")
    expect(page.locator("#f-country")).to_have_value("SE")
    expect(page.locator("input[name=agency_type][value=national]")).to_be_checked()
    shot(page, "draft-restored")
    page.click("#draft-continue")
    progress(page, "Page 3 of 8")
    expect(page.locator("#f-avg_case_images_total")).to_have_value("40000")

    press_next(page, "Page 4 of 8")
    page.check("input[name=access_family][value=common]")
    press_next(page, "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation]:first-of-type")
    press_next(page, "Page 6 of 8")
    press_next(page, "Page 7 of 8")
    press_next(page, "Page 8 of 8")
    page.fill("#f-children_rescued", "12")
    # The answers go with the ballot the page obtained on arrival, to the endpoint that knows no one.
    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as sent:
        page.click("button[name=_action][value=submit]")
    expect(page.locator("h1")).to_have_text("Thank you — your answers are in")
    receipt = page.inner_text("#receipt-code")
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}", receipt)
    assert sent.value.status == 201
    assert "cookie" not in sent.value.request.all_headers()
    assert "set-cookie" not in sent.value.all_headers()
    assert drafts(page) == {}
    assert ballots(page) == {ballot_key(open_2017, officer_alice): {"sent": True}}
    shot(page, "receipt")
    # The draft never left the browser: the only script requests are the ballot's, and the answers left
    # only once, without cookies. The key is fetched without cookies too, so it cannot be chosen per officer.
    scripted = [r for r in requests if r.resource_type in {"xhr", "fetch", "beacon", "ping", "websocket"}]
    api = f"/api/v1/editions/{open_2017.pk}/"
    assert {(r.method, r.url.removeprefix(page.url.split("/portal/")[0])) for r in scripted} == {
        ("GET", api + "ballot-key/"),
        ("POST", api + "ballots/"),
        ("POST", api + "anonymous-responses/"),
    }
    issued = [r for r in scripted if r.url.endswith("/ballots/")]
    assert len(issued) == 1 and "sessionid=" in issued[0].all_headers()["cookie"]
    assert all("cookie" not in r.all_headers() for r in scripted if r not in issued)
    assert {r.method for r in requests} == {"GET", "POST"}
    assert not [r for r in requests if r.method == "POST" and "/portal/" in r.url]  # no page change posted
    assert (
        Participation.objects.get(user=officer_alice, edition=open_2017).status
        == ParticipationStatus.BALLOT_ISSUED
    )
    assert StagedSubmission.objects.count() == 1

    # Back on the portal later, this browser says the answers were sent; nothing can be sent twice.
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot-message")).to_contain_text("You have sent your answers")
    expect(page.locator("#questionnaire")).to_be_hidden()

    # Once released, the receipt is found among the released responses.
    survey_services.edition_close(edition=open_2017)
    assert response_services.pool_release(edition_id=open_2017.pk) == 1
    page.goto(f"/receipts/{open_2017.pk}/")
    page.fill("#receipt", receipt)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#receipt-result")).to_have_text("Yes: this receipt is among the released responses.")


def test_a_draft_can_be_discarded(login, open_2017, officer_alice):
    page = login(officer_alice)
    page.goto(f"/portal/{open_2017.pk}/")
    page.select_option("#f-country", "NO")
    assert drafts(page)
    page.reload()
    expect(page.locator("#draft-status")).to_contain_text("Draft restored from this device")
    expect(page.locator("#f-country")).to_have_value("NO")
    page.click("#draft-discard")
    expect(page.locator("#draft-status")).to_contain_text("Draft discarded")
    expect(page.locator("#f-country")).to_have_value("")
    assert drafts(page) == {}
    page.reload()
    expect(page.locator("#draft-status")).to_be_empty()


def test_a_draft_of_another_version_of_the_questionnaire_is_not_applied(login, open_2017, officer_alice):
    page = login(officer_alice)
    page.goto(f"/portal/{open_2017.pk}/")
    key = f"vetted-survey:draft:v1:{open_2017.pk}:{officer_alice.pk}:"
    stale = {"answers": {"country": "NO", "agency_type": "local"}, "page": 2}
    page.evaluate(
        "([key, draft]) => localStorage.setItem(key, JSON.stringify(draft))", [key + "0" * 64, stale]
    )
    page.reload()
    expect(page.locator("#draft-status")).to_be_empty()
    expect(page.locator("#f-country")).to_have_value("")
    assert drafts(page) == {}  # the stale draft is deleted, not kept around
    page.evaluate(
        "([key, draft]) => localStorage.setItem(key, JSON.stringify(draft))",
        [key + open_2017.definition_sha256, stale],
    )
    page.reload()
    expect(page.locator("#f-country")).to_have_value("NO")


def test_on_a_phone_a_grid_is_one_question_per_row_and_the_keyboard_alone_answers(
    login, shot, open_2017, officer_alice
):
    page = login(officer_alice, viewport={"width": 375, "height": 812})
    page.goto(f"/portal/{open_2017.pk}/")

    # Keyboard only: filter the country list, pick a radio, submit with Enter.
    page.focus("#f-country-filter")
    page.keyboard.type("swed")
    page.keyboard.press("Enter")  # chooses the match and moves to the list, does not submit
    expect(page.locator("#f-country")).to_be_focused()
    expect(page.locator("#f-country")).to_have_value("SE")
    progress(page, "Page 1 of 8")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "agency_type"
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    chosen = page.evaluate("document.querySelector('input[name=agency_type]:checked').value")
    assert chosen == page.evaluate("document.querySelectorAll('input[name=agency_type]')[1].value")
    page.keyboard.press("Enter")
    progress(page, "Page 2 of 8")
    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    press_next(page, "Page 3 of 8")
    press_next(page, "Page 4 of 8")

    grid = page.locator("#q-access")
    expect(grid.locator("thead")).to_be_hidden()
    expect(grid.locator("#q-access_family th")).to_be_visible()
    expect(grid.locator("#q-access_family .grid-choice-label").first).to_be_visible()
    first, second = (grid.locator("#q-access_family input").nth(i).bounding_box() for i in (0, 1))
    assert second["y"] > first["y"]  # the scale stacks under the row's question
    shot(page, "grid-on-a-phone")

    page.focus("input[name=children_proximity] >> nth=0")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "access_family"
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#q-access_family input").nth(1)).to_be_checked()
    second_value = page.locator("#q-access_family input").nth(1).get_attribute("value")
    page.keyboard.press("Enter")
    progress(page, "Page 5 of 8")
    page.click("button[name=_action][value=back]")
    progress(page, "Page 4 of 8")
    expect(page.locator(f"input[name=access_family][value={second_value}]")).to_be_checked()

    page.set_viewport_size({"width": 1280, "height": 900})
    expect(grid.locator("thead")).to_be_visible()
    shot(page, "grid-on-a-desktop")


def test_without_javascript_the_portal_still_works_through_the_server(login, open_2017, officer_alice):
    page = login(officer_alice, java_script_enabled=False)
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#f-country-filter")).to_have_count(0)
    page.select_option("#f-country", "SE")
    press_next(page, "Page 2 of 8")
    expect(page.locator("#q-workload_reasons")).to_be_visible()  # shown; the server drops it if hidden
    page.click("button[name=_action][value=next]")
    expect(page.locator("#error-summary")).to_contain_text("needs an answer")
    progress(page, "Page 2 of 8")
