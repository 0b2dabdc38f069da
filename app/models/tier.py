"""Tier rules (分层规则): the bank's own thresholds for gold and mass customers.

A rule gives its tier when every threshold it sets is met (business volume,
credit rating at least, land in 亩). Gold rules are tried before mass rules, each
in its order; a customer no rule matches is potential. A bank without rules of
its own uses DEFAULT_RULES. A customer's `tier_rule` keeps the code of the rule
that matched (`gold:50:AAA:`), so the page can say it in the reader's language.
"""
from types import SimpleNamespace

from peewee import DoubleField, ForeignKeyField, IntegerField, TextField

from app.models.base import BaseModel, one_of
from app.models.org import Branch

RATING_ORDER = ("C", "B", "A", "AA", "AAA")
RULE_TIERS = ("gold", "mass")


class TierRule(BaseModel):
    bank = ForeignKeyField(Branch, backref="tier_rules", on_delete="CASCADE")
    position = IntegerField()
    tier = TextField(constraints=[one_of("tier", RULE_TIERS)])
    min_volume_wan = DoubleField(null=True)
    min_rating = TextField(null=True, constraints=[one_of("min_rating", RATING_ORDER[::-1])])
    min_scale_mu = DoubleField(null=True)

    class Meta:
        indexes = ((("bank", "position"), True),)

    @classmethod
    def for_bank(cls, bank_id):
        """The bank's rules in the order they are tried, or the defaults."""
        rules = list(cls.select().where(cls.bank == bank_id).order_by(cls.position)) if bank_id else []
        return ordered(rules or DEFAULT_RULES)

    @property
    def code(self):
        return rule_code(self)


def _rule(tier, volume=None, rating=None, scale=None):
    return SimpleNamespace(tier=tier, min_volume_wan=volume, min_rating=rating, min_scale_mu=scale)


# The rules the bank started from (issue 6); an admin replaces them on /admin/tiers.
DEFAULT_RULES = [
    _rule("gold", volume=50),
    _rule("gold", volume=20, rating="AAA"),
    _rule("mass", volume=5),
    _rule("mass", rating="A"),
    _rule("mass", scale=20),
]


def ordered(rules):
    return [r for r in rules if r.tier == "gold"] + [r for r in rules if r.tier == "mass"]


def _number(x):
    return "" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


def rule_code(rule):
    return f"{rule.tier}:{_number(rule.min_volume_wan)}:{rule.min_rating or ''}:{_number(rule.min_scale_mu)}"


def matches(rule, customer):
    if not (rule.min_volume_wan or rule.min_rating or rule.min_scale_mu):
        return False  # a rule with no threshold would make everyone gold: never match
    if rule.min_volume_wan is not None and customer.business_volume_wan < rule.min_volume_wan:
        return False
    if rule.min_rating and (customer.credit_rating not in RATING_ORDER or
                            RATING_ORDER.index(customer.credit_rating) < RATING_ORDER.index(rule.min_rating)):
        return False
    if rule.min_scale_mu is not None and (customer.scale_mu or 0) < rule.min_scale_mu:
        return False
    return True


def tier_of(customer, rules):
    """(tier, code of the rule that gave it) under rules already in order."""
    for rule in rules:
        if matches(rule, customer):
            return rule.tier, rule_code(rule)
    return "potential", "potential:::"
