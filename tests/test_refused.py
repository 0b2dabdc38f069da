"""One write convention: each action is a model-level function that raises one Refused
listing every problem, with the code its view answers by (see app/models/refused.py).

The check-in's own cases are in test_check_in.py; these call the other write paths
directly, as the demo and any future endpoint do, without a view in between.
"""
import datetime as dt
import uuid

import pytest

from app import clock
from app.models import Customer, CustomerChange, CustomerMember, FollowUp, Lead, LeadEvent
from app.models.merge import merge_customers
from app.models.refused import Refused
from tests.conftest import user

TAKEN_PHONE = "13912345678"  # every archive of the hand-made county has it
NEW_PHONE = "13700002222"


def test_refused_carries_every_reason_and_a_message():
    refused = Refused({"name": "no name", "phone": "no phone"})
    assert refused.errors == {"name": "no name", "phone": "no phone"}
    assert refused.code == "name"  # the first rule broken, when no kind is given
    assert refused.message == "no name" and refused.messages == ["no name", "no phone"]
    general = Refused.conflict("duplicates", customers=[1, 2])
    assert (general.code, general.message, general.choices) == ("conflict", "duplicates", {"customers": [1, 2]})
    assert Refused.not_found().code == "not_found" and Refused.forbidden().code == "forbidden"


def test_a_capture_lists_every_field_wrong_at_once(ctx):
    before = Lead.select().count()
    with pytest.raises(Refused) as refused:
        Lead.capture(user(ctx, "mgr1"), {"client_uuid": str(uuid.uuid4()), "name": "", "phone": "123",
                                         "product": 999999, "source": "nowhere", "note": "长" * 501})
    assert set(refused.value.errors) == {"name", "phone", "product", "source", "note"}
    assert Lead.select().count() == before


def test_a_capture_outside_the_scope_is_not_found(ctx):
    with pytest.raises(Refused) as refused:
        Lead.capture(user(ctx, "mgr1"), {"client_uuid": str(uuid.uuid4()), "customer": ctx.customers["c_v2"].id,
                                         "product": ctx.products["a"].id, "source": "visit"})
    assert refused.value.code == "not_found" and refused.value.errors == {}


def test_a_capture_matching_an_open_lead_is_a_conflict_with_choices(ctx):
    with pytest.raises(Refused) as refused:
        Lead.capture(user(ctx, "mgr1"), {"client_uuid": str(uuid.uuid4()), "customer": ctx.customers["c_v1"].id,
                                         "product": ctx.products["a"].id, "source": "visit", "confirmed": "1"})
    assert refused.value.code == "conflict"
    assert [lead.id for lead in refused.value.choices["leads"]] == [ctx.leads["l_mgr1"].id]


def test_winning_lists_the_won_forms_problems_together(ctx):
    lead = Lead.get_by_id(ctx.leads["l_mgr1"].id)
    events = LeadEvent.select().count()
    with pytest.raises(Refused) as refused:
        lead.move(user(ctx, "mgr1"), "won", amount="-3", won_on=clock.today() + dt.timedelta(days=3),
                  reference="1" * 41)
    assert set(refused.value.errors) == {"amount", "won_on", "reference"}
    assert Lead.get_by_id(lead.id).status == "new" and LeadEvent.select().count() == events


def test_a_move_by_someone_who_may_only_read_is_forbidden(ctx):
    lead = Lead.get_by_id(ctx.leads["l_mgr2"].id)
    with pytest.raises(Refused) as refused:
        lead.move(user(ctx, "mgr1"), "contacted")
    assert refused.value.code == "forbidden"


def test_a_hand_over_lists_every_problem(ctx):
    lead = Lead.get_by_id(ctx.leads["l_mgr1"].id)
    with pytest.raises(Refused) as refused:
        lead.reassign(user(ctx, "lead1"), ctx.users["mgr1"].id, "")
    assert set(refused.value.errors) == {"owner", "handover_note"}


def test_a_new_archive_with_a_known_phone_is_a_conflict_in_the_write_path(ctx):
    mgr1, v1 = user(ctx, "mgr1"), ctx.territories["V1"]
    before = Customer.select().count()
    with pytest.raises(Refused) as refused:
        Customer.add_archive(mgr1, v1, {"kind": "household", "name": "周二福", "phone": TAKEN_PHONE})
    assert refused.value.code == "conflict"
    assert [c.id for c in refused.value.choices["customers"]] == sorted(
        c.id for key, c in ctx.customers.items() if key != "c_b")  # bank A's archives only
    assert Customer.select().count() == before
    # the user says it is a different person: saved
    Customer.add_archive(mgr1, v1, {"kind": "household", "name": "周二福", "phone": TAKEN_PHONE}, confirmed=True)
    assert Customer.add_archive(mgr1, v1, {"kind": "household", "name": "新户", "phone": NEW_PHONE}).id
    assert Customer.select().count() == before + 2


def test_an_id_number_on_another_archive_is_refused_even_when_confirmed(ctx):
    mgr1 = user(ctx, "mgr1")
    number = "110101199003074477"
    Customer.get_by_id(ctx.customers["c_g1"].id).update_archive(mgr1, {}, number)
    c_v1 = Customer.get_by_id(ctx.customers["c_v1"].id)
    changes = CustomerChange.select().count()
    with pytest.raises(Refused) as refused:
        c_v1.update_archive(mgr1, {"name": "周大福"}, number, confirmed=True)
    assert refused.value.code == "conflict" and "id_number" in refused.value.errors
    assert [c.id for c in refused.value.choices["customers"]] == [ctx.customers["c_g1"].id]
    assert CustomerChange.select().count() == changes


def test_a_merge_checks_role_and_scope_itself(ctx):
    keep, gone = (Customer.get_by_id(ctx.customers[k].id) for k in ("c_v1", "c_g1"))
    with pytest.raises(Refused) as refused:
        merge_customers(user(ctx, "mgr1"), keep, gone)
    assert refused.value.code == "forbidden"
    other_bank = Customer.get_by_id(ctx.customers["c_b"].id)
    with pytest.raises(Refused) as refused:
        merge_customers(user(ctx, "admin"), keep, other_bank)
    assert refused.value.code == "not_found"
    with pytest.raises(Refused) as refused:
        merge_customers(user(ctx, "admin_b"), keep, gone)  # bank B's admin cannot see bank A
    assert refused.value.code == "not_found"
    assert Customer.get_or_none(Customer.id == gone.id) is not None


def test_a_member_without_relation_or_name_is_refused(ctx):
    customer = Customer.get_by_id(ctx.customers["c_v1"].id)
    with pytest.raises(Refused) as refused:
        customer.add_member(user(ctx, "mgr1"), " ", "")
    assert set(refused.value.errors) == {"relation", "member_name"}
    assert CustomerMember.select().count() == 0


def test_a_follow_up_moves_only_from_today_to_a_year_ahead(ctx):
    visit = ctx.visits["v_mgr1"]
    follow = FollowUp.create(customer=visit.customer_id, user=visit.user_id, due_on=clock.today())
    for day in (clock.today() - dt.timedelta(days=1), clock.today() + dt.timedelta(days=400)):
        with pytest.raises(Refused) as refused:
            follow.reschedule(day)
        assert "due_on" in refused.value.errors
    assert FollowUp.get_by_id(follow.id).due_on == clock.today()
