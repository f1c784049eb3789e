"""REST API v1 for exports: request (202), status with a short-lived download link, review of the free
text (list, edit, approve), download."""

from typing import Any
from uuid import UUID

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import IsStaff
from api.query import PagedQuerySerializer, ValidatedPagination, paged_query_refused
from exports import review, services
from exports.anonymise.kanon import MIN_K
from exports.exporters import EXPORTERS
from exports.models import ExportJob, ExportStatus, FreeText, RedactedText
from exports.selectors import export_jobs_for
from exports.views import file_response
from surveys.models import Edition, EditionStatus


class ExportRequestSerializer(serializers.Serializer[None]):
    format = serializers.ChoiceField(choices=[k for k, e in EXPORTERS.items() if e.public], default="csv")
    k = serializers.IntegerField(min_value=MIN_K, default=5)
    free_text = serializers.ChoiceField(choices=FreeText.values, default=FreeText.SEPARATE)
    language = serializers.CharField(max_length=16, default="en")
    stable_ids = serializers.BooleanField(default=False)
    review = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="a person reads the redacted free text before the file is built; default: on whenever "
        "the export holds free text (free_text redacted or separate, any format but codebook)",
    )
    editions = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        help_text="more editions of the same series to export with this one, aligned by item code",
    )


class ExportCreatedSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()


# A field called "required" would shadow Field.required on a declared class; an inline one is built apart.
ReviewStateSerializer = inline_serializer(
    "ReviewState",
    {
        "required": serializers.BooleanField(),
        "approved": serializers.BooleanField(),
        "url": serializers.CharField(allow_null=True, help_text="the review, while the export waits for it"),
    },
)


class ExportStatusSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExportStatus.values)
    progress = serializers.IntegerField()
    format = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField())
    review = ReviewStateSerializer
    download_url = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class ReviewEntrySerializer(serializers.Serializer[None]):
    answer_id = serializers.UUIDField()
    item = serializers.CharField()
    item_label = serializers.CharField()
    text = serializers.CharField(help_text="as it will be released")
    placeholders = serializers.ListField(child=serializers.CharField())
    redacted_automatically = serializers.BooleanField()
    decision = serializers.ChoiceField(choices=["automatic", "edited", "withheld", "excluded"])


class ReviewPageSerializer(serializers.Serializer[None]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    digest = serializers.CharField(help_text="send it with the approval: what you approve is what you read")
    counts = serializers.DictField(child=serializers.IntegerField())
    results = ReviewEntrySerializer(many=True)


class PhraseSerializer(serializers.Serializer[None]):
    text = serializers.CharField(max_length=500)
    placeholder = serializers.ChoiceField(choices=review.REVIEW_PLACEHOLDERS)


class ReviewEditSerializer(serializers.Serializer[None]):
    action = serializers.ChoiceField(
        choices=review.ReviewAction.ALL,
        help_text="redact: replace `phrases` (every occurrence, any case) by their placeholder; withhold: "
        "the whole answer becomes [REDACTED]; exclude: leave the answer out; restore: undo",
    )
    phrases = PhraseSerializer(many=True, required=False, default=list)


class ReviewApproveSerializer(serializers.Serializer[None]):
    digest = serializers.CharField(max_length=64)


class ReviewQuerySerializer(PagedQuerySerializer):
    show = serializers.ChoiceField(
        choices=list(review.FILTERS),
        required=False,
        help_text="which answers: all (the default), redacted, unchanged, edited or excluded",
        error_messages={"invalid_choice": f'"{{input}}" is not one of {", ".join(review.FILTERS)}'},
    )


DETAIL = inline_serializer("ExportReviewError", {"detail": serializers.CharField()})


def _download_url(job: ExportJob, user: Any) -> str | None:
    if job.status != ExportStatus.SUCCEEDED:
        return None
    token = services.export_download_token(job=job, user=user)
    return f"{reverse('api-export-download', args=[job.pk])}?{urlencode({'token': token})}"


def status_data(job: ExportJob, user: Any) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "status": job.status,
        "progress": job.progress,
        "format": job.format,
        "options": job.options,
        "errors": [{"type": job.error_type, "message": job.error_message}] if job.error_type else [],
        "row_count": job.row_count,
        "disclosure_control": job.report or None,
        "file": (
            {"name": job.file_name, "bytes": job.file_size, "sha256": job.sha256}
            if job.status == ExportStatus.SUCCEEDED
            else None
        ),
        "review": {
            "required": bool(job.options.get("review")),
            "approved": bool(job.review_digest),
            "url": reverse("api-export-review", args=[job.pk]) if job.awaiting_review else None,
        },
        "download_url": _download_url(job, user),
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
    }


class ExportCreateView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=ExportRequestSerializer,
        responses={202: ExportCreatedSerializer},
        summary="Request an anonymised export of an edition (built by a background job)",
    )
    def post(self, request: Request, edition_id: int) -> Response:
        edition = get_object_or_404(Edition.objects.exclude(status=EditionStatus.DRAFT), pk=edition_id)
        form = ExportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        extra = data.pop("editions")
        editions = [edition, *Edition.objects.filter(pk__in=extra).exclude(pk=edition.pk)]
        if len(editions) != len({edition.pk, *extra}):
            raise ValidationError({"editions": ["Unknown edition."]})
        try:
            job = services.export_request(
                actor=request.user,  # type: ignore[arg-type]
                editions=editions,
                options=services.ExportOptions.clean(data),
            )
        except services.ExportRequestInvalid as exc:
            raise ValidationError(exc.errors) from None
        return Response({"id": str(job.pk)}, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=ExportStatusSerializer, summary="An export's status, progress and download link")
    def get(self, request: Request, export_id: UUID) -> Response:
        job = get_object_or_404(export_jobs_for(request.user), pk=export_id)  # type: ignore[arg-type]
        return Response(status_data(job, request.user))


class ExportDownloadView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[OpenApiParameter("token", str, description="from the status's download_url")],
        responses={200: OpenApiResponse(description="the file"), 403: OpenApiResponse(description="link")},
        summary="Download an export (through the short-lived link in its status)",
    )
    def get(self, request: Request, export_id: UUID) -> FileResponse:
        job = get_object_or_404(export_jobs_for(request.user), pk=export_id)  # type: ignore[arg-type]
        try:
            path = services.export_download_open(
                job=job,
                user=request.user,  # type: ignore[arg-type]
                token=request.query_params.get("token", ""),
            )
        except services.DownloadRefused as exc:
            raise PermissionDenied(str(exc)) from None
        return file_response(path, EXPORTERS[job.format].media_type)


def _job(request: Request, export_id: UUID) -> ExportJob:
    return get_object_or_404(export_jobs_for(request.user), pk=export_id)  # type: ignore[arg-type]


class ExportReviewView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[ReviewQuerySerializer],
        responses={
            200: ReviewPageSerializer,
            400: paged_query_refused("ReviewQueryRefused", "an unknown show"),
            404: OpenApiResponse(DETAIL, description="no such export of yours, or a page past the last"),
            409: DETAIL,
        },
        summary="The free text of an export waiting for review, as it will be released (paginated)",
    )
    def get(self, request: Request, export_id: UUID) -> Response:
        job = _job(request, export_id)
        if not job.awaiting_review:
            return Response({"detail": "This export is not waiting for a review."}, status.HTTP_409_CONFLICT)
        query = ReviewQuerySerializer(data=request.query_params)
        if refusal := query.refusal():
            return Response({"detail": refusal}, status.HTTP_400_BAD_REQUEST)
        show = query.validated_data.get("show", "all")
        paginator = ValidatedPagination(query.validated_data)
        rows = (
            paginator.paginate_queryset(review.review_entries(job=job, show=show), request, view=self) or []
        )
        language = job.options.get("language", "en")
        entries = [review.review_entry(row, language=language) for row in rows]
        for entry in entries:
            del entry["segments"]
        response = paginator.get_paginated_response(entries)
        response.data["digest"] = review.review_digest(job=job)
        response.data["counts"] = review.review_counts(job=job)
        return response


class ExportReviewAnswerView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=ReviewEditSerializer,
        responses={200: ReviewEntrySerializer, 400: DETAIL, 409: DETAIL},
        summary="Redact an answer further, withhold it, leave it out, or undo (export waiting for review)",
    )
    def post(self, request: Request, export_id: UUID, answer_id: UUID) -> Response:
        job = _job(request, export_id)
        form = ReviewEditSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        phrases = [(p["text"], p["placeholder"]) for p in form.validated_data["phrases"]]
        try:
            row = review.redacted_text_edit(
                job=job, answer_id=answer_id, action=form.validated_data["action"], phrases=phrases
            )
        except RedactedText.DoesNotExist:
            raise NotFound("This export holds no such answer.") from None
        except review.ReviewConflict as exc:
            return Response({"detail": str(exc)}, status.HTTP_409_CONFLICT)
        except review.ReviewRefused as exc:
            return Response({"detail": str(exc)}, status.HTTP_400_BAD_REQUEST)
        row = RedactedText.objects.select_related("answer__item").get(pk=row.pk)
        entry = review.review_entry(row, language=job.options.get("language", "en"))
        del entry["segments"]
        return Response(entry)


class ExportReviewApproveView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=ReviewApproveSerializer,
        responses={202: ExportCreatedSerializer, 409: DETAIL},
        summary="Approve the reviewed free text: the file is built with it (audited)",
    )
    def post(self, request: Request, export_id: UUID) -> Response:
        job = _job(request, export_id)
        form = ReviewApproveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            services.export_review_approve(
                job=job,
                actor=request.user,  # type: ignore[arg-type]
                digest=form.validated_data["digest"],
            )
        except review.ReviewRefused as exc:
            return Response({"detail": str(exc)}, status.HTTP_409_CONFLICT)
        return Response({"id": str(job.pk)}, status=status.HTTP_202_ACCEPTED)
