"""One row of an import: parsed and checked with the archive's own rules, then placed by name.

Reasons are stored as [English msgid, params] (reason) and shown in the reader's language
(render).
"""
import datetime as dt
import functools
import re
from collections import defaultdict
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l

from app import clock, crypto
from app.models import Branch, Territory, customer_fields
from app.models.customer import CATEGORIES, CREDIT_RATINGS
from app.models.territory import bank_of
from app.imports.fields import FIELD_TYPES, base_field, max_length
from app.imports.spreadsheet import cell_text, is_damaged_number

# Why a row is refused or noted. English msgids, rendered in the reader's language later.
R = {
    "name": _l("The name is missing."),
    "totals": _l("A totals row (合计), not a customer."),
    "too_long": _l("%(field)s is longer than %(n)s characters."),
    "id_damaged": _l("The ID number was turned into a number by Excel (%(value)s): its last digits are "
                     "lost. Export the column again as text."),
    "phone_damaged": _l("The phone number was turned into a number by Excel (%(value)s): export the "
                        "column again as text."),
    "number": _l("%(field)s: enter a number, e.g. 12.5 (the file has “%(value)s”)."),
    "whole": _l("%(field)s: enter a whole number (the file has “%(value)s”)."),
    "bounds": _l("%(field)s: enter a number from %(low)s to %(high)s (the file has “%(value)s”)."),
    "negative": _l("%(field)s cannot be negative."),
    "kind": _l("Unknown kind “%(value)s”: use 农户, 商户 or 企业."),
    "category": _l("Unknown business category “%(value)s”: use 种植, 养殖, 个体经营, 务工, 企业 or 其他."),
    "rating": _l("Unknown credit rating “%(value)s”: use AAA, AA, A, B or C."),
    "coordinate": _l("%(field)s “%(value)s” is not a coordinate in China."),
    "repeat": _l("Repeats row %(row)s (same person)."),
    "same_customer": _l("Matches the same archive as row %(row)s."),
    "id_conflict": _l("Phone and name match archive %(name)s, whose ID number is different."),
    "core_no_taken": _l("Customer number %(value)s already belongs to archive %(name)s."),
    "core_missing": _l("The customer number is missing."),
    "not_in_archive": _l("Customer number %(value)s is not in the archive."),
    "unknown_products": _l("Not in the bank's catalogue, ignored: %(names)s."),
    "maturity_date": _l("%(product)s: “%(value)s” is not a maturity date: write it as 2027-03-01."),
    "no_territory": _l("No territory is named %(place)s: listed for a team lead to place."),
    "no_place": _l("No village, group or street given: listed for a team lead to place."),
    "bool": _l("%(field)s: write 是 or 否 (the file has “%(value)s”)."),
    "basis": _l("%(field)s: write 法定义务 (account opening) or 履行合同 (a contract with us); "
                "the file has “%(value)s”."),
    "no_basis": _l("ID number, assets, debts or income without a ground: give the customer's separate consent "
                   "or the bank's legal basis (法定义务 / 履行合同), or leave them out."),
    "ambiguous": _l("Several territories are named %(place)s: listed for a team lead to place."),
}
# Problems with the whole file: any of them and nothing can be written.
F = {
    "merged": _l("The header row has merged cells (%(ranges)s): unmerge them so that every column has "
                 "its own title on one row, then upload again."),
    "id_damaged": _l("%(n)s ID numbers (first in row %(row)s) were turned into numbers by Excel, like "
                     "5.2E+17: the digits after the 15th are lost and cannot be recovered. Format the "
                     "column as text in the source system and export it again."),
    "required": _l("Map a column to “%(field)s”: it is required."),
    "twice": _l("“%(field)s” is mapped to two columns."),
    "interrupted": _l("The check stopped before the end (the server restarted?): check the file again."),
    "failed": _l("Something went wrong while reading the file; nothing was written."),
    "gone": _l("The uploaded file was deleted after %(days)s days: upload it again."),
}

KIND_WORDS = {"农户": "household", "个人": "household", "家庭": "household", "household": "household",
              "商户": "merchant", "个体工商户": "merchant", "个体户": "merchant", "merchant": "merchant",
              "企业": "enterprise", "公司": "enterprise", "enterprise": "enterprise"}
CATEGORY_WORDS = {"种植": "planting", "种植业": "planting", "养殖": "breeding", "养殖业": "breeding",
                  "个体经营": "trade", "经商": "trade", "商贸": "trade", "务工": "labour", "外出务工": "labour",
                  "企业": "enterprise", "其他": "other", "其它": "other"}
CATEGORY_WORDS.update({c: c for c in CATEGORIES})
PRODUCT_SPLIT = re.compile(r"[、,，;；/|\s]+")
PHONE_NOISE = re.compile(r"[\s-]")
COMPARED = ("name", "phone", "kind", "township", "village", "group_name", "street", "house_no", "category",
            "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan", "debts_wan", "net_income_wan",
            "deposit_balance_wan", "loan_balance_wan", "credit_rating", "products_elsewhere", "core_no",
            "consent", "sensitive_consent", "legal_basis")


YES = {"是", "同意", "已同意", "有", "Y", "y", "1", "√"}
NO = {"否", "不同意", "未同意", "无", "N", "n", "0", "×"}
BASIS_WORDS = {"法定义务": "kyc", "开户": "kyc", "开户身份识别": "kyc", "履行合同": "contract", "合同": "contract"}
SENSITIVE_VALUES = ("assets_wan", "debts_wan", "net_income_wan")


# A product held with its maturity date in brackets: 节节高（2027-03-01）, 定期存款(2027/3/1).
WITH_MATURITY = re.compile(r"^(.+?)[（(]([^()（）]*)[)）]$")
DATE_PARTS = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def split_maturity(token):
    """(product name, maturity date or None, the bracket's text when it is not a date or None)."""
    found = WITH_MATURITY.match(token)
    if not found:
        return token, None, None
    name, text = found.group(1).strip(), found.group(2).strip()
    parts = DATE_PARTS.match(text)
    try:
        return name, dt.date(*(int(p) for p in parts.groups())), None
    except (AttributeError, ValueError):
        return name, None, text


def msgid(text):
    """The English msgid of a lazy string, so stored reasons render in any language."""
    args = getattr(text, "_args", None)
    return args[0] if args else str(text)


def _out_of_bounds(name, value):
    return customer_fields.out_of_bounds(name, value) is not None


def _bounds_of(name):
    low, high = customer_fields.FIELDS[name].bounds
    return {"low": f"{low:.0f}", "high": f"{high:.0f}"}


def refusal(text):
    """A lazy message with its parameters (a model rule's) as a stored reason."""
    return [msgid(text), {k: str(v) for k, v in (getattr(text, "_kwargs", None) or {}).items()}]


def reason(code, table=R, **params):
    return [msgid(table[code]), {k: str(v) for k, v in params.items()}]


def render(stored):
    """A stored [msgid, params] in the current language."""
    from flask_babel import gettext

    text, params = stored
    return gettext(text, **params) if params else gettext(text)


def field_rules():
    """The archive's own rules and messages, so a file row and the form refuse alike."""
    # today once per run: asking the clock for each of 100,000 ID numbers' birth dates costs more
    # than checking them.
    return SimpleNamespace(lookup_key=crypto.lookup_key(), phone_pattern=customer_fields.PHONE_PATTERN,
                           today=clock.today(), phone=msgid(customer_fields.PHONE_MESSAGE),
                           name=msgid(customer_fields.FIELDS["name"].required_message),
                           negative=msgid(customer_fields.NOT_NEGATIVE),
                           id_messages={k: msgid(v) for k, v in customer_fields.ID_MESSAGES.items()})


# --- One row ----------------------------------------------------------------------------------
class Row:
    __slots__ = ("number", "raw", "values", "reasons", "notes", "outcome", "customer", "changes",
                 "territory_id", "key", "products", "unknown_products", "id_number", "id_hash", "parsed", "tier",
                 "maturities")

    def __init__(self, number, raw):
        self.number, self.raw = number, raw
        self.values, self.reasons, self.notes, self.changes = {}, [], [], []
        self.outcome = self.customer = self.territory_id = self.key = None
        self.products = self.unknown_products = None
        self.maturities = {}  # product id → maturity date read with it (节节高（2027-03-01）)
        self.id_number = self.id_hash = None
        self.parsed = False
        self.tier = None  # (tier, rule) after the row is written, when it changes


def _number(text):
    return float(text.replace(",", "").replace("，", "").replace("万元", "").replace("元", "").strip())


def parse_row(row, mapping, kind, rules, labels):
    """Each mapped cell parsed and checked; the row's reasons filled in."""
    types = FIELD_TYPES[kind]
    for index, name in mapping.items():
        raw = row.raw[index] if index < len(row.raw) else None
        text = cell_text(raw)
        kind_of = types[name]
        label = labels[name]
        if kind_of in ("id", "phone") and text and is_damaged_number(raw if not isinstance(raw, str) else text):
            row.reasons.append(reason("id_damaged" if kind_of == "id" else "phone_damaged",
                                      value=_scientific(raw)))
            if kind_of == "id":
                row.values["_id_damaged"] = True
            continue
        if not text:
            continue
        if kind_of == "name":
            if text in ("合计", "总计", "小计", "合 计"):
                row.reasons.append(reason("totals"))
                row.values["_totals"] = True
        if kind_of in ("name", "text", "core_no"):
            limit = _limit(name)
            if limit and len(text) > limit:
                row.reasons.append(reason("too_long", field=label, n=limit))
            else:
                row.values[name] = text
        elif kind_of == "id":
            try:
                row.id_number = crypto.validate_id_number(text, rules.today)
                row.id_hash = crypto.hash_id(row.id_number, rules.lookup_key)
            except crypto.InvalidIdNumber as refused:
                row.reasons.append([rules.id_messages[str(refused)], {}])
        elif kind_of == "phone":
            phone = PHONE_NOISE.sub("", text)
            if phone.startswith("+86"):
                phone = phone[3:]
            if rules.phone_pattern.match(phone):
                row.values["phone"] = phone
            else:
                row.reasons.append([rules.phone, {}])
        elif kind_of in ("amount", "number", "yuan", "lat", "lng"):
            try:
                value = _number(text) if not isinstance(raw, (int, float)) else float(raw)
            except ValueError:
                row.reasons.append(reason("number", field=label, value=text))
                continue
            if kind_of in ("amount", "yuan") and value < 0:
                row.reasons.append([rules.negative, {}] if kind_of == "amount" else reason("negative", field=label))
                continue
            if kind_of == "lat" and not 3 <= value <= 54 or kind_of == "lng" and not 73 <= value <= 136:
                row.reasons.append(reason("coordinate", field=label, value=text))
                continue
            kept = round(value / 10000, 4) if kind_of == "yuan" else value
            if _out_of_bounds(base_field(name), kept):  # inf, nan, 1e308: never kept (issue 15)
                row.reasons.append(reason("bounds", field=label, value=text, **_bounds_of(base_field(name))))
                continue
            row.values[base_field(name)] = kept
        elif kind_of == "whole":
            try:
                value = float(text.replace(",", ""))
                if not value.is_integer():
                    raise ValueError
            except ValueError:
                row.reasons.append(reason("whole", field=label, value=text))
                continue
            if value < 0:
                row.reasons.append([rules.negative, {}])
                continue
            if _out_of_bounds(name, value):  # 10^30 head of livestock overflowed the column
                row.reasons.append(reason("bounds", field=label, value=text, **_bounds_of(name)))
                continue
            row.values[name] = int(value)
        elif kind_of == "kind":
            if text not in KIND_WORDS:
                row.reasons.append(reason("kind", value=text))
            else:
                row.values["kind"] = KIND_WORDS[text]
        elif kind_of == "category":
            if text not in CATEGORY_WORDS:
                row.reasons.append(reason("category", value=text))
            else:
                row.values["category"] = CATEGORY_WORDS[text]
        elif kind_of == "rating":
            rating = text.upper().replace("级", "")
            if rating not in CREDIT_RATINGS:
                row.reasons.append(reason("rating", value=text))
            else:
                row.values["credit_rating"] = rating
        elif kind_of == "bool":
            if text in YES or text in NO:
                row.values[name] = text in YES
            else:
                row.reasons.append(reason("bool", field=label, value=text))
        elif kind_of == "basis":
            if text in BASIS_WORDS:
                row.values[name] = BASIS_WORDS[text]
            else:
                row.reasons.append(reason("basis", field=label, value=text))
        elif kind_of == "products":
            row.products = [p for p in PRODUCT_SPLIT.split(text) if p]
            for product in row.products:
                name, _day, bad = split_maturity(product)
                if bad is not None:
                    row.reasons.append(reason("maturity_date", product=name, value=bad))
    if kind == "archive" and not row.values.get("name") and not row.values.get("_totals"):
        if not any(r[0] == msgid(R["too_long"]) for r in row.reasons):
            row.reasons.append([rules.name, {}])
    if kind == "core" and not row.values.get("core_no"):
        row.reasons.append(reason("core_missing"))


@functools.cache
def _limit(name):
    return max_length(name)


def _scientific(raw):
    if isinstance(raw, float):
        return f"{raw:.6G}".replace("E+", "E+")
    return str(raw).strip()


# --- Placement by name ------------------------------------------------------------------------
def norm(name):
    """A name without its spaces, as places are compared."""
    return re.sub(r"\s+", "", name or "")


SUFFIXES = ("村委会", "居委会", "社区", "街道", "村", "组")


@functools.lru_cache(maxsize=4096)
def _variants(name):
    name = norm(name)
    out = {name}
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            out.add(name[:-len(suffix)])
    return out


class NamePlacer:
    """Places a row by its 村 / 组 / street in the bank's live territory tree."""

    def __init__(self, branch):
        bank = bank_of(branch)
        rows = (Territory.select(Territory.id, Territory.name, Territory.kind, Territory.path, Branch.path)
                .join(Branch).where(Branch.path.startswith(bank.path), Territory.live())
                .tuples())
        self.branch_path = branch.path
        self.cache = {}
        self.by_name = defaultdict(list)
        self.names = {}  # territory id → name, for the preview
        self.groups_under = defaultdict(list)  # territory id → the groups anywhere below it
        for tid, name, kind, path, branch_path in rows:
            t = SimpleNamespace(id=tid, name=norm(name), kind=kind, path=path,
                                ours=branch_path.startswith(branch.path))
            self.names[tid] = name
            if kind == "group":
                for ancestor in path.strip("/").split("/")[:-1]:
                    self.groups_under[int(ancestor)].append(t)
            for variant in _variants(name):
                self.by_name[variant].append(t)

    def _one(self, name, kinds):
        found = {t.id: t for v in _variants(name) for t in self.by_name.get(v, []) if t.kind in kinds}
        found = list(found.values())
        ours = [t for t in found if t.ours]
        found = ours or found
        if len(found) > 1:
            exact = [t for t in found if t.name == norm(name)]
            found = exact if len(exact) == 1 else found
        return found

    def place(self, village, group, street):
        """(territory id or None, reason or None), the same for every row naming the same place.

        A file names a few thousand places over 100,000 rows: each is worked out once.
        """
        key = (village, group, street)
        if key not in self.cache:
            self.cache[key] = self._place(village, group, street)
        return self.cache[key]

    def _place(self, village, group, street):
        if village:
            found = self._one(village, ("village", "street", "zone", "market"))
            if not found and group:
                found = self._one(village + group, ("group",))
                if len(found) == 1:
                    return found[0].id, None
            if len(found) > 1:
                return None, reason("ambiguous", place=village)
            if not found:
                return None, reason("no_territory", place=" ".join(p for p in (village, group) if p))
            v = found[0]
            if group:
                g = norm(group)
                inside = [t for t in self.groups_under.get(v.id, ()) if
                          (t.name == g or t.name == v.name + g or t.name.endswith(g)
                           or any(t.name == x + g for x in _variants(v.name)))]
                if len(inside) == 1:
                    return inside[0].id, None
            return v.id, None
        if group:
            found = self._one(group, ("group",))
            if len(found) == 1:
                return found[0].id, None
            return None, reason("ambiguous" if found else "no_territory", place=group)
        if street:
            found = self._one(street, ("street", "market", "village"))
            if len(found) == 1:
                return found[0].id, None
            return None, reason("ambiguous" if found else "no_territory", place=street)
        return None, reason("no_place")
