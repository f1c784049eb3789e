"""Blind-signed ballots (anonymity level 2, docs/anonymity.md): the live server cannot link either.

An officer's browser blinds a random token and the identity side signs it once per officer per edition
(ballot_issue); later the browser sends the unblinded token, its signature and the answers to an endpoint
that knows no one (ballot_submit). The signer never saw the token, so a spent token leads to no officer.
The answers are then checked and sealed exactly as on the level-1 path (responses/services.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import ParticipationStatus, User
from accounts.selectors import user_is_vetted_officer
from responses import blindrsa
from responses.models import BallotKey, SpentBallot
from responses.services import (
    EditionNotAccepting,
    NotEligible,
    Receipt,
    SubmissionRefused,
    answers_sealable,
    participation_for_update,
    pool_lock_for_staging,
    pool_stage,
)
from surveys.models import Edition, EditionStatus

# A ballot token is the randomized variant's 32-byte prefix plus the browser's message (32 random bytes);
# anything much longer is not one of ours.
TOKEN_MAX_BYTES = 256


class BallotRefused(SubmissionRefused):
    """The ballot or its signature is not acceptable (HTTP 403)."""

    code = "ballot_invalid"


class BallotAlreadyIssued(SubmissionRefused):
    """This officer already holds a ballot for the edition, or has answered (HTTP 409)."""

    code = "ballot_already_issued"


class BallotSpent(SubmissionRefused):
    """This ballot was already used to submit (HTTP 409)."""

    code = "ballot_spent"


class BallotKeyMissing(SubmissionRefused):
    """The edition has no ballot key: it was never opened (HTTP 404)."""

    code = "no_ballot_key"


@dataclass(frozen=True)
class PublishedKey:
    public_pem: str
    fingerprint: str


# --- keys -----------------------------------------------------------------------------------------

# An edition's public key never changes once made, so each process parses it once.
_public_keys: dict[int, rsa.RSAPublicKey] = {}


def _fingerprint(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _passphrases(edition_id: int) -> list[bytes]:
    """The private key's passphrase: derived from SECRET_KEY (then each fallback, for key rotation)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        salted_hmac("vetted-survey.ballot-key", str(edition_id), secret=secret, algorithm="sha256")
        .hexdigest()
        .encode()
        for secret in secrets
    ]


def ballot_key_create(edition: Edition) -> BallotKey:
    """Give an edition its ballot key pair, once (called when it opens; idempotent)."""
    existing = BallotKey.objects.filter(edition=edition).first()
    if existing is not None:
        return existing
    _public_keys.pop(edition.pk, None)  # a recreated database may reuse an edition's id
    private = blindrsa.generate_private_key(settings.BALLOT_KEY_BITS)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_passphrases(edition.pk)[0]),
    )
    try:
        with transaction.atomic():
            return BallotKey.objects.create(
                edition=edition,
                public_pem=public_pem.decode(),
                fingerprint=_fingerprint(private.public_key()),
                private_pem=encrypted,
            )
    except IntegrityError:  # another process made it first: theirs is the key
        return BallotKey.objects.get(edition=edition)


def ballot_key_destroy(edition: Edition) -> None:
    """Delete the private half when an edition closes: no ballot can be signed after that."""
    BallotKey.objects.filter(edition=edition).update(private_pem=None)
    _private_keys.pop(edition.pk, None)


def ballot_key_published(edition: Edition) -> PublishedKey:
    """The key every officer's browser must receive, and its fingerprint to compare."""
    if edition.status == EditionStatus.DRAFT:
        raise BallotKeyMissing("This questionnaire has not been published.")
    key = BallotKey.objects.filter(edition=edition).only("public_pem", "fingerprint").first()
    if key is None:
        if edition.status != EditionStatus.OPEN:
            raise BallotKeyMissing("This questionnaire has no ballot key.")
        key = ballot_key_create(edition)  # opened before ballots existed
    return PublishedKey(public_pem=key.public_pem, fingerprint=key.fingerprint)


# Decrypting the private key is slow by design (a password-based KDF), so each process keeps it once.
_private_keys: dict[int, tuple[str, rsa.RSAPrivateKey]] = {}


def _private_key(edition: Edition) -> rsa.RSAPrivateKey:
    key = BallotKey.objects.filter(edition=edition).first()
    if key is None:
        key = ballot_key_create(edition)
    if key.private_pem is None:
        raise EditionNotAccepting("This questionnaire is closed.")
    cached = _private_keys.get(edition.pk)
    if cached is not None and cached[0] == key.fingerprint:
        return cached[1]
    for passphrase in _passphrases(edition.pk):
        try:
            private = cast(
                rsa.RSAPrivateKey,
                serialization.load_pem_private_key(bytes(key.private_pem), password=passphrase),
            )
        except ValueError:
            continue
        _private_keys[edition.pk] = (key.fingerprint, private)
        return private
    raise BallotRefused("The ballot key cannot be read with this server's SECRET_KEY.")


def _public_key(edition: Edition) -> rsa.RSAPublicKey:
    public = _public_keys.get(edition.pk)
    if public is None:
        published = ballot_key_published(edition)
        public = cast(rsa.RSAPublicKey, serialization.load_pem_public_key(published.public_pem.encode()))
        _public_keys[edition.pk] = public
    return public


# --- issuing (identity side) ------------------------------------------------------------------------


def ballot_issue(*, officer: User, edition: Edition, blinded_msg: bytes) -> bytes:
    """Blind-sign one ballot for a vetted officer who has neither a ballot nor an answer for the edition.

    The Participation moves to ballot_issued in the same transaction; the server sees only the blinded
    message, so the signature it returns cannot be recognised when the ballot is spent."""
    if not user_is_vetted_officer(officer):
        raise NotEligible("Only vetted officers can answer.")
    if not edition.is_accepting_answers():
        raise EditionNotAccepting("This questionnaire is not open for answers.")
    private = _private_key(edition)
    try:
        with transaction.atomic():
            participation = participation_for_update(officer=officer, edition=edition)
            if participation.status == ParticipationStatus.SUBMITTED:
                raise BallotAlreadyIssued("You have already answered this questionnaire.")
            request_digest = hashlib.sha256(blinded_msg).hexdigest()
            if participation.status == ParticipationStatus.BALLOT_ISSUED:
                # The same blinded message again means the first answer was lost on the way: signing it
                # again gives the same signature, not a second ballot. Its digest says nothing about the
                # ballot's token (blinding makes the message independent of it).
                if not constant_time_compare(participation.ballot_request_digest, request_digest):
                    raise BallotAlreadyIssued("A ballot for this questionnaire was already given to you.")
                return blindrsa.blind_sign(private, blinded_msg)
            blind_sig = blindrsa.blind_sign(private, blinded_msg)
            participation.status = ParticipationStatus.BALLOT_ISSUED
            participation.ballot_request_digest = request_digest
            participation.save(update_fields=["status", "ballot_request_digest"])
    except blindrsa.BlindRSAError as exc:
        raise BallotRefused(str(exc)) from exc
    return blind_sig


# --- submitting (anonymous side) --------------------------------------------------------------------


def spent_digest(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def ballot_submit(
    *, edition: Edition, token: bytes, signature: bytes, answers: Mapping[str, object]
) -> Receipt:
    """Take answers carried by a valid, unspent ballot. Knows no user. Raises AnswersInvalid or
    SubmissionRefused; once it returns, the answers are sealed in the pool and the ballot is spent."""
    if not 0 < len(token) <= TOKEN_MAX_BYTES:
        raise BallotRefused("This is not a ballot token.")
    public = _public_key(edition)
    if len(signature) != blindrsa.modulus_length(public):
        raise BallotRefused("The ballot's signature is not valid for this questionnaire.")
    try:
        blindrsa.verify(public, token, signature)
    except InvalidSignature as exc:
        raise BallotRefused("The ballot's signature is not valid for this questionnaire.") from exc
    receipt, payload = answers_sealable(edition=edition, answers=answers)
    try:
        with transaction.atomic():
            pool_lock_for_staging(edition)
            SpentBallot.objects.create(digest=spent_digest(token), edition=edition)
            pool_stage(edition=edition, payload=payload)
    except IntegrityError as exc:
        raise BallotSpent("This ballot has already been used to answer.") from exc
    return receipt
