"""The demo county (DESIGN.md, *Demo county*): 黔北县 around a mountain county seat.

`build_demo()` writes a bank, its branches, territories with polygons, products,
users with their 责任田, an archive of customers and eight weeks of visits, follow-ups
and leads into the bound database, each through the app's own write path. Everything
comes from the seed, so two builds with one seed hold the same county; only dates
move with `clock.today()`, so the demo always looks recent.

The parts, in the order they are built:
  layout.py   the map as plain shapely: mesh, villages, streets, zones, 村民组, market
  places.py   the bank, branches and territories (through the territory import), and
              positions inside them
  people.py   products, tier rules, users of every role, 责任田 (Assignment.assign)
  names.py    Chinese names, phones, shop and firm names
  archive.py  customers with members, holdings and ID numbers (Customer.add_archives)
  history.py  visits (Visit.check_in), follow-ups, leads (Lead.capture, Lead.move)
  build.py    build_demo, which runs them in order
  common.py   what they share; the parts import it, never this package
"""
from app.demo.build import build_demo
from app.demo.common import BANK_NAME, PASSWORD

__all__ = ["BANK_NAME", "PASSWORD", "build_demo"]
