"""REST API v1 for exports: request (202), status with a short-lived download link, download."""

from typing import Any
from uuid import UUID

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import IsStaff
from exports import services
from exports.anonymise.kanon import MIN_K
from exports.exporters import EXPORTERS
from exports.models import ExportJob, ExportStatus, FreeText
from exports.selectors import export_jobs_for
from exports.views import file_response
from surveys.models import Edition, EditionStatus


class ExportRequestSerializer(serializers.Serializer[None]):
    format = serializers.ChoiceField(choices=[k for k, e in EXPORTERS.items() if e.public], default="csv")
    k = serializers.IntegerField(min_value=MIN_K, default=5)
    free_text = serializers.ChoiceField(choices=FreeText.values, default=FreeText.SEPARATE)
    language = serializers.CharField(max_length=16, default="en")
    stable_ids = serializers.BooleanField(default=False)
    editions = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        help_text="more editions of the same series to export with this one, aligned by item code",
    )


class ExportCreatedSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()


class ExportStatusSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ExportStatus.values)
    progress = serializers.IntegerField()
    format = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField())
    download_url = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


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
