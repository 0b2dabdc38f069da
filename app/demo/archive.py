"""The demo county's archives (建档): households, merchants and firms with their family
members, holdings and ID numbers, written through Customer.add_archives."""
import datetime as dt
import math

from app import crypto
from app.demo.common import LENDABLE, TERMS_MONTHS, Weighted, add_months, fits, lognormal, money
from app.demo.names import (ELSEWHERE, RARE, SUPPLEMENTARY_RARE, TOWN_SHOPS, VILLAGE_MARKET_STREETS,
                            VILLAGE_SHOPS, People)
from app.demo.places import Places
from app.models import Customer

CONSENT_WAYS = Weighted({"written": 60, "app": 25, "verbal": 15})
KINDS = {"market": Weighted({"merchant": 1}),
         "street": Weighted({"household": 45, "merchant": 52, "enterprise": 3}),
         "village": Weighted({"household": 93, "merchant": 5.5, "enterprise": 1.5})}
TOWN_LIVING = Weighted({"labour": 50, "trade": 25, "other": 25})
FARM_LIVING = Weighted({"planting": 38, "breeding": 20, "labour": 30, "trade": 5, "other": 7})
# Most villages have been through whole-village rating (整村授信评级): nearly every household
# there is rated, the few left out being away for work. A few villages, and the town's
# 社区, are still being rated. Firms mostly are; shopkeepers about half.
RATED_VILLAGE_SHARE = 0.85
RATINGS = Weighted({"AAA": 5, "AA": 20, "A": 38, "B": 20, "C": 4, None: 13})
UNRATED_PLACE = Weighted({"AA": 4, "A": 10, "B": 8, "C": 2, None: 76})
MERCHANT_RATINGS = Weighted({"AA": 12, "A": 25, "B": 12, None: 51})
FIRM_RATINGS = Weighted({"AAA": 30, "AA": 35, "A": 20, None: 15})
SAVINGS = {"household": Weighted({"节节高": 35, "月月红": 30, "定期存款": 35}),
           "merchant": Weighted({"节节高": 50, "定期存款": 50}),
           "enterprise": Weighted({"定期存款": 1})}

# Where the heads of households were registered: the county itself mostly, some from
# the prefecture's other counties, a few from Chongqing across the border.
ID_REGIONS = Weighted({"520321": 80, "520302": 6, "520381": 5, "520324": 4, "500110": 3, "500101": 2})
ID_SHARE = 0.85
# What a household's family do, in a mountain county of 黔北 (and in its county town).
SPOUSE_VILLAGE = ["务农", "务农", "外出务工（浙江）", "在家照顾老人孩子", "在镇上打零工", "养牛"]
SPOUSE_TOWN = ["个体经营", "在县城超市上班", "在家带孩子", "环卫工", "在县医院做护工"]
CHILD_VILLAGE = ["外出务工（广东东莞）", "外出务工（浙江宁波）", "在遵义务工", "货车司机", "在县城开餐馆",
                 "读初中（镇中学）", "在县城读高中", "在贵阳读大学", "乡村教师", "在家务农"]
CHILD_TOWN = ["在县城上班", "读小学", "读初中", "在县城读高中", "在贵阳读大学", "外出务工（广东）", "教师"]
GRANDCHILD = ["读小学（村小）", "上幼儿园", "读小学（镇小）"]  # households whose ID number is on file; the rest were archived without it


def _id_number(rng, male, today):
    """A GB 11643 number: region, birth date (25–80 years ago), sequence odd for men, check digit."""
    born = today - dt.timedelta(days=rng.randint(25 * 365, 80 * 365))
    sequence = rng.randrange(0, 999, 2) + (1 if male else 0)
    first = f"{ID_REGIONS.pick(rng)}{born:%Y%m%d}{sequence:03d}"
    return first + crypto.check_digit(first)



# What an archive holds here; the write path adds the branch, territory, tier and times.
ARCHIVE_FIELDS = [
    "kind", "name", "phone", "township", "village", "group_name", "street",
    "house_no", "category", "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan",
    "debts_wan", "net_income_wan", "deposit_balance_wan", "loan_balance_wan", "credit_rating",
    "products_elsewhere", "consent", "consent_on", "consent_via", "sensitive_consent", "sensitive_consent_on",
    "sensitive_consent_via", "legal_basis", "legal_basis_on", "lat", "lng", "position_source",
    "position_confirmed", "status",
]


class Archive:
    """The customers (建档) of the county with their members and holdings.

    Everything is drawn first, then written in one call of the archive's bulk write path,
    which checks each ID number and gives each archive its tier under the bank's rules.
    ID numbers come from a stream of their own (id_rng), so they never move a customer.
    """

    def __init__(self, units, products, rng, today):
        self.units, self.products, self.rng, self.today = units, products, rng, today
        self.people = People(rng)
        self.contracts = 0
        self.rated_places = {}  # territory id → whether its whole-village rating is done

    def write(self, user, total, id_rng):
        """Draw and write total archives; return how many were written."""
        jobs = [(unit, in_market) for unit, (plain, stalls) in zip(self.units, self._allocate(total))
                for in_market in [False] * plain + [True] * stalls]
        # However few customers, one household name needs a character outside the BMP.
        forced = self.rng.choice([i for i, (_, in_market) in enumerate(jobs) if not in_market] or [-1])
        archives, places = [], {}
        for index, (unit, in_market) in enumerate(jobs):
            place = places.get(unit["row"].id) or places.setdefault(unit["row"].id, Places(unit, self.rng))
            territory, row = self._customer(unit, place, in_market,
                                            rare=SUPPLEMENTARY_RARE if index == forced else None)
            archives.append({"territory": territory, "fields": row,
                             "members": self._members(row) if row["kind"] == "household" else [],
                             "holdings": self._holdings(row)})
        self._id_numbers(archives, id_rng)
        for archive in archives:
            if not (archive["fields"]["sensitive_consent"] or archive["fields"]["legal_basis"]):
                archive["members"] = []  # family members are sensitive data too
                archive.pop("id_number", None)
            archive["fields"].pop("_male", None)
        return len(Customer.add_archives(user, archives, history=False))

    def _id_numbers(self, archives, rng):
        """Give most households an ID number; numbers are unique, as the app wants them:
        two archives with one number would be the duplicates it refuses."""
        seen = set()
        for archive in archives:
            row = archive["fields"]
            if row["kind"] != "household" or rng.random() >= ID_SHARE:
                continue
            number = _id_number(rng, row["_male"], self.today)
            while number in seen:
                number = _id_number(rng, row["_male"], self.today)
            seen.add(number)
            archive["id_number"] = number

    def _allocate(self, total):
        """Customers per unit by area, denser in town, plus a market of stalls (~2 %).

        Largest remainders keep the sum exact. Returns (plain, in market) per unit.
        """
        streets = [u["shape"].area for u in self.units if u["street"]]
        typical = sum(streets) / len(streets)
        # A small central street is as busy as a big outer one, so streets go by √area.
        weights = [(9.0 * math.sqrt(u["shape"].area * typical) if u["street"] else u["shape"].area)
                   * self.rng.uniform(0.6, 1.4) for u in self.units]
        weights.append(sum(weights) * 0.02 / 0.98)
        exact = [total * w / sum(weights) for w in weights]
        counts = [int(x) for x in exact]
        for i in sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))[:total - sum(counts)]:
            counts[i] += 1
        in_market = counts.pop()
        return [(c, in_market if u["market"] else 0) for c, u in zip(counts, self.units)]

    def _customer(self, unit, place, in_market, rare=None):
        """(territory, archive fields) of one new customer; "_male" is the head's sex, for
        the family and the ID number, and leaves before the write."""
        rng, people = self.rng, self.people
        positioned = in_market or rng.random() > 0.03
        territory, group_label, lat, lng = unit["row"], None, None, None
        if positioned:
            territory, group_label, lng, lat = place.point(in_market)
        kind = self._kind(territory.kind, rare)
        rating = self._rating(kind, unit)
        row = dict.fromkeys(ARCHIVE_FIELDS)
        row.update(kind=kind,
                   township=unit["township"], status="active", products_elsewhere="",
                   lat=lat, lng=lng, position_source="surveyed" if positioned else None,
                   position_confirmed=positioned)
        name = unit["row"].name
        stem = name.removesuffix("村")
        row["credit_rating"] = rating
        if kind == "household":
            self._household(row, unit, group_label, place, rare)
        elif kind == "merchant":
            row["name"] = people.shop(TOWN_SHOPS if unit["street"] else VILLAGE_SHOPS, stem)
            row["phone"] = people.phone() if rng.random() < 0.98 else None
            row["category"] = "trade" if rng.random() < 0.88 else "other"
            if unit["street"]:
                row["street"] = name
                row["house_no"] = (f"农贸市场{rng.choice('ABCD')}区{rng.randint(1, 60)}号"
                                   if territory.kind == "market" else f"{rng.randint(1, 260)}号")
            else:
                row["village"] = name
                row["street"] = rng.choice(VILLAGE_MARKET_STREETS)
                row["house_no"] = f"{rng.randint(1, 80)}号"
            turnover = lognormal(rng, 18, 0.9, 2, 900)
            row["annual_turnover_wan"] = money(turnover)
            row["net_income_wan"] = money(turnover * rng.uniform(0.08, 0.25))
            row["deposit_balance_wan"] = money(lognormal(rng, 8, 1.15, 0.05, 600))
            if rng.random() < 0.4:
                row["loan_balance_wan"] = money(lognormal(rng, 12, 0.7, 1, 50))
            row["assets_wan"] = money(turnover * rng.uniform(0.4, 1.2) + row["deposit_balance_wan"])
        else:
            row["name"], row["category"] = people.enterprise(stem, not unit["street"])
            row["phone"] = people.phone()
            if unit["street"]:
                row["street"], row["house_no"] = name, f"{rng.randint(1, 260)}号"
            else:
                row["village"] = name
            if row["category"] == "planting":
                row["scale_mu"] = float(rng.randint(20, 60))
            elif row["category"] == "breeding":
                row["livestock_head"] = rng.randint(50, 800)
            turnover = lognormal(rng, 300, 1.0, 20, 20000)
            row["annual_turnover_wan"] = money(turnover)
            row["net_income_wan"] = money(turnover * rng.uniform(0.04, 0.15))
            row["deposit_balance_wan"] = money(lognormal(rng, 35, 1.0, 1, 3000))
            if rng.random() < 0.6:
                row["loan_balance_wan"] = money(lognormal(rng, 120, 0.8, 10, 3000))
            row["assets_wan"] = money(lognormal(rng, 500, 0.9, 30, 50000))
        row["deposit_balance_wan"] = row["deposit_balance_wan"] or 0.0
        row["loan_balance_wan"] = row["loan_balance_wan"] or 0.0
        row["debts_wan"] = money(row["loan_balance_wan"] + (
            lognormal(rng, 2, 0.8, 0.2, 50) if rng.random() < 0.25 else 0))
        if rng.random() < 0.25:
            row["products_elsewhere"] = "、".join(rng.sample(ELSEWHERE, rng.randint(1, 2)))
        if rng.random() < 0.9:
            row["consent"] = True
            row["consent_on"] = self.today - dt.timedelta(days=120 + rng.randint(0, 900))
            row["consent_via"] = CONSENT_WAYS.pick(rng)
        else:
            row["consent"] = False
        self._grounds(row)
        return territory, row

    def _grounds(self, row):
        """What the sensitive data rests on (models/consent.py): an account or loan with us is the
        bank's legal basis (account-opening checks, the loan contract); most households who agreed
        to be contacted also signed the 建档 authorisation for sensitive data, in writing or in the
        app. With neither, the archive keeps no sensitive data at all."""
        rng = self.rng
        row["sensitive_consent"] = False
        if row["loan_balance_wan"]:
            row["legal_basis"] = "contract"
        elif row["deposit_balance_wan"]:
            row["legal_basis"] = "kyc"
        if row["legal_basis"]:
            row["legal_basis_on"] = self.today - dt.timedelta(days=200 + rng.randint(0, 2500))
        if row["consent"] and row["kind"] == "household" and rng.random() < 0.75:
            row["sensitive_consent"] = True
            row["sensitive_consent_on"] = row["consent_on"]
            row["sensitive_consent_via"] = "app" if row["consent_via"] == "app" else "written"
        if not row["sensitive_consent"] and not row["legal_basis"]:
            row["assets_wan"] = row["debts_wan"] = row["net_income_wan"] = None

    def _kind(self, territory_kind, rare):
        if rare:  # the forced 生僻字 must be a person's name, so a household
            return "household"
        return KINDS.get(territory_kind, KINDS["village"]).pick(self.rng)

    def _household(self, row, unit, group_label, place, rare):
        rng, people = self.rng, self.people
        male = rng.random() < 0.85
        if rare is None and rng.random() < 1 / 300:
            rare = rng.choice(RARE)
        row["name"] = people.person(male, rare=rare)
        row["_male"] = male
        row["phone"] = people.phone() if rng.random() < 0.92 else None
        name = unit["row"].name
        if unit["street"]:
            row["street"] = name
            row["house_no"] = (f"{rng.randint(1, 260)}号{rng.randint(1, 4)}单元"
                               f"{rng.randint(1, 7)}0{rng.randint(1, 4)}")
            category = TOWN_LIVING.pick(rng)
        else:
            row["village"] = name
            row["group_name"] = group_label or f"{rng.randint(1, place.group_count)}组"
            category = FARM_LIVING.pick(rng)
        row["category"] = category
        scale = head = 0
        if category == "planting":
            scale = round(lognormal(rng, 6, 0.8, 1, 60) * 2) / 2
            row["scale_mu"] = scale
            income = 1.5 + scale * 0.25 * rng.uniform(0.6, 1.4)
        elif category == "breeding":
            head = int(lognormal(rng, 20, 1.0, 3, 800))
            row["livestock_head"] = head
            income = 2 + head * 0.08 * rng.uniform(0.5, 1.5)
        else:
            income = lognormal(rng, {"labour": 6, "trade": 8}.get(category, 3), 0.5, 0.5, 60)
        row["net_income_wan"] = money(income)
        wealthy = rng.random() < 0.08
        if wealthy:
            row["deposit_balance_wan"] = money(lognormal(rng, 45, 0.5, 10, 500))
        elif rng.random() < 0.88:
            row["deposit_balance_wan"] = money(lognormal(rng, 1.5, 1.1, 0.01, 60))
        # Household loans follow the rating: none before it, none at C (the product's own rule).
        if row["credit_rating"] in LENDABLE and rng.random() < 0.3:
            row["loan_balance_wan"] = money(lognormal(rng, 6, 0.7, 1, 50))
        row["assets_wan"] = money(lognormal(rng, 18, 0.6, 2, 400) + (row["deposit_balance_wan"] or 0)
                                   + scale * 0.3 + head * 0.15)

    def _rating(self, kind, unit):
        if kind == "enterprise":
            return FIRM_RATINGS.pick(self.rng)
        if kind == "merchant":
            return MERCHANT_RATINGS.pick(self.rng)
        territory = unit["row"].id
        if territory not in self.rated_places:
            self.rated_places[territory] = not unit["street"] and self.rng.random() < RATED_VILLAGE_SHARE
        return (RATINGS if self.rated_places[territory] else UNRATED_PLACE).pick(self.rng)

    def _members(self, row):
        """1–4 family members for about half the households (the 建档 form's family list):
        in a mountain village the young work away (浙江, 广东) and grandparents keep the house."""
        rng, people = self.rng, self.people
        male = row["_male"]
        if rng.random() >= 0.5:
            return []
        surname = row["name"][0]
        town = bool(row.get("street"))
        found = []
        plan = ["配偶"] if rng.random() < 0.85 else []
        plan += rng.sample(["子女", "子女", "父母", "儿媳", "孙子女"], rng.randint(0, 3))
        for relation in plan or ["子女"]:
            if relation == "配偶":
                name = people.person(not male)
                occupation = rng.choice(SPOUSE_TOWN if town else SPOUSE_VILLAGE)
            elif relation in ("子女", "孙子女"):
                name = people.person(rng.random() < 0.5, surname=surname, young=True)
                occupation = rng.choice(CHILD_TOWN if town else CHILD_VILLAGE) if relation == "子女" \
                    else rng.choice(GRANDCHILD)
            elif relation == "儿媳":
                name = people.person(False)
                occupation = rng.choice(["外出务工（浙江宁波）", "在家带孩子", "在镇上超市上班"])
            else:
                father = rng.random() < 0.5
                name = people.person(father, surname=surname if father else None)
                occupation = rng.choice(["务农", "在家养老", "放牛", "在家照看孙辈"])
            minor = occupation in GRANDCHILD or ("读" in occupation and "大学" not in occupation)
            if minor and row["consent_on"] is None:
                continue  # a child under 14 is kept only with a parent's (the head's) consent
            phone = people.phone() if not minor and occupation != "在家养老" and rng.random() < 0.6 else None
            found.append({"relation": relation, "name": name, "occupation": occupation, "phone": phone,
                          "minor": minor, "guardian_consent_on": row["consent_on"] if minor else None})
        return found

    def _holdings(self, row):
        """Products held with us, consistent with the balances in the archive and fitting the
        customer (common.fits): term deposits and loans with their start and maturity."""
        rng, p, today = self.rng, self.products, self.today
        kind, rating = row["kind"], row["credit_rating"]
        held = []

        def since(low, high):
            return today - dt.timedelta(days=rng.randint(low, high))

        def term(product, amount, reference=None):
            """A holding running today: it matures within its term from today (a deposit
            rolls over at maturity), and started one term before that."""
            months = rng.choice(TERMS_MONTHS[product])
            start = add_months(today, -months) + dt.timedelta(days=rng.randint(1, months * 30 - 1))
            start = min(start, today - dt.timedelta(days=1))
            holding = _held(p[product].id, start, amount, reference)
            holding["matures_on"] = add_months(start, months)
            return holding

        deposit, loan = row["deposit_balance_wan"], row["loan_balance_wan"]
        if deposit >= 0.5 and rng.random() < 0.55:
            held.append(term(SAVINGS[kind].pick(rng), money(deposit * rng.uniform(0.3, 0.9))))
        # Enterprise loans are corporate credit, outside the retail catalogue the demo sells.
        if loan > 0 and kind != "enterprise":
            if kind == "merchant" and loan <= 20 and rng.random() < 0.4:
                product = "创业担保贷款"
            elif kind == "household" and loan <= 30:
                product = "农户小额信用贷款"
            else:
                product = "农商e贷"
            if fits(product, kind, rating):
                self.contracts += 1
                held.append(term(product, loan, f"QBDK{today.year}{self.contracts:06d}"))
        if row["phone"] and kind != "enterprise" and rng.random() < 0.3:
            held.append(_held(p["黔农云"].id, since(60, 900), None, None))
        if kind == "household":
            if rng.random() < 0.35:
                held.append(_held(p["医保代缴"].id, since(150, 1500), None, None))
            if rng.random() < 0.15:
                held.append(_held(p["社保代缴"].id, since(150, 1500), None, None))
        elif kind == "merchant":
            if rng.random() < 0.7:
                held.append(_held(p["收款码"].id, since(30, 1200), None, None))
            if rng.random() < (0.1 if row.get("village") else 0.3):  # town shops take cards more
                held.append(_held(p["POS收单"].id, since(60, 1500), None, None))
        else:
            if rng.random() < 0.6:
                held.append(_held(p["企业网银"].id, since(60, 1500), None, None))
            if rng.random() < 0.3:
                held.append(_held(p["POS收单"].id, since(60, 1500), None, None))
        return held


def _held(product, since, amount_wan, reference):
    return {"product": product, "since": since, "amount_wan": amount_wan, "reference": reference,
            "matures_on": None}
