"""Writes of free-text coding: codebooks, human codes and auto-coding runs (keyword-only, typed).

Anonymity: nothing here writes a user id, e-mail or time next to an answer. A human coder is recorded as
`coder_label(user_id=...)`, an HMAC under a setting-held key; auto-coding tasks take a run id only, and
no answer text is logged, raised or sent to Celery.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, ProtectedError, Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from coding.finals import ADJUDICATED, final_codes_refresh, final_unknown_add_category
from coding.models import (
    AnswerCode,
    AutoCoding,
    AutoFill,
    Category,
    Codebook,
    CodeSource,
    CodingRun,
    FinalFilled,
    HumanCoding,
    ReviewItem,
    RunKind,
    RunStatus,
)
from config.faults import fault_pause
from config.jobs import enqueue_on_commit
from responses.models import Answer
from results.cache import results_invalidate
from surveys.definition import has_lone_surrogate
from surveys.models import Edition, Item, ItemType
from surveys.reference import REFERENCE_DIR

logger = logging.getLogger(__name__)

TEXT_TYPES = (ItemType.TEXT, ItemType.LONG_TEXT)
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DEFAULT_SEED = 20170523
# A trained model needs this many human-coded answers; below it a run gives zero-shot suggestions.
MIN_HUMAN_CODED = 10
# Automatic probabilities kept as (unaccepted) suggestions for the screen; below this nothing is stored.
SUGGESTION_FLOOR = 0.2
REVIEW_QUEUE_SIZE = 200


class CodebookInvalid(Exception):
    """A codebook was refused; `errors` says where and why, one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class CategoryDeleteUnconfirmed(Exception):
    """Removing the category would delete it, which cannot be undone, and that was not confirmed."""

    def __init__(self, category: Category, usage: Any) -> None:
        super().__init__(f"{category.code}: deleting it cannot be undone; confirm to delete")
        self.category, self.usage = category, usage


class CodesInvalid(Exception):
    pass


class CodingRunRefused(Exception):
    pass


class CodingRunActive(CodingRunRefused):
    """A run of the item is queued or running: it must finish before another starts."""


# --- codebooks ---------------------------------------------------------------------------------------


def codebook_validate(data: Any, *, where: str = "codebook") -> list[dict[str, Any]]:
    """Normalise a list of categories ({code, label, description?, examples?}) or raise CodebookInvalid."""
    errors: list[str] = []
    if not isinstance(data, list) or not data:
        raise CodebookInvalid([f"{where}: must be a non-empty list of categories"])
    seen: set[str] = set()
    out = []
    for index, raw in enumerate(data):
        at = f"{where}[{index}]"
        if not isinstance(raw, Mapping):
            errors.append(f"{at}: must be an object with code and label")
            continue
        category, problems = _category_clean(raw, at=at)
        errors.extend(problems)
        code = category["code"]
        if not any(p.startswith(f"{at}.code:") for p in problems):  # a code, so a string
            if code in seen:
                errors.append(f"{at}.code: {code!r} appears twice")
            seen.add(code)
        out.append(category)
    if errors:
        raise CodebookInvalid(errors)
    return out


def category_validate(raw: Mapping[str, Any], *, item_code: str) -> dict[str, Any]:
    """One category as the codebook page sends it, normalised, or CodebookInvalid naming it by item and
    code (a list position, as an import's errors give, meant nothing on that page)."""
    category, problems = _category_clean(raw, at=f"{item_code}.{raw.get('code')}")
    if problems:
        raise CodebookInvalid(problems)
    return category


def _category_clean(raw: Mapping[str, Any], *, at: str) -> tuple[dict[str, Any], list[str]]:
    """A category normalised, and what is wrong with it (each problem prefixed with `at`)."""
    errors: list[str] = []
    unknown = set(raw) - {"code", "label", "description", "examples"}
    if unknown:
        errors.append(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
    code, label = raw.get("code"), raw.get("label")
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        errors.append(f"{at}.code: {code!r} is not a code (lower-case letters, digits, _; up to 64)")
    if not isinstance(label, str) or not label.strip() or len(label.strip()) > 200:
        errors.append(f"{at}.label: a label of 1 to 200 characters is required")
    description = raw.get("description", "")
    if not isinstance(description, str):
        errors.append(f"{at}.description: must be text")
    examples = raw.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        errors.append(f"{at}.examples: must be a list of texts")
    texts = {"label": label, "description": description}
    if isinstance(examples, list):
        texts.update({f"examples[{n}]": e for n, e in enumerate(examples)})
    errors.extend(
        f"{at}.{field}: {problem}"
        for field, text in texts.items()
        if isinstance(text, str) and (problem := _unstorable(text))
    )
    category = {
        "code": code,
        "label": (label or "").strip() if isinstance(label, str) else "",
        "description": description if isinstance(description, str) else "",
        "examples": examples if isinstance(examples, list) else [],
    }
    return category, errors


def _unstorable(text: str) -> str:
    """Why PostgreSQL would refuse to store `text` (a 500 at the save), or ""."""
    if "\x00" in text:
        return "must not contain a NUL character"
    if has_lone_surrogate(text):
        return "is not valid Unicode (a lone surrogate)"
    return ""


def _text_item(edition: Edition, item_code: str) -> Item:
    item = Item.objects.filter(edition=edition, code=item_code).first()
    if item is None:
        raise CodebookInvalid([f"{item_code}: no such item in {edition}"])
    if item.type not in TEXT_TYPES:
        raise CodebookInvalid([f"{item_code}: is a {item.type} item; only free-text items have codebooks"])
    return item


def _series_meanings(edition: Edition, item_code: str) -> dict[str, str]:
    """code → label of this item's categories in the other editions of the series."""
    rows = Category.objects.filter(
        codebook__edition__series_id=edition.series_id, codebook__item_code=item_code
    ).exclude(codebook__edition=edition)
    return {row.code: row.label for row in rows}


def _meaning_key(label: str) -> str:
    """A label as compared across editions: case, Unicode normalisation form (an 'é' composed or as 'e'
    plus an accent, as some tools write it) and runs of spaces do not change a meaning."""
    return " ".join(unicodedata.normalize("NFKC", label).casefold().split())


def _check_series_meaning(edition: Edition, item_code: str, categories: Iterable[Mapping[str, Any]]) -> None:
    meanings = _series_meanings(edition, item_code)
    errors = [
        f"{c['code']}: means {meanings[c['code']]!r} in another edition of this series; "
        f"a code means the same in every edition, so use that label or a new code"
        for c in categories
        if c["code"] in meanings and _meaning_key(meanings[c["code"]]) != _meaning_key(c["label"])
    ]
    if errors:
        raise CodebookInvalid(errors)


@transaction.atomic
def codebook_import(*, edition: Edition, item_code: str, categories: Any, source: str = "") -> Codebook:
    """Create or update an item's codebook from a list of categories. Categories not in the list are
    retired if they have codes and deleted otherwise; retired ones that come back are revived."""
    _text_item(edition, item_code)
    cleaned = codebook_validate(categories, where=item_code)
    _check_series_meaning(edition, item_code, cleaned)
    codebook, _ = Codebook.objects.get_or_create(edition=edition, item_code=item_code)
    if source:
        codebook.source = source
        codebook.save(update_fields=["source"])
    wanted = {c["code"] for c in cleaned}
    # Every category row locked first, in id order, as a run's write and a coder's save lock them (key
    # share, id order); update_or_create below would lock them one by one in the list's order, and two
    # orders can deadlock.
    list(codebook.categories.select_for_update().order_by("pk").values_list("pk", flat=True))
    # The list is the caller's instruction (an import, or a carry-over with "replace" ticked): the
    # categories it leaves out go without a second question.
    for category in codebook.categories.exclude(code__in=wanted).order_by("pk"):  # lock order: by id
        category_remove(category=category, delete_confirmed=True)
    for position, data in enumerate(cleaned):
        Category.objects.update_or_create(
            codebook=codebook,
            code=data["code"],
            defaults={
                "label": data["label"],
                "description": data["description"],
                "examples": data["examples"],
                "position": position,
                "retired": False,
            },
        )
    # A new category is unknown for the answers coded so far (coding/finals.py).
    final_codes_refresh(item_id=_text_item(edition, item_code).pk)
    results_invalidate(edition_id=edition.pk)
    return codebook


@transaction.atomic
def codebooks_import_reference(*, edition: Edition, path: Any = None) -> list[Codebook]:
    """The reference coding frames (surveys/reference/codebooks.json) for the edition's items that have
    no codebook yet. One that has is left as analysts made it: importing over it reverted their labels
    and deleted the categories they had added (a second click on the edition page's import button).
    All or nothing: one refused (a code an analyst relabelled in another edition of the series) refuses
    the import, with every item's reasons."""
    raw = json.loads((path or REFERENCE_DIR / "codebooks.json").read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise CodebookInvalid(["codebooks.json: must map item codes to lists of categories"])
    codes = set(
        Item.objects.filter(edition=edition, type__in=TEXT_TYPES)
        .exclude(code__in=Codebook.objects.filter(edition=edition).values("item_code"))
        .values_list("code", flat=True)
    )
    books, errors = [], []
    for item_code, categories in raw.items():
        if item_code not in codes:
            continue
        try:
            books.append(
                codebook_import(
                    edition=edition, item_code=item_code, categories=categories, source="reference"
                )
            )
        except CodebookInvalid as exc:
            errors.extend(f"{item_code}: {error}" for error in exc.errors)
    if errors:
        raise CodebookInvalid(errors)
    return books


@transaction.atomic
def category_create(
    *, codebook: Codebook, code: str, label: str, description: str = "", examples: Sequence[str] = ()
) -> Category:
    data = category_validate(
        {"code": code, "label": label, "description": description, "examples": list(examples)},
        item_code=codebook.item_code,
    )
    _check_series_meaning(codebook.edition, codebook.item_code, [data])
    # The codebook's row is locked until commit, so a second Add of the same code at once (a double
    # click) finds the first and is refused with a message; it passed the check and hit the unique
    # constraint (IntegrityError, a 500).
    Codebook.objects.select_for_update().filter(pk=codebook.pk).exists()
    if codebook.categories.filter(code=code).exists():
        raise CodebookInvalid([f"{code}: already in this codebook"])
    position = (codebook.categories.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    results_invalidate(edition_id=codebook.edition_id)
    category = Category.objects.create(codebook=codebook, position=position, **data)
    # The answers coded so far were not offered it: unknown for it (coding/finals.py).
    final_unknown_add_category(
        item_id=_text_item(codebook.edition, codebook.item_code).pk, category_id=category.pk
    )
    return category


def category_update(
    *, category: Category, label: str, description: str = "", examples: Sequence[str] = ()
) -> Category:
    data = category_validate(
        {"code": category.code, "label": label, "description": description, "examples": list(examples)},
        item_code=category.codebook.item_code,
    )
    # A new label must not give the code another meaning than it has in the series' other editions.
    _check_series_meaning(category.codebook.edition, category.codebook.item_code, [data])
    category.label, category.description, category.examples = (
        data["label"],
        data["description"],
        data["examples"],
    )
    category.save(update_fields=["label", "description", "examples"])
    return category


def category_remove(*, category: Category, delete_confirmed: bool = False) -> str:
    """Retire a category that has codes (history and old figures stay; restoring it undoes that); delete
    one nobody used. Deleting cannot be undone, so it takes `delete_confirmed`: without it nothing changes
    and CategoryDeleteUnconfirmed says what would go (the codebook page asks the analyst first; a page
    loaded while the category still had codes offered a one-click retire, not a delete)."""
    from coding import selectors

    with transaction.atomic():
        # The category's row is locked before its codes are counted, until commit: a coder saving a code
        # of it locks it first (answer_codes_set), so that code is either counted here or refused there.
        # Counted unlocked, a code not yet committed was unseen, and one side failed on the foreign key.
        list(Category.objects.select_for_update().filter(pk=category.pk).values_list("pk"))
        usage = selectors.category_usage(category_ids=[category.pk])[category.pk]
        if not usage.used and not delete_confirmed:
            raise CategoryDeleteUnconfirmed(category, usage)
        results_invalidate(edition_id=category.codebook.edition_id)
        if not usage.used:
            # Only the suggestions go with it. A trained run's codes committed since the count are
            # PROTECTed: the category is then retired instead.
            try:
                with transaction.atomic():
                    AnswerCode.objects.filter(category=category, source=CodeSource.SUGGESTION).delete()
                    category.delete()
                return "deleted"
            except ProtectedError:
                pass
        category.retired = True
        category.save(update_fields=["retired"])
        return "retired"


def _lock_categories(categories: Sequence[Category]) -> set[str]:
    """Key-share locks on the categories a save refers to, until commit (the lock the foreign keys' check
    takes, but at once: Django defers it to the commit); returns the codes of those still there. A delete
    (category_remove) waits for the save, or the save for the delete and then finds the category gone."""
    if not categories or connection.vendor != "postgresql":  # SQLite runs one writer at a time
        return {c.code for c in categories}
    with connection.cursor() as cursor:
        cursor.execute(
            # In id order, as codebook_import removes categories, so the two cannot deadlock.
            f"SELECT code FROM {Category._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608
            [[c.pk for c in categories]],
        )
        return {code for (code,) in cursor.fetchall()}


def category_restore(*, category: Category) -> Category:
    results_invalidate(edition_id=category.codebook.edition_id)
    category.retired = False
    category.save(update_fields=["retired"])
    return category


def codebook_carry_forward(*, codebook: Codebook, to_edition: Edition, replace: bool = False) -> Codebook:
    """Copy a codebook's current categories to the same item of another edition of the series. Over a
    codebook the edition already has only with `replace`: its own categories are deleted (retired once
    used), which silently undid the analysts' work on it."""
    if to_edition.series_id != codebook.edition.series_id:
        raise CodebookInvalid(["a codebook can be carried only to an edition of the same series"])
    if to_edition.pk == codebook.edition_id:
        # Onto itself it was an import of its own active categories: retired ones without codes left were
        # deleted, and the codebook said it had been "carried from" its own edition.
        raise CodebookInvalid(["a codebook is carried to another edition of the series, not to its own"])
    existing = Category.objects.filter(codebook__edition=to_edition, codebook__item_code=codebook.item_code)
    if existing.exists() and not replace:
        raise CodebookInvalid(
            [
                f"{to_edition} already has a codebook for {codebook.item_code} ({existing.count()} "
                f"categories); carry this one over it only to replace it (its categories not in this one "
                f"are deleted, or retired where they have codes)"
            ]
        )
    categories = [
        {"code": c.code, "label": c.label, "description": c.description, "examples": c.examples}
        for c in codebook.categories.filter(retired=False)
    ]
    return codebook_import(
        edition=to_edition,
        item_code=codebook.item_code,
        categories=categories,
        source=f"carried from {codebook.edition.label}",
    )


# --- human codes -------------------------------------------------------------------------------------


def coder_label(*, user_id: int) -> str:
    """A stable pseudonym of a coder: an HMAC of the user id under a key held in settings
    (CODING_CODER_KEY, else one derived from SECRET_KEY). It cannot be turned back into the user."""
    secret = getattr(settings, "CODING_CODER_KEY", "") or None
    return salted_hmac("coding.coder", str(user_id), secret=secret, algorithm="sha256").hexdigest()[:16]


def _codebook_of_answer(answer: Answer) -> Codebook:
    codebook = Codebook.objects.filter(edition_id=answer.item.edition_id, item_code=answer.item.code).first()
    if codebook is None:
        raise CodesInvalid(f"item {answer.item.code} has no codebook")
    return codebook


@transaction.atomic
def answer_codes_set(
    *, answer_id: uuid.UUID, codes: Sequence[str], coder: str, shown: Sequence[str] | None = None
) -> list[str]:
    """Replace one coder's codes on an answer (an empty list means "coded: none applies").

    `shown`: the category codes the coder's form offered (the coding screen says which); None, every
    category they may give now (an API client codes against the codebook as it is)."""
    # The answer's row is locked until commit, so two saves of the same answer (a double click, two tabs,
    # a retried PUT) run one after the other: interleaved, the second deleted none of the first's rows
    # and its insert hit the unique constraint (a 500).
    answer = (
        Answer.objects.select_for_update(of=("self",))
        .select_related("item")
        .get(pk=answer_id, text__isnull=False)
    )
    codebook = _codebook_of_answer(answer)
    if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
        raise CodesInvalid("codes must be a list of category codes")
    wanted = sorted(set(codes))
    # The whole codebook, not `code__in` the given codes: 200,000 of them made one SQL statement that size.
    categories = {c.code: c for c in codebook.categories.all()}
    unknown = [c for c in wanted if c not in categories]
    if unknown:
        named = ", ".join(unknown[:10]) + (f" ({len(unknown)} codes in all)" if len(unknown) > 10 else "")
        raise CodesInvalid(f"not in the codebook: {named}")
    # A retired category cannot be given anew, but a coder re-saving an answer keeps the retired codes
    # they gave before (retiring keeps history and old figures), and the adjudicated set may keep those
    # any coder of the answer gave (settling must not drop a code every coder gave).
    given = AnswerCode.objects.filter(answer_id=answer.pk, source=CodeSource.HUMAN, category__retired=True)
    if coder != ADJUDICATED:
        given = given.filter(coder=coder)
    had = set(given.values_list("category__code", flat=True))
    retired = [c for c in wanted if categories[c].retired and c not in had]
    if retired:
        raise CodesInvalid(f"retired categories cannot be given: {', '.join(retired)}")
    # What this coder was offered: the active categories and the retired ones given before (the screen
    # shows those ticked: unticking one is a "no"), of those the form showed if it says (one loaded before
    # a category was added did not offer it: its "no" is no no). Whatever the form claims, only categories
    # the coder may give count, and a code given was shown. Any other category is unknown for this coding,
    # not absent (coding/finals.py).
    on_form = None if shown is None else set(shown) | set(wanted)
    on_offer = [
        c
        for c in categories.values()
        if (not c.retired or c.code in had) and (on_form is None or c.code in on_form)
    ]
    # Locked, so none is deleted before this commits; one deleted since it was read is no longer offered.
    present = _lock_categories(on_offer)
    gone = sorted(set(wanted) - present)
    if gone:
        raise CodesInvalid(f"not in the codebook: {', '.join(gone)}")
    offered = [c.pk for c in on_offer if c.code in present]
    if not offered:
        # Nothing was decided (every category retired, say): saved, it counted as a human-coded answer.
        raise CodesInvalid("no category to code with: add or restore one in the codebook first")
    coding, _ = HumanCoding.objects.get_or_create(answer_id=answer.pk, coder=coder)
    coding.categories_seen.set(offered)
    # A person has now decided these categories: a model's earlier decision of one for this answer (a
    # filled gap) must not come back if it becomes a gap again (say, adjudicated while it is retired).
    # A run writing decisions for the answer holds its row (_run_write_lock): they are committed by now.
    AutoFill.objects.filter(answer_id=answer.pk, category_id__in=offered).delete()
    AnswerCode.objects.filter(answer_id=answer.pk, source=CodeSource.HUMAN, coder=coder).delete()
    AnswerCode.objects.bulk_create(
        [
            AnswerCode(answer_id=answer.pk, category=categories[c], source=CodeSource.HUMAN, coder=coder)
            for c in wanted
        ]
    )
    ReviewItem.objects.filter(answer_id=answer.pk).delete()
    final_codes_refresh(item_id=answer.item_id, answer_ids=[answer.pk])
    results_invalidate(edition_id=answer.item.edition_id)
    return wanted


@transaction.atomic
def answer_codes_adjudicate(
    *, answer_id: uuid.UUID, codes: Sequence[str], shown: Sequence[str] | None = None
) -> list[str]:
    """Settle what the coders of an answer disagree on: the adjudicated set becomes its final codes
    (coding/finals.py) and the answer leaves the disagreement filter; the coders' own codes stay, so
    their agreement is still measured. Only an answer two or more people coded can be adjudicated."""
    # Counted before answer_codes_set locks the answer, and safe so: saving codes only ever adds a coder
    # (no view, API or task removes one), so a save that lands after the count cannot make it wrong.
    coders = HumanCoding.objects.filter(answer_id=answer_id).exclude(coder=ADJUDICATED).count()
    if coders < 2:
        raise CodesInvalid("only an answer coded by two or more coders can be adjudicated")
    return answer_codes_set(answer_id=answer_id, codes=codes, coder=ADJUDICATED, shown=shown)


@transaction.atomic
def answer_codes_clear(*, answer_id: uuid.UUID, coder: str) -> None:
    HumanCoding.objects.filter(answer_id=answer_id, coder=coder).delete()
    AnswerCode.objects.filter(answer_id=answer_id, source=CodeSource.HUMAN, coder=coder).delete()
    for item_id, edition_id in Answer.objects.filter(pk=answer_id).values_list("item_id", "item__edition_id"):
        final_codes_refresh(item_id=item_id, answer_ids=[answer_id])
        results_invalidate(edition_id=edition_id)


# --- auto-coding runs --------------------------------------------------------------------------------


@transaction.atomic
def coding_run_start(
    *, edition: Edition, item_code: str, classifier: str | None = None, seed: int = DEFAULT_SEED
) -> CodingRun:
    """Queue an auto-coding run; the task is sent after commit with the run id only. One run of an item
    at a time: a second one (a double click on "Run auto-coding") trained the same model again on the
    worker's other core, and whichever finished last replaced the other's codes."""
    from coding import selectors
    from coding.classifiers import CLASSIFIERS, DEFAULT_ZERO_SHOT, default_trained

    # The codebook's row is locked until commit, so two starts at once see each other's run.
    if not Codebook.objects.select_for_update().filter(edition=edition, item_code=item_code).exists():
        raise CodingRunRefused(f"{item_code} has no codebook yet")
    # A run whose message was lost (queued too long) or whose worker died does not hold the item: the
    # sweep (coding_runs_requeue_stale) may never come where no beat runs (the embedded demo).
    active = (
        CodingRun.objects.filter(
            Q(status=RunStatus.QUEUED, queued_at__gte=_stale_before())
            | (Q(status=RunStatus.RUNNING) & ~_abandoned()),
            edition=edition,
            item_code=item_code,
        )
        .order_by("queued_at")
        .first()
    )
    if active is not None:
        raise CodingRunActive(
            f"{item_code}: a run queued at {active.queued_at:%Y-%m-%d %H:%M} is {active.status}; "
            f"start another once it has finished"
        )
    # Refused here, with the reason, rather than queued to fail in the worker (the screen showed only
    # "Failed: CodingRunRefused").
    if not Category.objects.filter(
        codebook__edition=edition, codebook__item_code=item_code, retired=False
    ).exists():
        raise CodingRunRefused(f"{item_code}: every category of the codebook is retired; restore or add one")
    human = len(selectors.human_final_codes(edition_id=edition.pk, item_code=item_code))
    kind = RunKind.TRAINED if human >= MIN_HUMAN_CODED else RunKind.ZERO_SHOT
    classifier = classifier or (default_trained(human) if kind == RunKind.TRAINED else DEFAULT_ZERO_SHOT)
    if classifier not in CLASSIFIERS:
        raise CodingRunRefused(f"unknown classifier {classifier!r}; known: {', '.join(sorted(CLASSIFIERS))}")
    if CLASSIFIERS[classifier].trained and kind != RunKind.TRAINED:
        raise CodingRunRefused(f"{classifier} needs at least {MIN_HUMAN_CODED} human-coded answers")
    if not CLASSIFIERS[classifier].trained:
        kind = RunKind.ZERO_SHOT
    run = CodingRun.objects.create(
        edition=edition,
        item_code=item_code,
        kind=kind,
        classifier=classifier,
        classifier_version=CLASSIFIERS[classifier].version,
        seed=seed,
    )
    from coding.tasks import coding_run_task

    enqueue_on_commit(coding_run_task, str(run.pk))
    return run


class _Progress:
    """Writes the run's progress at most once per percent (each write is also the attempt's heartbeat)."""

    def __init__(self, run_id: uuid.UUID, attempt: int, start: int = 0, end: int = 100) -> None:
        self.run_id, self.attempt, self.start, self.end, self.last = run_id, attempt, start, end, -1

    def __call__(self, fraction: float) -> None:
        percent = int(self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0))
        if percent > self.last:
            self.last = percent
            _current(self.run_id, self.attempt).update(progress=percent, heartbeat_at=timezone.now())


class AttemptSuperseded(Exception):
    """A later attempt took the run over (this one was presumed dead): its results are dropped."""


def _current(run_id: uuid.UUID | str, attempt: int) -> QuerySet[CodingRun]:
    return CodingRun.objects.filter(pk=run_id, attempts=attempt)


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CODING_STALE_SECONDS)


def _abandoned() -> Q:
    """Running for an attempt that stopped reporting: its worker died (or it ran before heartbeats)."""
    return Q(status=RunStatus.RUNNING) & (Q(heartbeat_at__lt=_stale_before()) | Q(heartbeat_at__isnull=True))


def coding_run_execute(*, run_id: uuid.UUID | str) -> bool:
    """Run an auto-coding job. Returns False, doing nothing, if the run is finished or an attempt that
    still reports holds it (a second delivery of the same task): see coding_run_retry_in."""
    now = timezone.now()
    claimed = CodingRun.objects.filter(Q(status=RunStatus.QUEUED) | _abandoned(), pk=run_id).update(
        status=RunStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        progress=0,
    )
    if not claimed:
        logger.info("coding run %s finished or held by another attempt; nothing to do", run_id)
        return False
    run = CodingRun.objects.get(pk=run_id)
    attempt = run.attempts
    try:
        _execute(run, attempt)
    except AttemptSuperseded:
        logger.warning("coding run %s: attempt %s was superseded", run.pk, attempt)
        return True
    except Exception as exc:
        # Store the type and message; sklearn/onnx messages do not quote inputs, and we raise none that do.
        _current(run.pk, attempt).update(
            status=RunStatus.FAILED,
            error_type=type(exc).__name__,
            error_message=str(exc)[:2000],
            finished_at=timezone.now(),
        )
        # Only the type: a traceback or message could quote answer text into the logs (invariant 5).
        logger.error("coding run %s failed: %s", run.pk, type(exc).__name__)
        return True
    _current(run.pk, attempt).update(status=RunStatus.SUCCEEDED, progress=100, finished_at=timezone.now())
    return True


def coding_run_retry_in(*, run_id: uuid.UUID | str) -> float | None:
    """Seconds until the attempt holding a running run would count as dead; None if none holds it."""
    heartbeat = (
        CodingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)
        .values_list("heartbeat_at", flat=True)
        .first()
    )
    if heartbeat is None:
        return None
    return max(1.0, (heartbeat - _stale_before()).total_seconds() + 1)


def coding_runs_requeue_stale() -> int:
    """Queue again the runs whose message was lost (queued too long) or whose worker died."""
    from coding.tasks import coding_run_task

    ids = list(
        CodingRun.objects.filter(
            Q(status=RunStatus.QUEUED, queued_at__lt=_stale_before()) | _abandoned()
        ).values_list("pk", flat=True)
    )
    for run_id in ids:
        coding_run_task.delay(str(run_id))
    return len(ids)


def _execute(run: CodingRun, attempt: int) -> None:
    from coding import selectors
    from coding.classifiers import CLASSIFIERS, CategorySpec
    from coding.classifiers.features import Embedder, minilm, package_versions
    from coding.embeddings import answer_embeddings
    from coding.training import (
        codebook_for_training,
        human_only_codes,
        review_priority,
        train_with_cross_validation,
    )

    categories = list(
        Category.objects.filter(
            codebook__edition_id=run.edition_id, codebook__item_code=run.item_code, retired=False
        ).order_by("position", "code")
    )
    if not categories:
        raise CodingRunRefused("the codebook has no active category")
    codes = [c.code for c in categories]
    specs = [CategorySpec(c.code, c.label, c.description, tuple(c.examples)) for c in categories]
    # Ordered by id, so the same answers give the same order (and the same folds) every time.
    answers = list(
        Answer.objects.filter(item__edition_id=run.edition_id, item__code=run.item_code, text__isnull=False)
        .order_by("id")
        .values_list("id", "text")
    )
    human = selectors.human_final_codes(edition_id=run.edition_id, item_code=run.item_code)
    # category code → human-coded answers whose coders were not offered it (coding/finals.py: gaps, filled
    # by an earlier run or not): neither a positive nor a negative for it, and this run decides them.
    gaps = selectors.human_coding_gaps(edition_id=run.edition_id, item_code=run.item_code)
    classifier_cls = CLASSIFIERS[run.classifier]
    versions: dict[str, Any] = {
        "packages": package_versions(),
        "classifier": run.classifier,
        "classifier_version": classifier_cls.version,
    }
    embedder: Embedder | None = None
    if classifier_cls.uses_embeddings:
        loaded = minilm()
        # The key is the model; the graph loaded (its weight form follows the CPU, its vectors do not) is
        # recorded for operators.
        versions["embedding_model"], versions["embedding_graph"] = loaded.key, loaded.graph
        embedder = loaded
    _current(run.pk, attempt).update(versions=versions, heartbeat_at=timezone.now())
    metrics: dict[str, Any] = {"answers": len(answers), "human_coded": len(human)}
    to_code = [(aid, text) for aid, text in answers if aid not in human]
    texts = [text for _, text in to_code]

    if run.kind == RunKind.TRAINED:
        training_from = 0
        if embedder is not None:
            # Embed the answers that have no stored vector yet (all of them on an item's first run, none
            # on a re-run); training, cross-validation and prediction then read the stored vectors.
            training_from = 40
            embedder = answer_embeddings(
                answers, embedder=embedder, progress=_Progress(run.pk, attempt, 0, 40)
            )
        coded = [(aid, text) for aid, text in answers if aid in human]
        # -1: left out of that category's model and of its cross-validated figures (coding/training.py).
        labels = np.array(
            [
                [1 if c in human[aid] else -1 if aid in gaps.get(c, ()) else 0 for c in codes]
                for aid, _ in coded
            ],
            dtype=np.int8,
        )
        # With few human codes the categories' own labels, descriptions and examples are training texts too.
        codebook = codebook_for_training(specs, len(coded))
        metrics["codebook_texts"] = codebook.describe() if codebook else None
        result = train_with_cross_validation(
            [t for _, t in coded],
            labels,
            codes,
            classifier_id=run.classifier,
            seed=run.seed,
            progress=_Progress(run.pk, attempt, training_from, 80),
            embedder=embedder,
            codebook=codebook,
        )
        probabilities = result.probabilities(texts) if texts else np.zeros((0, len(codes)))
        thresholds = result.thresholds
        accepted = result.accept(probabilities)
        metrics["cross_validation"] = result.metrics
        flagged = set(human_only_codes(result.metrics))
        metrics["human_only"] = sorted(flagged)
        source = CodeSource.AUTO
        fill = _gap_fill(result, coded, human, gaps, codes, flagged)
    else:
        model = classifier_cls().describe(specs)  # type: ignore[attr-defined]
        probabilities = model.predict_proba(texts) if texts else np.zeros((0, len(codes)))
        thresholds = np.full(len(codes), 0.5)
        accepted = np.zeros(probabilities.shape, dtype=bool)  # suggestions are never codes
        flagged = set()
        source = CodeSource.SUGGESTION
        fill: list[_Decision] = []
    _Progress(run.pk, attempt, 80, 100)(0.0)

    # Estimated shares among all answers: human codes where they exist, calibrated probabilities elsewhere
    # (a filled gap's too). A gap left unknown counts in neither a category's total nor its base.
    if answers:
        totals = probabilities.sum(axis=0) if len(texts) else np.zeros(len(codes))
        bases = np.full(len(codes), float(len(answers)))
        filled_probability = {pair: probability for pair, probability, _ in fill}
        for aid in human:
            for k, code in enumerate(codes):
                if (aid, k) in filled_probability:
                    totals[k] += filled_probability[aid, k]
                elif aid in gaps.get(code, ()):
                    bases[k] -= 1
                else:
                    totals[k] += 1.0 if code in human[aid] else 0.0
        metrics["estimated_shares"] = {
            code: round(100 * float(totals[k]) / bases[k], 2) if bases[k] else None
            for k, code in enumerate(codes)
        }

    # Every category at least as probable as the suggestion floor (or its threshold, if lower) is written,
    # with whether it is given; the answers coded, then the gaps of human-coded answers decided.
    decisions: Iterable[_Decision] = (
        ((aid, k), float(probability), bool(row_accepted[k]))
        for (aid, _), row, row_accepted in zip(to_code, probabilities, accepted, strict=True)
        for k, probability in enumerate(row)
    )
    rows = [
        AnswerCode(
            answer_id=aid,
            category=categories[k],
            source=source,
            run=run,
            classifier=run.classifier,
            classifier_version=run.classifier_version,
            probability=round(probability, 4),
            accepted=is_accepted,
        )
        for (aid, k), probability, is_accepted in chain(decisions, fill)
        if probability >= min(SUGGESTION_FLOOR, thresholds[k])
    ]
    with transaction.atomic():
        # The run's row stays locked until commit: if another attempt took over, this one writes nothing.
        if not _current(run.pk, attempt).select_for_update().exists():
            raise AttemptSuperseded(str(run.pk))
        item_id = _text_item(run.edition, run.item_code).pk
        dropped = _run_write_lock(categories=categories, item_id=item_id)
        if len(dropped) == len(categories):
            raise CodingRunRefused("every category this run coded was deleted or retired while it ran")
        if dropped:
            # Codes only of the categories still active; what the model learnt and estimated stays as it
            # was (the report marks the categories left out).
            metrics["categories_dropped"] = {c.code: dropped[c.pk] for c in categories if c.pk in dropped}
            rows = [r for r in rows if r.category_id not in dropped]
            fill = [d for d in fill if categories[d[0][1]].pk not in dropped]
        columns = [k for k, c in enumerate(categories) if c.pk not in dropped]
        kept = [categories[k] for k in columns]
        item_answers = Answer.objects.filter(item__edition_id=run.edition_id, item__code=run.item_code)
        # Earlier automatic output of either kind is replaced; human codes are never touched.
        AnswerCode.objects.filter(
            answer__in=item_answers, source__in=[CodeSource.AUTO, CodeSource.SUGGESTION]
        ).delete()
        ReviewItem.objects.filter(answer__in=item_answers).delete()
        # Replaced by either kind: kept after a zero-shot run, the answers a trained run had coded counted
        # as automatically coded with no category (their codes were just deleted), lowering every share.
        AutoCoding.objects.filter(answer__in=item_answers).delete()
        AutoFill.objects.filter(answer__in=item_answers).delete()
        # The categories the run coded, less those gone or retired meanwhile: any other one is unknown for
        # the answers it coded (coding/finals.py).
        run.categories.set(kept)
        if run.kind == RunKind.TRAINED:
            AutoCoding.objects.bulk_create([AutoCoding(answer_id=aid, run=run) for aid, _ in to_code])
            AutoFill.objects.bulk_create(
                [AutoFill(answer_id=aid, category=categories[k], run=run) for (aid, k), _, _ in fill],
                batch_size=2000,
            )
            Category.objects.filter(pk__in=[c.pk for c in kept]).update(human_only=False)
            Category.objects.filter(pk__in=[c.pk for c in kept if c.code in flagged]).update(human_only=True)
        AnswerCode.objects.bulk_create(rows, batch_size=2000)
        if len(texts):
            priority = review_priority(probabilities[:, columns], thresholds[columns])
            order = np.argsort(-priority, kind="stable")[:REVIEW_QUEUE_SIZE]
            ReviewItem.objects.bulk_create(
                [
                    ReviewItem(answer_id=to_code[i][0], run=run, priority=round(float(priority[i]), 6))
                    for i in order
                    if priority[i] > 0
                ]
            )
        metrics["coded"] = len(to_code)
        final_codes_refresh(item_id=item_id)
        # A gap a person decided while the run worked is no gap now: its decision must not be kept to
        # stand in for theirs if the category becomes a gap again. (A save of an answer written for here
        # has committed before the refresh read the codes, or waits for this commit: _run_write_lock.)
        AutoFill.objects.filter(run=run).exclude(
            Exists(
                FinalFilled.objects.filter(
                    answer_id=OuterRef("answer_id"), category_id=OuterRef("category_id")
                )
            )
        ).delete()
        results_invalidate(edition_id=run.edition_id)
        metrics["codes_written"] = sum(1 for r in rows if r.accepted)
        # Gaps of human-coded answers this run decided, and how many of those it coded present.
        metrics["gaps_filled"] = len(fill)
        metrics["gap_codes"] = sum(given for _, _, given in fill)
        CodingRun.objects.filter(pk=run.pk).update(metrics=metrics)
        fault_pause("coding.writing")


# A run's decision on one category of one answer: ((answer id, category index), probability, given).
_Decision = tuple[tuple[uuid.UUID, int], float, bool]


def _run_write_lock(*, categories: Sequence[Category], item_id: int) -> dict[int, str]:
    """The first step of a run's write, in its transaction: key-share locks until commit on the categories
    it coded, then on the item's free-text answers (those it writes rows for among them), each in id
    order. Returns category id → why it is
    left out of what the run writes: "deleted" or "retired" while the run worked (a retired category
    gets no new codes, from a person or a run; one started now would not code it).

    Categories: the lock answer_codes_set takes, so an analyst's remove (category_remove: a row lock)
    waits for this write, not for the whole run, or the write for the remove and then reads its result;
    before, the remove deleted the category under the run and the run failed at commit on the foreign key.
    Answers: a person's save locks its answer before anything else, so it and this write go one after
    the other: a save that came first has committed when the refresh reads the codes (a gap it decided is
    no gap, and the run keeps no decision of it), a later one sees the run's rows and deletes the
    decisions it overrides. Unlocked, the two interleaved: the foreign keys' check took these locks at
    the run's commit, while the run held the item's refresh lock that such a save was waiting for (a
    deadlock), or a save's delete missed the run's decision it overrode."""
    ids = sorted(c.pk for c in categories)
    if connection.vendor != "postgresql":  # SQLite runs one writer at a time: reading again is enough
        state = dict(Category.objects.filter(pk__in=ids).values_list("pk", "retired"))
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, retired FROM {Category._meta.db_table} WHERE id = ANY(%s) "  # noqa: S608
                "ORDER BY id FOR KEY SHARE",
                [ids],
            )
            state = dict(cursor.fetchall())
            # By item, not by a list of ids: in a scratch table of 100,000 rows, the ids as one parameter
            # took 1.0-1.1 s; by item 0.6-0.9 s, the lock 0.2-0.3 s of it (docs/architecture.md).
            cursor.execute(
                f"SELECT id FROM {Answer._meta.db_table} WHERE item_id = %s AND text IS NOT NULL "  # noqa: S608
                "ORDER BY id FOR KEY SHARE",
                [item_id],
            )
    return {pk: "deleted" if pk not in state else "retired" for pk in ids if state.get(pk, True)}


def _gap_fill(
    result: Any,
    coded: Sequence[tuple[uuid.UUID, str]],
    human: Mapping[uuid.UUID, set[str]],
    gaps: Mapping[str, set[uuid.UUID]],
    codes: Sequence[str],
    flagged: set[str],
) -> list[_Decision]:
    """The trained model's codes for the gaps of human-coded answers, in the categories it may code
    (not flagged "human coding only"). Each such answer was left out of a gap category's model (label -1),
    so the prediction is out of sample there. The answer's human decisions stand in for the model's other
    columns (1 given, 0 not), so the relative cut weighs a gap's probability against the codes people
    gave, as it weighs an automatic answer's codes against each other. Measured against four other rules
    (docs/performance.md, "Gap fills: which relative cut"): none did better, the cut-free ones worse."""
    from coding.training import decide

    fillable = [k for k, code in enumerate(codes) if code not in flagged and gaps.get(code)]
    answers = [(aid, text) for aid, text in coded if any(aid in gaps[codes[k]] for k in fillable)]
    if not answers:
        return []
    predicted = result.probabilities([text for _, text in answers])
    decided = np.array([[1.0 if code in human[aid] else 0.0 for code in codes] for aid, _ in answers])
    # Only the categories it may code: a "human coding only" one left at 0 takes no place under the cap.
    is_gap = np.array(
        [[k in fillable and aid in gaps[code] for k, code in enumerate(codes)] for aid, _ in answers]
    )
    decided[is_gap] = predicted[is_gap]
    passed = decide(decided, result.thresholds, result.relative_cut) & is_gap
    # The cap on codes per answer is on the model's codes: people's codes are no over-coding by the model,
    # and counting them would leave an answer people gave the most codes no gap code at all.
    given = decide(np.where(passed, predicted, 0.0), result.thresholds, max_codes=result.max_codes) & passed
    return [
        ((aid, k), float(predicted[i, k]), bool(given[i, k]))
        for i, (aid, _) in enumerate(answers)
        for k in fillable
        if is_gap[i, k]
    ]


def answers_embed_released(*, edition_id: int) -> int:
    """Store the sentence vectors of the edition's free-text answers to items that have a codebook with an
    active category, so that the first coding run of such an item finds them stored instead of embedding
    them itself (queued after each pool release: coding/jobs.py). Answers with a stored vector under the
    current model are skipped, so a second delivery does nothing. Returns how many answers were embedded."""
    from coding.classifiers.features import embeddings_available, minilm
    from coding.embeddings import answer_embeddings
    from coding.models import AnswerEmbedding

    item_codes = sorted(
        set(
            Category.objects.filter(codebook__edition_id=edition_id, retired=False).values_list(
                "codebook__item_code", flat=True
            )
        )
    )
    if not item_codes or not embeddings_available():
        return 0  # nothing to code: the model is not even loaded
    embedder = minilm()
    embedded = 0
    for item_code in item_codes:
        answers = list(
            Answer.objects.filter(item__edition_id=edition_id, item__code=item_code, text__isnull=False)
            .exclude(pk__in=AnswerEmbedding.objects.filter(model=embedder.key).values("answer_id"))
            .order_by("id")
            .values_list("id", "text")
        )
        answer_embeddings(answers, embedder=embedder)
        embedded += len(answers)
    return embedded


def human_codes_count(*, edition_id: int, item_code: str) -> int:
    return HumanCoding.objects.filter(
        answer__item__edition_id=edition_id, answer__item__code=item_code
    ).aggregate(n=Count("answer", distinct=True))["n"]
