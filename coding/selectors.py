"""Reads of free-text coding. The three public selectors (item_category_counts, final_codes,
codebook_for) are called by results and exports; their signatures are a contract.

The final code of an answer: its human codes if any human coded it (the adjudicated set if there is
one, otherwise the categories every coder gave), else its accepted automatic codes from a trained model
(never zero-shot suggestions, never categories flagged "human coding only")."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet

from coding.models import (
    AnswerCode,
    AutoCoding,
    Category,
    Codebook,
    CodeSource,
    CodingRun,
    HumanCoding,
    ReviewItem,
)
from responses.models import Answer
from surveys.models import Item

ADJUDICATED = "adjudicated"

# The final codes of one item's answers, as CTEs every reader below builds on:
#   coded: one row per answer that has final codes (answer_id, response_id, source 'human' | 'auto');
#   final: one row per final code (answer_id, response_id, source, category_id).
# The item's answers are read by item id (a literal, so the planner's per-item statistics apply) from
# the partial covering index of free-text answers, without touching the answers' heap. Automatic codes
# (most of them) are a plain filter; only human codes need grouping (the categories every coder gave).
# Portable SQL (no bool_or, no empty SELECT list): the embedded demo runs it on SQLite.
_FINAL_SQL = """
WITH ans AS MATERIALIZED (
    SELECT a.id, a.response_id FROM responses_answer a
    WHERE a.item_id = %(item_id)s AND a.text IS NOT NULL %(restrict)s
),
people AS (
    SELECT h.answer_id, MAX(CASE WHEN h.coder = %(adjudicated)s THEN 1 ELSE 0 END) AS adjudicated,
           count(*) FILTER (WHERE h.coder <> %(adjudicated)s) AS coders
    FROM coding_humancoding h JOIN ans ON ans.id = h.answer_id GROUP BY h.answer_id
),
coded AS MATERIALIZED (
    SELECT ans.id AS answer_id, ans.response_id,
           CASE WHEN p.answer_id IS NULL THEN 'auto' ELSE 'human' END AS source, p.adjudicated, p.coders
    FROM ans LEFT JOIN people p ON p.answer_id = ans.id
    WHERE p.answer_id IS NOT NULL OR EXISTS (SELECT 1 FROM coding_autocoding ac WHERE ac.answer_id = ans.id)
),
final AS (
    SELECT d.answer_id, d.response_id, d.source, c.category_id
    FROM coded d JOIN coding_answercode c ON c.answer_id = d.answer_id
    JOIN coding_category cat ON cat.id = c.category_id
    WHERE d.source = 'auto' AND c.source = 'auto' AND c.accepted AND NOT cat.human_only
    UNION ALL
    SELECT d.answer_id, d.response_id, d.source, c.category_id
    FROM coded d JOIN coding_answercode c ON c.answer_id = d.answer_id
    WHERE d.source = 'human' AND c.source = 'human'
    GROUP BY d.answer_id, d.response_id, d.source, d.adjudicated, d.coders, c.category_id
    -- the adjudicated set if there is one, else the categories every coder gave
    HAVING CASE WHEN d.adjudicated = 1 THEN MAX(CASE WHEN c.coder = %(adjudicated)s THEN 1 ELSE 0 END) = 1
                ELSE count(*) FILTER (WHERE c.coder <> %(adjudicated)s) = d.coders END
)
"""


def _item_id(edition_id: int, item_code: str) -> int | None:
    return Item.objects.filter(edition_id=edition_id, code=item_code).values_list("id", flat=True).first()


def _restriction(response_ids: QuerySet[Any] | None) -> tuple[str, list[Any]]:
    if response_ids is None:
        return "", []
    query = response_ids.values("pk") if response_ids.query.values_select == () else response_ids
    sql, params = query.query.sql_with_params()
    return f"AND a.response_id IN ({sql})", list(params)


def _run_sql(
    sql: str, named: dict[str, Any], restriction: tuple[str, list[Any]] = ("", [])
) -> list[tuple[Any, ...]]:
    """Named parameters become positional, in the order they appear; %(restrict)s takes the
    restriction's SQL (Django's own, with its own placeholders) and its parameters at that place."""
    order: list[Any] = []

    def swap(match: re.Match[str]) -> str:
        if match.group(1) == "restrict":
            order.extend(restriction[1])
            return restriction[0]
        order.append(named[match.group(1)])
        return "%s"

    positional = re.sub(r"%\((\w+)\)s", swap, sql)
    with connection.cursor() as cursor:
        cursor.execute(positional, order)
        return cursor.fetchall()


def _named(edition_id: int, item_code: str, **more: Any) -> dict[str, Any]:
    return {"item_id": _item_id(edition_id, item_code), "adjudicated": ADJUDICATED, **more}


def item_category_counts(
    *, edition_id: int, item_code: str, response_ids: QuerySet[Any] | None = None
) -> dict[str, Any]:
    """Respondents per category among those whose answer to the item has final codes.

    {"n": respondents with a final-coded answer, "n_human": those whose answer has human codes,
    "counts": {code: respondents}, "method": "human" | "automatic" | "mixed" | "none", "human_only":
    [codes flagged human coding only]}. Shares are counts / n and add up to more than 100 %
    (multi-label); a "human coding only" category is counted among human-coded answers alone, so its
    share is count / n_human."""
    sql = (
        _FINAL_SQL  # noqa: S608 - constant SQL
        + """
SELECT k.source, cat.code, k.n FROM (
    SELECT f.source, f.category_id, COUNT(DISTINCT f.response_id) AS n FROM final f GROUP BY 1, 2
) k JOIN coding_category cat ON cat.id = k.category_id
UNION ALL
SELECT d.source, NULL, COUNT(DISTINCT d.response_id) * -1 - 1 FROM coded d GROUP BY d.source
"""
    )
    rows = _run_sql(sql, _named(edition_id, item_code), _restriction(response_ids))
    counts: dict[str, int] = defaultdict(int)
    per_source: dict[str, int] = {}
    for source, code, number in rows:
        if number < 0:
            per_source[source] = -number - 1
        elif code is not None:
            counts[code] += number
    codebook = {c["code"]: c for c in codebook_for(edition_id=edition_id, item_code=item_code)}
    n = sum(per_source.values())
    sources = {s for s, k in per_source.items() if k}
    method = (
        "none"
        if not sources
        else "mixed"
        if len(sources) > 1
        else "human"
        if "human" in sources
        else "automatic"
    )
    return {
        "n": n,
        "n_human": per_source.get("human", 0),
        "counts": {
            code: counts.get(code, 0)
            for code in codebook
            if counts.get(code) or not codebook[code]["retired"]
        },
        "method": method,
        "human_only": sorted(code for code, c in codebook.items() if c["human_only"]),
    }


def coded_answer_sample(
    *,
    edition_id: int,
    item_code: str,
    per_category: int,
    seed: str,
    response_ids: QuerySet[Any] | None = None,
) -> dict[str, list[uuid.UUID]]:
    """category code → up to `per_category` ids of answers whose final codes include it, in an order
    fixed by `seed` (a hash of id and seed, so a new seed draws anew and the same seed draws the same)."""
    # Per category, a top-N over a hash order: no sort of all the item's codes.
    sql = (
        _FINAL_SQL  # noqa: S608 - constant SQL; the seed and limit are bound parameters
        + """
, picks AS MATERIALIZED (SELECT answer_id, category_id FROM final)
SELECT cat.code, chosen.answer_id
FROM coding_category cat
CROSS JOIN LATERAL (
    SELECT p.answer_id FROM picks p WHERE p.category_id = cat.id
    ORDER BY MD5(CAST(p.answer_id AS TEXT) || %(seed)s), p.answer_id LIMIT %(per_category)s
) chosen
WHERE cat.id IN (SELECT category_id FROM picks)
ORDER BY cat.code, MD5(CAST(chosen.answer_id AS TEXT) || %(seed)s), chosen.answer_id
"""
    )
    named = _named(edition_id, item_code, seed=seed, per_category=per_category)
    out: dict[str, list[uuid.UUID]] = {}
    for code, answer_id in _run_sql(sql, named, _restriction(response_ids)):
        out.setdefault(code, []).append(
            answer_id if isinstance(answer_id, uuid.UUID) else uuid.UUID(str(answer_id))
        )
    return out


def final_codes(*, edition_id: int, item_code: str) -> dict[uuid.UUID, set[str]]:
    """answer id → final category codes (an empty set: coded, no category applies)."""
    tail = """
SELECT d.answer_id, cat.code FROM coded d
LEFT JOIN final f ON f.answer_id = d.answer_id LEFT JOIN coding_category cat ON cat.id = f.category_id
"""
    out: dict[uuid.UUID, set[str]] = {}
    for answer_id, code in _run_sql(_FINAL_SQL + tail, _named(edition_id, item_code)):
        key = answer_id if isinstance(answer_id, uuid.UUID) else uuid.UUID(str(answer_id))
        codes = out.setdefault(key, set())
        if code is not None:
            codes.add(code)
    return out


def final_code_sources(*, edition_id: int, item_code: str) -> dict[uuid.UUID, str]:
    sql = _FINAL_SQL + "SELECT d.answer_id, d.source FROM coded d"  # noqa: S608 - constant SQL
    rows = _run_sql(sql, _named(edition_id, item_code))
    return {a if isinstance(a, uuid.UUID) else uuid.UUID(str(a)): s for a, s in rows}


def human_final_codes(*, edition_id: int, item_code: str) -> dict[uuid.UUID, set[str]]:
    sources = final_code_sources(edition_id=edition_id, item_code=item_code)
    return {
        a: codes
        for a, codes in final_codes(edition_id=edition_id, item_code=item_code).items()
        if sources.get(a) == "human"
    }


def codebook_for(*, edition_id: int, item_code: str) -> list[dict[str, Any]]:
    """The item's categories in order: code, label, description, examples, retired, human_only."""
    return [
        {
            "code": c.code,
            "label": c.label,
            "description": c.description,
            "examples": list(c.examples),
            "retired": c.retired,
            "human_only": c.human_only,
        }
        for c in Category.objects.filter(codebook__edition_id=edition_id, codebook__item_code=item_code)
    ]


def codebooks_of_edition(*, edition_id: int) -> QuerySet[Codebook]:
    return Codebook.objects.filter(edition_id=edition_id).annotate(n_categories=Count("categories"))


def item_answers(
    *,
    edition_id: int,
    item_code: str,
    coder: str | None = None,
    filter: str = "",
    search: str = "",
) -> QuerySet[Answer]:
    """Free-text answers of an item, filtered as the coding screen asks: uncoded (by this coder),
    automatic (auto-coded, no human code), low confidence (in the review queue, most useful first) and
    disagreement (two coders differ, not yet adjudicated)."""
    qs = Answer.objects.filter(item__edition_id=edition_id, item__code=item_code, text__isnull=False)
    if search:
        qs = qs.filter(text__icontains=search)
    human = HumanCoding.objects.filter(answer_id=OuterRef("pk"))
    if filter == "uncoded":
        qs = qs.exclude(Exists(human.filter(coder=coder) if coder else human))
    elif filter == "automatic":
        qs = qs.filter(Exists(AutoCoding.objects.filter(answer_id=OuterRef("pk")))).exclude(Exists(human))
    elif filter == "low_confidence":
        return _review_ordered(qs)
    elif filter == "disagreement":
        ids = disagreement_answer_ids(edition_id=edition_id, item_code=item_code)
        qs = qs.filter(pk__in=ids)
    return qs.order_by("id")


def _review_ordered(qs: QuerySet[Answer]) -> QuerySet[Answer]:
    from django.db.models import Subquery

    priority = ReviewItem.objects.filter(answer_id=OuterRef("pk")).values("priority")[:1]
    return qs.annotate(priority=Subquery(priority)).filter(priority__isnull=False).order_by("-priority", "id")


def codes_for_answers(
    answer_ids: list[uuid.UUID], *, coder: str | None = None
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """answer id → [{"code", "source", "probability", "accepted", "coder_is_me"}] (suggestions included)."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {a: [] for a in answer_ids}
    rows = (
        AnswerCode.objects.filter(answer_id__in=answer_ids)
        .select_related("category")
        .order_by("category__position", "category__code")
    )
    for row in rows:
        out[row.answer_id].append(
            {
                "code": row.category.code,
                "source": row.source,
                "probability": row.probability,
                "accepted": row.accepted,
                "mine": coder is not None and row.coder == coder,
                "coder": row.coder,
            }
        )
    return out


def disagreement_answer_ids(*, edition_id: int, item_code: str) -> list[uuid.UUID]:
    sets = _coder_sets(edition_id=edition_id, item_code=item_code)
    return [
        a
        for a, by_coder in sets.items()
        if len(by_coder) >= 2 and len({frozenset(s) for s in by_coder.values()}) > 1
    ]


def _coder_sets(*, edition_id: int, item_code: str) -> dict[uuid.UUID, dict[str, set[str]]]:
    out: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(dict)
    filt = {"answer__item__edition_id": edition_id, "answer__item__code": item_code}
    adjudicated = set(
        HumanCoding.objects.filter(coder=ADJUDICATED, **filt).values_list("answer_id", flat=True)
    )
    for answer_id, coder in (
        HumanCoding.objects.filter(**filt).exclude(coder=ADJUDICATED).values_list("answer_id", "coder")
    ):
        if answer_id not in adjudicated:
            out[answer_id][coder] = set()
    for answer_id, coder, code in (
        AnswerCode.objects.filter(source=CodeSource.HUMAN, **filt)
        .exclude(coder=ADJUDICATED)
        .values_list("answer_id", "coder", "category__code")
    ):
        if answer_id in out and coder in out[answer_id]:
            out[answer_id][coder].add(code)
    return out


def coder_agreement(*, edition_id: int, item_code: str) -> dict[str, Any]:
    """Krippendorff's alpha between human coders on the answers at least two of them coded (blind
    double coding), per category and overall."""
    from coding.training import alpha_binary

    filt = {"answer__item__edition_id": edition_id, "answer__item__code": item_code}
    by_answer: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(dict)
    for answer_id, coder in (
        HumanCoding.objects.filter(**filt).exclude(coder=ADJUDICATED).values_list("answer_id", "coder")
    ):
        by_answer[answer_id][coder] = set()
    for answer_id, coder, code in (
        AnswerCode.objects.filter(source=CodeSource.HUMAN, **filt)
        .exclude(coder=ADJUDICATED)
        .values_list("answer_id", "coder", "category__code")
    ):
        if coder in by_answer.get(answer_id, {}):
            by_answer[answer_id][coder].add(code)
    doubles = {a: c for a, c in by_answer.items() if len(c) >= 2}
    codes = [c["code"] for c in codebook_for(edition_id=edition_id, item_code=item_code)]
    if not doubles:
        return {"units": 0, "overall": None, "categories": {}}
    first, second = [], []
    for coders in doubles.values():
        a, b = (coders[k] for k in sorted(coders)[:2])
        first.append([1 if c in a else 0 for c in codes])
        second.append([1 if c in b else 0 for c in codes])
    x, y = np.array(first), np.array(second)
    per = {code: alpha_binary(x[:, k], y[:, k]) for k, code in enumerate(codes)}
    return {
        "units": len(doubles),
        "overall": alpha_binary(x.ravel(), y.ravel()),
        "categories": {k: (None if v is None else round(v, 3)) for k, v in per.items()},
    }


def coding_progress(*, edition_id: int, item_code: str) -> dict[str, int]:
    answers = Answer.objects.filter(item__edition_id=edition_id, item__code=item_code, text__isnull=False)
    total = answers.count()
    human = HumanCoding.objects.filter(answer__in=answers).values("answer").distinct().count()
    auto = (
        AutoCoding.objects.filter(answer__in=answers)
        .exclude(Exists(HumanCoding.objects.filter(answer_id=OuterRef("answer_id"))))
        .count()
    )
    return {
        "answers": total,
        "human": human,
        "automatic": auto,
        "uncoded": max(total - human - auto, 0),
        "review": ReviewItem.objects.filter(answer__in=answers).count(),
    }


def coding_runs(*, edition_id: int, item_code: str) -> QuerySet[CodingRun]:
    return CodingRun.objects.filter(edition_id=edition_id, item_code=item_code).order_by("-queued_at")


def category_of(*, edition_id: int, item_code: str, code: str) -> Category | None:
    return Category.objects.filter(
        codebook__edition_id=edition_id, codebook__item_code=item_code, code=code
    ).first()
