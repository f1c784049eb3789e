"""REST API of free-text coding (mounted under /api/v1/ by api/urls.py): thin views over coding's
services and selectors. Staff only (administrators and analysts)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api.permissions import IsStaff
from coding import selectors, services
from coding.models import CodingRun
from responses.models import Answer
from surveys.models import Edition, Item


class AnswerPagination(PageNumberPagination):
    """Pages of the answers listing, at the page and size its query was validated to (AnswerQuerySerializer):
    DRF's own reading fell back to 50 for a bad page_size and cut one over 500 to 500, in silence."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def __init__(self, query: Mapping[str, Any]) -> None:
        self.query = query

    def get_page_size(self, request: Request) -> int:
        return int(self.query.get("page_size", self.page_size))

    def get_page_number(self, request: Request, paginator: Any) -> int:
        # A page past the last is still DRF's 404 ("Invalid page."): the caller has read every page.
        return int(self.query.get("page", 1))


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


class KnownQuerySerializer(serializers.Serializer):
    """Query parameters read through a serializer, refused rather than ignored: a misspelt name
    (?filtre=uncoded) listed every answer as if filtered. Unknown and repeated names are refused too, and
    every problem is said in one message (`refusal`), as {"detail": ...} in a 400."""

    def refusal(self) -> str | None:
        """Why the query is refused, or None: then `validated_data` holds it."""
        params = self.initial_data
        problems = [
            f"{name}: {message}"
            for name, messages in ({} if self.is_valid() else self.errors).items()
            for message in messages
        ]
        # DRF's own ?format=json (or api, the browsable page) chooses how the answer is rendered.
        known = [*self.fields, api_settings.URL_FORMAT_OVERRIDE]
        unknown = sorted(set(params) - set(known))
        if unknown:
            problems.append(
                f"unknown query parameter{pluralize(len(unknown))} {', '.join(unknown)}; "
                f"known: {', '.join(self.fields)}"
            )
        repeated = sorted(name for name in set(params) & set(known) if len(params.getlist(name)) > 1)
        if repeated:
            problems.append(f"given more than once: {', '.join(repeated)}")
        return "; ".join(problems) or None


ANSWER_FILTERS = [f for f in selectors.ITEM_ANSWER_FILTERS if f]


class SearchField(serializers.CharField):
    """Search text as typed: the search itself drops a NUL character (coding.selectors.item_answers), as
    the coding screen's does, rather than the 400 a CharField gives for one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class AnswerQuerySerializer(KnownQuerySerializer):
    page = serializers.IntegerField(
        required=False, min_value=1, help_text="1 (the default) or more; a page past the last is a 404"
    )
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=AnswerPagination.max_page_size,
        help_text=f"answers a page, 1 to {AnswerPagination.max_page_size}"
        f" ({AnswerPagination.page_size} if left out)",
    )
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
            400: OpenApiResponse(
                inline_serializer("AnswerQueryRefused", {"detail": serializers.CharField()}),
                description="an unknown or repeated query parameter, an unknown filter, or a page or "
                "page_size that is not a whole number in range; every problem in one message",
            ),
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
        paginator = AnswerPagination(query.validated_data)
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
