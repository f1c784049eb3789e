"""The officer portal: answer an open edition page by page, submit once, get a receipt.

Answers in progress are never kept on the server: without JavaScript they travel between pages as
hidden form fields; with JavaScript the browser also keeps a draft in localStorage (static/js/portal.js).
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.access import vetted_officer_required
from accounts.models import Participation, ParticipationStatus
from responses import services
from surveys.models import Edition, EditionStatus
from surveys.presentation import PageView, build_pages, raw_answers_from_form
from surveys.questionnaire import AnswersInvalid
from surveys.selectors import edition_definition, edition_questionnaire


@vetted_officer_required
def portal_home(request: HttpRequest) -> HttpResponse:
    editions = [
        e
        for e in Edition.objects.filter(status=EditionStatus.OPEN).select_related("series")
        if e.is_accepting_answers()
    ]
    answered = set(
        Participation.objects.filter(
            user=request.user, edition__in=editions, status=ParticipationStatus.SUBMITTED
        ).values_list("edition_id", flat=True)
    )
    return render(
        request,
        "responses/portal_home.html",
        {
            "to_answer": [e for e in editions if e.pk not in answered],
            "answered": [e for e in editions if e.pk in answered],
        },
    )


def _page_index(pages: list[PageView], asked: set[str], start: int, step: int) -> int:
    """The next page (step +1) or previous page (step -1) that has a question skip logic shows."""
    index = start + step
    while 0 <= index < len(pages):
        if asked & set(pages[index].item_codes):
            return index
        index += step
    return start


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@vetted_officer_required
def questionnaire(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(
        Edition.objects.select_related("series"), pk=edition_id, status=EditionStatus.OPEN
    )
    if not edition.is_accepting_answers():
        return render(request, "responses/not_open.html", {"edition": edition}, status=403)
    if Participation.objects.filter(
        user=request.user, edition=edition, status=ParticipationStatus.SUBMITTED
    ).exists():
        return render(request, "responses/already_answered.html", {"edition": edition})
    definition = edition_definition(edition)
    compiled = edition_questionnaire(edition)
    languages = definition["languages"]
    language = request.POST.get("_lang") or request.GET.get("lang") or definition["default_language"]
    if language not in {lang["code"] for lang in languages}:
        language = definition["default_language"]
    pages = build_pages(definition, language)
    item_types = {item.code: item.type for item in compiled}

    raw = compiled.without_hidden(raw_answers_from_form(request.POST, item_types, list(item_types)))
    asked = compiled.asked_items(raw)
    errors: dict[str, list[str]] = {}
    try:
        index = min(max(int(request.POST.get("_page", "0")), 0), len(pages) - 1)
    except ValueError:
        index = 0
    if request.method == "GET":
        index = _page_index(pages, asked, -1, +1)
    else:
        action = request.POST.get("_action", "next")
        if action == "back":
            index = _page_index(pages, asked, index, -1)
        elif action == "language":
            pass
        else:
            try:
                compiled.clean_answers(raw, language=language)
            except AnswersInvalid as exc:
                errors = exc.errors
            page_errors = {c: m for c, m in errors.items() if c in pages[index].item_codes}
            if action == "submit" and not errors:
                try:
                    receipt = services.response_submit(edition=edition, officer=request.user, answers=raw)
                except AnswersInvalid as exc:  # the questionnaire is frozen, so this only guards a race
                    errors = exc.errors
                except services.SubmissionRefused as exc:
                    return render(
                        request,
                        "responses/refused.html",
                        {"edition": edition, "reason": exc.reason},
                        status=409,
                    )
                else:
                    return render(
                        request, "responses/receipt.html", {"edition": edition, "receipt": receipt.code}
                    )
            if page_errors:
                errors = page_errors
            elif action == "submit":
                # Send the officer to the first page with a problem.
                index = next(i for i, p in enumerate(pages) if set(errors) & set(p.item_codes))
                errors = {c: m for c, m in errors.items() if c in pages[index].item_codes}
            else:
                errors = {}
                index = _page_index(pages, asked, index, +1)
    shown = [i for i, page in enumerate(pages) if asked & set(page.item_codes)]
    page = pages[index]
    # Answers to the other pages travel along as hidden fields (the server keeps no draft).
    on_page = set(page.item_codes)
    carried = [
        (code, value)
        for code, raw_value in raw.items()
        if code not in on_page
        for value in (raw_value if isinstance(raw_value, list) else [raw_value])
    ]
    return render(
        request,
        "responses/questionnaire.html",
        {
            "edition": edition,
            "page": page,
            "page_position": shown.index(index) + 1 if index in shown else 1,
            "page_count": len(shown),
            "is_last": index == (shown[-1] if shown else index),
            "is_first": index == (shown[0] if shown else index),
            "errors": errors,
            "values": raw,
            "carried": carried,
            "language": language,
            "languages": languages,
            "definition_sha256": edition.definition_sha256,
        },
    )


def anonymity(request: HttpRequest) -> HttpResponse:
    return render(request, "responses/anonymity.html")


@never_cache
@require_http_methods(["GET", "POST"])
def receipt_check(request: HttpRequest, edition_id: int) -> HttpResponse:
    """Public: is this receipt among the released responses? Yes or no, nothing more."""
    edition = get_object_or_404(Edition.objects.exclude(status=EditionStatus.DRAFT), pk=edition_id)
    result = None
    if request.method == "POST":
        code = request.POST.get("receipt", "").strip()[:64]
        result = bool(code) and services.receipt_is_released(edition=edition, code=code)
    return render(request, "responses/receipt_check.html", {"edition": edition, "result": result})
