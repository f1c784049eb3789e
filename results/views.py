"""Results pages for analysts and administrators: thin views over results/selectors.py."""

import csv
import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.access import role_required
from accounts.models import Role
from coding.selectors import codebook_for
from responses.models import Answer
from results.models import HiddenQuote
from results.params import bins_from_query, filters_from_query
from results.pdf import html_to_pdf
from results.presentation import item_csv_rows, page_figures
from results.quotes import example_quotes
from results.selectors import edition_results, editions_compare
from results.services import quote_hide, quote_show
from results.tallies import FILTER_TYPES
from surveys.models import Edition, EditionStatus
from surveys.presentation import ItemView, PageView, build_pages
from surveys.questionnaire import Questionnaire
from surveys.selectors import edition_definition, edition_questionnaire

TEXT_TYPES = ("text", "long_text")

staff_required = role_required(Role.ADMINISTRATOR, Role.ANALYST)


def _codebooks(edition: Edition, codes: list[str]) -> dict[str, list[dict]]:
    return {code: codebook_for(edition_id=edition.pk, item_code=code) for code in codes}


def _released_edition(edition_id: int) -> Edition:
    return get_object_or_404(
        Edition.objects.select_related("series").exclude(status=EditionStatus.DRAFT), pk=edition_id
    )


@never_cache
@staff_required
def results_page(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = _released_edition(edition_id)
    definition = edition_definition(edition)
    pages = build_pages(definition)
    try:
        number = min(max(int(request.GET.get("page", "1")), 1), len(pages))
    except ValueError:
        number = 1
    page = pages[number - 1]
    filters = filters_from_query(request.GET, edition_questionnaire(edition))
    results = edition_results(
        edition=edition, filters=filters, item_codes=page.item_codes, bins=bins_from_query(request.GET)
    )
    questionnaire = edition_questionnaire(edition)
    text_codes = [code for code in page.item_codes if questionnaire.items[code].type in TEXT_TYPES]
    return render(
        request,
        "results/results_page.html",
        {
            "edition": edition,
            "pages": pages,
            "page": page,
            "results": results,
            "figures": page_figures(
                page,
                results["items"],
                _codebooks(edition, text_codes),
                example_quotes(edition=edition, results=results["items"], filters=filters),
            ),
            "quote_actions": True,
            "filters": filters,
            "filter_items": _filter_choices(pages, questionnaire),
            "previous_editions": Edition.objects.filter(series=edition.series)
            .exclude(pk=edition.pk)
            .exclude(status=EditionStatus.DRAFT),
        },
    )


def _filter_choices(pages: list[PageView], questionnaire: Questionnaire) -> list[ItemView]:
    """The quasi-identifier questions (country, agency type, ...) offered as filters."""
    return [
        block.item
        for page in pages
        for block in page.blocks
        if block.item is not None
        and questionnaire.items[block.item.code].quasi_identifier
        and block.item.type in FILTER_TYPES
    ]


@never_cache
@staff_required
def item_csv(request: HttpRequest, edition_id: int, item_code: str) -> HttpResponse:
    """The data behind one chart, as CSV, under the same disclosure control as the page."""
    edition = _released_edition(edition_id)
    questionnaire = edition_questionnaire(edition)
    if item_code not in questionnaire.items:
        raise Http404
    result = edition_results(
        edition=edition,
        filters=filters_from_query(request.GET, edition_questionnaire(edition)),
        item_codes=[item_code],
        bins=bins_from_query(request.GET),
    )
    item = result["items"].get(item_code, {"n": None, "counts": {}, "suppressed": ["*"], "summary": {}})
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{edition.series.slug}-{edition.label}-{item_code}.csv"'
    )
    csv.writer(response).writerows(
        item_csv_rows(item, item_code, coded_text=questionnaire.items[item_code].type in TEXT_TYPES)
    )
    return response


@never_cache
@staff_required
def compare(request: HttpRequest, edition_id: int, previous_id: int) -> HttpResponse:
    edition = _released_edition(edition_id)
    previous = _released_edition(previous_id)
    # Only another edition of the same series: an edition beside itself is no comparison.
    if previous.series_id != edition.series_id or previous.pk == edition.pk:
        raise Http404
    return render(
        request,
        "results/compare.html",
        {
            "edition": edition,
            "previous": previous,
            "rows": editions_compare(edition=edition, previous=previous),
        },
    )


@never_cache
@staff_required
def report(request: HttpRequest, edition_id: int) -> HttpResponse:
    """Every page's figures on one printable page; ?format=pdf renders the same page as a PDF."""
    edition = _released_edition(edition_id)
    definition = edition_definition(edition)
    pages = build_pages(definition)
    results = edition_results(edition=edition)
    text_codes = [i.code for i in edition_questionnaire(edition) if i.type in TEXT_TYPES]
    codebooks = _codebooks(edition, text_codes)
    quotes = example_quotes(edition=edition, results=results["items"])
    sections = [(page, page_figures(page, results["items"], codebooks, quotes)) for page in pages]
    context = {"edition": edition, "sections": sections, "results": results}
    if request.GET.get("format") == "pdf":
        html = render_to_string("results/report.html", context, request=request)
        response = HttpResponse(html_to_pdf(html), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="{edition.series.slug}-{edition.label}-report.pdf"'
        )
        return response
    return render(request, "results/report.html", context)


def _back(request: HttpRequest, edition: Edition) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(reverse("results:page", args=[edition.pk]))


@staff_required
@require_POST
def quote_hide_view(request: HttpRequest, edition_id: int, answer_id: uuid.UUID) -> HttpResponse:
    """Hide one answer as an example quote (it stays in the figures; another answer is quoted)."""
    edition = _released_edition(edition_id)
    try:
        quote_hide(edition=edition, answer_id=answer_id, actor=request.user)  # type: ignore[arg-type]
    except Answer.DoesNotExist as exc:
        raise Http404 from exc
    return _back(request, edition)


@staff_required
@require_POST
def quote_show_view(request: HttpRequest, edition_id: int, answer_id: uuid.UUID) -> HttpResponse:
    edition = _released_edition(edition_id)
    try:
        quote_show(edition=edition, answer_id=answer_id, actor=request.user)  # type: ignore[arg-type]
    except Answer.DoesNotExist as exc:
        raise Http404 from exc
    return _back(request, edition)


@never_cache
@staff_required
def hidden_quotes(request: HttpRequest, edition_id: int) -> HttpResponse:
    """The answers hidden as quotes, redacted as they would be shown, each with a way to show it again."""
    from exports.anonymise.pii import redactor

    edition = _released_edition(edition_id)
    hidden = (
        HiddenQuote.objects.filter(answer__item__edition=edition)
        .select_related("answer__item")
        .order_by("answer__item__position", "answer_id")
    )
    redact = redactor().redact
    rows = [(h.answer.item.code, h.answer_id, redact(h.answer.text or "")) for h in hidden]
    return render(request, "results/hidden_quotes.html", {"edition": edition, "rows": rows})
