"""The archive's field rules (建档), declared once: the archive form and the customer import
both read them, so a row of a file is refused for exactly what the form refuses.

A rule gives a field's label (lazy, translated when shown), its type, its longest text,
whether it is required (and the message when it is missing) and whether it may be negative.
Types: text, name, phone, id, kind, category, rating, amount (a number ≥ 0), whole (a
whole number ≥ 0), number (any sign), bool, date, choice, products, core_no, lat, lng.
A number's rule also bounds it (`largest`, and as much below zero for "number"): an
archive never holds inf, NaN or 1e308, which would be shown and tiered.
"""
import math
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app import crypto


@dataclass(frozen=True)
class FieldRule:
    label: object
    type: str
    max_length: int = None
    required: bool = False
    required_message: object = None
    largest: float = None  # a number's bound (its magnitude for "number")

    @property
    def not_negative(self):
        return self.type in ("amount", "whole")

    @property
    def bounds(self):
        """(lowest, highest) a number of this field may be, or None for other types."""
        if self.largest is None:
            return None
        return (0 if self.not_negative else -self.largest), self.largest


NOT_NEGATIVE = _l("Cannot be negative.")
PHONE_PATTERN = crypto.PHONE_PATTERN
PHONE_MESSAGE = _l("A mobile number has 11 digits and starts with 1.")

# A holding's maturity (到期日): not before it started, and not beyond 30 years, the longest
# term a county bank writes (a typo of the year, 2207 for 2027, is caught).
MATURITY_YEARS = 30


def maturity_problem(since, matures_on, today):
    """Why matures_on cannot be a holding's maturity (a lazy message), or None; since is
    the holding's start (today for one without)."""
    if matures_on is None:
        return None
    start = since or today
    if matures_on < start:
        return _l("The maturity date %(day)s is before the holding started (%(since)s).",
                  day=matures_on.isoformat(), since=start.isoformat())
    try:
        limit = start.replace(year=start.year + MATURITY_YEARS)
    except ValueError:  # 29 February
        limit = start.replace(year=start.year + MATURITY_YEARS, day=28)
    if matures_on > limit:
        return _l("The maturity date %(day)s is more than 30 years after the start: check the year.",
                  day=matures_on.isoformat())
    return None
NAME_MESSAGE = _l("Enter a name.")
# crypto's refusals are English msgids; these make them translatable here.
ID_MESSAGES = {
    "An ID number has 18 digits (the last may be X).": _l("An ID number has 18 digits (the last may be X)."),
    "The check digit of this ID number is wrong.": _l("The check digit of this ID number is wrong."),
    "The birth date in this ID number does not exist.": _l("The birth date in this ID number does not exist."),
    "The birth date in this ID number is in the future.": _l("The birth date in this ID number is in the future."),
}

FIELDS = {
    "kind": FieldRule(_l("Kind"), "kind"),
    "name": FieldRule(_l("Head of household or owner"), "name", max_length=80, required=True,
                      required_message=NAME_MESSAGE),
    "phone": FieldRule(_l("Phone"), "phone"),
    "id_number": FieldRule(_l("ID number"), "id"),
    "township": FieldRule(_l("Township"), "text", max_length=40),
    "village": FieldRule(_l("Village"), "text", max_length=40),
    "group_name": FieldRule(_l("Group"), "text", max_length=40),
    "street": FieldRule(_l("Street"), "text", max_length=60),
    "house_no": FieldRule(_l("Number"), "text", max_length=20),
    "category": FieldRule(_l("Business category"), "category"),
    "scale_mu": FieldRule(_l("Land (mu)"), "amount", largest=1_000_000),
    "livestock_head": FieldRule(_l("Livestock (head)"), "whole", largest=10_000_000),
    "annual_turnover_wan": FieldRule(_l("Annual turnover (10k yuan)"), "amount", largest=10_000_000),
    "assets_wan": FieldRule(_l("Assets (10k yuan)"), "amount", largest=10_000_000),
    "debts_wan": FieldRule(_l("Debts (10k yuan)"), "amount", largest=10_000_000),
    "net_income_wan": FieldRule(_l("Annual net income (10k yuan)"), "number", largest=10_000_000),
    "credit_rating": FieldRule(_l("Credit rating"), "rating"),
    "products": FieldRule(_l("Products with us"), "products"),
    "products_elsewhere": FieldRule(_l("Products with other banks"), "text", max_length=200),
    "consent": FieldRule(_l("Agrees to be contacted"), "bool"),
    "consent_on": FieldRule(_l("Consent given on"), "date"),
    "consent_via": FieldRule(_l("Consent given how"), "choice"),
    "sensitive_consent": FieldRule(_l("Separate consent for sensitive information"), "bool"),
    "sensitive_consent_on": FieldRule(_l("Separate consent given on"), "date"),
    "sensitive_consent_via": FieldRule(_l("Separate consent given how"), "choice"),
    "legal_basis": FieldRule(_l("Legal basis"), "basis"),
    "legal_basis_on": FieldRule(_l("Legal basis since"), "date"),
    "status": FieldRule(_l("Status"), "choice"),
    # Kept by imports and the core-banking refresh, not typed into the form.
    "deposit_balance_wan": FieldRule(_l("Deposit balance (10k yuan)"), "amount", largest=10_000_000),
    "loan_balance_wan": FieldRule(_l("Loan balance (10k yuan)"), "amount", largest=10_000_000),
    "core_no": FieldRule(_l("Core-banking customer number"), "core_no", max_length=40),
    "lat": FieldRule(_l("Latitude"), "lat"),
    "lng": FieldRule(_l("Longitude"), "lng"),
}


# A number's bound is generous for a county bank's biggest customer (a million mu, ten
# million heads or 10k yuan: 1,000 亿元) and far below what overflows a column or a page.
def out_of_bounds(name, value):
    """Why value cannot be this field's number (not finite, or beyond its bounds), or None."""
    rule = FIELDS.get(name)
    if rule is None or rule.bounds is None or value is None:
        return None
    low, high = rule.bounds
    if not math.isfinite(value) or not low <= value <= high:
        return _l("Enter a number from %(low)s to %(high)s.", low=f"{low:.0f}", high=f"{high:.0f}")
    return None


def label(name):
    """A field's label, or its name when it has no rule."""
    rule = FIELDS.get(name)
    return rule.label if rule is not None else name


def max_length(name):
    """A text field's longest accepted value, if it has one."""
    rule = FIELDS.get(name)
    return rule.max_length if rule is not None else None
