"""Week 47 in the hand-made county (tests/county.py), for the weekly report tests.

The session's clock stands on Wednesday 2026-11-25 (week 48). On top of the county:
its customers were archived on 2 November; 茶园村 (V1, with its group G1) gets 𠇔阿婆,
archived on Wednesday of week 47 (a name outside the BMP), three visits in week 47
(two verified), a lead won that week (5.0 万元) and a follow-up due on 19 November that
nobody did. Every figure the tests expect is written out by hand beside them.
"""
import datetime as dt

from app import clock
from app.models import Customer, FollowUp, Lead, Visit

WEEK47 = dt.date(2026, 11, 16)
RARE = "\U000201D4阿婆"  # 𠇔阿婆


def at(day, hour):
    """The UTC moment of hour o'clock, Asia/Shanghai, on day."""
    return clock.local_day_start_utc(day) + dt.timedelta(hours=hour)


def add_week47(county):
    Customer.update(created_at=at(dt.date(2026, 11, 2), 9)).execute()
    v1 = county.territories["V1"]
    rare = Customer.create(name=RARE, kind="household", branch=v1.branch, territory=v1, lat=28.918, lng=107.603,
                           position_source="surveyed", consent=True, village=v1.name, tier="potential",
                           created_at=at(WEEK47 + dt.timedelta(days=2), 10))
    mgr1 = county.users["mgr1"]
    c_v1, c_g1 = county.customers["c_v1"], county.customers["c_g1"]
    visits = [
        (c_v1, WEEK47 + dt.timedelta(days=1), True, "met", "周大福说年底有一笔存款到期，想转节节高。"),
        (c_g1, WEEK47 + dt.timedelta(days=2), False, "not_home", ""),
        (rare, WEEK47 + dt.timedelta(days=3), True, "interested", "𠇔阿婆想给孙子开一张借记卡。"),
    ]
    for n, (customer, day, verified, outcome, note) in enumerate(visits):
        Visit.create(client_uuid=f"47000000-0000-4000-8000-00000000000{n}", customer=customer, user=mgr1,
                     made_at=at(day, 10), received_at=at(day, 10), verified=verified, outcome=outcome, note=note)
    Lead.create(client_uuid="47000000-0000-4000-8000-000000000101", branch=v1.branch, customer=c_g1, name=c_g1.name,
                product=county.products["a"], source="visit", owner=mgr1, created_by=mgr1, status="won",
                stage_reached=3, won_on=WEEK47 + dt.timedelta(days=4), won_amount_wan=5.0,
                created_at=at(WEEK47 + dt.timedelta(days=2), 11), updated_at=at(WEEK47 + dt.timedelta(days=4), 11))
    FollowUp.create(customer=c_v1, user=mgr1, due_on=WEEK47 + dt.timedelta(days=3), reason="节节高到期前回访")
    return rare
