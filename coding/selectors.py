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

ADJUDICATED = "adjudicated"

# One SQL statement yields (answer_id, response_id, source, category_code|NULL) for final codes.
_FINAL_SQL = """
WITH ans AS (
    SELECT a.id, a.response_id FROM responses_answer a JOIN surveys_item i ON i.id = a.item_id
    WHERE i.edition_id = %(edition)s AND i.code = %(item)s AND a.text IS NOT NULL {restrict}
),
hc AS (SELECT h.answer_id, h.coder FROM coding_humancoding h JOIN ans ON ans.id = h.answer_id),
adj AS (SELECT DISTINCT answer_id FROM hc WHERE coder = %(adjudicated)s),
ncoders AS (SELECT answer_id, COUNT(*) AS n FROM hc WHERE coder <> %(adjudicated)s GROUP BY answer_id),
human_codes AS (
    SELECT c.answer_id, c.category_id FROM coding_answercode c JOIN adj ON adj.answer_id = c.answer_id
    WHERE c.source = 'human' AND c.coder = %(adjudicated)s
    UNION
    SELECT c.answer_id, c.category_id FROM coding_answercode c JOIN ncoders n ON n.answer_id = c.answer_id
    WHERE c.source = 'human' AND c.coder <> %(adjudicated)s
      AND c.answer_id NOT IN (SELECT answer_id FROM adj)
    GROUP BY c.answer_id, c.category_id, n.n HAVING COUNT(*) = n.n
),
human_answers AS (SELECT DISTINCT answer_id FROM hc),
auto_answers AS (
    SELECT ac.answer_id FROM coding_autocoding ac JOIN ans ON ans.id = ac.answer_id
    WHERE ac.answer_id NOT IN (SELECT answer_id FROM human_answers)
),
auto_codes AS (
    SELECT c.answer_id, c.category_id FROM coding_answercode c
    JOIN auto_answers aa ON aa.answer_id = c.answer_id
    JOIN coding_category cat ON cat.id = c.category_id
    WHERE c.source = 'auto' AND c.accepted AND NOT cat.human_only
),
final AS (
    SELECT h.answer_id, 'human' AS source, hcd.category_id FROM human_answers h
    LEFT JOIN human_codes hcd ON hcd.answer_id = h.answer_id
    UNION ALL
    SELECT aa.answer_id, 'auto' AS source, acd.category_id FROM auto_answers aa
    LEFT JOIN auto_codes acd ON acd.answer_id = aa.answer_id
)
"""


def _final_sql(restrict: str = "") -> str:
    return _FINAL_SQL.format(restrict=restrict)


def _restriction(response_ids: QuerySet[Any] | None) -> tuple[str, list[Any]]:
    if response_ids is None:
        return "", []
    query = response_ids.values("pk") if response_ids.query.values_select == () else response_ids
    sql, params = query.query.sql_with_params()
    return f"AND a.response_id IN ({sql})", list(params)


def _run_sql(sql: str, named: dict[str, Any], extra: list[Any]) -> list[tuple[Any, ...]]:
    """Named parameters for the fixed part become positional; the restriction's own placeholders sit
    right after the edition and item parameters in the text, so its parameters go there."""
    order: list[Any] = []

    def swap(match: re.Match[str]) -> str:
        order.append(named[match.group(1)])
        return "%s"

    positional = re.sub(r"%\((\w+)\)s", swap, sql)
    with connection.cursor() as cursor:
        cursor.execute(positional, order[:2] + extra + order[2:])
        return cursor.fetchall()


def item_category_counts(
    *, edition_id: int, item_code: str, response_ids: QuerySet[Any] | None = None
) -> dict[str, Any]:
    """Respondents per category among those whose answer to the item has final codes.

    {"n": respondents with a final-coded answer, "n_human": those whose answer has human codes,
    "counts": {code: respondents}, "method": "human" | "automatic" | "mixed" | "none", "human_only":
    [codes flagged human coding only]}. Shares are counts / n and add up to more than 100 %
    (multi-label); a "human coding only" category is counted among human-coded answers alone, so its
    share is count / n_human."""
    restrict, extra = _restriction(response_ids)
    sql = (
        _final_sql(restrict)
        + """
SELECT f.source, cat.code, COUNT(DISTINCT ans.response_id)
FROM final f JOIN ans ON ans.id = f.answer_id LEFT JOIN coding_category cat ON cat.id = f.category_id
GROUP BY f.source, cat.code
UNION ALL
SELECT f.source, NULL, COUNT(DISTINCT ans.response_id) * -1 - 1
FROM final f JOIN ans ON ans.id = f.answer_id GROUP BY f.source
"""
    )
    rows = _run_sql(sql, {"edition": edition_id, "item": item_code, "adjudicated": ADJUDICATED}, extra)
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
    restrict, extra = _restriction(response_ids)
    sql = (
        _final_sql(restrict)  # noqa: S608 - constant SQL; the seed and limit are bound parameters
        + """
SELECT code, answer_id FROM (
    SELECT cat.code AS code, f.answer_id AS answer_id, ROW_NUMBER() OVER (
        PARTITION BY cat.code ORDER BY MD5(CAST(f.answer_id AS TEXT) || %(seed)s), f.answer_id
    ) AS position
    FROM final f JOIN coding_category cat ON cat.id = f.category_id
) ranked WHERE position <= %(per_category)s ORDER BY code, position
"""
    )
    named = {
        "edition": edition_id,
        "item": item_code,
        "adjudicated": ADJUDICATED,
        "seed": seed,
        "per_category": per_category,
    }
    out: dict[str, list[uuid.UUID]] = {}
    for code, answer_id in _run_sql(sql, named, extra):
        out.setdefault(code, []).append(
            answer_id if isinstance(answer_id, uuid.UUID) else uuid.UUID(str(answer_id))
        )
    return out


def final_codes(*, edition_id: int, item_code: str) -> dict[uuid.UUID, set[str]]:
    """answer id → final category codes (an empty set: coded, no category applies)."""
    tail = "SELECT f.answer_id, cat.code FROM final f LEFT JOIN coding_category cat ON cat.id = f.category_id"
    sql = _final_sql() + tail
    out: dict[uuid.UUID, set[str]] = {}
    for answer_id, code in _run_sql(
        sql, {"edition": edition_id, "item": item_code, "adjudicated": ADJUDICATED}, []
    ):
        key = answer_id if isinstance(answer_id, uuid.UUID) else uuid.UUID(str(answer_id))
        codes = out.setdefault(key, set())
        if code is not None:
            codes.add(code)
    return out


def final_code_sources(*, edition_id: int, item_code: str) -> dict[uuid.UUID, str]:
    sql = _final_sql() + "SELECT DISTINCT f.answer_id, f.source FROM final f"  # noqa: S608 - constant SQL
    rows = _run_sql(sql, {"edition": edition_id, "item": item_code, "adjudicated": ADJUDICATED}, [])
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
