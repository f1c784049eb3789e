"""Querysets compiled to SQL once per process, then run with fresh parameter values.

Django turns a queryset into SQL on every evaluation; on the submission path that compilation cost
more CPU than anything else in the web process (docs/performance.md, "Submissions"). A
`PrecompiledQuery` keeps the queryset as the one statement of its rules (filters, Q objects,
annotations stay where they are) and compiles it once: the queryset is built with marker values, the
markers' positions among the SQL parameters are remembered, and each run substitutes the real values.
Django's own converters are applied to the rows, so values come back as the queryset would give them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    positions: dict[str, tuple[int, ...]]
    compiler: Any
    converters: dict[int, Any]
    # Columns the ORM selects only for ordering come after the queryset's own (trimmed off).
    width: int | None


class PrecompiledQuery:
    """`build(**markers)` must return a `values_list()` queryset; `rows(**values)` runs its SQL.

    Markers must be values that cannot occur among the queryset's own constant parameters (a string
    such as "<token_key>", or an integer no real query would compare with), and each must end up in the
    parameters: filters compile a value to a parameter, but slicing (LIMIT) is written into the SQL, so
    slice in the SQL's caller, not with a marker."""

    def __init__(self, build: Callable[..., QuerySet[Any]], **markers: Any) -> None:
        self._build = build
        self._markers = markers
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        queryset = self._build(**self._markers).using(alias)
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        positions = {
            name: tuple(i for i, p in enumerate(params) if p == marker and type(p) is type(marker))
            for name, marker in self._markers.items()
        }
        missing = [name for name, found in positions.items() if not found]
        if missing:
            raise ValueError(f"markers not among the compiled query's parameters: {missing}")
        columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(columns)
        width = compiler.col_count if compiler.has_extra_select else None
        return _Compiled(sql, tuple(params), positions, compiler, converters, width)

    def rows(self, *, using: str = "default", **values: Any) -> list[Sequence[Any]]:
        if values.keys() != self._markers.keys():
            raise TypeError(f"expected values for {sorted(self._markers)}, got {sorted(values)}")
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compile(using)
                self._compiled[using] = compiled
        params = list(compiled.params)
        for name, value in values.items():
            for position in compiled.positions[name]:
                params[position] = value
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows: list[Sequence[Any]] = cursor.fetchall()
        if compiled.width is not None:
            rows = [row[: compiled.width] for row in rows]
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows
