"""The demo county's people and catalogue: products, the bank's tier rules, users of
every role with their passwords, and each manager's 责任田 through Assignment.assign."""
from app.demo.common import PASSWORD
from app.demo.names import People
from app.models import Assignment, Product, User
from app.models.tier import TierRule

PRODUCTS = [
    ("节节高", "deposit", None,
     "本行的定期储蓄产品，起存金额、存期和利率以网点公布的产品说明为准，存款受存款保险保障。"),
    ("月月红", "deposit", None,
     "本金存着不动，利息每个月自动转到您的活期账户，按月领取，适合靠利息补贴家用的老人和家庭。"),
    ("定期存款", "deposit", None,
     "三个月到五年多种存期可选，利率事先约定、到期本息一次领取，存款受存款保险保障，安全放心。"),
    ("农户小额信用贷款", "loan", 30,
     ("凭农户信用评级授信，不用抵押、不用担保，最高 30 万元；一次授信、随用随贷，"
      "用于种养殖、农资采购和家庭经营。")),
    ("农商e贷", "loan", 50,
     "本行的线上贷款：手机上申请，经本行审核后授信，最高 50 万元，适合种养大户和个体工商户周转。"),
    ("创业担保贷款", "loan", 20,
     "返乡创业人员、个体工商户和小微企业可申请，最高 20 万元，政府提供担保并给予贴息，利息负担轻。"),
    ("黔农云", "ebanking", None,
     "本行的手机银行：转账汇款、查余额、缴水电费、交社保医保都能在手机上办，不用跑网点。"),
    ("社保代缴", "payment", None,
     "城乡居民养老保险费签约后从您的账户按时自动代缴，不会漏缴断缴，老了按月领养老金。"),
    ("医保代缴", "payment", None,
     "城乡居民医疗保险费每年自动从账户代缴，全家人的医保不断档，看病住院照常报销。"),
    ("收款码", "payment", None,
     "商户的聚合收款码：顾客用微信、支付宝或云闪付扫码付款，货款进入商户在本行的结算账户。"),
    ("POS收单", "payment", None,
     "为商户和企业布放 POS 机，受理银行卡刷卡和扫码付款，手续费和结算周期以签约为准。"),
    ("企业网银", "ebanking", None,
     "企业客户的网上银行：对公转账、代发工资、查询回单，U 盾加复核，资金安全。"),
]

STAFF = {  # username → (role, business line); managers are added per branch
    "admin": ("admin", None),
    "hangzhang": ("management", None),
    "fuhangzhang": ("management", None),
}
MANAGER_LINES = {"QB01": ["retail", "micro", "retail", "micro", "retail"],
                 "rural": ["agri", "agri", "agri", "micro", "retail"]}

# The county bank's own tier rules (分层): a little stricter on rating and gentler on land
# than the defaults, as a mountain county with small plots would set them.
BANK_TIER_RULES = [
    ("gold", 50, None, None),
    ("gold", 20, "AAA", None),
    ("mass", 5, None, None),
    ("mass", None, "AA", None),
    ("mass", None, None, 15),
]


def tier_rules(bank):
    """Write the bank's tier rules; return them in the order they are tried."""
    for position, (tier, volume, rating, scale) in enumerate(BANK_TIER_RULES, start=1):
        TierRule.create(bank=bank, position=position, tier=tier, min_volume_wan=volume,
                        min_rating=rating, min_scale_mu=scale)
    return TierRule.for_bank(bank.id)


def products(bank):
    """The bank's catalogue, by name."""
    return {name: Product.create(bank=bank, name=name, kind=kind, description=text,
                                 amount_limit_wan=limit)
            for name, kind, limit, text in PRODUCTS}


def users(bank, branches, rng, password_method):
    """An admin and two management users at the bank, a team lead and 5 managers a branch;
    returns them by username, and (role, username, password) for each to print."""
    people = People(rng)
    plan = [(username, role, line, bank) for username, (role, line) in STAFF.items()]
    for i, branch in enumerate(branches, start=1):
        plan.append((f"lead{i}", "team_lead", "retail" if i == 1 else "agri", branch))
    for i, branch in enumerate(branches):
        lines = MANAGER_LINES["QB01" if i == 0 else "rural"]
        for k in range(5):
            plan.append((f"mgr{5 * i + k + 1:02d}", "manager", lines[k], branch))
    users, logins = {}, []
    for username, role, line, branch in plan:
        user = User(username=username, name=people.person(male=rng.random() < 0.55),
                    phone=people.phone(), role=role, branch=branch, business_line=line)
        user.set_password(PASSWORD, method=password_method)
        user.save()
        users[username] = user
        logins.append((role, username, PASSWORD))
    return users, logins


def assignments(units, users, starts_on):
    """Give each branch's villages and streets to its 5 managers, 2–4 each, in map order.

    Villages are taken round each zone's centre, so one manager's villages are
    neighbours and a 责任田 is one walk. Written with Assignment.assign, as a team lead
    assigns: the managers of one territory and business line in one call.
    """
    plan = {}  # (territory, business line) → (territory, lead, [managers]), in the order made
    for branch in sorted({u["branch"] for u in units}, key=lambda b: b.id):
        mine = [u["row"] for u in sorted(units, key=lambda u: u["walk"]) if u["branch"] == branch]
        lead = next(u for u in users.values() if u.role == "team_lead" and u.branch == branch)
        managers = sorted((u for u in users.values() if u.role == "manager" and u.branch == branch),
                          key=lambda u: u.username)
        base, extra = divmod(len(mine), len(managers))
        start = 0
        for k, manager in enumerate(managers):
            size = base + (1 if k < extra else 0)
            share = mine[start:start + size]
            start += size
            # Fewer than 2 villages a manager: they share a neighbour's, as 分线 allows.
            while len(share) < 2:
                share.append(mine[(start + len(share)) % len(mine)])
            for territory in share:
                plan.setdefault((territory.id, manager.business_line), (territory, lead, []))[2].append(manager)
    for (_, line), (territory, lead, managers) in plan.items():
        Assignment.assign(lead, territory, managers, line, starts_on)
