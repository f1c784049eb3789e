"""Query parameters shared by the results pages and the results API."""

from collections.abc import Mapping
from decimal import Context, Decimal

from responses.models import Answer
from results.selectors import ResultFilter
from surveys.questionnaire import Questionnaire


def filters_from_query(query: Mapping[str, str], questionnaire: Questionnaire) -> list[ResultFilter]:
    """?f_ITEM=CHOICE keeps respondents who chose CHOICE for ITEM; unknown items or choices are ignored."""
    filters = []
    for key, value in query.items():
        if not key.startswith("f_"):
            continue
        item = questionnaire.items.get(key.removeprefix("f_"))
        if item is not None and value in item.choices:
            filters.append(ResultFilter(item.code, (value,)))
    return filters


# Edges are rounded to the places an answer's number holds; beyond its digits no answer can lie, and
# PostgreSQL refuses a numeric like 1e999999999 outright (a 500), so such bins are ignored.
_NUMBER = Answer._meta.get_field("number")
_PLACES = Decimal(1).scaleb(-_NUMBER.decimal_places)  # type: ignore[attr-defined]
_LIMIT = Decimal(10) ** (_NUMBER.max_digits - _NUMBER.decimal_places)  # type: ignore[attr-defined]
_EXACT = Context(prec=_NUMBER.max_digits + 2)  # type: ignore[attr-defined]


def _edge(part: str) -> Decimal | None:
    try:
        edge = Decimal(part)
        if not edge.is_finite() or edge.copy_abs() >= _LIMIT:
            return None
        return edge.quantize(_PLACES, context=_EXACT)
    except ArithmeticError:  # decimal's InvalidOperation, Overflow, ...
        return None


def bins_from_query(query: Mapping[str, str]) -> dict[str, list[Decimal]]:
    """?bins_ITEM=0,50000,100000 sets the histogram edges of a number item."""
    bins = {}
    for key, value in query.items():
        if not key.startswith("bins_"):
            continue
        parsed = [_edge(part) for part in value.split(",")[:50] if part.strip()]
        if None in parsed:
            continue
        edges = sorted(set(parsed))
        if len(edges) >= 2:
            bins[key.removeprefix("bins_")] = edges  # type: ignore[assignment]
    return bins
