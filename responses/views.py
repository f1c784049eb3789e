"""The officer portal: answer an open edition page by page, submit once, get a receipt.

Answers in progress are never kept on the server. Without JavaScript (level 1) they travel between pages
as hidden form fields. With a blind-signed ballot in the browser (level 2, static/js/portal.js) the page
carries every other page as an inert <template>, the browser moves between pages itself and keeps the
answers in localStorage only, so no answer travels with the officer's session.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
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
    status_of = dict(
        Participation.objects.filter(user=request.user, edition__in=editions).values_list(
            "edition_id", "status"
        )
    )
    return render(
        request,
        "responses/portal_home.html",
        {
            "to_answer": [
                e
                for e in editions
                if status_of.get(e.pk)
                not in {ParticipationStatus.SUBMITTED, ParticipationStatus.BALLOT_ISSUED}
            ],
            # Only the browser that holds the ballot can send (or has sent) these answers.
            "ballot_held": [e for e in editions if status_of.get(e.pk) == ParticipationStatus.BALLOT_ISSUED],
            "answered": [e for e in editions if status_of.get(e.pk) == ParticipationStatus.SUBMITTED],
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


# The pages without answers are the same for every officer: rendered once per process, questionnaire
# version and language (they hold nothing about anyone).
_empty_pages: dict[tuple[int, str, str], dict[int, SafeString]] = {}


def _empty_pages_html(edition: Edition, pages: list[PageView], language: str) -> dict[int, SafeString]:
    key = (edition.pk, edition.definition_sha256, language)
    rendered = _empty_pages.get(key)
    if rendered is None:
        rendered = {
            i: render_to_string("surveys/_blocks.html", {"blocks": page.blocks})
            for i, page in enumerate(pages)
        }
        if len(_empty_pages) >= 64:
            _empty_pages.clear()
        _empty_pages[key] = rendered
    return rendered


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@vetted_officer_required
def questionnaire(request: HttpRequest, edition_id: int) -> HttpResponse:
    # A closed edition is still found, so that answers sent after the close are told why they were not taken.
    edition = get_object_or_404(
        Edition.objects.select_related("series").exclude(status=EditionStatus.DRAFT), pk=edition_id
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
            # Empty, for the browser to switch pages itself in ballot mode (inert without JavaScript).
            "other_pages": [
                (i, html) for i, html in _empty_pages_html(edition, pages, language).items() if i != index
            ],
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
