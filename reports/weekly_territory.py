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
# One territory's week (责任田周报): a village, street, market or zone (a zone sums its children).
territory_id = 1
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
from app.charts import HTML, SVG, Table, bars, change, esc, percent, territory_map
from app.models import Territory, weekly

KINDS = {"zone": "片区", "village": "村", "street": "街道", "market": "商圈", "group": "组"}
TIERS = {"gold": "黄金", "mass": "大众", "potential": "潜在"}
OUTCOMES = {"met": "见到本人", "not_home": "不在家", "refused": "拒绝", "interested": "有意向",
            "applied": "已受理", "signed": "已办理", "moved": "已迁出"}
WEEKDAYS = "一二三四五六日"

monday = weekly.parse_week(week)
last_monday = monday - dt.timedelta(days=7)
territory = Territory.get_by_id(territory_id)
bank = territory.branch.bank or territory.branch
places = weekly.subtree_ids(territory)
frame = weekly.WeekFrame(bank, monday, places)
before = weekly.WeekFrame(bank, last_monday, places)
ids = frame.customer_ids(places)
coverage = weekly.coverage(bank, monday, [territory.id])[territory.id]
coverage_before = weekly.coverage(bank, last_monday, [territory.id])[territory.id]
now, then = frame.figures(places, coverage), before.figures(places, coverage_before)
managers = weekly.responsible(territory, monday)
REPORT_BANK = bank.name
REPORT_TITLE = f"{territory.name} · {week} 周报"

# %%
# Cover.
parents = [t.name for t in Territory.select().where(
    Territory.id.in_([int(i) for i in territory.path.strip("/").split("/")[:-1]] or [0])).order_by(Territory.path)]
sunday = monday + dt.timedelta(days=6)
state = ("本周已结束：数字取自周末的快照，以后客户迁移、改层级或合并都不会改变它们。" if frame.closed
         else f"本周尚未结束：数字截至 {clock.local_now():%Y年%m月%d日 %H:%M}。")
rows = [("银行", bank.name), ("支行", territory.branch.name),
        ("上级区域", " › ".join(parents) or "—"),
        ("区域", f"{territory.name}（{KINDS[territory.kind]}）"),
        ("周次", f"{week}：{monday:%Y年%m月%d日} 至 {sunday:%m月%d日}"),
        ("负责客户经理", "、".join(sorted({m[0] for m in managers})) or "暂无"),
        ("客户数", f"{now['customers']} 户")]
HTML(f'<div class="cover"><div class="bank">{esc(bank.name)} · 责任田周报</div>'
     f'<h1>{esc(territory.name)}</h1><dl>'
     + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
     + f'</dl><p class="made">生成时间：{clock.local_now():%Y-%m-%d %H:%M}（北京时间）<br>{esc(state)}</p></div>')

# %% [markdown] tags=["keep", "new-page"]
# ## 关键指标

# %%
def _cov(figure):
    visited, counted, ratio = figure
    return f"{percent(ratio)}（{visited}/{counted}）"


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
], numeric={1, 2, 3}, classes="key-figures")

# %% [markdown]
# 覆盖率：本行计入的客户类型中在册、同意联系的客户，本周至少有一次已核实走访的比例。
#
# 逾期未跟进：截至周末（本周未结束时截至今日）到期而未完成的跟进。

# %% [markdown] tags=["keep"]
# ## 地图

# %%
seen_before = weekly.visited_before(frame, ids)
this_week = {v[1] for v in frame.visits if v[1] in ids}
placed = [frame.customers[i] for i in ids]
points = [(c.lng, c.lat, "week" if c.id in this_week else "earlier" if c.id in seen_before else "never")
          for c in placed if c.lat is not None and c.lng is not None and c.status == "active"]
groups = [(g.name, g.geometry) for g in Territory.select().where(
    Territory.path.startswith(territory.path), Territory.id != territory.id, Territory.live(),
    Territory.geometry.is_null(False)).order_by(Territory.path)]
counts = {key: sum(p[2] == key for p in points) for key in ("week", "earlier", "never")}
SVG(territory_map(territory.geometry, groups, points),
    caption=f"{len(points)} 户有位置的客户：本周走访 {counts['week']} 户，"
            f"此前走访过 {counts['earlier']} 户，从未走访 {counts['never']} 户。")

# %% [markdown] tags=["keep"]
# ## 每日走访

# %%
days = weekly.per_day(frame, ids)
SVG(bars([f"周{WEEKDAYS[d.weekday()]} {d:%m/%d}" for d, _, _ in days],
         [[v for _, v, _ in days], [o for _, _, o in days]], legend=("已核实", "未核实")),
    caption=f"本周共 {now['visits']} 次走访，其中已核实 {now['verified']} 次。")

# %% [markdown] tags=["keep"]
# ## 下辖区域

# %%
children = list(Territory.select().where(Territory.parent == territory.id, Territory.live()).order_by(Territory.path))
child_cov = weekly.coverage(bank, monday, [c.id for c in children]) if children else {}
child_rows = []
for child in children:
    child_places = weekly.subtree_ids(child)
    child_ids = frame.customer_ids(child_places)
    child_rows.append((child.name, KINDS[child.kind], len(child_ids),
                       sum(1 for v in frame.visits if v[1] in child_ids), _cov(child_cov[child.id])))
Table(["区域", "类型", "客户数", "走访次数", "覆盖率"], child_rows, numeric={2, 3, 4},
      empty="该区域没有下辖的组或村。")

# %% [markdown]
# ## 客户经理

# %%
Table(["客户经理", "走访次数", "已核实", "走访客户", "新增线索", "办理"],
      [(r["name"], r["visits"], r["verified"], r["customers"], r["leads"], r["won"])
       for r in weekly.per_manager(frame, ids, managers)],
      numeric={1, 2, 3, 4, 5}, empty="本周没有客户经理负责或走访该区域。")

# %% [markdown] tags=["keep"]
# ## 线索漏斗与产品

# %%
stages = weekly.funnel(frame, ids)
product_rows = weekly.products(frame, ids)
HTML(Table(["阶段", "新线索", "已联系", "已确认意向", "已办理", "未成功"],
           [("本周新增线索（按周末所处阶段）", stages["new"], stages["contacted"], stages["qualified"],
             stages["won"], stages["lost"])], numeric={1, 2, 3, 4, 5})._repr_html_()
     + Table(["产品", "推介次数", "有意向", "已办理"], product_rows, numeric={1, 2, 3},
             empty="本周走访中没有推介产品。")._repr_html_())

# %% [markdown] tags=["keep"]
# ## 客户分层

# %%
mix = weekly.tiers(frame, before, places)
HTML(Table(["层级", "上周末", "本周末", "变化"],
           [(TIERS[t], a, b, change(b, a)) for t, (a, b) in mix["mix"].items()]
           + [("合计", sum(a for a, _ in mix["mix"].values()), sum(b for _, b in mix["mix"].values()),
               change(sum(b for _, b in mix["mix"].values()), sum(a for a, _ in mix["mix"].values())))],
           numeric={1, 2, 3})._repr_html_()
     + f'<p class="note">本周升级 {mix["up"]} 户，降级 {mix["down"]} 户；新进入本区域 {mix["joined"]} 户，'
       f'离开 {mix["left"]} 户（迁出、销户或合并）。</p>')

# %% [markdown]
# ## 逾期跟进（最重要的 20 条）

# %%
late, late_total = weekly.overdue(frame, ids)
Table(["客户", "层级", "应跟进日", "逾期天数", "客户经理", "事由"],
      [(r["customer_name"], TIERS.get(r["tier"], "—"), f"{r['due_on']:%m-%d}", r["days"], r["manager_name"],
        r["reason"] or "—") for r in late], numeric={3},
      caption=f"共 {late_total} 条逾期未跟进，黄金客户优先，再按逾期时间" if late_total else "",
      empty="没有逾期未跟进的客户。")

# %% [markdown]
# ## 走访纪要摘录

# %%
Table(["日期", "客户经理", "客户", "结果", "走访记录"],
      [(f"{clock.to_local(r['made_at']):%m-%d}", r["who"], r["name"], OUTCOMES.get(r["outcome"], r["outcome"]),
        r["note"]) for r in weekly.highlights(frame, ids)],
      empty="本周没有填写走访记录。")
