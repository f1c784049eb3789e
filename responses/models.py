"""The anonymous side. Invariants (docs/anonymity.md), enforced by tests/responses/test_anonymity.py:

- no foreign key to the identity side and no shared sequence: primary keys are random UUIDs;
- no user, session, address or user agent, and no date or time column;
- released rows are written in one shuffled transaction, so physical order and xmin say nothing.
"""

import uuid

from django.db import models


class PoolKeyStatus(models.TextChoices):
    SPARE = "spare", "Spare (not yet assigned to an edition)"
    ACTIVE = "active", "Active (sealing new submissions)"
    RELEASING = "releasing", "Releasing (no new submissions)"
    DESTROYED = "destroyed", "Destroyed (private key deleted)"


class PoolKey(models.Model):
    """A staging key pair. The public half is here; the private half exists only in the worker's key
    directory (POOL_KEY_DIR) and is deleted once the submissions sealed to it are released."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey(
        "surveys.Edition", null=True, blank=True, on_delete=models.PROTECT, related_name="pool_keys"
    )
    public_key = models.BinaryField(max_length=32)
    status = models.CharField(max_length=16, choices=PoolKeyStatus.choices, default=PoolKeyStatus.SPARE)

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class StagedSubmission(models.Model):
    """One acknowledged submission waiting for release: ciphertext only (a libsodium sealed box)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(PoolKey, on_delete=models.PROTECT, related_name="staged")
    sealed = models.BinaryField()

    def __str__(self) -> str:
        return str(self.id)


class Response(models.Model):
    """A released response. Its id is fresh and random; nothing ties it to the staged row it came from."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.PROTECT, related_name="responses")

    def __str__(self) -> str:
        return str(self.id)


class Answer(models.Model):
    """One value of a response: a choice (one row per chosen code), a number, or a text."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey("surveys.Item", on_delete=models.PROTECT, related_name="answers")
    # NULL, not "", marks the value kinds an answer does not hold (see the check constraint).
    choice = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    number = models.DecimalField(max_digits=40, decimal_places=10, null=True, blank=True)
    text = models.TextField(null=True, blank=True)  # noqa: DJ001

    class Meta:
        # Results read answers by item without touching the table's rows (index-only scans, PostgreSQL):
        # choices and numbers with their respondents (counts, multiple choice, filters), and each
        # free-text answer's id and respondent (coded counts and quotes); SQLite ignores INCLUDE.
        indexes = [
            models.Index(fields=["item", "choice"], include=["response"], name="answer_item_choice"),
            models.Index(fields=["item", "number"], include=["response"], name="answer_item_number"),
            models.Index(
                fields=["item"],
                include=["id", "response"],
                condition=models.Q(text__isnull=False),
                name="answer_item_text",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(choice__isnull=False, number__isnull=True, text__isnull=True)
                    | models.Q(choice__isnull=True, number__isnull=False, text__isnull=True)
                    | models.Q(choice__isnull=True, number__isnull=True, text__isnull=False)
                ),
                name="answer_holds_exactly_one_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.choice or self.number or self.text}"


class HeldSubmission(models.Model):
    """A released submission the database would not take as a response (docs/anonymity.md, "Held
    submissions"). The release writes every other one; this waits, in plain text like a response and
    with no more than a response holds, until `manage.py release_held` writes it once the cause is fixed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.PROTECT, related_name="+")
    # The payload as JSON bytes (ASCII escapes): jsonb refuses some of what such a payload may hold (NUL).
    payload = models.BinaryField()
    # The error's class and first line, e.g. "DataError: numeric field overflow"; never logged.
    reason = models.CharField(max_length=200)

    def __str__(self) -> str:
        return str(self.id)


class ReceiptDigest(models.Model):
    """SHA-256 of a released receipt, in its own table so a receipt leads to no response."""

    digest = models.CharField(max_length=64, primary_key=True)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.digest


class BallotKey(models.Model):
    """An edition's RSA key for blind-signed ballots (RFC 9474; docs/anonymity.md, level 2).

    The private key is stored encrypted under a key derived from SECRET_KEY (responses/ballots.py), so a
    copy of the database alone cannot mint ballots; it is deleted when the edition closes."""

    edition = models.OneToOneField(
        "surveys.Edition", primary_key=True, on_delete=models.CASCADE, related_name="ballot_key"
    )
    public_pem = models.TextField()
    fingerprint = models.CharField(max_length=71)  # "sha256:" + hex digest of the DER public key
    private_pem = models.BinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.edition_id}: {self.fingerprint}"


class SpentBallot(models.Model):
    """SHA-256 of a ballot token already used to submit: the only trace a level-2 submission leaves
    besides its sealed answers. The token was blinded when signed, so it leads to no officer."""

    digest = models.CharField(max_length=64, primary_key=True)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return self.digest
