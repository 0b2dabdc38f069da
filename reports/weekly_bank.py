# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# The bank's week (全行周报): key figures per branch and zone, the weakest territories, campaigns.
bank_id = 1
week = "2026-W48"

# %%
# Set-up: in the app this reuses the running app; in Jupyter it opens the app's database.
# ruff: noqa: E402
import sys
from pathlib import Path

if not (Path.cwd() / "app").is_dir() and (Path.cwd().parent / "app").is_dir():
    sys.path.insert(0, str(Path.cwd().parent))  # Jupyter started in reports/
import datetime as dt

from app.reporting import app_for_notebook

app = app_for_notebook()

from app import clock
from app.charts import HTML, Table, change, esc, percent
from app.models import Branch, Territory, Visit, weekly

KINDS = {"zone": "片区", "village": "村", "street": "街道", "market": "商圈", "group": "组"}
monday = weekly.parse_week(week)
last_monday = monday - dt.timedelta(days=7)
bank = Branch.get_by_id(bank_id)
frame = weekly.WeekFrame(bank, monday)
before = weekly.WeekFrame(bank, last_monday)
viewer = weekly.viewer_for(bank)


def coverage_of(start, by=None, among=None):
    end = start + dt.timedelta(days=7)
    return Visit.coverage(viewer, start, end, by=by, among=among, as_of=min(end - dt.timedelta(days=1), clock.today()))


def _cov(figure):
    visited, counted, ratio = figure
    return f"{percent(ratio)}（{visited}/{counted}）"


def _sum(figures):
    visited = sum(f[0] for f in figures)
    counted = sum(f[1] for f in figures)
    return visited, counted, (visited / counted if counted else None)


REPORT_BANK = bank.name
REPORT_TITLE = f"全行周报 · {week}"

# %%
# Cover.
sunday = monday + dt.timedelta(days=6)
state = ("本周已结束：数字取自周末的快照。" if frame.closed
         else f"本周尚未结束：数字截至 {clock.local_now():%Y年%m月%d日 %H:%M}。")
HTML(f'<div class="cover"><div class="bank">{esc(bank.name)}</div><h1>全行责任田周报</h1><dl>'
     f'<dt>周次</dt><dd>{week}：{monday:%Y年%m月%d日} 至 {sunday:%m月%d日}</dd>'
     f'<dt>客户数</dt><dd>{sum(1 for c in frame.customers.values() if c.status == "active")} 户</dd>'
     f'</dl><p class="made">生成时间：{clock.local_now():%Y-%m-%d %H:%M}（北京时间）<br>{esc(state)}</p></div>')

# %% [markdown] tags=["keep", "new-page"]
# ## 全行关键指标

# %%
all_ids, _ = weekly.branch_customer_ids(frame, bank)
before_ids, _ = weekly.branch_customer_ids(before, bank)
now = frame.figures([], coverage_of(monday), ids=all_ids)
then = before.figures([], coverage_of(last_monday), ids=before_ids)


def _pct(value):
    return None if value is None else round(value * 100, 1)


Table(["指标", "本周", "上周", "变化"], [
    ("走访次数", now["visits"], then["visits"], change(now["visits"], then["visits"])),
    ("已核实走访占比", percent(now["verified_share"]), percent(then["verified_share"]),
     change(_pct(now["verified_share"]), _pct(then["verified_share"]), lambda t: t + " 个百分点")),
    ("走访客户数", now["customers_visited"], then["customers_visited"],
     change(now["customers_visited"], then["customers_visited"])),
    ("走访覆盖率", _cov(now["coverage"]), _cov(then["coverage"]),
     change(_pct(now["coverage"][2]), _pct(then["coverage"][2]), lambda t: t + " 个百分点")),
    ("新建档客户", now["new_archives"], then["new_archives"], change(now["new_archives"], then["new_archives"])),
    ("新增线索", now["leads"], then["leads"], change(now["leads"], then["leads"])),
    ("办理笔数", now["won"], then["won"], change(now["won"], then["won"])),
    ("办理金额（万元）", now["won_amount"], then["won_amount"], change(now["won_amount"], then["won_amount"])),
    ("逾期未跟进", now["overdue"], then["overdue"], change(now["overdue"], then["overdue"])),
], numeric={1, 2, 3})

# %% [markdown]
# ## 各支行

# %%
branches = list(Branch.select().where(Branch.parent == bank.id, Branch.kind != "union").order_by(Branch.path))
by_branch = coverage_of(monday, by="branch")
COLUMNS = ["客户", "走访", "走访客户", "覆盖率", "新建档", "新线索", "办理", "金额（万元）", "逾期"]


def _row(name, f):
    return (name, f["customers"], f["visits"], f["customers_visited"], _cov(f["coverage"]), f["new_archives"],
            f["leads"], f["won"], f["won_amount"], f["overdue"])


branch_rows = []
for branch in branches:
    ids, below = weekly.branch_customer_ids(frame, branch)
    figure = _sum([by_branch.get(b, (0, 0, None)) for b in below])
    branch_rows.append(_row(branch.name, frame.figures([], figure, ids=ids)))
Table(["支行", *COLUMNS], branch_rows, numeric=set(range(1, 10)), empty="本行没有支行。")

# %% [markdown]
# ## 各片区

# %%
zones = list(Territory.select().join(Branch).where(Branch.path.startswith(bank.path), Territory.kind == "zone",
                                                   Territory.live()).order_by(Territory.path))
zone_cov = coverage_of(monday, by="territory", among=[z.id for z in zones]) if zones else {}
Table(["片区", *COLUMNS], [_row(z.name, frame.figures(weekly.subtree_ids(z), zone_cov[z.id])) for z in zones],
      numeric=set(range(1, 10)), empty="本行尚未划分片区。")

# %% [markdown] tags=["keep"]
# ## 覆盖率最低的 10 个村、街道和商圈

# %%
places = [t for t in weekly.reported_territories(bank) if t.kind != "zone"]
place_cov = coverage_of(monday, by="territory", among=[t.id for t in places]) if places else {}
parents = {t.id: t.name for t in Territory.select(Territory.id, Territory.name)
           .where(Territory.id.in_([t.parent_id for t in places if t.parent_id] or [0]))}
weakest = sorted((t for t in places if place_cov[t.id][1] > 0), key=lambda t: (place_cov[t.id][2], t.name))[:10]
Table(["区域", "类型", "所属片区", "支行", "覆盖率", "负责客户经理"],
      [(t.name, KINDS[t.kind], parents.get(t.parent_id, "—"), t.branch.name, _cov(place_cov[t.id]),
        "、".join(sorted({m[0] for m in weekly.responsible(t, monday)})) or "暂无") for t in weakest],
      numeric={4}, empty="没有计入覆盖率的客户。")

# %% [markdown]
# ## 进行中的营销活动

# %%
campaign_rows = []
for campaign, territory_ids in weekly.campaigns(bank, monday):
    covered = weekly.coverage(bank, monday, territory_ids) if territory_ids else {}
    campaign_rows.append((campaign.name, f"{campaign.starts_on:%m-%d} 至 {campaign.ends_on:%m-%d}", len(territory_ids),
                          "—" if campaign.coverage_goal_pct is None else f"{campaign.coverage_goal_pct:g}%",
                          _cov(_sum(covered.values())) if covered else "—"))
Table(["活动", "起止", "区域数", "覆盖目标", "本周覆盖"], campaign_rows, numeric={2},
      empty="本周没有进行中的营销活动。")
