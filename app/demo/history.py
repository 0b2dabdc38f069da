"""The demo county's history: eight weeks of visits through Visit.check_in, their
follow-ups, and leads captured and moved through Lead.capture and Lead.move."""
import datetime as dt
import math

import numpy as np

from app import clock, geo
from app.demo.common import LOANS, Weighted, fits, holiday, in_the_past, uuid_from
from app.models import Customer, FollowUp, Lead, Territory, User, Visit
from app.models.lead import DEFAULT_LOST_REASONS
from app.models.refused import CONFLICT, Refused
from app.models.territory import assigned_territory_ids
from app.models.visit import Fix

# FIELD-NOTES: 12 households a visit day, 3 days a week (≈ 36 a week per manager), daylight.
VISIT_WEEKS = 8
VISIT_DAYS_A_WEEK = 3
HOUSEHOLDS_A_DAY = 12
# Managers differ: (visit days a week, households a day, share of past follow-ups done).
# One of them (LAGGARD, in 茶山支行) has let it slide, for the team lead to find on 我的团队.
RHYTHMS = [(3, 12, 0.95), (3, 12, 0.97), (4, 11, 0.94), (2, 13, 0.95), (3, 13, 0.97), (4, 10, 0.93)]
LAGGARD = "mgr07"
LAGGARD_RHYTHM = (1, 6, 0.15)
# How many weeks must pass before a customer is walked to again: gold ones come round
# about monthly (their rhythm), others rarely within eight weeks; a gold customer a few
# streets further still comes first (GOLD_PULL shortens their distance).
REVISIT_WEEKS = {"gold": 2, "mass": 4, "potential": 6}
GOLD_PULL = 0.25
DEMO_OUTCOMES = (("met", 46), ("not_home", 22), ("interested", 14), ("refused", 6), ("signed", 8),
                 ("moved", 1))
DEMO_RESULTS = (("pitched", 50), ("interested", 25), ("declined", 18), ("signed", 7))
ALL_YEAR = tuple(range(1, 13))
# What a manager writes, by customer kind and outcome, each with the months it can be said
# in (黔北: rice and maize in by October, chillies and 方竹笋 in autumn, tea picked March to
# September, rapeseed sown in October and November, the New Year pig killed in the twelfth
# month). Household interest in a loan depends on what the household lives from.
DEMO_NOTES = {
    "household": {
        "met": [("谷子已经收完了，今年收成还行", (9, 10, 11, 12)), ("刚卖完辣椒，价钱比去年好", (8, 9, 10)),
                ("在栽油菜，忙完这阵子再细谈", (10, 11)), ("茶园在修剪施肥，准备过冬", (10, 11, 12, 1)),
                ("今年方竹笋卖了个好价钱", (9, 10)), ("烤烟已经交售完了", (9, 10, 11)),
                ("在采茶，明前茶价钱好", (3, 4)), ("儿子在浙江务工，老两口在家", ALL_YEAR),
                ("了解了一下黔农云，回头让孙子帮忙装", ALL_YEAR), ("问了社保代缴的事", ALL_YEAR),
                ("家里在修新房子", ALL_YEAR), ("", ALL_YEAR)],
        "not_home": [("家里没人，邻居说去镇上赶场了", ALL_YEAR), ("锁门了，邻居说下地挖红薯了", (9, 10, 11)),
                     ("家里没人，邻居说上山采茶了", (3, 4, 5, 6, 7, 8, 9)),
                     ("家里没人，打电话说在县城陪孩子读书", ALL_YEAR), ("锁门了，下次早点来", ALL_YEAR),
                     ("", ALL_YEAR)],
        "interested": [("对节节高感兴趣，想等卖了谷子再存", (9, 10, 11, 12)), ("问月月红的利息怎么领", ALL_YEAR),
                       ("儿子过年回来，想给家里存一笔定期", (11, 12, 1))],
        "refused": [("说已经在别的银行办了", ALL_YEAR), ("不愿意多谈", ALL_YEAR), ("", ALL_YEAR)],
        "signed": [("现场开通了黔农云", ALL_YEAR), ("办理了医保代缴", ALL_YEAR), ("办理了社保代缴", ALL_YEAR)],
        "applied": [("收了贷款申请表和身份证复印件，转支行审查", ALL_YEAR), ("贷款申请已受理，等支行调查", ALL_YEAR)],
        "moved": [("全家搬到县城了", ALL_YEAR)],
    },
    "merchant": {
        "met": [("店里生意一般，准备年底备货", (10, 11, 12)), ("老板在看店，聊了收款码到账的事", ALL_YEAR),
                ("赶场天人多，改天再细聊", ALL_YEAR), ("店里刚装修完，重新开张", ALL_YEAR), ("", ALL_YEAR)],
        "not_home": [("店门关着，旁边的说老板去遵义进货了", ALL_YEAR), ("只有帮工在看店，老板不在", ALL_YEAR),
                     ("", ALL_YEAR)],
        "interested": [("想装一台 POS 机", ALL_YEAR), ("年底进货缺周转资金，问了创业担保贷款", (10, 11, 12, 1)),
                       ("想换我们的收款码，到账快", ALL_YEAR), ("问定期存款利率", ALL_YEAR)],
        "refused": [("已经用别家的收款码了", ALL_YEAR), ("太忙，改天再说", ALL_YEAR), ("", ALL_YEAR)],
        "signed": [("现场开通了收款码", ALL_YEAR), ("开通了黔农云", ALL_YEAR)],
        "applied": [("收了创业担保贷款的申请材料，转支行审查", ALL_YEAR)],
        "moved": [("店铺转让了", ALL_YEAR)],
    },
    "enterprise": {
        "met": [("见了财务，了解代发工资的需求", ALL_YEAR), ("合作社在收购社员的方竹笋", (9, 10)),
                ("合作社在收购社员的辣椒", (8, 9, 10)), ("在扩建厂房", ALL_YEAR), ("", ALL_YEAR)],
        "not_home": [("负责人去县里开会了", ALL_YEAR), ("", ALL_YEAR)],
        "interested": [("明年扩大生产，问了流动资金贷款", ALL_YEAR), ("想把结算账户开到我行", ALL_YEAR),
                       ("问大额定期存款利率", ALL_YEAR)],
        "refused": [("在别的银行有授信了", ALL_YEAR), ("", ALL_YEAR)],
        "signed": [("开通了企业网银", ALL_YEAR), ("办理了 POS 收单", ALL_YEAR)],
        "applied": [("收了流动资金贷款的申请材料，转支行审查", ALL_YEAR)],
        "moved": [("企业已搬离", ALL_YEAR)],
    },
}
# A household asking about a loan says what for, by what it lives from: only a breeder
# expands breeding, only a grower rents more land.
LOAN_WISHES = {"breeding": "想贷款扩大养殖，多买几头牛，等评级下来再办", "planting": "想贷款明年多租几亩地种辣椒",
               "trade": "想贷款把小卖部扩一下", "labour": "儿子想回乡创业，问了创业担保贷款",
               "other": "问了农户小额信用贷款怎么申请"}


def _note(rng, customer, outcome, day, loan):
    """A note this customer could have given on this day (common to its kind and season)."""
    kind, category = customer["kind"], customer["category"]
    if loan and kind == "household" and outcome == "interested":
        return LOAN_WISHES.get(category, LOAN_WISHES["other"])
    notes = [text for text, months in DEMO_NOTES[kind][outcome] if day.month in months]
    return rng.choice(notes or [""])


def _weighted(rng, pairs):
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def visit_history(users, products, rng, weeks=VISIT_WEEKS):
    """Each manager's last 8 weeks of check-ins, written through Visit.check_in.

    Visit days are weekdays, as many a week as the manager's rhythm (RHYTHMS; one LAGGARD
    does far fewer), never in the National Day holiday; each day one walk through the
    nearest customers due again (REVISIT_WEEKS by tier, gold ones drawn nearer), from 9:00
    with a lunch break, every visit 15–35 minutes after the last. Most fixes are a few
    metres from the door; some are taken down the road (unverified). A visit asking for a
    follow-up creates one; follow-ups due before today are mostly done (the laggard's not).
    """
    today = clock.today()
    now = clock.now()
    monday, _ = clock.week_bounds(today)
    catalogue = products if isinstance(products, dict) else {p.name: p for p in products}
    written = 0
    managers = sorted((u for u in users.values() if u.role == "manager"), key=lambda u: u.username)
    for n, manager in enumerate(managers):
        days_a_week, a_day, done_share = (LAGGARD_RHYTHM if manager.username == LAGGARD
                                          else RHYTHMS[n % len(RHYTHMS)])
        people = list(Customer.select(Customer.id, Customer.lat, Customer.lng, Customer.tier, Customer.kind,
                                      Customer.category, Customer.credit_rating)
                      .where(Customer.territory.in_(assigned_territory_ids(manager, today)),
                             Customer.status == "active", Customer.consent, Customer.lat.is_null(False))
                      .order_by(Customer.id).dicts())
        if not people:
            continue
        coords = np.array([(c["lat"], c["lng"]) for c in people])
        gap = np.array([REVISIT_WEEKS.get(c["tier"], 6) for c in people])
        pull = np.array([GOLD_PULL if c["tier"] == "gold" else 1.0 for c in people])
        seen_at = np.full(len(people), 10 ** 6)  # weeks ago of each customer's last visit
        for week in range(weeks, -1, -1):
            week_monday = monday - dt.timedelta(weeks=week)
            for day in sorted(rng.sample(range(5), days_a_week)):
                date = week_monday + dt.timedelta(days=day)
                if date > today or holiday(date):
                    continue
                due = _due(seen_at, week, gap)
                if not len(due):
                    break
                # Start at a customer due again, gold ones first; walk on to the nearest due.
                gold = due[pull[due] < 1]
                current = (gold if len(gold) else due)[rng.randrange(len(gold) if len(gold) else len(due))]
                local = dt.datetime.combine(date, dt.time(9, rng.randrange(0, 30)))
                for _ in range(a_day):
                    made_at = (local - dt.timedelta(hours=8))  # Asia/Shanghai is UTC+8 all year
                    if made_at > now:
                        break
                    seen_at[current] = week
                    written += _check_in(manager, people[current], made_at, rng, catalogue)
                    local += dt.timedelta(minutes=rng.randint(15, 35))
                    if 12 <= local.hour < 14:
                        local = local.replace(hour=14, minute=rng.randrange(0, 20))
                    if local.hour >= 18:
                        break
                    due = _due(seen_at, week, gap)
                    if not len(due):
                        break
                    d = ((coords[due] - coords[current]) ** 2).sum(axis=1) * pull[due]
                    current = due[int(np.argmin(d))]
        # Follow-ups of the past are mostly done by now; recent and coming ones stay open.
        for follow in FollowUp.select().where((FollowUp.user == manager.id) & FollowUp.done_at.is_null()
                                              & (FollowUp.due_on < today)).order_by(FollowUp.id):
            if rng.random() < done_share:
                follow.mark_done()
    return {"visits": written, "follow_ups": FollowUp.select().count()}


def _due(seen_at, week, gap):
    """Who is due again this week (REVISIT_WEEKS); once a small 责任田 has none left, anyone
    not yet visited this week."""
    due = np.flatnonzero(seen_at - week >= gap)
    return due if len(due) else np.flatnonzero(seen_at != week)


def _check_in(manager, customer, made_at, rng, catalogue):
    lat, lng = customer["lat"], customer["lng"]
    if rng.random() < 0.12:  # taken down the road, or before reaching the door
        metres, accuracy = rng.uniform(180, 900), rng.uniform(8, 60)
    else:
        metres, accuracy = abs(rng.gauss(0, 18)), rng.uniform(4, 35)
    fix_lng, fix_lat = geo.moved(lng, lat, metres, rng.uniform(0, 2 * math.pi))
    fix = Fix(fix_lat, fix_lng, round(accuracy, 1), made_at - dt.timedelta(seconds=rng.randint(2, 40)))
    outcome = _weighted(rng, DEMO_OUTCOMES)
    fitting = [name for name in catalogue if fits(name, customer["kind"], customer["credit_rating"])]
    products, loan = [], False
    if outcome in ("met", "interested", "signed") and fitting and rng.random() < 0.6:
        for name in rng.sample(fitting, k=min(len(fitting), rng.choice((1, 1, 2)))):
            if outcome == "signed":
                # A loan is never signed at the doorstep: its application is taken, the branch signs later.
                result = "applied" if name in LOANS else "signed"
            else:
                result = _weighted(rng, DEMO_RESULTS[:3])
            loan = loan or (name in LOANS and result in ("interested", "applied"))
            products.append((catalogue[name].id, result))
    if outcome == "signed" and products and all(result == "applied" for _, result in products):
        outcome = "applied"
    elif outcome == "signed" and not any(result == "signed" for _, result in products):
        outcome = "interested"
    follow_up = None
    local_day = clock.to_local(made_at).date()
    if outcome in ("interested", "applied", "signed", "not_home") or rng.random() < 0.08:
        follow_up = local_day + dt.timedelta(days=rng.choice((2, 3, 5, 7, 10, 14, 21)))
    Visit.check_in(manager, customer["id"], fix, made_at, str(uuid_from(rng)),
                   outcome=outcome, products=products, note=_note(rng, customer, outcome, local_day, loan),
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
            data = {"client_uuid": str(uuid_from(rng)), "source": LEAD_SOURCES_WEIGHTED.pick(rng)}
            visit = interested[k] if k < len(interested) else None
            # The lead's product fits whom it is for; someone new becomes a household, unrated yet.
            if visit is not None:
                data.update(customer=visit.customer_id, visit=visit.id, source="visit")
                whom = (visit.customer.kind, visit.customer.credit_rating)
            elif k < 8 and customers:
                customer = customers.pop()
                data["customer"] = customer.id
                whom = (customer.kind, customer.credit_rating)
            else:
                data.update(name=rng.choice(NEW_PEOPLE) + rng.choice("明华军芳秀英"),
                            phone="13" + "".join(str(rng.randrange(10)) for _ in range(9)), confirmed="1")
                whom = ("household", None)
            fitting = [p for p in catalogue if fits(p.name, *whom)]
            product = fitting[rng.randrange(len(fitting))]
            data["product"] = product.id
            if product.kind in ("deposit", "loan"):
                top = product.amount_limit_wan or 30
                data["amount"] = str(rng.randint(1, int(min(top, 30))))
            fate = LEAD_FATES.pick(rng)
            age = rng.randint(10, 56)
            if visit is not None:  # captured on the day of the visit
                age = (clock.today() - clock.to_local(visit.made_at).date()).days
                if fate == "stale" and age < 9:
                    fate = "contacted"
            while holiday(clock.today() - dt.timedelta(days=age)):
                age += 1  # nobody captures leads during the National Day holiday
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
            workdays = [d for d in range(last, age) if not holiday(clock.today() - dt.timedelta(days=d))]
            days = sorted(rng.sample(workdays, len(steps)) if len(steps) <= len(workdays)
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
