"""Reads of free-text coding. The three public selectors (item_category_counts, final_codes,
codebook_for) are called by results and exports; their signatures are a contract.

Final codes (the rule is in coding/finals.py) are read from the tables that keep them."""

from __future__ import annotations

import operator
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from coding.finals import ADJUDICATED
from coding.models import (
    AnswerCode,
    AutoCoding,
    Category,
    CategorySeen,
    Codebook,
    CodeSource,
    CodingRun,
    FinalCode,
    FinalCoding,
    FinalFilled,
    FinalUnknown,
    HumanCoding,
    ReviewItem,
    RunKind,
    RunStatus,
)
from coding.training import ALPHA_HUMAN_ONLY, CODEBOOK_TEXTS_BELOW_HUMAN_CODED
from responses.models import Answer
from surveys.models import Item

# Not a source of final codes: the key under which counts of respondents with filled gaps travel with
# the counts per source (item_category_counts' `counted`, results/tallies.py).
FILLED = "filled"


def _item_id(edition_id: int, item_code: str) -> int | None:
    return Item.objects.filter(edition_id=edition_id, code=item_code).values_list("id", flat=True).first()


def _finals(
    model: type[FinalCode] | type[FinalCoding] | type[FinalUnknown] | type[FinalFilled],
    edition_id: int,
    item_code: str,
    response_ids: Any = None,
) -> QuerySet[Any]:
    """The kept final codes (coding/finals.py) of an item, of the given respondents only if asked."""
    qs = model.objects.filter(item_id=_item_id(edition_id, item_code))
    return qs if response_ids is None else qs.filter(response_id__in=response_ids)


def item_category_counts(
    *,
    edition_id: int,
    item_code: str,
    response_ids: QuerySet[Any] | None = None,
    counted: tuple[dict[str, int], dict[str, int], dict[str, int]] | None = None,
) -> dict[str, Any]:
    """Respondents per category among those whose answer to the item has final codes.

    {"n": respondents with a final-coded answer, "n_human": those whose answer has human codes,
    "counts": {code: respondents}, "bases": {code: its share's denominator}, "unknown": {code:
    respondents whose final codes say nothing about it}, "method": "human" | "automatic" | "mixed" |
    "none", "human_only": [codes flagged human coding only]}. Shares are counts / bases and add up to
    more than 100 % (multi-label). A category's base is n less the respondents unknown for it (their
    coder was not offered it, or their automatic codes' run did not cover it: coding/finals.py); a
    "human coding only" category is counted among human-coded answers alone, so its base starts from
    n_human. A respondent answers an item once, so answers count respondents.

    "filled": respondents whose human codes have a gap a trained run decided (coding/finals.py), which
    makes the method "mixed".

    `counted`: the respondents per category code, per source (and FILLED) and unknown per category code,
    if already counted (results' filter tallies, results/tallies.py); otherwise they are counted here."""
    if counted is not None:
        counts, per_source, unknown = counted
    else:
        # COUNT(*): the (item, category, id) and (item, source) indexes answer alone.
        counts, unknown = (
            {
                row["category__code"]: row["n"]
                for row in _finals(model, edition_id, item_code, response_ids)
                .values("category__code")
                .annotate(n=Count("*"))
            }
            for model in (FinalCode, FinalUnknown)
        )
        per_source = {
            row["source"]: row["n"]
            for row in _finals(FinalCoding, edition_id, item_code, response_ids)
            .values("source")
            .annotate(n=Count("*"))
        }
        per_source[FILLED] = filled_count(
            edition_id=edition_id, item_code=item_code, response_ids=response_ids
        )
    codebook = {c["code"]: c for c in codebook_for(edition_id=edition_id, item_code=item_code)}
    filled = per_source.get(FILLED, 0)
    n_human = per_source.get("human", 0)
    n = n_human + per_source.get("auto", 0)
    sources = {s for s, k in per_source.items() if k and s != FILLED}
    # Human codes with gaps a trained run filled are mixed figures, even where no answer is automatic.
    method = (
        "none"
        if not sources
        else "mixed"
        if len(sources) > 1 or filled
        else "human"
        if "human" in sources
        else "automatic"
    )
    shown = [code for code in codebook if counts.get(code) or not codebook[code]["retired"]]
    return {
        "n": n,
        "n_human": n_human,
        "counts": {code: counts.get(code, 0) for code in shown},
        "bases": {
            code: (n_human if codebook[code]["human_only"] else n) - unknown.get(code, 0) for code in shown
        },
        "unknown": {code: k for code, k in unknown.items() if k},
        "filled": filled,
        "method": method,
        "human_only": sorted(code for code, c in codebook.items() if c["human_only"]),
    }


def filled_count(*, edition_id: int, item_code: str, response_ids: QuerySet[Any] | None = None) -> int:
    """Respondents whose human codes have a gap a trained run decided (FinalFilled, coding/finals.py): the
    one count behind the figures' "mixed" method (item_category_counts; results/tallies.py counts the same
    rows per filter) and the coding screen's sentence about them (coding_progress), so the two agree.
    A gap in a category retired since counts: its decision stays among the final codes (a retired
    category's figure is still shown while it has codes) until a person decides it."""
    return _finals(FinalFilled, edition_id, item_code, response_ids).values("answer_id").distinct().count()


def coded_answer_sample(
    *, edition_id: int, item_code: str, per_category: int, response_ids: QuerySet[Any] | None = None
) -> dict[str, list[uuid.UUID]]:
    """category code → up to `per_category` ids of answers whose final codes include it, in a random
    order that stays until the item's final codes are written again (FinalCode's random key)."""
    ranked = (
        _finals(FinalCode, edition_id, item_code, response_ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("category_id")], order_by=[F("id")]))
        .filter(rank__lte=per_category)
        .order_by("category__code", "rank")
        .values_list("category__code", "answer_id")
    )
    out: dict[str, list[uuid.UUID]] = {}
    for code, answer_id in ranked:
        out.setdefault(code, []).append(answer_id)
    return out


def final_codes(*, edition_id: int, item_code: str) -> dict[uuid.UUID, set[str]]:
    """answer id → final category codes (an empty set: coded, no category applies)."""
    return _final_sets(edition_id, item_code, {})


def final_unknown(*, edition_id: int, item_code: str) -> dict[str, set[uuid.UUID]]:
    """category code → the final-coded answers whose final codes say nothing about it (coding/finals.py:
    their coder was not offered it, or their run did not cover it); empty until a category is added or
    retired."""
    out: dict[str, set[uuid.UUID]] = {}
    rows = _finals(FinalUnknown, edition_id, item_code).values_list("category__code", "answer_id")
    for code, answer_id in rows:
        out.setdefault(code, set()).add(answer_id)
    return out


def human_coding_gaps(*, edition_id: int, item_code: str) -> dict[str, set[uuid.UUID]]:
    """category code → the human-coded answers whose deciding coders were not offered it (coding/finals.py:
    gaps), whether a trained run filled them or not: never a human label for it."""
    unfilled = _finals(FinalUnknown, edition_id, item_code).filter(source=CodeSource.HUMAN)
    filled = _finals(FinalFilled, edition_id, item_code)
    out: dict[str, set[uuid.UUID]] = {}
    for rows in (unfilled, filled):
        for code, answer_id in rows.values_list("category__code", "answer_id"):
            out.setdefault(code, set()).add(answer_id)
    return out


def final_code_sources(*, edition_id: int, item_code: str) -> dict[uuid.UUID, str]:
    return dict(_finals(FinalCoding, edition_id, item_code).values_list("pk", "source"))


def answers_final_codes(answer_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """answer id → its final codes by code (as PUT answers), [{"code", "source": "human" | "auto",
    "probability"}] (the trained model's probability of an automatic code; None for a human one); [] for
    an answer without final codes. Reads the kept final codes of these answers only (coding/finals.py),
    so a category flagged "human coding only" is never listed as an automatic code."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {a: [] for a in answer_ids}
    finals = (
        FinalCode.objects.filter(answer_id__in=answer_ids)
        .order_by("category__code")
        .values_list("answer_id", "category_id", "category__code", "source")
    )
    automatic = AnswerCode.objects.filter(answer_id__in=answer_ids, source=CodeSource.AUTO, accepted=True)
    probabilities = {
        (answer_id, category_id): probability
        for answer_id, category_id, probability in automatic.values_list(
            "answer_id", "category_id", "probability"
        )
    }
    for answer_id, category_id, code, source in finals:
        probability = probabilities.get((answer_id, category_id)) if source == CodeSource.AUTO else None
        out[answer_id].append({"code": code, "source": source, "probability": probability})
    return out


def human_final_codes(*, edition_id: int, item_code: str) -> dict[uuid.UUID, set[str]]:
    """final_codes of the answers people coded."""
    return _final_sets(edition_id, item_code, {"source": CodeSource.HUMAN})


def _final_sets(edition_id: int, item_code: str, where: dict[str, Any]) -> dict[uuid.UUID, set[str]]:
    coded = _finals(FinalCoding, edition_id, item_code).filter(**where).values_list("pk", flat=True)
    out: dict[uuid.UUID, set[str]] = {answer_id: set() for answer_id in coded}
    codes = _finals(FinalCode, edition_id, item_code).filter(**where)
    for answer_id, code in codes.values_list("answer_id", "category__code"):
        out[answer_id].add(code)
    return out


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


@dataclass(frozen=True)
class CategoryUsage:
    """What removing a category would touch: the codes people gave with it, the human codings it was
    offered to (ticked or not: an unticked one is that person's "no"), a trained run's decisions on it
    (given or not: the record of what the run decided) and zero-shot suggestions of it."""

    human: int = 0
    automatic: int = 0
    suggestions: int = 0
    offered: int = 0

    @property
    def used(self) -> bool:
        """A used category is retired, never deleted (coding.services.category_remove): its codes, and the
        "no" of every coder it was offered to, are history and old figures (a category offered to all and
        ticked by none is a measured 0 %). Suggestions were never codes: they go with a deleted category."""
        return bool(self.human or self.automatic or self.offered)


def category_usage(*, category_ids: Iterable[int]) -> dict[int, CategoryUsage]:
    """category id → its usage (zeros for one nobody used); two grouped queries."""
    ids = list(category_ids)
    counted: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        AnswerCode.objects.filter(category_id__in=ids)
        .values("category_id", "source")
        .annotate(n=Count("*"))
        .values_list("category_id", "source", "n")
    )
    for category_id, source, n in rows:
        counted[category_id][source] = n
    offered = dict(
        CategorySeen.objects.filter(category_id__in=ids)
        .values("category_id")
        .annotate(n=Count("*"))
        .values_list("category_id", "n")
    )
    return {
        pk: CategoryUsage(
            human=counted[pk].get(CodeSource.HUMAN, 0),
            automatic=counted[pk].get(CodeSource.AUTO, 0),
            suggestions=counted[pk].get(CodeSource.SUGGESTION, 0),
            offered=offered.get(pk, 0),
        )
        for pk in ids
    }


def codebooks_of_edition(*, edition_id: int) -> QuerySet[Codebook]:
    # The categories a coder is offered: a retired one stays in the codebook (it has codes) but not on screen.
    return Codebook.objects.filter(edition_id=edition_id).annotate(
        n_categories=Count("categories", filter=Q(categories__retired=False))
    )


# The coding screen's and the API's filters of an item's answers (item_answers), with their names.
ITEM_ANSWER_FILTERS = {
    "": "All",
    "uncoded": "Uncoded by me",
    "automatic": "Automatic",
    "low_confidence": "Low confidence",
    "disagreement": "Disagreement",
    "incomplete": "Coded by me before a category was added",
}


def item_answers(
    *,
    edition_id: int,
    item_code: str,
    coder: str | None = None,
    filter: str = "",
    search: str = "",
) -> QuerySet[Answer]:
    """Free-text answers of an item, filtered as the coding screen asks: uncoded (by this coder),
    automatic (auto-coded, no human code), low confidence (in the review queue, most useful first),
    disagreement (two coders differ, not yet adjudicated) and incomplete (this coder's coding was not
    offered a category now active, so its final codes may say nothing about it: re-saving completes it)."""
    qs = Answer.objects.filter(item__edition_id=edition_id, item__code=item_code, text__isnull=False)
    # No stored text holds NUL (Item.clean_answer refuses it) and PostgreSQL refuses it in a query.
    search = search.replace("\x00", "")
    if search:
        # Answers are stored as typed: an accented letter composed or as a letter plus a combining mark
        # (some tools write it so). Either form of the term finds both.
        forms = {unicodedata.normalize(form, search) for form in ("NFC", "NFD")}
        qs = qs.filter(reduce(operator.or_, (Q(text__icontains=form) for form in forms)))
    human = HumanCoding.objects.filter(answer_id=OuterRef("pk"))
    if filter == "uncoded":
        qs = qs.exclude(Exists(human.filter(coder=coder) if coder else human))
    elif filter == "automatic":
        qs = qs.filter(Exists(AutoCoding.objects.filter(answer_id=OuterRef("pk")))).exclude(Exists(human))
    elif filter == "low_confidence":
        return _review_ordered(qs.exclude(Exists(human)))
    elif filter == "disagreement":
        ids = disagreement_answer_ids(edition_id=edition_id, item_code=item_code)
        qs = qs.filter(pk__in=ids)
    elif filter == "incomplete":
        qs = qs.filter(pk__in=_codings_not_offered_every_category(edition_id, item_code, coder))
    return qs.order_by("id")


def _codings_not_offered_every_category(edition_id: int, item_code: str, coder: str | None) -> QuerySet[Any]:
    """The answers whose coding by `coder` (by anyone but the adjudicated set, if None) was not offered
    every active category of the item's codebook (HumanCoding.categories_seen)."""
    active = Category.objects.filter(
        codebook__edition_id=edition_id, codebook__item_code=item_code, retired=False
    ).count()
    codings = HumanCoding.objects.filter(answer__item__edition_id=edition_id, answer__item__code=item_code)
    codings = codings.filter(coder=coder) if coder else codings.exclude(coder=ADJUDICATED)
    return (
        codings.annotate(offered=Count("categories_seen", filter=Q(categories_seen__retired=False)))
        .filter(offered__lt=active)
        .values("answer_id")
    )


def _review_ordered(qs: QuerySet[Answer]) -> QuerySet[Answer]:
    """The answers of `qs` in the review queue, most useful first. The caller leaves out the answers a
    person coded: saving codes takes an answer out of the queue, but a run that read the answers before
    it puts it back when it finishes."""
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


def _codes_by_coder(**answers: Any) -> dict[uuid.UUID, dict[str, list[str]]]:
    """answer id → coder → the categories that person gave ([] = none applies), in codebook order, for
    the answers `answers` selects (HumanCoding/AnswerCode filter arguments); the adjudicated set apart."""
    out: dict[uuid.UUID, dict[str, list[str]]] = defaultdict(dict)
    for answer_id, coder in (
        HumanCoding.objects.filter(**answers).exclude(coder=ADJUDICATED).values_list("answer_id", "coder")
    ):
        out[answer_id][coder] = []
    for answer_id, coder, code in (
        AnswerCode.objects.filter(source=CodeSource.HUMAN, **answers)
        .exclude(coder=ADJUDICATED)
        .order_by("category__position", "category__code")
        .values_list("answer_id", "coder", "category__code")
    ):
        if coder in out.get(answer_id, {}):
            out[answer_id][coder].append(code)
    return out


def _seen_by_coder(**answers: Any) -> dict[uuid.UUID, dict[str, set[str]]]:
    """answer id → coder → the categories that person was offered (HumanCoding.categories_seen), for the
    answers `answers` selects (as _codes_by_coder); the adjudicated coding apart."""
    out: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    rows = (
        CategorySeen.objects.filter(**{f"coding__{key}": value for key, value in answers.items()})
        .exclude(coding__coder=ADJUDICATED)
        .values_list("coding__answer_id", "coding__coder", "category__code")
    )
    for answer_id, coder, code in rows:
        out[answer_id][coder].add(code)
    return out


def coders_codes(answer_ids: list[uuid.UUID], *, coder: str) -> dict[uuid.UUID, dict[str, Any]]:
    """For settling disagreements, per answer: "coders", each person's codes ([] = none applies), the
    caller's first and marked "you" (coders stay unnamed); "agreed", the codes all of them gave (where
    the adjudicated set starts)."""
    return {
        answer_id: {
            "coders": sorted(
                ({"you": who == coder, "codes": codes} for who, codes in by_coder.items()),
                key=lambda c: not c["you"],
            ),
            "agreed": set.intersection(*(set(codes) for codes in by_coder.values())),
        }
        for answer_id, by_coder in _codes_by_coder(answer_id__in=answer_ids).items()
    }


def disagreement_answer_ids(*, edition_id: int, item_code: str) -> list[uuid.UUID]:
    """The answers two or more coders coded differently, not yet adjudicated. Only the categories every
    one of them was offered are compared: a coder who was not offered a category did not say "no"."""
    filt = {"answer__item__edition_id": edition_id, "answer__item__code": item_code}
    adjudicated = set(
        HumanCoding.objects.filter(coder=ADJUDICATED, **filt).values_list("answer_id", flat=True)
    )
    seen = _seen_by_coder(**filt)
    out = []
    for answer_id, by_coder in _codes_by_coder(**filt).items():
        if answer_id in adjudicated or len(by_coder) < 2:
            continue
        common = set.intersection(*(seen[answer_id][coder] for coder in by_coder))
        if len({frozenset(set(codes) & common) for codes in by_coder.values()}) > 1:
            out.append(answer_id)
    return out


def coder_agreement(*, edition_id: int, item_code: str) -> dict[str, Any]:
    """Krippendorff's alpha between human coders on the answers at least two of them coded (blind
    double coding), per category and overall (every answer-category pair a unit). Every coder of an
    answer counts: alpha takes any number of values per unit (NaN where an answer has fewer, and where
    a coder was not offered the category: not offered is not "no")."""
    from coding.training import alpha_nominal

    filt = {"answer__item__edition_id": edition_id, "answer__item__code": item_code}
    by_answer = _codes_by_coder(**filt)
    seen = _seen_by_coder(**filt)
    doubles = [
        [(set(given), seen[answer_id][coder]) for coder, given in c.items()]
        for answer_id, c in by_answer.items()
        if len(c) >= 2
    ]
    codes = [c["code"] for c in codebook_for(edition_id=edition_id, item_code=item_code)]
    if not doubles:
        return {"units": 0, "overall": None, "categories": {}}
    # (coder slot, answer, category); a unit's values, not who gave them, enter alpha.
    values = np.full((max(len(d) for d in doubles), len(doubles), len(codes)), np.nan)
    for unit, sets in enumerate(doubles):
        for slot, (given, offered) in enumerate(sets):
            values[slot, unit] = [1.0 if c in given else 0.0 if c in offered else np.nan for c in codes]
    per = {code: alpha_nominal(values[:, :, k]) for k, code in enumerate(codes)}
    return {
        "units": len(doubles),
        "overall": alpha_nominal(values.reshape(values.shape[0], -1)),
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
    # Final codes that say nothing about an active category (coded before it was added, coding/finals.py):
    # a person completes theirs by coding the answer again, a run by running again. One query, by source.
    incomplete = dict(
        FinalUnknown.objects.filter(answer__in=answers, category__retired=False)
        .values("source")
        .annotate(n=Count("answer", distinct=True))
        .values_list("source", "n")
    )
    return {
        "answers": total,
        "human": human,
        "automatic": auto,
        "uncoded": max(total - human - auto, 0),
        "incomplete": incomplete.get(CodeSource.HUMAN, 0),
        "incomplete_automatic": incomplete.get(CodeSource.AUTO, 0),
        # Human-coded answers with a gap a trained run decided (until a person codes them again): the
        # respondents that make the figures "mixed", counted as the figures count them.
        "filled": filled_count(edition_id=edition_id, item_code=item_code),
        "review": ReviewItem.objects.filter(answer__in=answers)
        .exclude(Exists(HumanCoding.objects.filter(answer_id=OuterRef("answer_id"))))
        .count(),
    }


def coding_runs(*, edition_id: int, item_code: str) -> QuerySet[CodingRun]:
    return CodingRun.objects.filter(edition_id=edition_id, item_code=item_code).order_by("-queued_at")


def latest_trained_run_report(*, edition_id: int, item_code: str) -> dict[str, Any] | None:
    """What the item's latest succeeded trained run learnt from and how well it agreed with the human
    codes out of fold, per category (the run's own metrics), for the coding screen; None before one."""
    run = (
        CodingRun.objects.filter(
            edition_id=edition_id, item_code=item_code, kind=RunKind.TRAINED, status=RunStatus.SUCCEEDED
        )
        .order_by("-finished_at")
        .first()
    )
    if run is None or "cross_validation" not in run.metrics:
        return None
    metrics = run.metrics
    cv = metrics["cross_validation"]
    thresholds = cv.get("thresholds", {})
    shares = metrics.get("estimated_shares", {})
    flagged = set(metrics.get("human_only", []))
    # Deleted or retired while the run worked: learnt and estimated, but given no codes.
    dropped = metrics.get("categories_dropped", {})
    labels = dict(
        Category.objects.filter(codebook__edition_id=edition_id, codebook__item_code=item_code).values_list(
            "code", "label"
        )
    )
    return {
        "run": run,
        "human_coded": metrics.get("human_coded"),
        "codebook_texts": metrics.get("codebook_texts"),
        "codebook_texts_below": CODEBOOK_TEXTS_BELOW_HUMAN_CODED,
        "folds": cv.get("folds"),
        "relative_cut": cv.get("relative_cut"),
        "max_codes": cv.get("max_codes"),
        "alpha": cv.get("alpha"),
        "micro_f1": cv.get("micro_f1"),
        "macro_f1": cv.get("macro_f1"),
        "alpha_bar": ALPHA_HUMAN_ONLY,
        "categories": [
            {
                "code": code,
                "label": labels.get(code, code),
                **entry,
                "threshold": thresholds.get(code),
                "estimated_share": shares.get(code),
                "human_only": code in flagged,
                "dropped": dropped.get(code),
            }
            for code, entry in cv.get("categories", {}).items()
        ],
    }


def category_of(*, edition_id: int, item_code: str, code: str) -> Category | None:
    return Category.objects.filter(
        codebook__edition_id=edition_id, codebook__item_code=item_code, code=code
    ).first()
