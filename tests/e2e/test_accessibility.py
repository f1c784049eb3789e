"""axe-core finds no WCAG 2.1 A or AA violation on any page an officer sees while answering, nor on the
analyst's coding screen and codebook pages."""

import re

import pytest

from coding import services as coding_services
from tests.coding.conftest import add_answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return {
    violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary.replace(/\\s+/g, ' ')),
    })),
    checked: result.passes.length + result.violations.length + result.incomplete.length,
  };
}"""


class Audit:
    def __init__(self, page, axe_source: str, shot) -> None:
        self.page, self.axe_source, self.shot = page, axe_source, shot
        self.found: dict[str, list[dict]] = {}
        self.pages: list[str] = []

    def __call__(self, name: str) -> None:
        self.page.add_script_tag(content=self.axe_source)
        result = self.page.evaluate(RUN_AXE, WCAG_21_AA)
        assert result["checked"] > 5, f"axe checked almost nothing on {name}"
        self.pages.append(name)
        if result["violations"]:
            self.found[name] = result["violations"]
        self.shot(self.page, name)

    def report(self) -> str:
        lines = []
        for name, violations in self.found.items():
            for v in violations:
                lines.append(f"{name}: {v['id']} ({v['impact']}) {v['help']}")
                lines.extend(f"    {node}" for node in v["nodes"][:5])
        return "\n".join(lines)


def test_every_page_of_the_2017_questionnaire_passes_axe(
    login, shot, axe_source, open_2017, officer_alice, worker_keys
):
    # The test injects axe-core as an inline script, which the site's Content-Security-Policy refuses;
    # only the test's own injection bypasses it (tests/security checks the policy).
    page = login(officer_alice, bypass_csp=True)
    audit = Audit(page, axe_source, shot)

    page.goto("/portal/")
    audit("portal-home")
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator(".progress-text")).to_have_text("Page 1 of 8")
    audit("page-1")
    page.click("button[name=_action][value=next]")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#q-country .field-error")).to_be_visible()
    audit("page-1-with-errors")
    page.click("#error-summary a[href='#q-country']")
    expect(page.locator("#f-country")).to_be_focused()

    page.select_option("#f-country", "SE")
    page.click("button[name=_action][value=next]")
    expect(page.locator(".progress-text")).to_have_text("Page 2 of 8")
    # Reveal every follow-up question so that axe sees them too.
    page.check("input[name=workload_change][value=increased]")
    page.check("input[name=better_equipped][value=yes]")
    page.check("input[name=better_equipped_reasons][value=other]")
    expect(page.locator("#q-better_equipped_other")).to_be_visible()
    audit("page-2")
    for number in range(3, 9):
        page.click("button[name=_action][value=next]")
        expect(page.locator(".progress-text")).to_have_text(f"Page {number} of 8")
        if number == 4:
            # A grid's radios are named by their row and their column, not the column alone.
            expect(page.get_by_role("radio", name="Extended family: Common", exact=True)).to_have_count(1)
        if number == 5:
            page.check("input[name=viewing_handson_correlation] >> nth=0")
        audit(f"page-{number}")
    page.click("button[name=_action][value=submit]")
    expect(page.locator("#receipt-code")).to_be_visible()
    audit("receipt")
    page.goto("/portal/")
    expect(page.locator(f"#ballot-held-{open_2017.pk}")).to_be_visible()
    audit("portal-home-ballot-held")
    page.goto("/anonymity/")
    audit("anonymity")

    # The portal (before and with a ballot held), 8 pages, the error state, the receipt, the anonymity page.
    assert len(audit.pages) == 13
    assert not audit.found, "axe found WCAG 2.1 A/AA violations:\n" + audit.report()


def test_the_coding_screen_and_the_codebook_pass_axe_and_name_each_answer_s_controls(
    login, shot, axe_source, open_2017, analyst_ann
):
    """The table view's rows each name their answer (the groups of checkboxes and the buttons), which axe
    does not check: a screen reader announces the group's name with each box."""
    item = "workload_reasons"
    coding_services.codebooks_import_reference(edition=open_2017)
    texts = ["More data every year", "Less staff, more cases", "Bigger devices"]
    answers = add_answers(open_2017, item, texts)
    for coder, codes in (("A", ["more_data"]), ("B", ["technology"])):
        coding_services.answer_codes_set(answer_id=answers[0].pk, codes=codes, coder=coder)
    page = login(analyst_ann, mfa=True, bypass_csp=True)
    audit = Audit(page, axe_source, shot)
    screen = f"/staff/coding/editions/{open_2017.pk}/items/{item}/"

    page.goto(screen)
    audit("coding-one-answer")
    page.goto(f"{screen}?view=table")
    listed = page.locator(".coding-answer blockquote").all_inner_texts()  # in the screen's order
    assert sorted(listed) == sorted(texts)
    for number, text in enumerate(listed, start=1):
        row = page.get_by_role("group", name=f"Categories of answer {number}, “{text}”")
        expect(row).to_have_count(1)
        expect(row.get_by_role("checkbox", name=re.compile("More data"))).to_have_count(1)
        expect(page.get_by_role("button", name=f"Save codes of answer {number}", exact=True)).to_have_count(1)
    audit("coding-table")
    page.goto(f"{screen}?view=table&filter=disagreement")
    expect(
        page.get_by_role("group", name=re.compile(r"^Adjudicate answer 1, “More data every year”"))
    ).to_have_count(1)
    audit("coding-disagreement")

    page.goto(f"{screen}codebook/")
    audit("codebook")
    page.get_by_label("Code", exact=True).fill("other")
    page.get_by_label("Label", exact=True).last.fill("Other reasons")
    page.get_by_role("button", name="Add").click()
    page.get_by_role("button", name="Delete other").click()
    expect(page.locator("h1")).to_have_text("Delete the category other?")
    audit("codebook-delete-confirmation")

    assert len(audit.pages) == 5
    assert not audit.found, "axe found WCAG 2.1 A/AA violations:\n" + audit.report()


def test_each_category_row_of_the_codebook_names_its_category_and_a_save_is_announced(
    login, open_2017, analyst_ann
):
    """Every row of the codebook page had fields named "Label", "Description", "Examples" and a button
    named "Save": a screen-reader user moving through the form could not tell which category they edit,
    and after Save the page said nothing, so nobody could tell whether it took."""
    item = "workload_reasons"
    coding_services.codebooks_import_reference(edition=open_2017)
    page = login(analyst_ann, mfa=True)
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/{item}/codebook/")
    for code in ("more_data", "technology"):
        expect(page.get_by_role("textbox", name=f"Label of {code}", exact=True)).to_have_count(1)
        expect(
            page.get_by_role("textbox", name=f"Examples of {code} (one a line)", exact=True)
        ).to_have_count(1)
        expect(page.get_by_role("button", name=f"Save {code}", exact=True)).to_have_count(1)
    page.get_by_role("textbox", name="Label of technology", exact=True).fill("Technology (new devices)")
    page.get_by_role("button", name="Save technology", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("technology: saved.")
    page.get_by_label("Code", exact=True).fill("other")
    page.get_by_label("Label", exact=True).last.fill("Other reasons")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("other: added.")


def test_the_coding_screen_s_progress_bar_has_a_name(login, open_2017, analyst_ann):
    """The coding screen's progress bar had no name (a screen reader said "progress bar, 33 %" alone);
    the auto-coding one had."""
    item = "workload_reasons"
    coding_services.codebooks_import_reference(edition=open_2017)
    answers = add_answers(open_2017, item, ["More data every year", "Less staff", "Bigger devices"])
    coding_services.answer_codes_set(answer_id=answers[0].pk, codes=["more_data"], coder="A")
    page = login(analyst_ann, mfa=True)
    page.goto(f"/staff/coding/editions/{open_2017.pk}/items/{item}/")
    bar = page.get_by_role("progressbar", name="Answers coded", exact=True)
    expect(bar).to_have_count(1)
    expect(bar).to_have_attribute("value", "1")
