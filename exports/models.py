"""Export jobs: one status row per requested file (queued → running → succeeded / failed / expired).

The job lives on the identity/administrative side: it records who asked for what and where the file is,
never an answer. The built file sits under EXPORT_DIR (private) until `expires_at`.
"""

import uuid

from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
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

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.format} export {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.SUCCEEDED, ExportStatus.FAILED, ExportStatus.EXPIRED)

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1] if self.file_path else ""
