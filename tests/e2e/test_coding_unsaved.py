"""Ticked boxes not saved are not dropped silently: leaving the coding screen (Next, a filter, another
answer's Save in the table view) asks first; saving the form that holds them does not. A table row's save
comes back at the analyst's place."""

import pytest

from coding import services as coding_services
from coding.models import HumanCoding
from tests.coding.conftest import add_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect
ITEM = "workload_reasons"


@pytest.fixture
def screen(login, open_2017, analyst_ann):
    coding_services.codebooks_import_reference(edition=open_2017)
    answers = add_answers(open_2017, ITEM, [f"Answer number {n}" for n in range(3)])
    page = login(analyst_ann, mfa=True)
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()  # "Stay on this page"

    page.on("dialog", dismiss)
    return page, answers, dialogs, f"/staff/coding/editions/{open_2017.pk}/items/{ITEM}/"


def test_next_with_a_ticked_box_not_saved_asks_before_leaving(screen):
    page, answers, dialogs, url = screen
    page.goto(f"{url}?filter=uncoded")
    box = page.locator('[data-coding-form] input[data-key="1"]')
    page.locator("h1").click()
    page.keyboard.press("1")
    page.locator("a[rel=next]").click()
    expect(page.locator("nav.pagination")).to_contain_text("Page 1 of 3")  # stayed
    assert dialogs == ["beforeunload"] and box.is_checked()
    page.locator("h1").click()  # off the Next link, whose Enter would follow it
    with page.expect_navigation():
        page.keyboard.press("Enter")  # saving the ticked box: no question
    expect(page.locator("nav.pagination")).to_contain_text("Page 1 of 2")
    assert dialogs == ["beforeunload"]
    assert HumanCoding.objects.filter(answer__in=answers).count() == 1


def test_saving_one_row_of_the_table_asks_before_dropping_another_row_s_ticks(screen):
    page, answers, dialogs, url = screen
    page.goto(f"{url}?filter=uncoded&view=table")
    forms = page.locator("form[data-coding-form]")
    expect(forms).to_have_count(3)
    forms.nth(0).locator("input[name=codes]").first.check()
    forms.nth(1).locator("input[name=codes]").first.check()
    forms.nth(1).get_by_role("button", name="Save codes").click()
    expect(forms).to_have_count(3)  # stayed: the first row's tick is still there to save
    assert dialogs == ["beforeunload"]
    assert forms.nth(0).locator("input[name=codes]").first.is_checked()
    assert not HumanCoding.objects.filter(answer__in=answers).exists()


def test_saving_a_row_of_the_table_keeps_the_analyst_s_place(screen):
    """The page reloads at the answer after the saved one, and Tab goes on from there: it reloaded at the
    top, fifty answers away."""
    page, answers, dialogs, url = screen
    edition_answers = add_answers(answers[0].item.edition, ITEM, [f"More text {n}" for n in range(9)])
    page.set_viewport_size({"width": 800, "height": 500})
    page.goto(f"{url}?view=table")
    rows = page.locator("article.coding-answer")
    expect(rows).to_have_count(len(answers) + len(edition_answers))
    following = rows.nth(8).get_attribute("id")
    rows.nth(7).locator("input[name=codes]").first.check()
    with page.expect_navigation():
        rows.nth(7).get_by_role("button", name="Save codes").click()
    expect(rows.nth(7).locator("input[name=codes]").first).to_be_checked()
    assert page.evaluate("window.scrollY") > 0
    page.keyboard.press("Tab")
    assert (
        page.evaluate(
            "document.activeElement.closest('article') && document.activeElement.closest('article').id"
        )
        == following
    )
    assert dialogs == []
