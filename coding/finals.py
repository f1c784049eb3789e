"""The final codes of free-text answers: the rule, and the two tables that keep its result.

The rule: an answer's final codes are its human codes if any person coded it (the adjudicated set if
there is one, otherwise the categories every coder gave), else its accepted automatic codes from a
trained model (never zero-shot suggestions, never categories flagged "human coding only"). It is one
SQL text here (`_FINAL_SQL`) and nowhere else.

Its result is kept in FinalCoding (an answer that has final codes, and their source) and FinalCode (one
final category of such an answer), so results, quotes and exports read an index instead of applying
the rule to every answer of an item on each read (≈ 0.4 s an item at 100,000 answers). Every write of
codes calls `final_codes_refresh` for the answers it touched, in its own transaction (coding/services.py).
The refresh holds a per-item lock until commit: a writer whose codes were not yet committed when another
refreshed is itself refreshed after that one committed, so the last refresh sees every code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

ADJUDICATED = "adjudicated"
_LOCK_NAMESPACE = 71_101  # pg_advisory_xact_lock(namespace, item id): final codes of one item

# The final codes of one item's answers, as CTEs:
#   coded: one row per answer that has final codes (answer_id, response_id, source 'human' | 'auto');
#   final: one row per final code (answer_id, response_id, source, category_id).
# The item's answers are read by item id from the partial covering index of free-text answers.
# Automatic codes are a plain filter; only human codes need grouping (the categories every coder gave).
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

_INSERT_CODED = """
INSERT INTO coding_finalcoding (answer_id, item_id, response_id, source)
SELECT d.answer_id, %(item_id)s, d.response_id, d.source FROM coded d
"""
_INSERT_FINAL = """
INSERT INTO coding_finalcode (id, answer_id, category_id, item_id, response_id, source)
SELECT gen_random_uuid(), f.answer_id, f.category_id, %(item_id)s, f.response_id, f.source FROM final f
"""


def _run(sql: str, named: dict[str, Any], restriction: tuple[str, list[Any]]) -> None:
    """Named parameters become positional, in the order they appear; %(restrict)s takes the
    restriction's SQL and its parameters at that place."""
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


@transaction.atomic
def final_codes_refresh(*, item_id: int, answer_ids: Sequence[uuid.UUID] | None = None) -> None:
    """Recompute the final codes of an item's answers (all of them, or `answer_ids`) from their codes.
    Call it in the transaction that wrote the codes, after the last write."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, item_id])
    # SQLite (the embedded demo) lets one writer at a time in: no lock is needed there.
    if answer_ids is None:
        where, restriction = "item_id = %s", ("", [])
        params: list[Any] = [item_id]
    else:
        ids = [_db_uuid(a) for a in answer_ids]
        if not ids:
            return
        marks = ", ".join(["%s"] * len(ids))
        where, params = f"item_id = %s AND answer_id IN ({marks})", [item_id, *ids]
        restriction = (f"AND a.id IN ({marks})", ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM coding_finalcode WHERE {where}", params)  # noqa: S608 - placeholders only
        cursor.execute(f"DELETE FROM coding_finalcoding WHERE {where}", params)  # noqa: S608
    named = {"item_id": item_id, "adjudicated": ADJUDICATED}
    _run(_FINAL_SQL + _INSERT_CODED, named, restriction)
    _run(_FINAL_SQL + _INSERT_FINAL, named, restriction)


def _db_uuid(value: uuid.UUID | str) -> Any:
    """A UUID as the database column holds it (PostgreSQL: uuid; SQLite: 32 hex digits)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def sqlite_functions(connection: Any, **_: Any) -> None:
    """gen_random_uuid() on SQLite, as PostgreSQL has it (FinalCode's random keys, in UUIDField's form)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("gen_random_uuid", 0, lambda: uuid.uuid4().hex)
