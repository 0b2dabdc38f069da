"""Tier rules (分层规则): an admin sets the bank's thresholds; every customer is re-tiered at once."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from app.views.customer_forms import TIER_LABELS, NumberField, describe_rule
from app.db import database
from app.models import Customer, TierRule
from app.models.tier import RATING_ORDER, rule_code
from app.web import render, roles_required

bp = Blueprint("tiers", __name__, url_prefix="/admin/tiers")
SPARE_ROWS = 3  # blank rows for new rules, so the form needs no JavaScript


class RuleForm(Form):
    tier = SelectField(_l("Tier"), choices=[SelectChoice("", _l("(no rule)")),
                                            SelectChoice("gold", TIER_LABELS["gold"]),
                                            SelectChoice("mass", TIER_LABELS["mass"])])
    min_volume_wan = NumberField(_l("Business volume at least (10k yuan)"), validators=[
        Optional(), NumberRange(min=0, message=_l("Cannot be negative."))])
    min_rating = SelectField(_l("Credit rating at least"), choices=[SelectChoice("", "—")] + [
        SelectChoice(r, r) for r in RATING_ORDER[::-1]])
    min_scale_mu = NumberField(_l("Land at least (mu)"), validators=[
        Optional(), NumberRange(min=0, message=_l("Cannot be negative."))])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if ok and self.tier.data and not (self.min_volume_wan.data is not None or self.min_rating.data
                                          or self.min_scale_mu.data is not None):
            self.tier.errors.append(_l("Give this rule at least one threshold."))
            return False
        return ok


class TierRulesForm(FlaskForm):
    rules = FieldList(FormField(RuleForm))


def _bank():
    bank = current_user.branch.bank
    if bank is None:
        abort(404)  # tier rules belong to a bank; a union admin sets them as that bank's admin
    return bank


@bp.route("/", methods=["GET", "POST"])
@roles_required("admin")
def index():
    """The bank's tier rules; saving them re-tiers every customer of the bank in one transaction."""
    bank = _bank()
    # A sub-branch's admin reads the bank's rules; changing them is the bank admin's.
    editable = current_user.branch.kind == "bank"
    if request.method == "POST" and not editable:
        abort(403)
    current = TierRule.for_bank(bank.id)
    form = TierRulesForm()
    if request.method == "GET":
        for rule in current + [None] * SPARE_ROWS:
            form.rules.append_entry({} if rule is None else {
                "tier": rule.tier, "min_volume_wan": rule.min_volume_wan,
                "min_rating": rule.min_rating or "", "min_scale_mu": rule.min_scale_mu})
    elif form.validate_on_submit():
        rows = [entry.form for entry in form.rules if entry.form.tier.data]
        with database.atomic():
            TierRule.delete().where(TierRule.bank == bank.id).execute()
            for position, row in enumerate(rows, start=1):
                TierRule.create(bank=bank.id, position=position, tier=row.tier.data,
                                min_volume_wan=row.min_volume_wan.data,
                                min_rating=row.min_rating.data or None,
                                min_scale_mu=row.min_scale_mu.data)
            changed = Customer.recompute_tiers(bank, TierRule.for_bank(bank.id))
        flash(_("Rules saved; %(n)d customer(s) changed tier.", n=changed))
        return redirect(url_for("tiers.index"))
    return render("admin/tiers.html", form=form, bank=bank, describe_rule=describe_rule,
                  codes=[rule_code(r) for r in current], editable=editable), (400 if form.errors else 200)
