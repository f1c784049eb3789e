"""The coding screen's keyboard shortcuts leave the page's own keys alone: Enter on a link or a button
does what that link or button does, and Ctrl/Alt/Meta with a digit is the browser's, not a toggle."""

import re

import pytest
from django.test import Client

from coding import services as coding_services
from coding.models import HumanCoding
from tests.coding.conftest import add_answers
from tests.conftest import login_with_mfa

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect
ITEM = "workload_reasons"


@pytest.fixture
def coding_page(browser, live_server, open_2017, analyst_ann):
    coding_services.codebooks_import_reference(edition=open_2017)
    answers = add_answers(open_2017, ITEM, [f"Answer number {n}" for n in range(3)])
    client = login_with_mfa(Client(), analyst_ann)
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/{ITEM}/?filter=uncoded")
    yield page, answers
    context.close()


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
