"""Results pages for analysts and administrators: thin views over results/selectors.py."""

import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache

from accounts.access import role_required
from accounts.models import Role
from coding.selectors import codebook_for
from results.params import bins_from_query, filters_from_query
from results.pdf import html_to_pdf
from results.presentation import page_figures
from results.selectors import edition_results, editions_compare
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
            "figures": page_figures(page, results["items"], _codebooks(edition, text_codes)),
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
        and block.item.type in ("select_one", "country")
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
    writer = csv.writer(response)
    writer.writerow(["item", "value", "count", "percent_of_respondents", "respondents"])
    n = item["n"]
    for code, count in item["counts"].items():
        writer.writerow([item_code, code, count, round(100 * count / n, 1) if n else "", n])
    for bin_ in item["summary"].get("bins", []):
        writer.writerow(
            [
                item_code,
                f"{bin_['from']}-{bin_['to']}",
                bin_["count"] if bin_["count"] is not None else "suppressed",
                "",
                n,
            ]
        )
    for code in item["suppressed"]:
        if not code.startswith("bin"):
            writer.writerow([item_code, code, "suppressed", "", n if n else "suppressed"])
    return response


@never_cache
@staff_required
def compare(request: HttpRequest, edition_id: int, previous_id: int) -> HttpResponse:
    edition = _released_edition(edition_id)
    previous = _released_edition(previous_id)
    if previous.series_id != edition.series_id:
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
    sections = [(page, page_figures(page, results["items"], codebooks)) for page in pages]
    context = {"edition": edition, "sections": sections, "results": results}
    if request.GET.get("format") == "pdf":
        html = render_to_string("results/report.html", context, request=request)
        response = HttpResponse(html_to_pdf(html), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="{edition.series.slug}-{edition.label}-report.pdf"'
        )
        return response
    return render(request, "results/report.html", context)
