"""Synthetic answers to the 2017 reference questionnaire, for tests and the export benchmark only.

A few large countries and many small ones, so k-anonymity has real work to do; free text now and then.
"""

from __future__ import annotations

import random
from typing import Any

BIG_COUNTRIES = ["SE", "DE", "GB", "US", "NL", "FR"]
SMALL_COUNTRIES = ["IS", "LU", "MT", "EE", "LV", "CY", "NZ", "UY", "KE", "SG", "BT", "FJ"]
AGENCIES = ["national", "regional", "local", "international", "other"]
TEXTS = [
    "More data and more devices per case",
    "Cloud storage makes seizures slower",
    "Encrypted messaging apps",
    "We need better triage tools and more staff",
    "Offenders increasingly use the darknet",
    "Nothing to add",
]


def synthetic_answers(rng: random.Random, n: int = 0) -> dict[str, Any]:
    country = rng.choice(BIG_COUNTRIES) if rng.random() < 0.9 else rng.choice(SMALL_COUNTRIES)
    answers: dict[str, Any] = {
        "country": country,
        "agency_type": rng.choices(AGENCIES, weights=[50, 30, 15, 3, 2])[0],
        "workload_change": rng.choice(["increased", "unchanged", "decreased"]),
        "better_equipped": rng.choice(["yes", "no"]),
        "avg_case_images_total": rng.randint(1000, 100000),
        "avg_case_video_hours": f"{rng.randint(0, 400) / 4}",
        "offender_age": sorted(rng.sample(["20_30", "30_40", "40_50", "50_60"], rng.randint(1, 3))),
        "access_family": rng.choice(["very_common", "common", "uncommon"]),
        "viewing_handson_correlation": rng.choice(["none", "rare", "common"]),
        "children_rescued": rng.randint(0, 50),
    }
    answers["avg_case_images_csam"] = rng.randint(0, answers["avg_case_images_total"])
    if answers["workload_change"] == "increased" and rng.random() < 0.5:
        answers["workload_reasons"] = f"{rng.choice(TEXTS)} ({n % 97})"
    if answers["better_equipped"] == "yes":
        answers["better_equipped_reasons"] = sorted(rng.sample(["tools", "education", "resources"], 2))
    if rng.random() < 0.3:
        answers["trends"] = rng.choice(TEXTS)
    return answers
