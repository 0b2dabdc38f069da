"""The demo county's history: eight weeks of visits through Visit.check_in, their
follow-ups, and leads captured and moved through Lead.capture and Lead.move."""
import datetime as dt
import math

import numpy as np

from app import clock, geo
from app.demo.common import Weighted, in_the_past, uuid_from
from app.models import Customer, FollowUp, Lead, Territory, User, Visit
from app.models.lead import DEFAULT_LOST_REASONS
from app.models.refused import CONFLICT, Refused
from app.models.territory import assigned_territory_ids
from app.models.visit import Fix

# FIELD-NOTES: 12 households a visit day, 3 days a week (≈ 36 a week per manager), daylight.
VISIT_WEEKS = 8
VISIT_DAYS_A_WEEK = 3
HOUSEHOLDS_A_DAY = 12
DEMO_OUTCOMES = (("met", 46), ("not_home", 22), ("interested", 14), ("refused", 6), ("signed", 8),
                 ("moved", 1))
DEMO_RESULTS = (("pitched", 50), ("interested", 25), ("declined", 18), ("signed", 7))
DEMO_NOTES = {
    "met": ["家里种了十几亩茶，今年收成还行", "儿子在外务工，老人在家", "了解了一下黔农云，回头让孙子帮忙装",
            "问了社保代缴的事", ""],
    "not_home": ["家里没人，邻居说上山采茶了", "锁门了，下次早点来", ""],
    "interested": ["对节节高感兴趣，想等茶叶款到了再存", "想贷款扩大养殖，下周带材料来", "问月月红利率"],
    "refused": ["说已经在别的银行办了", "不愿意多谈", ""],
    "signed": ["现场开通了黔农云", "签了节节高", "办理了社保代缴"],
    "applied": ["收了贷款申请表和身份证复印件，转支行审查", "贷款申请已受理，等支行调查"],
    "moved": ["全家搬到县城了"],
}


def _weighted(rng, pairs):
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def visit_history(users, products, rng, weeks=VISIT_WEEKS):
    """Each manager's last 8 weeks of check-ins, written through Visit.check_in.

    Visit days are 3 weekdays a week, 12 households a day in one walk through the
    nearest not-yet-visited customers, from 9:00 with a lunch break, every visit
    15–35 minutes after the last. Most fixes are a few metres from the door; some
    are taken down the road (unverified). A visit asking for a follow-up creates
    one; follow-ups due before today are mostly done.
    """
    today = clock.today()
    now = clock.now()
    monday, _ = clock.week_bounds(today)
    product_ids = [(p.id, p.kind) for p in (products.values() if isinstance(products, dict) else products)]
    written = 0
    managers = sorted((u for u in users.values() if u.role == "manager"), key=lambda u: u.username)
    for manager in managers:
        people = list(Customer.select(Customer.id, Customer.lat, Customer.lng)
                      .where(Customer.territory.in_(assigned_territory_ids(manager, today)),
                             Customer.status == "active", Customer.consent, Customer.lat.is_null(False))
                      .order_by(Customer.id).tuples())
        if not people:
            continue
        coords = np.array([(lat, lng) for _, lat, lng in people])
        seen_at = np.full(len(people), -1)  # week index of each customer's last visit
        for week in range(weeks, -1, -1):
            week_monday = monday - dt.timedelta(weeks=week)
            for day in sorted(rng.sample(range(5), VISIT_DAYS_A_WEEK)):
                date = week_monday + dt.timedelta(days=day)
                if date > today:
                    continue
                # Start at a customer not yet visited this week; walk to the nearest next.
                fresh = np.flatnonzero(seen_at != week)
                if not len(fresh):
                    break
                current = fresh[rng.randrange(len(fresh))]
                local = dt.datetime.combine(date, dt.time(9, rng.randrange(0, 30)))
                for _ in range(HOUSEHOLDS_A_DAY):
                    made_at = (local - dt.timedelta(hours=8))  # Asia/Shanghai is UTC+8 all year
                    if made_at > now:
                        break
                    seen_at[current] = week
                    written += _check_in(manager, people[current], made_at, rng, product_ids)
                    local += dt.timedelta(minutes=rng.randint(15, 35))
                    if 12 <= local.hour < 14:
                        local = local.replace(hour=14, minute=rng.randrange(0, 20))
                    if local.hour >= 18:
                        break
                    fresh = np.flatnonzero(seen_at != week)
                    if not len(fresh):
                        break
                    d = ((coords[fresh] - coords[current]) ** 2).sum(axis=1)
                    current = fresh[int(np.argmin(d))]
        # Follow-ups of the past are mostly done by now; recent and coming ones stay open.
        for follow in FollowUp.select().where((FollowUp.user == manager.id) & FollowUp.done_at.is_null()
                                              & (FollowUp.due_on < today)):
            if rng.random() < 0.93:
                follow.mark_done()
    return {"visits": written, "follow_ups": FollowUp.select().count()}


def _check_in(manager, person, made_at, rng, product_ids):
    customer_id, lat, lng = person
    if rng.random() < 0.12:  # taken down the road, or before reaching the door
        metres, accuracy = rng.uniform(180, 900), rng.uniform(8, 60)
    else:
        metres, accuracy = abs(rng.gauss(0, 18)), rng.uniform(4, 35)
    fix_lng, fix_lat = geo.moved(lng, lat, metres, rng.uniform(0, 2 * math.pi))
    fix = Fix(fix_lat, fix_lng, round(accuracy, 1), made_at - dt.timedelta(seconds=rng.randint(2, 40)))
    outcome = _weighted(rng, DEMO_OUTCOMES)
    products = []
    if outcome in ("met", "interested", "signed") and rng.random() < 0.6:
        for pid, kind in rng.sample(product_ids, k=min(len(product_ids), rng.choice((1, 1, 2)))):
            # a loan is never signed at the door: its application is taken, the branch signs later
            signed = "applied" if kind == "loan" else "signed"
            products.append((pid, signed if outcome == "signed" else _weighted(rng, DEMO_RESULTS[:3])))
        if outcome == "signed" and all(result == "applied" for _, result in products):
            outcome = "applied"
    follow_up = None
    if outcome in ("interested", "applied", "signed", "not_home") or rng.random() < 0.08:
        follow_up = clock.to_local(made_at).date() + dt.timedelta(days=rng.choice((2, 3, 5, 7, 10, 14, 21)))
    Visit.check_in(manager, customer_id, fix, made_at, str(uuid_from(rng)),
                   outcome=outcome, products=products, note=rng.choice(DEMO_NOTES[outcome]),
                   next_follow_up_on=follow_up, now=made_at + dt.timedelta(seconds=rng.randint(1, 20)))
    return 1


LEAD_SOURCES_WEIGHTED = Weighted({"visit": 55, "referral": 20, "event": 12, "counter": 8, "phone": 5})
# How a lead ends up, with the days from capture to its last touch.
LEAD_FATES = Weighted({"won": 25, "lost": 18, "qualified": 12, "contacted": 20, "new": 15, "stale": 10})
NEW_PEOPLE = ("何", "罗", "宋", "谢", "唐", "韩", "冯", "邓", "曹", "彭")


def leads(users, products, rng):
    """About ten leads a manager over eight weeks: some won, some lost, some stale.

    Written with Lead.capture and Lead.move, in their own transactions, so a won
    lead updates its customer's products and tier exactly as in the app.
    """
    catalogue = sorted(products.values(), key=lambda p: p.id)
    managers = sorted((u for u in users.values() if u.role == "manager"), key=lambda u: u.username)
    written = 0
    for manager in managers:
        manager = User.get_by_id(manager.id)  # a fresh row: its branch and bank as stored
        customers = list(Customer.visible_to(manager).where(Customer.status == "active")
                         .order_by(Customer.id).limit(200))
        rng.shuffle(customers)
        # The first leads come from the manager's own visits that found interest, as in the field.
        interested = list(Visit.select().where(Visit.user == manager.id, Visit.outcome == "interested")
                          .order_by(Visit.made_at.desc(), Visit.id).limit(4))
        for k in range(10):
            product = catalogue[rng.randrange(len(catalogue))]
            data = {"client_uuid": str(uuid_from(rng)), "product": product.id,
                    "source": LEAD_SOURCES_WEIGHTED.pick(rng)}
            visit = interested[k] if k < len(interested) else None
            if visit is not None:
                data.update(customer=visit.customer_id, visit=visit.id, source="visit")
            elif k < 8 and customers:
                data["customer"] = customers.pop().id
            else:
                data.update(name=rng.choice(NEW_PEOPLE) + rng.choice("明华军芳秀英"),
                            phone="13" + "".join(str(rng.randrange(10)) for _ in range(9)), confirmed="1")
            if product.kind in ("deposit", "loan"):
                top = product.amount_limit_wan or 30
                data["amount"] = str(rng.randint(1, int(min(top, 30))))
            fate = LEAD_FATES.pick(rng)
            age = rng.randint(10, 56)
            if visit is not None:  # captured on the day of the visit
                age = (clock.today() - clock.to_local(visit.made_at).date()).days
                if fate == "stale" and age < 9:
                    fate = "contacted"
            try:
                with in_the_past(age):
                    lead, _ = Lead.capture(manager, data)
            except Refused as refused:  # an open lead for the same product already: the app refuses it too
                if refused.code != CONFLICT:
                    raise
                continue
            written += 1
            steps = {"won": ["contacted", "qualified", "won"], "lost": ["contacted", "lost"],
                     "qualified": ["contacted", "qualified"], "contacted": ["contacted"],
                     "new": [], "stale": ["contacted"]}[fate]
            # Open leads were touched lately, stale ones not for 8 days or more.
            last = rng.randint(8, min(age, 20)) if fate == "stale" else rng.randint(0, min(age, 6))
            days = sorted(rng.sample(range(last, age), len(steps)) if len(steps) <= age - last
                          else [last] * len(steps), reverse=True)
            for to, ago in zip(steps, days):
                with in_the_past(ago):
                    if to == "won":
                        amount = data.get("amount") or None
                        # Someone new who signs gets an archive in one of the manager's villages.
                        home = Territory.visible_to(manager).order_by(Territory.path.desc()).first()
                        # a loan is won with the branch's loan contract number; others mostly carry one
                        loan = lead.product.kind == "loan"
                        reference = (f"{'JK' if loan else 'QBXS'}{clock.today().year}{rng.randrange(10**6):06d}"
                                     if loan or rng.random() < .7 else None)
                        lead.move(manager, "won", amount=amount, won_on=clock.today(), reference=reference,
                                  archive={"territory": home.id if home else None, "link": "new"})
                    elif to == "lost":
                        lead.move(manager, "lost", reason=rng.choice(DEFAULT_LOST_REASONS))
                    else:
                        lead.move(manager, to)
    return written
