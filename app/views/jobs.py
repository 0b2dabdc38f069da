"""A background job's page (/jobs/<id>): its progress, polled by htmx while it runs."""
from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l

from app.models import Job
from app.web import get_visible_or_404, render

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

STATE_LABELS = {"queued": _l("Waiting for a worker"), "running": _l("Running"), "done": _l("Finished"),
                "failed": _l("Failed")}
KIND_LABELS = {"import_check": _l("Customer import: dry run"), "import_write": _l("Customer import: write"),
               "weekly_report": _l("Weekly report")}


def job_context(job):
    """What _job.html shows of a job (other pages that include the partial pass the same)."""
    job.live_view()
    return {"job": job, "state_label": STATE_LABELS.get(job.state, job.state),
            "kind_label": KIND_LABELS.get(job.kind, job.kind)}


@bp.route("/<int:job_id>")
def job(job_id):
    """One job's state and progress; the fragment alone for htmx's polling."""
    job = get_visible_or_404(Job, job_id)
    return render("jobs/job.html", "partials/_job.html", origin=_origin(job), **job_context(job))


def _origin(job):
    """Where the job was asked for, to go back to: (url, label) or None."""
    params = job.data("params") or {}
    if job.kind in ("import_check", "import_write") and isinstance(params.get("import_job"), int):
        return url_for("imports.job", job_id=params["import_job"]), _l("Back to the import")
    return None
