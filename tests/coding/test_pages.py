"""Staff coding pages: access, the coding screen, codebook edits."""

import re

import pytest
from django.utils.html import escape

from coding import selectors, services
from tests.conftest import login_with_mfa

ITEM = "workload_reasons"


def test_anonymous_visitors_are_sent_to_login(client, coded_item):
    edition, _ = coded_item
    response = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("who", ["officer_alice", "outsider_charlie"])
def test_non_staff_get_403(request, client, coded_item, who):
    edition, _ = coded_item
    client = login_with_mfa(client, request.getfixturevalue(who))
    assert client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/").status_code == 403


def test_an_analyst_codes_one_answer_at_a_time(client, analyst_ann, coded_item):
    edition, _pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    page = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/?filter=uncoded")
    body = page.content.decode()
    assert page.status_code == 200 and "Page 1 of 80" in body and "<kbd>1</kbd>" in body
    answer = page.context["items"][0]["answer"]
    saved = client.post(
        f"/staff/coding/editions/{edition.pk}/items/{ITEM}/answers/{answer.pk}/codes/",
        {"codes": ["more_data", "lack_resources"]},
        follow=True,
    )
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[answer.pk] == {
        "more_data",
        "lack_resources",
    }
    # The save is said in the page's status region (a screen reader announces it).
    assert '<ul class="messages" role="status">' in saved.content.decode()
    assert "Saved: lack_resources, more_data." in saved.content.decode()
    table = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/?filter=uncoded&view=table")
    assert "Page 1 of 2" in table.content.decode()


def test_two_coders_agreement_is_shown(client, analyst_ann, coded_item):
    edition, pairs = coded_item
    for answer, codes in pairs[:10]:
        services.answer_codes_set(answer_id=answer.pk, codes=codes, coder="A")
        services.answer_codes_set(answer_id=answer.pk, codes=codes, coder="B")
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=["more_cases"], coder="B")
    body = (
        login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/").content
    )
    assert b"over 10 answers coded by two or more coders" in body
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == [pairs[0][0].pk]


def test_the_codebook_page_adds_and_retires(client, analyst_ann, coded_item):
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    client.post(url, {"action": "add", "code": "other", "label": "Other reasons"})
    refused = client.post(url, {"action": "add", "code": "Bad Code", "label": "x"})
    assert "not a code" in refused.content.decode()
    codes = {c["code"]: c for c in selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)}
    assert "other" in codes and "Bad Code" not in codes
    client.post(url, {"action": "remove", "code": "other", "confirm": "delete"})
    assert "other" not in {c["code"] for c in selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)}


def test_deleting_an_unused_category_takes_a_confirmation_the_server_checks(client, analyst_ann, coded_item):
    """The "Retire / delete" button deleted a category nobody had used at one click, for good. The server
    now asks first, says it is a delete (no codes; the suggestions that go with it) and deletes only on
    the confirming post; Cancel leads back with the category kept."""
    from coding.models import AnswerCode, Category, CodeSource

    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    client.post(url, {"action": "add", "code": "other", "label": "Other reasons"})
    other = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="other")
    AnswerCode.objects.create(
        answer=pairs[0][0], category=other, source=CodeSource.SUGGESTION, probability=0.4, accepted=False
    )
    listed = client.get(url).content.decode()
    assert re.search(r'value="remove">Delete<span class="visually-hidden"> other</span>', listed)

    asked = client.post(url, {"action": "remove", "code": "other"})
    body = asked.content.decode()
    assert asked.status_code == 200 and "<h1>Delete the category other?</h1>" in body
    assert "No answer has a code of it" in body and "<strong>deleted</strong>, not retired" in body
    assert "The 1 zero-shot suggestion of it goes with it." in body and "cannot be undone" in body
    assert 'name="confirm" value="delete"' in body and f'href="{url}">Cancel' in body
    assert Category.objects.filter(pk=other.pk, retired=False).exists()
    # Only the exact confirmation deletes: anything else asks again.
    client.post(url, {"action": "remove", "code": "other", "confirm": "yes"})
    assert Category.objects.filter(pk=other.pk).exists()

    done = client.post(url, {"action": "remove", "code": "other", "confirm": "delete"}, follow=True)
    assert not Category.objects.filter(pk=other.pk).exists()
    assert "other: deleted." in [str(m) for m in done.context["messages"]]


def test_a_used_category_is_retired_in_one_click_and_restored(client, analyst_ann, coded_item):
    """Retiring is reversible and keeps the codes: no confirmation, and the page says how many codes it
    has, what retiring did and how to undo it."""
    from coding.models import Category

    edition, pairs = coded_item
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=["more_data"], coder="A")
    services.answer_codes_set(answer_id=pairs[1][0].pk, codes=["more_data"], coder="A")
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    listed = client.get(url).content.decode()
    row = re.search(r"<code>more_data</code>.*?</tr>", listed, re.S).group(0)
    assert "2 human codes, 0 automatic" in row and "Retire<span" in row and "Delete" not in row

    done = client.post(url, {"action": "remove", "code": "more_data"}, follow=True)
    more_data = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_data")
    assert more_data.retired
    (message,) = [str(m) for m in done.context["messages"]]
    assert message.startswith("more_data: retired. Its codes stay") and "Restore it" in message
    client.post(url, {"action": "restore", "code": "more_data"})
    more_data.refresh_from_db()
    assert not more_data.retired


def test_the_screen_reports_the_latest_trained_model_per_category(
    client, analyst_ann, coded_item, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    client = login_with_mfa(client, analyst_ann)
    assert b'id="model-report"' not in client.get(url).content  # no trained run yet
    for answer, codes in pairs[:50]:
        services.answer_codes_set(answer_id=answer.pk, codes=codes, coder="A")
    with django_capture_on_commit_callbacks(execute=False):
        run = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-lr")
    assert services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    cv = run.metrics["cross_validation"]
    page = client.get(url)
    report = page.context["model_report"]
    assert report["run"].pk == run.pk and report["human_coded"] == 50
    rows = {row["code"]: row for row in report["categories"]}
    assert rows["more_data"]["precision"] == cv["categories"]["more_data"]["precision"]
    assert rows["more_data"]["threshold"] == cv["thresholds"]["more_data"]
    assert {code for code, row in rows.items() if row["human_only"]} == set(run.metrics["human_only"])
    body = page.content.decode()
    texts = run.metrics["codebook_texts"]["texts"]
    assert 'id="model-report"' in body and "Learnt from 50 human-coded answers and " in body
    support = cv["categories"]["more_data"]["support"]
    assert f"{texts} codebook texts" in body and f"<td>{support}</td>" in body
    # The reference answers carry at most two codes: the run caps automatic codes per answer there.
    assert report["max_codes"] == cv["max_codes"] == 2
    assert "No answer gets more than 2 automatic codes, the most any human-coded answer carries." in body


def test_saving_codes_does_not_redirect_off_site(client, analyst_ann, coded_item):
    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    answer = pairs[0][0]
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/answers/{answer.pk}/codes/"
    off_site = client.post(url, {"codes": ["more_data"], "next": "https://evil.example.com/phish"})
    assert off_site.status_code == 302
    assert off_site["Location"] == f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    same_site = client.post(url, {"codes": ["more_data"], "next": f"/staff/coding/editions/{edition.pk}/"})
    assert same_site["Location"] == f"/staff/coding/editions/{edition.pk}/"


def test_codes_for_an_answer_not_of_this_item_are_404_and_change_nothing(client, analyst_ann, coded_item):
    from tests.coding.conftest import add_answers

    edition, _ = coded_item
    (other,) = add_answers(edition, "trends", ["An answer to another item"])
    client = login_with_mfa(client, analyst_ann)
    base = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/answers"
    unknown = client.post(f"{base}/00000000-0000-0000-0000-000000000000/codes/", {"codes": []})
    assert unknown.status_code == 404
    elsewhere = client.post(f"{base}/{other.pk}/codes/", {"codes": []})
    assert elsewhere.status_code == 404
    assert other.pk not in selectors.final_codes(edition_id=edition.pk, item_code="trends")


@pytest.mark.parametrize("to_edition", ["", "abc", "1.5", "²"])
def test_carrying_a_codebook_to_no_edition_is_refused_not_a_500(client, analyst_ann, coded_item, to_edition):
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    response = client.post(url, {"action": "carry", "to_edition": to_edition})
    assert response.status_code == 404


def test_re_saving_an_answer_keeps_the_coders_code_of_a_retired_category(client, analyst_ann, coded_item):
    import re

    from coding.models import Category

    edition, pairs = coded_item
    answer = pairs[0][0]
    me = services.coder_label(user_id=analyst_ann.pk)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data", "more_cases"], coder=me)
    retired = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_cases")
    assert services.category_remove(category=retired) == "retired"

    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    body = client.get(screen, {"q": answer.text[:60], "view": "table"}, follow=True).content.decode()
    form = body[body.index(f"/answers/{answer.pk}/codes/") :]
    form = form[: form.index("</form>")]
    # What the browser sends back: the boxes shown ticked, plus the one the coder adds now.
    ticked = re.findall(r'name="codes" value="([a-z_]+)"[^>]*\bchecked\b', form)
    assert "more_cases" in ticked and "retired" in form
    client.post(f"{screen}answers/{answer.pk}/codes/", {"codes": [*ticked, "technology"]})
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[answer.pk] == {
        "more_data",
        "more_cases",
        "technology",
    }
    # Retired is still retired: nobody can give it to an answer that did not have it.
    with pytest.raises(services.CodesInvalid, match="retired"):
        services.answer_codes_set(answer_id=pairs[1][0].pk, codes=["more_cases"], coder=me)


def test_a_search_with_a_nul_character_is_no_server_error(client, analyst_ann, coded_item):
    from tests.conftest import api_client_for

    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    word = pairs[0][0].text.split()[0]
    page = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/", {"q": f"{word}\x00"}, follow=True)
    assert page.status_code == 200 and page.context["page"].paginator.count >= 1
    api = api_client_for(analyst_ann).get(
        f"/api/v1/editions/{edition.pk}/items/{ITEM}/answers/", {"q": f"{word}\x00"}
    )
    assert api.status_code == 200 and api.json()["count"] >= 1


def test_the_disagreement_filter_shows_each_coders_codes_and_adjudication_settles_them(
    client, analyst_ann, coded_item
):
    edition, pairs = coded_item
    (disputed, _), (agreed, _) = pairs[0], pairs[1]
    me = services.coder_label(user_id=analyst_ann.pk)
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_data", "more_cases"], coder=me)
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_data"], coder="B")
    for coder in (me, "B"):
        services.answer_codes_set(answer_id=agreed.pk, codes=["technology"], coder=coder)
    # Before adjudication the final codes are those every coder gave.
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[disputed.pk] == {"more_data"}
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    # Coding blind: outside the disagreement filter nobody sees another coder's codes.
    assert "Another coder" not in client.get(screen, {"view": "table"}).content.decode()
    page = client.get(screen, {"filter": "disagreement", "view": "table"})
    [row] = page.context["items"]
    assert row["answer"].pk == disputed.pk
    assert row["coders"] == [
        {"you": True, "codes": ["more_data", "more_cases"]},
        {"you": False, "codes": ["more_data"]},
    ]
    body = page.content.decode()
    form = body[body.index(f"/answers/{disputed.pk}/adjudicate/") :]
    form = form[: form.index("</form>")]
    assert "Another coder: <code>more_data</code>" in form
    assert 'value="more_data" checked' in form and 'value="more_cases" checked' not in form
    client.post(f"{screen}answers/{disputed.pk}/adjudicate/", {"codes": ["more_data", "technology"]})
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[disputed.pk] == {
        "more_data",
        "technology",
    }
    assert client.get(screen, {"filter": "disagreement"}).context["items"] == []
    # The coders' own codes stay: their agreement is still measured on both answers.
    assert selectors.coder_agreement(edition_id=edition.pk, item_code=ITEM)["units"] == 2
    # An answer one person coded cannot be adjudicated: refused, nothing changed.
    single = pairs[2][0]
    services.answer_codes_set(answer_id=single.pk, codes=["more_cases"], coder=me)
    refused = client.post(f"{screen}answers/{single.pk}/adjudicate/", {"codes": ["technology"]}, follow=True)
    assert "two or more coders" in refused.content.decode()
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[single.pk] == {"more_cases"}


def test_the_codebook_editor_refuses_a_nul_character_with_a_message_not_a_500(
    client, analyst_ann, coded_item
):
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    added = client.post(url, {"action": "add", "code": "other", "label": "Other\x00"}, follow=True)
    saved = client.post(
        url,
        {"action": "update", "code": "more_data", "label": "More data", "description": "a\x00b"},
        follow=True,
    )
    for response in (added, saved):
        assert response.status_code == 200
        assert "must not contain a NUL character" in response.content.decode()
    codebook = {c["code"]: c for c in selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)}
    assert "other" not in codebook and "\x00" not in codebook["more_data"]["description"]


def test_importing_the_reference_codebooks_again_keeps_the_analysts_edits(client, analyst_ann, coded_item):
    """A second click on 'Import the reference codebooks' reverted every edited label and description
    and deleted the categories analysts had added (retired them, once used)."""
    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    book = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    client.post(book, {"action": "add", "code": "other", "label": "Other reasons"})
    client.post(book, {"action": "add", "code": "staffing", "label": "Staffing"})
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=["staffing"], coder="A")
    client.post(
        book, {"action": "update", "code": "more_data", "label": "More data", "description": "Our wording"}
    )
    before = selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)

    response = client.post(f"/staff/coding/editions/{edition.pk}/", follow=True)
    after = selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)
    assert after == before
    assert "Imported 0 reference codebook(s)" in response.content.decode()
    codes = {c["code"]: c for c in after}
    assert codes["more_data"]["description"] == "Our wording"
    assert not codes["other"]["retired"] and not codes["staffing"]["retired"]


def test_a_run_of_a_codebook_with_every_category_retired_is_refused_with_the_reason(
    client, analyst_ann, coded_item, django_capture_on_commit_callbacks
):
    """It was queued and failed in the worker; the screen showed 'Failed: CodingRunRefused' only."""
    from coding.models import Category, CodingRun

    edition, _ = coded_item
    Category.objects.filter(codebook__edition=edition, codebook__item_code=ITEM).update(retired=True)
    client = login_with_mfa(client, analyst_ann)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/runs/", follow=True)
    assert "every category of the codebook is retired" in response.content.decode()
    assert not CodingRun.objects.exists()


def test_the_screen_says_why_a_run_failed(client, analyst_ann, coded_item):
    from coding.models import CodingRun, RunStatus

    edition, _ = coded_item
    CodingRun.objects.create(
        edition=edition,
        item_code=ITEM,
        classifier="label-match",
        status=RunStatus.FAILED,
        error_type="MemoryError",
        error_message="the worker ran out of memory",
    )
    body = login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/")
    assert "Failed: MemoryError (the worker ran out of memory)" in body.content.decode()


def test_adjudication_can_keep_a_retired_code_every_coder_gave(client, analyst_ann, coded_item):
    """Both coders gave more_cases, retired since; the adjudication form left it out and the service
    refused it ('retired categories cannot be given'), so settling the answer dropped a code every coder
    gave and changed the old figure. A retired code nobody gave is still refused."""
    from coding.models import Category

    edition, pairs = coded_item
    disputed = pairs[0][0]
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_cases", "more_data"], coder="A")
    services.answer_codes_set(answer_id=disputed.pk, codes=["more_cases"], coder="B")
    services.answer_codes_set(answer_id=pairs[1][0].pk, codes=["technology"], coder="A")
    for code in ("more_cases", "technology"):
        category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code=code)
        assert services.category_remove(category=category) == "retired"
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    body = client.get(screen, {"filter": "disagreement"}).content.decode()
    form = body[body.index(f"/answers/{disputed.pk}/adjudicate/") :]
    form = form[: form.index("</form>")]
    assert 'value="more_cases" checked' in form and 'value="technology"' not in form

    settled = client.post(
        f"{screen}answers/{disputed.pk}/adjudicate/", {"codes": ["more_cases"]}, follow=True
    )
    assert "Adjudicated" in settled.content.decode()
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == []
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[disputed.pk] == {"more_cases"}
    with pytest.raises(services.CodesInvalid, match="retired categories cannot be given: technology"):
        services.answer_codes_adjudicate(answer_id=disputed.pk, codes=["more_cases", "technology"])


def test_each_toggle_is_described_by_its_category_s_description_in_the_page(client, analyst_ann, coded_item):
    edition, _ = coded_item
    category = selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)[0]
    assert category["description"]  # the reference frames describe their categories
    client = login_with_mfa(client, analyst_ann)
    body = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/").content.decode()
    description_id = f"category-{category['code']}-description"
    assert f'aria-describedby="{description_id}"' in body
    assert f'<dd id="{description_id}">{escape(category["description"])}' in body


def test_the_search_term_stays_out_of_every_url_and_sticks_until_cleared(client, analyst_ann, coded_item):
    """A search term is answer text: posted, kept in the session, never in a URL the screen makes (so
    never in an access log); an old ?q= link is followed once and redirected without it."""
    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    term = pairs[0][0].text.split()[0]

    posted = client.post(screen, {"filter": "", "q": term, "view": "table"})
    assert posted.status_code == 302 and term not in posted["Location"] and "view=table" in posted["Location"]
    page = client.get(posted["Location"])
    assert page.context["search"] == term and page.context["view"] == "table"
    assert 1 <= page.context["page"].paginator.count < len(pairs)
    # The term is in the search box and the note only: no link, form action or `next` carries it.
    for url in re.findall(r'(?:href|action|value)="([^"]*/staff/[^"]*|\?[^"]*)"', page.content.decode()):
        assert term not in url
    # It sticks across pages of the screen, and an empty search clears it.
    assert client.get(screen).context["search"] == term
    client.post(screen, {"filter": "", "q": "  "})
    assert client.get(screen).context["search"] == ""

    old_link = client.get(screen, {"q": term, "filter": "uncoded"})
    assert (
        old_link.status_code == 302
        and term not in old_link["Location"]
        and "filter=uncoded" in old_link["Location"]
    )
    assert client.get(old_link["Location"]).context["search"] == term
    # A filter that does not exist is refused, posted or not, and changes nothing saved.
    assert client.post(screen, {"filter": "nonsense", "q": "other"}).status_code == 404
    assert client.get(screen).context["search"] == term


def test_the_screen_offers_the_answers_coded_before_a_category_was_added(client, analyst_ann, coded_item):
    edition, pairs = coded_item
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    client.post(f"{screen}answers/{pairs[0][0].pk}/codes/", {"codes": ["more_data"]})
    assert "coded before a category was added" not in client.get(screen).content.decode()
    codebook = edition.codebooks.get(item_code=ITEM)
    services.category_create(codebook=codebook, code="remote_work", label="Remote work")
    page = client.get(screen, {"filter": "incomplete"})
    body = page.content.decode()
    assert "1 human-coded answer coded before a category was added" in body
    assert [item["answer"].pk for item in page.context["items"]] == [pairs[0][0].pk]
    assert 'value="incomplete" selected' in body
    # The one coded answer was not offered the new category: its count has no base yet.
    assert "<code>remote_work</code>: 0 of 0 whose codes speak for it" in body
    assert "<code>more_data</code>: 1</li>" in body
    client.post(f"{screen}answers/{pairs[0][0].pk}/codes/", {"codes": ["more_data"]})
    page = client.get(screen, {"filter": "incomplete"})
    assert page.context["items"] == [] and "coded before a category was added" not in page.content.decode()


def _form_fields(body: str, action: str) -> dict[str, list[str]]:
    """What the browser posts from the form with this action, as rendered: its hidden fields and the
    boxes shown ticked (the csrf token aside: the test client does not check it)."""
    form = body[body.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    fields: dict[str, list[str]] = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or name.group(1) == "csrfmiddlewaretoken":
            continue
        if 'type="hidden"' in tag or ('type="checkbox"' in tag and re.search(r"\bchecked\b", tag)):
            fields.setdefault(name.group(1), []).append(value.group(1) if value else "")
    return fields


def test_a_page_loaded_before_a_category_was_added_does_not_answer_for_it(client, analyst_ann, coded_item):
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    page = client.get(screen)
    answer, body = page.context["items"][0]["answer"], page.content.decode()
    action = f"{screen}answers/{answer.pk}/codes/"
    # Another analyst adds a category while this coder's page, loaded before, is open.
    codebook = edition.codebooks.get(item_code=ITEM)
    services.category_create(codebook=codebook, code="remote_work", label="Remote work")
    client.post(action, {**_form_fields(body, action), "codes": ["more_data"]})
    # The coder never saw remote_work: their codes say nothing about it (a gap), not "absent".
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[answer.pk] == {"more_data"}
    unknown = selectors.final_unknown(edition_id=edition.pk, item_code=ITEM)
    assert answer.pk in unknown.get("remote_work", set())
    page = client.get(screen, {"filter": "incomplete"})
    assert [item["answer"].pk for item in page.context["items"]] == [answer.pk]


def test_what_a_form_says_it_offered_is_checked_against_the_codebook(coded_item):
    from coding.models import CategorySeen, HumanCoding

    edition, pairs = coded_item
    answer = pairs[0][0]
    codebook = edition.codebooks.get(item_code=ITEM)
    services.category_remove(  # unused: deleted
        category=codebook.categories.get(code="more_cases"), delete_confirmed=True
    )
    services.answer_codes_set(answer_id=answer.pk, codes=["technology"], coder="A")
    services.category_remove(category=codebook.categories.get(code="technology"))  # used: retired
    services.answer_codes_set(
        answer_id=answer.pk, codes=["more_data"], coder="B", shown=["more_data", "technology", "nonsense"]
    )
    seen = CategorySeen.objects.filter(coding=HumanCoding.objects.get(answer=answer, coder="B"))
    # Not "nonsense", not a retired category B never gave; more_data, given, was offered whatever was said.
    assert set(seen.values_list("category__code", flat=True)) == {"more_data"}


def test_saving_with_no_category_on_offer_is_refused_not_counted_as_coded(client, analyst_ann, coded_item):
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    codebook = edition.codebooks.get(item_code=ITEM)
    for category in codebook.categories.all():
        services.category_remove(category=category, delete_confirmed=True)
    page = client.get(screen)
    answer, body = page.context["items"][0]["answer"], page.content.decode()
    action = f"{screen}answers/{answer.pk}/codes/"
    # Enter on the page submits the (empty) form: it decided nothing, so it must not count as coded.
    response = client.post(action, _form_fields(body, action), follow=True)
    assert "no category" in " ".join(str(m) for m in response.context["messages"])
    assert selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)["human"] == 0
    assert answer.pk not in selectors.final_codes(edition_id=edition.pk, item_code=ITEM)


def test_a_search_finds_an_accented_word_however_its_accent_was_typed(client, analyst_ann, coded_item):
    """Answers are stored as typed: an "é" composed (NFC) or as "e" plus a combining accent (NFD, as some
    tools write it). The analyst's search in either form finds both."""
    import unicodedata

    from tests.coding.conftest import add_answers

    edition, _ = coded_item
    composed, decomposed = add_answers(
        edition,
        ITEM,
        [
            unicodedata.normalize("NFC", "Le café du commissariat"),
            unicodedata.normalize("NFD", "Un café froid"),
        ],
    )
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"
    for form in ("NFC", "NFD"):
        client.post(screen, {"filter": "", "q": unicodedata.normalize(form, "CAFÉ"), "view": "table"})
        found = client.get(screen, {"view": "table"}).context["items"]
        assert {row["answer"].pk for row in found} == {composed.pk, decomposed.pk}, form


def test_the_edition_page_counts_the_categories_a_coder_is_offered(client, analyst_ann, coded_item):
    edition, pairs = coded_item
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=["more_cases"], coder="A")
    codebook = edition.codebooks.get(item_code=ITEM)
    assert services.category_remove(category=codebook.categories.get(code="more_cases")) == "retired"
    body = login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/").content.decode()
    row = body[body.index(f"items/{ITEM}/codebook/") :]
    # 8 reference categories, one retired: 7 are offered on the coding screen.
    assert re.search(r"<td>(\d+)</td>", row).group(1) == "7"


def test_each_row_of_the_table_view_names_its_answer_to_a_screen_reader(client, analyst_ann, coded_item):
    """Every row's fieldset had the legend "Categories" (and every adjudication "Adjudicate: ..."), so a
    screen-reader user moving through the table's checkboxes could not tell which answer a box was of.
    Each group and button now names its answer: its number in the list and its opening words."""
    from django.utils.text import Truncator

    edition, pairs = coded_item
    for answer, _ in pairs[:2]:
        services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="A")
        services.answer_codes_set(answer_id=answer.pk, codes=["technology"], coder="B")
    client = login_with_mfa(client, analyst_ann)
    screen = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/"

    def legends(page, start: int) -> None:
        body = page.content.decode()
        assert "{#" not in body and "{{" not in body and "{%" not in body  # no template source shown
        rows = page.context["items"]
        for kind, button in (("Categories", "Save codes"), ("Adjudicate", "Adjudicate")):
            shown = re.findall(rf"<legend>{kind}(.*?)</legend>", body)
            if kind == "Adjudicate" and not rows[0]["coders"]:
                assert shown == []
                continue
            assert len(shown) == len(rows) == len(set(shown))
            for number, (row, legend) in enumerate(zip(rows, shown, strict=True), start=start):
                about = escape(Truncator(row["answer"].text).chars(60))
                assert f"answer {number}, “{about}”</span>" in legend
            buttons = re.findall(
                rf"{button}<span class=\"visually-hidden\"> (?:of )?answer (\d+)</span>", body
            )
            assert [int(n) for n in buttons] == list(range(start, start + len(rows)))

    legends(client.get(screen, {"view": "table"}), 1)
    legends(client.get(screen, {"view": "table", "page": 2}), 51)  # numbered through the list
    legends(client.get(screen, {"filter": "disagreement", "view": "table"}), 1)
    legends(client.get(screen, {"page": 3}), 3)  # one answer a page: its number is the page's


def test_the_codebook_page_shows_a_category_s_examples_one_a_line_and_save_keeps_them(
    client, analyst_ann, coded_item
):
    """The examples box showed its own template source ({{ c.examples|join:"..." }}: a tag split over
    two lines is not a tag), and saving a new label posted that text back as the category's examples."""
    from coding.models import Category

    edition, _ = coded_item
    category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_data")
    category.examples = ["terabytes per case", "more phones"]
    category.save()
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    body = client.get(url).content.decode()
    row = re.search(r'name="code" value="more_data">.*?</form>', body, re.S).group(0)
    assert '<textarea name="examples" rows="2">terabytes per case\nmore phones</textarea>' in row
    posted = {
        "action": "update",
        "code": "more_data",
        "label": "More data, more devices",
        "description": re.search(r'<textarea name="description" rows="2">(.*?)</textarea>', row, re.S).group(
            1
        ),
        "examples": re.search(r'<textarea name="examples" rows="2">(.*?)</textarea>', row, re.S).group(1),
    }
    client.post(url, posted)
    category.refresh_from_db()
    assert category.label == "More data, more devices"
    assert category.examples == ["terabytes per case", "more phones"]


def test_importing_reference_codebooks_that_clash_with_the_series_is_refused_with_the_reasons(
    client, analyst_ann, open_2017, series
):
    """An analyst gave a reference code another label in 2017; importing the reference codebooks into
    the next edition then clashed with it: a 500, with the items before the clash imported. Now nothing
    is imported and the page names the item and the code."""
    from coding.models import Category, Codebook
    from surveys import services as survey_services
    from surveys.reference import REFERENCE_DIR

    services.codebooks_import_reference(edition=open_2017)
    younger = Category.objects.get(
        codebook__edition=open_2017, codebook__item_code="offender_change_how", code="younger"
    )
    services.category_update(category=younger, label="Younger offenders, reworded")
    with (REFERENCE_DIR / "netclean-2017.xlsx").open("rb") as fh:
        definition = survey_services.definition_from_upload(fileobj=fh, filename=fh.name)
    next_edition = survey_services.edition_import_definition(
        series=series, label="2018", definition=definition
    )
    client = login_with_mfa(client, analyst_ann)
    response = client.post(f"/staff/coding/editions/{next_edition.pk}/", follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "offender_change_how" in body and escape("means 'Younger offenders, reworded'") in body
    assert not Codebook.objects.filter(edition=next_edition).exists()


def test_a_refused_category_edit_names_the_category_not_a_list_position(client, analyst_ann, coded_item):
    """A label of spaces passes the browser's `required`; the refusal read "workload_reasons[0].label: ...",
    naming the first place of a list the analyst never saw, whichever category they edited."""
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    saved = client.post(url, {"action": "update", "code": "technology", "label": "   "}, follow=True)
    body = saved.content.decode()
    assert f"{ITEM}.technology.label: a label of 1 to 200 characters is required" in body
    assert "[0]" not in body
    added = client.post(url, {"action": "add", "code": "Other", "label": "Other"}, follow=True)
    assert f"{ITEM}.Other.code: {escape(repr('Other'))} is not a code" in added.content.decode()
    labels = {c["code"]: c["label"] for c in selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)}
    assert labels["technology"].startswith("Challenges following") and "Other" not in labels


def test_a_refused_add_shows_the_form_again_with_what_was_typed_and_why(client, analyst_ann, coded_item):
    """A duplicate code or a label of spaces was refused with a redirect to an empty Add form: the analyst
    typed the label, description and examples again. The page now comes back with them and the reason."""
    edition, _ = coded_item
    client = login_with_mfa(client, analyst_ann)
    url = f"/staff/coding/editions/{edition.pk}/items/{ITEM}/codebook/"
    before = selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)
    typed = {
        "action": "add",
        "code": "more_data",  # already in the codebook
        "label": "More & better data",
        "description": "Said <data> is missing",
        "examples": "We lack data\nNo statistics",
    }
    refused = client.post(url, typed)
    assert refused.status_code == 200  # the page itself, not a redirect to an empty form
    add_form = refused.content.decode().split("<legend>Add a category</legend>")[1].split("</form>")[0]
    assert "more_data: already in this codebook" in add_form
    assert 'name="code" value="more_data"' in add_form
    assert f'name="label" value="{escape(typed["label"])}"' in add_form
    assert f">{escape(typed['description'])}</textarea>" in add_form
    assert f">{escape(typed['examples'])}</textarea>" in add_form

    spaces = client.post(url, {"action": "add", "code": "staffing", "label": "   ", "examples": "Too few"})
    add_form = spaces.content.decode().split("<legend>Add a category</legend>")[1].split("</form>")[0]
    assert f"{ITEM}.staffing.label: a label of 1 to 200 characters is required" in add_form
    assert 'name="code" value="staffing"' in add_form and ">Too few</textarea>" in add_form
    assert selectors.codebook_for(edition_id=edition.pk, item_code=ITEM) == before  # nothing saved changed

    added = client.post(url, {"action": "add", "code": "staffing", "label": "Staffing"})
    assert added.status_code == 302  # an accepted add still redirects (a reload does not post it again)
    page = client.get(added["Location"]).content.decode()
    assert "staffing: added." in page
    assert 'name="code" value=""' in page.split("<legend>Add a category</legend>")[1]  # an empty form again
