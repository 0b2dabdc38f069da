"""Customers (客户): the list and each customer's page, its edits, members and merges, and the
confirmation of a position taken from a check-in."""
import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

from app import clock
from app.db import tree_order
from app.views.customer_forms import (CATEGORY_LABELS, CONSENT_LABELS, DATA_KINDS, GROUND_LABELS, KIND_LABELS,
                                POSITION_LABELS, STATUS_LABELS, TIER_LABELS, CustomerForm, MaturityForm,
                                MemberForm, describe_rule)
from app.models.consent import grounds
from app.models import AuditLog, Customer, CustomerChange, FollowUp, Holding, Lead, Product, Territory, Visit
from app.models.lead_funnel import listing as lead_listing
from app.crypto import mask_phone
from app.models.customer import PHONE_TAIL, is_phone_search
from app.models.customer_fields import label as field_label
from app.models.merge import can_merge, merge_customers
from app.models.refused import Refused
from app.models.visit import customer_listing
from app.views.visits import bp as visits_bp
from app.web import abort_refused, arg_id, get_visible_or_404, local_path, page_arg, render, roles_required

EDITORS = ("manager", "team_lead", "admin")  # management reads, never edits customer data
LEAD_READERS = ("manager", "team_lead", "management")

bp = Blueprint("customers", __name__, url_prefix="/customers")


LAST_VISIT_FILTERS = {"never": _l("Never visited"), "stale": _l("Not visited in 30 days")}


@bp.route("/")
def index():
    """Customers in the user's scope, searched and filtered, a page at a time (infinite scroll)."""
    args = request.args
    q = args.get("q", "").strip()[:40]
    page = page_arg(args)
    territories = tree_order(Territory.visible_to(current_user).order_by(Territory.path))
    # Unknown filter values are ignored rather than refused: a stale link still lists.
    filters = {
        "tier": args.get("tier") if args.get("tier") in TIER_LABELS else "",
        "kind": args.get("kind") if args.get("kind") in KIND_LABELS else "",
        "last_visit": args.get("last_visit") if args.get("last_visit") in LAST_VISIT_FILTERS else "",
        "territory": args.get("territory", ""),
    }
    territory = next((t for t in territories if str(t.id) == filters["territory"]), None)
    filters["territory"] = str(territory.id) if territory else ""
    phone_search, searchable = is_phone_search(q)
    if phone_search and page == 1:
        # Who looked a phone up, and which: masked as on the pages (a whole number is
        # a guess being confirmed; its tail is enough to tell searches apart).
        AuditLog.record(current_user.id, "search_phone", "customer", ip=request.remote_addr,
                        query=mask_phone(q) if len(q) == 11 else q[-PHONE_TAIL:], digits=len(q))
    size = current_app.config["PAGE_SIZE"]
    query = customer_listing(current_user, q, tier=filters["tier"] or None, territory=territory,
                             kind=filters["kind"] or None, last_visit=filters["last_visit"] or None)
    customers = list(query.limit(size + 1).offset((page - 1) * size))
    more = len(customers) > size
    return render("customers/index.html", "partials/_customer_rows.html",
                  customers=customers[:size], q=q, page=page, more=more, filters=filters,
                  phone_hint=phone_search and not searchable,
                  territories=territories, TIER_LABELS=TIER_LABELS, KIND_LABELS=KIND_LABELS,
                  LAST_VISIT_FILTERS=LAST_VISIT_FILTERS, can_create=current_user.role in EDITORS)


@bp.route("/<int:customer_id>")
def detail(customer_id):
    """One customer's archive, if the user's scope holds them."""
    customer = get_visible_or_404(Customer, customer_id)
    return _detail(customer, full=False)


@bp.route("/<int:customer_id>/full", methods=["POST"])
def full(customer_id):
    """The archive with phone and ID number in clear; a POST, because each opening is audited."""
    customer = get_visible_or_404(Customer, customer_id)
    AuditLog.record(current_user.id, "view_full", "customer", customer.id, ip=request.remote_addr)
    return _detail(customer, full=True)


@bp.route("/<int:customer_id>/call")
@roles_required("manager")
def call(customer_id):
    """Dial the customer: the manager whose territory holds them is sent to a tel: link, so
    the number never sits in a page's source; each call is audited like the full view."""
    customer = get_visible_or_404(Customer, customer_id)
    if not customer.phone:
        abort(404)
    AuditLog.record(current_user.id, "call", "customer", customer.id, ip=request.remote_addr)
    return redirect(f"tel:{customer.phone}")


def _timeline(customer, limit=30):
    """Visits, follow-ups and leads of a customer the current user may see, newest first."""
    items = []
    for v in (Visit.visible_to(current_user).where(Visit.customer == customer.id)
              .order_by(Visit.made_at.desc()).limit(limit)):
        items.append(("visit", v.made_at, v))
    for f in (FollowUp.visible_to(current_user).where(FollowUp.customer == customer.id)
              .order_by(FollowUp.due_on.desc()).limit(limit)):
        items.append(("follow_up", dt.datetime.combine(f.due_on, dt.time(0)), f))
    for lead in (Lead.visible_to(current_user).where(Lead.customer == customer.id)
                 .order_by(Lead.created_at.desc()).limit(limit)):
        items.append(("lead", lead.created_at, lead))
    items.sort(key=lambda item: item[1], reverse=True)
    return items[:limit]


def _holdings(customer):
    """The customer's holdings with their products: deposits, loans (each soonest maturity
    first) and the rest (e-banking, payments)."""
    found = {"deposit": [], "loan": [], "other": []}
    for h in (Holding.select(Holding, Product).join(Product).where(Holding.customer == customer.id)
              .order_by(Holding.matures_on.is_null(), Holding.matures_on, Product.name, Holding.id)):
        found.get(h.product.kind, found["other"]).append(h)
    return found


def _detail(customer, full, member_form=None, maturity_error=None):
    """The archive page; the full view differs only in showing phone and ID number in clear."""
    form = CustomerForm(meta={"csrf": False})
    labels = {name: form[name].label.text for name in form._fields}
    labels.update(member=_("Family members"), id_number=form.id_number.label.text, created=_("Archive created"),
                  merged=_("Archive merged in"),
                  # balances are not on the archive form; a signed lead changes them (issue 9)
                  deposit_balance_wan=_("Deposit balance (10k yuan)"),
                  loan_balance_wan=_("Loan balance (10k yuan)"))
    # A manager calls the customers of their own territories (the page is in their scope): the
    # number is in the tel: link, the text stays masked. Others read the masked number only.
    may_call = current_user.role == "manager" and bool(customer.phone)
    return render("customers/detail.html", customer=customer, full=full, may_call=may_call,
                  holdings=_holdings(customer),
                  today=clock.today(), maturity_error=maturity_error or (None, None),
                  changes=list(CustomerChange.of(customer).limit(50)), FIELD_LABELS=labels,
                  KIND_LABELS=KIND_LABELS, STATUS_LABELS=STATUS_LABELS, CATEGORY_LABELS=CATEGORY_LABELS,
                  CONSENT_LABELS=CONSENT_LABELS, POSITION_LABELS=POSITION_LABELS,
                  grounds=grounds(customer), DATA_KINDS=DATA_KINDS, GROUND_LABELS=GROUND_LABELS,
                  describe_rule=describe_rule, member_form=member_form or MemberForm(formdata=None),
                  can_edit=current_user.role in EDITORS, timeline=_timeline(customer),
                  # admins do not work leads: their page has no leads panel
                  leads=list(lead_listing(current_user, customer=customer.id).limit(20))
                  if current_user.role in LEAD_READERS else None)


class EditCustomerForm(CustomerForm):
    clear_phone = BooleanField(_l("Remove the phone number on file"))
    save_anyway = BooleanField(_l("This is a different person: save anyway"))
    base_version = HiddenField()  # the archive's version the form was read at

    def read_version(self):
        """The base version posted, or None when it is missing or unreadable."""
        try:
            return int(self.base_version.data)
        except (TypeError, ValueError):
            return None


@bp.route("/<int:customer_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit(customer_id):
    """Edit an archive in scope; every changed field goes into the customer's history.

    A new phone or ID number is looked up in the bank's archives by the write path
    (Customer.update_archive): an ID number on another archive is refused (one person,
    one archive); a phone on another archive is shown and saved only once the user
    confirms it is a different person.
    """
    customer = get_visible_or_404(Customer, customer_id)
    form = EditCustomerForm(obj=customer)
    form.products.choices = _product_choices()
    if request.method == "GET":
        form.products.data = [h.product_id for h in customer.holdings]
        # Phone and ID number never go into a page in clear (a cached page or a
        # screen glimpsed in a village); blank keeps what is on file.
        form.id_number.data = form.phone.data = ""
        form.clear_phone.data = form.save_anyway.data = False
        form.base_version.data = customer.version
    duplicates, id_taken, status, clashes, general = [], False, 200, [], None
    if form.validate_on_submit():
        fields = form.archive()
        if form.clear_phone.data and fields["phone"]:
            form.clear_phone.errors = [_l("Enter a new phone or remove the one on file, not both.")]
        elif not fields["phone"] and not form.clear_phone.data:
            fields.pop("phone")
        if not form.errors:
            try:
                changes = customer.update_archive(current_user, fields, (form.id_number.data or "").strip() or None,
                                                  products=form.products.data or [],
                                                  confirmed=bool(form.save_anyway.data),
                                                  base_version=form.read_version())
            except Refused as refused:
                if refused.code == "no_basis":  # sensitive data without its ground: beside each field
                    _field_errors(form, refused)
                duplicates = refused.choices.get("customers", [])
                id_taken = ("id_number" in refused.errors and refused.code != "no_basis"
                            and not refused.choices.get("fields"))
                # Changed by someone else meanwhile: both values shown; saving again (the
                # form's values as the user leaves them) is judged against the version now.
                clashes = [{**c, "label": field_label(c["field"])} for c in refused.choices.get("fields", [])]
                if clashes:
                    form.base_version.data = refused.choices["version"]
                    _take_theirs(form, customer.id, refused.choices["theirs"])
                elif not duplicates and refused.code != "no_basis":
                    general = refused.message
            else:
                flash(_("Saved %(n)d change(s).", n=len(changes)))
                return redirect(url_for("customers.detail", customer_id=customer.id))
    visible = {c.id for c in Customer.visible_to(current_user)
               .where(Customer.id.in_([d.id for d in duplicates]))} if duplicates else set()
    if duplicates or clashes or general:
        status = 409
    elif form.errors:
        status = 400
    return render("customers/edit.html", form=form, customer=customer, duplicates=duplicates,
                  visible=visible, id_taken=id_taken, clashes=clashes, general=general), status


def _field_errors(form, refused):
    """A write path's reasons shown beside the form's fields they name."""
    for name, message in refused.errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]


def _take_theirs(form, customer_id, names):
    """Show the fields others changed meanwhile (and this edit left alone) as they are now,
    so saving the form again does not revert them."""
    now = Customer.get_by_id(customer_id)
    for name in names:
        if name == "products":
            form.products.data = [h.product_id for h in now.holdings]
        elif name in form and name != "phone":
            form[name].data, form[name].raw_data = getattr(now, name), None


def _product_choices():
    """The user's bank's active catalogue: the only products an archive may hold."""
    bank = current_user.branch.bank
    return [SelectChoice(p.id, p.name) for p in Product.offered_by(bank)] if bank else []


class NewCustomerForm(CustomerForm):
    territory = SelectField(_l("Territory"), coerce=int)
    create_anyway = BooleanField(_l("This is a different customer: create it anyway"))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new():
    """A new archive; a phone or ID number already known in the bank is offered instead."""
    territories = tree_order(Territory.visible_to(current_user).order_by(Territory.path))
    form = NewCustomerForm()
    form.territory.choices = [SelectChoice(t.id, t.name) for t in territories]
    form.products.choices = _product_choices()
    duplicates = []
    if form.validate_on_submit():
        territory = next((t for t in territories if t.id == form.territory.data), None)
        if territory is None:
            abort(404)
        try:
            customer = Customer.add_archive(current_user, territory, form.archive(),
                                            (form.id_number.data or "").strip() or None, products=form.products.data,
                                            confirmed=bool(form.create_anyway.data))
        except Refused as refused:
            if refused.code == "no_basis":
                _field_errors(form, refused)
            duplicates = refused.choices.get("customers", [])
        else:
            return redirect(url_for("customers.detail", customer_id=customer.id))
    visible = {c.id for c in Customer.visible_to(current_user)
               .where(Customer.id.in_([d.id for d in duplicates]))} if duplicates else set()
    status = 409 if duplicates else (400 if form.errors else 200)
    return render("customers/new.html", form=form, duplicates=duplicates, visible=visible), status


@bp.route("/<int:customer_id>/merge", methods=["GET", "POST"])
@roles_required("admin")
def merge(customer_id):
    """Merge another archive of the same customer into this one (admin), keeping all its records."""
    keep = get_visible_or_404(Customer, customer_id)
    other_id = request.values.get("other", type=arg_id)
    gone = get_visible_or_404(Customer, other_id) if other_id else None
    if gone is not None and not can_merge(keep, gone):
        abort(404)
    if request.method == "POST" and gone is not None:
        try:
            merge_customers(current_user, keep, gone, ip=request.remote_addr)
        except Refused as refused:
            abort_refused(refused)
            return render("customers/merge.html", keep=keep, gone=gone, error=refused.message), 409
        flash(_("Archive #%(gone)d merged into this one.", gone=gone.id))
        return redirect(url_for("customers.detail", customer_id=keep.id))
    return render("customers/merge.html", keep=keep, gone=gone)


@bp.route("/<int:customer_id>/holdings/<int:holding_id>/maturity", methods=["POST"])
@roles_required(*EDITORS)
def set_maturity(customer_id, holding_id):
    """Set or clear a term deposit's or loan's maturity date (到期日) on an archive in scope."""
    customer = get_visible_or_404(Customer, customer_id)
    form = MaturityForm()
    if not form.validate_on_submit():
        message = next(iter(form.matures_on.errors or form.errors.get("csrf_token", [])), "")
        return _detail(customer, full=False, maturity_error=(holding_id, message)), 400
    try:
        customer.set_maturity(current_user, holding_id, form.matures_on.data)
    except Refused as refused:
        abort_refused(refused)
        return _detail(customer, full=False, maturity_error=(holding_id, refused.message)), 400
    return redirect(url_for("customers.detail", customer_id=customer.id) + "#balances")


@bp.route("/<int:customer_id>/members", methods=["POST"])
@roles_required(*EDITORS)
def add_member(customer_id):
    """Add a family member to an archive in scope."""
    customer = get_visible_or_404(Customer, customer_id)
    form = MemberForm()
    if not form.validate_on_submit():
        return _detail(customer, full=False, member_form=form), 400
    try:
        customer.add_member(current_user, form.relation.data, form.member_name.data, form.occupation.data,
                            minor=form.minor.data, guardian_consent_on=form.guardian_consent_on.data)
    except Refused as refused:
        for name in ("relation", "member_name", "guardian_consent_on"):
            form[name].errors = [refused.errors[name]] if name in refused.errors else []
        return _detail(customer, full=False, member_form=form), 400
    return redirect(url_for("customers.detail", customer_id=customer.id))


@bp.route("/<int:customer_id>/members/<int:member_id>/delete", methods=["POST"])
@roles_required(*EDITORS)
def remove_member(customer_id, member_id):
    """Remove a family member from an archive in scope (the history keeps them)."""
    customer = get_visible_or_404(Customer, customer_id)
    if not customer.remove_member(current_user, member_id):
        abort(404)
    return redirect(url_for("customers.detail", customer_id=customer.id))


# The position's confirmation keeps its endpoint name (visits.confirm_position) beside the
# list of positions to confirm (visits.positions), so it is routed on that blueprint.
@visits_bp.route("/customers/<int:customer_id>/position/confirm", methods=["POST"])
@roles_required("team_lead", "admin")
def confirm_position(customer_id):
    """Confirm a position taken from a manager's first check-in, and place the customer by it."""
    customer = get_visible_or_404(Customer, customer_id)
    if customer.lat is None:
        abort(400)
    customer.position_confirmed = True
    customer.move_to(customer.lat, customer.lng, source="fix")  # places it by the confirmed point
    flash(_("Position of %(name)s confirmed.", name=customer.name))
    # Only a path on this site: a forged form must not send a team lead elsewhere.
    return redirect(local_path(request.form.get("next")) or url_for("customers.detail", customer_id=customer.id))
