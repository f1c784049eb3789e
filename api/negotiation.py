"""Content negotiation that refuses an unknown ?format= as a query the API does not understand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation


class UnknownFormatRefused(DefaultContentNegotiation):
    """DRF answered ?format=xml with 404 "Not found.", which reads as a missing edition or item; it is a
    400 {"detail"} naming the formats the endpoint renders, as api/query.py refuses other parameters."""

    def filter_renderers(self, renderers: Sequence[Any], format: str) -> list[Any]:
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            known = ", ".join(dict.fromkeys(renderer.format for renderer in renderers))
            raise ParseError(f"format: {format!r} is not one of {known}")
        return matching
