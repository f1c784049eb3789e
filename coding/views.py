"""Staff pages of free-text coding: codebooks, the coding screen, runs. Access check, one service call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from itertools import pairwise
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import role_required
from accounts.models import Role
from coding import selectors, services
from coding.models import Category, Codebook
from responses.models import Answer
from surveys.models import Edition

staff_required = role_required(Role.ANALYST, Role.ADMINISTRATOR)
FILTERS = selectors.ITEM_ANSWER_FILTERS
# The one-answer view's key per active category, in codebook order: the digits (0 for the tenth), then the
# letters row by row, so a codebook of up to 36 categories (the 2017 `trends` has 11) is coded without the
# mouse. static/coding/shortcuts.js reads them from the page.
SHORTCUT_KEYS = "1234567890qwertyuiopasdfghjklzxcvbnm"


def _codebook(edition_id: int, item_code: str) -> Codebook:
    return get_object_or_404(
        Codebook.objects.select_related("edition"), edition_id=edition_id, item_code=item_code
    )


@staff_required
def edition_codebooks(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(Edition, pk=edition_id)
    if request.method == "POST":
        try:
            books = services.codebooks_import_reference(edition=edition)
            messages.success(
                request,
                f"Imported {len(books)} reference codebook(s); items that had a codebook keep theirs.",
            )
        except services.CodebookInvalid as exc:
            messages.error(
                request,
                "No reference codebook imported (an edited codebook is carried over from its codebook page "
                "instead), because:",
            )
            for error in exc.errors:
                messages.error(request, error)
        return redirect("coding:edition", edition_id=edition.pk)
    books = [
        {"book": b, "progress": selectors.coding_progress(edition_id=edition.pk, item_code=b.item_code)}
        for b in selectors.codebooks_of_edition(edition_id=edition.pk)
    ]
    return render(request, "coding/edition.html", {"edition": edition, "books": books})


def _search_key(edition_id: int, item_code: str) -> str:
    return f"coding-search:{edition_id}:{item_code}"


def _screen_url(edition_id: int, item_code: str, current_filter: str, view: str) -> str:
    query = urlencode({"filter": current_filter, **({"view": "table"} if view == "table" else {})})
    return f"{reverse('coding:item', args=[edition_id, item_code])}?{query}"


@staff_required
def item_screen(request: HttpRequest, edition_id: int, item_code: str) -> HttpResponse:
    book = _codebook(edition_id, item_code)
    coder = services.coder_label(user_id=request.user.pk)
    params = request.POST if request.method == "POST" else request.GET
    current_filter = params.get("filter", "")
    if current_filter not in FILTERS:
        raise Http404
    view = "table" if params.get("view") == "table" else "one"
    # The search term is a piece of answer text: it is kept in the analyst's session, not in the URL, so
    # that it never reaches an access log, a proxy or the browser's history. The form posts it here; a
    # link that still carries ?q= is followed once and redirected without it.
    if request.method == "POST" or "q" in request.GET:
        term = params.get("q", "").strip()[:200]
        if term:
            request.session[_search_key(edition_id, item_code)] = term
        else:
            request.session.pop(_search_key(edition_id, item_code), None)
        return redirect(_screen_url(edition_id, item_code, current_filter, view))
    search = request.session.get(_search_key(edition_id, item_code), "")
    answers = selectors.item_answers(
        edition_id=edition_id, item_code=item_code, coder=coder, filter=current_filter, search=search
    )
    page = Paginator(answers, 50 if view == "table" else 1).get_page(request.GET.get("page"))
    rows = selectors.codes_for_answers([a.pk for a in page], coder=coder)
    categories = selectors.codebook_for(edition_id=edition_id, item_code=item_code)
    settling = (
        selectors.coders_codes([a.pk for a in page], coder=coder) if current_filter == "disagreement" else {}
    )
    items = []
    for answer in page:
        codes = rows[answer.pk]
        mine = {c["code"] for c in codes if c["source"] == "human" and c["mine"]}
        settled = settling.get(answer.pk, {"coders": [], "agreed": set()})
        items.append(
            {
                "answer": answer,
                "mine": mine,
                # Shown ticked so that saving keeps them (or unticking removes them); never offered anew.
                "retired_mine": [c for c in categories if c["retired"] and c["code"] in mine],
                "auto": [c for c in codes if c["source"] == "auto"],
                "suggestions": [c for c in codes if c["source"] == "suggestion"],
                # Under the disagreement filter only: what each coder gave, and the codes all of them gave
                # (ticked to start the adjudicated set).
                "coders": settled["coders"],
                "agreed": settled["agreed"],
                # Retired categories a coder gave: offered to the adjudicated set, which may keep them.
                "retired_given": [
                    c
                    for c in categories
                    if c["retired"] and any(c["code"] in k["codes"] for k in settled["coders"])
                ],
            }
        )
    # The table view's save comes back to the answer after the saved one (its place on a page of fifty);
    # the saved one may have left the filter (uncoded, say).
    for row, following in pairwise(items):
        row["following"] = following["answer"].pk
    counts = selectors.item_category_counts(edition_id=edition_id, item_code=item_code)
    return render(
        request,
        "coding/item.html",
        {
            "edition": book.edition,
            "book": book,
            "categories": categories,
            "active_categories": [
                c | {"key": SHORTCUT_KEYS[i] if i < len(SHORTCUT_KEYS) else ""}
                for i, c in enumerate(c for c in categories if not c["retired"])
            ],
            "items": items,
            "page": page,
            "view": view,
            "filters": FILTERS,
            "current_filter": current_filter,
            "search": search,
            "progress": selectors.coding_progress(edition_id=edition_id, item_code=item_code),
            "agreement": selectors.coder_agreement(edition_id=edition_id, item_code=item_code),
            "runs": selectors.coding_runs(edition_id=edition_id, item_code=item_code)[:5],
            "model_report": selectors.latest_trained_run_report(edition_id=edition_id, item_code=item_code),
            "counts": counts,
            # A count's base where it is not n: human coding only, or some answers unknown for it.
            "category_counts": [
                {"code": code, "count": count, "base": counts["bases"][code]}
                for code, count in counts["counts"].items()
            ],
        },
    )


def _answer_of_item(edition_id: int, item_code: str, answer_id: uuid.UUID) -> None:
    _codebook(edition_id, item_code)
    # The answer must be a free-text answer of this item: 404, not a 500 or another item's answer coded.
    get_object_or_404(
        Answer, pk=answer_id, item__edition_id=edition_id, item__code=item_code, text__isnull=False
    )


@staff_required
@require_POST
def answer_code(request: HttpRequest, edition_id: int, item_code: str, answer_id: uuid.UUID) -> HttpResponse:
    _answer_of_item(edition_id, item_code, answer_id)
    try:
        saved = services.answer_codes_set(
            answer_id=answer_id,
            codes=request.POST.getlist("codes"),
            coder=services.coder_label(user_id=request.user.pk),
            shown=_shown(request),
        )
        # Said in the page's status region, so a screen reader announces that the save took.
        messages.success(request, f"Saved: {', '.join(saved)}." if saved else "Saved: no category applies.")
    except services.CodesInvalid as exc:
        messages.error(request, str(exc))
    return _back(request, edition_id, item_code)


@staff_required
@require_POST
def answer_adjudicate(
    request: HttpRequest, edition_id: int, item_code: str, answer_id: uuid.UUID
) -> HttpResponse:
    _answer_of_item(edition_id, item_code, answer_id)
    try:
        services.answer_codes_adjudicate(
            answer_id=answer_id, codes=request.POST.getlist("codes"), shown=_shown(request)
        )
        messages.success(request, "Adjudicated: these are now the answer's final codes.")
    except services.CodesInvalid as exc:
        messages.error(request, str(exc))
    return _back(request, edition_id, item_code)


def _shown(request: HttpRequest) -> list[str] | None:
    """The category codes the posted form offered (its `shown` field, codes separated by spaces)."""
    shown = request.POST.get("shown")
    return None if shown is None else shown.split()


def _back(request: HttpRequest, edition_id: int, item_code: str) -> HttpResponse:
    # `next` keeps the coder's page, filter and search; only a URL of this site is followed.
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("coding:item", edition_id=edition_id, item_code=item_code)


@staff_required
@require_POST
def run_start(request: HttpRequest, edition_id: int, item_code: str) -> HttpResponse:
    book = _codebook(edition_id, item_code)
    try:
        run = services.coding_run_start(edition=book.edition, item_code=item_code)
        messages.success(request, f"Auto-coding queued ({run.get_kind_display()}, {run.classifier}).")
    except services.CodingRunRefused as exc:
        messages.error(request, str(exc))
    return redirect("coding:item", edition_id=edition_id, item_code=item_code)


@staff_required
def codebook_edit(request: HttpRequest, edition_id: int, item_code: str) -> HttpResponse:
    book = _codebook(edition_id, item_code)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                typed = {
                    field: request.POST.get(field, "")
                    for field in ("code", "label", "description", "examples")
                }
                try:
                    added = services.category_create(
                        codebook=book,
                        code=typed["code"].strip(),
                        label=typed["label"],
                        description=typed["description"],
                        examples=_examples(typed["examples"]),
                    )
                except services.CodebookInvalid as exc:
                    # The page again with what was typed and why it was refused: a redirect emptied the form.
                    return _codebook_page(request, book, add_typed=typed, add_errors=exc.errors)
                messages.success(request, f"{added.code}: added.")
            elif action in {"remove", "restore", "update"}:
                category = get_object_or_404(Category, codebook=book, code=request.POST.get("code"))
                if action == "remove":
                    try:
                        outcome = services.category_remove(
                            category=category, delete_confirmed=request.POST.get("confirm") == "delete"
                        )
                    except services.CategoryDeleteUnconfirmed as exc:
                        # Deleting cannot be undone: the analyst sees what goes and posts again to confirm.
                        return render(
                            request,
                            "coding/category_delete.html",
                            {"edition": book.edition, "book": book, "category": category, "usage": exc.usage},
                        )
                    messages.info(request, _removed_message(category, outcome))
                elif action == "restore":
                    services.category_restore(category=category)
                    messages.success(request, f"{category.code}: restored; it is offered for coding again.")
                else:
                    services.category_update(
                        category=category,
                        label=request.POST.get("label", ""),
                        description=request.POST.get("description", ""),
                        examples=_examples(request.POST.get("examples", "")),
                    )
                    # Said in the page's status region: the page looks the same after a save.
                    messages.success(request, f"{category.code}: saved.")
            elif action == "carry":
                try:
                    to_edition = int(request.POST.get("to_edition", ""))
                except ValueError:  # a missing or garbled choice: 404, not a 500 from the lookup
                    raise Http404 from None
                target = get_object_or_404(Edition, pk=to_edition)
                services.codebook_carry_forward(
                    codebook=book, to_edition=target, replace=request.POST.get("replace") == "1"
                )
                messages.success(request, f"Codebook carried to {target}.")
        except services.CodebookInvalid as exc:
            for error in exc.errors:
                messages.error(request, error)
        return redirect("coding:codebook", edition_id=edition_id, item_code=item_code)
    return _codebook_page(request, book)


def _examples(text: str) -> list[str]:
    """A category's examples as the codebook page's textarea holds them: one a line, blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _codebook_page(
    request: HttpRequest,
    book: Codebook,
    *,
    add_typed: dict[str, str] | None = None,
    add_errors: Sequence[str] = (),
) -> HttpResponse:
    """The codebook page; `add_typed` and `add_errors` fill the Add form again after a refusal."""
    others = Edition.objects.filter(series_id=book.edition.series_id).exclude(pk=book.edition_id)
    categories = list(book.categories.all())
    usage = selectors.category_usage(category_ids=[c.pk for c in categories])
    return render(
        request,
        "coding/codebook.html",
        {
            "edition": book.edition,
            "book": book,
            "categories": [
                {"category": c, "usage": usage[c.pk], "examples_text": "\n".join(c.examples)}
                for c in categories
            ],
            "others": others,
            "add_typed": add_typed or {},
            "add_errors": add_errors,
        },
    )


def _removed_message(category: Category, outcome: str) -> str:
    if outcome == "deleted":
        return f"{category.code}: deleted."
    return (
        f"{category.code}: retired. Its codes stay in the figures and exports; it is no longer offered "
        f"for coding. Restore it to offer it again."
    )
