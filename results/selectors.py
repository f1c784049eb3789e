"""Aggregates of released responses, computed in the database, under disclosure control.

Disclosure rule for tables and charts (docs/anonymity.md, DESIGN "Disclosure control"): a cell of 1 to 9
respondents (RESULTS_MIN_CELL = 10) or a denominator under 10 is not shown; countries under it are folded
into "other"; when a single cell of a single-choice item is hidden, the next smallest non-zero cell is
hidden too, so it cannot be derived from the total. Zero cells are shown: they describe no one. A number
item's minimum and maximum are single respondents' values: they are shown, and bound the default histogram
edges, only rounded (outwards, for the edges) to two significant digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Max, Min, Q, QuerySet, Sum

from coding.selectors import item_category_counts
from responses.models import Answer, Response
from results.cache import results_cache_keys, results_cached_many
from results.tallies import Tallies, filter_tallies
from surveys.models import Edition, Item
from surveys.questionnaire import CHOICE_TYPES, ItemSpec
from surveys.selectors import edition_questionnaire

OTHER = "other"
SUPPRESSED_ALL = "*"


def min_cell() -> int:
    return int(settings.RESULTS_MIN_CELL)


@dataclass(frozen=True)
class ResultFilter:
    """Keep respondents whose answer to `item_code` is one of `choices` (e.g. agency_type = national)."""

    item_code: str
    choices: tuple[str, ...]


def item_ids(edition: Edition) -> dict[str, int]:
    """Item code -> id: filtering answers by item id (no join) lets the (item, ...) indexes work."""
    cached: dict[str, int] | None = getattr(edition, "_item_ids", None)
    if cached is None:
        cached = dict(Item.objects.filter(edition=edition).values_list("code", "id"))
        edition._item_ids = cached  # type: ignore[attr-defined]
    return cached


def released_count(edition: Edition) -> int:
    """Released responses of the edition: every release changes it (a release only adds rows)."""
    return Response.objects.filter(edition=edition).count()


def filtered_response_ids(edition: Edition, filters: Sequence[ResultFilter]) -> QuerySet[Answer] | None:
    """The respondents `filters` keep, as a subquery of response ids read from the (item, choice)
    INCLUDE (response) index alone (no join to the responses); None without filters."""
    ids = item_ids(edition) if filters else {}
    kept: QuerySet[Answer] | None = None
    for f in filters:
        matching = Answer.objects.filter(item_id=ids[f.item_code], choice__in=f.choices)
        if kept is not None:
            matching = matching.filter(response_id__in=kept)
        kept = matching.values("response_id")
    return kept


def respondents(edition: Edition, filters: Sequence[ResultFilter] = ()) -> QuerySet[Response]:
    qs = Response.objects.filter(edition=edition)
    kept = filtered_response_ids(edition, filters)
    return qs if kept is None else qs.filter(pk__in=kept)


def _of_respondents(
    answers: QuerySet[Answer], edition: Edition, filters: Sequence[ResultFilter]
) -> QuerySet[Answer]:
    kept = filtered_response_ids(edition, filters)
    return answers if kept is None else answers.filter(response_id__in=kept)


def _answers(edition: Edition, item_code: str, filters: Sequence[ResultFilter]) -> QuerySet[Answer]:
    return _of_respondents(Answer.objects.filter(item_id=item_ids(edition)[item_code]), edition, filters)


def _hide_small(counts: dict[str, int], *, single_choice: bool) -> tuple[dict[str, int], list[str]]:
    limit = min_cell()
    # Zero is shown: it describes no one. 1 to limit-1 is hidden.
    hidden = sorted(code for code, n in counts.items() if 0 < n < limit)
    if single_choice and len(hidden) == 1:
        # One hidden cell could be recovered as total minus the rest: hide the next smallest as well.
        shown = sorted((n, code) for code, n in counts.items() if code not in hidden and n > 0)
        if shown:
            hidden.append(shown[0][1])
    return {c: n for c, n in counts.items() if c not in hidden}, sorted(hidden)


@dataclass(frozen=True)
class ChoiceTallies:
    """Choice counts and respondents per item, read for many items in two grouped queries."""

    counts: dict[int, dict[str, int]]
    respondents: dict[int, int]


def _choice_tallies(answers: QuerySet[Answer], multiple_ids: Sequence[int]) -> ChoiceTallies:
    counts: dict[int, dict[str, int]] = {}
    # COUNT(*), not of a column outside the index: the (item, choice) index alone answers it.
    for row in answers.values("item_id", "choice").annotate(n=Count("*")):
        counts.setdefault(row["item_id"], {})[row["choice"]] = row["n"]
    # One row per respondent for single choice; only multiple choice needs a distinct count.
    respondents = {item_id: sum(by_choice.values()) for item_id, by_choice in counts.items()}
    if multiple_ids:
        per_item = answers.filter(item_id__in=multiple_ids).values("item_id")
        respondents |= {
            row["item_id"]: row["n"] for row in per_item.annotate(n=Count("response_id", distinct=True))
        }
    return ChoiceTallies(counts, respondents)


def _choice_result(item: ItemSpec, raw: dict[str, int], n: int) -> dict[str, Any]:
    counts = {code: raw.get(code, 0) for code in item.choices if raw.get(code, 0) or item.type != "country"}
    if item.type == "country":
        # As the report's geography chart: countries with fewer than the minimum become "other".
        small = {c: k for c, k in counts.items() if k < min_cell()}
        counts = {c: k for c, k in counts.items() if c not in small}
        if small:
            counts[OTHER] = sum(small.values())
    if n < min_cell():
        return {"n": None, "counts": {}, "suppressed": [SUPPRESSED_ALL], "summary": {}}
    shown, hidden = _hide_small(counts, single_choice=item.type != "select_multiple")
    return {"n": n, "counts": shown, "suppressed": hidden, "summary": {}}


def _quantile(values: QuerySet[Answer], n: int, fraction: float) -> Decimal:
    """Linear interpolation between order statistics, read with ORDER BY / OFFSET in the database."""
    position = (n - 1) * fraction
    low = int(position)
    ordered = values.order_by("number").values_list("number", flat=True)
    pair = list(ordered[low : low + 2])
    if len(pair) == 1 or position == low:
        return Decimal(pair[0])
    weight = Decimal(str(position - low))
    return pair[0] + (pair[1] - pair[0]) * weight


Quartiles = tuple[Decimal, Decimal, Decimal]


class _Quartiles(Aggregate):
    """The three quartiles in one ordered-set aggregate (PostgreSQL), interpolating linearly at
    (n - 1) * fraction as `_quantile` does elsewhere."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())


def _quartiles(answers: QuerySet[Answer], n: int) -> Quartiles:
    """Order statistics read with ORDER BY / OFFSET (databases without percentile_cont)."""
    return _quantile(answers, n, 0.25), _quantile(answers, n, 0.5), _quantile(answers, n, 0.75)


def _outward_2sig(value: Decimal, rounding: str) -> Decimal:
    """`value` rounded to two significant digits towards `rounding` (ROUND_FLOOR or ROUND_CEILING)."""
    if value == 0:
        return value
    return value.quantize(Decimal(1).scaleb(value.adjusted() - 1), rounding=rounding).normalize()


def default_bins(lo: Decimal, hi: Decimal, count: int = 5) -> list[Decimal]:
    """`count` equal bins from lo to hi, both first rounded outwards to two significant digits: an edge
    must not show a single respondent's exact value (the extremes are shown rounded, too)."""
    lo, hi = _outward_2sig(Decimal(lo), ROUND_FLOOR), _outward_2sig(Decimal(hi), ROUND_CEILING)
    if lo == hi:
        return [lo, hi + 1]
    width = (hi - lo) / count
    return [lo + width * i for i in range(count)] + [hi]


def _number_result(
    answers: QuerySet[Answer],
    every: QuerySet[Answer],
    bins: Sequence[Decimal] | None,
    *,
    filtered: bool,
    kept: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`answers`: the respondents' (filtered or not); `every`: all the item's answers; `kept`: the
    filter's tally of the item (results/tallies.py), the same aggregates for the default bins."""
    # Default bins span all the item's answers (two probes of the (item, number) index), so a filtered
    # view is binned as the whole is; unfiltered, these are the extremes too and the pass below skips them.
    ends = every.aggregate(lo=Min("number"), hi=Max("number"))
    edges = list(bins or (default_bins(ends["lo"], ends["hi"]) if ends["lo"] is not None else []))
    extremes = {"lo": Min("number"), "hi": Max("number")} if filtered else {}
    # The last bin is closed on the right so the maximum is counted. COUNT(number) (never NULL inside a
    # bin) lets the (item, number) index alone answer.
    bin_counts = {
        f"b{i}": Count(
            "number",
            filter=Q(number__gte=lo) & (Q(number__lte=hi) if i == len(edges) - 2 else Q(number__lt=hi)),
        )
        for i, (lo, hi) in enumerate(pairwise(edges))
    }
    quartiles = {"quartiles": _Quartiles("number")} if connection.vendor == "postgresql" else {}
    if kept is not None and kept["edges"] == [str(edge) for edge in edges]:
        stats = ends | {
            "n": kept["n"],
            "total": Decimal(kept["total"]),
            "lo": Decimal(kept["lo"]),
            "hi": Decimal(kept["hi"]),
            "quartiles": kept["quartiles"],
            **{f"b{i}": count for i, count in enumerate(kept["bins"])},
        }
    else:
        stats = ends | answers.aggregate(
            n=Count("number"), total=Sum("number"), **extremes, **bin_counts, **quartiles
        )
    n = stats["n"]
    if n < min_cell():
        return {"n": None, "counts": {}, "suppressed": [SUPPRESSED_ALL], "summary": {}}
    # The bins split the respondents as a single choice does: one hidden bin would be n minus the rest.
    shown, _hidden = _hide_small(
        {f"bin{i}": stats[f"b{i}"] for i in range(len(edges) - 1)}, single_choice=True
    )
    histogram = [
        {"from": _num(lo), "to": _num(hi), "count": shown.get(f"bin{i}")}
        for i, (lo, hi) in enumerate(pairwise(edges))
    ]
    if stats.get("quartiles"):
        q1, median, q3 = (Decimal(str(q)) for q in stats["quartiles"])
    else:
        q1, median, q3 = _quartiles(answers, n)
    summary = {
        "count": n,
        "sum": _num(stats["total"]),
        "mean": _num(stats["total"] / n),
        "median": _num(median),
        "q1": _num(q1),
        "q3": _num(q3),
        # The extremes are single respondents' values: shown rounded to two significant digits only.
        "min": _round_2sig(stats["lo"]),
        "max": _round_2sig(stats["hi"]),
        "bins": histogram,
    }
    return {
        "n": n,
        "counts": {},
        "suppressed": [f"bin{i}" for i, b in enumerate(histogram) if b["count"] is None],
        "summary": summary,
    }


def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(round(value, 4))


def _round_2sig(value: Any) -> float | int | None:
    if value is None:
        return None
    value = Decimal(value)
    if value == 0:
        return 0
    rounded = round(value, -value.adjusted() + 1)
    return _num(rounded)


def _text_result(
    edition: Edition,
    item: ItemSpec,
    answers: QuerySet[Answer],
    filters: Sequence[ResultFilter],
    kept: Tallies | None = None,
) -> dict[str, Any]:
    item_id = item_ids(edition)[item.code]
    n = answers.count() if kept is None else kept.answered.get(item_id, 0)
    if kept is not None and kept.coded is not None:
        counted = kept.coded.get(item_id, ({}, {}, {}))
        coded = item_category_counts(edition_id=edition.pk, item_code=item.code, counted=counted)
    else:
        coded = _coded_counts(edition, item.code, filters)
    if n < min_cell():
        return {"n": None, "counts": {}, "suppressed": [SUPPRESSED_ALL], "summary": {}}
    if coded is None or coded["method"] == "none":
        return {"n": n, "counts": {}, "suppressed": [], "summary": {"coded": False}}
    if coded["n"] < min_cell():
        return {"n": n, "counts": {}, "suppressed": [SUPPRESSED_ALL], "summary": {"coded": True}}
    # Categories only people code are counted among the human-coded respondents, and a category leaves
    # out the respondents whose final codes say nothing about it (its base: coding.selectors).
    human_coded = coded["n_human"] if coded["n_human"] >= min_cell() else None
    human_only = [code for code in coded["human_only"] if code in coded["counts"]]
    bases = coded["bases"]
    counts = {code: count for code, count in coded["counts"].items() if bases[code] >= min_cell()}
    shown, hidden = _hide_small(counts, single_choice=False)
    # A category whose base is under 10 respondents is not shown at all (nor is its base).
    hidden = sorted(hidden + [code for code in coded["counts"] if code not in counts])
    return {
        "n": coded["n"],
        "counts": shown,
        "suppressed": hidden,
        "summary": {
            "coded": True,
            "method": coded["method"],
            "human_only": human_only,
            "human_coded": human_coded,
            # The shown categories whose base is not n (human coding only, or some respondents unknown).
            "bases": {code: bases[code] for code in shown if bases[code] != coded["n"]},
            # Whether a trained model decided categories of human-coded answers their coders were not
            # offered (coding/finals.py); a flag, not a count, which could be a small group.
            "filled": bool(coded["filled"]),
            "answered": n,
        },
    }


def category_base(result: Mapping[str, Any], code: str) -> int | None:
    """The denominator of a coded category's share: the coded respondents, less those whose final codes
    say nothing about the category (coding/finals.py), and for a category only people code ("human
    coding only") the human-coded respondents alone (summary "bases" where it differs from n)."""
    summary = result.get("summary") or {}
    if code in summary.get("bases", {}):
        return summary["bases"][code]  # type: ignore[no-any-return]
    if code in summary.get("human_only", ()):
        return summary.get("human_coded")  # type: ignore[no-any-return]
    return result["n"]  # type: ignore[no-any-return]


def _coded_counts(
    edition: Edition, item_code: str, filters: Sequence[ResultFilter]
) -> Mapping[str, Any] | None:
    return item_category_counts(
        edition_id=edition.pk, item_code=item_code, response_ids=filtered_response_ids(edition, filters)
    )


def item_result(
    edition: Edition,
    item: ItemSpec,
    filters: Sequence[ResultFilter] = (),
    bins: Sequence[Decimal] | None = None,
    tallies: ChoiceTallies | None = None,
    kept: Tallies | None = None,
) -> dict[str, Any]:
    """`tallies`: the choice counts, if already read; `kept`: the filter's tallies (results/tallies.py),
    if current, for what they hold besides choice counts."""
    answers = _answers(edition, item.code, filters)
    if item.type in CHOICE_TYPES:
        multiple = [item_ids(edition)[item.code]] if item.type == "select_multiple" else []
        tallies = tallies or _choice_tallies(answers, multiple)
        item_id = item_ids(edition)[item.code]
        result = _choice_result(item, tallies.counts.get(item_id, {}), tallies.respondents.get(item_id, 0))
    elif item.type in ("integer", "decimal"):
        every = Answer.objects.filter(item_id=item_ids(edition)[item.code])
        number_tally = None if kept is None or bins else kept.numbers.get(item_ids(edition)[item.code])
        result = _number_result(answers, every, bins, filtered=bool(filters), kept=number_tally)
    elif item.type in ("text", "long_text"):
        result = _text_result(edition, item, answers, filters, kept)
    else:
        return {"type": item.type, "n": None, "counts": {}, "suppressed": [], "summary": {}}
    return {"type": item.type, **result}


RESPONDENTS = "respondents"  # the cached part holding the respondents' total


def edition_results(
    *,
    edition: Edition,
    filters: Sequence[ResultFilter] = (),
    item_codes: Iterable[str] | None = None,
    bins: Mapping[str, Sequence[Decimal]] | None = None,
) -> dict[str, Any]:
    """The results of an edition in the API's shape: respondents and, per item, n, counts, suppressed,
    summary. Notes are left out. Each item's result (and the total) is served from the results cache
    when it holds it (results/cache.py); the items it lacks are computed together."""
    wanted = set(item_codes) if item_codes is not None else None
    chosen = [
        i for i in edition_questionnaire(edition) if i.type != "note" and (wanted is None or i.code in wanted)
    ]
    bins = bins or {}
    response_count: list[int] = []
    tallies: list[Tallies | None] = []

    def released() -> int:
        if not response_count:
            response_count.append(released_count(edition))
        return response_count[0]

    def keys(parts: Mapping[str, Any]) -> Mapping[str, str]:
        return results_cache_keys(edition=edition, response_count=released(), filters=filters, parts=parts)

    def kept_tallies() -> Tallies | None:
        if not tallies:
            tallies.append(_filter_tallies(edition, filters, released))
        return tallies[0]

    def total_count() -> int:
        kept = kept_tallies()
        return respondents(edition, filters).count() if kept is None else kept.respondents

    total = results_cached_many(
        [RESPONDENTS], lambda: keys({RESPONDENTS: None}), lambda _: {RESPONDENTS: total_count()}
    )[RESPONDENTS]
    if total < min_cell():
        return {"respondents": None, "suppressed": True, "items": {}}
    specs = {item.code: item for item in chosen}
    items = results_cached_many(
        list(specs),
        lambda: keys({code: [str(edge) for edge in bins.get(code, ())] for code in specs}),
        lambda missing: _items_results(
            edition, [specs[code] for code in missing], filters, bins, kept_tallies()
        ),
    )
    return {"respondents": total, "suppressed": False, "items": {code: items[code] for code in specs}}


def _filter_tallies(
    edition: Edition, filters: Sequence[ResultFilter], released: Callable[[], int]
) -> Tallies | None:
    """The kept pair counts (results/tallies.py) for a view with one filter, if current; None for
    unfiltered views, two filters, or tallies not kept for this filter and release."""
    if len(filters) != 1:
        return None
    return filter_tallies(
        edition_id=edition.pk,
        released=released(),
        filter_item_id=item_ids(edition)[filters[0].item_code],
        choices=filters[0].choices,
    )


def _items_results(
    edition: Edition,
    chosen: Sequence[ItemSpec],
    filters: Sequence[ResultFilter],
    bins: Mapping[str, Sequence[Decimal]],
    kept: Tallies | None = None,
) -> dict[str, dict[str, Any]]:
    ids = item_ids(edition)
    if kept is not None:
        # The filter's pair counts: the same numbers the answers give, read from a few kept rows.
        tallies = ChoiceTallies(
            {ids[i.code]: kept.counts.get(ids[i.code], {}) for i in chosen if i.type in CHOICE_TYPES},
            {
                ids[i.code]: kept.answered.get(ids[i.code], 0)
                if i.type == "select_multiple"
                else sum(kept.counts.get(ids[i.code], {}).values())
                for i in chosen
                if i.type in CHOICE_TYPES
            },
        )
    else:
        # All choice items asked for are counted together: one pass over the (item, choice) index.
        choice_answers = _of_respondents(
            Answer.objects.filter(item_id__in=[ids[i.code] for i in chosen if i.type in CHOICE_TYPES]),
            edition,
            filters,
        )
        multiple = [ids[i.code] for i in chosen if i.type == "select_multiple"]
        tallies = _choice_tallies(choice_answers, multiple)
    return {
        item.code: item_result(edition, item, filters, bins.get(item.code), tallies, kept) for item in chosen
    }


def share(count: int | None, n: int | None) -> float | None:
    if count is None or not n:
        return None
    return round(100 * count / n, 1)


def editions_compare(*, edition: Edition, previous: Edition) -> list[dict[str, Any]]:
    """Items with the same code in both editions, side by side: shares (choices, categories) or totals."""
    now_q, before_q = edition_questionnaire(edition), edition_questionnaire(previous)
    common = [item for item in now_q if item.code in before_q.items and item.type != "note"]
    now = edition_results(edition=edition, item_codes=[i.code for i in common])
    before = edition_results(edition=previous, item_codes=[i.code for i in common])
    rows = []
    for item in common:
        a, b = before["items"].get(item.code), now["items"].get(item.code)
        if a is None or b is None:
            continue
        if item.type in ("integer", "decimal"):
            rows.append(
                {
                    "item": item.code,
                    "type": item.type,
                    "measure": "sum",
                    "before": a["summary"].get("sum"),
                    "after": b["summary"].get("sum"),
                }
            )
            continue
        order = {code: i for i, code in enumerate(item.choices)}
        codes = sorted(set(a["counts"]) | set(b["counts"]), key=lambda c: (order.get(c, len(order)), c))
        for code in codes:
            before_share, after_share = (
                share(a["counts"].get(code), category_base(a, code)),
                share(b["counts"].get(code), category_base(b, code)),
            )
            change = (
                None if before_share is None or after_share is None else round(after_share - before_share, 1)
            )
            rows.append(
                {
                    "item": item.code,
                    "type": item.type,
                    "measure": code,
                    "before": before_share,
                    "after": after_share,
                    "change": change,
                }
            )
    return rows
