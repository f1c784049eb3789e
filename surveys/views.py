"""Staff pages for series and editions. Each view: access check, form, one service call, render."""

import json

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.access import role_required
from accounts.models import Role
from config.uploads import upload_refusal
from responses.services import held_count
from surveys import services
from surveys.definition import DefinitionInvalid
from surveys.forms import ImportForm, OpenForm, ReplaceForm
from surveys.models import Edition
from surveys.presentation import build_pages, raw_answers_from_form
from surveys.questionnaire import AnswersInvalid
from surveys.selectors import edition_definition, edition_questionnaire, editions_list

staff_required = role_required(Role.ADMINISTRATOR, Role.ANALYST)
admin_required = role_required(Role.ADMINISTRATOR)


@staff_required
def edition_list(request: HttpRequest) -> HttpResponse:
    return render(request, "surveys/edition_list.html", {"editions": editions_list()})


@admin_required
def edition_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    errors = None
    if refusal := upload_refusal(request):
        form.add_error("file", refusal)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data["file"]
        try:
            definition = services.definition_from_upload(fileobj=upload, filename=upload.name)
            # All or nothing: a new series named here is kept only with the edition imported into it.
            with transaction.atomic():
                series = data["series"] or services.series_get_or_create(
                    slug=data["new_series_slug"], title=data["new_series_title"] or None
                )
                edition = services.edition_import_definition(
                    series=series, label=data["label"], definition=definition, actor=request.user
                )
        except DefinitionInvalid as exc:
            errors = exc.errors
        else:
            messages.success(request, f"Imported {edition} as a draft.")
            return redirect("surveys:edition_detail", edition_id=edition.pk)
    return render(request, "surveys/edition_import.html", {"form": form, "import_errors": errors})


@staff_required
def edition_detail(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(Edition.objects.select_related("series"), pk=edition_id)
    pages = build_pages(edition_definition(edition))
    held = held_count(edition=edition) if edition.status != "draft" else 0
    return render(
        request,
        "surveys/edition_detail.html",
        {
            "edition": edition,
            "pages": pages,
            "held": held,
            "open_form": OpenForm(),
            "replace_form": ReplaceForm(),
        },
    )


@staff_required
def edition_preview(request: HttpRequest, edition_id: int) -> HttpResponse:
    """The questionnaire exactly as officers will see it, page by page; answers are checked, never kept."""
    edition = get_object_or_404(Edition.objects.select_related("series"), pk=edition_id)
    definition = edition_definition(edition)
    language = request.GET.get("lang") or definition["default_language"]
    pages = build_pages(definition, language)
    try:
        number = min(max(int(request.GET.get("page", "1")), 1), len(pages))
    except ValueError:
        number = 1
    page = pages[number - 1]
    errors: dict[str, list[str]] = {}
    checked = False
    if request.method == "POST":
        questionnaire = edition_questionnaire(edition)
        item_types = {item.code: item.type for item in questionnaire}
        raw = raw_answers_from_form(request.POST, item_types, list(item_types))
        try:
            questionnaire.clean_answers(raw, language=language)
        except AnswersInvalid as exc:
            errors = {code: msgs for code, msgs in exc.errors.items() if code in page.item_codes}
        checked = True
    return render(
        request,
        "surveys/edition_preview.html",
        {
            "edition": edition,
            "page": page,
            "pages": pages,
            "language": language,
            "languages": definition["languages"],
            "errors": errors,
            "checked": checked,
            "values": request.POST if request.method == "POST" else {},
        },
    )


@staff_required
def edition_definition_download(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(Edition.objects.select_related("series"), pk=edition_id)
    response = HttpResponse(
        json.dumps(edition_definition(edition), indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{edition.series.slug}-{edition.label}.json"'
    return response


@admin_required
@require_POST
def edition_replace(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(Edition, pk=edition_id)
    form = ReplaceForm(request.POST, request.FILES)
    if refusal := upload_refusal(request):
        messages.error(request, refusal)
        return redirect("surveys:edition_detail", edition_id=edition.pk)
    if not form.is_valid():
        messages.error(request, "Choose a file to upload.")
        return redirect("surveys:edition_detail", edition_id=edition.pk)
    upload = form.cleaned_data["file"]
    try:
        definition = services.definition_from_upload(fileobj=upload, filename=upload.name)
        services.edition_replace_definition(edition=edition, definition=definition, actor=request.user)
    except DefinitionInvalid as exc:
        return render(
            request,
            "surveys/edition_import.html",
            {"form": None, "import_errors": exc.errors, "edition": edition},
            status=400,
        )
    except services.LifecycleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The draft's questionnaire was replaced.")
    return redirect("surveys:edition_detail", edition_id=edition.pk)


@admin_required
@require_POST
def edition_open(request: HttpRequest, edition_id: int) -> HttpResponse:
    edition = get_object_or_404(Edition, pk=edition_id)
    form = OpenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a valid closing time (and opening time, if not now).")
        return redirect("surveys:edition_detail", edition_id=edition.pk)
    try:
        services.edition_open(
            edition=edition,
            closes_at=form.cleaned_data["closes_at"],
            opens_at=form.cleaned_data["opens_at"],
            actor=request.user,
        )
    except services.LifecycleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The edition is open; its questionnaire is now frozen.")
    return redirect("surveys:edition_detail", edition_id=edition.pk)


def _lifecycle_action(action_name: str, done_message: str):  # type: ignore[no-untyped-def]
    """POST-only admin view that runs one lifecycle service on an edition."""

    @admin_required
    @require_POST
    def view(request: HttpRequest, edition_id: int) -> HttpResponse:
        edition = get_object_or_404(Edition, pk=edition_id)
        try:
            getattr(services, action_name)(edition=edition, actor=request.user)
        except services.LifecycleError as exc:
            messages.error(request, str(exc))
            return redirect("surveys:edition_detail", edition_id=edition.pk)
        messages.success(request, done_message)
        if action_name == "edition_delete_draft":
            return redirect("surveys:edition_list")
        return redirect("surveys:edition_detail", edition_id=edition.pk)

    view.__name__ = action_name
    return view


edition_close = _lifecycle_action("edition_close", "The edition is closed.")
edition_archive = _lifecycle_action("edition_archive", "The edition is archived.")
edition_delete = _lifecycle_action("edition_delete_draft", "The draft was deleted.")
