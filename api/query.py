"""Query parameters of the API's listings, validated rather than guessed: one rule for every listing.

A view reads its query through a `KnownQuerySerializer` subclass and answers `refusal()`, when there is
one, with a 400 {"detail": ...}. A paginated listing declares its parameters on a `PagedQuerySerializer`
and pages with `ValidatedPagination` at the page and size that were validated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.template.defaultfilters import pluralize
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings


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
                f"known: {', '.join(self.fields) or 'none'}"
            )
        repeated = sorted(name for name in set(params) & set(known) if len(params.getlist(name)) > 1)
        if repeated:
            problems.append(f"given more than once: {', '.join(repeated)}")
        return "; ".join(problems) or None


class ValidatedPagination(PageNumberPagination):
    """Pages at the page and size a `PagedQuerySerializer` validated: DRF's own reading fell back to 50 for
    a bad page_size and cut one over 500 to 500, in silence, and called page=0 or page=x "Invalid page."."""

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


class PagedQuerySerializer(KnownQuerySerializer):
    """`page` and `page_size` of a listing paged by `ValidatedPagination`; a listing adds its own fields."""

    page = serializers.IntegerField(
        required=False, min_value=1, help_text="1 (the default) or more; a page past the last is a 404"
    )
    page_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=ValidatedPagination.max_page_size,
        help_text=f"results a page, 1 to {ValidatedPagination.max_page_size}"
        f" ({ValidatedPagination.page_size} if left out)",
    )


def paged_query_refused(name: str, own: str) -> OpenApiResponse:
    """The 400 of a listing read through a `PagedQuerySerializer`, for its OpenAPI schema; `own`: what
    else of its query the listing refuses."""
    return OpenApiResponse(
        inline_serializer(name, {"detail": serializers.CharField()}),
        description=f"an unknown or repeated query parameter, {own}, or a page or page_size that is not a "
        "whole number in range; every problem in one message",
    )
