"""The demo county (DESIGN.md, *Demo county*): 黔北县 around a mountain county seat.

`build_demo()` writes a bank, its branches, territories with polygons, products,
users with their 责任田 and an archive of customers into the bound database.
Everything comes from the seed, so two builds with one seed hold the same county;
only dates move with `clock.today()`, so the demo always looks recent.

The map is made in three steps so that every boundary is shared exactly:
a fine Voronoi mesh is clipped to the county outline and snapped to a 1e-6°
grid once; villages grow over that mesh from seed cells; zones and 村民组 are
unions of the same cells. Children therefore lie inside their parents and
siblings meet edge to edge without slivers.
"""
import bisect
import datetime as dt
import heapq
import itertools
import json
import math
import random
import types

import numpy as np
import shapely
import shapely.affinity

from app import clock, crypto
from app.db import database
from app.db_bulk import bulk_insert
from app.models import (
    Assignment,
    Branch,
    Customer,
    CustomerMember,
    Holding,
    Product,
    Territory,
    User,
    compute_tier,
)
from app.imports.geojson import import_territories
from app.models.tier import TierRule

PASSWORD = "zrt-demo-2026"
BANK_NAME = "黔北县农村商业银行"
COUNTY = "黔北县"

SEAT_LNG, SEAT_LAT = 107.6, 28.9
M_PER_DEG_LAT = 110540.0
M_PER_DEG_LNG_EQUATOR = 111320.0
GRID = 1e-6  # stored coordinates have 6 decimals (about 0.1 m)

# The layout: ~40 km county, a ~5 km county seat with 10 streets, 50 villages.
COUNTY_RADIUS_M = 20000
TOWN_RADIUS_M = 2600
MESH_RURAL = 3600
MESH_TOWN = 420
STREETS = 10
VILLAGES = 50
RURAL_ZONES = 10
STREET_COST = 1.6  # streets spread more slowly than villages, so the town stays compact

# Branches, and for each the zones as (zone name, township, stem of the seat village).
BRANCHES = [
    ("城关支行", "QB01", [("城东片区", "城关镇", None), ("城西片区", "城关镇", None),
                         ("城郊片区", "城关镇", None)]),
    ("茶山支行", "QB02", [("茶山片区", "茶山镇", "茶山"), ("龙井片区", "龙井乡", "龙井"),
                         ("桃源片区", "桃源乡", "桃源")]),
    ("河坝支行", "QB03", [("河坝片区", "河坝镇", "河坝"), ("洛龙片区", "洛龙镇", "洛龙"),
                         ("三江片区", "三江镇", "三江")]),
    ("高坪支行", "QB04", [("高坪片区", "高坪镇", "高坪"), ("隆兴片区", "隆兴镇", "隆兴"),
                         ("旧城片区", "旧城镇", "旧城")]),
]

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

PRODUCTS = [
    ("节节高", "deposit", None,
     ("存得越久，利率越高：存期内按实际存满的时间分档计息，存满一档升一档；急用钱可以随时支取，"
      "已存的时间照样按对应档次算利息，不吃亏。")),
    ("月月红", "deposit", None,
     "本金存着不动，利息每个月自动转到您的活期账户，按月领取，适合靠利息补贴家用的老人和家庭。"),
    ("定期存款", "deposit", None,
     "三个月到五年多种存期可选，利率事先约定、到期本息一次领取，存款受存款保险保障，安全放心。"),
    ("农户小额信用贷款", "loan", 30,
     ("凭农户信用评级授信，不用抵押、不用担保，最高 30 万元；一次授信、随用随贷，"
      "用于种养殖、农资采购和家庭经营。")),
    ("惠农e贷", "loan", 50,
     "手机上申请、线上审批放款，最高 50 万元，按天计息、随借随还，适合种养大户和个体工商户周转。"),
    ("创业担保贷款", "loan", 20,
     "返乡创业人员、个体工商户和小微企业可申请，最高 20 万元，政府提供担保并给予贴息，利息负担轻。"),
    ("黔农云", "ebanking", None,
     "本行的手机银行：转账汇款、查余额、缴水电费、交社保医保都能在手机上办，不用跑网点。"),
    ("社保代缴", "payment", None,
     "城乡居民养老保险费签约后从您的账户按时自动代缴，不会漏缴断缴，老了按月领养老金。"),
    ("医保代缴", "payment", None,
     "城乡居民医疗保险费每年自动从账户代缴，全家人的医保不断档，看病住院照常报销。"),
]

# Surnames weighted roughly by national frequency, with 冉 母 敖 骆 as common as they are in 黔北.
SURNAMES = [
    ("王", 71), ("李", 70), ("张", 68), ("刘", 54), ("陈", 45), ("杨", 42), ("赵", 23), ("黄", 22),
    ("周", 21), ("吴", 20), ("徐", 17), ("孙", 15), ("胡", 13), ("朱", 13), ("高", 12), ("林", 12),
    ("何", 12), ("郭", 11), ("马", 11), ("罗", 12), ("梁", 9), ("宋", 8), ("郑", 8), ("谢", 8),
    ("韩", 7), ("唐", 7), ("冯", 7), ("邓", 7), ("曹", 6), ("彭", 6), ("曾", 6), ("肖", 6),
    ("田", 8), ("袁", 6), ("蔡", 5), ("龙", 5), ("付", 5), ("邹", 5), ("韦", 4), ("任", 5),
    ("熊", 4), ("谭", 4), ("廖", 4), ("向", 4), ("申", 3), ("犹", 2), ("冉", 16), ("母", 7),
    ("敖", 7), ("骆", 6),
]
MALE_FIRST = "国建明军华志永德成文光学正家开世大长先忠兴定中元洪祖荣贵富仁"
MALE_SECOND = "平强伟勇林海波刚峰鹏军华明福祥才发全权龙云山江兵生清东松友顺"
FEMALE_FIRST = "秀玉桂春金丽小美淑翠红素雪"
FEMALE_SECOND = "英芳兰珍琴梅霞凤娟敏萍莲琼菊花群艳燕芬香"
YOUNG = "子浩宇轩涵欣怡梓俊杰思雨博佳诗晨睿可"
# 生僻字 that real names carry and fonts, indexes and masks must survive; 𠇔 is outside the BMP.
RARE = ["䶮", "\U000201D4", "㛃", "龑", "堃", "犇", "淼", "赟", "喆"]
SUPPLEMENTARY_RARE = "\U000201D4"  # 𠇔

TOWN_SHOPS = [
    "杂货店", "超市", "五金店", "建材店", "药店", "理发店", "服装店", "手机店", "粮油店", "鲜肉店", "烟酒店", "茶叶店",
    "餐馆", "面馆", "早餐店", "修车店", "电器行", "农资店", "副食店", "照相馆", "文具店", "家具店", "火锅店",
]
VILLAGE_SHOPS = ["小卖部", "农资店", "便民超市", "农家乐", "副食店", "酒坊", "豆腐坊", "修车铺", "兽药店", "粮油店"]
VILLAGE_MARKET_STREETS = ["老街", "新街", "场坝街", "河边街", "正街"]
FIRM_WORDS = ["鑫源", "恒通", "宏达", "兴盛", "金穗", "山水", "绿源", "盛世", "仡乡", "银河", "永丰", "众鑫"]
FIRM_TRADES = ["商贸", "建材", "运输", "酒业", "食品", "建筑工程", "农业开发", "茶业", "物流", "医药"]
COOPERATIVES = [("茶叶", "planting"), ("方竹笋", "planting"), ("蔬菜种植", "planting"),
                ("中药材", "planting"), ("辣椒", "planting"), ("食用菌", "planting"),
                ("生猪养殖", "breeding"), ("肉牛养殖", "breeding"), ("蜂蜜", "breeding")]
ELSEWHERE = ["邮储银行存款", "农业银行存款", "邮储银行贷款", "农业银行贷款", "建设银行存款",
             "村镇银行贷款", "支付宝理财", "商业保险"]
PHONE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                  "152", "155", "157", "158", "159", "180", "181", "182", "183", "185", "187",
                  "188", "189", "191", "198", "199"]

STAFF = {  # username → (role, business line); managers are added per branch
    "admin": ("admin", None),
    "hangzhang": ("management", None),
    "fuhangzhang": ("management", None),
}
MANAGER_LINES = {"QB01": ["retail", "micro", "retail", "micro", "retail"],
                 "rural": ["agri", "agri", "agri", "micro", "retail"]}


# ---------------------------------------------------------------- geometry

def _lng_scale(lat):
    return M_PER_DEG_LNG_EQUATOR * math.cos(math.radians(lat))


def _metres_to_degrees(geom):
    """Local plane (metres from the county seat) to WGS-84 lng/lat."""
    scale = np.array([1 / _lng_scale(SEAT_LAT), 1 / M_PER_DEG_LAT])
    offset = np.array([SEAT_LNG, SEAT_LAT])
    return shapely.transform(geom, lambda xy: xy * scale + offset)


def area_m2(geom):
    """Area in m² by the local equal-area approximation at the geometry's latitude."""
    lat = shapely.centroid(geom).y
    return shapely.area(geom) * _lng_scale(lat) * M_PER_DEG_LAT


def _metres_between(a, b):
    (x1, y1), (x2, y2) = a, b
    lat = (y1 + y2) / 2
    return math.hypot((x2 - x1) * _lng_scale(lat), (y2 - y1) * M_PER_DEG_LAT)


def geojson(geom):
    """A Polygon as GeoJSON text: exterior counter-clockwise as RFC 7946 asks, 6 decimals."""
    geom = shapely.orient_polygons(geom)
    rings = [geom.exterior, *geom.interiors]
    coords = [[[round(x, 6), round(y, 6)] for x, y in ring.coords] for ring in rings]
    return json.dumps({"type": "Polygon", "coordinates": coords}, separators=(",", ":"))


def _stored(geom):
    """The geometry exactly as it will read back from its GeoJSON."""
    stored = shapely.from_geojson(geojson(geom))
    if stored.geom_type != "Polygon" or not shapely.is_valid(stored):
        raise ValueError(f"demo geometry not a valid polygon: {shapely.is_valid_reason(stored)}")
    return stored


def _outline(rng):
    """An irregular, star-shaped county: a positive radius function never self-intersects."""
    harmonics = [(k, rng.uniform(0.04, 0.15) / math.sqrt(k), rng.uniform(0, 2 * math.pi))
                 for k in range(2, 10)]
    cx, cy = rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)
    points = []
    for i in range(360):
        t = 2 * math.pi * i / 360
        r = COUNTY_RADIUS_M * (1 + sum(a * math.cos(k * t + p) for k, a, p in harmonics))
        r *= 1 + rng.uniform(-0.008, 0.008)
        points.append((cx + 1.12 * r * math.cos(t), cy + 0.92 * r * math.sin(t)))
    return shapely.Polygon(points)


def _points_in(geom, count, rng, centre=None, radius=None):
    """count uniform random points (metres) inside geom, or inside a disc around centre."""
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    if centre is not None:
        minx, miny = centre[0] - radius, centre[1] - radius
        maxx, maxy = centre[0] + radius, centre[1] + radius
    found = []
    while len(found) < count:
        xs = np.array([rng.uniform(minx, maxx) for _ in range(count)])
        ys = np.array([rng.uniform(miny, maxy) for _ in range(count)])
        inside = shapely.contains_xy(geom, xs, ys)
        if centre is not None:
            inside &= np.hypot(xs - centre[0], ys - centre[1]) < radius
        found.extend(zip(xs[inside].tolist(), ys[inside].tolist()))
    return found[:count]


class Mesh:
    """Fine cells covering the county, snapped to the grid, with their adjacency."""

    def __init__(self, rng):
        outline_m = _outline(rng)
        seeds = _points_in(outline_m, MESH_RURAL, rng)
        seeds += _points_in(outline_m, MESH_TOWN, rng, centre=(0, 0), radius=TOWN_RADIUS_M)
        cells_m = shapely.get_parts(shapely.voronoi_polygons(
            shapely.multipoints(seeds), extend_to=shapely.buffer(outline_m, 5000)))
        self.outline = shapely.set_precision(_metres_to_degrees(outline_m), GRID)
        clipped = shapely.intersection(_metres_to_degrees(cells_m), self.outline, grid_size=GRID)
        # A cell cut by a bay of the outline falls apart; each piece is a cell of its own.
        parts = shapely.get_parts(clipped)
        self.cells = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
        # Order cells by position, not by GEOS's internal order, so the mesh is stable.
        cent = shapely.centroid(self.cells)
        xy = np.column_stack([shapely.get_x(cent), shapely.get_y(cent)])
        order = np.lexsort((xy[:, 0], xy[:, 1]))
        self.cells, self.xy = self.cells[order], [tuple(p) for p in xy[order].tolist()]
        self.neighbours = self._adjacency(rng)

    def _adjacency(self, rng):
        """Cells sharing an edge (touching at a corner does not count), with a noisy cost.

        The noise makes grown regions follow ragged, ridge-like lines instead of
        the straight bisectors of a plain Voronoi diagram.
        """
        tree = shapely.STRtree(self.cells)
        left, right = tree.query(self.cells, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        shared = shapely.length(shapely.intersection(
            shapely.boundary(self.cells[left]), shapely.boundary(self.cells[right])))
        neighbours = [[] for _ in self.cells]
        pairs = sorted(zip(left[shared > 1e-7].tolist(), right[shared > 1e-7].tolist()))
        for i, j in pairs:
            cost = _metres_between(self.xy[i], self.xy[j]) * rng.uniform(0.55, 1.45)
            neighbours[i].append((j, cost))
            neighbours[j].append((i, cost))
        return neighbours

    def grow(self, sources, allowed=None, slowness=None):
        """Label cells by the cheapest path from a source cell.

        Each cell takes its label from the neighbour that reached it, so every
        region is connected whatever the costs. slowness scales a source's costs.
        """
        label = {}
        heap = [(0.0, n, cell, k) for n, (k, cell) in enumerate(sorted(sources.items()))]
        heapq.heapify(heap)
        tick = len(heap)
        while heap:
            cost, _, cell, k = heapq.heappop(heap)
            if cell in label:
                continue
            label[cell] = k
            factor = slowness.get(k, 1.0) if slowness else 1.0
            for other, step in self.neighbours[cell]:
                if other not in label and (allowed is None or other in allowed):
                    tick += 1
                    heapq.heappush(heap, (cost + step * factor, tick, other, k))
        return label

    def union(self, cells):
        return shapely.union_all(self.cells[sorted(cells)], grid_size=GRID)


def _spread(candidates, count, spacing, rng, xy):
    """Pick count cells at least spacing metres apart (dart throwing), shrinking spacing if needed."""
    order = sorted(candidates)
    rng.shuffle(order)
    while True:
        chosen = []
        for c in order:
            if all(_metres_between(xy[c], xy[o]) >= spacing for o in chosen):
                chosen.append(c)
                if len(chosen) == count:
                    return chosen
        spacing *= 0.93


def _angle(point, centre):
    return math.atan2(point[1] - centre[1], point[0] - centre[0]) % (2 * math.pi)


def _is_simple_polygon(geom):
    return geom.geom_type == "Polygon" and not geom.interiors and shapely.is_valid(geom)


class Layout:
    """The map of the county before it meets the database: plain shapely and names."""

    def __init__(self, rng):
        for _ in range(50):
            if self._attempt(rng):
                return
        raise RuntimeError("could not lay out the demo county")  # pragma: no cover

    def _attempt(self, rng):
        mesh = self.mesh = Mesh(rng)
        seat = (SEAT_LNG, SEAT_LAT)
        dist = [_metres_between(p, seat) for p in mesh.xy]
        town = [c for c, d in enumerate(dist) if d < 1600]
        rural = [c for c, d in enumerate(dist) if d > 4200]
        town_area = math.pi * 1600 ** 2
        rural_area = area_m2(mesh.outline) - math.pi * 4200 ** 2
        street_seeds = _spread(town, STREETS, 0.8 * math.sqrt(town_area / STREETS), rng, mesh.xy)
        village_seeds = _spread(rural, VILLAGES, 0.8 * math.sqrt(rural_area / VILLAGES), rng, mesh.xy)
        seeds = street_seeds + village_seeds
        label = mesh.grow({i: cell for i, cell in enumerate(seeds)},
                          slowness={i: STREET_COST for i in range(STREETS)})
        self.cells_of = [[] for _ in seeds]
        for cell in sorted(label):
            self.cells_of[label[cell]].append(cell)
        self.shapes = [mesh.union(cells) for cells in self.cells_of]
        if not all(_is_simple_polygon(s) for s in self.shapes):
            return False
        touching = self._touching(label, len(seeds))
        zones = self._zones(rng, touching)
        if zones is None:
            return False
        self.zones = zones
        self.groups = self._groups(rng)
        self.market = self._market()
        return self.groups is not None and self.market is not None

    def _touching(self, label, count):
        touching = [set() for _ in range(count)]
        for cell, k in label.items():
            for other, _ in self.mesh.neighbours[cell]:
                if label[other] != k:
                    touching[k].add(label[other])
        return [sorted(t) for t in touching]

    def _zones(self, rng, touching):
        """Group streets into 2 town zones and villages into 10 rural zones, 3 zones a branch.

        Returns [(branch index, zone index within branch, [unit indices])] or None
        when the draw gave a zone that is not one piece or a branch too big for 5 managers.
        """
        seat = (SEAT_LNG, SEAT_LAT)
        centres = [(s.centroid.x, s.centroid.y) for s in self.shapes]
        streets = sorted(range(STREETS), key=lambda i: _angle(centres[i], seat))
        half = STREETS // 2
        offset = rng.randrange(half)
        streets = streets[offset:] + streets[:offset]
        town = sorted([streets[:half], streets[half:]],  # 城东 first, then 城西
                      key=lambda units: -sum(centres[u][0] for u in units))

        villages = list(range(STREETS, STREETS + VILLAGES))
        first = rng.choice(villages)
        zone_seeds = [first]
        while len(zone_seeds) < RURAL_ZONES:  # farthest-point sampling keeps zones apart
            zone_seeds.append(max(
                (v for v in villages if v not in zone_seeds),
                key=lambda v: min(_metres_between(centres[v], centres[s]) for s in zone_seeds)))
        members = [[s] for s in zone_seeds]
        owner = {s: z for z, s in enumerate(zone_seeds)}
        while len(owner) < VILLAGES:
            grown = False
            for z in sorted(range(RURAL_ZONES), key=lambda z: (len(members[z]), z)):
                frontier = sorted({n for v in members[z] for n in touching[v]
                                   if n >= STREETS and n not in owner})
                if frontier:
                    pick = min(frontier, key=lambda n: _metres_between(centres[n], centres[zone_seeds[z]]))
                    members[z].append(pick)
                    owner[pick] = z
                    grown = True
                    break
            if not grown:
                return None

        def centre_of(units):
            xs = [centres[u][0] for u in units]
            ys = [centres[u][1] for u in units]
            return sum(xs) / len(xs), sum(ys) / len(ys)

        suburb = min(range(RURAL_ZONES), key=lambda z: _metres_between(centre_of(members[z]), seat))
        rest = sorted((z for z in range(RURAL_ZONES) if z != suburb),
                      key=lambda z: (_angle(centre_of(members[z]), seat) - _angle(centre_of(members[suburb]), seat))
                      % (2 * math.pi))
        zones = [(0, 0, town[0]), (0, 1, town[1]), (0, 2, members[suburb])]
        for b in range(3):
            for k in range(3):
                zones.append((b + 1, k, members[rest[3 * b + k]]))
        for b in range(4):
            size = sum(len(units) for branch, _, units in zones if branch == b)
            if not 10 <= size <= 20:
                return None
        self.zone_shapes = [shapely.union_all([self.shapes[u] for u in units], grid_size=GRID)
                            for _, _, units in zones]
        if not all(_is_simple_polygon(s) for s in self.zone_shapes):
            return None
        return zones

    def _groups(self, rng):
        """Split three villages into 2–4 村民组 over the same mesh."""
        rural = [u for b, _, units in self.zones if b > 0 for u in units]
        chosen = sorted(rng.sample(rural, 3))
        groups = {}
        for unit in chosen:
            cells = self.cells_of[unit]
            count = rng.randint(2, 4)
            sources = _spread(cells, count, 0.5 * math.sqrt(area_m2(self.shapes[unit]) / count),
                              rng, self.mesh.xy)
            label = self.mesh.grow(dict(enumerate(sources)), allowed=set(cells))
            parts = [[c for c in cells if label[c] == g] for g in range(count)]
            shapes = [self.mesh.union(p) for p in parts]
            if not all(_is_simple_polygon(s) for s in shapes):
                return None
            # Numbered from north to south, as 1组, 2组 … usually run down a valley.
            shapes.sort(key=lambda s: (-round(s.centroid.y, 3), s.centroid.x))
            groups[unit] = shapes
        return groups

    def _market(self):
        """A market rectangle in the street nearest the county seat, well clear of its edges.

        It sits at the street's pole of inaccessibility, the point farthest from
        its boundary, so a market of a realistic size fits in any street shape.
        """
        seat = shapely.Point(SEAT_LNG, SEAT_LAT)
        host = min(range(STREETS), key=lambda u: (shapely.distance(self.shapes[u], seat), u))
        street = self.shapes[host]
        cx, cy = shapely.get_coordinates(shapely.maximum_inscribed_circle(street, GRID))[0]
        for size in (1.0, 0.7, 0.5, 0.35, 0.25):
            w = 160 * size / _lng_scale(cy)
            h = 110 * size / M_PER_DEG_LAT
            rect = shapely.set_precision(shapely.affinity.rotate(
                shapely.box(cx - w, cy - h, cx + w, cy + h), 23, origin=(cx, cy)), GRID)
            if street.contains(shapely.buffer(rect, 2e-5)):
                return host, rect
        return None


# ---------------------------------------------------------------- people

class People:
    """Chinese names, phones and shop names from one random stream."""

    def __init__(self, rng):
        self.rng = rng
        self.surnames = Weighted(dict(SURNAMES))
        self.phones = set()  # membership only, never iterated

    def surname(self):
        return self.surnames.pick(self.rng)

    def given(self, male, young=False, rare=None):
        r = self.rng
        if young:
            chars = [r.choice(YOUNG), r.choice(YOUNG + (MALE_SECOND if male else FEMALE_SECOND))]
        elif male:
            chars = [r.choice(MALE_FIRST), r.choice(MALE_SECOND)]
        else:
            chars = [r.choice(FEMALE_FIRST), r.choice(FEMALE_SECOND)]
        if r.random() < 0.22:
            chars = chars[1:]
        if rare:
            chars[-1] = rare
        return "".join(chars)

    def person(self, male=True, surname=None, young=False, rare=None):
        return (surname or self.surname()) + self.given(male, young, rare)

    def phone(self):
        r = self.rng
        while True:
            number = r.choice(PHONE_PREFIXES) + f"{r.randrange(10 ** 8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def shop(self, kinds, place):
        r = self.rng
        kind = r.choice(kinds)
        style = r.random()
        if style < 0.35:
            return f"{self.surname()}记{kind}"
        if style < 0.5:
            return f"{self.surname()}氏{kind}"
        if style < 0.6:
            return f"{self.surname()}家{kind}"
        if style < 0.9:
            return f"{r.choice(MALE_FIRST)}{r.choice(MALE_SECOND)}{kind}"
        return f"{place}{kind}"

    def enterprise(self, place, rural):
        r = self.rng
        if rural and r.random() < 0.75:
            if r.random() < 0.2:
                return f"{COUNTY}{self.surname()}氏家庭农场", r.choice(["planting", "breeding"])
            product, category = r.choice(COOPERATIVES)
            return f"{COUNTY}{place}{product}专业合作社", category
        return f"{COUNTY}{r.choice(FIRM_WORDS)}{r.choice(FIRM_TRADES)}有限公司", "enterprise"


class _Archive(types.SimpleNamespace):
    """A customer row as attributes, so compute_tier reads it as it reads a Customer."""

    business_volume_wan = Customer.business_volume_wan


def _lognormal(rng, median, sigma, low, high):
    return min(high, max(low, rng.lognormvariate(math.log(median), sigma)))


def _money(x):
    return round(x, 2)


class Weighted:
    """A fixed weighted choice; random.choices re-adds the weights on every call."""

    def __init__(self, weights):
        self.options = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))

    def pick(self, rng):
        return self.options[bisect.bisect(self.cum, rng.random() * self.cum[-1])]


CONSENT_WAYS = Weighted({"written": 60, "app": 25, "verbal": 15})
KINDS = {"market": Weighted({"merchant": 1}),
         "street": Weighted({"household": 45, "merchant": 52, "enterprise": 3}),
         "village": Weighted({"household": 93, "merchant": 5.5, "enterprise": 1.5})}
TOWN_LIVING = Weighted({"labour": 50, "trade": 25, "other": 25})
FARM_LIVING = Weighted({"planting": 38, "breeding": 20, "labour": 30, "trade": 5, "other": 7})
# Most households are not yet rated (评级授信 is what the visits are for); firms mostly are.
RATINGS = Weighted({"AAA": 3, "AA": 10, "A": 18, "B": 12, "C": 3, None: 54})
FIRM_RATINGS = Weighted({"AAA": 30, "AA": 35, "A": 20, None: 15})
SAVINGS = Weighted({"节节高": 35, "月月红": 30, "定期存款": 35})


# ---------------------------------------------------------------- the build

def build_demo(customers=6000, seed=20261129, password_method=None):
    """Build the demo county into the bound database; return counts and the logins.

    Each part draws from its own stream of the seed, so the map stays the same
    whatever the number of customers, and more staff would not move a customer.
    """
    layout = Layout(random.Random(f"{seed}:map"))
    today = clock.today()
    with database.atomic():
        bank, branches = _branches()
        units, territories = _territories(layout, branches)
        products = _products(bank)
        users, logins = _users(bank, branches, random.Random(f"{seed}:staff"), password_method)
        _assignments(units, users, today - dt.timedelta(days=120))
        rules = _tier_rules(bank)
        archive = Archive(units, products, random.Random(f"{seed}:people"), today, rules=rules)
        count = archive.write(customers)
        _id_numbers(archive, random.Random(f"{seed}:ids"), today)
    with database.atomic():
        history = visit_history(users, products, random.Random(f"{seed}:visits"))
    with database.atomic():  # each lead's writes are savepoints inside: one commit, not hundreds
        leads = _leads(users, products, random.Random(f"{seed}:leads"))
    return {"visits": history["visits"], "follow_ups": history["follow_ups"], "leads": leads,
            "logins": logins, "branches": 1 + len(branches), "territories": territories,
            "customers": count, "users": len(users)}


def _branches():
    bank = Branch.add(name=BANK_NAME, code="QB", kind="bank")
    return bank, [Branch.add(name=name, code=code, kind="branch", parent=bank)
                  for name, code, _ in BRANCHES]


def _feature(features, name, kind, branch, parent_code, code, geom):
    """Add a territory to its branch's FeatureCollection; the shape as it will read back."""
    stored = _stored(geom)
    features.setdefault(branch.id, (branch, []))[1].append({
        "type": "Feature", "geometry": json.loads(geojson(stored)),
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


def _territories(layout, branches):
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
        members = sorted(members, key=lambda u: _metres_between(
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
                          "walk": (order, _angle((stored.centroid.x, stored.centroid.y), centre))})
    rows = _import(features)
    for unit in units:
        unit["row"] = rows[unit["row"]]
        unit["groups"] = [(rows[code], shape, label) for code, shape, label in unit["groups"]]
        if unit["market"]:
            unit["market"] = (rows[unit["market"][0]], unit["market"][1])
    return units, sum(len(collection) for _, collection in features.values())


# The county bank's own tier rules (分层): a little stricter on rating and gentler on land
# than the defaults, as a mountain county with small plots would set them.
BANK_TIER_RULES = [
    ("gold", 50, None, None),
    ("gold", 20, "AAA", None),
    ("mass", 5, None, None),
    ("mass", None, "AA", None),
    ("mass", None, None, 15),
]


def _tier_rules(bank):
    """Write the bank's tier rules; return them in the order they are tried."""
    for position, (tier, volume, rating, scale) in enumerate(BANK_TIER_RULES, start=1):
        TierRule.create(bank=bank, position=position, tier=tier, min_volume_wan=volume,
                        min_rating=rating, min_scale_mu=scale)
    return TierRule.for_bank(bank.id)


# Where the heads of households were registered: the county itself mostly, some from
# the prefecture's other counties, a few from Chongqing across the border.
ID_REGIONS = Weighted({"520321": 80, "520302": 6, "520381": 5, "520324": 4, "500110": 3, "500101": 2})
ID_SHARE = 0.85  # households whose ID number is on file; the rest were archived without it


def _id_number(rng, male, today):
    """A GB 11643 number: region, birth date (25–80 years ago), sequence odd for men, check digit."""
    born = today - dt.timedelta(days=rng.randint(25 * 365, 80 * 365))
    sequence = rng.randrange(0, 999, 2) + (1 if male else 0)
    first = f"{ID_REGIONS.pick(rng)}{born:%Y%m%d}{sequence:03d}"
    return first + crypto.check_digit(first)


def _id_numbers(archive, rng, today):
    """Give most households an ID number, encrypted and hashed as the archive form keeps it.

    Needs the app's ID_NUMBER_KEY (an app context). Numbers are unique: two archives
    with one number would be the duplicates the app refuses.
    """
    seen, rows = set(), []
    for customer_id, row in archive.written:
        if row["kind"] != "household" or rng.random() >= ID_SHARE:
            continue
        number = _id_number(rng, row["_male"], today)
        while number in seen:
            number = _id_number(rng, row["_male"], today)
        seen.add(number)
        rows.append((crypto.encrypt_id(number), crypto.hash_id(number), customer_id))
    database.cursor().executemany(
        'UPDATE "customer" SET "id_number_cipher" = %s, "id_number_hash" = %s WHERE "id" = %s'
        .replace("%s", database.param), rows)
    return len(rows)


def _products(bank):
    return {name: Product.create(bank=bank, name=name, kind=kind, description=text,
                                 amount_limit_wan=limit)
            for name, kind, limit, text in PRODUCTS}


def _users(bank, branches, rng, password_method):
    people = People(rng)
    plan = [(username, role, line, bank) for username, (role, line) in STAFF.items()]
    for i, branch in enumerate(branches, start=1):
        plan.append((f"lead{i}", "team_lead", "retail" if i == 1 else "agri", branch))
    for i, branch in enumerate(branches):
        lines = MANAGER_LINES["QB01" if i == 0 else "rural"]
        for k in range(5):
            plan.append((f"mgr{5 * i + k + 1:02d}", "manager", lines[k], branch))
    users, logins = {}, []
    for username, role, line, branch in plan:
        user = User(username=username, name=people.person(male=rng.random() < 0.55),
                    phone=people.phone(), role=role, branch=branch, business_line=line)
        user.set_password(PASSWORD, method=password_method)
        user.save()
        users[username] = user
        logins.append((role, username, PASSWORD))
    return users, logins


def _assignments(units, users, starts_on):
    """Give each branch's villages and streets to its 5 managers, 2–4 each, in map order.

    Villages are taken round each zone's centre, so one manager's villages are
    neighbours and a 责任田 is one walk.
    """
    rows = []
    for branch in sorted({u["branch"] for u in units}, key=lambda b: b.id):
        mine = [u["row"] for u in sorted(units, key=lambda u: u["walk"]) if u["branch"] == branch]
        lead = next(u for u in users.values() if u.role == "team_lead" and u.branch == branch)
        managers = sorted((u for u in users.values() if u.role == "manager" and u.branch == branch),
                          key=lambda u: u.username)
        base, extra = divmod(len(mine), len(managers))
        start = 0
        for k, manager in enumerate(managers):
            size = base + (1 if k < extra else 0)
            share = mine[start:start + size]
            start += size
            # Fewer than 2 villages a manager: they share a neighbour's, as 分线 allows.
            while len(share) < 2:
                share.append(mine[(start + len(share)) % len(mine)])
            rows += [{"territory": t.id, "user": manager.id, "business_line": manager.business_line,
                      "starts_on": starts_on, "assigned_by": lead.id} for t in share]
    Assignment.insert_many(rows).execute()


CUSTOMER_FIELDS = [
    "branch", "territory", "kind", "name", "phone", "township", "village", "group_name", "street",
    "house_no", "category", "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan",
    "debts_wan", "net_income_wan", "deposit_balance_wan", "loan_balance_wan", "credit_rating",
    "products_elsewhere", "consent", "consent_on", "consent_via", "lat", "lng", "position_source",
    "position_confirmed", "tier", "tier_rule", "status", "created_at", "updated_at",
]


class Archive:
    """The customers (建档) of the county with their members and holdings."""

    def __init__(self, units, products, rng, today, rules=None):
        self.units, self.products, self.rng, self.today = units, products, rng, today
        self.rules = rules  # the bank's tier rules, in order (None: the defaults)
        self.people = People(rng)
        self.contracts = 0
        self.written = []  # (customer id, row) once written

    def write(self, total):
        jobs = [(unit, in_market) for unit, (plain, stalls) in zip(self.units, self._allocate(total))
                for in_market in [False] * plain + [True] * stalls]
        # However few customers, one household name needs a character outside the BMP.
        forced = self.rng.choice([i for i, (_, in_market) in enumerate(jobs) if not in_market] or [-1])
        rows, members, holdings, places = [], [], [], {}
        now = clock.now()
        for index, (unit, in_market) in enumerate(jobs):
            place = places.get(unit["row"].id) or places.setdefault(unit["row"].id, Places(unit, self.rng))
            row = self._customer(unit, place, in_market,
                                 rare=SUPPLEMENTARY_RARE if index == forced else None)
            row["created_at"] = row["updated_at"] = now
            members.append(self._members(row) if row["kind"] == "household" else [])
            holdings.append(self._holdings(row))
            rows.append(row)
        before = Customer.select(Customer.id).order_by(Customer.id.desc()).limit(1).scalar() or 0
        bulk_insert(Customer, rows, CUSTOMER_FIELDS)
        # New ids in insertion order: SQLite and PostgreSQL number a multi-row INSERT's rows
        # in order, and nothing else writes customers while the demo is built.
        ids = [i for (i,) in Customer.select(Customer.id).where(Customer.id > before)
               .order_by(Customer.id).tuples()]
        bulk_insert(CustomerMember, [(cid, *m) for cid, ms in zip(ids, members) for m in ms],
                    ["customer", "relation", "name", "occupation", "phone"])
        bulk_insert(Holding, [(cid, *h) for cid, hs in zip(ids, holdings) for h in hs],
                    ["customer", "product", "since", "amount_wan", "reference"])
        self.written = list(zip(ids, rows))
        return len(rows)

    def _allocate(self, total):
        """Customers per unit by area, denser in town, plus a market of stalls (~2 %).

        Largest remainders keep the sum exact. Returns (plain, in market) per unit.
        """
        streets = [u["shape"].area for u in self.units if u["street"]]
        typical = sum(streets) / len(streets)
        # A small central street is as busy as a big outer one, so streets go by √area.
        weights = [(9.0 * math.sqrt(u["shape"].area * typical) if u["street"] else u["shape"].area)
                   * self.rng.uniform(0.6, 1.4) for u in self.units]
        weights.append(sum(weights) * 0.02 / 0.98)
        exact = [total * w / sum(weights) for w in weights]
        counts = [int(x) for x in exact]
        for i in sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))[:total - sum(counts)]:
            counts[i] += 1
        in_market = counts.pop()
        return [(c, in_market if u["market"] else 0) for c, u in zip(counts, self.units)]

    def _customer(self, unit, place, in_market, rare=None):
        rng, people = self.rng, self.people
        positioned = in_market or rng.random() > 0.03
        territory, group_label, lat, lng = unit["row"], None, None, None
        if positioned:
            territory, group_label, lng, lat = place.point(in_market)
        kind = self._kind(territory.kind, rare)
        row = dict.fromkeys(CUSTOMER_FIELDS)
        row.update(branch=unit["branch"].id, territory=territory.id, kind=kind,
                   township=unit["township"], status="active", products_elsewhere="",
                   lat=lat, lng=lng, position_source="surveyed" if positioned else None,
                   position_confirmed=positioned)
        name = unit["row"].name
        stem = name.removesuffix("村")
        if kind == "household":
            self._household(row, unit, group_label, place, rare)
        elif kind == "merchant":
            row["name"] = people.shop(TOWN_SHOPS if unit["street"] else VILLAGE_SHOPS, stem)
            row["phone"] = people.phone() if rng.random() < 0.98 else None
            row["category"] = "trade" if rng.random() < 0.88 else "other"
            if unit["street"]:
                row["street"] = name
                row["house_no"] = (f"农贸市场{rng.choice('ABCD')}区{rng.randint(1, 60)}号"
                                   if territory.kind == "market" else f"{rng.randint(1, 260)}号")
            else:
                row["village"] = name
                row["street"] = rng.choice(VILLAGE_MARKET_STREETS)
                row["house_no"] = f"{rng.randint(1, 80)}号"
            turnover = _lognormal(rng, 18, 0.9, 2, 900)
            row["annual_turnover_wan"] = _money(turnover)
            row["net_income_wan"] = _money(turnover * rng.uniform(0.08, 0.25))
            row["deposit_balance_wan"] = _money(_lognormal(rng, 8, 1.15, 0.05, 600))
            if rng.random() < 0.4:
                row["loan_balance_wan"] = _money(_lognormal(rng, 12, 0.7, 1, 50))
            row["assets_wan"] = _money(turnover * rng.uniform(0.4, 1.2) + row["deposit_balance_wan"])
        else:
            row["name"], row["category"] = people.enterprise(stem, not unit["street"])
            row["phone"] = people.phone()
            if unit["street"]:
                row["street"], row["house_no"] = name, f"{rng.randint(1, 260)}号"
            else:
                row["village"] = name
            if row["category"] == "planting":
                row["scale_mu"] = float(rng.randint(20, 60))
            elif row["category"] == "breeding":
                row["livestock_head"] = rng.randint(50, 800)
            turnover = _lognormal(rng, 300, 1.0, 20, 20000)
            row["annual_turnover_wan"] = _money(turnover)
            row["net_income_wan"] = _money(turnover * rng.uniform(0.04, 0.15))
            row["deposit_balance_wan"] = _money(_lognormal(rng, 35, 1.0, 1, 3000))
            if rng.random() < 0.6:
                row["loan_balance_wan"] = _money(_lognormal(rng, 120, 0.8, 10, 3000))
            row["assets_wan"] = _money(_lognormal(rng, 500, 0.9, 30, 50000))
        row["deposit_balance_wan"] = row["deposit_balance_wan"] or 0.0
        row["loan_balance_wan"] = row["loan_balance_wan"] or 0.0
        row["debts_wan"] = _money(row["loan_balance_wan"] + (
            _lognormal(rng, 2, 0.8, 0.2, 50) if rng.random() < 0.25 else 0))
        row["credit_rating"] = self._rating(kind)
        if rng.random() < 0.25:
            row["products_elsewhere"] = "、".join(rng.sample(ELSEWHERE, rng.randint(1, 2)))
        if rng.random() < 0.9:
            row["consent"] = True
            row["consent_on"] = self.today - dt.timedelta(days=120 + rng.randint(0, 900))
            row["consent_via"] = CONSENT_WAYS.pick(rng)
        else:
            row["consent"] = False
        row["tier"], row["tier_rule"] = compute_tier(_Archive(**row), self.rules)
        return row

    def _kind(self, territory_kind, rare):
        if rare:  # the forced 生僻字 must be a person's name, so a household
            return "household"
        return KINDS.get(territory_kind, KINDS["village"]).pick(self.rng)

    def _household(self, row, unit, group_label, place, rare):
        rng, people = self.rng, self.people
        male = rng.random() < 0.85
        if rare is None and rng.random() < 1 / 300:
            rare = rng.choice(RARE)
        row["name"] = people.person(male, rare=rare)
        row["_male"] = male
        row["phone"] = people.phone() if rng.random() < 0.92 else None
        name = unit["row"].name
        if unit["street"]:
            row["street"] = name
            row["house_no"] = (f"{rng.randint(1, 260)}号{rng.randint(1, 4)}单元"
                               f"{rng.randint(1, 7)}0{rng.randint(1, 4)}")
            category = TOWN_LIVING.pick(rng)
        else:
            row["village"] = name
            row["group_name"] = group_label or f"{rng.randint(1, place.group_count)}组"
            category = FARM_LIVING.pick(rng)
        row["category"] = category
        scale = head = 0
        if category == "planting":
            scale = round(_lognormal(rng, 6, 0.8, 1, 60) * 2) / 2
            row["scale_mu"] = scale
            income = 1.5 + scale * 0.25 * rng.uniform(0.6, 1.4)
        elif category == "breeding":
            head = int(_lognormal(rng, 20, 1.0, 3, 800))
            row["livestock_head"] = head
            income = 2 + head * 0.08 * rng.uniform(0.5, 1.5)
        else:
            income = _lognormal(rng, {"labour": 6, "trade": 8}.get(category, 3), 0.5, 0.5, 60)
        row["net_income_wan"] = _money(income)
        wealthy = rng.random() < 0.08
        if wealthy:
            row["deposit_balance_wan"] = _money(_lognormal(rng, 45, 0.5, 10, 500))
        elif rng.random() < 0.88:
            row["deposit_balance_wan"] = _money(_lognormal(rng, 1.5, 1.1, 0.01, 60))
        if rng.random() < 0.22:
            row["loan_balance_wan"] = _money(_lognormal(rng, 6, 0.7, 1, 50))
        row["assets_wan"] = _money(_lognormal(rng, 18, 0.6, 2, 400) + (row["deposit_balance_wan"] or 0)
                                   + scale * 0.3 + head * 0.15)

    def _rating(self, kind):
        if kind == "enterprise":
            return FIRM_RATINGS.pick(self.rng)
        return RATINGS.pick(self.rng)

    def _members(self, row):
        """1–3 family members for about a third of households (the 建档 form's family list)."""
        rng, people = self.rng, self.people
        male = row["_male"]
        if rng.random() >= 1 / 3:
            return []
        surname = row["name"][0]
        found = []
        for n in range(rng.randint(1, 3)):
            relation = "配偶" if n == 0 and rng.random() < 0.8 else rng.choice(["子女", "子女", "父母"])
            if relation == "配偶":
                name = people.person(not male)
                occupation = rng.choice(["务农", "务工", "个体经营", "在家"])
            elif relation == "子女":
                name = people.person(rng.random() < 0.5, surname=surname, young=True)
                occupation = rng.choice(["学生", "务工", "教师", "司机", "护士", "个体经营"])
            else:
                father = rng.random() < 0.5
                name = people.person(father, surname=surname if father else None)
                occupation = rng.choice(["务农", "退休", "在家"])
            phone = people.phone() if occupation not in ("学生", "在家") and rng.random() < 0.6 else None
            found.append((relation, name, occupation, phone))
        return found

    def _holdings(self, row):
        """Products held with us, consistent with the balances in the archive."""
        rng, p, today = self.rng, self.products, self.today
        held = []

        def since(low, high):
            return today - dt.timedelta(days=rng.randint(low, high))

        deposit, loan = row["deposit_balance_wan"], row["loan_balance_wan"]
        if deposit >= 0.5 and rng.random() < 0.45:
            product = SAVINGS.pick(rng)
            held.append((p[product].id, since(150, 1500), _money(deposit * rng.uniform(0.3, 0.9)), None))
        # Enterprise loans are corporate credit, outside the retail catalogue the demo sells.
        if loan > 0 and row["kind"] != "enterprise":
            if row["kind"] == "merchant" and loan <= 20 and rng.random() < 0.4:
                product = "创业担保贷款"
            elif row["kind"] == "household" and loan <= 30:
                product = "农户小额信用贷款"
            else:
                product = "惠农e贷"
            start = since(60, 700)
            self.contracts += 1
            held.append((p[product].id, start, loan, f"QBDK{start.year}{self.contracts:06d}"))
        if row["phone"] and rng.random() < 0.3:
            held.append((p["黔农云"].id, since(60, 900), None, None))
        if row["kind"] == "household":
            if rng.random() < 0.35:
                held.append((p["医保代缴"].id, since(150, 1500), None, None))
            if rng.random() < 0.15:
                held.append((p["社保代缴"].id, since(150, 1500), None, None))
        return held


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
            count = max(3, min(10, round(area_m2(self.shape) / 3e6)))
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
                x = round(rng.gauss(hx, self.spread_m / _lng_scale(hy)), 6)
                y = round(rng.gauss(hy, self.spread_m / M_PER_DEG_LAT), 6)
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


# ---------------------------------------------------------------- leads (issue 9)

LEAD_SOURCES_WEIGHTED = Weighted({"visit": 55, "referral": 20, "event": 12, "counter": 8, "phone": 5})
# How a lead ends up, with the days from capture to its last touch.
LEAD_FATES = Weighted({"won": 25, "lost": 18, "qualified": 12, "contacted": 20, "new": 15, "stale": 10})
NEW_PEOPLE = ("何", "罗", "宋", "谢", "唐", "韩", "冯", "邓", "曹", "彭")


class _Past:
    """Write through the app's own functions as of a moment in the past.

    The demo's eight weeks of leads go through Lead.capture and Lead.move like any
    manager's, and those stamp the clock's time; so the clock is moved, and always
    put back.
    """

    def __init__(self, days_ago):
        self.delta = dt.timedelta(days=days_ago)

    def __enter__(self):
        clock.travel(-self.delta)

    def __exit__(self, *exc):
        clock.travel(self.delta)


def _leads(users, products, rng):
    """About ten leads a manager over eight weeks: some won, some lost, some stale.

    Written with Lead.capture and Lead.move, in their own transactions, so a won
    lead updates its customer's products and tier exactly as in the app.
    """
    from app.models import Lead, User, Visit
    from app.models.lead import DEFAULT_LOST_REASONS
    from app.models.refused import CONFLICT, Refused

    catalogue = sorted(products.values(), key=lambda p: p.id)
    managers = sorted((u for u in users.values() if u.role == "manager"), key=lambda u: u.username)
    written = 0
    for manager in managers:
        manager = User.get_by_id(manager.id)  # a fresh row: its branch and bank as stored
        customers = list(Customer.visible_to(manager).where(Customer.status == "active")
                         .order_by(Customer.id).limit(200))
        rng.shuffle(customers)
        # The first leads come from the manager's own visits that found interest, as in the field.
        interested = list(Visit.select().where(Visit.user == manager.id, Visit.outcome == "interested")
                          .order_by(Visit.made_at.desc(), Visit.id).limit(4))
        for k in range(10):
            product = catalogue[rng.randrange(len(catalogue))]
            data = {"client_uuid": str(uuid_from(rng)), "product": product.id,
                    "source": LEAD_SOURCES_WEIGHTED.pick(rng)}
            visit = interested[k] if k < len(interested) else None
            if visit is not None:
                data.update(customer=visit.customer_id, visit=visit.id, source="visit")
            elif k < 8 and customers:
                data["customer"] = customers.pop().id
            else:
                data.update(name=rng.choice(NEW_PEOPLE) + rng.choice("明华军芳秀英"),
                            phone="13" + "".join(str(rng.randrange(10)) for _ in range(9)), confirmed="1")
            if product.kind in ("deposit", "loan"):
                top = product.amount_limit_wan or 30
                data["amount"] = str(rng.randint(1, int(min(top, 30))))
            fate = LEAD_FATES.pick(rng)
            age = rng.randint(10, 56)
            if visit is not None:  # captured on the day of the visit
                age = (clock.today() - clock.to_local(visit.made_at).date()).days
                if fate == "stale" and age < 9:
                    fate = "contacted"
            try:
                with _Past(age):
                    lead, _ = Lead.capture(manager, data)
            except Refused as refused:  # an open lead for the same product already: the app refuses it too
                if refused.code != CONFLICT:
                    raise
                continue
            written += 1
            steps = {"won": ["contacted", "qualified", "won"], "lost": ["contacted", "lost"],
                     "qualified": ["contacted", "qualified"], "contacted": ["contacted"],
                     "new": [], "stale": ["contacted"]}[fate]
            # Open leads were touched lately, stale ones not for 8 days or more.
            last = rng.randint(8, min(age, 20)) if fate == "stale" else rng.randint(0, min(age, 6))
            days = sorted(rng.sample(range(last, age), len(steps)) if len(steps) <= age - last
                          else [last] * len(steps), reverse=True)
            for to, ago in zip(steps, days):
                with _Past(ago):
                    if to == "won":
                        amount = data.get("amount") or None
                        # Someone new who signs gets an archive in one of the manager's villages.
                        home = Territory.visible_to(manager).order_by(Territory.path.desc()).first()
                        lead.move(manager, "won", amount=amount, won_on=clock.today(),
                                  reference=f"6228{rng.randrange(10**8):08d}" if rng.random() < .7 else None,
                                  archive={"territory": home.id if home else None, "link": "new"})
                    elif to == "lost":
                        lead.move(manager, "lost", reason=rng.choice(DEFAULT_LOST_REASONS))
                    else:
                        lead.move(manager, to)
    return written


def uuid_from(rng):
    """A UUID drawn from the seed, so the same seed writes the same leads."""
    import uuid

    return uuid.UUID(int=rng.getrandbits(128), version=4)


# --- 8 weeks of visits and follow-ups (issue 8) ------------------------------------------
# FIELD-NOTES: 12 households a visit day, 3 days a week (≈ 36 a week per manager), daylight.
VISIT_WEEKS = 8
VISIT_DAYS_A_WEEK = 3
HOUSEHOLDS_A_DAY = 12
DEMO_OUTCOMES = (("met", 46), ("not_home", 22), ("interested", 14), ("refused", 6), ("signed", 8),
                 ("moved", 1))
DEMO_RESULTS = (("pitched", 50), ("interested", 25), ("declined", 18), ("signed", 7))
DEMO_NOTES = {
    "met": ["家里种了十几亩茶，今年收成还行", "儿子在外务工，老人在家", "了解了一下黔农云，回头让孙子帮忙装",
            "问了社保代缴的事", ""],
    "not_home": ["家里没人，邻居说上山采茶了", "锁门了，下次早点来", ""],
    "interested": ["对节节高感兴趣，想等茶叶款到了再存", "想贷款扩大养殖，下周带材料来", "问月月红利率"],
    "refused": ["说已经在别的银行办了", "不愿意多谈", ""],
    "signed": ["现场开通了黔农云", "签了节节高", "办理了社保代缴"],
    "moved": ["全家搬到县城了"],
}


def _weighted(rng, pairs):
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def visit_history(users, products, rng, weeks=VISIT_WEEKS):
    """Each manager's last 8 weeks of check-ins, written through Visit.check_in.

    Visit days are 3 weekdays a week, 12 households a day in one walk through the
    nearest not-yet-visited customers, from 9:00 with a lunch break, every visit
    15–35 minutes after the last. Most fixes are a few metres from the door; some
    are taken down the road (unverified). A visit asking for a follow-up creates
    one; follow-ups due before today are mostly done.
    """
    from app.models.scope import assigned_territory_ids
    from app.models.visit import Fix, FollowUp, Visit

    today = clock.today()
    now = clock.now()
    monday, _ = clock.week_bounds(today)
    product_ids = [p.id for p in (products.values() if isinstance(products, dict) else products)]
    written = 0
    managers = sorted((u for u in users.values() if u.role == "manager"), key=lambda u: u.username)
    for manager in managers:
        people = list(Customer.select(Customer.id, Customer.lat, Customer.lng)
                      .where(Customer.territory.in_(assigned_territory_ids(manager, today)),
                             Customer.status == "active", Customer.consent, Customer.lat.is_null(False))
                      .order_by(Customer.id).tuples())
        if not people:
            continue
        coords = np.array([(lat, lng) for _, lat, lng in people])
        seen_at = np.full(len(people), -1)  # week index of each customer's last visit
        for week in range(weeks, -1, -1):
            week_monday = monday - dt.timedelta(weeks=week)
            for day in sorted(rng.sample(range(5), VISIT_DAYS_A_WEEK)):
                date = week_monday + dt.timedelta(days=day)
                if date > today:
                    continue
                # Start at a customer not yet visited this week; walk to the nearest next.
                fresh = np.flatnonzero(seen_at != week)
                if not len(fresh):
                    break
                current = fresh[rng.randrange(len(fresh))]
                local = dt.datetime.combine(date, dt.time(9, rng.randrange(0, 30)))
                for _ in range(HOUSEHOLDS_A_DAY):
                    made_at = (local - dt.timedelta(hours=8))  # Asia/Shanghai is UTC+8 all year
                    if made_at > now:
                        break
                    seen_at[current] = week
                    written += _demo_check_in(Visit, Fix, manager, people[current], made_at, rng, product_ids)
                    local += dt.timedelta(minutes=rng.randint(15, 35))
                    if 12 <= local.hour < 14:
                        local = local.replace(hour=14, minute=rng.randrange(0, 20))
                    if local.hour >= 18:
                        break
                    fresh = np.flatnonzero(seen_at != week)
                    if not len(fresh):
                        break
                    d = ((coords[fresh] - coords[current]) ** 2).sum(axis=1)
                    current = fresh[int(np.argmin(d))]
        # Follow-ups of the past are mostly done by now; recent and coming ones stay open.
        for follow in FollowUp.select().where((FollowUp.user == manager.id) & FollowUp.done_at.is_null()
                                              & (FollowUp.due_on < today)):
            if rng.random() < 0.93:
                follow.mark_done()
    return {"visits": written, "follow_ups": FollowUp.select().count()}


def _demo_check_in(Visit, Fix, manager, person, made_at, rng, product_ids):
    customer_id, lat, lng = person
    if rng.random() < 0.12:  # taken down the road, or before reaching the door
        metres, accuracy = rng.uniform(180, 900), rng.uniform(8, 60)
    else:
        metres, accuracy = abs(rng.gauss(0, 18)), rng.uniform(4, 35)
    bearing = rng.uniform(0, 2 * math.pi)
    fix = Fix(lat + metres * math.cos(bearing) / 110_840,
              lng + metres * math.sin(bearing) / (110_840 * math.cos(math.radians(lat))),
              round(accuracy, 1), made_at - dt.timedelta(seconds=rng.randint(2, 40)))
    outcome = _weighted(rng, DEMO_OUTCOMES)
    products = []
    if outcome in ("met", "interested", "signed") and rng.random() < 0.6:
        for pid in rng.sample(product_ids, k=min(len(product_ids), rng.choice((1, 1, 2)))):
            products.append((pid, "signed" if outcome == "signed" else _weighted(rng, DEMO_RESULTS[:3])))
    follow_up = None
    if outcome in ("interested", "signed", "not_home") or rng.random() < 0.08:
        follow_up = clock.to_local(made_at).date() + dt.timedelta(days=rng.choice((2, 3, 5, 7, 10, 14, 21)))
    import uuid

    Visit.check_in(manager, customer_id, fix, made_at, str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   outcome=outcome, products=products, note=rng.choice(DEMO_NOTES[outcome]),
                   next_follow_up_on=follow_up, now=made_at + dt.timedelta(seconds=rng.randint(1, 20)))
    return 1
