"""Export jobs: request, run (claimed once, resumable after a dead worker), download, expire.

A job is a status row (exports/models.py). `export_run` claims it with a conditional UPDATE, so a second
delivery of the same task does nothing while the first is alive; a job whose worker stopped reporting
for EXPORT_STALE_SECONDS is claimed again (by the periodic sweep or a redelivery) and rebuilt from
scratch in a fresh directory, so no attempt ever appends to another's file. Every later write of an
attempt is conditional on its attempt number: a worker that was presumed dead and wakes up finds it has
been replaced and stops.

With a review of free text (exports/review.py) a job runs twice: the first run prepares the review and
leaves the job `awaiting_review`; `export_review_approve` queues it again, and the second run builds the
file from the approved text, or prepares the review again if the text changed since the approval.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from config.faults import fault_pause
from config.jobs import enqueue_on_commit
from exports import dataset as ds
from exports import review, selectors
from exports.anonymise import DisclosureControl
from exports.anonymise.kanon import MIN_K
from exports.exporters import EXPORTERS
from exports.models import ExportJob, ExportStatus, FreeText
from surveys.models import Edition, EditionStatus

logger = logging.getLogger(__name__)
SIGNER_SALT = "exports.download"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # zip entries carry no real time (no timestamps in exports)
PROGRESS_SAVE_SECONDS = 0.5


class ExportRequestInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class AttemptSuperseded(Exception):
    """Another attempt claimed this job after this one was presumed dead."""


class DownloadRefused(Exception):
    pass


@dataclass(frozen=True)
class ExportOptions:
    format: str = "csv"
    k: int = 5
    free_text: str = FreeText.SEPARATE
    language: str = "en"
    # Same row order and row ids in every file of one bundle (otherwise each file is shuffled afresh).
    stable_ids: bool = False
    # A person reads the redacted free text before the file is built (exports/review.py). None: the
    # default, on whenever the export holds free text; always off when it holds none.
    review: bool | None = None

    def __post_init__(self) -> None:
        holds_text = self.free_text != FreeText.OMIT and (
            self.format not in EXPORTERS or EXPORTERS[self.format].writes_rows
        )
        object.__setattr__(self, "review", holds_text and self.review is not False)

    @classmethod
    def clean(cls, raw: dict[str, Any]) -> ExportOptions:
        errors: dict[str, list[str]] = {}
        fmt = raw.get("format", "csv")
        if fmt not in EXPORTERS:
            errors["format"] = [f"Choose one of {', '.join(EXPORTERS)}."]
        try:
            k = int(raw.get("k", settings.EXPORT_DEFAULT_K))
        except (TypeError, ValueError):
            errors["k"] = ["k must be a whole number."]
            k = MIN_K
        if k < MIN_K:
            errors["k"] = [f"k must be at least {MIN_K}."]
        free_text = raw.get("free_text") or FreeText.SEPARATE
        if free_text not in FreeText.values:
            errors["free_text"] = [f"Choose one of {', '.join(FreeText.values)}."]
        language = str(raw.get("language") or "en")[:16]
        stable_ids = _flag(raw.get("stable_ids", False))
        review = None if raw.get("review") is None else _flag(raw["review"])
        if errors:
            raise ExportRequestInvalid(errors)
        return cls(
            format=fmt, k=k, free_text=free_text, language=language, stable_ids=stable_ids, review=review
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", "on", 1)


# --- request --------------------------------------------------------------------------------------


def export_request(*, actor: User, editions: Sequence[Edition], options: ExportOptions) -> ExportJob:
    """Queue an export of one edition, or several editions of one series aligned by item code."""
    editions = list(editions)
    if not editions:
        raise ExportRequestInvalid({"editions": ["Choose at least one edition."]})
    if any(e.status == EditionStatus.DRAFT for e in editions):
        raise ExportRequestInvalid({"editions": ["Draft editions have no responses to export."]})
    if len({e.series_id for e in editions}) > 1:
        raise ExportRequestInvalid({"editions": ["Editions exported together must belong to one series."]})
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=actor, format=options.format, options=options.as_dict())
        job.editions.set(editions)
        audit_record(
            actor=actor,
            action="export.requested",
            target=f"export {job.id}",
            details={"editions": [str(e) for e in editions], **options.as_dict()},
        )
        from exports.tasks import export_run_task

        enqueue_on_commit(export_run_task, str(job.pk))
    return job


def _enqueue(job_id: Any) -> None:
    from exports.tasks import export_run_task

    export_run_task.delay(str(job_id))


# --- run ------------------------------------------------------------------------------------------


def _claim(job_id: Any) -> int | None:
    """The attempt number if this call may run the job; None if it is taken or finished."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    with transaction.atomic():
        claimed = (
            ExportJob.objects.filter(pk=job_id)
            .filter(Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, heartbeat_at__lt=stale))
            .update(
                status=ExportStatus.RUNNING,
                attempts=F("attempts") + 1,
                started_at=now,
                heartbeat_at=now,
                progress=0,
                error_type="",
                error_message="",
            )
        )
        if not claimed:
            return None
        return int(ExportJob.objects.values_list("attempts", flat=True).get(pk=job_id))


def export_retry_in(*, job_id: Any) -> float | None:
    """Seconds until the attempt holding a running job would count as dead; None if none holds it."""
    heartbeat = (
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING)
        .values_list("heartbeat_at", flat=True)
        .first()
    )
    if heartbeat is None:
        return None
    stale = timezone.now() - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    return max(1.0, (heartbeat - stale).total_seconds() + 1)


def _update(job_id: Any, attempt: int, **fields: Any) -> None:
    if not ExportJob.objects.filter(pk=job_id, attempts=attempt).update(**fields):
        raise AttemptSuperseded(str(job_id))


class _Tracker:
    """Turns rows written into a percentage, saved (with the heartbeat) when it grows, but at most every
    PROGRESS_SAVE_SECONDS: each save is a commit, and the page polls only every 1.5 s."""

    def __init__(self, job_id: Any, attempt: int, total: int) -> None:
        self.job_id, self.attempt, self.total = job_id, attempt, max(total, 1)
        self.done_before = 0
        self.percent = 0
        self.saved_at = -PROGRESS_SAVE_SECONDS  # the first growth is saved at once

    def pass_callback(self, count: int) -> ds.Progress:
        base = self.done_before
        self.done_before += count

        def progress(n: int) -> None:
            percent = min(99, (base + n) * 100 // self.total)
            now = time.monotonic()
            if percent > self.percent and now - self.saved_at >= PROGRESS_SAVE_SECONDS:
                self.percent, self.saved_at = percent, now
                _update(self.job_id, self.attempt, progress=percent, heartbeat_at=timezone.now())

        return progress


class _Build:
    """The ExportContext of one attempt: datasets (through disclosure control) and progress."""

    def __init__(self, job: ExportJob, options: ExportOptions, tracker_factory: Any) -> None:
        self.options = options
        editions = list(job.editions.select_related("series").order_by("label"))
        self.editions = editions
        self.source = selectors.export_source(
            editions=editions,
            language=options.language,
            include_text=options.free_text == FreeText.REDACTED,
            reviewed=bool(options.review),
        )
        variables = [c.variable for c in self.source.columns]
        # Counted and written from one materialised pivot (selectors.export_rows_table); close() drops it.
        self.table = selectors.export_rows_table(self.source)
        self._streams: list[Iterator[Any]] = []
        qi = DisclosureControl.quasi_identifier_indexes(variables)
        counts = selectors.quasi_identifier_counts(self.table, qi)
        # Reviewed text is final: the redactor ran before the review, and a person after it.
        self.control = DisclosureControl(
            variables, qi_counts=counts, qi_indexes=qi, k=options.k, redact=not options.review
        )
        self.review = (
            {"by_a_person": True, **review.review_counts(job=job)}
            if options.review
            else {"by_a_person": False}
        )
        self.count = selectors.response_count([e.pk for e in editions])
        self.text_count = (
            selectors.free_text_count(self.source) if options.free_text == FreeText.SEPARATE else 0
        )
        series = editions[0].series
        self.name = f"{series.slug}_{'-'.join(e.label for e in editions)}"
        self.title = f"{series.title} {', '.join(e.label for e in editions)}"
        self.stable_salt = secrets.token_hex(16)
        self.variables = [ds.Variable("row_id", "Row id (fresh for this export)", ds.ID), *variables]
        self.tracker = tracker_factory(self)

    def dataset(self) -> ds.Dataset:
        salt = self.stable_salt if self.options.stable_ids else secrets.token_hex(16)
        control = self.control
        width = len(self.source.columns)

        def chunks() -> Iterator[list[Sequence[Any]]]:
            stream = selectors.export_chunks(self.table, width=width, salt=salt)
            self._streams.append(stream)
            for raw in stream:
                yield control.transform_many(raw)

        def rows() -> Iterator[Sequence[Any]]:
            for chunk in chunks():
                yield from chunk

        return ds.Dataset(
            name=self.name,
            title=self.title,
            variables=self.variables,
            count=self.count,
            rows=rows,
            language=self.options.language,
            report=self.report,
            chunks=chunks,
        )

    def free_text(self) -> ds.Dataset | None:
        if self.options.free_text != FreeText.SEPARATE or not self.source.text_items:
            return None
        control = self.control
        source = self.source
        variables = [
            ds.Variable("text_id", "Text id (fresh; not the row id of the main file)", ds.ID),
            ds.Variable("item", "Item", ds.CHOICE, value_labels=dict(source.text_labels)),
            ds.Variable("text", "Answer, personal data redacted", ds.TEXT),
        ]

        def rows() -> Iterator[list[Any]]:
            salt = secrets.token_hex(16)
            for n, (item, text) in enumerate(selectors.free_text_rows(source, salt=salt), start=1):
                yield [n, item, control.redact_text(text)]

        return ds.Dataset(
            name=f"{self.name}_free_text",
            title=f"{self.title}: free text",
            variables=variables,
            count=self.text_count,
            rows=rows,
            language=self.options.language,
        )

    def progress(self, count: int) -> ds.Progress:
        return self.tracker.pass_callback(count)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the cursors of passes left half-way (a failed write), then drop the rows' table."""
        for stream in self._streams:
            stream.close()  # type: ignore[attr-defined]
        try:
            with transaction.atomic():  # a savepoint when the caller's transaction is open (tests)
                selectors.export_rows_table_drop(self.table)
        except DatabaseError:
            # The connection is gone or broken; its temporary table went with it.
            logger.warning("export rows table %s not dropped", self.table)

    @property
    def report(self) -> dict[str, Any]:
        report = self.control.report(free_text=self.options.free_text)
        if self.options.free_text != FreeText.OMIT:
            report["free_text"]["review"] = self.review
            if self.options.review:
                report["steps"].append("free text read, further redacted and approved by a person")
        report["row_order"] = "fresh random order for this export"
        report["row_ids"] = (
            "the same within this bundle, fresh for this export"
            if self.options.stable_ids
            else "fresh for every file"
        )
        report["editions"] = [str(e) for e in self.editions]
        return report


def export_run(*, job_id: Any) -> None:
    """Build the job's file. Does nothing if the job is finished or another worker is on it."""
    attempt = _claim(job_id)
    if attempt is None:
        logger.info("export %s: nothing to do (finished or running elsewhere)", job_id)
        return
    job = ExportJob.objects.get(pk=job_id)
    started = time.monotonic()
    job_dir = export_dir() / str(job.pk)
    work = job_dir / f"attempt-{attempt}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    build: _Build | None = None
    try:
        options = ExportOptions.clean(job.options)
        if options.review and _review_pending(job, attempt):
            shutil.rmtree(job_dir, ignore_errors=True)
            return
        exporter = EXPORTERS[options.format]()

        def tracker(build: _Build) -> _Tracker:
            free_passes = 1 if build.text_count else 0
            return _Tracker(job.pk, attempt, exporter.passes() * build.count + free_passes * build.text_count)

        build = _Build(job, options, tracker)
        files = exporter.write_files(build, work)
        # Another export's reviewer may have changed a decision while these rows streamed: the file
        # must hold the text as approved, so check again and, if it moved, review again.
        if options.review and _review_pending(job, attempt):
            shutil.rmtree(job_dir, ignore_errors=True)
            return
        fault_pause("export.files_written")
        final = _package(
            files, work, name=f"{build.name}_{options.format}", report=build.report, fmt=options.format
        )
        target = job_dir / final.name
        final.replace(target)
        digest, size = _sha256(target)
        _remove_attempts(job_dir)
        _update(
            job.pk,
            attempt,
            status=ExportStatus.SUCCEEDED,
            progress=100,
            finished_at=timezone.now(),
            duration_seconds=round(time.monotonic() - started, 3),
            report=build.report,
            row_count=build.count,
            file_path=f"{job.pk}/{target.name}",
            file_size=size,
            sha256=digest,
            expires_at=timezone.now() + timedelta(days=settings.EXPORT_TTL_DAYS),
        )
    except AttemptSuperseded:
        shutil.rmtree(work, ignore_errors=True)
        logger.warning("export %s: attempt %s was superseded", job_id, attempt)
    except Exception as exc:
        shutil.rmtree(work, ignore_errors=True)
        # Only the type: a traceback or message could quote answer text into the logs (invariant 5).
        logger.error("export %s failed: %s", job_id, type(exc).__name__)
        ExportJob.objects.filter(pk=job.pk, attempts=attempt).update(
            status=ExportStatus.FAILED,
            finished_at=timezone.now(),
            duration_seconds=round(time.monotonic() - started, 3),
            error_type=type(exc).__name__,
            # The message of our own errors is safe; others could quote data, so keep only the type.
            error_message=str(exc)[:2000] if isinstance(exc, ExportRequestInvalid) else "",
        )
    finally:
        if build is not None:
            build.close()


def _review_pending(job: ExportJob, attempt: int) -> bool:
    """True when the free text must be (re)viewed first: then the review is prepared and the job waits
    for it. False when the text is as approved, or the export holds no free text at all."""
    note = ""
    if job.review_digest:
        if review.review_digest(job=job) == job.review_digest:
            return False
        note = "The free text changed after it was approved (an edit, or newly released answers)."
    percent = 0

    def progress(done: int, total: int) -> None:
        nonlocal percent
        now = min(99, done * 100 // max(total, 1))
        if now > percent or done == 0:
            percent = now
            _update(job.pk, attempt, progress=percent, heartbeat_at=timezone.now())

    if not review.review_prepare(job=job, progress=progress):
        return False
    _update(
        job.pk,
        attempt,
        status=ExportStatus.AWAITING_REVIEW,
        progress=100,
        review_digest="",
        error_type="ReviewOutdated" if note else "",
        error_message=f"{note} Review it again." if note else "",
    )
    return True


def _remove_attempts(job_dir: Path) -> None:
    for path in job_dir.glob("attempt-*"):
        shutil.rmtree(path, ignore_errors=True)


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _package(files: list[Path], work: Path, *, name: str, report: dict[str, Any], fmt: str) -> Path:
    """One file as it is; several (bundle, codebook, separate free text) in a zip with a manifest."""
    if len(files) == 1 and fmt != "bundle":
        return files[0]
    manifest = {
        "format": fmt,
        "files": [
            {"name": path.name, "bytes": size, "sha256": digest}
            for path in files
            for digest, size in [_sha256(path)]
        ],
        "disclosure_control": report,
    }
    target = work / f"{name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        info = zipfile.ZipInfo("manifest.json", date_time=ZIP_DATE)
        archive.writestr(info, json.dumps(manifest, indent=2, ensure_ascii=False), zipfile.ZIP_DEFLATED)
    return target


def export_dir() -> Path:
    return Path(settings.EXPORT_DIR)


# --- review ---------------------------------------------------------------------------------------


def export_review_approve(*, job: ExportJob, actor: User, digest: str) -> None:
    """Release the reviewed free text: queue the job to build its file. `digest` is
    `review.review_digest` as the reviewer's page showed it; if the text has changed since (another
    reviewer's edit, newly released answers) the approval is refused, so what is approved is what was
    read. The audit log records who approved and how many answers were changed, not which."""
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != ExportStatus.AWAITING_REVIEW:
            raise review.ReviewConflict("This export is not waiting for a review.")
        current = review.review_digest(job=job)
        if digest != current:
            raise review.ReviewConflict(
                "The free text has changed since this page was loaded; read it again before approving."
            )
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.QUEUED, progress=0, review_digest=current, error_type="", error_message=""
        )
        audit_record(
            actor=actor,
            action="export.review_approved",
            target=f"export {job.pk}",
            details={"digest": current, **review.review_counts(job=job)},
        )
        transaction.on_commit(lambda: _enqueue(job.pk))


# --- download -------------------------------------------------------------------------------------


def export_download_token(*, job: ExportJob, user: User) -> str:
    """A link token for this job and this user, valid EXPORT_LINK_MAX_AGE seconds."""
    return signing.TimestampSigner(salt=SIGNER_SALT).sign(f"{job.pk}:{user.pk}")


def export_download_open(*, job: ExportJob, user: User, token: str) -> Path:
    """Check the link and the job, audit the download, and return the file's path."""
    try:
        value = signing.TimestampSigner(salt=SIGNER_SALT).unsign(token, max_age=settings.EXPORT_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise DownloadRefused(
            "This download link has expired; open the export again for a fresh one."
        ) from None
    except signing.BadSignature:
        raise DownloadRefused("This download link is not valid.") from None
    if value != f"{job.pk}:{user.pk}":
        raise DownloadRefused("This download link was made for another export or another person.")
    if job.status != ExportStatus.SUCCEEDED or not job.file_path:
        raise DownloadRefused("This export has no file to download.")
    path = export_dir() / job.file_path
    if not path.is_file():
        raise DownloadRefused("This export's file is gone.")
    audit_record(
        actor=user,
        action="export.downloaded",
        target=f"export {job.pk}",
        details={"file": path.name, "sha256": job.sha256},
    )
    return path


# --- periodic -------------------------------------------------------------------------------------


def exports_expire(*, now: Any = None) -> int:
    """Delete the files of exports past their expiry and mark the jobs expired."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=ExportStatus.SUCCEEDED, expires_at__lte=now):
        shutil.rmtree(export_dir() / str(job.pk), ignore_errors=True)
        expired += ExportJob.objects.filter(pk=job.pk, status=ExportStatus.SUCCEEDED).update(
            status=ExportStatus.EXPIRED, file_path="", progress=100
        )
    # A review nobody finished: the job is dropped after as long as a file would have been kept.
    expired += ExportJob.objects.filter(
        status=ExportStatus.AWAITING_REVIEW, created_at__lte=now - timedelta(days=settings.EXPORT_TTL_DAYS)
    ).update(status=ExportStatus.EXPIRED, progress=100)
    # Failed jobs keep no file, but an attempt killed mid-way may have left a directory.
    for job in ExportJob.objects.filter(status=ExportStatus.FAILED, created_at__lte=now - timedelta(days=1)):
        shutil.rmtree(export_dir() / str(job.pk), ignore_errors=True)
    return expired


def exports_requeue_stale() -> int:
    """Queue again every job whose worker has died (queued jobs whose message was lost, too)."""
    stale = timezone.now() - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    ids = list(
        ExportJob.objects.filter(
            Q(status=ExportStatus.RUNNING, heartbeat_at__lt=stale)
            | Q(status=ExportStatus.QUEUED, created_at__lt=stale)
        ).values_list("pk", flat=True)
    )
    for job_id in ids:
        _enqueue(job_id)
    return len(ids)
