"""Reading exports back with each format's own reader, into comparable rows."""

import csv
import io
import json
import math
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat

from exports import services
from exports.models import ExportJob

QI = ("country", "agency_type")


def run_export(actor, editions, **options):
    """Request and run an export in this process (the worker path is tested in test_jobs.py). Without
    the review of free text unless asked for: tests/exports/test_review.py covers it."""
    options.setdefault("review", False)
    job = services.export_request(actor=actor, editions=editions, options=services.ExportOptions(**options))
    services.export_run(job_id=job.pk)
    job = ExportJob.objects.get(pk=job.pk)
    assert job.status == "succeeded", (job.error_type, job.error_message)
    return job


def job_path(job) -> Path:
    return services.export_dir() / job.file_path


def norm(value):
    """One representation for every reader: None, float, or str."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value == "":
        return None
    return str(value)


def read_csv(path) -> list[dict]:
    frame = pd.read_csv(path, dtype=object, keep_default_na=False)
    rows = []
    for record in frame.to_dict("records"):
        rows.append({k: _number_or_text(v) for k, v in record.items()})
    return rows


def _number_or_text(value):
    if value == "":
        return None
    # Not float(value): Python reads "20_30" (a choice code) as 2030.
    if re.fullmatch(r"-?\d+(\.\d+)?(e[-+]?\d+)?", value, re.IGNORECASE):
        return float(value)
    return value


def read_xlsx(path) -> list[dict]:
    sheet = openpyxl.load_workbook(path, read_only=True)["data"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    return [{k: norm(v) for k, v in zip(header, row, strict=True)} for row in rows[1:]]


def read_parquet(path) -> list[dict]:
    return [{k: norm(v) for k, v in row.items()} for row in pq.read_table(path).to_pylist()]


def read_stat(path, reader) -> tuple[list[dict], object]:
    """Labelled columns come back as their value labels."""
    frame, meta = reader(str(path), apply_value_formats=True)
    return [{k: norm(v) for k, v in row.items()} for row in frame.to_dict("records")], meta


def read_sav(path):
    return read_stat(path, pyreadstat.read_sav)


def read_dta(path):
    return read_stat(path, pyreadstat.read_dta)


def unzip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def codebook_of(job) -> dict:
    files = unzip(job_path(job))
    name = next(n for n in files if n.endswith("_codebook.json"))
    return json.loads(files[name])
