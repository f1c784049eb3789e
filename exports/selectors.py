"""Reads for exports: the columns of one or more editions, and the answers pivoted in SQL and streamed.

The database does the heavy lifting: one GROUP BY turns Answer rows (one per chosen choice, number or text)
into one row per response with a column per variable, kept in a temporary table for the export; a pass
sorts it in an order given by a random salt (fresh for each file unless stable ids were asked for), and a
server-side cursor hands the rows over in chunks. Nothing holds an edition in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pycountry
from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from coding.selectors import codebook_for, final_code_sources, final_codes, final_unknown
from exports import dataset as ds
from exports.models import ExportJob
from responses.models import Response
from surveys.models import Edition, Item, ItemType
from surveys.selectors import edition_definition

CHUNK_SIZE = 2000
ALWAYS_QUASI_IDENTIFIERS = frozenset({"country", "agency_type"})
TEXT_TYPES = frozenset({ItemType.TEXT, ItemType.LONG_TEXT})
# A free-text answer's value in an export; `a` is the answer, `t` its RedactedText row (LEFT JOIN,
# exports/review.py). NULL leaves the answer out.
TEXT_VALUE = {
    # Reviewed exports: exactly what the reviewer approved (their text, else the automatic redaction
    # they were shown); an answer without a row was never shown and stays out.
    True: "CASE WHEN t.excluded THEN NULL ELSE COALESCE(t.reviewed, t.automatic) END",
    # Otherwise the raw text, for the redactor, except where a reviewer has already decided: an export
    # that skips the review never undoes one.
    False: "CASE WHEN t.excluded THEN NULL ELSE COALESCE(t.reviewed, a.text) END",
}
JOIN_REDACTIONS = "LEFT JOIN exports_redactedtext t ON t.answer_id = a.id"
# A fresh salt per export gives a fresh random order; the same salt, the same order (stable ids within
# one bundle). md5 here shuffles, it protects nothing.
ORDER_BY = "MD5(CAST({} AS TEXT) || %s)"


@dataclass
class Column:
    """A variable and the SQL that computes it from one response's answers."""

    variable: ds.Variable
    sql: str
    params: list[Any] = field(default_factory=list)
    # The SQL reads `t` (JOIN_REDACTIONS).
    redactions: bool = False


@dataclass
class ExportSource:
    """Everything the SQL needs: the editions and the columns, in order."""

    editions: list[Edition]
    columns: list[Column]
    # Free-text items (code → item ids), read separately when free text goes to its own file.
    text_items: dict[str, list[int]]
    text_labels: dict[str, str]
    # Free text as a reviewer approved it (TEXT_VALUE[True]), else raw for the redactor.
    reviewed: bool = False

    @property
    def edition_ids(self) -> list[int]:
        return [e.pk for e in self.editions]


def _text(texts: dict[str, str] | None, language: str, default: str) -> str:
    texts = texts or {}
    return texts.get(language) or texts.get(default) or next(iter(texts.values()), "")


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def export_source(
    *,
    editions: Sequence[Edition],
    language: str,
    include_text: bool,
    include_categories: bool = True,
    reviewed: bool = False,
) -> ExportSource:
    """Columns for one edition, or several editions of a series aligned by item code (union of items in
    the newest edition's order, then items only earlier editions had; choices likewise)."""
    editions = sorted(editions, key=lambda e: e.label, reverse=True)  # newest first wins labels
    items_by_code: dict[str, list[Item]] = {}
    order: list[str] = []
    for edition in editions:
        for item in Item.objects.filter(edition=edition).select_related("edition").order_by("position"):
            if item.code not in items_by_code:
                items_by_code[item.code] = []
                order.append(item.code)
            items_by_code[item.code].append(item)
    definitions = {e.pk: edition_definition(e) for e in editions}

    columns: list[Column] = []
    if len(editions) > 1:
        ordered = sorted(editions, key=lambda e: e.label)
        labels = {e.label: e.display_title for e in ordered}
        case = " ".join(f"WHEN {int(e.pk)} THEN %s" for e in ordered)
        variable = ds.Variable("edition", "Edition", ds.EDITION, value_labels=labels)
        columns.append(Column(variable, f"CASE r.edition_id {case} END", [e.label for e in ordered]))
    text_items: dict[str, list[int]] = {}
    text_labels: dict[str, str] = {}
    coding = (final_codes, codebook_for, final_code_sources, final_unknown) if include_categories else None
    for code in order:
        items = items_by_code[code]
        first = items[0]
        default = first.edition.default_language if hasattr(first, "edition") else "en"
        label = _text(first.label, language, default)
        ids = _ids([i.pk for i in items])
        where = f"a.item_id IN ({ids})"
        qi = (
            first.type == ItemType.COUNTRY
            or code in ALWAYS_QUASI_IDENTIFIERS
            or any(i.quasi_identifier for i in items)
        )
        base = {"label": label, "item_code": code, "item_type": first.type, "quasi_identifier": qi}
        if first.type == ItemType.NOTE:
            continue
        if first.type in (ItemType.SELECT_ONE, ItemType.YES_NO, ItemType.COUNTRY):
            labels = _choice_labels(items, definitions, language)
            columns.append(
                Column(
                    ds.Variable(code, kind=ds.CHOICE, value_labels=labels, **base),
                    f"MAX(a.choice) FILTER (WHERE {where})",
                )
            )
        elif first.type == ItemType.SELECT_MULTIPLE:
            for choice, choice_label in _choice_labels(items, definitions, language).items():
                variable = ds.Variable(
                    f"{code}__{choice}",
                    **{**base, "label": f"{label}: {choice_label}"},
                    kind=ds.FLAG,
                    value_labels=dict(ds.FLAG_LABELS),
                    choice=choice,
                )
                sql = f"MAX(CASE WHEN a.choice = %s THEN 1 ELSE 0 END) FILTER (WHERE {where})"
                columns.append(Column(variable, sql, [choice]))
        elif first.type == ItemType.INTEGER:
            columns.append(
                Column(
                    ds.Variable(code, kind=ds.INTEGER, **base),
                    f"CAST(MAX(a.number) FILTER (WHERE {where}) AS BIGINT)",
                )
            )
        elif first.type == ItemType.DECIMAL:
            columns.append(
                Column(
                    ds.Variable(code, kind=ds.DECIMAL, **base),
                    f"CAST(MAX(a.number) FILTER (WHERE {where}) AS DOUBLE PRECISION)",
                )
            )
        elif first.type in TEXT_TYPES:
            text_items[code] = [i.pk for i in items]
            text_labels[code] = label
            if include_text:
                value = TEXT_VALUE[reviewed]
                variable = ds.Variable(code, kind=ds.TEXT, **base)
                columns.append(Column(variable, f"MAX({value}) FILTER (WHERE {where})", redactions=True))
            if coding is not None:
                columns.extend(_category_columns(coding, items, where, base))
    return ExportSource(
        editions=list(editions),
        columns=columns,
        text_items=text_items,
        text_labels=text_labels,
        reviewed=reviewed,
    )


def _choice_labels(
    items: list[Item], definitions: dict[int, dict[str, Any]], language: str
) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        definition = definitions[item.edition_id]
        default = definition.get("default_language", "en")
        list_name = item.choice_list.name if item.choice_list_id else None
        if list_name and list_name in definition["choice_lists"]:
            for choice in definition["choice_lists"][list_name]:
                labels.setdefault(choice["code"], _text(choice["label"], language, default))
        elif item.type == ItemType.YES_NO:
            labels.setdefault("yes", "Yes")
            labels.setdefault("no", "No")
        elif item.type == ItemType.COUNTRY:
            for country in pycountry.countries:
                labels.setdefault(country.alpha_2, country.name)
    return labels


def _category_columns(
    coding: tuple[Any, Any, Any, Any], items: list[Item], where: str, base: dict[str, Any]
) -> list[Column]:
    """0/1 columns per coding category; the value is looked up by answer id while rows stream. A value
    the coding could not have given is empty, not 0: a category flagged "human coding only" for
    automatically coded answers (the column's mean is then the results' share, among human-coded
    answers), a category an edition's codebook lacks for that edition's answers (several editions), and
    a category the answer's final codes say nothing about (its coder was not offered it, or its run did
    not cover it: coding.selectors.final_unknown)."""
    final_codes, codebook_for, final_code_sources, final_unknown = coding
    columns: list[Column] = []
    frame: list[dict[str, Any]] = []
    seen: set[str] = set()
    codes_by_answer: dict[uuid.UUID, set[str]] = {}
    per_item: list[tuple[set[str], dict[uuid.UUID, set[str]]]] = []
    unknown: dict[str, set[uuid.UUID]] = {}  # category code -> answers whose value it cannot have
    for item in items:
        entries = codebook_for(edition_id=item.edition_id, item_code=item.code)
        for entry in entries:
            if entry["code"] not in seen:
                seen.add(entry["code"])
                # Not the examples: they may be answers quoted verbatim (personal data).
                frame.append(
                    {k: entry.get(k) for k in ("code", "label", "description", "retired", "human_only")}
                )
        finals = final_codes(edition_id=item.edition_id, item_code=item.code)
        codes_by_answer.update(finals)
        per_item.append(({entry["code"] for entry in entries}, finals))
        for code, answers in final_unknown(edition_id=item.edition_id, item_code=item.code).items():
            unknown.setdefault(code, set()).update(answers)
        flagged = [entry["code"] for entry in entries if entry["human_only"]]
        if flagged:
            sources = final_code_sources(edition_id=item.edition_id, item_code=item.code)
            automatic = {answer_id for answer_id, source in sources.items() if source != "human"}
            for code in flagged:
                unknown.setdefault(code, set()).update(automatic)
    for item_codes, finals in per_item:
        for code in seen - item_codes:
            unknown.setdefault(code, set()).update(finals)
    for entry in frame:
        missing = unknown.get(entry["code"])
        codes = {a: c for a, c in codes_by_answer.items() if a not in missing} if missing else codes_by_answer
        variable = ds.Variable(
            f"{base['item_code']}__{entry['code']}",
            **{
                **base,
                "label": f"{base['label']}: {entry.get('label', entry['code'])}",
                "quasi_identifier": False,
            },
            kind=ds.CATEGORY,
            value_labels=dict(ds.CATEGORY_LABELS),
            choice=entry["code"],
            coding={"frame": frame, "codes": codes},
        )
        # The text answer's id; exports/anonymise turns it into 0/1 and never writes the id out.
        columns.append(
            Column(variable, f"MAX(CAST(a.id AS TEXT)) FILTER (WHERE {where} AND a.text IS NOT NULL)")
        )
    return columns


def _pivot(
    source: ExportSource,
    columns: Sequence[Column],
    *,
    salt: str | None,
    aliases: bool = False,
    response_id: bool = False,
) -> tuple[str, list[Any]]:
    """One row per response; the SQL text holds only our own integers (item and edition ids) and column
    expressions, every value from outside is a parameter. `response_id` selects r.id first (it never
    leaves the database: it only orders the rows of a materialised table, see export_rows_table)."""
    select = ",\n  ".join(f"{c.sql} AS c{n}" if aliases else c.sql for n, c in enumerate(columns))
    select = select or ("NULL AS c0" if aliases else "NULL")
    if response_id:
        select = f"r.id AS response_id,\n  {select}"
    params = [p for c in columns for p in c.params]
    join = f"{JOIN_REDACTIONS}\n" if any(c.redactions for c in columns) else ""
    sql = (
        f"SELECT\n  {select}\nFROM responses_response r\n"
        f"LEFT JOIN responses_answer a ON a.response_id = r.id\n{join}"
        f"WHERE r.edition_id IN ({_ids(source.edition_ids)})\nGROUP BY r.id, r.edition_id"
    )
    if salt is not None:
        sql += f"\nORDER BY {ORDER_BY.format('r.id')}"
        params.append(salt)
    return sql, params


def pivot_sql(source: ExportSource, *, salt: str | None) -> tuple[str, list[Any]]:
    """The SQL of the export's rows in the order of one pass (the benchmark runs it through COPY)."""
    return _pivot(source, source.columns, salt=salt)


def stream_chunks(
    sql: str, params: Sequence[Any], *, chunk_size: int = CHUNK_SIZE
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of `sql` through a server-side cursor (PostgreSQL), in lists of up to `chunk_size`.

    Deliberately not inside a transaction: the job's progress is written while rows stream and must be
    visible to the page at once (and survive if the worker dies). Outside a transaction Django declares
    the cursor WITH HOLD, so PostgreSQL keeps the result on its side and Python holds one chunk."""
    with connection.chunked_cursor() as cursor:
        if hasattr(cursor, "itersize"):
            cursor.itersize = chunk_size
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield rows


def stream(sql: str, params: Sequence[Any], *, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[Any, ...]]:
    """Rows of `sql` one at a time (`stream_chunks`)."""
    for rows in stream_chunks(sql, params, chunk_size=chunk_size):
        yield from rows


def export_rows_table(source: ExportSource) -> str:
    """The export's rows, pivoted once into a temporary table of this connection; returns its name.

    The counts for disclosure control and every pass over the rows read this one table, so a response
    released while the export runs cannot reach a file without having been counted (it would form a
    combination the k-anonymity plan never saw), and a pass only has to sort it, not pivot again.
    `export_rows_table_drop` removes it (PostgreSQL does too, when the connection closes)."""
    name = f"export_rows_{uuid.uuid4().hex}"
    inner, params = _pivot(source, source.columns, salt=None, aliases=True, response_id=True)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {inner}", params)
    return name


def export_rows_table_drop(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def export_chunks(table: str, *, width: int, salt: str) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `export_rows_table` in the order given by `salt`, each with its row id (1, 2, … in
    that order) in front instead of the response id. One sort gives both."""
    names = ", ".join(f"c{n}" for n in range(max(width, 1)))
    order = ORDER_BY.format("response_id")
    sql = f"SELECT ROW_NUMBER() OVER (ORDER BY {order}), {names} FROM {table} ORDER BY {order}"  # noqa: S608
    return stream_chunks(sql, [salt, salt])


def quasi_identifier_counts(table: str, indexes: Sequence[int]) -> dict[tuple[Any, ...], int]:
    """Respondents per combination of the columns at `indexes` of `export_rows_table`."""
    if not indexes:
        return {}
    names = ", ".join(f"c{int(i)}" for i in indexes)
    sql = f"SELECT {names}, COUNT(*) FROM {table} GROUP BY {names}"  # noqa: S608 - our own name
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {tuple(row[:-1]): int(row[-1]) for row in cursor.fetchall()}


def _free_text_sql(source: ExportSource) -> tuple[str, str]:
    """FROM … WHERE of every free-text answer the export holds (after review decisions), and its value."""
    value = TEXT_VALUE[source.reviewed]
    all_ids = _ids([i for ids in source.text_items.values() for i in ids])
    where = (
        f"FROM responses_answer a JOIN responses_response r ON r.id = a.response_id {JOIN_REDACTIONS} "
        f"WHERE r.edition_id IN ({_ids(source.edition_ids)}) AND a.item_id IN ({all_ids}) "
        f"AND a.text IS NOT NULL AND ({value}) IS NOT NULL"
    )
    return where, value


def free_text_rows(source: ExportSource, *, salt: str) -> Iterator[tuple[str, str]]:
    """(item code, text) of every free-text answer, each shuffled on its own: no response grouping, so a
    text cannot be tied to the respondent's other answers or to other texts of the same respondent."""
    if not source.text_items:
        return iter(())
    cases = " ".join(f"WHEN a.item_id IN ({_ids(ids)}) THEN %s" for ids in source.text_items.values())
    where, value = _free_text_sql(source)
    sql = f"SELECT CASE {cases} END, {value} {where} ORDER BY MD5(CAST(a.id AS TEXT) || %s)"
    return stream(sql, [*source.text_items.keys(), salt])  # type: ignore[return-value]


def free_text_count(source: ExportSource) -> int:
    if not source.text_items:
        return 0
    where, _ = _free_text_sql(source)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {where}")
        return int(cursor.fetchone()[0])


def response_count(edition_ids: Sequence[int]) -> int:
    return Response.objects.filter(edition_id__in=edition_ids).count()


def export_jobs_for(user: User) -> QuerySet[ExportJob]:
    """Administrators see every export job; analysts their own."""
    from accounts.models import Role

    qs = ExportJob.objects.prefetch_related("editions__series").select_related("requested_by")
    return qs if user.has_role(Role.ADMINISTRATOR) else qs.filter(requested_by=user)
