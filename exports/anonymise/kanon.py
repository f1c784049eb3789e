"""k-anonymity of quasi-identifiers by generalisation, then local suppression.

Works on the counts of quasi-identifier combinations (one GROUP BY in the database), not on rows, so
planning costs the same for 1,000 or 1,000,000 responses; the plan is a mapping from an original
combination to the released one, applied row by row while the export streams.

Algorithm (local recoding, greedy, deterministic):
1. While a released combination holds fewer than k respondents, raise the country of every such
   combination one level: country → UN M49 sub-region → UN M49 region → "Other".
2. While one still does, suppress one more attribute of it: the one whose suppression merges it into the
   largest existing class (ties: the attribute with most distinct values, then the questionnaire's order).
3. A combination with every attribute suppressed says nothing about anyone and may stay small.

Suppressed values are released as SUPPRESSED, not as empty, so analysts can tell them from "not answered".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

MIN_K = 3
OTHER = "Other"
SUPPRESSED = "_suppressed"
REGION_PREFIX = "M49:"  # released region values read "M49:Northern Europe", "M49:Europe"

Combo = tuple[Hashable, ...]


@cache
def m49_tables() -> tuple[dict[str, str], dict[str, str]]:
    """ISO 3166 alpha-2 → UN M49 sub-region, and sub-region → M49 region, from country_converter."""
    import country_converter

    data = country_converter.CountryConverter().data
    subregion: dict[str, str] = {}
    region: dict[str, str] = {}
    for iso2, sub, continent in zip(data["ISO2"], data["UNregion"], data["continent"], strict=True):
        if not isinstance(iso2, str) or not isinstance(sub, str):
            continue
        subregion[iso2] = sub
        # country_converter's continent is M49's region except for the Americas' spelling.
        region[sub] = "Americas" if continent == "America" else str(continent)
    return subregion, region


def country_parent(value: Hashable) -> Hashable:
    """One level up the country hierarchy; None (not answered) stays None until suppression."""
    if value is None or value in (OTHER, SUPPRESSED):
        return value
    subregion, region = m49_tables()
    text = str(value)
    if text.startswith(REGION_PREFIX):
        name = text.removeprefix(REGION_PREFIX)
        if name in region:  # a sub-region: up to its region
            return REGION_PREFIX + region[name]
        return OTHER
    sub = subregion.get(text)
    return REGION_PREFIX + sub if sub else OTHER


def country_level(value: Hashable) -> str:
    if value is None:
        return "missing"
    if value == SUPPRESSED:
        return "suppressed"
    if value == OTHER:
        return "other"
    text = str(value)
    if text.startswith(REGION_PREFIX):
        _, region = m49_tables()
        return "subregion" if text.removeprefix(REGION_PREFIX) in region else "region"
    return "country"


@dataclass
class KAnonymityPlan:
    """The released combination for each original one, and what it cost."""

    k: int
    attributes: list[str]
    mapping: dict[Combo, Combo]
    report: dict[str, Any] = field(default_factory=dict)

    def apply(self, combo: Combo) -> Combo:
        return self.mapping.get(combo, combo)


def _aggregate(counts: Mapping[Combo, int], current: Mapping[Combo, Combo]) -> Counter[Combo]:
    released: Counter[Combo] = Counter()
    for original, n in counts.items():
        released[current[original]] += n
    return released


def plan_k_anonymity(
    counts: Mapping[Combo, int],
    *,
    attributes: Sequence[str],
    k: int,
    country_attribute: str | None = "country",
    fixed_attributes: Sequence[str] = (),
) -> KAnonymityPlan:
    """`counts`: respondents per combination of `attributes` (values in that order).

    `fixed_attributes` are part of the combination but never changed (e.g. the edition in a multi-edition
    export: how many answered each year is public)."""
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K}")
    attributes = list(attributes)
    country_at = attributes.index(country_attribute) if country_attribute in attributes else None
    changeable = [i for i, name in enumerate(attributes) if name not in fixed_attributes]
    current: dict[Combo, Combo] = {combo: combo for combo in counts}

    def small(released: Counter[Combo]) -> set[Combo]:
        return {
            combo
            for combo, n in released.items()
            if 0 < n < k and any(combo[i] != SUPPRESSED for i in changeable)
        }

    # 1. Generalise the country, only where a combination is too small (local recoding).
    if country_at is not None:
        for _ in range(3):
            too_small = small(_aggregate(counts, current))
            raised = False
            for original, released in current.items():
                if released in too_small and released[country_at] not in (OTHER, SUPPRESSED, None):
                    value = country_parent(released[country_at])
                    current[original] = (*released[:country_at], value, *released[country_at + 1 :])
                    raised = True
            if not raised:
                break

    # 2. Local suppression, one attribute per too-small combination per round.
    distinct = {i: len({combo[i] for combo in counts}) for i in changeable}
    while True:
        released_counts = _aggregate(counts, current)
        too_small = small(released_counts)
        if not too_small:
            break
        choice: dict[Combo, Combo] = {}
        for combo in too_small:
            candidates = []
            for i in changeable:
                if combo[i] == SUPPRESSED:
                    continue
                merged = (*combo[:i], SUPPRESSED, *combo[i + 1 :])
                candidates.append((-released_counts.get(merged, 0), -distinct[i], i, merged))
            choice[combo] = min(candidates)[3]
        for original, released in current.items():
            if released in choice:
                current[original] = choice[released]

    mapping = {original: released for original, released in current.items() if original != released}
    return KAnonymityPlan(
        k=k,
        attributes=attributes,
        mapping=mapping,
        report=_report(counts, current, attributes, k, country_at, changeable),
    )


def _report(
    counts: Mapping[Combo, int],
    current: Mapping[Combo, Combo],
    attributes: list[str],
    k: int,
    country_at: int | None,
    changeable: list[int],
) -> dict[str, Any]:
    total = sum(counts.values())
    suppressed = Counter()
    generalised = Counter()
    changed_rows = 0
    for original, released in current.items():
        n = counts[original]
        if original != released:
            changed_rows += n
        for i in changeable:
            if released[i] == SUPPRESSED and original[i] != SUPPRESSED:
                suppressed[attributes[i]] += n
        if country_at is not None and released[country_at] != SUPPRESSED:
            generalised[country_level(released[country_at])] += n
    released_counts = _aggregate(counts, current)
    sizes = [n for combo, n in released_counts.items() if any(combo[i] != SUPPRESSED for i in changeable)]
    cells = total * len(changeable)
    return {
        "k": k,
        "quasi_identifiers": attributes,
        "respondents": total,
        "respondents_changed": changed_rows,
        "country_levels": dict(sorted(generalised.items())) if country_at is not None else {},
        "suppressed_values": dict(sorted(suppressed.items())),
        "suppressed_share": round(sum(suppressed.values()) / cells, 6) if cells else 0.0,
        "classes": len(released_counts),
        "smallest_class": min(sizes) if sizes else None,
    }
