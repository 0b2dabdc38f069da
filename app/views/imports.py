"""Customer imports (导入客户): upload, map the columns, dry run, confirm; refused rows as Excel."""
import json
import uuid

from flask import (Blueprint, abort, current_app, flash, redirect, request, send_file, url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from app import clock, crypto
from app.files import private_open
from app.imports import importer, rows, uploads
from app.imports.fields import FIELD_TYPES, field_label
from app.db import database
from app.models import Branch, ImportJob, ImportMapping, Job
from app.models.scope import branch_scope
from app.models.territory import bank_of
from app.imports.spreadsheet import Table, Unreadable, cell_text
from app.views.jobs import job_context
from app.web import get_visible_or_404, render, roles_required

bp = Blueprint("imports", __name__, url_prefix="/imports")

MAX_BYTES = 64 * 1024 * 1024  # a 200,000-row 建档 list is about 25 MB as CSV, 15 MB as .xlsx
KIND_LABELS = {"archive": _l("Customer list (建档)"), "core": _l("Core-banking refresh (balances, products)")}
ENCODINGS = {"": _l("Automatic"), "utf-8": "UTF-8", "gbk": "GBK / GB18030"}
STATUS_LABELS = {"mapping": _l("Columns to map"), "checking": _l("Checking"), "checked": _l("Checked"),
                 "writing": _l("Writing"), "done": _l("Written"), "failed": _l("Stopped")}
SAMPLE_ROWS = 5


def _branches():
    return list(Branch.select().where(branch_scope(current_user)).order_by(Branch.path))


def _save_upload(upload, path):
    """Copy the upload to disk in blocks; False when it passes the size limit (the file is removed)."""
    limit = (current_app.config.get("IMPORT_MAX_BYTES") or MAX_BYTES)
    size = 0
    with private_open(path, "wb") as out:
        for block in iter(lambda: upload.stream.read(1 << 20), b""):
            size += len(block)
            if size > limit:
                break
            out.write(block)
    if size > limit:
        path.unlink(missing_ok=True)
        return False
    return True


@bp.route("/", methods=["GET", "POST"])
@roles_required("admin", "team_lead")
def index():
    """Upload a 建档 list or a core-banking export; recent imports of the user's branches below."""
    branches = _branches()
    form = {"branch": str(current_user.branch_id), "kind": "archive", "encoding": ""}
    error, status = None, 200
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in form}
        branch = next((b for b in branches if str(b.id) == form["branch"]), None)
        if branch is None:
            abort(404)
        if form["kind"] not in KIND_LABELS or form["encoding"] not in ENCODINGS:
            abort(400)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = _("Choose a file first: an Excel .xlsx file or a .csv file.")
        else:
            token = uuid.uuid4().hex
            path = uploads.upload_dir() / token
            if not _save_upload(upload, path):
                limit = max(1, (current_app.config.get("IMPORT_MAX_BYTES") or MAX_BYTES) // (1024 * 1024))
                error = _("The file is larger than %(n)s MB: split it into several files and import them one "
                          "after the other.", n=limit)
            else:
                try:
                    job = uploads.new_job(path, token, upload.filename, branch, form["kind"], form["encoding"] or None,
                                   current_user)
                    return redirect(url_for("imports.mapping", job_id=job.id))
                except Unreadable as refused:
                    path.unlink(missing_ok=True)
                    error = rows.render([refused.problem.message, refused.problem.params])
        status = 422
    jobs = list(ImportJob.visible_to(current_user).order_by(ImportJob.id.desc()).limit(10))
    return render("imports/index.html", branches=branches, form=form, error=error, jobs=jobs,
                  KIND_LABELS=KIND_LABELS, ENCODINGS=ENCODINGS, STATUS_LABELS=STATUS_LABELS), status


def _masked(value, field):
    text = cell_text(value)
    if field == "phone":
        return crypto.mask_phone(text)
    if field == "id_number" and text and "E" not in text.upper() and not isinstance(value, float):
        return crypto.mask_id(text) if len(text) > 8 else "****"
    if field == "id_number" and isinstance(value, float):
        return f"{value:.6G}"
    return text


@bp.route("/<int:job_id>/mapping", methods=["GET", "POST"])
@roles_required("admin", "team_lead")
def mapping(job_id):
    """Each column of the file mapped to an archive field (guessed, adjustable, remembered)."""
    job = get_visible_or_404(ImportJob, job_id)
    # A running or written import has nothing to map; a stopped one may be checked again.
    if job.status == "done" or (job.running and not _stopped(job)):
        return redirect(url_for("imports.job", job_id=job.id))
    path = uploads.job_file(job)
    if not path.exists():
        flash(_("The uploaded file was deleted after %(days)s days: upload it again.", days=uploads.KEEP_DAYS))
        return redirect(url_for("imports.index"))
    table = Table(path, job.file_format, job.encoding)
    try:
        header, sample, merged = table.header, table.sample(SAMPLE_ROWS), table.header_merges()
    finally:
        table.close()
    current = importer.mapping_of(job)
    problems, status = [], 200
    if request.method == "POST":
        chosen = {}
        for index in range(len(header)):
            value = request.form.get(f"col-{index}", "")
            if value:
                if value not in FIELD_TYPES[job.kind]:
                    abort(400)
                chosen[index] = value
        current = chosen
        problems = [rows.render(p) for p in importer.mapping_problems(chosen, job.kind)]
        if not problems:
            job.mapping = json.dumps({str(k): v for k, v in chosen.items()})
            if request.form.get("remember") == "1":
                ImportMapping.remember(bank_of(job.branch).id, job.kind, job.signature, chosen)
            job.status, job.processed_rows, job.updated_at = "checking", 0, clock.now()
            job.counts, job.problems, job.preview = "{}", "[]", "{}"
            job.save()
            submit(job, "check", current_user)
            return redirect(url_for("imports.job", job_id=job.id))
        status = 422
    fields = [(name, field_label(name)) for name in FIELD_TYPES[job.kind]]
    columns = []
    for index, title in enumerate(header):
        field = current.get(index, "")
        columns.append({"index": index, "title": title, "field": field,
                        "sample": [_masked(row[index] if index < len(row) else None, field)
                                   for _number, row in sample]})
    merged_message = rows.render(rows.reason("merged", rows.F, ranges=", ".join(merged[:5]))) \
        if merged else None
    return render("imports/mapping.html", job=job, columns=columns, fields=fields, problems=problems,
                  merged=merged_message, KIND_LABELS=KIND_LABELS), status


@bp.route("/<int:job_id>")
@roles_required("admin", "team_lead")
def job(job_id):
    """The check's progress (polled by htmx while it runs), then its preview and the confirm button."""
    job = get_visible_or_404(ImportJob, job_id)
    task = _task_of(job)
    preview = job.data("preview") or {}
    counts = job.data("counts") or {}
    problems = [rows.render(p) for p in job.data("problems") or []]
    return render("imports/job.html", "imports/_job.html", job=job, task=task,
                  task_context=job_context(task) if task else None,
                  counts=counts, preview=preview, problems=problems, render_reason=rows.render,
                  interrupted=_stopped(job, task), KIND_LABELS=KIND_LABELS, STATUS_LABELS=STATUS_LABELS,
                  field_label=field_label, file_exists=uploads.job_file(job).exists())


@bp.route("/<int:job_id>/confirm", methods=["POST"])
@roles_required("admin", "team_lead")
def confirm(job_id):
    """Write the checked file, once: a second press (or a replayed form) writes nothing more."""
    job = get_visible_or_404(ImportJob, job_id)
    if job.data("problems") or not uploads.job_file(job).exists():
        flash(_("This file cannot be written: fix the problems shown and check it again."))
        return redirect(url_for("imports.job", job_id=job.id))
    with database.atomic():
        claimed = (ImportJob.update(status="writing", updated_at=clock.now())
                   .where(ImportJob.id == job.id, ImportJob.status == "checked").execute())
    if not claimed:
        flash(_("This file is already being written, or was written."))
        return redirect(url_for("imports.job", job_id=job.id))
    job.status = "writing"
    submit(job, "write", current_user)
    return redirect(url_for("imports.job", job_id=job.id))


def _task_of(job):
    """The background job of the import's current step (its check, or its write)."""
    return Job.latest("import_write" if job.status in ("writing", "done") else "import_check",
                      importer.task_key(job, job.status in ("writing", "done")))


def _stopped(job, task=None):
    """A check or a write whose background job ended without finishing the import."""
    task = task or _task_of(job)
    return job.running and task is not None and task.state == "failed"


def submit(job, step, user):
    """Queue the import's check or write (a second submit while one is queued or running is the same job)."""
    write = step == "write"
    return Job.submit("import_write" if write else "import_check", {"import_job": job.id}, user, job.branch_id,
                      key=importer.task_key(job, write))


@bp.route("/<int:job_id>/refused.xlsx")
@roles_required("admin", "team_lead")
def refused(job_id):
    """The refused rows as the user uploaded them, with the row number and the reason.

    Not masked: it is the user's own file handed back so they can fix and upload it
    again, and only the team leads and admins who may import it can fetch it.
    """
    job = get_visible_or_404(ImportJob, job_id)
    source = uploads.job_file(job, ".refused.jsonl")
    if not source.exists():
        abort(404)
    out = uploads.refused_workbook(job)
    stem = job.filename.rsplit(".", 1)[0]
    return send_file(out, as_attachment=True, download_name=f"{stem}-{_('refused')}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
