"""The API's JSON parser: DRF's, with a body nested too deep for Python's decoder refused as a parse error."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json raises RecursionError, not ValueError, past ~1,000 levels: a 400 like any bad JSON,
            # not a 500 that anyone (the anonymous endpoint takes no login) could provoke at will.
            raise ParseError("JSON parse error - nested too deeply") from None
