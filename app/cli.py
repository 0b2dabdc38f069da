"""Flask commands: demo, create-bank, create-union, create-user, the imports (init-db lives with the database code)."""
import time

import click
from flask.cli import with_appcontext

from app import clock

from app.db import apply_schema, database, is_initialised
from app.files import private_open
from app.demo import PASSWORD, build_demo
from app.imports import importer, uploads
from app.imports.fields import field_label
from app.imports.geojson import MAX_IMPORT_BYTES, import_territories
from app.imports.rows import render
from app.imports.spreadsheet import Table, Unreadable
from app.imports.uploads import refused_workbook
from app.models import Branch, Job, User
from app.passwords import password_problem


@click.command("demo")
@click.option("--customers", default=6000, show_default=True, help="How many customers to create.")
@click.option("--seed", default=20261129, show_default=True, help="Same seed, same county.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has data.")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True,
              help="Where the app will be served, for the sign-in line (make run passes its HOST and PORT).")
@with_appcontext
def demo_command(customers, seed, if_empty, url):
    """Build the demo county (never over an existing one)."""
    db = database.obj
    with db.connection_context():
        if not is_initialised(db):
            apply_schema(db)
        if Branch.select().exists():
            if if_empty:
                click.echo("The database already holds data; the demo county was not built again.")
                print_logins(_existing_demo_logins(), url)
                return
            raise click.ClickException(
                "The database already holds data. Use a new DATABASE_URL, or `flask init-db --force` first.")
        summary = build_demo(customers=customers, seed=seed)
    click.echo(f"Demo county: {summary['branches']} branches, {summary['territories']} territories, "
               f"{summary['customers']} customers, {summary['users']} users, {summary['leads']} leads.")
    print_logins(summary["logins"], url)


def _existing_demo_logins():
    return [(u.role, u.username, PASSWORD) for u in
            User.select().where(User.active, User.username.in_(["mgr01", "lead1", "hangzhang", "admin"]))
            .order_by(User.id)]


def print_logins(logins, url):
    """One login per role is enough to try every part of the app."""
    click.echo(f"Sign in at {url} as:")
    shown = set()
    for role, username, password in logins:
        if role not in shown:
            shown.add(role)
            click.echo(f"  {role:<11} {username:<12} {password}")


def _open_root(kind, code, name, union_code=None):
    """Open a bank or union through the model's write path; its refusal, in Chinese, ends the command."""
    from flask_babel import force_locale

    from app.models.refused import Refused

    with database.obj.connection_context(), force_locale("zh_CN"):
        if not is_initialised(database.obj):
            apply_schema(database.obj)  # an empty database: the first command of a new bank
        try:
            return Branch.open_root(kind, code, name, union_code)
        except Refused as refused:
            raise click.ClickException("\n".join(str(m) for m in refused.messages) + "\nNothing was written.") from None


@click.command("create-bank")
@click.option("--code", required=True, help="The bank's code, e.g. HB: users, imports and reports name it.")
@click.option("--name", required=True, help="The bank's name, e.g. 红河农商银行.")
@click.option("--union", "union_code", help="The code of the provincial union that hosts it, if any.")
@with_appcontext
def create_bank_command(code, name, union_code):
    """Open a bank: the root of its branch tree (under a provincial union with --union)."""
    bank = _open_root("bank", code, name, union_code)
    under = f" under {bank.parent.code}" if bank.parent_id else ""
    click.echo(f"Opened bank {bank.code} {bank.name}{under}. Next, its first administrator:\n"
               f"  flask create-user admin --name NAME --role admin --branch {bank.code}")


@click.command("create-union")
@click.option("--code", required=True, help="The union's code.")
@click.option("--name", required=True, help="The union's name, e.g. 贵州省农村信用社联合社.")
@with_appcontext
def create_union_command(code, name):
    """Open a provincial union, above the banks it hosts (each made with create-bank --union CODE)."""
    union = _open_root("union", code, name)
    click.echo(f"Opened provincial union {union.code} {union.name}. Add its banks with:\n"
               f"  flask create-bank --code CODE --name NAME --union {union.code}")


@click.command("create-user")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["manager", "team_lead", "management", "admin"]), required=True)
@click.option("--branch", "branch_code", required=True, help="The code of the user's branch.")
@click.password_option()
@with_appcontext
def create_user_command(username, name, role, branch_code, password):
    """Create a user (the first administrator of a new deployment, for example)."""
    with database.obj.connection_context():
        if not is_initialised(database.obj):
            apply_schema(database.obj)
        branch = Branch.get_or_none(Branch.code == branch_code)
        if branch is None:
            raise click.ClickException(f"No branch with code {branch_code}. A new bank is opened first: "
                                       f"flask create-bank --code {branch_code} --name NAME")
        if User.select().where(User.username == username).exists():
            raise click.ClickException(f"The username {username} is taken.")
        problem = password_problem(password, username)
        if problem:
            raise click.ClickException(str(problem))
        user = User(username=username, name=name, role=role, branch=branch)
        user.set_password(password)
        user.save()
    click.echo(f"Created {role} {username}.")


def _branch_from_option(code, what):
    """The branch named by --branch, or the only bank when the option is left out.

    `what` finishes the sentence "the branch ... " in the error, so the user knows what the branch is for.
    """
    if code:
        branch = Branch.get_or_none(Branch.code == code)
        if branch is None:
            raise click.ClickException(f"No branch with code {code}: give --branch CODE, the branch {what}.")
        return branch
    # Two banks under a union: guessing would put the rows in the wrong bank, so ask.
    banks = list(Branch.select().where(Branch.kind == "bank").limit(2))
    if len(banks) != 1:
        raise click.ClickException(f"Give --branch CODE: the branch {what}.")
    return banks[0]


@click.command("import-territories")
@click.argument("file", type=click.File("rb"))
@click.option("--branch", "branch_code", help="The code of the branch the territories belong to "
              "(the only bank when there is one).")
@click.option("--datum", type=click.Choice(["wgs84", "gcj02"]), help="The file's datum, when it does not declare one.")
@click.option("--dry-run", is_flag=True, help="Check and list every feature, write nothing.")
@with_appcontext
def import_territories_command(file, branch_code, datum, dry_run):
    """Import a GeoJSON FeatureCollection of territories (nothing is written if any feature is wrong)."""
    from flask_babel import force_locale

    with database.obj.connection_context(), force_locale("zh_CN"):
        branch = _branch_from_option(branch_code, "the territories belong to")
        result = import_territories(file.read(MAX_IMPORT_BYTES + 1), branch, datum=datum, dry_run=dry_run)
        for message in result.messages:
            click.echo(message, err=True)
        for row in result.rows:
            area = f"{row.area_mu:,.1f} 亩" if row.area_m2 is not None else "—"
            click.echo(f"{row.index:>4}  {row.code or '':<12} {row.name:<12} {row.kind:<8} {area}")
            for message in row.messages:
                click.echo(f"        {message}", err=True)
    if not result.ok:
        raise click.ClickException("Nothing was written.")
    if result.written:
        click.echo(f"Imported {len(result.rows)} territories; {result.placed} customers placed again.")
    else:
        click.echo(f"{len(result.rows)} territories checked; nothing written (--dry-run).")


@click.command("import-customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--branch", "branch_code", help="The code of the branch new customers belong to "
              "(the only bank when there is one).")
@click.option("--kind", type=click.Choice(["archive", "core"]), default="archive", show_default=True,
              help="archive: a 建档 customer list; core: the weekly core-banking refresh.")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"]), default="auto", show_default=True,
              help="Encoding of a CSV file.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--yes", is_flag=True, help="Write without asking once the check passes.")
@click.option("--refused", "refused_out", type=click.Path(dir_okay=False),
              help="Also save the refused rows, with their reason, to this .xlsx file.")
@with_appcontext
def import_customers_command(file, branch_code, kind, encoding, dry_run, yes, refused_out):
    """Import customers from an .xlsx or .csv file: dry run first, then one transaction."""
    import json
    import shutil
    import uuid

    from flask_babel import force_locale

    with database.obj.connection_context(), force_locale("zh_CN"):
        branch = _branch_from_option(branch_code, "new customers belong to")
        token = uuid.uuid4().hex
        path = uploads.upload_dir() / token
        with open(file, "rb") as source, private_open(path, "wb") as copy:
            shutil.copyfileobj(source, copy)
        try:
            job = uploads.new_job(path, token, file.rsplit("/", 1)[-1], branch, kind,
                           None if encoding == "auto" else encoding, None)
        except Unreadable as refused:
            path.unlink(missing_ok=True)
            raise click.ClickException(render([refused.problem.message, refused.problem.params])) from None
        table = Table(path, job.file_format, job.encoding)
        header = table.header
        table.close()
        mapping = importer.mapping_of(job)
        click.echo(f"Header on row {job.header_row}; columns:")
        for index, title in enumerate(header):
            target = str(field_label(mapping[index])) if index in mapping else "—"
            click.echo(f"  {title or '(no title)':<16} → {target}")
        counts = _run_on_worker(job, "Checking", write=False)
        job = type(job).get_by_id(job.id)
        _echo_outcome(render, job, counts)
        if refused_out and (counts.get("refused") or counts.get("missing")):
            _save_refused(job, refused_out)
        if job.data("problems"):
            raise click.ClickException("Nothing was written.")
        if dry_run:
            click.echo("Dry run: nothing written.")
            return
        if not yes and not click.confirm("Write these rows?"):
            click.echo("Nothing written.")
            return
        job.status = "writing"
        job.save()
        counts = _run_on_worker(job, "Writing", write=True)
        job = type(job).get_by_id(job.id)
        if job.status != "done":
            raise click.ClickException("Nothing was written.")
        uploads.job_file(job).unlink(missing_ok=True)
        click.echo("Written: " + json.dumps(counts, ensure_ascii=False))


def _run_on_worker(import_job, label, write):
    """Queue the import's check or write as a background job and show its progress (the same
    numbers the import page polls) until it ends; a worker (`flask worker`) runs it."""
    task = Job.submit("import_write" if write else "import_check", {"import_job": import_job.id}, None,
                      import_job.branch_id, key=importer.task_key(import_job, write))
    click.echo(f"Job {task.id} queued.")
    warned, started = False, time.monotonic()
    with click.progressbar(length=import_job.total_rows or 1, label=label, show_pos=True) as bar:
        seen = 0
        while True:
            task = Job.get_by_id(task.id).live_view()
            if task.total:
                bar.length = max(task.total, 1)
            if task.done > seen:
                bar.update(task.done - seen)
                seen = task.done
            if task.finished:
                break
            if not warned and task.state == "queued" and time.monotonic() - started > 10:
                click.echo("\nNo worker has taken the job yet: is `flask worker` running?", err=True)
                warned = True
            time.sleep(0.2)
    if task.state == "failed":
        raise click.ClickException(task.error or "The job failed.")
    return task.data("result") or {}


def _echo_outcome(render, job, counts):
    labels = {"new": "new", "updated": "updated", "unchanged": "unchanged", "refused": "refused",
              "missing": "not in the archive", "unplaced": "without a territory", "tier_changes": "tier changes"}
    click.echo("  ".join(f"{labels[k]}: {counts.get(k, 0):,}" for k in labels if k in counts or k in
                         ("new", "updated", "unchanged", "refused")))
    for problem in job.data("problems") or []:
        click.echo(render(problem), err=True)
    preview = job.data("preview") or {}
    for entry in (preview.get("refused") or [])[:20]:
        reasons = "；".join(render(r) for r in entry["reasons"])
        click.echo(f"  row {entry['row']:>6}  {entry['name']:<10} {reasons}", err=True)


def _save_refused(job, out):
    with open(out, "wb") as f:
        f.write(refused_workbook(job).read())
    click.echo(f"Refused rows saved to {out}")


@click.command("weekly-reports")
@click.option("--week", required=True, help="ISO week, e.g. 2026-W48.")
@click.option("--territory", "territory_id", type=int, default=None, help="Only this territory's report.")
@click.option("--bank", "bank_code", default=None, help="Only this bank (its code); every bank by default.")
@click.option("--wait", is_flag=True, help="Show progress until all are made; start two workers if none runs.")
@with_appcontext
def weekly_reports_command(week, territory_id, bank_code, wait):
    """Queue a week's reports (each village, street, market and zone, and the bank summary) as jobs."""
    from app.jobs import last_worker_heartbeat
    from app.models import Territory
    from app.models.refused import Refused
    from app.reporting import queue_week

    with database.obj.connection_context():
        if territory_id is not None:
            territory = Territory.get_or_none(Territory.id == territory_id)
            if territory is None:
                raise click.ClickException(f"No territory {territory_id}.")
            banks = [territory.branch.bank or territory.branch]
        else:
            banks = list(Branch.select().where(Branch.kind == "bank", Branch.closed_on.is_null(),
                                               *([Branch.code == bank_code] if bank_code else [])))
        try:
            jobs = [job for bank in banks for job in queue_week(bank, week, territory_id)]
        except Refused as refused:
            raise click.ClickException("；".join(str(m) for m in refused.messages)) from None
        click.echo(f"{len(jobs)} reports queued for {week}.")
        if not wait or not jobs:
            return
        beat = last_worker_heartbeat()
        workers = None
        if beat is None or (clock.now() - beat).total_seconds() > 15:
            click.echo("No worker is running: starting two for this run.")
            workers = _start_workers()
        try:
            _wait_for(jobs)
        finally:
            if workers is not None:
                workers.terminate()
                workers.wait(timeout=30)


def _start_workers():
    """A local consumer with two worker processes, for this run only (stopped when it ends)."""
    import os
    import subprocess
    import sys

    from flask import current_app

    env = dict(os.environ, FLASK_APP="app", DATABASE_URL=current_app.config["DATABASE_URL"],
               HUEY_URL=current_app.config["HUEY_URL"] or f"sqlite:///{current_app.instance_path}/huey.db")
    return subprocess.Popen([sys.executable, "-m", "flask", "worker", "--workers", "2", "--no-periodic"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(jobs):
    """A progress bar over the jobs until every one has ended; the made, skipped and failed counts."""
    ids = [job.id for job in jobs]
    with click.progressbar(length=len(ids), label="Reports", show_pos=True) as bar:
        seen = 0
        while True:
            ended = list(Job.select().where(Job.id.in_(ids), Job.state.in_(("done", "failed"))))
            if len(ended) > seen:
                bar.update(len(ended) - seen)
                seen = len(ended)
            if seen == len(ids):
                break
            time.sleep(0.3)
    made = sum(1 for j in ended if j.state == "done" and (j.data("result") or {}).get("status") == "made")
    skipped = sum(1 for j in ended if j.state == "done") - made
    failed = [j for j in ended if j.state == "failed"]
    click.echo(f"made: {made}  unchanged: {skipped}  failed: {len(failed)}")
    for job in failed:
        click.echo(f"  job {job.id}: {job.error}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} reports failed.")


def init_app(app):
    app.cli.add_command(weekly_reports_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(create_bank_command)
    app.cli.add_command(create_union_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(import_territories_command)
    app.cli.add_command(import_customers_command)
