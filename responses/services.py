"""Submitting answers anonymously, and releasing the staging pool.

The submission path (web) seals answers with a public key and marks the officer's Participation, in one
transaction. The release path (worker) decrypts the pool and writes Response/Answer rows in one shuffled
transaction, then destroys the private key. See docs/anonymity.md for why each step is as it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from nacl.public import PublicKey, SealedBox

from accounts.models import Participation, ParticipationStatus, User
from accounts.selectors import user_is_vetted_officer
from config.faults import fault_pause
from responses import keys
from responses.models import (
    Answer,
    HeldSubmission,
    PoolKey,
    PoolKeyStatus,
    ReceiptDigest,
    Response,
    SpentBallot,
    StagedSubmission,
)
from results.jobs import results_warm_soon
from surveys.models import Edition, EditionStatus, Item
from surveys.questionnaire import CHOICE_TYPES
from surveys.questionnaire import Answer as AnswerValue
from surveys.selectors import edition_questionnaire

logger = logging.getLogger(__name__)

# Namespaces of PostgreSQL advisory locks, per edition: submissions against releases, and first
# submissions claiming the edition's staging key.
_POOL_LOCK_NAMESPACE = 0x5E41ED
_KEY_CLAIM_LOCK_NAMESPACE = 0x5E41EE


class SubmissionRefused(Exception):
    """The submission cannot be taken; `reason` is safe to show to the officer, `code` is for programs."""

    code = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotEligible(SubmissionRefused):
    code = "not_eligible"


class EditionNotAccepting(SubmissionRefused):
    code = "not_open"


class AlreadySubmitted(SubmissionRefused):
    code = "already_answered"


class PoolUnavailable(SubmissionRefused):
    """No staging key yet: the worker has not run since the platform was installed."""

    code = "not_ready"


@dataclass(frozen=True)
class Receipt:
    code: str


# --- receipts -------------------------------------------------------------------------------------


def _receipt_new() -> str:
    raw = base64.b32encode(secrets.token_bytes(15)).decode()  # 120 random bits, 24 characters
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def receipt_digest(code: str) -> str:
    normalised = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def receipt_is_released(*, edition: Edition, code: str) -> bool:
    return ReceiptDigest.objects.filter(edition=edition, digest=receipt_digest(code)).exists()


# --- locking --------------------------------------------------------------------------------------


def _advisory_xact_lock(namespace: int, edition_id: int, *, exclusive: bool) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite (embedded mode) serialises writers anyway
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [namespace, edition_id])


def _lock_pool(edition_id: int, *, exclusive: bool) -> None:
    """Submissions hold the edition's pool lock shared; a release takes it exclusively to switch keys, so
    it waits for every submission in flight and no submission can seal to a key being released."""
    _advisory_xact_lock(_POOL_LOCK_NAMESPACE, edition_id, exclusive=exclusive)


def _active_key(edition: Edition) -> PoolKey | None:
    """The edition's active staging key, with the edition's window read in the same query."""
    return (
        PoolKey.objects.filter(edition=edition, status=PoolKeyStatus.ACTIVE)
        .select_related("edition")
        .only("id", "public_key", "edition__status", "edition__opens_at", "edition__closes_at")
        .first()
    )


def _sealing_key(edition: Edition) -> PoolKey:
    key = _active_key(edition)
    if key is not None:
        return key
    # The edition's first submissions claim its key one at a time: in a burst when it opens, the others
    # wait for the claim to commit and seal to the key it activated (an advisory lock, not a wait on the
    # key rows, which could deadlock with the key checks of the staged rows' inserts).
    _advisory_xact_lock(_KEY_CLAIM_LOCK_NAMESPACE, edition.pk, exclusive=True)
    key = _active_key(edition)
    if key is not None:
        return key
    # Claim a spare key the worker made in advance (skipping one another edition is claiming right now).
    spare = PoolKey.objects.select_for_update(skip_locked=True).filter(status=PoolKeyStatus.SPARE).first()
    if spare is None:
        raise PoolUnavailable(
            "The survey is not ready to take answers yet. Please try again in a few minutes."
        )
    spare.edition = Edition.objects.only("status", "opens_at", "closes_at").get(pk=edition.pk)
    spare.status = PoolKeyStatus.ACTIVE
    spare.save(update_fields=["edition", "status"])
    return spare


# --- submission (web) -----------------------------------------------------------------------------


def _encode(value: AnswerValue) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def participation_for_update(*, officer: User, edition: Edition) -> Participation:
    """The officer's Participation row, created if needed, locked until the transaction ends.

    get_or_create retries the read when two tabs race to insert (it runs the insert in a savepoint)."""
    participation, _ = Participation.objects.select_for_update().get_or_create(user=officer, edition=edition)
    return participation


def participation_mark_submitted(*, officer: User, edition: Edition) -> None:
    """Mark the officer as having answered the edition, once (inside the staging transaction).

    The usual case is one statement: an UPDATE of the invited row, which holds the row's lock until the
    transaction ends, so a second tab's UPDATE waits and then finds the row no longer invited. Otherwise
    (no row yet, a ballot issued, already answered) the locked row says why. Raises AlreadySubmitted."""
    invited = Participation.objects.filter(user=officer, edition=edition, status=ParticipationStatus.INVITED)
    if invited.update(status=ParticipationStatus.SUBMITTED):
        return
    participation = participation_for_update(officer=officer, edition=edition)
    if participation.status == ParticipationStatus.BALLOT_ISSUED:
        raise AlreadySubmitted(
            "A ballot for this questionnaire was already given to your browser: send your answers "
            "from the browser that holds it."
        )
    if participation.status != ParticipationStatus.INVITED:
        raise AlreadySubmitted("You have already answered this questionnaire.")
    participation.status = ParticipationStatus.SUBMITTED
    participation.save(update_fields=["status"])


def answers_sealable(*, edition: Edition, answers: Mapping[str, object]) -> tuple[Receipt, bytes]:
    """Check answers against the edition's questionnaire; return the receipt and the payload to seal.

    Raises AnswersInvalid. Both submission paths (this module and responses/ballots.py) start here."""
    if not edition.is_accepting_answers():
        raise EditionNotAccepting("This questionnaire is not open for answers.")
    cleaned = edition_questionnaire(edition).clean_answers(answers)
    code = _receipt_new()
    payload = json.dumps(
        {"answers": {k: _encode(v) for k, v in cleaned.items()}, "receipt": receipt_digest(code)},
        separators=(",", ":"),
    ).encode()
    return Receipt(code=code), payload


def pool_lock_for_staging(edition: Edition) -> None:
    """Call first inside the staging transaction: orders it against a release of the pool."""
    _lock_pool(edition.pk, exclusive=False)


def pool_stage(*, edition: Edition, payload: bytes) -> None:
    """Seal a payload into the edition's pool (inside the transaction that took pool_lock_for_staging)."""
    key = _sealing_key(edition)
    # Re-read the window inside the transaction (without the large definition): a close may have won.
    if not key.edition.is_accepting_answers():
        raise EditionNotAccepting("This questionnaire closed before your answers arrived.")
    public_key = bytes(key.public_key)
    _sealing_keys[edition.pk] = (key.id, public_key)
    sealed = SealedBox(PublicKey(public_key)).encrypt(payload)
    StagedSubmission.objects.create(edition=edition, key=key, sealed=sealed)


# Per process, each edition's active staging key as pool_stage last used it: public keys only, so
# nothing here says anything about an officer or an answer. An entry goes stale when a release retires
# the key; the stored function then refuses it under the pool lock and the submission takes the full path.
_sealing_keys: dict[int, tuple[uuid.UUID, bytes]] = {}


def _stage_invited(*, edition: Edition, officer: User, payload: bytes) -> bool:
    """The usual submission in one statement: an invited officer, an edition whose active key this
    process already knows and whose window is as answers_sealable checked it. Returns False, having
    written nothing, in every other case (the caller then takes the full path, response_submit).

    The PostgreSQL function responses_stage_invited (migration responses/0004) does what the full path
    does, in the same order and in one transaction: the pool lock (shared), the key still active, the
    window unchanged, the Participation UPDATE from invited to submitted, the INSERT of the ciphertext."""
    known = _sealing_keys.get(edition.pk)
    if known is None or connection.vendor != "postgresql":
        return False
    key_id, public_key = known
    sealed = SealedBox(PublicKey(public_key)).encrypt(payload)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT responses_stage_invited(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                _POOL_LOCK_NAMESPACE, edition.pk, officer.pk, key_id, sealed,
                edition.status, edition.opens_at, edition.closes_at,
                PoolKeyStatus.ACTIVE.value, ParticipationStatus.INVITED.value,
                ParticipationStatus.SUBMITTED.value,
            ],
        )  # fmt: skip
        outcome = cursor.fetchone()[0]
    if outcome == "stale_key":
        _sealing_keys.pop(edition.pk, None)
    return bool(outcome == "staged")


def response_submit(*, edition: Edition, officer: User, answers: Mapping[str, object]) -> Receipt:
    """Take one officer's answers to an edition, once. Raises AnswersInvalid or SubmissionRefused.

    Once this returns, the answers are durable (sealed in the pool) and the officer is marked as having
    answered, in the same transaction; nothing stored links the two."""
    if not user_is_vetted_officer(officer):
        raise NotEligible("Only vetted officers can answer.")
    receipt, payload = answers_sealable(edition=edition, answers=answers)
    if _stage_invited(edition=edition, officer=officer, payload=payload):
        return receipt
    with transaction.atomic():
        pool_lock_for_staging(edition)
        participation_mark_submitted(officer=officer, edition=edition)
        pool_stage(edition=edition, payload=payload)
    return receipt


# --- release (worker) -----------------------------------------------------------------------------


def _answer_rows(
    response: Response, items: Mapping[str, Item], answers: Mapping[str, Any]
) -> Iterable[Answer]:
    for code, value in answers.items():
        item = items[code]
        if item.type in CHOICE_TYPES:
            for choice in value if isinstance(value, list) else [value]:
                yield Answer(response=response, item=item, choice=choice)
        elif item.type in ("integer", "decimal"):
            yield Answer(response=response, item=item, number=Decimal(str(value)))
        else:
            yield Answer(response=response, item=item, text=value)


def responses_write_released(*, edition_id: int, payloads: list[dict[str, Any]]) -> int:
    """Write released responses in a fresh random order with fresh ids (call inside a transaction).

    The one place that turns answer payloads into Response / Answer / ReceiptDigest rows: the pool
    release uses it, and so does the synthetic demo data."""
    shuffler = secrets.SystemRandom()
    payloads = list(payloads)
    shuffler.shuffle(payloads)
    items = {item.code: item for item in Item.objects.filter(edition_id=edition_id)}
    responses = [Response(edition_id=edition_id) for _ in payloads]
    answers = [
        row
        for response, payload in zip(responses, payloads, strict=True)
        for row in _answer_rows(response, items, payload["answers"])
    ]
    digests = [
        ReceiptDigest(digest=p["receipt"], edition_id=edition_id) for p in payloads if p.get("receipt")
    ]
    shuffler.shuffle(digests)
    Response.objects.bulk_create(responses, batch_size=2000)
    Answer.objects.bulk_create(answers, batch_size=5000)
    ReceiptDigest.objects.bulk_create(digests, batch_size=5000)
    return len(responses)


def pool_release(*, edition_id: int, minimum: int = 1) -> int:
    """Release every staged submission of an edition in one shuffled transaction; return how many.

    Worker only (it needs the private keys). Safe to run twice or after a crash at any point: rows leave
    the pool in the same transaction that writes them as responses, and a key is destroyed only after.
    A submission the database refuses is held (HeldSubmission) rather than holding back the edition."""
    with transaction.atomic():
        # Phase 1: stop sealing to the current keys, after every submission in flight has committed.
        _lock_pool(edition_id, exclusive=True)
        pending = StagedSubmission.objects.filter(edition_id=edition_id).count()
        if pending < minimum:
            return 0
        PoolKey.objects.filter(edition_id=edition_id, status=PoolKeyStatus.ACTIVE).update(
            status=PoolKeyStatus.RELEASING
        )
    try:
        return _pool_release_releasing(edition_id, hold_unwritable=False)
    except RELEASE_WRITE_ERRORS as error:
        # Nothing was written (the transaction rolled back). Go again, finding the payloads the database
        # refuses first, so that one bad row cannot keep every response of the edition unreleased.
        logger.warning(
            "pool release of edition %s failed (%s); retrying with per-row checks",
            edition_id,
            type(error).__name__,
        )
        return _pool_release_releasing(edition_id, hold_unwritable=True)


# What writing a payload can raise when the payload itself is at fault (the database refusing a value, a
# value the row builder cannot convert); anything else (a killed worker, a missing key) stops the release.
RELEASE_WRITE_ERRORS = (DatabaseError, ValueError, TypeError, KeyError, ArithmeticError)


def _pool_release_releasing(edition_id: int, *, hold_unwritable: bool) -> int:
    """Phase 2 of pool_release: decrypt, shuffle, write, delete. Locking the keys makes a second worker
    wait and then find nothing left to do."""
    with transaction.atomic():
        releasing = list(
            PoolKey.objects.select_for_update().filter(edition_id=edition_id, status=PoolKeyStatus.RELEASING)
        )
        if not releasing:
            return 0
        boxes = {key.id: SealedBox(keys.private_key_load(key.id)) for key in releasing}
        staged = list(StagedSubmission.objects.filter(key__in=releasing))
        payloads = [json.loads(boxes[row.key_id].decrypt(bytes(row.sealed))) for row in staged]
        held = _payloads_unwritable(edition_id, payloads) if hold_unwritable else []
        if held and len(held) == len(payloads):
            # Every row refused is a fault of the release, not of the answers: keep the pool for a retry.
            raise ReleaseFailed(f"none of the {len(payloads)} submissions could be written ({held[0][1]})")
        held_ids = {id(payload) for payload, _ in held}
        written = [payload for payload in payloads if id(payload) not in held_ids]
        responses_write_released(edition_id=edition_id, payloads=written)
        HeldSubmission.objects.bulk_create(
            HeldSubmission(edition_id=edition_id, payload=json.dumps(payload).encode(), reason=reason)
            for payload, reason in held
        )
        if held:
            logger.warning("pool release of edition %s held %d submission(s)", edition_id, len(held))
        StagedSubmission.objects.filter(pk__in=[row.pk for row in staged]).delete()
        PoolKey.objects.filter(pk__in=[key.id for key in releasing]).update(status=PoolKeyStatus.DESTROYED)
        fault_pause("release.writing")
        released_key_ids = [key.id for key in releasing]
        transaction.on_commit(lambda: [keys.private_key_destroy(key_id) for key_id in released_key_ids])
        _after_release(edition_id)
    return len(written)


class ReleaseFailed(Exception):
    """No submission of a release could be written; the pool is left as it was."""


def _payloads_unwritable(edition_id: int, payloads: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The payloads the database would not take as responses, each with why. Chunks are tried first and
    only a failing chunk's payloads one by one; every try is rolled back, so nothing is written here."""
    unwritable = []
    for start in range(0, len(payloads), _PROBE_CHUNK):
        chunk = payloads[start : start + _PROBE_CHUNK]
        if _write_refusal(edition_id, chunk) is None:
            continue
        for payload in chunk:
            reason = _write_refusal(edition_id, [payload])
            if reason is not None:
                unwritable.append((payload, reason))
    return unwritable


_PROBE_CHUNK = 500


def _write_refusal(edition_id: int, payloads: list[dict[str, Any]]) -> str | None:
    """Why writing these payloads fails, or None; tried in a savepoint that is always rolled back (so the
    rows finally written carry the release transaction's id alone, as docs/anonymity.md requires)."""
    try:
        with transaction.atomic():
            responses_write_released(edition_id=edition_id, payloads=payloads)
            transaction.set_rollback(True)
    except RELEASE_WRITE_ERRORS as error:
        first_line = next(iter(str(error).splitlines()), "")
        return f"{type(error).__name__}: {first_line}"[:200]
    return None


def _after_release(edition_id: int) -> None:
    # The first view of the results after a release is then served from the cache.
    results_warm_soon(edition_id=edition_id, debounce=False)
    # The free-text answers' sentence vectors, computed ahead of the first coding run (edition id only).
    from coding.jobs import enqueue_answers_embed_released

    enqueue_answers_embed_released(edition_id)


def held_release(*, edition_id: int) -> int:
    """Write an edition's held submissions as responses, all or none (after the cause was fixed)."""
    with transaction.atomic():
        held = list(HeldSubmission.objects.select_for_update().filter(edition_id=edition_id))
        if not held:
            return 0
        responses_write_released(
            edition_id=edition_id, payloads=[json.loads(bytes(row.payload)) for row in held]
        )
        HeldSubmission.objects.filter(pk__in=[row.pk for row in held]).delete()
        _after_release(edition_id)
    return len(held)


def pool_release_midway() -> list[int]:
    """Mid-way releases (run daily): open editions with at least POOL_MIDWAY_MINIMUM staged submissions."""
    minimum: int = settings.POOL_MIDWAY_MINIMUM
    if minimum <= 0:
        return []
    released = []
    for edition_id in Edition.objects.filter(status=EditionStatus.OPEN).values_list("pk", flat=True):
        if pool_release(edition_id=edition_id, minimum=minimum):
            released.append(edition_id)
    return released


def pool_keys_replenish(*, spare: int | None = None) -> int:
    """Worker only: keep `spare` unassigned keys ready, and delete private keys already released."""
    wanted = settings.POOL_SPARE_KEYS if spare is None else spare
    on_disk = keys.private_key_ids()
    for key_id in PoolKey.objects.filter(status=PoolKeyStatus.DESTROYED, pk__in=on_disk).values_list(
        "pk", flat=True
    ):
        keys.private_key_destroy(key_id)
    usable = PoolKey.objects.filter(status=PoolKeyStatus.SPARE, pk__in=on_disk).count()
    created = 0
    for _ in range(max(0, wanted - usable)):
        key_id = uuid.uuid4()
        PoolKey.objects.create(
            id=key_id, public_key=keys.private_key_create(key_id), status=PoolKeyStatus.SPARE
        )
        created += 1
    return created


# --- counts (administrators) ----------------------------------------------------------------------


def edition_response_counts(*, edition: Edition) -> dict[str, int]:
    """Totals only, never a time series (invariant 7)."""
    by_status = dict(
        Participation.objects.filter(edition=edition)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    with_ballot = SpentBallot.objects.filter(edition=edition).count()
    return {
        # Acknowledged submissions: through the portal's level-1 path plus spent ballots (level 2).
        "submitted": by_status.get(ParticipationStatus.SUBMITTED, 0) + with_ballot,
        "submitted_with_ballot": with_ballot,
        "ballots_issued": by_status.get(ParticipationStatus.BALLOT_ISSUED, 0),
        "released": Response.objects.filter(edition=edition).count(),
        "held": held_count(edition=edition),
    }


def held_count(*, edition: Edition) -> int:
    """Submissions of the edition a release could not write (HeldSubmission), waiting for release_held."""
    return HeldSubmission.objects.filter(edition=edition).count()


def pool_release_sweep() -> list[int]:
    """Release what closed editions still hold: covers a release message lost while Redis was down."""
    released = []
    closed = Edition.objects.filter(status__in=[EditionStatus.CLOSED, EditionStatus.ARCHIVED])
    for edition_id in closed.filter(pk__in=StagedSubmission.objects.values("edition_id")).values_list(
        "pk", flat=True
    ):
        if pool_release(edition_id=edition_id):
            released.append(edition_id)
    return released
