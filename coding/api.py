"""REST API of free-text coding (mounted under /api/v1/ by api/urls.py): thin views over coding's
services and selectors. Staff only (administrators and analysts)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import IsStaff
from api.query import PagedQuerySerializer, ValidatedPagination, paged_query_refused
from coding import selectors, services
from coding.models import CodingRun
from responses.models import Answer
from surveys.models import Edition, Item


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    source = serializers.ChoiceField(choices=["human", "auto"])
    probability = serializers.FloatField(allow_null=True)


class CodedAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    codes = CodeSerializer(many=True)


class KnownKeysSerializer(serializers.Serializer):
    """Refuses keys it does not declare: a misspelt optional key was dropped in silence, so
    {"adjudicated": true} replaced the caller's own codes and a misspelt "classifier" ran the default."""

    def validate(self, attrs: dict) -> dict:
        # The browsable API's form posts carry the CSRF token in the body.
        unknown = set(self.initial_data) - set(self.fields) - {"csrfmiddlewaretoken"}
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
        return attrs


ANSWER_FILTERS = [f for f in selectors.ITEM_ANSWER_FILTERS if f]


class SearchField(serializers.CharField):
    """Search text as typed: the search itself drops a NUL character (coding.selectors.item_answers), as
    the coding screen's does, rather than the 400 a CharField gives for one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class AnswerQuerySerializer(PagedQuerySerializer):
    filter = serializers.ChoiceField(
        choices=ANSWER_FILTERS,
        required=False,
        allow_blank=True,
        help_text="uncoded: not coded by you; incomplete: coded by you before a category now active was "
        "added; empty or left out: every answer",
        error_messages={"invalid_choice": f'"{{input}}" is not one of {", ".join(ANSWER_FILTERS)}'},
    )
    q = SearchField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="answers whose text holds this (any case)",
    )


class AnswerPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CodedAnswerSerializer(many=True)


BODY_REFUSED = '{"detail": why} for a refusal, or {field: [messages]} for a malformed body'


def body_refused(name: str) -> OpenApiResponse:
    return OpenApiResponse(
        inline_serializer(name, {"detail": serializers.CharField(required=False)}), description=BODY_REFUSED
    )


class CodesInSerializer(KnownKeysSerializer):
    codes = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
    adjudicate = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Settle a disagreement: the codes become the answer's final codes (two or more coders).",
    )


class CodesOutSerializer(serializers.Serializer):
    codes = serializers.ListField(child=serializers.CharField())


class RunInSerializer(KnownKeysSerializer):
    classifier = serializers.CharField(required=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = CodingRun
        fields = [
            "id",
            "edition",
            "item_code",
            "status",
            "kind",
            "classifier",
            "classifier_version",
            "seed",
            "versions",
            "progress",
            "metrics",
            "error_type",
            "error_message",
            "queued_at",
            "started_at",
            "finished_at",
        ]


class ItemAnswersView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[AnswerQuerySerializer],
        responses={
            200: AnswerPageSerializer,
            400: paged_query_refused("AnswerQueryRefused", "an unknown filter"),
            404: OpenApiResponse(
                inline_serializer("ItemNotFound", {"detail": serializers.CharField()}),
                description="not a free-text item of the edition, or a page past the last",
            ),
        },
        summary="Free-text answers of an item with their codes (paginated; filter=uncoded|automatic|"
        "low_confidence|disagreement|incomplete, q=search)",
    )
    def get(self, request: Request, edition_id: int, item_code: str) -> Response:
        edition = get_object_or_404(Edition, pk=edition_id)
        # A mistyped or non-text item is a 404, not an empty list that reads as "no answers yet".
        get_object_or_404(Item, edition=edition, code=item_code, type__in=services.TEXT_TYPES)
        coder = services.coder_label(user_id=request.user.pk)
        query = AnswerQuerySerializer(data=request.query_params)
        if refusal := query.refusal():
            return Response({"detail": refusal}, status=status.HTTP_400_BAD_REQUEST)
        qs = selectors.item_answers(
            edition_id=edition.pk,
            item_code=item_code,
            coder=coder,
            filter=query.validated_data.get("filter", ""),
            search=query.validated_data.get("q", ""),
        ).only("id", "text")
        paginator = ValidatedPagination(query.validated_data)
        page = paginator.paginate_queryset(qs, request, view=self) or []
        codes = selectors.answers_final_codes([a.pk for a in page])
        data = [{"id": a.pk, "text": a.text, "codes": codes[a.pk]} for a in page]
        return paginator.get_paginated_response(data)


class AnswerCodesView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=CodesInSerializer,
        responses={
            200: CodesOutSerializer,
            400: body_refused("CodesError"),
            404: inline_serializer("AnswerNotFound", {"detail": serializers.CharField()}),
        },
        summary="Set your human codes on an answer (replaces yours; [] = no category applies), or adjudicate",
    )
    def put(self, request: Request, answer_id: uuid.UUID) -> Response:
        get_object_or_404(Answer, pk=answer_id, text__isnull=False)
        form = CodesInSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            if form.validated_data["adjudicate"]:
                codes = services.answer_codes_adjudicate(
                    answer_id=answer_id, codes=form.validated_data["codes"]
                )
            else:
                codes = services.answer_codes_set(
                    answer_id=answer_id,
                    codes=form.validated_data["codes"],
                    coder=services.coder_label(user_id=request.user.pk),
                )
        except services.CodesInvalid as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"codes": codes})


class CodingRunStartView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=RunInSerializer,
        responses={
            202: RunSerializer,
            400: body_refused("RunRefused"),
            404: inline_serializer("RunItemNotFound", {"detail": serializers.CharField()}),
            409: inline_serializer("RunActive", {"detail": serializers.CharField()}),
        },
        summary="Start auto-coding an item (409 while a run of it is queued or running)",
    )
    def post(self, request: Request, edition_id: int, item_code: str) -> Response:
        edition = get_object_or_404(Edition, pk=edition_id)
        # As for its answers: a mistyped or non-text item is a 404, not "no codebook yet".
        get_object_or_404(Item, edition=edition, code=item_code, type__in=services.TEXT_TYPES)
        form = RunInSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            run = services.coding_run_start(edition=edition, item_code=item_code, **form.validated_data)
        except services.CodingRunActive as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except services.CodingRunRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class CodingRunDetailView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses={
            200: RunSerializer,
            404: inline_serializer("RunNotFound", {"detail": serializers.CharField()}),
        },
        summary="A coding run: status, progress, metrics",
    )
    def get(self, request: Request, run_id: uuid.UUID) -> Response:
        return Response(RunSerializer(get_object_or_404(CodingRun, pk=run_id)).data)
