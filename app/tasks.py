"""Every background task (app/jobs.py is the engine): the customer import's check and write,
and the periodic tasks, each at its Asia/Shanghai time (README, *Background work*).

| periodic task | when (Asia/Shanghai) | what |
|---|---|---|
| `check_stale_jobs` | every minute | running jobs whose heartbeat stopped: queued again once, then failed |
| `clean_uploads` | every day at 03:10 | uploads and refused-row files older than 2 days; previews never confirmed |
| (reports) | Mondays at 06:00 | the weekly reports, added with them |
"""
import datetime as dt

from flask import current_app
from flask_babel import gettext as _

from app import clock
from app.imports import importer, uploads
from app.jobs import bank_periodic, init_app as init_jobs, job_task, requeue_stale
from app.models import ImportJob, User
from app.models.job import JobFailed


def init_app(app):
    init_jobs(app)


# --- the customer import -------------------------------------------------------------------------
@job_task("import_check")
def import_check(job, import_job):
    """The dry run: every row checked, nothing written."""
    return _import(job, import_job, write=False)


@job_task("import_write")
def import_write(job, import_job):
    """The write, in one transaction (a killed run wrote nothing; a finished one is not run again)."""
    return _import(job, import_job, write=True)


def _import(job, import_job_id, write):
    record = ImportJob.get_or_none(ImportJob.id == import_job_id)
    if record is None:
        raise JobFailed(_("The import this job was for no longer exists."))
    if write and record.status == "done":
        return record.data("counts")  # written by an earlier run of this job
    if not uploads.job_file(record).exists():
        importer.gone(record)
        raise JobFailed(_("The uploaded file was deleted after %(days)s days: upload it again.",
                          days=uploads.KEEP_DAYS))
    user = User.get_or_none(User.id == job.user_id) if job.user_id else None
    counts = importer.run(record, write=write, user=user, tracker=job)
    record = ImportJob.get_by_id(record.id)
    if record.status == "failed" or (write and record.status != "done"):
        problems = record.data("problems") or []
        raise JobFailed("；".join(importer.render_problems(problems)) or _("The import stopped."))
    return counts


# --- periodic ------------------------------------------------------------------------------------
@bank_periodic(minute="*")
def check_stale_jobs():
    """Running jobs whose worker went silent: queued again once, failed the second time."""
    requeued, failed = requeue_stale()
    return {"requeued": requeued, "failed": failed}


@bank_periodic(minute="10", hour="3")
def clean_uploads():
    """Uploaded customer files (they hold ID numbers in clear) and previews never confirmed."""
    files = uploads.clean_old_files()
    limit = clock.now() - dt.timedelta(days=uploads.KEEP_DAYS)
    stale = ImportJob.delete().where(ImportJob.status.in_(("mapping", "checked")),
                                     ImportJob.updated_at < limit).execute()
    current_app.logger.info("clean-up: %s files, %s unconfirmed previews", files, stale)
    return {"files": files, "previews": stale}


# Monday's reports: the reports work adds its task here, e.g.
#   @bank_periodic(minute="0", hour="6", day_of_week="1")
#   def weekly_reports(): ...
