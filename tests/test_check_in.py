"""The one write path for a check-in (Visit.check_in): its rules, on both databases."""
import datetime as dt
import threading
import uuid

import pytest

from app import clock
from app.db import database
from app.models import Customer, FollowUp, Setting, Visit, VisitFix, VisitProduct
from app.models.refused import Refused
from app.models.visit import Fix

M_LAT = 1 / 110_836  # degrees of latitude in a metre at 28.9°N (WGS-84)


def new_uuid():
    return str(uuid.uuid4())


def north_of(customer, metres, accuracy=10, taken_at=None, made_at=None):
    made_at = made_at or clock.now()
    return Fix(customer.lat + metres * M_LAT, customer.lng, accuracy, taken_at or made_at)


def check_in(county, user="mgr1", customer="c_v1", metres=30, **kwargs):
    c = Customer.get_by_id(county.customers[customer].id)
    made_at = kwargs.pop("made_at", clock.now())
    fix = kwargs.pop("fix", None) or north_of(c, metres, made_at=made_at)
    return Visit.check_in(county.users[user], c.id, fix, made_at, kwargs.pop("client_uuid", new_uuid()),
                          **kwargs)


def test_within_the_radius_is_verified_with_its_distance(ctx):
    result = check_in(ctx, metres=30, outcome="interested", note="想存节节高")
    visit = result.visit
    assert result.status == "created"
    assert visit.verified and not visit.late and not visit.position_unconfirmed
    assert visit.distance_m == pytest.approx(30, abs=1)
    assert [f.distance_m for f in visit.history()] == [visit.distance_m]


def test_outside_the_radius_is_kept_unverified_with_its_distance(ctx):
    visit = check_in(ctx, metres=800).visit
    assert not visit.verified
    assert visit.distance_m == pytest.approx(800, abs=3)
    assert Visit.get_by_id(visit.id).outcome == "met"


def test_the_radius_widens_with_accuracy_up_to_the_cap(ctx):
    c = Customer.get_by_id(ctx.customers["c_v1"].id)
    now = clock.now()
    # 100 m radius + 80 m accuracy: 170 m verifies.
    assert Visit.check_in(ctx.users["mgr1"], c.id, north_of(c, 170, accuracy=80), now, new_uuid()).visit.verified
    # the cap (300 m) stops the widening: 290 m accuracy allows 300 m, not 390.
    c2 = Customer.get_by_id(ctx.customers["c_g1"].id)
    assert not Visit.check_in(ctx.users["mgr1"], c2.id, north_of(c2, 320, accuracy=290), now,
                              new_uuid()).visit.verified
    # a fix worse than the cap never verifies, even on the doorstep.
    Setting.put(ctx.branches["A"], "check_in_radius_cap_m", 100)
    later = now + dt.timedelta(minutes=20)  # not merged into the first
    visit = Visit.check_in(ctx.users["mgr1"], c.id, north_of(c, 5, accuracy=150, made_at=later),
                           later, new_uuid(), now=later).visit
    assert not visit.verified and visit.distance_m == pytest.approx(5, abs=0.5)


def test_a_bigger_radius_set_by_the_admin_counts(ctx):
    Setting.put(ctx.branches["A"], "check_in_radius_m", 500)
    assert check_in(ctx, metres=450).visit.verified


REFUSALS = {
    "another continent": ("outside_china", dict(fix=Fix(48.8566, 2.3522, 10, None))),
    "accuracy worse than 2 km": ("accuracy", dict(fix_accuracy=2500)),
    "a fix 11 minutes before made-at": ("stale_fix", dict(fix_shift=dt.timedelta(minutes=-11))),
    "a fix 11 minutes after made-at": ("stale_fix", dict(fix_shift=dt.timedelta(minutes=11))),
    "a made-at time in the future": ("future", dict(made_shift=dt.timedelta(minutes=30))),
    "a customer outside the scope": ("not_found", dict(customer="c_v2")),
    "another bank's customer": ("not_found", dict(customer="c_b")),
    "a product that does not exist": ("product", dict(products=[(999999, "pitched")])),
    "another bank's product": ("product", dict(products="bank_b")),
    "an outcome that does not exist": ("outcome", dict(outcome="party")),
    "a 10 MB photo": ("photo", dict(photo=b"\xff\xd8\xff" + b"0" * 10_000_000)),
    "a photo that is not an image": ("photo", dict(photo=b"MZ\x90\x00 not a picture")),
    "no client UUID": ("uuid", dict(client_uuid="")),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_refusal_has_a_reason_and_writes_nothing(case, ctx):
    code, args = REFUSALS[case]
    args = dict(args)
    customer = Customer.get_by_id(ctx.customers[args.pop("customer", "c_v1")].id)
    made_at = clock.now() + args.pop("made_shift", dt.timedelta(0))
    fix = args.pop("fix", None) or north_of(customer, 30, made_at=made_at)
    if fix.taken_at is None:
        fix = Fix(fix.lat, fix.lng, fix.accuracy_m, made_at)
    if "fix_accuracy" in args:
        fix = Fix(fix.lat, fix.lng, args.pop("fix_accuracy"), fix.taken_at)
    if "fix_shift" in args:
        fix = Fix(fix.lat, fix.lng, fix.accuracy_m, made_at + args.pop("fix_shift"))
    if args.get("products") == "bank_b":
        args["products"] = [(ctx.products["b"].id, "pitched")]
    client_uuid = args.pop("client_uuid", new_uuid())
    before = Visit.select().count(), VisitFix.select().count(), FollowUp.select().count()
    with pytest.raises(Refused) as refused:
        Visit.check_in(ctx.users["mgr1"], customer.id, fix, made_at, client_uuid,
                       next_follow_up_on=clock.today(), **args)
    assert refused.value.code == code
    assert str(refused.value.message)  # a reason to show
    assert (Visit.select().count(), VisitFix.select().count(), FollowUp.select().count()) == before


def test_a_check_in_with_several_problems_reports_every_one(ctx):
    """One Refused lists each field's reason, not the first only; nothing is written."""
    customer = Customer.get_by_id(ctx.customers["c_v1"].id)
    made_at = clock.now()
    before = Visit.select().count(), VisitFix.select().count(), FollowUp.select().count()
    with pytest.raises(Refused) as refused:
        Visit.check_in(ctx.users["mgr1"], customer.id, Fix(48.8566, 2.3522, 10, made_at), made_at, new_uuid(),
                       outcome="party", products=[(999999, "pitched")], photo=b"MZ not a picture",
                       next_follow_up_on=clock.today() - dt.timedelta(days=2))
    assert set(refused.value.errors) == {"outcome", "fix", "products", "photo", "next_follow_up_on"}
    assert refused.value.code == "outcome"  # the first rule broken
    assert len(refused.value.messages) == 5 and all(str(m) for m in refused.value.messages)
    assert (Visit.select().count(), VisitFix.select().count(), FollowUp.select().count()) == before


def test_outside_the_scope_says_nothing_else(ctx):
    customer = Customer.get_by_id(ctx.customers["c_v2"].id)
    with pytest.raises(Refused) as refused:
        Visit.check_in(ctx.users["mgr1"], customer.id, None, clock.now(), new_uuid(), outcome="party")
    assert refused.value.code == "not_found" and refused.value.errors == {}


def test_a_late_check_in_is_judged_on_its_made_at_and_flagged(ctx):
    made = clock.now() - dt.timedelta(hours=5)  # made offline this morning, sent now
    visit = check_in(ctx, metres=30, made_at=made).visit
    assert visit.verified and visit.late
    assert visit.made_at == made
    # the fix was taken at made-at, five hours ago: fine, it is judged against made-at
    assert Visit.get_by_id(visit.id).late


def test_a_check_in_older_than_the_banks_late_days_is_refused_with_the_reason(ctx):
    """Issue 15: a check-in made in 1900 was stored, flagged late. The bank's setting
    late_check_in_days (default 7) bounds how late one may still be uploaded."""
    before = Visit.select().count(), VisitFix.select().count()
    for made in (dt.datetime(1900, 1, 1, 8), dt.datetime(1, 1, 1),
                 clock.now() - dt.timedelta(days=7, minutes=1)):
        with pytest.raises(Refused) as refused:
            check_in(ctx, made_at=made)
        assert refused.value.code == "too_late", made
        assert set(refused.value.errors) == {"made_at"}
        assert f"{clock.to_local(made).date().isoformat()}" in str(refused.value.message)
        assert "7 天" in str(refused.value.message)
    assert (Visit.select().count(), VisitFix.select().count()) == before
    assert check_in(ctx, made_at=clock.now() - dt.timedelta(days=6, hours=23)).visit.late
    Setting.put(ctx.branches["A"], "late_check_in_days", 30)
    assert check_in(ctx, customer="c_g1", made_at=clock.now() - dt.timedelta(days=20)).visit.late


def test_a_follow_up_is_planned_at_most_a_year_ahead(ctx):
    """Issue 15: a follow-up due in 9999 was stored; the ledger's bound holds here too."""
    for due in (dt.date(9999, 12, 31), clock.today() + dt.timedelta(days=367)):
        with pytest.raises(Refused) as refused:
            check_in(ctx, next_follow_up_on=due)
        assert refused.value.code == "follow_up" and "一年" in str(refused.value.errors["next_follow_up_on"])
    assert FollowUp.select().count() == 0
    check_in(ctx, next_follow_up_on=clock.today() + dt.timedelta(days=366))
    assert FollowUp.select().count() == 1


def test_a_late_check_in_counts_for_the_day_it_was_made(ctx):
    # made yesterday evening offline, received today: counted yesterday, not today
    made = clock.local_day_start_utc(clock.today()) - dt.timedelta(hours=2)
    check_in(ctx, customer="c_g1", made_at=made)
    counts = Visit.day_counters(ctx.users["mgr1"])
    assert counts["visits_today"] == 1  # the county's own visit of an hour ago only


def test_late_check_in_in_a_territory_handed_over_since(ctx):
    # mgr2 kept V3 until yesterday: a check-in made there yesterday is still theirs
    made = clock.now() - dt.timedelta(days=1)
    visit = check_in(ctx, user="mgr2", customer="c_v3", made_at=made).visit
    assert visit.late and visit.user_id == ctx.users["mgr2"].id
    with pytest.raises(Refused):
        check_in(ctx, user="mgr2", customer="c_v3")  # but not today


def test_a_customer_with_no_position_takes_the_fix_unconfirmed(ctx):
    c = Customer.get_by_id(ctx.customers["c_g1"].id)
    Customer.update(lat=None, lng=None, position_source=None).where(Customer.id == c.id).execute()
    fix = Fix(28.9051, 107.6052, 12, clock.now())
    visit = Visit.check_in(ctx.users["mgr1"], c.id, fix, clock.now(), new_uuid()).visit
    assert not visit.verified and visit.position_unconfirmed and visit.distance_m is None
    c = Customer.get_by_id(c.id)
    assert (c.lat, c.lng, c.position_source, c.position_confirmed) == (28.9051, 107.6052, "fix", False)
    assert c.territory_id == ctx.territories["G1"].id
    # later check-ins are judged by distance but flagged until a team lead confirms
    later = clock.now() + dt.timedelta(hours=1)
    clock.travel(dt.timedelta(hours=1))
    second = Visit.check_in(ctx.users["mgr1"], c.id, Fix(28.9051, 107.6053, 10, later), later,
                            new_uuid()).visit
    assert second.verified and second.position_unconfirmed


def test_a_second_check_in_within_ten_minutes_updates_the_first(ctx):
    p = ctx.products["a"].id
    first = check_in(ctx, metres=30, outcome="not_home", note="没人", products=[(p, "pitched")]).visit
    clock.travel(dt.timedelta(minutes=6))
    result = check_in(ctx, metres=900, outcome="signed", note="签了节节高", products=[(p, "signed")],
                      next_follow_up_on=clock.today() + dt.timedelta(days=30))
    assert result.status == "merged" and result.visit.id == first.id
    visit = Visit.get_by_id(first.id)
    assert (visit.outcome, visit.note, visit.verified) == ("signed", "签了节节高", True)  # first decides
    assert [round(f.distance_m, -1) for f in visit.history()] == [30, 900]  # both fixes kept
    assert [(vp.product_id, vp.result) for vp in visit.pitches()] == [(p, "signed")]
    assert FollowUp.select().where(FollowUp.source_visit == visit.id).count() == 1
    # eleven minutes after the first is a new visit
    clock.travel(dt.timedelta(minutes=5))
    assert check_in(ctx, metres=30).status == "created"
    assert Visit.select().where(Visit.customer == ctx.customers["c_v1"].id).count() == 3  # county's + 2


def test_another_manager_at_the_same_door_is_another_visit(ctx):
    check_in(ctx)
    Customer.update(territory=ctx.territories["V2"].id).where(
        Customer.id == ctx.customers["c_v1"].id).execute()
    assert check_in(ctx, user="mgr2").status == "created"


def test_the_same_client_uuid_is_stored_once(ctx):
    key = new_uuid()
    first = check_in(ctx, client_uuid=key)
    again = check_in(ctx, client_uuid=key, outcome="signed")
    assert (first.status, again.status) == ("created", "replayed")
    assert again.visit.id == first.visit.id and Visit.get_by_id(first.visit.id).outcome == "met"
    assert VisitFix.select().count() == 1


def test_next_follow_up_date_creates_a_follow_up(ctx):
    due = clock.today() + dt.timedelta(days=3)
    visit = check_in(ctx, next_follow_up_on=due, note="下周三再来").visit
    follow = FollowUp.get(FollowUp.source_visit == visit.id)
    assert (follow.due_on, follow.user_id, follow.customer_id) == (due, ctx.users["mgr1"].id,
                                                                  ctx.customers["c_v1"].id)


def test_coverage_counts_a_verified_check_in(ctx):
    before = Visit.day_counters(ctx.users["mgr1"])
    check_in(ctx, customer="c_g1", metres=800)  # unverified: not covered
    assert Visit.day_counters(ctx.users["mgr1"])["visited"] == before["visited"]
    clock.travel(dt.timedelta(minutes=11))
    check_in(ctx, customer="c_g1", metres=20)
    after = Visit.day_counters(ctx.users["mgr1"])
    assert after["visited"] == before["visited"] + 1
    assert after["visits_today"] == before["visits_today"] + 2


def test_two_concurrent_posts_with_one_uuid_give_one_visit(app, county, backend):
    """Both threads pass the read-before-write; the UNIQUE constraint decides."""
    if backend != "postgres":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    key = new_uuid()
    barrier = threading.Barrier(2)
    results, errors = [], []
    user = county.users["mgr1"]
    cid = county.customers["c_v1"].id
    made = clock.now()

    def post():
        try:
            with app.app_context(), database.obj.connection_context():
                c = Customer.get_by_id(cid)
                barrier.wait()
                results.append(Visit.check_in(user, cid, north_of(c, 30, made_at=made), made, key))
        except Exception as error:  # pragma: no cover - shown in the assertion
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.status for r in results) == ["created", "replayed"]
    assert len({r.visit.id for r in results}) == 1
    with app.app_context(), database.obj.connection_context():
        assert Visit.select().where(Visit.client_uuid == key).count() == 1
        assert VisitFix.select().where(VisitFix.client_uuid == key).count() == 1


def test_visit_products_keep_their_result(ctx):
    p = ctx.products["a"].id
    visit = check_in(ctx, products=[(p, "interested")]).visit
    assert VisitProduct.get(VisitProduct.visit == visit.id).result == "interested"
