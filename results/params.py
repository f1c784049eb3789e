"""Query parameters shared by the results pages and the results API."""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

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


def bins_from_query(query: Mapping[str, str]) -> dict[str, list[Decimal]]:
    """?bins_ITEM=0,50000,100000 sets the histogram edges of a number item."""
    bins = {}
    for key, value in query.items():
        if not key.startswith("bins_"):
            continue
        try:
            edges = sorted({Decimal(part) for part in value.split(",")[:50] if part.strip()})
        except InvalidOperation:
            continue
        if len(edges) >= 2 and all(edge.is_finite() for edge in edges):
            bins[key.removeprefix("bins_")] = edges
    return bins
