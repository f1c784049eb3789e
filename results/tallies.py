"""Pair counts for filtered results: respondents per (filter answer, answer), kept per release.

A filtered view counts among the respondents a filter keeps. Computed from the answers, that joins every
answer of the page's items with the filter's respondents (1.1 M index entries for the ten choice items of
the bench's page 4 at 100,000 responses), on the first view of every filter and page. The filters the
results pages offer are few and known: the quasi-identifiers with one answer per respondent (country,
agency type, ...). So the warm-up (results_warm, in the worker) counts, for each of their choices:
- after a release (FilterTally): the respondents per choice of every choice item, the respondents who
  answered each multiple-choice and free-text item, and, on PostgreSQL, each number item's count, sum,
  extremes, quartiles and default-bin counts;
- after a release or coding writes (CodedTally): each coded item's final codes per category and source.
A view with one such filter reads its counts from there when they are current (same released count;
for final codes, same coding generation too). Anything else (two filters, another item as filter, custom
bins, tallies not yet counted) is computed from the answers as before. Disclosure control is applied to
these counts exactly as to counts read from the answers (results/selectors.py): same numbers in, same
cells hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min

from coding.models import FinalCoding
from responses.models import Answer, Response
from results.cache import coding_generation
from results.models import CodedTally, FilterTally
from surveys.models import Item
from surveys.questionnaire import CHOICE_TYPES

# The filters the results pages offer (quasi-identifiers of these types; results/views.py) and tallies
# count: one answer per respondent, so respondents with one of several choices add up.
FILTER_TYPES = ("select_one", "country")
# Items whose respondents are not the sum of their choices' counts: multiple choice, and free text
# (whose results show how many answered).
ANSWERED_TYPES = ("select_multiple", "text", "long_text")
NUMBER_TYPES = ("integer", "decimal")
_LOCK_NAMESPACE = 71_102  # pg_advisory_xact_lock(namespace, edition id): the edition's tallies

_PAIRS_SQL = """
SELECT f.item_id, f.choice, a.item_id, a.choice, COUNT(*)
FROM {answer} f JOIN {answer} a ON a.response_id = f.response_id
WHERE f.item_id IN ({filters}) AND a.item_id IN ({items})
GROUP BY f.item_id, f.choice, a.item_id, a.choice
"""
_ANSWERED_SQL = """
SELECT f.item_id, f.choice, a.item_id, NULL, COUNT(DISTINCT a.response_id)
FROM {answer} f JOIN {answer} a ON a.response_id = f.response_id
WHERE f.item_id IN ({filters}) AND a.item_id IN ({items})
GROUP BY f.item_id, f.choice, a.item_id
"""
# One row per (filter choice, number item): the aggregates of _number_result, bins included ({bins}:
# one COUNT per item and default bin, the last bin closed on the right as there).
_NUMBERS_SQL = """
SELECT f.item_id, f.choice, a.item_id, COUNT(a.number), SUM(a.number), MIN(a.number), MAX(a.number),
       percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY a.number){bins}
FROM {answer} f JOIN {answer} a ON a.response_id = f.response_id
WHERE f.item_id IN ({filters}) AND a.item_id IN ({items}) AND a.number IS NOT NULL
GROUP BY f.item_id, f.choice, a.item_id
"""
# Final codes per (filter choice, free-text item): per category, then per source of the final codes.
_CATEGORIES_SQL = """
SELECT f.item_id, f.choice, c.item_id, cat.code, '', COUNT(*)
FROM {answer} f JOIN coding_finalcode c ON c.response_id = f.response_id
JOIN coding_category cat ON cat.id = c.category_id
WHERE f.item_id IN ({filters}) AND c.item_id IN ({items})
GROUP BY f.item_id, f.choice, c.item_id, cat.code
"""
# Respondents whose final codes say nothing about a category (coding/finals.py), per category: source
# 'unknown', so they leave the category's base.
_UNKNOWN_SQL = """
SELECT f.item_id, f.choice, u.item_id, cat.code, 'unknown', COUNT(*)
FROM {answer} f JOIN coding_finalunknown u ON u.response_id = f.response_id
JOIN coding_category cat ON cat.id = u.category_id
WHERE f.item_id IN ({filters}) AND u.item_id IN ({items})
GROUP BY f.item_id, f.choice, u.item_id, cat.code
"""
# Respondents whose human codes have gaps a trained run filled (coding/finals.py): source 'filled', no
# category, so they travel with the sources (coding.selectors.FILLED) and make the method "mixed". The
# same count as coding.selectors.filled_count (every FinalFilled row, retired categories' too), per filter.
_FILLED_SQL = """
SELECT f.item_id, f.choice, ff.item_id, '', 'filled', COUNT(DISTINCT ff.answer_id)
FROM {answer} f JOIN coding_finalfilled ff ON ff.response_id = f.response_id
WHERE f.item_id IN ({filters}) AND ff.item_id IN ({items})
GROUP BY f.item_id, f.choice, ff.item_id
"""
_SOURCES_SQL = """
SELECT f.item_id, f.choice, d.item_id, '', d.source, COUNT(*)
FROM {answer} f JOIN coding_finalcoding d ON d.response_id = f.response_id
WHERE f.item_id IN ({filters}) AND d.item_id IN ({items})
GROUP BY f.item_id, f.choice, d.item_id, d.source
"""


def tally_filter_item_ids(edition_id: int) -> list[int]:
    """The items a view can filter by from the tallies: the quasi-identifiers the pages offer as filters."""
    return list(
        Item.objects.filter(edition_id=edition_id, quasi_identifier=True, type__in=FILTER_TYPES)
        .order_by("position")
        .values_list("pk", flat=True)
    )


def _released(edition_id: int) -> int:
    return Response.objects.filter(edition_id=edition_id).count()


def _query(
    sql: str, filters: Sequence[int], items: Sequence[int], bins: tuple[str, list[Any]] = ("", [])
) -> list[tuple[Any, ...]]:
    marks = ", ".join
    text = sql.format(
        answer=Answer._meta.db_table,
        filters=marks(["%s"] * len(filters)),
        items=marks(["%s"] * len(items)),
        bins=bins[0],
    )
    with connection.cursor() as cursor:
        cursor.execute(text, [*bins[1], *filters, *items])
        return cursor.fetchall()


def _number_summaries(filters: Sequence[int], items: Sequence[int]) -> list[FilterTally]:
    """(filter item, filter choice, number item) -> the item's statistics among those respondents, with
    the counts of its default bins, which span the whole item (results/selectors.py::default_bins)."""
    from results.selectors import default_bins  # selectors read the tallies

    columns, params, edges_of = [], [], {}
    for item in items:
        ends = Answer.objects.filter(item_id=item).aggregate(lo=Min("number"), hi=Max("number"))
        edges_of[item] = default_bins(ends["lo"], ends["hi"]) if ends["lo"] is not None else []
        last = len(edges_of[item]) - 2
        for i, (lo, hi) in enumerate(pairwise(edges_of[item])):
            below = "<=" if i == last else "<"
            columns.append(
                f", COUNT(*) FILTER (WHERE a.item_id = %s AND a.number >= %s AND a.number {below} %s)"
            )
            params += [item, lo, hi]
    rows = _query(_NUMBERS_SQL, filters, items, ("".join(columns), params))
    # Each row's own item's bins, in the order of the columns.
    offsets, at = {}, 0
    for item in items:
        offsets[item], at = at, at + max(len(edges_of[item]) - 1, 0)
    out = []
    for filter_item, filter_choice, item, n, total, lo, hi, quartiles, *bin_counts in rows:
        own = bin_counts[offsets[item] : offsets[item] + max(len(edges_of[item]) - 1, 0)]
        summary = {
            "total": str(total),
            "lo": str(lo),
            "hi": str(hi),
            "quartiles": list(quartiles),
            "edges": [str(edge) for edge in edges_of[item]],
            "bins": own,
        }
        out.append(
            FilterTally(
                filter_item_id=filter_item,
                filter_choice=filter_choice,
                item_id=item,
                choice=None,
                respondents=n,
                summary=summary,
            )
        )
    return out


def filter_tallies_current(*, edition_id: int) -> bool:
    """Whether the edition's tallies are counted for its current release and coding generation (reads
    only; an edition without filters to tally, or without final codes, has nothing to count)."""
    released = _released(edition_id)
    if not tally_filter_item_ids(edition_id) or not released:
        return True
    if not FilterTally.objects.filter(edition_id=edition_id, released=released).exists():
        return False
    text_items = Item.objects.filter(edition_id=edition_id, type__in=("text", "long_text"))
    if not FinalCoding.objects.filter(item__in=text_items).exists():
        return True
    generation = coding_generation(edition_id)
    return CodedTally.objects.filter(edition_id=edition_id, released=released, generation=generation).exists()


@transaction.atomic
def filter_tallies_refresh(*, edition_id: int) -> bool:
    """Count the edition's tallies again unless they are current (same released responses; for final
    codes, same coding generation too); True if it counted any. Run by the warm-up after a release or
    coding writes (results_warm), in the worker."""
    if connection.vendor == "postgresql":
        # Two warm-ups at once: the second waits, then finds the tallies current.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, edition_id])
    # Read before counting: a coding write the counts miss replaces it after its commit, so what is
    # counted here is never taken as current for a later generation.
    generation = coding_generation(edition_id)
    released = _released(edition_id)
    filters = tally_filter_item_ids(edition_id)
    if not filters or not released:
        return False
    items = dict(Item.objects.filter(edition_id=edition_id).values_list("pk", "type"))
    answers = _answer_tallies_refresh(edition_id, released, filters, items)
    coded = generation is not None and _coded_tallies_refresh(
        edition_id, released, generation, filters, items
    )
    return answers or coded


def _coded_tallies_refresh(
    edition_id: int, released: int, generation: str, filters: Sequence[int], items: dict[int, str]
) -> bool:
    kept = CodedTally.objects.filter(edition_id=edition_id)
    if kept.filter(released=released, generation=generation).exists():
        return False
    text_items = [pk for pk, kind in items.items() if kind in ("text", "long_text")]
    if not FinalCoding.objects.filter(item_id__in=text_items).exists():
        kept.delete()
        return False  # nothing coded: views find no final codes to count either
    rows = [
        *_query(_CATEGORIES_SQL, filters, text_items),
        *_query(_SOURCES_SQL, filters, text_items),
        *_query(_UNKNOWN_SQL, filters, text_items),
        *_query(_FILLED_SQL, filters, text_items),
    ]
    kept.delete()
    CodedTally.objects.bulk_create(
        (
            CodedTally(
                edition_id=edition_id,
                released=released,
                generation=generation,
                filter_item_id=f_item,
                filter_choice=f_choice,
                item_id=item,
                category=category,
                source=source,
                respondents=n,
            )
            for f_item, f_choice, item, category, source, n in rows
        ),
        batch_size=2000,
    )
    return True


def _answer_tallies_refresh(
    edition_id: int, released: int, filters: Sequence[int], items: dict[int, str]
) -> bool:
    kept = FilterTally.objects.filter(edition_id=edition_id)
    if kept.filter(released=released).exists():
        return False
    choice_items = [pk for pk, kind in items.items() if kind in CHOICE_TYPES]
    answered_items = [pk for pk, kind in items.items() if kind in ANSWERED_TYPES]
    number_items = [pk for pk, kind in items.items() if kind in NUMBER_TYPES]
    rows = _query(_PAIRS_SQL, filters, choice_items) if choice_items else []
    rows += _query(_ANSWERED_SQL, filters, answered_items) if answered_items else []
    tallies = [
        FilterTally(filter_item_id=f_item, filter_choice=f_choice, item_id=item, choice=choice, respondents=n)
        for f_item, f_choice, item, choice, n in rows
    ]
    if number_items and connection.vendor == "postgresql":  # percentile_cont; SQLite computes per view
        tallies += _number_summaries(filters, number_items)
    for tally in tallies:
        tally.edition_id, tally.released = edition_id, released
    kept.delete()
    FilterTally.objects.bulk_create(tallies, batch_size=2000)
    return True


@dataclass(frozen=True)
class Tallies:
    """The counts among the respondents one filter keeps, summed over its choices."""

    respondents: int
    counts: dict[int, dict[str, int]]  # item id -> choice -> respondents
    answered: dict[int, int]  # item id -> respondents who answered (multiple choice, free text)
    numbers: dict[int, dict[str, Any]]  # number item id -> FilterTally.summary (one filter choice only)
    # free-text item id -> (respondents per final category code, per source, unknown per category code);
    # None: not current
    coded: dict[int, tuple[dict[str, int], dict[str, int], dict[str, int]]] | None = None


def filter_tallies(
    *, edition_id: int, released: int, filter_item_id: int, choices: Sequence[str]
) -> Tallies | None:
    """The tallies of respondents whose answer to the filter item is one of `choices`, if the edition's
    tallies are current (`released` responses) and cover that item; None otherwise (compute them)."""
    rows = FilterTally.objects.filter(
        edition_id=edition_id, filter_item_id=filter_item_id, filter_choice__in=list(choices)
    ).values_list("released", "item_id", "choice", "respondents", "summary")
    counts: dict[int, dict[str, int]] = {}
    answered: dict[int, int] = {}
    numbers: dict[int, dict[str, Any]] = {}
    for kept_at, item, choice, n, summary in rows:
        if kept_at != released:
            return None  # counted before the last release
        if summary is not None:
            # Quartiles do not add up over several choices: those are computed from the answers.
            if len(choices) == 1:
                numbers[item] = summary | {"n": n}
        elif choice is None:
            answered[item] = answered.get(item, 0) + n
        else:
            by_choice = counts.setdefault(item, {})
            by_choice[choice] = by_choice.get(choice, 0) + n
    if not counts:
        # No row: nobody chose these (then the current tallies still name the item), or not counted.
        covered = FilterTally.objects.filter(
            edition_id=edition_id, filter_item_id=filter_item_id, released=released
        ).exists()
        return Tallies(0, {}, {}, {}, {}) if covered else None
    respondents = sum(counts.get(filter_item_id, {}).get(c, 0) for c in choices)
    return Tallies(
        respondents, counts, answered, numbers, _coded(edition_id, released, filter_item_id, choices)
    )


def _coded(
    edition_id: int, released: int, filter_item_id: int, choices: Sequence[str]
) -> dict[int, tuple[dict[str, int], dict[str, int], dict[str, int]]] | None:
    generation = coding_generation(edition_id)
    rows = CodedTally.objects.filter(
        edition_id=edition_id, filter_item_id=filter_item_id, filter_choice__in=list(choices)
    ).values_list("released", "generation", "item_id", "category", "source", "respondents")
    coded: dict[int, tuple[dict[str, int], dict[str, int], dict[str, int]]] = {}
    for kept_at, kept_generation, item, category, source, n in rows:
        if generation is None or (kept_at, kept_generation) != (released, generation):
            return None  # counted before the last release or coding write
        counts, per_source, unknown = coded.setdefault(item, ({}, {}, {}))
        # A row is a category's count (no source), a source's count (no category; or the filled count,
        # source "filled") or a category's unknown count (source "unknown").
        if not category:
            into, key = per_source, source
        else:
            into, key = (unknown if source else counts), category
        into[key] = into.get(key, 0) + n
    if (
        not rows
        and not CodedTally.objects.filter(
            edition_id=edition_id, released=released, generation=generation
        ).exists()
    ):
        return None  # not counted (nobody with these choices has final codes: nothing to count)
    return coded
