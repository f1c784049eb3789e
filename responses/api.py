"""REST API v1 for blind-signed ballots (docs/anonymity.md, level 2): thin views over responses/ballots.py."""

import base64
import binascii
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import IsVettedOfficer
from api.serializers import AnswerErrorsSerializer, ReceiptSerializer
from config.precompiled import PrecompiledQuery
from responses import ballots
from responses import services as response_services
from surveys.models import Edition, EditionStatus
from surveys.questionnaire import AnswersInvalid

_REFUSAL_STATUS = {
    response_services.NotEligible: status.HTTP_403_FORBIDDEN,
    ballots.BallotRefused: status.HTTP_403_FORBIDDEN,
    ballots.BallotKeyMissing: status.HTTP_404_NOT_FOUND,
    ballots.BallotAlreadyIssued: status.HTTP_409_CONFLICT,
    ballots.BallotSpent: status.HTTP_409_CONFLICT,
    response_services.EditionNotAccepting: status.HTTP_409_CONFLICT,
    response_services.AlreadySubmitted: status.HTTP_409_CONFLICT,
    response_services.PoolUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}
# Base64 of the largest values we accept: an 8192-bit modulus, and a ballot token.
_MODULUS_B64_MAX = 1400
_TOKEN_B64_MAX = 4 * ((ballots.TOKEN_MAX_BYTES + 2) // 3)


class Base64Field(serializers.CharField):
    """Standard base64 (with padding) decoded to bytes; anything else is a 400."""

    def to_internal_value(self, data: object) -> bytes:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError("Not valid base64.") from exc


class BallotKeySerializer(serializers.Serializer[None]):
    public_key = serializers.CharField(help_text="SubjectPublicKeyInfo PEM of the edition's RSA key")
    fingerprint = serializers.CharField(help_text='"sha256:" + hex SHA-256 of the DER public key')


class BallotRequestSerializer(serializers.Serializer[None]):
    blinded_msg = Base64Field(max_length=_MODULUS_B64_MAX, help_text="RFC 9474 blinded message, base64")


class BallotSerializer(serializers.Serializer[None]):
    blind_sig = serializers.CharField(help_text="RFC 9474 blind signature, base64")


class AnonymousResponseSerializer(serializers.Serializer[None]):
    token = Base64Field(max_length=_TOKEN_B64_MAX, help_text="the prepared message (RFC 9474), base64")
    signature = Base64Field(max_length=_MODULUS_B64_MAX, help_text="the finalized signature, base64")
    answers = serializers.DictField(
        child=serializers.JSONField(),
        help_text="item code → choice code, list of choice codes, number or string; absent = unanswered",
    )


# What the submission and ballot paths read of an edition: the window, and the key of the questionnaire
# compiled once per process (loading the definition's JSON each time would not be). Compiled to SQL once
# per process too (config/precompiled.py): every submission runs it.
_PUBLISHED_FIELDS = ("id", "status", "opens_at", "closes_at", "definition_sha256")
_PUBLISHED_EDITION = PrecompiledQuery(
    lambda edition_id: (
        Edition.objects.exclude(status=EditionStatus.DRAFT)
        .filter(pk=edition_id)
        .order_by()  # one row: no need for the model's ordering (a join with the series)
        .values_list(*_PUBLISHED_FIELDS)
    ),
    edition_id=-0x5E41ED,
)


def published_edition(edition_id: int) -> Edition:
    """The published edition a submission or ballot is for (404 if none), with only the fields above.
    Both submission endpoints (here and api/views.py) use it."""
    rows = _PUBLISHED_EDITION.rows(edition_id=edition_id)
    if not rows:
        raise Http404("No published edition with this id.")
    return Edition.from_db("default", _PUBLISHED_FIELDS, rows[0])


def refusal_response(exc: response_services.SubmissionRefused) -> Response:
    """The one mapping of a refused submission or ballot to its HTTP answer (both API paths)."""
    return Response({"detail": exc.reason, "code": exc.code}, status=_REFUSAL_STATUS[type(exc)])


def _origin_allowed(request: Request) -> bool:
    """Browsers send Origin on cross-site POSTs: only our own site (or a trusted origin) may submit.

    This endpoint takes no cookie, so the CSRF token check does not apply; the Origin check keeps other
    sites from submitting through a visitor's browser. Clients other than browsers send no Origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.scheme}://{request.get_host()}"


class BallotKeyView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: BallotKeySerializer, 404: OpenApiResponse(description="no published edition")},
        summary="The edition's public ballot key and its fingerprint (the same for every officer)",
    )
    def get(self, request: Request, edition_id: int) -> Response:
        try:
            key = ballots.ballot_key_published(published_edition(edition_id))
        except response_services.SubmissionRefused as exc:
            return refusal_response(exc)
        return Response({"public_key": key.public_pem, "fingerprint": key.fingerprint})


class BallotIssueView(APIView):
    permission_classes = [IsVettedOfficer]

    @extend_schema(
        request=BallotRequestSerializer,
        responses={
            201: BallotSerializer,
            400: OpenApiResponse(description="the blinded message is not valid base64"),
            403: OpenApiResponse(description="not a vetted officer, or the blinded message is refused"),
            409: OpenApiResponse(description="a ballot was already issued, or the edition is not open"),
        },
        summary="Blind-sign this officer's one ballot for the edition (RFC 9474)",
    )
    def post(self, request: Request, edition_id: int) -> Response:
        edition = published_edition(edition_id)
        form = BallotRequestSerializer(data=request.data)
        if not form.is_valid():
            return Response({"errors": form.errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            blind_sig = ballots.ballot_issue(
                officer=request.user, edition=edition, blinded_msg=form.validated_data["blinded_msg"]
            )
        except response_services.SubmissionRefused as exc:
            return refusal_response(exc)
        return Response({"blind_sig": base64.b64encode(blind_sig).decode()}, status=status.HTTP_201_CREATED)


class AnonymousResponseView(APIView):
    # Knows no one: no session, no API token, and so no CSRF token either (see _origin_allowed).
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=AnonymousResponseSerializer,
        responses={
            201: ReceiptSerializer,
            400: AnswerErrorsSerializer,
            403: OpenApiResponse(description="invalid ballot signature, or a foreign Origin"),
            409: OpenApiResponse(description="ballot already spent, or the edition is not open"),
            503: OpenApiResponse(description="not ready to take answers yet; retry later"),
        },
        auth=[],
        summary="Submit answers with a blind-signed ballot; takes no session or token, sets no cookie",
    )
    def post(self, request: Request, edition_id: int) -> Response:
        if not _origin_allowed(request):
            return Response({"detail": "Cross-site submissions are refused."}, status=403)
        edition = published_edition(edition_id)
        form = AnonymousResponseSerializer(data=request.data)
        if not form.is_valid():
            return Response({"errors": form.errors}, status=status.HTTP_400_BAD_REQUEST)
        data = form.validated_data
        try:
            receipt = ballots.ballot_submit(
                edition=edition, token=data["token"], signature=data["signature"], answers=data["answers"]
            )
        except AnswersInvalid as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        except response_services.SubmissionRefused as exc:
            return refusal_response(exc)
        return Response({"receipt": receipt.code}, status=status.HTTP_201_CREATED)
