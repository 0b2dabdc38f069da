"""The bank's fixed words, defined once: tiers, customer and territory kinds, lead statuses.

Plain tuples that import nothing of the app, so every layer (models, views, the demo,
the importers) can import them without a loop. The rules built on these words (the
live territories, the customers of a territory, coverage) are named queries on the
models; the words themselves live here.
"""
TIERS = ("gold", "mass", "potential")             # best first: 黄金 / 大众 / 潜在
TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}  # gold 0 sorts first

CUSTOMER_KINDS = ("household", "merchant", "enterprise")
# What coverage counts while a bank has not chosen (the `coverage_kinds` setting's default).
COUNTED_KINDS = ("household", "merchant")

TERRITORY_KINDS = ("zone", "village", "street", "group", "market")

LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
OPEN_STATUSES = ("new", "contacted", "qualified")  # a lead still being worked
