"""The demo county's places: the bank and its branches, then zones, villages, streets,
村民组 and the market written through the territory import, and positions inside them."""
import json

import shapely

from app import geo
from app.demo.common import BANK_NAME, BRANCHES, SEAT_LAT, SEAT_LNG
from app.demo.layout import STREETS, angle
from app.models import Branch, Territory
from app.imports.geojson import import_territories

VILLAGE_NAMES = [
    "茶园村", "石板村", "新场村", "大河坝村", "青杠村", "水井村", "白果村", "花园村", "金星村", "红岩村",
    "双河村", "三坪村", "堰塘村", "松林村", "竹林村", "桃子坪村", "梨子坪村", "马鞍村", "凉风村", "大坪村",
    "中坝村", "田坝村", "黄泥村", "沙坝村", "岩脚村", "龙潭村", "新民村", "团结村", "光明村", "群益村",
    "永安村", "长坝村", "柏杨村", "杉木村", "银山村", "狮子村", "官田村", "鱼塘村", "庙坝村", "腾龙村",
    "长岗村", "鹿池村", "仙峰村", "河口村", "坪上村", "石门村", "落坝村", "文家坝村", "老鹰岩村", "丰乐村",
    "大塘村", "楠木村", "枫香村", "核桃村", "大溪村", "复兴村", "上坝村", "土地坳村", "万家村", "周家山村",
]
STREET_NAMES = [
    "人民路", "民主街", "解放路", "文化路", "建设路", "新华街", "滨河路", "环城路", "府前街", "南门街", "北门街", "中山路",
]
MARKET_NAME = "城关农贸市场商圈"


def bank_and_branches():
    """The county bank and its four branches."""
    bank = Branch.add(name=BANK_NAME, code="QB", kind="bank")
    return bank, [Branch.add(name=name, code=code, kind="branch", parent=bank)
                  for name, code, _ in BRANCHES]


def _feature(features, name, kind, branch, parent_code, code, geom):
    """Add a territory to its branch's FeatureCollection; the shape as it will read back."""
    stored = _stored(geom)
    features.setdefault(branch.id, (branch, []))[1].append({
        "type": "Feature", "geometry": json.loads(geo.polygon_geojson(stored)),
        "properties": {"name": name, "kind": kind, "code": code, "parent": parent_code}})
    return code, stored


def _import(features):
    """Write the territories through the same import as `flask import-territories`.

    One WGS-84 FeatureCollection per branch; the checks an admin's file goes through
    (inside the parent, no overlapping siblings) hold for the demo too, so a problem is
    a bug in the layout and stops the build. Returns the rows by code.
    """
    rows = {}
    for branch, collection in features.values():
        data = json.dumps({"type": "FeatureCollection", "datum": "wgs84", "features": collection},
                          ensure_ascii=False)
        result = import_territories(data, branch)
        if not result.ok:
            raise ValueError(f"demo territories refused by the import: {result.messages()[:5]}")
        rows.update({t.code: t for t in Territory.select().where(Territory.branch == branch)})
    return rows


def territories(layout, branches):
    """Write zones, villages, streets, groups and the market, through the territory import.

    Returns the villages and streets as dicts holding the row, the shape as
    stored, the zone's facts and the children (groups or the market) with their
    shapes: what placing customers needs. Also returns how many rows were written.
    """
    stems = {stem for _, _, zones in BRANCHES for _, _, stem in zones if stem}
    village_names = [n for n in VILLAGE_NAMES if n[:-1] not in stems]
    # The street holding the county seat and the market is 人民路, as in most county towns.
    street_names = [n for n in STREET_NAMES if n != STREET_NAMES[0]]
    market_host, market_rect = layout.market
    units, features = [], {}
    for order, ((branch_index, zone_index, members), zone_shape) in enumerate(
            zip(layout.zones, layout.zone_shapes)):
        branch = branches[branch_index]
        zone_name, township, stem = BRANCHES[branch_index][2][zone_index]
        zone, zone_stored = _feature(features, zone_name, "zone", branch, None,
                                     f"{branch.code}-Z{zone_index + 1}", zone_shape)
        # The village nearest the zone's centre is the township seat and carries its name.
        centre = (zone_stored.centroid.x, zone_stored.centroid.y)
        members = sorted(members, key=lambda u: geo.plane_distance_m(
            (layout.shapes[u].centroid.x, layout.shapes[u].centroid.y), centre))
        for j, unit in enumerate(members):
            is_street = unit < STREETS
            if unit == market_host:
                name = STREET_NAMES[0]
            elif is_street:
                name = street_names.pop(0)
            elif j == 0 and stem:
                name = f"{stem}村"
            else:
                name = village_names.pop(0)
            code = f"{zone}-{j + 1:02d}"
            row, stored = _feature(features, name, "street" if is_street else "village", branch, zone,
                                   code, layout.shapes[unit])
            groups, market = [], None
            for g, shape in enumerate(layout.groups.get(unit, []), start=1):
                child, child_shape = _feature(features, f"{name}{g}组", "group", branch, row,
                                              f"{code}-G{g}", shape)
                groups.append((child, child_shape, f"{g}组"))
            if unit == market_host:
                market = _feature(features, MARKET_NAME, "market", branch, row, f"{code}-SQ", market_rect)
            # Zones in the order the layout made them, then round each zone's centre.
            units.append({"row": row, "shape": stored, "township": township, "branch": branch,
                          "street": is_street, "groups": groups, "market": market,
                          "walk": (order, angle((stored.centroid.x, stored.centroid.y), centre))})
    rows = _import(features)
    for unit in units:
        unit["row"] = rows[unit["row"]]
        unit["groups"] = [(rows[code], shape, label) for code, shape, label in unit["groups"]]
        if unit["market"]:
            unit["market"] = (rows[unit["market"][0]], unit["market"][1])
    return units, sum(len(collection) for _, collection in features.values())


def _stored(geom):
    """The geometry exactly as it will read back from its GeoJSON."""
    stored = shapely.from_geojson(geo.polygon_geojson(geom))
    if stored.geom_type != "Polygon" or not shapely.is_valid(stored):
        raise ValueError(f"demo geometry not a valid polygon: {shapely.is_valid_reason(stored)}")
    return stored


class Places:
    """Random positions inside one village or street, and the deepest territory there.

    Villages cluster their houses in hamlets (寨 / 湾) with a few scattered farms;
    a street is built up throughout. Points are rounded to the stored 6 decimals
    before they are tested, so the stored point is the one known to be inside.
    """

    def __init__(self, unit, rng):
        self.rng, self.unit = rng, unit
        self.shape = unit["shape"]
        shapely.prepare(self.shape)
        for _, shape, _ in unit["groups"]:
            shapely.prepare(shape)
        self.market_row, self.market = unit["market"] or (None, None)
        if self.market is not None:
            shapely.prepare(self.market)
        self.bounds = {id(s): s.bounds for s in (self.shape, self.market) if s is not None}
        self.group_count = len(unit["groups"]) or rng.randint(5, 12)
        if unit["street"]:
            # Town houses thin out away from the old centre; the outer streets reach into fields.
            self.hamlets, self.spread_m, self.clustered = [(SEAT_LNG, SEAT_LAT)], 800, 0.7
        else:
            count = max(3, min(10, round(geo.plane_area_m2(self.shape) / 3e6)))
            self.hamlets = [self._uniform(self.shape) for _ in range(count)]
            self.spread_m, self.clustered = 250, 0.8

    def _uniform(self, shape):
        minx, miny, maxx, maxy = self.bounds[id(shape)]  # .bounds is slow enough to matter at 100k
        while True:
            x = round(self.rng.uniform(minx, maxx), 6)
            y = round(self.rng.uniform(miny, maxy), 6)
            if shapely.contains_xy(shape, x, y):
                return x, y

    def point(self, in_market):
        """(territory row, group label, lng, lat) of a new position."""
        rng = self.rng
        while True:
            if in_market:
                x, y = self._uniform(self.market)
            elif rng.random() < self.clustered:
                hx, hy = rng.choice(self.hamlets)
                per_lng, per_lat = geo.metres_per_degree(hy)
                x = round(rng.gauss(hx, self.spread_m / per_lng), 6)
                y = round(rng.gauss(hy, self.spread_m / per_lat), 6)
                if not shapely.contains_xy(self.shape, x, y):
                    continue
            else:
                x, y = self._uniform(self.shape)
            if self.market is not None and shapely.contains_xy(self.market, x, y):
                return self.market_row, None, x, y
            if not self.unit["groups"]:
                return self.unit["row"], None, x, y
            for row, shape, label in self.unit["groups"]:
                if shapely.contains_xy(shape, x, y):
                    return row, label, x, y
            # On a boundary between two groups: draw again rather than guess.

