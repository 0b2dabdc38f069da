"""Coordinates, datums, polygons, areas and placement (pure functions, no database).

Everything we store is WGS-84 (DESIGN.md, *Coordinates*). GCJ-02 only comes in
from files that declare it and goes out for tiles that draw in it.
"""
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import shapely
from flask_babel import lazy_gettext as _l
from shapely.geometry import shape as to_shape
from shapely.strtree import STRtree

# --- WGS-84 <-> GCJ-02 ---------------------------------------------------------------
# The public forward formula, on the Krasovsky 1940 ellipsoid it was published with.
_A = 6378245.0
_EE = 0.00669342162296594323
DATUMS = ("wgs84", "gcj02")


def _shift(lng, lat):
    """GCJ-02 offset (dlng, dlat) in degrees at a WGS-84 position; works on arrays too."""
    x = np.asarray(lng, dtype=float) - 105.0
    y = np.asarray(lat, dtype=float) - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    radlat = np.asarray(lat, dtype=float) / 180.0 * pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlng, dlat


def _scalar(value):
    return float(value) if np.ndim(value) == 0 else value


def wgs84_to_gcj02(lng, lat):
    """(lng, lat) WGS-84 → GCJ-02. Callers only pass positions in China (we reject the rest)."""
    dlng, dlat = _shift(lng, lat)
    return _scalar(np.asarray(lng) + dlng), _scalar(np.asarray(lat) + dlat)


def gcj02_to_wgs84(lng, lat, tolerance_deg=1e-10, max_iterations=30):
    """GCJ-02 → WGS-84 by fixed-point iteration on the forward formula.

    The usual one-step inverse is ~1 m off; iterating until the forward image matches
    the input to 1e-10° (~1 cm/100) brings it far below a centimetre.
    """
    g_lng = np.asarray(lng, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lng, w_lat = g_lng.copy(), g_lat.copy()
    for _ in range(max_iterations):
        f_lng, f_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = np.asarray(f_lng) - g_lng, np.asarray(f_lat) - g_lat
        w_lng, w_lat = w_lng - e_lng, w_lat - e_lat
        if np.max(np.abs(e_lng), initial=0) < tolerance_deg and np.max(np.abs(e_lat), initial=0) < tolerance_deg:
            break
    return _scalar(w_lng), _scalar(w_lat)


def to_wgs84(geometry, datum):
    """A shapely geometry in the declared datum, converted to WGS-84."""
    if datum == "wgs84":
        return geometry
    return shapely.transform(geometry, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))


def distance_m(lng1, lat1, lng2, lat2):
    """Great-circle distance in metres (haversine; enough for the metre-level checks here)."""
    r = 6371008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lng2) - np.asarray(lng1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return _scalar(2 * r * np.arcsin(np.sqrt(h)))



# --- A local plane ------------------------------------------------------------------------
# Over a county the earth is flat enough to draw on: metres east and north of a point, at
# fixed metres per degree. Faster than the exact functions above, for laying out and
# comparing many short distances (the demo county); stored figures use the exact ones.
M_PER_DEG_LAT = 110540.0
M_PER_DEG_LNG_EQUATOR = 111320.0


def metres_per_degree(lat):
    """(metres per degree of longitude, per degree of latitude) at a latitude."""
    return M_PER_DEG_LNG_EQUATOR * math.cos(math.radians(lat)), M_PER_DEG_LAT


def plane_distance_m(a, b):
    """Metres between two (lng, lat) points on the local plane at their mean latitude."""
    (x1, y1), (x2, y2) = a, b
    per_lng, per_lat = metres_per_degree((y1 + y2) / 2)
    return math.hypot((x2 - x1) * per_lng, (y2 - y1) * per_lat)


def plane_area_m2(geometry):
    """Area in m² on the local plane at the geometry's centroid (area_m2 is the exact one)."""
    per_lng, per_lat = metres_per_degree(shapely.centroid(geometry).y)
    return shapely.area(geometry) * per_lng * per_lat


def from_plane(geometry, origin):
    """A geometry drawn in metres east and north of origin (lng, lat), in WGS-84 degrees."""
    per_lng, per_lat = metres_per_degree(origin[1])
    scale = np.array([1 / per_lng, 1 / per_lat])
    offset = np.array(origin)
    return shapely.transform(geometry, lambda xy: xy * scale + offset)


def moved(lng, lat, metres, bearing):
    """(lng, lat) of the point metres away from (lng, lat) towards bearing (radians from north)."""
    per_lng, per_lat = metres_per_degree(lat)
    return lng + metres * math.sin(bearing) / per_lng, lat + metres * math.cos(bearing) / per_lat


def polygon_geojson(polygon, decimals=6):
    """GeoJSON text of a Polygon as we store it: exterior counter-clockwise (RFC 7946), rounded."""
    polygon = shapely.orient_polygons(polygon)
    rings = [polygon.exterior, *polygon.interiors]
    coords = [[[round(x, decimals), round(y, decimals)] for x, y in ring.coords] for ring in rings]
    return json.dumps({"type": "Polygon", "coordinates": coords}, separators=(",", ":"))

# --- Areas ------------------------------------------------------------------------------
# WGS-84 ellipsoid; areas go through the authalic sphere so a local Lambert azimuthal
# equal-area projection keeps them exact whatever the latitude.
_WGS_A = 6378137.0
_WGS_E2 = 0.00669437999014
_E = math.sqrt(_WGS_E2)
_QP = 1 - (1 - _WGS_E2) / (2 * _E) * math.log((1 - _E) / (1 + _E))
_R_AUTHALIC = _WGS_A * math.sqrt(_QP / 2)
SQ_M_PER_MU = 10000 / 15


def _authalic_lat(lat_deg):
    s = np.sin(np.radians(lat_deg))
    q = (1 - _WGS_E2) * (s / (1 - _WGS_E2 * s * s) - 1 / (2 * _E) * np.log((1 - _E * s) / (1 + _E * s)))
    return np.arcsin(np.clip(q / _QP, -1, 1))


def equal_area(geometry):
    """The geometry in metres, in a Lambert azimuthal equal-area projection centred on it."""
    centre = geometry.centroid
    lng0, beta0 = math.radians(centre.x), float(_authalic_lat(centre.y))

    def project(xy):
        lam = np.radians(xy[:, 0]) - lng0
        beta = _authalic_lat(xy[:, 1])
        k = np.sqrt(2 / (1 + math.sin(beta0) * np.sin(beta)
                         + math.cos(beta0) * np.cos(beta) * np.cos(lam)))
        x = _R_AUTHALIC * k * np.cos(beta) * np.sin(lam)
        y = _R_AUTHALIC * k * (math.cos(beta0) * np.sin(beta) - math.sin(beta0) * np.cos(beta) * np.cos(lam))
        return np.column_stack([x, y])

    return shapely.transform(geometry, project)


def area_m2(geometry):
    """Area in square metres of a WGS-84 geometry."""
    if geometry is None or geometry.is_empty:
        return 0.0
    return float(equal_area(geometry).area)


def area_mu(m2):
    return m2 / SQ_M_PER_MU


def area_km2(m2):
    return m2 / 1e6


# --- GeoJSON checks -----------------------------------------------------------------------
# China's bounding box, generous enough for the Nansha islands and the far west.
CHINA = (73.4, 3.8, 135.1, 53.6)  # min lng, min lat, max lng, max lat
# "A small tolerance": shared borders drawn by hand never match to the metre.
TOLERANCE_M2 = 100.0
TOLERANCE_SHARE = 0.005

MESSAGES = {
    "not_object": _l("The geometry is missing or is not a GeoJSON object."),
    "bad_type": _l("The geometry is a %(type)s; only Polygon and MultiPolygon are accepted."),
    "bad_coordinates": _l("The coordinates are not nested lists of numbers (%(where)s)."),
    "out_of_range": _l("Longitude or latitude out of range at %(where)s: %(point)s."),
    "swapped": _l("Latitude and longitude look swapped (%(point)s at %(where)s): "
                  "GeoJSON writes [longitude, latitude]."),
    "outside_china": _l("The shape lies outside China (%(point)s at %(where)s)."),
    "too_few_points": _l("%(where)s has %(n)s points; a ring needs at least 4 (the last repeating the first)."),
    "not_closed": _l("%(where)s is not closed: its last point must repeat its first."),
    "invalid": _l("The shape is not valid: %(reason)s near %(point)s."),
    "empty": _l("The shape has no area."),
    "outside_parent": _l("%(share)s of the shape (%(m2)s m²) lies outside its parent %(parent)s."),
    "overlap": _l("The shape overlaps %(other)s by %(m2)s m²."),
    "too_deep": _l("The file is nested more than %(limit)s levels deep: GeoJSON needs far fewer. "
                   "Export it again from the map program."),
    "bad_property": _l("The feature's %(property)s must be text, not a list or an object."),
}
REASONS = {
    "Self-intersection": _l("its edges cross (self-intersection)"),
    "Ring Self-intersection": _l("a ring touches itself"),
    "Hole lies outside shell": _l("a hole lies outside the outer ring"),
    "Nested shells": _l("one part lies inside another"),
    "Interior is disconnected": _l("the holes cut the shape in pieces"),
    "Nested holes": _l("a hole lies inside another hole"),
    "Duplicate Rings": _l("a ring is repeated"),
    "Too few points": _l("a ring has too few distinct points"),
}
WHERE_OUTER = _l("the outer ring of part %(part)s")
WHERE_HOLE = _l("hole %(hole)s of part %(part)s")
WHERE_POINT = _l("point %(index)s of %(ring)s")


# GeoJSON nests a MultiPolygon's numbers 9 levels below its FeatureCollection; a file nested far
# deeper is refused before Python's own recursion limit turns it into a crash.
MAX_JSON_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH."""


def load_json(text):
    """json.loads for JSON from outside: TooDeep past MAX_JSON_DEPTH levels, ValueError if not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(MAX_JSON_DEPTH) from None
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:  # the nesting, measured without recursion
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise TooDeep(MAX_JSON_DEPTH)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


@dataclass
class Problem:
    """One thing wrong with a shape, said in the user's language when shown."""

    code: str
    params: dict = field(default_factory=dict)

    def __str__(self):
        params = {k: str(v) for k, v in self.params.items()}
        return str(MESSAGES[self.code]) % params


def _point(lng, lat):
    return f"[{lng:.6f}, {lat:.6f}]"


def _ring_name(part, hole):
    if hole == 0:
        return WHERE_OUTER % {"part": part}
    return WHERE_HOLE % {"hole": hole, "part": part}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _in_china(lng, lat):
    return CHINA[0] <= lng <= CHINA[2] and CHINA[1] <= lat <= CHINA[3]


def _polygons(geometry):
    """The list of polygons (each a list of rings) of a Polygon or MultiPolygon, or a Problem."""
    if not isinstance(geometry, dict):
        return Problem("not_object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        return Problem("bad_type", {"type": kind or "?"})
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        return Problem("bad_coordinates", {"where": "coordinates"})
    for p, rings in enumerate(polygons, 1):
        if not isinstance(rings, list) or not rings:
            return Problem("bad_coordinates", {"where": WHERE_OUTER % {"part": p}})
        for h, ring in enumerate(rings):
            if not isinstance(ring, list) or not all(
                    isinstance(pt, list) and len(pt) >= 2 and _number(pt[0]) and _number(pt[1]) for pt in ring):
                return Problem("bad_coordinates", {"where": _ring_name(p, h)})
    return polygons


def check_geometry(geometry):
    """Parse and check a GeoJSON Polygon/MultiPolygon given in WGS-84 or GCJ-02 degrees.

    Returns (shapely geometry or None, [Problem]). The checks here need no neighbour:
    ring shape, number ranges, swapped axes, inside China, and validity.
    """
    polygons = _polygons(geometry)
    if isinstance(polygons, Problem):
        return None, [polygons]
    problems = []
    for p, rings in enumerate(polygons, 1):
        for h, ring in enumerate(rings):
            where = _ring_name(p, h)
            if len(ring) < 4:
                problems.append(Problem("too_few_points", {"where": where, "n": len(ring)}))
            elif ring[0][:2] != ring[-1][:2]:
                problems.append(Problem("not_closed", {"where": where}))
            for i, (lng, lat, *_) in enumerate(ring, 1):
                if -180 <= lng <= 180 and -90 <= lat <= 90 and _in_china(lng, lat):
                    continue
                # Only a bad point is named: formatting the place of every point doubled the time.
                at = WHERE_POINT % {"index": i, "ring": where}
                if not (-180 <= lng <= 180 and -90 <= lat <= 90):
                    if _in_china(lat, lng):
                        problems.append(Problem("swapped", {"point": _point(lng, lat), "where": at}))
                    else:
                        problems.append(Problem("out_of_range", {"point": _point(lng, lat), "where": at}))
                    break
                if not _in_china(lng, lat):
                    code = "swapped" if _in_china(lat, lng) else "outside_china"
                    problems.append(Problem(code, {"point": _point(lng, lat), "where": at}))
                    break
    if problems:
        return None, problems
    shape = to_shape(geometry)
    if not shape.is_valid:
        return None, [_invalid(shape)]
    if shape.is_empty or shape.area == 0:
        return None, [Problem("empty")]
    return shape, []


def _invalid(shape):
    reason = shapely.is_valid_reason(shape)
    match = re.match(r"(.*?)\[([-\d.eE+]+) ([-\d.eE+]+)\]", reason)
    text, point = reason, ""
    if match:
        text, point = match.group(1), _point(float(match.group(2)), float(match.group(3)))
    return Problem("invalid", {"reason": REASONS.get(text.strip(), text), "point": point})


def _allowed_m2(*areas):
    return max(TOLERANCE_M2, TOLERANCE_SHARE * min(areas))


def check_against(shape, parent=None, siblings=()):
    """Problems of a valid WGS-84 shape against its parent and siblings.

    parent is (name, shapely geometry) or None; siblings are (name, shapely geometry).
    """
    problems = []
    own = area_m2(shape)
    if parent is not None and parent[1] is not None:
        outside = area_m2(shape.difference(parent[1]))
        if outside > _allowed_m2(own):
            problems.append(Problem("outside_parent", {
                "share": f"{outside / own:.1%}", "m2": f"{outside:,.0f}", "parent": parent[0]}))
    if siblings:
        names = [name for name, _ in siblings]
        tree = STRtree([geom for _, geom in siblings])
        for index in tree.query(shape, predicate="intersects"):
            other = siblings[int(index)][1]
            overlap = area_m2(shape.intersection(other))
            if overlap > _allowed_m2(own, area_m2(other)):
                problems.append(Problem("overlap", {"other": names[int(index)], "m2": f"{overlap:,.0f}"}))
    return problems


def violations(shape, parent=None, siblings=()):
    """The parts of shape that check_against refuses, as (kind, name, shapely geometry):
    ("outside", parent name, the part outside the parent) and ("overlap", sibling name,
    the shared part). Same pairs and same tolerance as check_against, so the map can
    draw exactly what the words say."""
    parts = []
    own = area_m2(shape)
    if parent is not None and parent[1] is not None:
        outside = shape.difference(parent[1])
        if area_m2(outside) > _allowed_m2(own):
            parts.append(("outside", parent[0], outside))
    for name, other in siblings:
        if other is None or not shape.intersects(other):
            continue
        shared = shape.intersection(other)
        if area_m2(shared) > _allowed_m2(own, area_m2(other)):
            parts.append(("overlap", name, shared))
    return parts


def validate(geometry, datum="wgs84", parent=None, siblings=()):
    """The one check of a territory's shape, for import and for drawing.

    geometry is a GeoJSON dict in the declared datum; parent and siblings are already
    WGS-84 (name, shape) pairs. Returns (WGS-84 shapely geometry or None, [Problem]).
    """
    shape, problems = check_geometry(geometry)
    if problems:
        return None, problems
    shape = to_wgs84(shape, datum)
    if not shape.is_valid:  # a shift of a few hundred metres can still pinch a thin sliver
        return None, [_invalid(shape)]
    return shape, check_against(shape, parent, siblings)


def dumps(shape):
    """GeoJSON text of a shapely geometry."""
    return json.dumps(shapely.geometry.mapping(shape), separators=(",", ":"))


def loads(text):
    return to_shape(json.loads(text)) if text else None


# --- Placement ------------------------------------------------------------------------------
class Placer:
    """Finds the deepest territory containing each point, with one STRtree over them all.

    territories are (id, depth, shapely geometry). A point on a border belongs to the
    deepest territory touching it; between equal depths the smallest, then the lowest id,
    so the answer never depends on the order of the rows.
    """

    def __init__(self, territories):
        rows = [(tid, depth, geom) for tid, depth, geom in territories if geom is not None]
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.depths = np.array([r[1] for r in rows], dtype=np.int64)
        self.areas = np.array([r[2].area for r in rows], dtype=float)
        self.tree = STRtree([r[2] for r in rows]) if rows else None

    def place(self, lngs, lats):
        """Territory id per point (0 where none contains it)."""
        lngs = np.asarray(lngs, dtype=float)
        lats = np.asarray(lats, dtype=float)
        result = np.zeros(len(lngs), dtype=np.int64)
        if self.tree is None or len(lngs) == 0:
            return result
        points = shapely.points(lngs, lats)
        point_index, geom_index = self.tree.query(points, predicate="intersects")
        if len(point_index) == 0:
            return result
        # Best candidate first for each point: deepest, then smallest, then lowest id.
        order = np.lexsort((self.ids[geom_index], self.areas[geom_index],
                            -self.depths[geom_index], point_index))
        point_index, geom_index = point_index[order], geom_index[order]
        first = np.ones(len(point_index), dtype=bool)
        first[1:] = point_index[1:] != point_index[:-1]
        result[point_index[first]] = self.ids[geom_index[first]]
        return result

    def place_one(self, lng, lat):
        if lng is None or lat is None:
            return None
        found = int(self.place([lng], [lat])[0])
        return found or None
