"""The map of the demo county before it meets the database: plain shapely, no rows.

The map is made in three steps so that every boundary is shared exactly: a fine
Voronoi mesh is clipped to the county outline and snapped to a 1e-6° grid once;
villages grow over that mesh from seed cells; zones and 村民组 are unions of the
same cells. Children therefore lie inside their parents and siblings meet edge to
edge without slivers. Distances and areas are on geo's local plane around the seat.
"""
import heapq
import math

import numpy as np
import shapely
import shapely.affinity

from app import geo
from app.demo.common import GRID, SEAT_LAT, SEAT_LNG

# The layout: ~40 km county, a ~5 km county seat with 10 streets, 50 villages.
COUNTY_RADIUS_M = 20000
TOWN_RADIUS_M = 2600
MESH_RURAL = 3600
MESH_TOWN = 420
STREETS = 10
VILLAGES = 50
RURAL_ZONES = 10
STREET_COST = 1.6  # streets spread more slowly than villages, so the town stays compact


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
        self.outline = shapely.set_precision(geo.from_plane(outline_m, (SEAT_LNG, SEAT_LAT)), GRID)
        clipped = shapely.intersection(geo.from_plane(cells_m, (SEAT_LNG, SEAT_LAT)), self.outline, grid_size=GRID)
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
            cost = geo.plane_distance_m(self.xy[i], self.xy[j]) * rng.uniform(0.55, 1.45)
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
            if all(geo.plane_distance_m(xy[c], xy[o]) >= spacing for o in chosen):
                chosen.append(c)
                if len(chosen) == count:
                    return chosen
        spacing *= 0.93


def angle(point, centre):
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
        dist = [geo.plane_distance_m(p, seat) for p in mesh.xy]
        town = [c for c, d in enumerate(dist) if d < 1600]
        rural = [c for c, d in enumerate(dist) if d > 4200]
        town_area = math.pi * 1600 ** 2
        rural_area = geo.plane_area_m2(mesh.outline) - math.pi * 4200 ** 2
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
        streets = sorted(range(STREETS), key=lambda i: angle(centres[i], seat))
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
                key=lambda v: min(geo.plane_distance_m(centres[v], centres[s]) for s in zone_seeds)))
        members = [[s] for s in zone_seeds]
        owner = {s: z for z, s in enumerate(zone_seeds)}
        while len(owner) < VILLAGES:
            grown = False
            for z in sorted(range(RURAL_ZONES), key=lambda z: (len(members[z]), z)):
                frontier = sorted({n for v in members[z] for n in touching[v]
                                   if n >= STREETS and n not in owner})
                if frontier:
                    pick = min(frontier, key=lambda n: geo.plane_distance_m(centres[n], centres[zone_seeds[z]]))
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

        suburb = min(range(RURAL_ZONES), key=lambda z: geo.plane_distance_m(centre_of(members[z]), seat))
        rest = sorted((z for z in range(RURAL_ZONES) if z != suburb),
                      key=lambda z: (angle(centre_of(members[z]), seat) - angle(centre_of(members[suburb]), seat))
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
            sources = _spread(cells, count, 0.5 * math.sqrt(geo.plane_area_m2(self.shapes[unit]) / count),
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
        per_lng, per_lat = geo.metres_per_degree(cy)
        for size in (1.0, 0.7, 0.5, 0.35, 0.25):
            w = 160 * size / per_lng
            h = 110 * size / per_lat
            rect = shapely.set_precision(shapely.affinity.rotate(
                shapely.box(cx - w, cy - h, cx + w, cy + h), 23, origin=(cx, cy)), GRID)
            if street.contains(shapely.buffer(rect, 2e-5)):
                return host, rect
        return None

