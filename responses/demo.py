"""Synthetic responses for the demo, generated from the figures the NetClean Report 2017 published.

They are written straight as released responses (there is no officer behind them, so there is nothing
to seal or shuffle away). Shares are hit exactly by largest-remainder allocation; everything else is
drawn from a seeded generator, so the demo is the same on every machine.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.db import transaction

from responses.services import responses_write_released
from surveys.models import Edition
from surveys.reference import REFERENCE_DIR
from surveys.selectors import edition_questionnaire

OTHER_COUNTRIES = [
    "AF", "AR", "BE", "BR", "CL", "HR", "CY", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IL", "IT", "LV",
    "LI", "NZ", "PH", "CH", "SG", "SI", "ES", "ZA", "TH", "AE",
]  # fmt: skip


UNCODABLE = [
    "Hard to say.",
    "Many different reasons.",
    "Difficult to put in a few words.",
    "See my earlier answers.",
]


def published(label: str) -> dict[str, Any]:
    return json.loads((REFERENCE_DIR / f"published-{label}.json").read_text())  # type: ignore[no-any-return]


def allocate(n: int, shares: Mapping[str, float], *, leftover: str | None = None) -> list[str]:
    """n labels whose counts are the `shares` (percentages of n), rounded to the nearest person.

    Published percentages are rounded and may not add up to 100: whatever rounding leaves over (or
    takes too much) goes to `leftover` (by default the largest share)."""
    counts = {k: round(n * v / 100) for k, v in shares.items()}
    rest = leftover or max(shares, key=lambda k: shares[k])
    counts[rest] += n - sum(counts.values())
    return [k for k, c in counts.items() for _ in range(c)]


def pick_members(rng: random.Random, people: Sequence[int], share_pct: float) -> set[int]:
    """round(share * len(people)) distinct members of `people`."""
    return set(rng.sample(list(people), round(len(people) * share_pct / 100)))


def _lognormal_int(rng: random.Random, median: float, sigma: float, upper: int) -> int:
    return max(0, min(upper, round(rng.lognormvariate(math.log(median), sigma))))


def _corpus(path: Path | None) -> dict[str, list[dict[str, Any]]]:
    """Free-text answers written for each category of the coding frames: {item: [{text, codes}]}."""
    candidates = (
        [path]
        if path
        else [Path(__file__).resolve().parent.parent / "coding" / "reference" / "answers-2017.json"]
    )
    for candidate in candidates:
        if candidate and candidate.exists():
            data = json.loads(candidate.read_text())
            return data.get("items", data)  # type: ignore[no-any-return]
    return {}


def _coded_texts(
    rng: random.Random, corpus: Sequence[dict[str, Any]], writers: Sequence[int], shares: Mapping[str, float]
) -> dict[int, tuple[str, list[str]]]:
    """Give each writer a text (and its categories) following the published shares of respondents."""
    by_code: dict[str, list[str]] = {}
    for entry in corpus:
        if len(entry.get("codes", [])) == 1:
            by_code.setdefault(entry["codes"][0], []).append(entry["text"])
    chosen: dict[int, list[str]] = {w: [] for w in writers}
    for code, pct in shares.items():
        if by_code.get(code):
            for writer in pick_members(rng, writers, pct):
                chosen[writer].append(code)
    texts: dict[int, tuple[str, list[str]]] = {}
    for writer, codes in chosen.items():
        if codes:
            texts[writer] = (" ".join(rng.choice(by_code[c]) for c in codes), codes)
        else:  # shares are of everyone who wrote something, so some answers fit no category
            texts[writer] = (rng.choice(UNCODABLE), [])
    return texts


def demo_payloads_2017(*, seed: int = 2017, corpus_path: Path | None = None) -> list[dict[str, Any]]:
    figures = published("2017")["figures"]
    n = published("2017")["respondents"]
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    corpus = _corpus(corpus_path)
    people = list(range(n))
    answers: list[dict[str, Any]] = [{} for _ in people]
    codes_of: list[dict[str, list[str]]] = [{} for _ in people]  # the categories each text was written for

    def assign(code: str, values: list[str]) -> None:
        rng.shuffle(values)
        for person, value in zip(people, values, strict=True):
            answers[person][code] = value

    countries = allocate(n, figures["country_share_pct"], leftover="Others")
    others = [c for c in countries if c == "Others"]
    countries = [c for c in countries if c != "Others"] + [
        OTHER_COUNTRIES[i % len(OTHER_COUNTRIES)] for i in range(len(others))
    ]
    assign("country", countries)
    assign(
        "agency_type",
        allocate(n, {"national": 30, "regional": 28, "local": 36, "international": 2, "other": 4}),
    )
    assign("workload_change", allocate(n, {"increased": 75.0, "unchanged": 22.8, "decreased": 2.3}))
    assign(
        "better_equipped",
        allocate(
            n, {"yes": figures["better_equipped_yes_pct"], "no": 100 - figures["better_equipped_yes_pct"]}
        ),
    )
    assign("offender_marital", allocate(n, {**figures["offender_marital_pct"], "single": 18.0}))
    assign(
        "children_proximity",
        allocate(n, {"very_common": 24, "common": 38, "occasionally": 22, "uncommon": 14, "never": 2}),
    )
    assign("offender_employment", allocate(n, {"employed": 62, "equal": 31, "unemployed": 7}))
    assign(
        "offender_changed",
        allocate(
            n, {"no": figures["offender_changed_no_pct"], "yes": 100 - figures["offender_changed_no_pct"]}
        ),
    )
    correlation = figures["viewing_handson_correlation_pct"]
    assign(
        "viewing_handson_correlation",
        allocate(
            n,
            {
                "none": correlation["none"],
                "rare": correlation["rare"],
                "occasionally": correlation["occasionally"],
                "common": 16,
                "very_common": 9,
                "most_cases": 5,
            },
        ),
    )
    for row, shares in figures["access_grid_pct"].items():
        assign(row, allocate(n, shares))
    for row, shares in {
        "contact_parent": (45, 45, 10),
        "contact_relative": (35, 55, 10),
        "contact_friends": (15, 65, 20),
        "contact_internet": (30, 55, 15),
        "contact_recreation": (12, 60, 28),
        "contact_workplace": (5, 45, 50),
        "contact_travel": (4, 36, 60),
    }.items():
        assign(row, allocate(n, dict(zip(("very_common", "common", "uncommon"), shares, strict=True))))
    assign(
        "workplace_private",
        allocate(
            n, {"yes": figures["workplace_private_yes_pct"], "no": 100 - figures["workplace_private_yes_pct"]}
        ),
    )
    assign(
        "workplace_public",
        allocate(
            n, {"yes": figures["workplace_public_yes_pct"], "no": 100 - figures["workplace_public_yes_pct"]}
        ),
    )

    for person in people:
        a = answers[person]
        a["offender_age"] = sorted(rng.sample(["20_30", "30_40", "40_50", "50_60"], rng.choice([1, 2, 2, 3])))
        if a["better_equipped"] == "yes":
            reasons = rng.sample(
                ["tools", "project_vic", "education", "resources", "collaboration"], rng.randint(1, 3)
            )
            if rng.random() < 0.05:
                reasons.append("other")
                a["better_equipped_other"] = rng.choice(
                    ["New triage software", "A dedicated victim identification team"]
                )
            a["better_equipped_reasons"] = reasons
        # 90 % of average cases hold fewer than 50,000 CSAM images; more than half under 10 hours of film.
        csam = _lognormal_int(rng, 8_000, 1.4, 2_000_000)
        a["avg_case_images_csam"] = csam
        a["avg_case_images_total"] = csam + _lognormal_int(rng, 60_000, 1.2, 50_000_000)
        a["avg_case_video_hours"] = str(round(rng.lognormvariate(math.log(8), 1.1), 1))
        largest = _lognormal_int(rng, 600_000, 1.3, 1_000_000_000)
        a["largest_case_images_total"] = largest
        a["largest_case_images_csam"] = round(largest * rng.uniform(0.05, 0.6))
        a["largest_case_terabytes"] = str(round(rng.lognormvariate(math.log(6), 1.0), 1))

    increased = [p for p in people if answers[p]["workload_change"] == "increased"]
    writers = rng.sample(increased, round(len(increased) * 0.8))
    for person, (text, codes) in _coded_texts(
        rng, corpus.get("workload_reasons", []), writers, figures["workload_reasons_pct"]
    ).items():
        answers[person]["workload_reasons"] = text
        codes_of[person]["workload_reasons"] = codes
    commenters = rng.sample(people, round(n * 0.4))
    for person, (text, codes) in _coded_texts(
        rng,
        corpus.get("offender_professions", []),
        commenters,
        figures["offender_professions_pct_of_commenters"],
    ).items():
        answers[person]["offender_professions"] = text
        codes_of[person]["offender_professions"] = codes
    changed = [p for p in people if answers[p]["offender_changed"] == "yes"]
    for person, (text, codes) in _coded_texts(
        rng, corpus.get("offender_change_how", []), changed, {"younger": 40, "tech_savvy": 55}
    ).items():
        answers[person]["offender_change_how"] = text
        codes_of[person]["offender_change_how"] = codes
    trend_writers = rng.sample(people, round(n * 0.9))
    for person, (text, codes) in _coded_texts(
        rng, corpus.get("trends", []), trend_writers, figures["trends_pct"]
    ).items():
        answers[person]["trends"] = text
        codes_of[person]["trends"] = codes

    rescued = _totalled_counts(rng, n, figures["children_rescued_total"])
    for person, count in zip(people, rescued, strict=True):
        answers[person]["children_rescued"] = count
    return [{"answers": a, "codes": c} for a, c in zip(answers, codes_of, strict=True)]


def _totalled_counts(rng: random.Random, n: int, total: int) -> list[int]:
    """n non-negative counts, many zero, adding up to `total` exactly."""
    weights = [rng.expovariate(1.0) if rng.random() < 0.7 else 0.0 for _ in range(n)]
    scale = total / sum(weights)
    counts = [math.floor(w * scale) for w in weights]
    for i in sorted(range(n), key=lambda i: weights[i] * scale - counts[i], reverse=True)[
        : total - sum(counts)
    ]:
        counts[i] += 1
    return counts


def demo_payloads_2016(
    *, seed: int = 2016, respondents: int = 360, corpus_path: Path | None = None
) -> list[dict[str, Any]]:
    figures = published("2016")["figures"]
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    corpus = _corpus(corpus_path)
    people = list(range(respondents))
    answers: list[dict[str, Any]] = [{} for _ in people]
    codes_of: list[dict[str, list[str]]] = [{} for _ in people]  # the categories each text was written for
    countries = allocate(
        respondents, {"US": 52, "GB": 13, "SE": 7, "CA": 5, "AU": 4, "NO": 4, "Others": 15}, leftover="Others"
    )
    countries = [
        c if c != "Others" else OTHER_COUNTRIES[i % len(OTHER_COUNTRIES)] for i, c in enumerate(countries)
    ]
    rng.shuffle(countries)
    workload = allocate(respondents, {"increased": 72, "unchanged": 25, "decreased": 3})
    rng.shuffle(workload)
    equipped = allocate(
        respondents,
        {"yes": figures["better_equipped_yes_pct"], "no": 100 - figures["better_equipped_yes_pct"]},
    )
    rng.shuffle(equipped)
    for person in people:
        answers[person].update(
            country=countries[person], workload_change=workload[person], better_equipped=equipped[person]
        )
    increased = [p for p in people if answers[p]["workload_change"] == "increased"]
    reasons = {
        "more_data": 30,
        "technology": figures["workload_reasons_pct"]["technology"],
        "more_cases": 15,
        "lack_resources": 10,
    }
    for person, (text, codes) in _coded_texts(
        rng, corpus.get("workload_reasons", []), rng.sample(increased, round(len(increased) * 0.8)), reasons
    ).items():
        answers[person]["workload_reasons"] = text
        codes_of[person]["workload_reasons"] = codes
    trends = {
        "apps_chatrooms": figures["trends_social_media_chat_apps_combined_pct"],
        "anonymisation": 14,
        "encryption": 9,
        "cloud_storage": 8,
    }
    for person, (text, codes) in _coded_texts(
        rng, corpus.get("trends", []), rng.sample(people, round(respondents * 0.9)), trends
    ).items():
        answers[person]["trends"] = text
        codes_of[person]["trends"] = codes
    for person, count in zip(
        people, _totalled_counts(rng, respondents, figures["children_rescued_total"]), strict=True
    ):
        answers[person]["children_rescued"] = count
    return [{"answers": a, "codes": c} for a, c in zip(answers, codes_of, strict=True)]


@transaction.atomic
def demo_release(*, edition: Edition, payloads: list[dict[str, Any]]) -> int:
    """Write synthetic payloads as released responses, validated by the edition's questionnaire."""
    questionnaire = edition_questionnaire(edition)
    cleaned = [{"answers": questionnaire.clean_answers(p["answers"])} for p in payloads]
    return responses_write_released(edition_id=edition.pk, payloads=cleaned)


def demo_code_sample(
    *, edition: Edition, payloads: list[dict[str, Any]], share: float = 0.3, seed: int = 7
) -> int:
    """Human codes for a sample of the free-text answers: the categories each text was written for, as an
    analyst would code them (coder "demo"). The reference codebooks are imported first."""
    from coding.services import answer_codes_set, codebooks_import_reference
    from responses.models import Answer

    codebooks_import_reference(edition=edition)
    codes_by_text = {
        (item, payload["answers"][item]): codes
        for payload in payloads
        for item, codes in payload.get("codes", {}).items()
    }
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    answers = list(
        # Ordered by content, not by the random ids, so that the same seed draws the same sample every time.
        Answer.objects.filter(item__edition=edition, text__isnull=False)
        .select_related("item")
        .order_by("item__code", "text", "id")
    )
    coded = 0
    for answer in rng.sample(answers, round(len(answers) * share)):
        codes = codes_by_text.get((answer.item.code, answer.text))
        if codes is not None:
            answer_codes_set(answer_id=answer.pk, codes=codes, coder="demo")
            coded += 1
    return coded
