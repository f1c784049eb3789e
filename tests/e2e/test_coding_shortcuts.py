"""The coding screen's keyboard shortcuts leave the page's own keys alone: Enter on a link or a button
does what that link or button does, and Ctrl/Alt/Meta with a digit is the browser's, not a toggle."""

import re

import pytest

from coding import services as coding_services
from coding.models import AnswerCode, CodeSource, CodingRun, HumanCoding, RunKind, RunStatus
from tests.coding.conftest import add_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect
ITEM = "workload_reasons"


@pytest.fixture
def coding_page(login, open_2017, analyst_ann):
    coding_services.codebooks_import_reference(edition=open_2017)
    answers = add_answers(open_2017, ITEM, [f"Answer number {n}" for n in range(3)])
    page = login(analyst_ann, mfa=True)
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/{ITEM}/?filter=uncoded")
    return page, answers


def test_enter_on_the_next_link_follows_it_and_codes_nothing(coding_page):
    page, answers = coding_page
    expect(page.locator("nav.pagination")).to_contain_text("Page 1 of 3")
    page.locator("a[rel=next]").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    expect(page.locator("nav.pagination")).to_contain_text("Page 2 of 3")
    assert not HumanCoding.objects.filter(answer__in=answers).exists()


def test_enter_on_a_checked_box_or_the_page_still_saves(coding_page):
    page, answers = coding_page
    page.locator("h1").click()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("nav.pagination")).to_contain_text("Page 1 of 2")
    assert HumanCoding.objects.filter(answer__in=answers).count() == 1


def test_a_digit_with_ctrl_or_alt_does_not_toggle(coding_page):
    page, _ = coding_page
    box = page.locator('[data-coding-form] input[data-key="1"]')
    page.locator("h1").click()
    for chord in ("Control+1", "Alt+1", "Meta+1"):
        page.keyboard.press(chord)
    assert not box.is_checked()
    page.keyboard.press("1")
    assert box.is_checked()


def test_the_latest_run_s_progress_is_polled_and_its_end_announced_without_a_reload(
    login, open_2017, analyst_ann
):
    coding_services.codebooks_import_reference(edition=open_2017)
    add_answers(open_2017, ITEM, ["More data", "Less staff"])
    # A row alone, as the start leaves it before a worker takes it (no task is sent from here).
    run = CodingRun.objects.create(
        edition=open_2017, item_code=ITEM, kind=RunKind.ZERO_SHOT, classifier="label-match", seed=1
    )
    page = login(analyst_ann, mfa=True)
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/{ITEM}/")
    status = page.locator("[data-run-status] [data-progress-text]")
    expect(status).to_have_text("Queued · 0 %")
    page.locator('[data-coding-form] input[data-key="1"]').check()  # a tick the coder has not saved

    CodingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=40)
    expect(status).to_have_text("Running · 40 %")
    expect(page.locator("[data-run-status] progress")).to_have_attribute("value", "40")
    CodingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, progress=100)
    expect(status).to_contain_text("The run has finished. Reload the page to see its codes")
    # Nothing reloaded the page: the unsaved tick is still there.
    expect(page.locator('[data-coding-form] input[data-key="1"]')).to_be_checked()


@pytest.fixture
def trends_page(login, open_2017, analyst_ann):
    """The coding screen of the 2017 `trends` item (11 categories) and its category boxes."""
    coding_services.codebooks_import_reference(edition=open_2017)
    add_answers(open_2017, "trends", ["Offenders move to encrypted apps"])
    page = login(analyst_ann, mfa=True)
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/trends/")
    boxes = page.locator("[data-coding-form] input[name=codes]")
    expect(boxes).to_have_count(11)
    return page, boxes


def test_every_category_of_an_eleven_category_codebook_has_a_key(trends_page):
    """The 2017 `trends` frame has 11 categories: the tenth is 0, the eleventh q (also with Shift), and a
    letter typed into the search box stays there."""
    page, boxes = trends_page
    keys = [boxes.nth(i).get_attribute("data-key") for i in range(11)]
    assert keys == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "q"]
    expect(page.locator("[data-coding-form] kbd").nth(10)).to_have_text("q")
    page.locator("input[type=search]").fill("")
    page.locator("input[type=search]").press("q")
    expect(page.locator("input[type=search]")).to_have_value("q")
    assert not boxes.nth(10).is_checked()
    page.locator("h1").click()
    page.keyboard.press("0")
    page.keyboard.press("Shift+Q")
    assert boxes.nth(9).is_checked() and boxes.nth(10).is_checked()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tenth, eleventh = (boxes.nth(i).get_attribute("value") for i in (9, 10))
    given = AnswerCode.objects.filter(answer__item__code="trends", source=CodeSource.HUMAN)
    assert sorted(given.values_list("category__code", flat=True)) == sorted([tenth, eleventh])


def test_the_category_keys_can_be_switched_off_and_a_held_key_toggles_once(coding_page):
    page, _ = coding_page
    box = page.locator('[data-coding-form] input[data-key="1"]')
    page.locator("h1").click()
    page.keyboard.down("1")
    page.keyboard.down("1")  # auto-repeat: the browser sends the key again with repeat set
    page.keyboard.up("1")
    assert box.is_checked()
    switch = page.locator("[data-shortcuts-switch]")
    switch.uncheck()
    page.locator("h1").click()
    page.keyboard.press("1")
    assert box.is_checked()  # off: the key no longer toggles
    page.reload()
    expect(page.locator("[data-shortcuts-switch]")).not_to_be_checked()  # kept in this browser
    page.locator("h1").click()
    page.keyboard.press("1")
    assert not page.locator('[data-coding-form] input[data-key="1"]').is_checked()
    page.locator("[data-shortcuts-switch]").check()
    page.locator("h1").click()
    page.keyboard.press("1")
    assert page.locator('[data-coding-form] input[data-key="1"]').is_checked()


def test_a_non_latin_layout_or_azerty_s_top_row_reaches_the_key_s_place(trends_page):
    """Cyrillic й sits where q is and AZERTY's unshifted & where 1 is: both toggle those categories; a
    Latin letter typed elsewhere (AZERTY's A, on the US Q key) keeps its own meaning."""
    page, boxes = trends_page

    def press(key: str, code: str) -> None:
        page.dispatch_event("h1", "keydown", {"key": key, "code": code, "bubbles": True, "cancelable": True})

    press("a", "KeyQ")  # no category has "a" (11 categories: 1-9, 0, q)
    assert not boxes.nth(10).is_checked()
    press("й", "KeyQ")
    press("&", "Digit1")
    assert boxes.nth(10).is_checked() and boxes.nth(0).is_checked()
    press("?", "Slash")  # no place of a shortcut: nothing
    assert [boxes.nth(i).is_checked() for i in range(11)].count(True) == 2
