"""The final codes of free-text answers: the rule, and the tables that keep its result.

The rule: an answer's final codes are its human codes if any person coded it (the adjudicated set if
there is one, otherwise the categories every coder gave), else its accepted automatic codes from a
trained model (never zero-shot suggestions, never categories flagged "human coding only"). It is one
SQL text here (`_FINAL_SQL`) and nowhere else.

A category of the codebook a human-coded answer's deciding codings cannot speak for is a gap
(`_UNKNOWN_SQL`): one the deciding coding was not offered (the adjudicated coding if there is one, else any
coder's, unless another coder was offered it and did not give it, which settles it as absent:
HumanCoding.categories_seen; e.g. a category added after the answer was coded, or retired before). A
trained run decides the gaps of the categories it covers (AutoFill): such a gap is filled, its accepted
automatic code a final code with source "auto" beside the human ones (FinalFilled; the answer's figures
are then "mixed"), unless the category is flagged "human coding only". A gap not filled is unknown for
that answer, neither present nor absent; so is, for automatic codes, a category the trained run did not
cover (CodingRun.categories: added after it ran, or retired before). A category flagged "human coding
only" is not listed as unknown for automatically coded answers: it is never an automatic code, and its
share is counted among the human-coded answers anyway (coding.selectors.item_category_counts), so
listing it would only add a row per automatically coded answer.

Its result is kept in FinalCoding (an answer that has final codes, and their source), FinalCode (one
final category of such an answer), FinalFilled (one filled gap) and FinalUnknown (one unknown category
of such an answer), so results, quotes and exports read an index instead of applying the rule to every
answer of an item on each read (≈ 0.4 s an item at 100,000 answers). Every write of codes calls
`final_codes_refresh` for the answers it touched, in its own transaction (coding/services.py).
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
# The unknown categories of the answers just given final codes (read from coding_finalcoding, restricted
# like the answers above): for human codes, the gaps; for automatic codes, a category the answer's run did
# not cover. None until a category is added or retired: then the answers coded before the addition, and
# those coded or auto-coded after the retirement, are unknown for it (a row each). The gaps a run
# decided then move to coding_finalfilled (_FILLED below).
_UNKNOWN_SQL = """
WITH cats AS MATERIALIZED (
    SELECT cat.id, cat.human_only FROM coding_category cat
    JOIN coding_codebook cb ON cb.id = cat.codebook_id
    JOIN surveys_item i ON i.edition_id = cb.edition_id AND i.code = cb.item_code
    WHERE i.id = %(item_id)s
),
uncovered AS MATERIALIZED (
    SELECT r.id AS run_id, cats.id AS category_id
    FROM coding_codingrun r JOIN surveys_item i ON i.edition_id = r.edition_id AND i.code = r.item_code
    JOIN cats ON NOT cats.human_only
    WHERE i.id = %(item_id)s AND NOT EXISTS (
        SELECT 1 FROM coding_codingrun_categories rc WHERE rc.codingrun_id = r.id AND rc.category_id = cats.id
    )
),
decided AS MATERIALIZED (
    SELECT d.answer_id, d.response_id, d.source FROM coding_finalcoding d
    WHERE d.item_id = %(item_id)s %(decided)s
),
short AS MATERIALIZED (
    -- the deciding codings (the adjudicated one, else every coder's) not offered every category
    SELECT d.answer_id, d.response_id, d.source, h.id AS coding_id
    FROM decided d JOIN coding_humancoding h ON h.answer_id = d.answer_id
    WHERE d.source = 'human'
      AND (h.coder = %(adjudicated)s OR NOT EXISTS (
          SELECT 1 FROM coding_humancoding x WHERE x.answer_id = d.answer_id AND x.coder = %(adjudicated)s
      ))
      AND (SELECT count(*) FROM coding_categoryseen s WHERE s.coding_id = h.id) < (SELECT count(*) FROM cats)
),
unknown AS (
    -- the gaps: a category a deciding coding was not offered, unless another deciding coding was offered
    -- it and did not give it (the final codes are those every coder gave: one "no" settles it)
    SELECT h.answer_id, h.response_id, h.source, cats.id AS category_id
    FROM short h JOIN cats ON 1 = 1
    WHERE NOT EXISTS (
        SELECT 1 FROM coding_categoryseen s WHERE s.coding_id = h.coding_id AND s.category_id = cats.id
    ) AND NOT EXISTS (
        SELECT 1 FROM coding_humancoding x
        JOIN coding_categoryseen xs ON xs.coding_id = x.id AND xs.category_id = cats.id
        WHERE x.answer_id = h.answer_id AND x.coder <> %(adjudicated)s
          AND NOT EXISTS (
              SELECT 1 FROM coding_humancoding adj
              WHERE adj.answer_id = h.answer_id AND adj.coder = %(adjudicated)s
          )
          AND NOT EXISTS (
              SELECT 1 FROM coding_answercode c WHERE c.answer_id = x.answer_id AND c.source = 'human'
                AND c.coder = x.coder AND c.category_id = cats.id
          )
    )
    GROUP BY h.answer_id, h.response_id, h.source, cats.id
    UNION ALL
    -- automatic: a category the answer's run did not cover
    SELECT d.answer_id, d.response_id, d.source, u.category_id
    FROM decided d JOIN coding_autocoding ac ON ac.answer_id = d.answer_id
    JOIN uncovered u ON u.run_id = ac.run_id
    WHERE d.source = 'auto'
)
INSERT INTO coding_finalunknown (id, answer_id, category_id, item_id, response_id, source)
SELECT gen_random_uuid(), u.answer_id, u.category_id, %(item_id)s, u.response_id, u.source FROM unknown u
"""
# The gaps a trained run decided (AutoFill), unless the category is flagged "human coding only": filled,
# no longer unknown, and an accepted automatic code is their final code (source 'auto'). Three plain
# statements over the few gap rows ({where}: the refreshed answers), so the gaps are worked out once.
_FILLED = (
    """
INSERT INTO coding_finalfilled (id, answer_id, category_id, item_id, response_id, source)
SELECT gen_random_uuid(), u.answer_id, u.category_id, u.item_id, u.response_id, 'auto'
FROM (SELECT * FROM coding_finalunknown WHERE {where} AND source = 'human') u
JOIN coding_category cat ON cat.id = u.category_id
WHERE NOT cat.human_only AND EXISTS (
    SELECT 1 FROM coding_autofill f WHERE f.answer_id = u.answer_id AND f.category_id = u.category_id
)
""",
    """
DELETE FROM coding_finalunknown WHERE {where} AND source = 'human' AND EXISTS (
    SELECT 1 FROM coding_finalfilled ff
    WHERE ff.answer_id = coding_finalunknown.answer_id AND ff.category_id = coding_finalunknown.category_id
)
""",
    """
INSERT INTO coding_finalcode (id, answer_id, category_id, item_id, response_id, source)
SELECT gen_random_uuid(), ff.answer_id, ff.category_id, ff.item_id, ff.response_id, 'auto'
FROM (SELECT * FROM coding_finalfilled WHERE {where}) ff JOIN coding_answercode c
  ON c.answer_id = ff.answer_id AND c.category_id = ff.category_id AND c.source = 'auto' AND c.accepted
""",
)


def _run(sql: str, named: dict[str, Any], restrictions: dict[str, tuple[str, list[Any]]]) -> None:
    """Named parameters become positional, in the order they appear; a restriction (%(restrict)s,
    %(decided)s) takes its SQL and its parameters at that place."""
    order: list[Any] = []

    def swap(match: re.Match[str]) -> str:
        if match.group(1) in restrictions:
            text, params = restrictions[match.group(1)]
            order.extend(params)
            return text
        order.append(named[match.group(1)])
        return "%s"

    positional = re.sub(r"%\((\w+)\)s", swap, sql)
    with connection.cursor() as cursor:
        cursor.execute(positional, order)


def _lock_item(item_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, item_id])
    # SQLite (the embedded demo) lets one writer at a time in: no lock is needed there.


@transaction.atomic
def final_codes_refresh(*, item_id: int, answer_ids: Sequence[uuid.UUID] | None = None) -> None:
    """Recompute the final codes of an item's answers (all of them, or `answer_ids`) from their codes.
    Call it in the transaction that wrote the codes, after the last write."""
    _lock_item(item_id)
    if answer_ids is None:
        where = "item_id = %s"
        params: list[Any] = [item_id]
        restrictions: dict[str, tuple[str, list[Any]]] = {"restrict": ("", []), "decided": ("", [])}
    else:
        ids = [_db_uuid(a) for a in answer_ids]
        if not ids:
            return
        marks = ", ".join(["%s"] * len(ids))
        where, params = f"item_id = %s AND answer_id IN ({marks})", [item_id, *ids]
        restrictions = {
            "restrict": (f"AND a.id IN ({marks})", ids),
            "decided": (f"AND d.answer_id IN ({marks})", ids),
        }
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM coding_finalcode WHERE {where}", params)  # noqa: S608 - placeholders only
        cursor.execute(f"DELETE FROM coding_finalunknown WHERE {where}", params)  # noqa: S608
        cursor.execute(f"DELETE FROM coding_finalfilled WHERE {where}", params)  # noqa: S608
        cursor.execute(f"DELETE FROM coding_finalcoding WHERE {where}", params)  # noqa: S608
    named = {"item_id": item_id, "adjudicated": ADJUDICATED}
    _run(_FINAL_SQL + _INSERT_CODED, named, restrictions)
    _run(_FINAL_SQL + _INSERT_FINAL, named, restrictions)
    # After the insert of coding_finalcoding, which it reads.
    _run(_UNKNOWN_SQL, named, restrictions)
    with connection.cursor() as cursor:
        for statement in _FILLED:
            cursor.execute(statement.format(where=where), params)


@transaction.atomic
def final_unknown_add_category(*, item_id: int, category_id: int) -> None:
    """A category just added to the item's codebook: no coding was offered it and no run covered it, so
    the rule above makes it unknown for every answer that has final codes, and changes nothing else.
    One insert instead of a whole refresh, which held the item's lock (every coder's save) for seconds
    on a large item (4.3 s at 50,000 human-coded answers)."""
    _lock_item(item_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO coding_finalunknown (id, answer_id, category_id, item_id, response_id, source) "
            "SELECT gen_random_uuid(), d.answer_id, %s, d.item_id, d.response_id, d.source "
            "FROM coding_finalcoding d WHERE d.item_id = %s",
            [category_id, item_id],
        )


def _db_uuid(value: uuid.UUID | str) -> Any:
    """A UUID as the database column holds it (PostgreSQL: uuid; SQLite: 32 hex digits)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def sqlite_functions(connection: Any, **_: Any) -> None:
    """gen_random_uuid() on SQLite, as PostgreSQL has it (FinalCode's random keys, in UUIDField's form)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("gen_random_uuid", 0, lambda: uuid.uuid4().hex)
