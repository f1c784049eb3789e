"""Disclosure control: the named step every row passes before an exporter sees it.

`DisclosureControl.plan(...)` looks at the whole export once (counts of quasi-identifier combinations,
computed in the database) and decides the generalisation and suppression; `transform_many(rows)`
applies the plan to raw rows, redacts their free text and turns coding answer ids into 0/1; `report()`
says what changed.

What it guarantees (tests/exports/test_disclosure.py):
- every combination of quasi-identifiers that is not fully suppressed holds at least k respondents;
- free text carries placeholders instead of personal data (exports/anonymise/pii.py), or is the text a
  person approved in a review (exports/review.py), which is at least as redacted;
- nothing from the database's keys, no time, no receipt reaches a row (the pivot never selects them;
  row ids are numbered after a fresh random ordering).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from exports import dataset as ds
from exports.anonymise.kanon import (
    MIN_K,
    OTHER,
    REGION_PREFIX,
    SUPPRESSED,
    KAnonymityPlan,
    plan_k_anonymity,
)
from exports.anonymise.pii import RedactionStats, redactor

STEPS = (
    "identifiers dropped: no database ids, times or receipts are selected",
    "quasi-identifiers generalised (country → UN M49 sub-region → region → Other) to k respondents",
    "local suppression of quasi-identifier values still in groups under k",
    "personal data in free text replaced by placeholders",
    "rows in a fresh random order with fresh row ids",
    "spreadsheet formulas neutralised in CSV and XLSX",
)
REDACTION_CACHE = 50_000
SUPPRESSED_LABEL = "Suppressed (disclosure control)"


class DisclosureControl:
    def __init__(
        self,
        variables: Sequence[ds.Variable],
        *,
        qi_counts: dict[tuple[Any, ...], int],
        qi_indexes: Sequence[int],
        k: int,
        redact: bool = True,
    ) -> None:
        if k < MIN_K:
            raise ValueError(f"k must be at least {MIN_K}")
        self.variables = list(variables)
        self.qi_indexes = list(qi_indexes)
        self.k = k
        self.redact = redact
        self.stats = RedactionStats()
        self._cache: dict[str, str] = {}
        names = [self.variables[i].name for i in self.qi_indexes]
        country = next(
            (self.variables[i].name for i in self.qi_indexes if self.variables[i].item_type == "country"),
            None,
        )
        fixed = [self.variables[i].name for i in self.qi_indexes if self.variables[i].kind == ds.EDITION]
        self.plan: KAnonymityPlan = plan_k_anonymity(
            qi_counts, attributes=names, k=k, country_attribute=country, fixed_attributes=fixed
        )
        # The plan's released combinations as written: a suppressed flag is empty.
        flags = [self.variables[i].kind == ds.FLAG for i in self.qi_indexes]
        self._released = {
            combo: tuple(
                None if flag and value == SUPPRESSED else value
                for flag, value in zip(flags, released, strict=True)
            )
            for combo, released in self.plan.mapping.items()
        }
        self.text_indexes = [i for i, v in enumerate(self.variables) if v.kind == ds.TEXT]
        self.category_indexes = [i for i, v in enumerate(self.variables) if v.kind == ds.CATEGORY]
        self._label_released_values()

    @classmethod
    def quasi_identifier_indexes(cls, variables: Sequence[ds.Variable]) -> list[int]:
        has_qi = any(v.quasi_identifier for v in variables)
        return [i for i, v in enumerate(variables) if v.quasi_identifier or (v.kind == ds.EDITION and has_qi)]

    def _label_released_values(self) -> None:
        """Generalised and suppressed values get value labels, so every format can label them."""
        for position, i in enumerate(self.qi_indexes):
            variable = self.variables[i]
            released = {combo[position] for combo in self.plan.mapping.values()}
            for value in sorted(v for v in released if v is not None and v not in variable.value_labels):
                if variable.kind == ds.FLAG:
                    continue  # a suppressed flag is written empty
                if value == SUPPRESSED:
                    variable.value_labels[SUPPRESSED] = SUPPRESSED_LABEL
                elif value == OTHER:
                    variable.value_labels[OTHER] = "Other (generalised)"
                elif isinstance(value, str) and value.startswith(REGION_PREFIX):
                    variable.value_labels[value] = f"{value.removeprefix(REGION_PREFIX)} (UN M49)"

    def transform_many(self, rows: list[tuple[Any, ...]]) -> list[Sequence[Any]]:
        """Raw rows, each with its row id in front (selectors.export_chunks), as released: the plan
        applied, free text redacted, coding answer ids turned into 0/1. Column by column over a batch;
        a row nothing changes is passed on as it came, so it costs one dictionary lookup at most."""
        if self.text_indexes or self.category_indexes:
            out: list[Any] = [list(row) for row in rows]
        else:
            out = rows
        if self._released:
            at = [i + 1 for i in self.qi_indexes]
            combo_of = itemgetter(*at) if len(at) > 1 else lambda row: (row[at[0]],)
            released_of = self._released.get
            for n, row in enumerate(out):
                released = released_of(combo_of(row))
                if released is not None:
                    row = out[n] = list(row)
                    for i, value in zip(at, released, strict=True):
                        row[i] = value
        for i in self.text_indexes:
            for row in out:
                if row[i + 1] is not None:
                    row[i + 1] = self.redact_text(row[i + 1])
        for i in self.category_indexes:
            codes, choice = self.variables[i].coding.get("codes", {}), self.variables[i].choice
            for row in out:
                answer_id = row[i + 1]
                if answer_id is not None:
                    found = codes.get(uuid.UUID(str(answer_id)))
                    row[i + 1] = None if found is None else int(choice in found)
        return out

    def redact_text(self, text: str) -> str:
        """`text` with personal data replaced by placeholders. With `redact=False` the text is already
        final (reviewed by a person, exports/review.py) and is only tallied for the report."""
        if not self.redact:
            self.stats.count_placeholders(text)
            return text
        cached = self._cache.get(text)
        if cached is None:
            cached = redactor().redact(text, self.stats)
            if len(self._cache) < REDACTION_CACHE:
                self._cache[text] = cached
        else:
            self.stats.texts += 1
            self.stats.texts_changed += cached != text
        return cached

    def report(self, *, free_text: str) -> dict[str, Any]:
        return {
            "steps": list(STEPS),
            "k_anonymity": self.plan.report,
            "free_text": {"mode": free_text, "redaction": self.stats.as_dict()},
        }
