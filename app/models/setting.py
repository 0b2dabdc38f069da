"""Bank-level settings the administrator changes on 设置 (check-in radius, coverage kinds …).

Each value is stored as text and read through `Setting.get(bank, key)`, which returns
the typed value, or the default while the bank has not changed it.
"""
from flask_babel import lazy_gettext as _l
from peewee import DateTimeField, ForeignKeyField, TextField, fn

from app import clock
from app.models.base import BaseModel, created_at_field
from app.models.org import Branch
from app.models.vocabulary import COUNTED_KINDS, CUSTOMER_KINDS
from app.models.prepared import Prepared

COVERAGE_KINDS = CUSTOMER_KINDS  # any kind may be counted


def _int_between(low, high):
    def parse(text):
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ValueError(_l("Enter a whole number.")) from None
        if not low <= value <= high:
            raise ValueError(_l("Enter a number from %(low)s to %(high)s.", low=low, high=high))
        return value
    return parse


def _kinds(text):
    kinds = [k.strip() for k in str(text).split(",") if k.strip()]
    if not kinds or any(k not in COVERAGE_KINDS for k in kinds):
        raise ValueError(_l("Choose at least one customer kind."))
    # Keep the vocabulary's order so the same choice is always stored the same way.
    return [k for k in COVERAGE_KINDS if k in kinds]


def _kinds_text(value):
    return ",".join(value)


COVERAGE_PERIODS = ("week", "month", "quarter")


def _period(text):
    value = str(text).strip()
    if value not in COVERAGE_PERIODS:
        raise ValueError(_l("Choose a week, a month or a quarter."))
    return value


# key → (default, parse text to value (raises ValueError with a message), value to text, meaning)
DEFINITIONS = {
    "check_in_radius_m": (
        100, _int_between(10, 1000), str,
        _l("A check-in counts as verified when the phone is within this many metres of the customer.")),
    "check_in_radius_cap_m": (
        300, _int_between(50, 5000), str,
        _l("A GPS fix less accurate than this many metres is never verified, whatever the radius.")),
    "coverage_kinds": (list(COUNTED_KINDS), _kinds, _kinds_text,
                       _l("Which kinds of customer the coverage rate counts.")),
    "late_check_in_days": (7, _int_between(1, 90), str,
                           _l("A check-in made offline may still be uploaded this many days after it was "
                              "made; an older one is refused with the reason.")),
    "stale_lead_days": (7, _int_between(1, 365), str,
                        _l("A lead untouched for this many days is shown as stale.")),
    "session_idle_minutes": (60, _int_between(5, 1440), str,
                             _l("A signed-in user who does nothing for this many minutes is signed out.")),
    # The map's coverage colours; the settings form also checks green is above amber.
    "coverage_green_pct": (80, _int_between(0, 100), str,
                           _l("On the map, a territory covered in the period at this percentage or more is green.")),
    "coverage_amber_pct": (50, _int_between(0, 100), str,
                           _l("From this percentage up to the green one it is amber; below it, red.")),
    # Weekly coverage tops out near 11 % at ~36 visits a manager a week: the colours judge a
    # period a team can cover (issue 21), which the map and the coverage page name.
    "coverage_period": ("month", _period, str,
                        _l("The period the coverage colours judge, on the map and the team's coverage page.")),
    "gold_rhythm_days": (30, _int_between(1, 365), str,
                         _l("A gold customer not contacted for this many days is past the gold rhythm.")),
    # Each tier's contact rhythm (分层维护频次, DESIGN.md): Today puts a customer past it first.
    "mass_rhythm_days": (90, _int_between(1, 730), str,
                         _l("A mass customer not contacted for this many days is past the mass rhythm.")),
    "potential_rhythm_days": (180, _int_between(1, 730), str,
                              _l("A potential customer not contacted for this many days is past the "
                                 "potential rhythm.")),
}


class Setting(BaseModel):
    bank = ForeignKeyField(Branch, backref="settings", on_delete="CASCADE")
    key = TextField()
    value = TextField()
    updated_at = DateTimeField(default=clock.now)
    created_at = created_at_field()

    class Meta:
        indexes = ((("bank", "key"), True),)

    @classmethod
    def _row(cls, bank, key):
        # Not get_or_none: peewee's get_or_none calls get, which this model redefines.
        return cls.select().where((cls.bank == bank) & (cls.key == key)).first()

    @classmethod
    def get(cls, bank, key):
        """The bank's value for key, typed; the default when unset or above any bank."""
        default, parse, _, _ = DEFINITIONS[key]
        if bank is None:
            return default
        row = cls._row(bank, key)
        if row is None:
            return default
        try:
            return parse(row.value)
        except ValueError:
            # A value written by hand into the database must not break every page.
            return default

    @classmethod
    def all_for(cls, bank):
        return {key: cls.get(bank, key) for key in DEFINITIONS}

    @classmethod
    def put(cls, bank, key, value):
        """Store a typed value; return (old, new) as text for the audit log."""
        _, _, to_text, _ = DEFINITIONS[key]
        old = to_text(cls.get(bank, key))
        new = to_text(value)
        _forget_cached_rows()
        row = cls._row(bank, key)
        if row is None:
            cls.create(bank=bank, key=key, value=new)
        else:
            row.value = new
            row.updated_at = clock.now()
            row.save()
        return old, new


def for_branch(branch_id, keys):
    """{key: typed value} of the bank a branch belongs to, in one query (defaults for unset keys).

    Every signed-in request reads the idle timeout and every check-in two more keys;
    Setting.get would take a query to find the bank and one per key. Within a request
    the rows are read once.
    """
    values = {key: DEFINITIONS[key][0] for key in keys}
    for key, text in _bank_rows(branch_id):
        if key not in values:
            continue
        try:
            values[key] = DEFINITIONS[key][1](text)
        except ValueError:
            pass  # a value written by hand into the database must not break a check-in
    return values


def counted_kinds(branch_id):
    """The customer kinds coverage counts for the bank a branch belongs to (coverage_kinds),
    as a tuple in the vocabulary's order; read with the request's other settings, no query
    of its own once they are read."""
    return tuple(for_branch(branch_id, ("coverage_kinds",))["coverage_kinds"])


def _bank_rows(branch_id):
    from flask import g, has_app_context

    cache = g.setdefault("bank_settings", {}) if has_app_context() else {}
    if branch_id not in cache:
        cache[branch_id] = _SETTINGS_FOR_BRANCH(branch_id=branch_id)
    return cache[branch_id]


def _settings_for_branch(p):
    bank, branch = Branch.alias("bank"), Branch.alias("of_branch")
    return (Setting.select(Setting.key, Setting.value)
            .join(bank, on=(Setting.bank == bank.id))
            .join(branch, on=(fn.substr(branch.path, 1, fn.length(bank.path)) == bank.path))
            .where((branch.id == p.branch_id) & (bank.kind == "bank")))


# Every signed-in request reads settings: the SQL is built once.
_SETTINGS_FOR_BRANCH = Prepared("settings_for_branch", _settings_for_branch)


def _forget_cached_rows():
    from flask import g, has_app_context

    if has_app_context():
        g.pop("bank_settings", None)
