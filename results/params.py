"""Query parameters shared by the results pages and the results API."""

from collections.abc import Collection, Mapping
from decimal import Context, Decimal

from django.http import QueryDict

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
_MAX_EDGES = 50
_EXACT = Context(prec=_NUMBER.max_digits + 2)  # type: ignore[attr-defined]


def _edge(part: str) -> Decimal | None:
    try:
        edge = Decimal(part)
        if not edge.is_finite() or edge.copy_abs() >= _LIMIT:
            return None
        return edge.quantize(_PLACES, context=_EXACT)
    except ArithmeticError:  # decimal's InvalidOperation, Overflow, ...
        return None


def _edges(value: str) -> list[Decimal | None]:
    """The edges a ?bins_ITEM value gives, None for a part that is no edge; empty parts are no edge at
    all. The one reading behind bins_from_query and query_problems, so what the API accepts is what it
    bins at."""
    return [_edge(part) for part in value.split(",") if part.strip()]


def bins_from_query(query: Mapping[str, str]) -> dict[str, list[Decimal]]:
    """?bins_ITEM=0,50000,100000 sets the histogram edges of a number item."""
    bins = {}
    for key, value in query.items():
        if not key.startswith("bins_"):
            continue
        parsed = _edges(value)[:_MAX_EDGES]
        if None in parsed:
            continue
        edges = sorted(set(parsed))
        if len(edges) >= 2:
            bins[key.removeprefix("bins_")] = edges  # type: ignore[assignment]
    return bins


_NUMBER_TYPES = ("integer", "decimal")


def query_problems(
    query: QueryDict, questionnaire: Questionnaire, ignored: Collection[str] = ()
) -> list[str]:
    """What the two readers above would drop of this query, said, for the results API: there a dropped
    filter or bins (a misspelt ?f_agency=local, an unknown choice, edges out of range) gave the totals of
    everyone as if filtered. The results pages keep reading leniently: their links are their own.
    An empty value counts as left out.
    `ignored`: names another layer reads (the API's ?format=json)."""
    problems = []
    for key in sorted(query):
        values = query.getlist(key)
        if key in ignored:
            continue
        if len(values) > 1:
            problems.append(f"given more than once: {key}")
            continue
        value = values[0]
        if key.startswith("f_"):
            if value == "":  # left out
                continue
            item = questionnaire.items.get(key.removeprefix("f_"))
            if item is None or not item.choices:
                problems.append(f"{key}: no choice item {key.removeprefix('f_')!r} in this edition")
            elif value not in item.choices:
                listed = (
                    ", ".join(item.choices) if len(item.choices) <= 20 else f"its {len(item.choices)} choices"
                )
                problems.append(f"{key}: {value!r} is not one of {listed}")
        elif key.startswith("bins_"):
            item = questionnaire.items.get(key.removeprefix("bins_"))
            edges = _edges(value)
            if not edges:  # left out: the default bins
                continue
            if item is None or item.type not in _NUMBER_TYPES:
                problems.append(f"{key}: no number item {key.removeprefix('bins_')!r} in this edition")
            elif len(edges) > _MAX_EDGES:
                problems.append(f"{key}: at most {_MAX_EDGES} edges")
            elif None in edges:
                problems.append(
                    f"{key}: every edge must be a number of at most {_LIMIT.adjusted()} digits before the "
                    "decimal point, separated by commas"
                )
            elif len(set(edges)) < 2:
                problems.append(f"{key}: give two different edges or more")
        else:
            problems.append(f"unknown query parameter {key}; known: f_ITEM=CHOICE, bins_ITEM=EDGES")
    return problems
