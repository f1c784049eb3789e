"""Staff pages: request an export, follow its progress, review its free text, download it through a
short-lived link."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import role_required
from accounts.models import Role
from exports import review, services
from exports.exporters import EXPORTERS
from exports.forms import ExportRequestForm
from exports.models import ExportJob, ExportStatus, RedactedText
from exports.selectors import export_jobs_for

staff_required = role_required(Role.ANALYST, Role.ADMINISTRATOR)


def _job_for(request: HttpRequest, job_id: UUID) -> ExportJob:
    """Administrators reach every job; analysts their own; anything else is a 404."""
    return get_object_or_404(export_jobs_for(request.user), pk=job_id)  # type: ignore[arg-type]


def download_url(job: ExportJob, user: Any) -> str:
    token = services.export_download_token(job=job, user=user)
    return reverse("exports:download", args=[job.pk, token])


def status_payload(job: ExportJob, user: Any, *, download: str) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "status": job.status,
        "progress": job.progress,
        "format": job.format,
        "errors": [{"type": job.error_type, "message": job.error_message}] if job.error_type else [],
        "download_url": download if job.status == ExportStatus.SUCCEEDED else None,
        "review_url": reverse("exports:review", args=[job.pk]) if job.awaiting_review else None,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
    }


@never_cache
@staff_required
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest) -> HttpResponse:
    form = ExportRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            options = services.ExportOptions.clean({k: v for k, v in data.items() if k != "editions"})
            job = services.export_request(actor=request.user, editions=data["editions"], options=options)  # type: ignore[arg-type]
        except services.ExportRequestInvalid as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "The export is queued.")
            return redirect("exports:detail", job_id=job.pk)
    jobs = export_jobs_for(request.user)[:50]  # type: ignore[arg-type]
    return render(request, "exports/export_list.html", {"form": form, "jobs": jobs, "exporters": EXPORTERS})


@never_cache
@staff_required
def export_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _job_for(request, job_id)
    link = download_url(job, request.user) if job.status == ExportStatus.SUCCEEDED else ""
    return render(request, "exports/export_detail.html", {"job": job, "download_url": link})


@never_cache
@staff_required
def export_status(request: HttpRequest, job_id: UUID) -> JsonResponse:
    """Polled by the progress bar."""
    job = _job_for(request, job_id)
    link = download_url(job, request.user) if job.status == ExportStatus.SUCCEEDED else ""
    return JsonResponse(status_payload(job, request.user, download=link))


@staff_required
def export_download(request: HttpRequest, job_id: UUID, token: str) -> HttpResponse:
    job = _job_for(request, job_id)
    try:
        path = services.export_download_open(job=job, user=request.user, token=token)  # type: ignore[arg-type]
    except services.DownloadRefused as exc:
        if job.status == ExportStatus.EXPIRED:
            raise Http404("This export has expired.") from None
        messages.error(request, str(exc))
        return redirect("exports:detail", job_id=job.pk)
    return file_response(path, EXPORTERS[job.format].media_type)


REVIEW_PAGE_SIZE = 50


@never_cache
@staff_required
def export_review(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Every free-text answer of an export as it will be released, with what was redacted marked."""
    job = _job_for(request, job_id)
    if not job.awaiting_review:
        messages.info(request, "This export is not waiting for a review.")
        return redirect("exports:detail", job_id=job.pk)
    show = request.GET.get("show", "all")
    show = show if show in review.FILTERS else "all"
    page = Paginator(review.review_entries(job=job, show=show), REVIEW_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    language = job.options.get("language", "en")
    context = {
        "job": job,
        "page": page,
        "entries": [review.review_entry(row, language=language) for row in page],
        "show": show,
        "filters": review.FILTERS,
        "counts": review.review_counts(job=job),
        "digest": review.review_digest(job=job),
        "placeholders": review.REVIEW_PLACEHOLDERS,
    }
    return render(request, "exports/export_review.html", context)


@staff_required
@require_POST
def export_review_answer(request: HttpRequest, job_id: UUID, answer_id: UUID) -> HttpResponse:
    job = _job_for(request, job_id)
    action = request.POST.get("action", "")
    phrases = [(request.POST.get("phrase", ""), request.POST.get("placeholder", ""))]
    try:
        review.redacted_text_edit(job=job, answer_id=answer_id, action=action, phrases=phrases)
    except RedactedText.DoesNotExist:
        raise Http404("This export holds no such answer.") from None
    except review.ReviewRefused as exc:
        messages.error(request, str(exc))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("exports:review", args=[job.pk])
    return redirect(f"{back}#answer-{answer_id}")


@staff_required
@require_POST
def export_review_approve(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _job_for(request, job_id)
    if not request.POST.get("confirm"):
        messages.error(request, "Confirm that you have read every answer before approving.")
        return redirect("exports:review", job_id=job.pk)
    try:
        services.export_review_approve(job=job, actor=request.user, digest=request.POST.get("digest", ""))  # type: ignore[arg-type]
    except review.ReviewRefused as exc:
        messages.error(request, str(exc))
        return redirect("exports:review", job_id=job.pk)
    messages.success(request, "Approved. The file is being built with the free text as you reviewed it.")
    return redirect("exports:detail", job_id=job.pk)


def file_response(path: Any, media_type: str) -> FileResponse:
    if path.suffix == ".zip":
        media_type = "application/zip"
    response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type=media_type)
    # Never kept by a browser or proxy cache: the link is short-lived and so should every copy be.
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response
