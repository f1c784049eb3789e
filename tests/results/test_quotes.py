"""Coded free text on results pages: example quotes (redacted, escaped, above the threshold only, hideable)
and categories that only people code (a share of the human-coded respondents)."""

import csv
import io
import re

import pytest
from django.apps import apps
from django.db import models

from coding.finals import final_codes_refresh
from coding.models import AnswerCode, AutoCoding, Category, CodeSource, CodingRun, RunKind, RunStatus
from coding.services import answer_codes_set, codebooks_import_reference
from exports.models import RedactedText
from responses.models import Answer
from results.models import HiddenQuote
from results.selectors import edition_results
from tests.conftest import login_with_mfa
from tests.results.test_results import release

TRENDS_PAGE = 7
# Words redaction leaves alone (numbers would become [ID]), to tell the quoted answers apart.
MARKERS = [
    "apple",
    "banana",
    "cherry",
    "grape",
    "lemon",
    "mango",
    "melon",
    "olive",
    "peach",
    "pear",
    "plum",
    "quince",
]
IDENTITY_APPS = {"accounts", "auth", "sessions", "admin", "account", "socialaccount", "mfa", "knox"}


@pytest.fixture
def edition(open_2017):
    codebooks_import_reference(edition=open_2017)
    return open_2017


@pytest.fixture
def staff(client, analyst_ann):
    return login_with_mfa(client, analyst_ann)


def trends_answers(edition, texts):
    """Release one response per text (answering `trends`); returns their answers in the same order."""
    release(edition, [{"trends": t} for t in texts])
    by_text = {a.text: a for a in Answer.objects.filter(item__edition=edition, item__code="trends")}
    return [by_text[t] for t in texts]


def human_code(answers, codes, coder="ann"):
    for answer in answers:
        answer_codes_set(answer_id=answer.pk, codes=codes, coder=coder)


def auto_code(edition, answers, codes):
    """What a trained run leaves behind: the answer marked auto-coded, its accepted codes, and the
    categories it covered (every one of the codebook)."""
    run = CodingRun.objects.create(
        edition=edition,
        item_code="trends",
        kind=RunKind.TRAINED,
        status=RunStatus.SUCCEEDED,
        classifier="tfidf-lr",
    )
    run.categories.set(Category.objects.filter(codebook__edition=edition, codebook__item_code="trends"))
    categories = Category.objects.filter(
        codebook__edition=edition, codebook__item_code="trends", code__in=codes
    )
    for answer in answers:
        AutoCoding.objects.create(answer=answer, run=run)
        for category in categories:
            AnswerCode.objects.create(
                answer=answer,
                category=category,
                source=CodeSource.AUTO,
                run=run,
                probability=0.9,
                accepted=True,
            )
    final_codes_refresh(item_id=answers[0].item_id)  # as the run's write does


def flag_human_only(edition, codes):
    """What a trained run does for categories it could not learn (and the refresh its write makes)."""
    categories = Category.objects.filter(codebook__edition=edition, codebook__item_code="trends")
    categories.filter(code__in=codes).update(human_only=True)
    final_codes_refresh(item_id=edition.items.get(code="trends").pk)


def trends_page(staff, edition):
    page = staff.get(f"/staff/results/{edition.pk}/?page={TRENDS_PAGE}").content.decode()
    assert 'id="fig-trends"' in page
    return page


def test_a_planted_name_email_and_phone_never_appear_in_a_shown_quote(edition, staff):
    planted = [
        f"Live streaming grows, case {i:02d}. Ask Detective Sergeant John Smith, john.smith@police.example, "
        f"+44 20 7946 0{i:03d}."
        for i in range(12)
    ]
    human_code(trends_answers(edition, planted), ["live_streaming"])
    page = trends_page(staff, edition)
    assert page.count("<blockquote>Live streaming grows") == 3  # three quotes for the category
    assert "[EMAIL]" in page and "[PERSON]" in page
    for secret in ("Smith", "john.smith", "police.example", "7946"):
        assert secret not in page
    report = staff.get(f"/staff/results/{edition.pk}/report/").content.decode()
    assert "Live streaming grows" in report and "[EMAIL]" in report and "Smith" not in report
    assert "Hide this quote" not in report  # the printed report has no controls
    from pypdf import PdfReader

    pdf = staff.get(f"/staff/results/{edition.pk}/report/?format=pdf").content
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Live streaming grows" in text and "Smith" not in text and "7946" not in text


def test_quotes_are_escaped(edition, staff):
    texts = [f"<script>alert({i})</script> <b>live</b> streaming everywhere" for i in range(10)]
    human_code(trends_answers(edition, texts), ["live_streaming"])
    page = trends_page(staff, edition)
    assert "&lt;script&gt;alert(" in page and "&lt;b&gt;live&lt;/b&gt;" in page
    assert "<script>alert(" not in page and "<b>live</b>" not in page


def test_a_category_under_ten_respondents_is_never_quoted(edition, staff):
    human_code(trends_answers(edition, [f"Streaming case {m}" for m in MARKERS]), ["live_streaming"])
    human_code(trends_answers(edition, [f"Encrypted XYZZY phone {i}" for i in range(5)]), ["encryption"])
    page = trends_page(staff, edition)
    assert "Streaming case" in page
    assert "XYZZY" not in page


def test_an_analyst_hides_a_quote_and_another_takes_its_place(
    edition, staff, django_capture_on_commit_callbacks
):
    answers = trends_answers(edition, [f"Streaming case {m}" for m in MARKERS])
    human_code(answers, ["live_streaming"])
    page = trends_page(staff, edition)
    shown = re.findall(r"Streaming case ([a-z]+)", page)
    assert len(shown) == 3
    hide_urls = re.findall(r'action="(/staff/results/\d+/quotes/[0-9a-f-]+/hide/)"', page)
    assert len(hide_urls) == 3
    hidden_id = hide_urls[0].split("/")[-3]
    hidden_text = Answer.objects.get(pk=hidden_id).text
    back = f"/staff/results/{edition.pk}/?page={TRENDS_PAGE}"
    with django_capture_on_commit_callbacks(execute=True):  # the cached choice of quotes is dropped
        assert staff.post(hide_urls[0], {"next": back})["Location"] == back
    assert HiddenQuote.objects.filter(answer_id=hidden_id).exists()

    page = trends_page(staff, edition)
    assert hidden_text not in page
    assert len(re.findall(r"Streaming case ([a-z]+)", page)) == 3  # the next answer in the draw
    assert (
        edition_results(edition=edition)["items"]["trends"]["counts"]["live_streaming"] == 12
    )  # still counted

    listing = staff.get(f"/staff/results/{edition.pk}/quotes/hidden/").content.decode()
    assert hidden_text in listing
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(f"/staff/results/{edition.pk}/quotes/{hidden_id}/show/")
    assert not HiddenQuote.objects.exists()
    assert hidden_text in trends_page(staff, edition)


def test_only_a_free_text_answer_of_the_edition_can_be_hidden(edition, staff):
    release(edition, [{"country": "US"}])
    choice = Answer.objects.get(item__edition=edition, item__code="country")
    assert staff.post(f"/staff/results/{edition.pk}/quotes/{choice.pk}/hide/").status_code == 404
    assert not HiddenQuote.objects.exists()


def test_a_hidden_quote_mark_holds_no_time_no_person_and_no_identity_link(db):
    for model in apps.get_app_config("results").get_models():
        assert isinstance(model._meta.pk, models.UUIDField), model
        for field in model._meta.get_fields():
            assert not isinstance(field, models.DateField | models.TimeField), (model, field.name)
            if field.is_relation and field.related_model is not None:
                assert field.related_model._meta.app_label not in IDENTITY_APPS, (model, field.name)


# --- categories only people code --------------------------------------------------------------------


@pytest.fixture
def mixed_trends(edition):
    """50 coded answers: 20 coded by people, 30 by a trained run; grooming and younger offenders are
    categories the run could not learn (human coding only), so its codes for them do not count."""
    human = trends_answers(edition, [f"Human coded {i:02d}" for i in range(20)])
    human_code(human[:12], ["grooming"])
    human_code(human[12:16], ["younger_offenders"])
    human_code(human[16:], [])
    auto_code(
        edition,
        trends_answers(edition, [f"Auto coded {i:02d}" for i in range(30)]),
        ["apps_chatrooms", "grooming"],
    )
    flag_human_only(edition, ["grooming", "younger_offenders"])
    return edition


def test_a_human_only_category_is_a_share_of_the_human_coded_respondents(mixed_trends, staff):
    trends = edition_results(edition=mixed_trends)["items"]["trends"]
    assert trends["n"] == 50
    assert trends["counts"]["grooming"] == 12  # the run's 30 grooming codes do not count
    assert trends["counts"]["apps_chatrooms"] == 30
    assert "younger_offenders" in trends["suppressed"]
    assert trends["summary"]["human_coded"] == 20
    page = trends_page(staff, mixed_trends)
    grooming = re.search(
        r"Grooming[^<]*<abbr[^>]*>†</abbr></th>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", page, re.S
    )
    assert grooming is not None
    assert grooming.group(1).strip() == "12" and "60.0 %" in grooming.group(2)  # 12 of 20, not 12 of 50
    assert "counted among the 20 human-coded respondents" in page
    csv_body = staff.get(f"/staff/results/{mixed_trends.pk}/items/trends.csv").content.decode()
    assert "trends,grooming,12,60.0,20" in csv_body
    assert "trends,apps_chatrooms,30,60.0,50" in csv_body


def test_the_item_csv_names_the_method_and_marks_the_human_only_categories(mixed_trends, staff):
    body = staff.get(f"/staff/results/{mixed_trends.pk}/items/trends.csv").content.decode()
    rows = {row["value"]: row for row in csv.DictReader(io.StringIO(body))}
    assert rows["grooming"] == {
        "item": "trends",
        "value": "grooming",
        "count": "12",
        "percent_of_respondents": "60.0",
        "respondents": "20",
        "method": "mixed",  # the item's figures: human and automatic codes
        "human_coding_only": "yes",  # this share is of the 20 human-coded respondents
    }
    assert (rows["apps_chatrooms"]["method"], rows["apps_chatrooms"]["human_coding_only"]) == ("mixed", "no")
    hidden = rows["younger_offenders"]  # withheld (4 respondents), still marked
    assert (hidden["count"], hidden["method"], hidden["human_coding_only"]) == ("suppressed", "mixed", "yes")
    # Other item types keep their columns.
    choice = staff.get(f"/staff/results/{mixed_trends.pk}/items/country.csv").content.decode()
    assert choice.splitlines()[0] == "item,value,count,percent_of_respondents,respondents"


def test_human_only_categories_are_hidden_under_ten_human_coded_respondents(edition):
    human = trends_answers(edition, [f"Human coded {i:02d}" for i in range(8)])
    human_code(human, ["grooming"])
    auto_code(
        edition, trends_answers(edition, [f"Auto coded {i:02d}" for i in range(30)]), ["apps_chatrooms"]
    )
    flag_human_only(edition, ["grooming"])
    trends = edition_results(edition=edition)["items"]["trends"]
    assert trends["summary"]["human_coded"] is None
    assert "grooming" not in trends["counts"] and "grooming" in trends["suppressed"]
    assert trends["counts"]["apps_chatrooms"] == 30


def test_a_reviewers_decisions_for_an_export_hold_for_the_quotes_too(
    edition, staff, analyst_ann, settings, tmp_path, django_capture_on_commit_callbacks
):
    from exports import review, services

    settings.EXPORT_DIR = tmp_path / "exports"
    human_code(trends_answers(edition, [f"Streaming case {m}" for m in MARKERS]), ["live_streaming"])
    first, second, third = re.findall(r"Streaming case ([a-z]+)", trends_page(staff, edition))
    job = services.export_request(actor=analyst_ann, editions=[edition], options=services.ExportOptions())
    services.export_run(job_id=job.pk)
    rows = {row.answer.text: row for row in RedactedText.objects.select_related("answer")}

    def decide(marker, action, **words):
        answer_id = rows[f"Streaming case {marker}"].pk
        review.redacted_text_edit(job=job, answer_id=answer_id, action=action, **words)

    with django_capture_on_commit_callbacks(execute=True):  # each decision drops the cached draw
        decide(first, "exclude")
        decide(second, "withhold")
        decide(third, "redact", phrases=[(third, "[ORG]")])

    page = trends_page(staff, edition)
    assert page.count("<blockquote>Streaming case") == 3  # two others from the draw take their places
    assert f"Streaming case {first}" not in page and f"Streaming case {second}" not in page
    assert "[REDACTED]" not in page  # a withheld answer is not quoted as a placeholder
    assert "<blockquote>Streaming case [ORG]" in page and f"Streaming case {third}" not in page
    assert edition_results(edition=edition)["items"]["trends"]["counts"]["live_streaming"] == 12


def test_a_category_added_after_some_answers_were_coded_is_a_share_of_those_offered_it(edition, staff):
    from coding.models import Codebook
    from coding.services import category_create

    human_code(trends_answers(edition, [f"Early {i:02d}" for i in range(12)]), ["grooming"])
    codebook = Codebook.objects.get(edition=edition, item_code="trends")
    category_create(codebook=codebook, code="remote_work", label="Remote work")
    late = trends_answers(edition, [f"Late {i:02d}" for i in range(20)])
    human_code(late[:10], ["remote_work"])
    human_code(late[10:], ["grooming"])  # offered remote_work, did not tick it: a known 0
    trends = edition_results(edition=edition)["items"]["trends"]
    assert trends["n"] == 32 and trends["counts"]["remote_work"] == 10
    assert trends["summary"]["bases"] == {"remote_work": 20}
    page = trends_page(staff, edition)
    remote = re.search(r"Remote work</th>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", page, re.S)
    assert remote is not None
    assert remote.group(1).strip() == "10" and "50.0 %" in remote.group(2)  # 10 of 20, not 10 of 32
    assert "(n = 20)" in remote.group(2)
    grooming = re.search(r"Grooming[^<]*</th>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", page, re.S)
    assert grooming is not None and "68.8 %" in grooming.group(2) and "(n =" not in grooming.group(2)
    csv_body = staff.get(f"/staff/results/{edition.pk}/items/trends.csv").content.decode()
    assert "trends,remote_work,10,50.0,20" in csv_body and "trends,grooming,22,68.8,32" in csv_body
