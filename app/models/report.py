"""Weekly report files: which PDF was made for which week and territory (or bank), from which inputs.

The PDF itself lives under the instance folder (instance/reports/<week>/), written
atomically; a row here is written only after the file is whole, so a listing never offers a
half-made report. Files are served only through the reports page, with the scope of every
other record: a territory's report to whoever may see the territory (management and team
leads), the bank summary to management and admins of the bank.
"""
import datetime as dt
import hashlib

from peewee import DateField, DateTimeField, ForeignKeyField, IntegerField, TextField, fn

from app import clock
from app.models.base import BaseModel, created_at_field, one_of
from app.models.campaign import Campaign
from app.models.customer import Customer
from app.models.history import WeekClose
from app.models.lead import Lead, LeadEvent
from app.models.org import Branch
from app.models.scope import branch_ids, usable
from app.models.setting import Setting
from app.models.territory import Assignment, Territory
from app.models.visit import FollowUp, Visit

REPORT_KINDS = ("territory", "bank")
READERS = ("management", "team_lead", "admin")  # who opens the reports page
BANK_READERS = ("management", "admin")


class ReportFile(BaseModel):
    week = DateField()  # the Monday
    kind = TextField(constraints=[one_of("kind", REPORT_KINDS)])
    bank = ForeignKeyField(Branch, backref="report_files", on_delete="CASCADE")
    territory = ForeignKeyField(Territory, null=True, backref="report_files", on_delete="CASCADE")
    path = TextField()  # relative to the reports folder
    inputs_hash = TextField()
    pages = IntegerField()
    size_bytes = IntegerField()
    made_at = DateTimeField()
    created_at = created_at_field()

    class Meta:
        indexes = ((("week", "kind", "bank", "territory"), True),)

    @classmethod
    def visible_to(cls, user):
        """Report files the user may open: territories in their scope; the bank's summary for
        management and admins of a branch subtree holding the bank."""
        if not usable(user) or user.role not in READERS:
            return cls.select().where(cls.id.is_null())
        territories = Territory.visible_to(user).select(Territory.id)
        condition = (cls.kind == "territory") & cls.territory.in_(territories)
        if user.role in BANK_READERS:
            condition |= (cls.kind == "bank") & cls.bank.in_(branch_ids(user))
        return cls.select().where(condition)

    @classmethod
    def of(cls, kind, bank, territory, monday):
        return cls.get_or_none(cls.week == monday, cls.kind == kind, cls.bank == bank,
                               cls.territory == territory if territory is not None else cls.territory.is_null())


def file_name(kind, subject_id, monday):
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}/{kind}-{subject_id}.pdf"


def inputs_hash(kind, subject, monday, code_hash):
    """A hash of everything a report reads: the notebook and its code (code_hash), the week and
    its snapshot, and the customers, visits, leads and follow-ups of the subject (a territory's
    subtree, or the whole bank). An unchanged hash means an unchanged PDF, so it is skipped."""
    if kind == "territory":
        places = Territory.select(Territory.id).where(Territory.path.startswith(subject.path))
        customers = Customer.select(Customer.id).where(Customer.territory.in_(places))
        branch_filter = Customer.territory.in_(places)
    else:
        branches = Branch.select(Branch.id).where(Branch.path.startswith(subject.path))
        customers = Customer.select(Customer.id).where(Customer.branch.in_(branches))
        branch_filter = Customer.branch.in_(branches)
    since = clock.local_day_start_utc(monday - dt.timedelta(days=7))
    until = clock.local_day_start_utc(monday + dt.timedelta(days=7))
    parts = [kind, str(subject.id), str(monday), code_hash,
             str(WeekClose.select(WeekClose.closed_at).where(WeekClose.week.in_(
                 [monday, monday - dt.timedelta(days=7)])).tuples()[:]),
             # an open week's overdue follow-ups move with the day
             str(clock.today()) if monday + dt.timedelta(days=7) > clock.today() else "closed"]
    for query in (
        Customer.select(Customer.id, Customer.territory, Customer.tier, Customer.status, Customer.kind,
                        Customer.consent, Customer.version, Customer.updated_at).where(branch_filter)
        .order_by(Customer.id),
        Visit.select(fn.COUNT(Visit.id), fn.MAX(Visit.id), fn.MAX(Visit.received_at))
        .where(Visit.customer.in_(customers), Visit.made_at >= since, Visit.made_at < until),
        Lead.select(fn.COUNT(Lead.id), fn.MAX(Lead.updated_at)).where(Lead.customer.in_(customers)),
        LeadEvent.select(fn.COUNT(LeadEvent.id), fn.MAX(LeadEvent.id))
        .join(Lead).where(Lead.customer.in_(customers)),
        FollowUp.select(fn.COUNT(FollowUp.id), fn.MAX(FollowUp.id), fn.COUNT(FollowUp.done_at),
                        fn.MAX(FollowUp.due_on)).where(FollowUp.customer.in_(customers)),
        Territory.select(fn.COUNT(Territory.id), fn.MAX(Territory.id), fn.MAX(Territory.name))
        .where(Territory.path.startswith(subject.path) if kind == "territory" else Territory.id > 0),
        # who is responsible (the cover, the managers' table), the campaigns, the bank's settings
        Assignment.select(Assignment.id, Assignment.user, Assignment.starts_on, Assignment.ends_on)
        .order_by(Assignment.id),
        Campaign.select(Campaign.id, Campaign.name, Campaign.starts_on, Campaign.ends_on, Campaign.coverage_goal_pct)
        .order_by(Campaign.id),
        Setting.select(Setting.bank, Setting.key, Setting.value).order_by(Setting.id),
    ):
        parts.append(repr(query.tuples()[:]))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
