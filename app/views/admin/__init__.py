"""Every /admin page, one module each; the admin blueprint itself lives in common.py.

Three blueprints serve /admin: admin (home, users, branches, products, settings),
tiers (/admin/tiers) and lost_reasons (/admin/lost-reasons), so the endpoint names that
templates and tests use (admin.users, tiers.index, lost_reasons.index) stay as they were.
"""
# users, branches, products and settings add their routes to common.bp when imported.
from app.views.admin import branches, common, lost_reasons, products, settings, tiers, users  # noqa: F401

BLUEPRINTS = (common.bp, tiers.bp, lost_reasons.bp)
