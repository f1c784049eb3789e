"""A person reviews the redacted free text of an export before the file is built.

Automatic redaction misses things (docs/performance.md: recall on a planted corpus is a floor, not an
estimate for real answers), so an export that holds free text is reviewed by default
(exports/services.py::ExportOptions). It runs in two parts:

1. The worker stores the automatic redaction of every free-text answer the export holds (`review_prepare`,
   one `RedactedText` row per answer) and the job waits in `awaiting_review`.
2. A reviewer (the analyst who asked, or an administrator) reads each answer exactly as it will be
   released, replaces further words with a placeholder, withholds a whole answer, or leaves one out
   (`redacted_text_edit`), and approves (exports/services.py::export_review_approve). The approval keeps a
   digest of the free text as approved; the worker builds the file only while the text still hashes to
   it, and writes exactly those texts (exports/selectors.py::TEXT_VALUE).

Decisions are keyed by the answer and hold no user, no job and no time (anonymous side). They apply to
every later export of the answer, so a second export is reviewed in minutes and an export without review
never undoes one. Who approved, and how many answers were changed, is in the audit log; which answers is
not (answer ids stay off the identity side).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet

from exports.anonymise.pii import PLACEHOLDER, PLACEHOLDERS, WITHHELD, redactor, redactor_version
from exports.models import ExportJob, ExportStatus, RedactedText
from responses.models import Answer
from results.cache import results_invalidate
from surveys.models import Edition, Item, ItemType

PREPARE_BATCH = 500
# Placeholders a reviewer may put in place of words (the redactor's own, so analysts read one vocabulary).
REVIEW_PLACEHOLDERS = tuple(sorted(set(PLACEHOLDERS.values())))
MIN_PHRASE = 2
FILTERS = {
    "all": "All answers",
    "redacted": "Redacted automatically",
    "unchanged": "Nothing found automatically",
    "edited": "Changed by a reviewer",
    "excluded": "Left out",
}


class ReviewAction:
    REDACT = "redact"  # replace words (every occurrence, any case) by a placeholder
    WITHHOLD = "withhold"  # the whole answer becomes [REDACTED]
    EXCLUDE = "exclude"  # the answer is left out of the export
    RESTORE = "restore"  # back to the automatic redaction, included again

    ALL = (REDACT, WITHHOLD, EXCLUDE, RESTORE)


class ReviewRefused(Exception):
    """The request cannot be done as asked (e.g. words that are not in the answer)."""


class ReviewConflict(ReviewRefused):
    """The export is not (or no longer) in the state the request assumed."""


def _text_items(job: ExportJob) -> list[int]:
    return list(
        Item.objects.filter(
            edition__in=job.editions.all(), type__in=(ItemType.TEXT, ItemType.LONG_TEXT)
        ).values_list("pk", flat=True)
    )


def review_answers(*, job: ExportJob) -> QuerySet[Answer]:
    """Every free-text answer the export holds: the answers to the text items of its editions."""
    # The item ids as constants, not a subquery: the planner then estimates the answers right and uses
    # the item index (with a subquery a page of 50 sorted every answer of the edition).
    return Answer.objects.filter(item_id__in=_text_items(job), text__isnull=False)


def review_prepare(*, job: ExportJob, progress: Callable[[int, int], None]) -> int:
    """Store the automatic redaction of each of the export's free-text answers that has none made by the
    current redactor; `progress(done, total)` after each batch. Returns how many answers the export holds.

    Rows are written in batches in answer-id order (random UUIDs), so their physical order and
    transaction ids say nothing about when an answer was given. A reviewer's decision is kept when the
    automatic redaction is remade."""
    version = redactor_version()
    answers = review_answers(job=job)
    total = answers.count()
    todo = answers.exclude(
        pk__in=RedactedText.objects.filter(redactor_version=version).values("answer_id")
    ).order_by("pk")
    done = total - todo.count()
    progress(done, total)
    redact = redactor().redact
    seen: dict[str, str] = {}  # identical answers ("No", "Nothing to add") are redacted once
    last = None
    while batch := list(
        (todo.filter(pk__gt=last) if last else todo).values_list("pk", "text")[:PREPARE_BATCH]
    ):
        rows = []
        for answer_id, text in batch:
            text = text or ""  # never empty here: review_answers() holds texts only
            if text not in seen:
                seen[text] = redact(text)
            rows.append(RedactedText(answer_id=answer_id, automatic=seen[text], redactor_version=version))
        RedactedText.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["answer"],
            update_fields=["automatic", "redactor_version"],
        )
        last = batch[-1][0]
        done += len(batch)
        progress(done, total)
    return total


def review_digest(*, job: ExportJob) -> str:
    """SHA-256 over every free-text answer of the export as it would be released now (answer id, left
    out or not, text); an answer without a review row counts as such. One row hash per answer is made in
    the database (a plain query: a server-side cursor made PostgreSQL pick a plan ten times slower)."""
    if connection.vendor != "postgresql":
        return _review_digest_python(job)
    sql = """
        SELECT string_agg(
            encode(sha256(convert_to(
                CAST(a.id AS TEXT) || chr(31) || COALESCE(CAST(t.excluded AS TEXT), '-') || chr(31)
                || COALESCE(t.reviewed, t.automatic, ''), 'UTF8')), 'hex'),
            '' ORDER BY a.id)
        FROM responses_answer a LEFT JOIN exports_redactedtext t ON t.answer_id = a.id
        WHERE a.item_id = ANY(%s) AND a.text IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [_text_items(job)])
        rows = cursor.fetchone()[0] or ""
    return hashlib.sha256(rows.encode()).hexdigest()


def _review_digest_python(job: ExportJob) -> str:
    """The same digest, row by row in Python: SQLite (the embedded demo) has no sha256, string_agg or
    arrays. The row text is PostgreSQL's exactly (UUID with dashes, `true`/`false`), so the digests agree."""
    rows = (
        review_answers(job=job)
        .order_by("pk")
        .values_list("pk", "redaction__excluded", "redaction__reviewed", "redaction__automatic")
    )
    digest = hashlib.sha256()
    for answer_id, excluded, reviewed, automatic in rows.iterator(chunk_size=PREPARE_BATCH):
        flag = "-" if excluded is None else str(excluded).lower()
        text = reviewed if reviewed is not None else automatic if automatic is not None else ""
        row = f"{answer_id}\x1f{flag}\x1f{text}"
        digest.update(hashlib.sha256(row.encode()).hexdigest().encode())
    return digest.hexdigest()


def review_entries(*, job: ExportJob, show: str = "all") -> QuerySet[RedactedText]:
    """The export's free-text answers as the reviewer sees them, in item order (then a random one)."""
    entries = (
        RedactedText.objects.filter(answer__in=review_answers(job=job))
        .select_related("answer__item")
        .order_by("answer__item__position", "answer__item_id", "answer_id")
    )
    if show == "redacted":
        return entries.exclude(automatic=F("answer__text"))
    if show == "unchanged":
        return entries.filter(automatic=F("answer__text"), reviewed__isnull=True, excluded=False)
    if show == "edited":
        return entries.filter(reviewed__isnull=False)
    if show == "excluded":
        return entries.filter(excluded=True)
    return entries


def review_counts(*, job: ExportJob) -> dict[str, int]:
    """How many of the export's free-text answers the redactor and the reviewers changed."""
    counts = RedactedText.objects.filter(answer__in=review_answers(job=job)).aggregate(
        shown=Count("pk"),
        redacted_automatically=Count("pk", filter=~Q(automatic=F("answer__text"))),
        edited=Count("pk", filter=Q(reviewed__isnull=False) & ~Q(reviewed=WITHHELD)),
        withheld=Count("pk", filter=Q(reviewed=WITHHELD)),
        excluded=Count("pk", filter=Q(excluded=True)),
    )
    counts["answers"] = review_answers(job=job).count()
    return counts


def review_entry(row: RedactedText, *, language: str) -> dict[str, Any]:
    """One answer as a reviewer sees it: the text as it will be released, what happened to it."""
    item = row.answer.item
    labels = item.label or {}
    if row.excluded:
        decision = "excluded"
    elif row.reviewed == WITHHELD:
        decision = "withheld"
    elif row.reviewed is not None:
        decision = "edited"
    else:
        decision = "automatic"
    return {
        "answer_id": row.answer_id,
        "item": item.code,
        "item_label": labels.get(language) or next(iter(labels.values()), item.code),
        "text": row.text,
        "segments": text_segments(row.text),
        "placeholders": PLACEHOLDER.findall(row.text),
        "redacted_automatically": row.automatic != row.answer.text,
        "decision": decision,
    }


def text_segments(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_placeholder), so a page can mark what was redacted (and escape the rest)."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def redacted_text_edit(
    *, job: ExportJob, answer_id: Any, action: str, phrases: Sequence[tuple[str, str]] = ()
) -> RedactedText:
    """A reviewer's decision on one answer of an export that is waiting for review. `phrases` (for
    REDACT) are (words as shown, placeholder). Raises RedactedText.DoesNotExist for an answer the export
    does not hold, ReviewRefused for anything else that cannot be done."""
    if action not in ReviewAction.ALL:
        raise ReviewRefused(f"Choose one of {', '.join(ReviewAction.ALL)}.")
    with transaction.atomic():
        # The job's row first: an approval (which locks it too) sees this edit whole, or refuses it.
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != ExportStatus.AWAITING_REVIEW:
            raise ReviewConflict("This export is not waiting for a review.")
        row = RedactedText.objects.select_for_update().get(
            answer_id=answer_id, answer__in=review_answers(job=job)
        )
        if action == ReviewAction.REDACT:
            row.reviewed = _redact_phrases(row.text, phrases)
        elif action == ReviewAction.WITHHOLD:
            row.reviewed = WITHHELD
        elif action == ReviewAction.EXCLUDE:
            row.excluded = True
        else:
            row.reviewed, row.excluded = None, False
        row.save(update_fields=["reviewed", "excluded"])
        # Results quotes follow every decision (texts_as_reviewed): draw them again.
        for edition_id in job.editions.values_list("pk", flat=True):
            results_invalidate(edition_id=edition_id)
    return row


def texts_as_reviewed(answer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """These answers' free text wherever it is shown outside a reviewed export (results quotes), before
    the automatic redaction: a reviewer's text where one changed it, the answer's own otherwise; answers a
    reviewer left out are absent. The same rule as exports/selectors.py TEXT_VALUE[False], for the ORM."""
    rows = Answer.objects.filter(pk__in=list(answer_ids)).values_list(
        "id", "text", "redaction__reviewed", "redaction__excluded"
    )
    return {pk: reviewed if reviewed is not None else text for pk, text, reviewed, out in rows if not out}


def review_withdrawn(*, edition: Edition, item_codes: Iterable[str]) -> set[tuple[str, uuid.UUID]]:
    """(item code, answer id) of the answers a reviewer left out or withheld whole: nothing to quote."""
    return set(
        RedactedText.objects.filter(answer__item__edition=edition, answer__item__code__in=list(item_codes))
        .filter(Q(excluded=True) | Q(reviewed=WITHHELD))
        .values_list("answer__item__code", "answer_id")
    )


def _redact_phrases(text: str, phrases: Sequence[tuple[str, str]]) -> str:
    if not phrases:
        raise ReviewRefused("Give the words to redact.")
    for phrase, placeholder in phrases:
        phrase = phrase.strip()
        if placeholder not in REVIEW_PLACEHOLDERS:
            raise ReviewRefused(f"Choose a placeholder: {', '.join(REVIEW_PLACEHOLDERS)}.")
        if len(phrase) < MIN_PHRASE:
            raise ReviewRefused(f"Give at least {MIN_PHRASE} characters to redact.")
        pattern = re.compile(re.escape(phrase), re.IGNORECASE)
        if not pattern.search(text):
            raise ReviewRefused("Those words are not in the answer as shown; copy them from it.")
        text = pattern.sub(placeholder, text)  # one of REVIEW_PLACEHOLDERS: no backslash, no group
    return text
