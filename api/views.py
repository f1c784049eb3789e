"""REST API v1: thin views over the apps' services and selectors."""

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.models import Role
from api.permissions import IsAdministrator, IsStaff, IsVettedOfficer
from api.query import KnownQuerySerializer
from api.serializers import (
    AnswerErrorsSerializer,
    EditionImportSerializer,
    EditionOpenSerializer,
    EditionSerializer,
    EditionStatsSerializer,
    ImportErrorsSerializer,
    ReceiptSerializer,
    ResponseSubmitSerializer,
)
from responses import services as response_services
from responses.api import published_edition, refusal_response
from surveys import services
from surveys.definition import DefinitionInvalid
from surveys.models import Edition, EditionStatus
from surveys.questionnaire import AnswersInvalid
from surveys.selectors import edition_definition, edition_questionnaire, editions_list


def _visible_editions(request: Request) -> QuerySet[Edition]:
    """Staff see every edition; everyone else (officers) only published ones."""
    qs = editions_list()
    user = request.user
    if user.has_role(Role.ADMINISTRATOR) or user.has_role(Role.ANALYST):
        return qs
    return qs.exclude(status=EditionStatus.DRAFT)


def _errors_payload(exc: DefinitionInvalid) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": e.message,
                "sheet": e.sheet,
                "row": e.row,
                "column": e.column,
                "element": e.element,
                "field": e.field,
            }
            for e in exc.errors
        ]
    }


class EditionListView(APIView):
    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [IsAdministrator()]
        return super().get_permissions()

    @extend_schema(
        responses={
            200: EditionSerializer(many=True),
            400: OpenApiResponse(
                inline_serializer("EditionsQueryRefused", {"detail": serializers.CharField()}),
                description="a query parameter: the list takes none (?status=open would list every edition)",
            ),
        },
        summary="List editions",
    )
    def get(self, request: Request) -> Response:
        if refusal := KnownQuerySerializer(data=request.query_params).refusal():
            return Response({"detail": refusal}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EditionSerializer(_visible_editions(request), many=True).data)

    @extend_schema(
        request={"multipart/form-data": EditionImportSerializer},
        responses={201: EditionSerializer, 400: ImportErrorsSerializer},
        summary="Import a questionnaire as a new draft edition",
    )
    def post(self, request: Request) -> Response:
        form = EditionImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        try:
            definition = services.definition_from_upload(fileobj=upload, filename=upload.name)
            # All or nothing, as on the import page: a new series is kept only with its edition.
            with transaction.atomic():
                edition = services.edition_import_definition(
                    series=services.series_get_or_create(slug=form.validated_data["series"]),
                    label=form.validated_data["label"],
                    definition=definition,
                    actor=request.user,
                )
        except DefinitionInvalid as exc:
            return Response(_errors_payload(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(EditionSerializer(edition).data, status=status.HTTP_201_CREATED)

    parser_classes = [MultiPartParser]


class EditionDetailView(APIView):
    @extend_schema(
        responses={200: OpenApiResponse(description="The edition with its questionnaire definition")},
        summary="An edition and its (frozen) questionnaire",
    )
    def get(self, request: Request, edition_id: int) -> Response:
        edition = get_object_or_404(_visible_editions(request), pk=edition_id)
        return Response({**EditionSerializer(edition).data, "definition": edition_definition(edition)})


class EditionOpenView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(request=EditionOpenSerializer, responses={200: EditionSerializer}, summary="Open a draft")
    def post(self, request: Request, edition_id: int) -> Response:
        edition = get_object_or_404(Edition, pk=edition_id)
        form = EditionOpenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            edition = services.edition_open(
                edition=edition,
                closes_at=form.validated_data["closes_at"],
                opens_at=form.validated_data.get("opens_at"),
                actor=request.user,
            )
        except services.LifecycleError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(EditionSerializer(edition).data)


class EditionCloseView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(request=None, responses={200: EditionSerializer}, summary="Close an open edition")
    def post(self, request: Request, edition_id: int) -> Response:
        edition = get_object_or_404(Edition, pk=edition_id)
        try:
            edition = services.edition_close(edition=edition, actor=request.user)
        except services.LifecycleError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(EditionSerializer(edition).data)


@method_decorator(sensitive_post_parameters(), name="dispatch")
class ResponseSubmitView(APIView):
    permission_classes = [IsVettedOfficer]

    @extend_schema(
        request=ResponseSubmitSerializer,
        responses={
            201: ReceiptSerializer,
            400: AnswerErrorsSerializer,
            403: OpenApiResponse(description="not a vetted officer"),
            409: OpenApiResponse(description="already answered, or the edition is not open"),
            503: OpenApiResponse(description="not ready to take answers yet; retry later"),
        },
        summary="Submit answers to an open edition, once (anonymous once stored)",
    )
    def post(self, request: Request, edition_id: int) -> Response:
        edition = published_edition(edition_id)
        form = ResponseSubmitSerializer(data=request.data)
        if not form.is_valid():
            return Response(
                {"errors": {"answers": ["Send an object mapping item codes to answers."]}}, status=400
            )
        try:
            receipt = response_services.response_submit(
                edition=edition, officer=request.user, answers=form.validated_data["answers"]
            )
        except AnswersInvalid as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        except response_services.SubmissionRefused as exc:
            return refusal_response(exc)
        return Response({"receipt": receipt.code}, status=status.HTTP_201_CREATED)


class EditionStatsView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(responses=EditionStatsSerializer, summary="Totals of submitted and released responses")
    def get(self, request: Request, edition_id: int) -> Response:
        edition = get_object_or_404(Edition, pk=edition_id)
        return Response(response_services.edition_response_counts(edition=edition))


class EditionResultsView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[
            # Their names hold an item's code, so they are one free-form object sent as its own key=value
            # pairs (form style, exploded); named f_ITEM and bins_ITEM, a client sent those names, refused.
            OpenApiParameter(
                "filters_and_bins",
                {"type": "object", "additionalProperties": {"type": "string"}},
                style="form",
                explode=True,
                description="f_ITEM=CHOICE keeps the respondents whose answer to the choice item ITEM is "
                "CHOICE; bins_ITEM=EDGES sets the histogram edges of the number item ITEM, e.g. "
                "bins_salary=0,50000,100000 (ITEM: an item's code; this parameter's own name is not sent)",
            ),
        ],
        responses={
            200: OpenApiResponse(description="respondents and per-item counts under disclosure control"),
            400: OpenApiResponse(
                inline_serializer("ResultsQueryRefused", {"detail": serializers.CharField()}),
                description="a parameter other than f_ITEM and bins_ITEM, one given twice, a filter on an "
                "item that is not a choice item of the edition or with a choice it does not have, bins of "
                "an item that is not a number item or with edges that are not numbers in range (fewer "
                "than two, or more than 50); every problem in one message",
            ),
        },
        summary="Aggregated results of the released responses (cells under 10 suppressed)",
    )
    def get(self, request: Request, edition_id: int) -> Response:
        from results.params import bins_from_query, filters_from_query, query_problems
        from results.selectors import edition_results

        edition = get_object_or_404(Edition.objects.exclude(status=EditionStatus.DRAFT), pk=edition_id)
        questionnaire = edition_questionnaire(edition)
        ignored = [api_settings.URL_FORMAT_OVERRIDE]  # ?format=json chooses the rendering
        if problems := query_problems(request.query_params, questionnaire, ignored=ignored):
            return Response({"detail": "; ".join(problems)}, status=status.HTTP_400_BAD_REQUEST)
        results = edition_results(
            edition=edition,
            filters=filters_from_query(request.query_params, questionnaire),
            bins=bins_from_query(request.query_params),
        )
        return Response(results)
