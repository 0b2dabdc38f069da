"""Uploaded files and their jobs: where they wait, how long, the job made from a file's header,
and the refused rows handed back as Excel."""
import datetime as dt
import io
import json
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook

from app import clock, exports
from app.files import private_folder
from app.imports.fields import guess_mapping
from app.imports.rows import render
from app.imports.spreadsheet import DEFAULT_LIMITS, Table, header_signature, sniff
from app.models.importing import ImportJob, ImportMapping
from app.models.territory import bank_of

KEEP_DAYS = 2  # uploaded files (they hold ID numbers in clear) are deleted after this


def upload_dir():
    folder = Path(current_app.config.get("IMPORT_DIR") or Path(current_app.instance_path) / "imports" / "customers")
    return private_folder(folder)  # the files hold ID numbers in clear


def job_file(job, suffix=""):
    return upload_dir() / f"{job.token}{suffix}"


def clean_old_files(days=KEEP_DAYS):
    """Delete uploads and refused-row files older than days: they hold ID numbers in clear."""
    # clock.now() is naive UTC: read as local time it would be off by the server's offset.
    limit = clock.now().replace(tzinfo=dt.UTC).timestamp() - days * 86400
    removed = 0
    for path in upload_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def limits():
    """How many rows, columns and cells one import may hold (IMPORT_MAX_ROWS, _COLUMNS, _CELLS)."""
    config = current_app.config
    return {name: int(config.get(f"IMPORT_MAX_{name.upper()}") or default)
            for name, default in DEFAULT_LIMITS.items()}


def new_job(path, token, filename, branch, kind, encoding, user):
    """Read the header, guess (or recall) the mapping, and keep the job; Unreadable if it cannot,
    or if the file is larger than limits() (measured by streaming, before any reader holds it)."""
    file_format = sniff(path, filename)
    table = Table(path, file_format, encoding, limits=limits())
    try:
        signature = header_signature(table.header)
        bank = bank_of(branch)
        saved = ImportMapping.find(bank.id, kind, signature)
        mapping = saved if saved is not None else guess_mapping(table.header, kind)
        return ImportJob.create(
            token=token, branch=branch.id, user=user.id if user else None, kind=kind,
            filename=filename[-120:], file_format=file_format, encoding=table.encoding,
            header_row=table.header_row, signature=signature,
            mapping=json.dumps({str(k): v for k, v in mapping.items()}), status="mapping")
    finally:
        table.close()


def refused_workbook(job):
    """The refused rows of a job as an .xlsx file object: row number, the cells as uploaded, the reason
    (a cell that reads as a formula is written as text: it came from someone else's file)."""
    header = []
    path = job_file(job)
    if path.exists():
        table = Table(path, job.file_format, job.encoding)
        header = table.header
        table.close()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Refused rows"))
    exports.row(sheet, [_("Row"), *header, _("Reason")])
    with open(job_file(job, ".refused.jsonl"), encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            exports.row(sheet, [entry["row"], *entry["values"], "；".join(render(r) for r in entry["reasons"])])
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    return out
