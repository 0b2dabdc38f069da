"""The bank's settings (设置): check-in radius, counted kinds, colours, each change audited."""
from flask import flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from flask_wtf import FlaskForm

from app.db import database
from app.models import AuditLog, Setting
from app.models.setting import COVERAGE_KINDS, DEFINITIONS
from app.web import render, roles_required
from app.views.admin.common import admin_bank, bp


KIND_NAMES = {"household": _l("Household"), "merchant": _l("Merchant"), "enterprise": _l("Enterprise")}


class SettingsForm(FlaskForm):
    check_in_radius_m = StringField(_l("Check-in radius (metres)"))
    check_in_radius_cap_m = StringField(_l("Largest accepted GPS inaccuracy (metres)"))
    coverage_kinds = SelectMultipleField(
        _l("Customer kinds counted for coverage"),
        choices=[SelectChoice(k, KIND_NAMES[k]) for k in COVERAGE_KINDS],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validate_choice=False)  # checked against the vocabulary below, with our message
    late_check_in_days = StringField(_l("Days a late check-in may still be uploaded"))
    stale_lead_days = StringField(_l("Days before a lead is stale"))
    session_idle_minutes = StringField(_l("Idle minutes before sign-out"))
    coverage_green_pct = StringField(_l("Green from coverage (%)"))
    coverage_amber_pct = StringField(_l("Amber from coverage (%)"))
    coverage_period = SelectField(_l("Coverage judged over"), choices=[
        SelectChoice("week", _l("A week")), SelectChoice("month", _l("A month")),
        SelectChoice("quarter", _l("A quarter"))],
        validate_choice=False)  # checked by the setting's own rule below
    gold_rhythm_days = StringField(_l("Gold rhythm (days)"))
    mass_rhythm_days = StringField(_l("Mass rhythm (days)"))
    potential_rhythm_days = StringField(_l("Potential rhythm (days)"))

    def validate(self, extra_validators=None):
        """Parse every value with the setting's own rule; keep the typed values."""
        ok = super().validate(extra_validators)
        self.values = {}
        for key, (_, parse, _, _) in DEFINITIONS.items():
            field = getattr(self, key)
            raw = ",".join(field.data or []) if key == "coverage_kinds" else (field.data or "")
            try:
                self.values[key] = parse(raw)
            except ValueError as error:
                field.errors = list(field.errors) + [str(error.args[0])]
                ok = False
        if ok and self.values["check_in_radius_m"] > self.values["check_in_radius_cap_m"]:
            self.check_in_radius_m.errors = [_l("The radius cannot be larger than the accuracy limit.")]
            ok = False
        if ok and self.values["coverage_green_pct"] <= self.values["coverage_amber_pct"]:
            self.coverage_amber_pct.errors = [_l("Amber must start below green.")]
            ok = False
        return ok


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    """The bank's configurable values, each with its meaning; every change is audited."""
    bank, banks, editable = admin_bank(change=request.method == "POST")
    current = Setting.all_for(bank)
    form = SettingsForm(data={k: (v if k == "coverage_kinds" else str(v)) for k, v in current.items()})
    if form.validate_on_submit():
        changed = 0
        with database.obj.atomic():
            for key, value in form.values.items():
                if value == current[key]:
                    continue
                old, new = Setting.put(bank, key, value)
                AuditLog.record(current_user, "change_setting", "setting", bank.id,
                                ip=request.remote_addr, key=key, old=old, new=new)
                changed += 1
        flash(_l("Settings saved.") if changed else _l("Nothing was changed."))
        return redirect(url_for("admin.settings", bank=bank.id if len(banks) > 1 else None))
    status = 422 if form.errors else 200
    meanings = {key: meaning for key, (_, _, _, meaning) in DEFINITIONS.items()}
    return render("admin/settings.html", form=form, bank=bank, banks=banks, meanings=meanings,
                  editable=editable, current=current, kind_names=KIND_NAMES), status
