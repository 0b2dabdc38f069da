"""Every /admin page, one module each; the admin blueprint itself lives in common.py.

Three blueprints serve /admin: admin (home, users, branches, products, settings),
tiers (/admin/tiers) and lost_reasons (/admin/lost-reasons), so the endpoint names that
templates and tests use (admin.users, tiers.index, lost_reasons.index) stay as they were.
"""
from app.views.admin import branches, common, lost_reasons, products, settings, tiers, users

# The admin blueprint's routes are added by the modules above when they are imported.
BLUEPRINTS = (common.bp, tiers.bp, lost_reasons.bp)
__all__ = ["BLUEPRINTS", "branches", "products", "settings", "users"]
