"""我的团队: coverage by period for a team lead's territories and managers (management: any
branch of their scope), the customers behind each figure and tomorrow's lists, one manager's
figures, the team's follow-up ledger, the review queue, and each table as Excel."""
import datetime as dt

from flask import Blueprint, abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from app import clock, maps
from app.exports import workbook
from app.db import chinese_order
from app.models import Assignment, Territory, User
from app.models import review as reviews
from app.models import team as team_model
from app.models.refused import Refused
from app.models.scope import user_scope
from app.web import arg_id, flash_refused, get_visible_or_404, local_path, render, roles_required

bp = Blueprint("coverage", __name__)
READERS = ("team_lead", "management")

PERIOD_NAMES = {"this_week": _l("This week"), "last_week": _l("Last week"), "this_month": _l("This month"),
                "last_month": _l("Last month"), "this_quarter": _l("This quarter"),
                "last_quarter": _l("Last quarter"), "custom": _l("Dates of my choice")}
SHOW_NAMES = {"counted": _l("Customers counted"), "visited": _l("Visited (verified)"),
              "visited_all": _l("Visited (all check-ins)"), "unvisited": _l("Not yet visited"),
              "gold": _l("Gold past the rhythm"), "overdue": _l("With overdue follow-ups")}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.app_template_global()
def period_label(period):
    """本月（11-01 至 11-30）: a period's name and its dates, as every page and file says it."""
    dates = _("%(start)s to %(end)s", start=period.start.isoformat(), end=period.last_day.isoformat())
    if period.kind in ("custom", "previous"):
        return dates
    return _("%(name)s (%(dates)s)", name=PERIOD_NAMES[period.kind], dates=dates)


def _period():
    """(period, errors): the period the query string asks for, else the bank's default with the reasons."""
    try:
        return team_model.parse_period(current_user, request.args.get("period"), request.args.get("start"),
                                 request.args.get("end")), []
    except Refused as refused:
        return team_model.default_period(current_user), refused.messages


def _asked():
    """(period, branch) a download or a list asks for; 400 for a period it cannot read (the
    page itself shows the reasons instead)."""
    period, errors = _period()
    if errors:
        abort(400)
    return period, _branch()


def _branch():
    """The branch the page shows (?branch= within the scope; 404 outside it)."""
    try:
        branch_id = request.args.get("branch", type=arg_id)
        return team_model.chosen_branch(current_user, branch_id)
    except Refused:
        abort(404)


def _args(period, branch, **more):
    """Query-string arguments that keep the page's period and branch in a link."""
    args = dict(period.args())
    if branch.id != current_user.branch_id:
        args["branch"] = branch.id
    args.update({k: v for k, v in more.items() if v is not None})
    return args


def _coverage_tables(period, branch):
    """The page's tables: (total, branches, territories, managers), each row a dict with its name."""
    territories = team_model.field_territories(current_user, branch)
    managers = team_model.team_members(current_user, branch)
    branches = [b for b in team_model.branches_for(current_user) if b.path.startswith(branch.path)]
    found = team_model.page_figures(current_user, period, territories=[t.id for t in territories],
                                    managers=managers, branches=[b.id for b in branches] if len(branches) > 1 else (),
                                    total_of=[b.id for b in branches])
    t_rows = [dict(found["territory"][t.id], name=t.name, zone=t.zone, territory=t) for t in territories]
    names = _territory_names(managers)
    m_rows = [dict(found["manager"][m.id], name=m.name, manager=m, zone="、".join(names.get(m.id, [])) or None)
              for m in managers]
    b_rows = [dict(found["branch"][b.id], name=b.name, branch=b) for b in branches
              if b.id in found["branch"] and found["branch"][b.id]["counted"]]
    return found["total"], b_rows, t_rows, m_rows


@bp.route("/team")
@roles_required(*READERS)
def team():
    """Coverage over a period for the team's territories and managers, each figure a link."""
    period, errors = _period()
    branch = _branch()
    sort = request.args.get("sort", "name")
    sort = sort if sort in team_model.SORT_KEYS else "name"
    descending = request.args.get("dir") == "desc"
    total, b_rows, t_rows, m_rows = _coverage_tables(period, branch)
    assigned = _assigned_ids(t_rows)
    unassigned = [r["territory"] for r in t_rows if r["territory"].id not in assigned]
    response = render("coverage/team.html", period=period, errors=errors, branch=branch,
                      branches=team_model.branches_for(current_user), total=total,
                      branch_rows=team_model.sort_rows(b_rows, sort, descending),
                      territory_rows=team_model.sort_rows(t_rows, sort, descending),
                      manager_rows=team_model.sort_rows(m_rows, sort, descending),
                      sort=sort, descending=descending, args=_args(period, branch), kinds=team_model.PERIOD_KINDS,
                      unassigned=unassigned, rhythm=team_model.gold_window(current_user, period.as_of)[2],
                      band=_band(), PERIOD_NAMES=PERIOD_NAMES)
    if errors:
        response.status_code = 400
    return response


def _territory_names(managers):
    """{manager id: names of the territories assigned to them today}, in one query."""
    names, seen = {}, set()
    for user_id, territory_id, name in (
            Territory.select(Assignment.user, Territory.id, Territory.name)
            .join(Assignment, on=(Assignment.territory == Territory.id))
            .where(Assignment.id.in_(Assignment.current().select(Assignment.id)),
                   Assignment.user.in_([m.id for m in managers] or [0]))
            .order_by(chinese_order(Territory.name), Territory.id).tuples()):
        if (user_id, territory_id) not in seen:  # two business lines: one territory, named once
            seen.add((user_id, territory_id))
            names.setdefault(user_id, []).append(name)
    return names


def _band():
    """A row's colour band by the bank's thresholds (as on the map)."""
    green, amber = maps.coverage_thresholds(current_user)
    return lambda row: maps.coverage_band(row["visited"], row["counted"], green, amber)


def _assigned_ids(rows):
    ids = [r["territory"].id for r in rows]
    return {t for (t,) in Assignment.current().select(Assignment.territory)
            .where(Assignment.territory.in_(ids)).tuples()} if ids else set()


def _header(title, period, branch):
    return [title, _("Period: %(period)s", period=period_label(period)),
            _("Scope: %(branch)s", branch=branch.name),
            _("Made by %(name)s at %(at)s (Beijing time)", name=current_user.name,
              at=clock.to_local(clock.now()).strftime("%Y-%m-%d %H:%M"))]


def _pct(ratio):
    return None if ratio is None else round(ratio * 100, 1)


def _xlsx_response(data, name):
    response = make_response(data)
    response.headers["Content-Type"] = XLSX
    response.headers["Content-Disposition"] = f"attachment; filename={name}.xlsx"
    response.headers["Cache-Control"] = "private, no-store"
    return response


FIGURE_COLUMNS = [_l("Customers counted"), _l("Visited (verified)"), _l("Visited (all check-ins)"),
                  _l("Coverage %"), _l("Previous period %"), _l("Change (points)"), _l("Gold past the rhythm"),
                  _l("With overdue follow-ups")]


def _figure_values(row):
    return [row["counted"], row["visited"], row["visited_all"], _pct(row["coverage"]), _pct(row["previous"]),
            row["change"], row["gold"], row["overdue"]]


@bp.route("/team.xlsx")
@roles_required(*READERS)
def team_xlsx():
    """The coverage page's tables as one Excel file, the same numbers and the same period."""
    period, branch = _asked()
    total, b_rows, t_rows, m_rows = _coverage_tables(period, branch)
    cols = [str(c) for c in FIGURE_COLUMNS]
    header = _header(_("Coverage"), period, branch)
    sheets = [(_("Total"), header, cols, [_figure_values(total)])]
    if b_rows:
        sheets.append((_("By branch"), header, [_("Branch")] + cols,
                       [[r["name"]] + _figure_values(r) for r in b_rows]))
    sheets.append((_("By territory"), header, [_("Territory"), _("Zone")] + cols,
                   [[r["name"], r["zone"] or ""] + _figure_values(r) for r in t_rows]))
    sheets.append((_("By manager"), header, [_("Account manager")] + cols,
                   [[r["name"]] + _figure_values(r) for r in m_rows]))
    return _xlsx_response(workbook(sheets), f"coverage-{period.start}-{period.last_day}")


# --- the customers behind a figure ---------------------------------------------------------

def _subject(branch):
    """(what the list is of: a dict with kind, object and name) from ?territory=, ?manager= or
    ?branch-as-subject; 404 for anything outside the scope."""
    args = request.args
    if args.get("territory"):
        territory = get_visible_or_404(Territory, args.get("territory"))
        return {"territory": territory, "name": territory.name, "key": "territory", "id": territory.id}
    if args.get("manager"):
        manager = _manager_or_404(args.get("manager"))
        return {"manager": manager, "name": manager.name, "key": "manager", "id": manager.id}
    return {"branch": branch, "name": branch.name, "key": "branch", "id": branch.id}


def _manager_or_404(value):
    try:
        manager_id = arg_id(value)
    except (TypeError, ValueError):
        abort(404)
    manager = User.select().where(user_scope(current_user), User.role == "manager",
                                  User.id == manager_id).first()
    if manager is None:
        abort(404)
    return manager


def _figure_list(period, branch):
    show = request.args.get("show", "unvisited")
    if show not in team_model.SHOW:
        abort(404)
    subject = _subject(branch)
    rows, count = team_model.figure_customers(current_user, period, show, territory=subject.get("territory"),
                                        manager=subject.get("manager"), branch=subject.get("branch"))
    return show, subject, rows, count


@bp.route("/team/customers")
@roles_required(*READERS)
def customers():
    """The customers behind one figure (e.g. a village's unvisited households), to hand on as a list."""
    period, branch = _asked()
    show, subject, rows, count = _figure_list(period, branch)
    managers = team_model.team_members(current_user, branch) if current_user.role == "team_lead" else []
    if subject.get("territory") is not None and managers:
        # Those who keep the territory (or a territory holding it) first: the likely receiver.
        keeps = {u for (u,) in Assignment.current().join(Territory, on=(Assignment.territory == Territory.id))
                 .select(Assignment.user).where(Territory.id.in_(
                     [int(p) for p in subject["territory"].path.strip("/").split("/") if p])).tuples()}
        managers.sort(key=lambda m: m.id not in keeps)
    elif subject.get("manager") is not None:
        managers.sort(key=lambda m: m.id != subject["manager"].id)
    args = _args(period, branch, show=show)
    args[subject["key"]] = subject["id"]
    return render("coverage/customers.html", period=period, branch=branch, show=show, subject=subject,
                  rows=rows, count=count, managers=managers, args=args, show_names=SHOW_NAMES,
                  limit=team_model.LIST_LIMIT, tomorrow=clock.today() + dt.timedelta(days=1),
                  last_day=clock.today() + dt.timedelta(days=team_model.HAND_AHEAD_DAYS),
                  back=url_for("coverage.team", **_args(period, branch)))


@bp.route("/team/customers.xlsx")
@roles_required(*READERS)
def customers_xlsx():
    """The drill-down list as Excel: masked phones, every text cell written as text."""
    period, branch = _asked()
    show, subject, rows, count = _figure_list(period, branch)
    header = _header(f"{subject['name']} · {SHOW_NAMES[show]}", period, branch)
    if count > len(rows):
        header.append(_("The first %(n)s of %(total)s customers.", n=len(rows), total=count))
    columns = [_("Name"), _("Tier"), _("Village or street"), _("Group"), _("House number"), _("Phone"),
               _("Last visit")]
    tiers = {"gold": _("Gold"), "mass": _("Mass"), "potential": _("Potential")}
    values = [[c.name, tiers.get(c.tier, c.tier), c.village or c.street or "", c.group_name or "",
               c.house_no or "", c.phone_masked or "",
               clock.to_local(c.last_visit_at).strftime("%Y-%m-%d") if c.last_visit_at else ""] for c in rows]
    return _xlsx_response(workbook([(SHOW_NAMES[show], header, columns, values)]), f"customers-{show}")


@bp.route("/team/hand", methods=["POST"])
@roles_required("team_lead")
def hand():
    """Hand the chosen customers to a manager as a day's list; they come first on that Today."""
    form = request.form
    back = local_path(form.get("next")) or url_for("coverage.team")
    day = None
    try:
        if form.get("for_day", "").strip():
            day = dt.date.fromisoformat(form["for_day"].strip())
    except ValueError:
        flash(_("Enter a date as YYYY-MM-DD."))
        return redirect(back), 303
    try:
        added = team_model.hand_customers(current_user, form.getlist("customer"), form.get("manager"), day,
                                    form.get("note", ""))
    except Refused as refused:
        flash_refused(refused)
        return redirect(back), 303
    flash(_("%(n)s customers handed over as a list.", n=added))
    return redirect(back), 303


# --- one manager ----------------------------------------------------------------------------

@bp.route("/team/managers/<int:user_id>")
@roles_required(*READERS)
def manager(user_id):
    """One manager's figures: this week and last, unverified check-ins, overdue follow-ups, stale leads."""
    person = _manager_or_404(user_id)
    return render("coverage/manager.html", person=person, figures=team_model.manager_figures(current_user, person))


# --- the team's ledger ----------------------------------------------------------------------

@bp.route("/team/ledger")
@roles_required(*READERS)
def ledger():
    """Every overdue and due follow-up of the team this week, by manager; a team lead reassigns one."""
    branch = _branch()
    groups = team_model.team_ledger(current_user, branch)
    return render("coverage/ledger.html", groups=groups, branch=branch, branches=team_model.branches_for(current_user),
                  managers=[m for m, _ in groups], today=clock.today())


@bp.route("/team/ledger.xlsx")
@roles_required(*READERS)
def ledger_xlsx():
    branch = _branch()
    groups = team_model.team_ledger(current_user, branch)
    week = team_model.period_of("this_week")
    header = _header(_("The team's follow-ups"), week, branch)
    labels = {"overdue": _("Overdue"), "today": _("Today"), "week": _("Later this week")}
    values = []
    for person, group in groups:
        for key in ("overdue", "today", "week"):
            for f in group[key]:
                values.append([person.name, labels[key], f.due_on.isoformat(), f.customer.name,
                               f.customer.village or f.customer.street or "", f.customer.masked_phone or "",
                               f.reason or "", f.handed_by.name if f.handed_by_id else ""])
    columns = [_("Account manager"), _("State"), _("Due"), _("Customer"), _("Village or street"), _("Phone"),
               _("Reason"), _("Handed over by")]
    return _xlsx_response(workbook([(_("Follow-ups"), header, columns, values)]), "team-follow-ups")


@bp.route("/follow-ups/<int:follow_up_id>/reassign", methods=["POST"])
@roles_required("team_lead")
def reassign_follow_up(follow_up_id):
    """Give one follow-up to another manager of the team; they see it on Today with who sent it."""
    try:
        follow = team_model.reassign_follow_up(current_user, follow_up_id, request.form.get("manager"))
    except Refused as refused:
        flash_refused(refused)
    else:
        flash(_("%(customer)s handed to %(name)s.", customer=follow.customer.name, name=follow.user.name))
    return redirect(local_path(request.form.get("next")) or url_for("coverage.ledger")), 303


# --- the review queue -----------------------------------------------------------------------

@bp.route("/team/review")
@roles_required(*READERS)
def review():
    """Visits and positions waiting for a team lead's confirmation or rejection, and what stands out."""
    period, errors = _period()
    branch = _branch()
    found = reviews.queue(current_user, branch, period)
    response = render("coverage/review.html", period=period, errors=errors, branch=branch, found=found,
                      PERIOD_NAMES=PERIOD_NAMES,
                      reasons=reviews.REASONS, args=_args(period, branch), kinds=team_model.PERIOD_KINDS,
                      branches=team_model.branches_for(current_user))
    if errors:
        response.status_code = 400
    return response


@bp.route("/team/review.xlsx")
@roles_required(*READERS)
def review_xlsx():
    period, branch = _asked()
    found = reviews.queue(current_user, branch, period)
    header = _header(_("Review queue"), period, branch)
    waiting = [[clock.to_local(i.visit.made_at).strftime("%Y-%m-%d %H:%M"), i.visit.user.name, i.visit.customer.name,
                None if i.visit.distance_m is None else round(i.visit.distance_m),
                "、".join(str(reviews.REASONS[r]) for r in i.reasons)] for i in found["items"]]
    decisions = {"confirmed": _("Confirmed"), "rejected": _("Rejected")}
    decided = [[clock.to_local(v.made_at).strftime("%Y-%m-%d %H:%M"), v.user.name, v.customer.name,
                decisions[v.review], v.review_note] for v in found["decided"]]
    shares = [[m.name, n, bad, _pct(share), _("yes") if out else ""] for m, n, bad, share, out in found["shares"]]
    return _xlsx_response(workbook([
        (_("Waiting"), header, [_("When"), _("Account manager"), _("Customer"), _("Distance (m)"), _("Why")], waiting),
        (_("Decided"), header, [_("When"), _("Account manager"), _("Customer"), _("Decision"), _("Note")], decided),
        (_("Unverified share"), header + [_("Team: %(pct)s%%", pct=_pct(found["team_share"]) or 0)],
         [_("Account manager"), _("Visits"), _("Unverified"), _("Unverified %"), _("Stands out")], shares),
    ]), f"review-{period.start}-{period.last_day}")


@bp.route("/visits/<int:visit_id>/review", methods=["POST"])
@roles_required("team_lead")
def review_visit(visit_id):
    """Confirm a visit (it counts) or reject it with a note (it stops counting)."""
    try:
        reviews.decide(current_user, visit_id, request.form.get("decision", ""), request.form.get("note", ""))
    except Refused as refused:
        flash_refused(refused)
    else:
        flash(_("Decision saved."))
    return redirect(local_path(request.form.get("next")) or url_for("coverage.review")), 303


@bp.route("/customers/<int:customer_id>/position/reject", methods=["POST"])
@roles_required("team_lead", "admin")
def reject_position(customer_id):
    """Remove a position a first fix gave, when it is not where the customer lives."""
    try:
        customer = reviews.reject_position(current_user, customer_id, request.form.get("note", ""))
    except Refused as refused:
        flash_refused(refused)
    else:
        flash(_("Position of %(name)s removed: the next check-in proposes one again.", name=customer.name))
    return redirect(local_path(request.form.get("next")) or url_for("coverage.review")), 303
