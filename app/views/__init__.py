"""The blueprints, one module per area; admin/ holds every /admin page."""
from app.views import (admin, auth, coverage, customers, health, imports, jobs, leads, offline, reports, sync,
                       territories, visits)

BLUEPRINTS = (auth.bp, visits.bp, coverage.bp, reports.bp, territories.bp, customers.bp, leads.bp,
              imports.bp, jobs.bp, health.bp, offline.bp, sync.bp, *admin.BLUEPRINTS)
