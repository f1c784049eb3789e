"""Export jobs, and the reviewed form of free-text answers.

An export job is one status row per requested file (queued → running → succeeded / failed / expired;
with a review of free text: queued → running → awaiting_review → queued → running → succeeded). The job
lives on the identity/administrative side: it records who asked for what and where the file is, never
an answer. The built file sits under EXPORT_DIR (private) until `expires_at`.

`RedactedText` is on the anonymous side: one row per free-text answer that has been through a review,
keyed by the answer, with no user, no job and no time (docs/anonymity.md; exports/review.py).
"""

import uuid

from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review of the free text"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class FreeText(models.TextChoices):
    REDACTED = "redacted", "Redacted, in the main file"
    SEPARATE = "separate", "Redacted, in a separate file without quasi-identifiers"
    OMIT = "omit", "Left out"


class ExportJob(models.Model):
    # A random id: job ids appear in links and must not reveal how many exports were made.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="export_jobs"
    )
    editions = models.ManyToManyField("surveys.Edition", related_name="export_jobs")
    format = models.CharField(max_length=16)
    # k, free_text, language, stable_ids (exports/services.py::ExportOptions).
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with progress; a running job whose heartbeat is older than EXPORT_STALE_SECONDS is re-run.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    # What the disclosure-control step changed (exports/anonymise/report.py).
    report = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    # Relative to EXPORT_DIR.
    file_path = models.CharField(max_length=300, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the free text as the reviewer approved it (exports/review.py::review_digest); empty until
    # approved. The file is built only while the free text still hashes to it. Who approved is in the
    # audit log, not here.
    review_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.format} export {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.SUCCEEDED, ExportStatus.FAILED, ExportStatus.EXPIRED)

    @property
    def awaiting_review(self) -> bool:
        return self.status == ExportStatus.AWAITING_REVIEW

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1] if self.file_path else ""


class RedactedText(models.Model):
    """A free-text answer as it is released after review: the automatic redaction the reviewer was
    shown, and what the reviewer decided (a further redacted text, or leaving the answer out).

    Anonymous side (like Answer): keyed by the answer, no user, no job, no time. A decision applies to
    every later export of the answer, reviewed or not, so a person's redaction is never undone by an
    export that skips the review."""

    answer = models.OneToOneField(
        "responses.Answer", primary_key=True, on_delete=models.CASCADE, related_name="redaction"
    )
    automatic = models.TextField()
    # exports/anonymise/pii.py::redactor_version() when `automatic` was made.
    redactor_version = models.CharField(max_length=64)
    # The reviewer's text (placeholders added, or the whole answer withheld); NULL: `automatic` stands.
    reviewed = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no decision"
    excluded = models.BooleanField(default=False)

    def __str__(self) -> str:
        return str(self.answer_id)

    @property
    def text(self) -> str:
        """The text as it is released (unless excluded)."""
        return self.automatic if self.reviewed is None else self.reviewed
