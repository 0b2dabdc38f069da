"""The archive form (建档): every field checked, every refusal a message beside its field.

The fields' labels, lengths and required flags are the archive's rules (models/customer_fields.py),
which the customer import reads too."""
import math

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import (BooleanField, DateField, FloatField, IntegerField, SelectField,
                     SelectMultipleField, StringField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app import clock, crypto
from app.models.consent import LEGAL_BASES, SENSITIVE_WAYS
from app.models.customer import CATEGORIES, CONSENT_WAYS, CREDIT_RATINGS, CUSTOMER_KINDS, STATUSES
from app.models.customer_fields import (FIELDS, ID_MESSAGES, NOT_NEGATIVE, PHONE_MESSAGE, PHONE_PATTERN,
                                        out_of_bounds)

KIND_LABELS = {"household": _l("Household"), "merchant": _l("Merchant"), "enterprise": _l("Enterprise")}
CATEGORY_LABELS = {"planting": _l("Planting"), "breeding": _l("Breeding"), "trade": _l("Trade"),
                   "labour": _l("Labour"), "enterprise": _l("Enterprise"), "other": _l("Other")}
CONSENT_LABELS = {"written": _l("Written"), "verbal": _l("Verbal"), "app": _l("In the app")}
BASIS_LABELS = {"kyc": _l("Legal duty: account-opening identity checks"),
                "contract": _l("Performing a contract with us")}
# What each kind of a customer's data rests on (models/consent.py grounds()), as the page says it.
DATA_KINDS = {"contact": _l("Phone and visits"), "identity": _l("ID number"),
              "finances": _l("Assets, debts and income"), "family": _l("Family members"),
              "accounts": _l("Accounts and balances with us")}
GROUND_LABELS = {"contact_consent": _l("Consent to be contacted"),
                 "no_contact": _l("No consent to be contacted: not visited, not counted"),
                 "sensitive_consent": _l("Separate consent"), "kyc": BASIS_LABELS["kyc"],
                 "contract": BASIS_LABELS["contract"],
                 "none": _l("No ground: may not be entered")}
STATUS_LABELS = {"active": _l("Active"), "moved": _l("Moved away"), "closed": _l("Closed")}
POSITION_LABELS = {"surveyed": _l("Surveyed"), "fix": _l("From a GPS fix"), "import": _l("Imported")}


class NumberField(FloatField):
    """A float whose parse error reads as ours (WTForms' own message is English only)."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = float(valuelist[0])
                if not math.isfinite(self.data):  # "inf", "nan": a float, never a number we keep
                    raise ValueError
            except ValueError:
                self.data = None
                raise ValueError(_l("Enter a number, e.g. 12.5.")) from None
        else:
            self.data = None


class WholeField(IntegerField):
    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0])
            except ValueError:
                self.data = None
                raise ValueError(_l("Enter a whole number.")) from None
        else:
            self.data = None


class LocalDateField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None


class ProductsField(SelectMultipleField):
    """Products held with us: only the bank's catalogue, refused in our words otherwise."""

    def process_formdata(self, valuelist):
        try:
            self.data = [int(v) for v in valuelist]
        except ValueError:
            self.data = None
            raise ValueError(_l("Choose products from the bank's catalogue.")) from None

    def pre_validate(self, form):
        known = {choice.value for choice in self.choices}
        if any(value not in known for value in self.data or []):
            raise ValidationError(_l("Choose products from the bank's catalogue."))


def _choices(values, labels, blank=True):
    return ([SelectChoice("", "—")] if blank else []) + [SelectChoice(v, labels.get(v, v)) for v in values]


def _rule(name):
    return FIELDS[name]


def _text(name, *validators):
    """A text field from the archive's rule: its label, required or optional, its longest value."""
    rule = FIELDS[name]
    checks = [DataRequired(message=rule.required_message) if rule.required else Optional(), *validators]
    if rule.max_length:
        checks.append(Length(max=rule.max_length))
    return StringField(rule.label, validators=checks)


def _number(name):
    """A number field from the archive's rule: amounts and whole numbers are never negative,
    and every number stays within the rule's bounds."""
    rule = FIELDS[name]
    checks = [Optional()] + ([NumberRange(min=0, message=NOT_NEGATIVE)] if rule.not_negative else [])
    checks.append(Bounded(name))
    return (WholeField if rule.type == "whole" else NumberField)(rule.label, validators=checks)


class Bounded:
    """The archive rule's bounds of a number field (customer_fields.out_of_bounds)."""

    def __init__(self, name):
        self.name = name

    def __call__(self, form, field):
        why = out_of_bounds(self.name, field.data)
        if why is not None:
            raise ValidationError(why)


class CustomerForm(FlaskForm):
    """The archive form: labels, lengths and required fields come from models/customer_fields.py."""

    kind = SelectField(_rule("kind").label, choices=_choices(CUSTOMER_KINDS, KIND_LABELS, blank=False))
    name = _text("name")
    phone = _text("phone", Regexp(PHONE_PATTERN, message=PHONE_MESSAGE))
    id_number = _text("id_number")
    township = _text("township")
    village = _text("village")
    group_name = _text("group_name")
    street = _text("street")
    house_no = _text("house_no")
    category = SelectField(_rule("category").label, choices=_choices(CATEGORIES, CATEGORY_LABELS))
    scale_mu = _number("scale_mu")
    livestock_head = _number("livestock_head")
    annual_turnover_wan = _number("annual_turnover_wan")
    assets_wan = _number("assets_wan")
    debts_wan = _number("debts_wan")
    net_income_wan = _number("net_income_wan")
    credit_rating = SelectField(_rule("credit_rating").label, choices=_choices(CREDIT_RATINGS, {}))
    products = ProductsField(_rule("products").label, coerce=int)
    products_elsewhere = _text("products_elsewhere")
    consent = BooleanField(_rule("consent").label)
    consent_on = LocalDateField(_rule("consent_on").label, validators=[Optional()])
    consent_via = SelectField(_rule("consent_via").label, choices=_choices(CONSENT_WAYS, CONSENT_LABELS))
    sensitive_consent = BooleanField(_rule("sensitive_consent").label)
    sensitive_consent_on = LocalDateField(_rule("sensitive_consent_on").label, validators=[Optional()])
    sensitive_consent_via = SelectField(_rule("sensitive_consent_via").label,
                                        choices=_choices(SENSITIVE_WAYS, CONSENT_LABELS))
    legal_basis = SelectField(_rule("legal_basis").label, choices=_choices(LEGAL_BASES, BASIS_LABELS))
    legal_basis_on = LocalDateField(_rule("legal_basis_on").label, validators=[Optional()])
    status = SelectField(_rule("status").label, choices=_choices(STATUSES, STATUS_LABELS, blank=False))

    def validate_id_number(self, field):
        try:
            field.data = crypto.validate_id_number(field.data)
        except crypto.InvalidIdNumber as refused:
            raise ValidationError(ID_MESSAGES[str(refused)]) from None

    def validate_consent_on(self, field):
        if field.data and field.data > clock.today():
            raise ValidationError(_l("This date is in the future."))

    validate_sensitive_consent_on = validate_legal_basis_on = validate_consent_on

    def archive(self):
        """The form's values as customer fields (blanks as None)."""
        data = {name: self[name].data for name in EDITABLE if name in self}  # products apart
        for name, value in data.items():
            if value == "":
                data[name] = None
        data["products_elsewhere"] = data.get("products_elsewhere") or ""
        data["consent"] = bool(data.get("consent"))
        data["sensitive_consent"] = bool(data.get("sensitive_consent"))
        return data


# What the archive's write path accepts from a form; the ID number is handled apart.
EDITABLE = ("kind", "name", "phone", "township", "village", "group_name", "street", "house_no",
            "category", "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan",
            "debts_wan", "net_income_wan", "credit_rating", "products_elsewhere", "consent",
            "consent_on", "consent_via", "sensitive_consent", "sensitive_consent_on", "sensitive_consent_via",
            "legal_basis", "legal_basis_on", "status")

TIER_LABELS = {"gold": _l("Gold"), "mass": _l("Mass"), "potential": _l("Potential")}


def describe_rule(code):
    """A tier rule code (`gold:50:AAA:`) in the reader's words; other text as it is."""
    parts = (code or "").split(":")
    if len(parts) != 4 or parts[0] not in TIER_LABELS:
        return code or "—"
    tier, volume, rating, scale = parts
    if tier == "potential":
        return _l("no gold or mass rule matched")
    conditions = []
    if volume:
        conditions.append(str(_l("business volume ≥ %(n)s (10k yuan)", n=volume)))
    if rating == CREDIT_RATINGS[0]:  # the top rating: "AAA 及以上" would promise a grade above it
        conditions.append(str(_l("credit rating %(r)s", r=rating)))
    elif rating:
        conditions.append(str(_l("credit rating %(r)s or better", r=rating)))
    if scale:
        conditions.append(str(_l("land ≥ %(n)s mu", n=scale)))
    return _l("%(tier)s rule: %(conditions)s", tier=TIER_LABELS[tier], conditions=" · ".join(conditions))


class MaturityForm(FlaskForm):
    """A holding's maturity date (到期日) on the customer page; empty clears it."""
    matures_on = LocalDateField(_l("Maturity date"), validators=[Optional()])


class MemberForm(FlaskForm):
    relation = StringField(_l("Relation"), validators=[
        DataRequired(message=_l("Enter the relation, e.g. spouse.")), Length(max=20)])
    member_name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Enter a name.")), Length(max=40)])
    occupation = StringField(_l("Occupation"), validators=[Optional(), Length(max=40)])
    minor = BooleanField(_l("Under 14"))
    guardian_consent_on = LocalDateField(_l("Guardian's consent given on"), validators=[Optional()])
