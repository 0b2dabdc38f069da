"""Personal information as PIPL frames it (个人信息保护法): what each kind of a customer's data rests on.

Four grounds, recorded with how and when each was given:
- consent to be contacted and visited (`consent`, `consent_on`, `consent_via`): the
  contact data and the visits; it alone decides whether coverage counts the customer;
- separate consent for sensitive personal information (art. 28–29: `sensitive_consent`,
  `sensitive_consent_on`, `sensitive_consent_via`), given in writing or in the app, never
  only by word of mouth: the ID number, assets, debts and income, the family members;
- a guardian's consent for a family member under 14 (art. 31: `CustomerMember.minor`,
  `guardian_consent_on`);
- the basis of data the bank holds anyway (art. 13): its duty to identify the customer when
  an account is opened (法定义务, `kyc`) or a contract the customer is party to, such as a loan
  (履行合同, `contract`), in `legal_basis` and `legal_basis_on`.

Sensitive data is entered only on a separate consent or a legal basis; the archive's write
paths, the family form and the import call `sensitive_problem`. Plain words and rules: this
module imports nothing of the app's models.
"""
from flask_babel import lazy_gettext as _l

CONSENT_WAYS = ("written", "verbal", "app")          # to be contacted: word of mouth will do
SENSITIVE_WAYS = ("written", "app")                  # separate consent: in writing or in the app
LEGAL_BASES = ("kyc", "contract")                    # 法定义务（开户身份识别） / 履行合同
# The archive's sensitive fields (the family members are sensitive too, in their own table).
SENSITIVE_FIELDS = ("id_number", "assets_wan", "debts_wan", "net_income_wan")
MINOR_AGE = 14

NO_BASIS = _l("The ID number, assets, debts, income and family members are sensitive personal "
              "information: record the customer's separate consent (in writing or in the app) or the "
              "bank's legal basis (account opening, or a contract with us) before entering them.")
NO_GUARDIAN = _l("A family member under 14 is recorded only with a parent's or guardian's consent: "
                 "enter the date it was given.")
VERBAL_SENSITIVE = _l("Separate consent for sensitive information is given in writing or in the app, "
                      "not by word of mouth.")
NO_DATE = _l("Enter the date it was given.")


def has_sensitive_basis(values):
    """Whether sensitive data may be kept: a separate consent, or a legal basis."""
    return bool(values.get("sensitive_consent")) or values.get("legal_basis") in LEGAL_BASES


def sensitive_entered(fields, id_number=None, old=None):
    """The sensitive fields this write puts a value into (changed from old, when given)."""
    entered = ["id_number"] if id_number else []
    for name in SENSITIVE_FIELDS[1:]:
        new = fields.get(name)
        if new not in (None, "", 0) and (old is None or getattr(old, name, None) != new):
            entered.append(name)
    return entered


def grounds_problems(values):
    """{field: reason} for the grounds themselves: a way and a date for each one given."""
    problems = {}
    if values.get("sensitive_consent"):
        if values.get("sensitive_consent_via") not in SENSITIVE_WAYS:
            problems["sensitive_consent_via"] = VERBAL_SENSITIVE
        if not values.get("sensitive_consent_on"):
            problems["sensitive_consent_on"] = NO_DATE
    if values.get("legal_basis") and values["legal_basis"] not in LEGAL_BASES:
        problems["legal_basis"] = _l("Choose a basis from the list.")
    return problems


def sensitive_problem(values, entered):
    """{field: reason} when sensitive data is entered without its ground, else {}."""
    if entered and not has_sensitive_basis(values):
        return {entered[0]: NO_BASIS}
    return {}


def member_problems(values, minor, guardian_consent_on):
    """{field: reason} for a family member: their ground, and a guardian's consent for a minor."""
    problems = {}
    if not has_sensitive_basis(values):
        problems["member_name"] = NO_BASIS
    if minor and not guardian_consent_on:
        problems["guardian_consent_on"] = NO_GUARDIAN
    return problems


def grounds(customer):
    """What each kind of the customer's data rests on: [(kind, ground code, date, way)].

    ground codes: contact_consent, no_contact, sensitive_consent, kyc, contract, none.
    """
    contact = (("contact_consent", customer.consent_on, customer.consent_via) if customer.consent
               else ("no_contact", None, None))
    if customer.sensitive_consent:
        sensitive = ("sensitive_consent", customer.sensitive_consent_on, customer.sensitive_consent_via)
    elif customer.legal_basis in LEGAL_BASES:
        sensitive = (customer.legal_basis, customer.legal_basis_on, None)
    else:
        sensitive = ("none", None, None)
    accounts = ((customer.legal_basis, customer.legal_basis_on, None) if customer.legal_basis in LEGAL_BASES
                else ("contract", None, None))
    return [("contact", *contact), ("identity", *sensitive), ("finances", *sensitive),
            ("family", *sensitive), ("accounts", *accounts)]
