"""Making a weekly report: run its notebook in-process, lay the sections out, write the PDF.

make() is what a job worker calls for one territory or one bank summary: it skips a report
whose inputs hash (models/report.py) matches the file already kept, else runs the notebook
(app/notebook.py), renders the sections into HTML with reports/print.css and the prepared
fonts (app/pdf.py), writes the PDF atomically under REPORTS_DIR/<week>/, and only then
records it. A worker killed half-way leaves at most a temporary file that nothing lists.
"""
import datetime as dt
import hashlib
import time
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from app import ROOT, clock, notebook, pdf
from app.db import database
from app.models import Branch, Territory
from app.models.refused import Refused
from app.models.report import ReportFile, file_name, inputs_hash
from app.models.weekly import close_week, parse_week, reported_territories

NOTEBOOKS = {"territory": ROOT / "reports" / "weekly_territory.py", "bank": ROOT / "reports" / "weekly_bank.py"}
PRINT_CSS = ROOT / "reports" / "print.css"
PARAMETER = {"territory": "territory_id", "bank": "bank_id"}
# The code a report's figures come from: a change to any of them makes every report again.
CODE = [PRINT_CSS, ROOT / "app" / "charts.py", ROOT / "app" / "models" / "weekly.py", ROOT / "app" / "notebook.py",
        ROOT / "app" / "reporting.py", ROOT / "templates" / "reports" / "pdf.html"]


def reports_dir():
    return Path(current_app.config.get("REPORTS_DIR") or Path(current_app.instance_path) / "reports")


def font_dir():
    return Path(current_app.config.get("REPORT_FONT_DIR") or Path(current_app.instance_path) / "fonts")


def code_hash(kind):
    digest = hashlib.sha256()
    for path in [NOTEBOOKS[kind], *CODE]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def app_for_notebook():
    """The app a notebook reads through: the running one in-process; in Jupyter, one made from
    the environment (DATABASE_URL or instance/config.py), its context pushed for the session."""
    if has_app_context():
        return current_app
    from app import create_app

    application = create_app()
    application.app_context().push()
    database.connect(reuse_if_open=True)
    return application


def subject_of(kind, subject_id):
    """The territory (a reported kind) or bank a report is about; None when there is none."""
    if kind == "territory":
        territory = Territory.get_or_none(Territory.id == subject_id)
        return territory, (territory.branch.bank or territory.branch) if territory else None
    bank = Branch.get_or_none(Branch.id == subject_id, Branch.kind == "bank")
    return bank, bank


def _css_text(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def render_html(kind, subject_id, week):
    """The report's HTML and its sections: the notebook run with these parameters."""
    sections, namespace = notebook.run(NOTEBOOKS[kind], {PARAMETER[kind]: subject_id, "week": week})
    title, bank = namespace.get("REPORT_TITLE", ""), namespace.get("REPORT_BANK", "")
    page_css = (f"@page {{ @top-left {{ content: {_css_text(bank)}; }} @top-right {{ content: {_css_text(title)}; }} }}"
                "@page :first { @top-left { content: none; } @top-right { content: none; } }")
    fonts = pdf.prepared_fonts(font_dir()) if current_app.config.get("REPORT_FONTS", True) else {}
    # The template alone, without the page context processors (a worker has no request).
    template = current_app.jinja_env.get_template("reports/pdf.html")
    return template.render(sections=sections, title=title, bank=bank,
                           css=pdf.font_css(fonts) + PRINT_CSS.read_text(encoding="utf-8") + page_css), sections


def make(kind, subject_id, week, force=False, progress=None):
    """Make (or skip) one report; {"status": "made"|"skipped", "path", "pages"}. progress(done, total, message)."""
    monday = parse_week(week)
    subject, bank = subject_of(kind, subject_id)
    if subject is None:
        raise Refused(message=_l("This territory or bank no longer exists."))
    step = progress or (lambda done, total, message: None)
    step(0, 3, "inputs")
    for week_start in (monday - dt.timedelta(days=7), monday):
        close_week(week_start)  # a closed week without its snapshot gets it now, before the hash
    digest = inputs_hash(kind, subject, monday, code_hash(kind))
    territory = subject if kind == "territory" else None
    kept = ReportFile.of(kind, bank, territory, monday)
    target = reports_dir() / file_name(kind, subject.id, monday)
    if kept and kept.inputs_hash == digest and target.exists() and not force:
        step(3, 3, "unchanged")
        return {"status": "skipped", "path": target, "pages": kept.pages, "file": kept}
    step(1, 3, "notebook")
    _pause()
    document_html, _ = render_html(kind, subject.id, week)
    step(2, 3, "pdf")
    _pause()
    for leftover in target.parent.glob(f".{target.name}.*.part"):
        leftover.unlink(missing_ok=True)  # a killed run's temporary file (never listed, never served)
    pages = pdf.write_pdf(document_html, target, base_url=str(ROOT))
    values = {"path": file_name(kind, subject.id, monday), "inputs_hash": digest, "pages": pages,
              "size_bytes": target.stat().st_size, "made_at": clock.now()}
    with database.atomic():
        if kept:
            ReportFile.update(**values).where(ReportFile.id == kept.id).execute()
            kept = ReportFile.get_by_id(kept.id)
        else:
            kept = ReportFile.create(week=monday, kind=kind, bank=bank, territory=territory, **values)
    step(3, 3, "done")
    return {"status": "made", "path": target, "pages": pages, "file": kept}


def _pause():
    """REPORT_STEP_DELAY (tests only): a pause between steps, to kill a worker mid-report."""
    delay = float(current_app.config.get("REPORT_STEP_DELAY") or 0)
    if delay:
        time.sleep(delay)


def week_plan(bank, week, territory_id=None):
    """[(kind, subject id)] of a week's reports for a bank: every reported territory, then the summary."""
    if territory_id is not None:
        return [("territory", territory_id)]
    return [("territory", t.id) for t in reported_territories(bank)] + [("bank", bank.id)]


# --- queuing a week's reports on the job workers ----------------------------------------------------
JOB_KIND = "weekly_report"


def job_key(kind, subject_id, week):
    """One live job per report: asked twice (the Monday task and a button), it runs once."""
    return f"report:{kind}:{subject_id}:{week}"


def queue(kind, subject_id, week, bank, user=None, force=False):
    """Queue one report as a job (app/tasks.py runs make()); the live job when one is already queued."""
    from app.models.job import Job

    return Job.submit(JOB_KIND, {"kind": kind, "subject_id": subject_id, "week": week, "force": force},
                      user, bank, key=job_key(kind, subject_id, week))


def queue_week(bank, week, territory_id=None, user=None, close=True):
    """Queue a week's reports of a bank (every reported territory and the summary, or one territory);
    with close, the week's snapshot is taken first when it is closed (else the first job takes it).
    The jobs, in plan order."""
    monday = parse_week(week)
    for week_start in (monday - dt.timedelta(days=7), monday) if close else ():
        close_week(week_start)  # here, once, rather than in two workers at the same moment
    return [queue(kind, subject_id, week, bank, user) for kind, subject_id in week_plan(bank, week, territory_id)]
