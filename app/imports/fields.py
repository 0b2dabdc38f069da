"""The fields a column of a file can map to, guessed from its header, labelled as the archive's
own field rules label them."""
import re

from flask_babel import lazy_gettext as _l

from app.models import customer_fields
from app.models.customer_fields import FIELDS


# --- Fields a column can map to ---------------------------------------------------------------
# (field, type). Labels, types and lengths are the archive's own rules (models/customer_fields.py),
# which the archive form reads too, so a row of a file is refused for exactly what the form refuses.
# A balance may come in 元 (the core-banking export) or in 万元 (建档 lists): two columns, one field.
ARCHIVE_FIELDS = tuple((name, "yuan" if name.endswith("_yuan") else FIELDS[name].type) for name in (
    "name", "id_number", "phone", "kind", "township", "village", "group_name", "street", "house_no",
    "category", "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan", "debts_wan",
    "net_income_wan", "deposit_balance_wan", "deposit_balance_yuan", "loan_balance_wan", "loan_balance_yuan",
    "credit_rating", "products_elsewhere", "core_no", "lat", "lng", "consent", "sensitive_consent",
    "legal_basis"))
# The core-banking refresh matches on the customer number: the name is only read, never required.
CORE_FIELDS = (
    ("core_no", "core_no"), ("name", "text"), ("deposit_balance_wan", "amount"),
    ("deposit_balance_yuan", "yuan"), ("loan_balance_wan", "amount"), ("loan_balance_yuan", "yuan"),
    ("products", "products"),
)
UNITS = {"deposit_balance_yuan": _l("Deposit balance (yuan)"), "loan_balance_yuan": _l("Loan balance (yuan)"),
         "products": _l("Products held (names)"), "maturities": _l("Maturity dates")}
FIELD_TYPES = {"archive": dict(ARCHIVE_FIELDS), "core": dict(CORE_FIELDS)}
REQUIRED = {"archive": "name", "core": "core_no"}

# Header words seen in county banks' lists, most specific first: the first that a header
# contains gives its field ("户主身份证号" is an ID number, not a name).
HEADER_WORDS = (
    ("单独同意", "sensitive_consent"), ("敏感", "sensitive_consent"), ("同意联系", "consent"),
    ("联系授权", "consent"), ("授权依据", "legal_basis"), ("处理依据", "legal_basis"), ("法律依据", "legal_basis"),
    ("身份证", "id_number"), ("证件号", "id_number"), ("公民身份", "id_number"),
    ("核心客户号", "core_no"), ("客户号", "core_no"), ("客户编号", "core_no"), ("客户代码", "core_no"),
    ("手机", "phone"), ("电话", "phone"), ("联系方式", "phone"),
    ("存款", "deposit_balance"), ("贷款", "loan_balance"),
    ("纬度", "lat"), ("经度", "lng"),
    ("村民组", "group_name"), ("村民小组", "group_name"), ("小组", "group_name"), ("组", "group_name"),
    ("乡镇", "township"), ("街道", "street"), ("门牌", "house_no"), ("住址", "street"),
    ("社区", "village"), ("村", "village"),
    ("客户类型", "kind"), ("客户类别", "kind"), ("户别", "kind"),
    ("信用等级", "credit_rating"), ("评级", "credit_rating"), ("信用评定", "credit_rating"),
    ("经营类别", "category"), ("经营类型", "category"), ("产业", "category"), ("行业", "category"),
    ("持有产品", "products"), ("签约产品", "products"), ("产品", "products"),
    ("他行", "products_elsewhere"),
    ("面积", "scale_mu"), ("亩", "scale_mu"), ("存栏", "livestock_head"), ("头数", "livestock_head"),
    ("营业额", "annual_turnover_wan"), ("流水", "annual_turnover_wan"),
    ("负债", "debts_wan"), ("资产", "assets_wan"), ("纯收入", "net_income_wan"), ("净收入", "net_income_wan"),
    ("姓名", "name"), ("户主", "name"), ("户名", "name"), ("客户名称", "name"), ("商户名称", "name"),
    ("企业名称", "name"), ("名称", "name"), ("客户", "name"),
    ("镇", "township"), ("乡", "township"),
)


def guess_field(header, kind):
    """The field a column header most likely names for this kind of file, or None."""
    text = re.sub(r"\s+", "", header or "")
    if not text:
        return None
    for word, name in HEADER_WORDS:
        if word in text:
            if name in ("deposit_balance", "loan_balance"):
                # Core-banking exports count in 元; 建档 lists in 万元 (and say so).
                name += "_wan" if "万" in text or (kind == "archive" and "元" not in text) else "_yuan"
            return name if name in FIELD_TYPES[kind] else None
    return None


def base_field(name):
    """A balance in 元 and the same balance in 万元 are one field."""
    return name[:-5] + "_wan" if name.endswith("_yuan") else name


def guess_mapping(header, kind):
    """{column index: field}, each field taken by its first column only."""
    mapping, taken = {}, set()
    for index, text in enumerate(header):
        name = guess_field(text, kind)
        if name and base_field(name) not in taken:
            mapping[index] = name
            taken.add(base_field(name))
    return mapping


def field_label(name):
    """The archive's label for a field (so the file's words match the form's)."""
    return UNITS.get(name) or customer_fields.label(name)


def max_length(name):
    """The archive's longest accepted text for a field, if it sets one."""
    return customer_fields.max_length(name)
