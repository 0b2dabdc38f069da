"""What the map page needs: the tile provider from config, and the compact map data.

Tiles are configuration, never code: a provider is a URL template, an attribution,
a key and the datum its tiles are drawn in. Everything is stored in WGS-84; for a
provider that draws in GCJ-02 (Amap, Tencent) the map data is shifted on the way
out, so points land on the right house, and drawn shapes come back declared
gcj02 and are shifted back before they are checked and stored.
"""
import json
import os
from urllib.parse import urlsplit

import numpy as np
from flask import current_app

from app import geo
from app.models import Customer, Territory, Visit
from app.models.setting import for_branch
from app.models.team import default_period

# Ready-made providers; MAP_TILE_URL and friends override any field.
PROVIDERS = {
    # 天地图: CGCS2000, which is WGS-84 to within centimetres; needs a (free) key.
    "tianditu": {
        "url": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
               "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
               "&TILECOL={x}&tk={key}",
        "labels": "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                  "&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                  "&TILECOL={x}&tk={key}",
        "subdomains": "01234567", "attribution": "© 天地图", "datum": "wgs84", "max_zoom": 18,
    },
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "subdomains": "",
        "attribution": "© OpenStreetMap contributors", "datum": "wgs84", "max_zoom": 19,
    },
    # 高德 road map: GCJ-02, so the data is shifted for it.
    "amap": {
        "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
               "&x={x}&y={y}&z={z}", "subdomains": "1234",
        "attribution": "© 高德地图", "datum": "gcj02", "max_zoom": 18,
    },
}
FIELDS = {"url": "MAP_TILE_URL", "labels": "MAP_TILE_LABELS_URL", "attribution": "MAP_TILE_ATTRIBUTION",
          "subdomains": "MAP_TILE_SUBDOMAINS", "datum": "MAP_TILE_DATUM"}
CHINA_CENTRE = (104.0, 35.0)  # where the map opens when the user has no territory yet
PLACES = 5  # decimal places of a degree sent to the map: about 1 m


def config_defaults():
    """Config keys with their environment values, for create_app."""
    values = {"MAP_TILES": os.environ.get("MAP_TILES", ""), "MAP_TILE_KEY": os.environ.get("MAP_TILE_KEY", "")}
    for key in FIELDS.values():
        values[key] = os.environ.get(key, "")
    return values


def tile_provider(config=None):
    """The configured provider as a dict (name, url, labels, subdomains, attribution, datum,
    max_zoom), or None when the map has no tiles."""
    config = config if config is not None else current_app.config
    name = (config.get("MAP_TILES") or "").strip().lower()
    if not name or name == "none":
        return None
    provider = dict(PROVIDERS.get(name, {"url": "", "subdomains": "", "attribution": "", "datum": "wgs84",
                                         "max_zoom": 18}))
    provider["name"] = name
    for field, key in FIELDS.items():
        if config.get(key):
            provider[field] = config[key]
    if provider.get("datum") not in geo.DATUMS:
        raise ValueError(f"MAP_TILE_DATUM must be one of {geo.DATUMS}")
    if not provider.get("url"):
        return None
    secret = config.get("MAP_TILE_KEY") or ""
    for field in ("url", "labels"):
        if provider.get(field):
            provider[field] = provider[field].replace("{key}", secret)
    return provider


def tile_origins(config):
    """The https origins tiles come from, for the Content-Security-Policy's img-src."""
    provider = tile_provider(config)
    if provider is None:
        return []
    origins = []
    for template in (provider.get("url"), provider.get("labels")):
        if not template:
            continue
        for sub in provider.get("subdomains") or [""]:
            parts = urlsplit(template.replace("{s}", sub))
            origin = f"{parts.scheme}://{parts.netloc}"
            if parts.netloc and origin not in origins:
                origins.append(origin)
    return origins


def display_datum():
    provider = tile_provider()
    return provider["datum"] if provider else "wgs84"


# --- map data -----------------------------------------------------------------------------------

def _shift(lngs, lats, datum):
    lngs, lats = np.asarray(lngs, dtype=float), np.asarray(lats, dtype=float)
    if datum == "gcj02" and len(lngs):
        lngs, lats = geo.wgs84_to_gcj02(lngs, lats)
        lngs, lats = np.asarray(lngs, dtype=float), np.asarray(lats, dtype=float)
    return np.round(lngs, PLACES), np.round(lats, PLACES)


def display_geometry(geometry, datum):
    """A GeoJSON geometry dict with coordinates shifted for display and rounded (a copy)."""
    def walk(value):
        if value and isinstance(value[0], (int, float)):
            return value
        if value and isinstance(value[0], (list, tuple)) and value[0] and isinstance(value[0][0], (int, float)):
            ring = np.array([p[:2] for p in value], dtype=float)
            lngs, lats = _shift(ring[:, 0], ring[:, 1], datum)
            return [[_num(x), _num(y)] for x, y in zip(lngs.tolist(), lats.tolist())]
        return [walk(v) for v in value]
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _num(value):
    """A rounded degree as the shortest JSON number."""
    return int(value) if value == int(value) else value


def display_shape(shape, datum):
    """A shapely geometry (WGS-84) as a display GeoJSON dict."""
    import shapely.geometry

    return display_geometry(shapely.geometry.mapping(shape), datum)


def _ints(degrees):
    return np.rint(np.asarray(degrees, dtype=float) * 10 ** PLACES).astype(np.int64)


def _deltas(values):
    """Each value minus the one before it (the first as it is)."""
    return np.diff(np.asarray(values, dtype=np.int64), prepend=0).tolist() if len(values) else []


def encode_geometry(geometry, datum):
    """A Polygon or MultiPolygon as [polygon [ring [dx, dy, dx, dy, …]]]: 1e-5 degrees in the
    display datum, each point as its difference from the one before (static/js/map.js decodes)."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    encoded = []
    for rings in polygons:
        parts = []
        for ring in rings:
            points = np.array([p[:2] for p in ring], dtype=float)
            lngs, lats = _shift(points[:, 0], points[:, 1], datum)
            pairs = np.column_stack([_ints(lngs), _ints(lats)])
            parts.append(np.diff(pairs, axis=0, prepend=[[0, 0]]).ravel().tolist())
        encoded.append(parts)
    return encoded


def decode_geometry(encoded):
    """encode_geometry's inverse, in degrees (for tests and tools)."""
    polygons = []
    for rings in encoded:
        parts = []
        for flat in rings:
            pairs = np.cumsum(np.array(flat, dtype=np.int64).reshape(-1, 2), axis=0) / 10 ** PLACES
            parts.append(pairs.tolist())
        polygons.append(parts)
    return {"type": "Polygon", "coordinates": polygons[0]} if len(polygons) == 1 else {
        "type": "MultiPolygon", "coordinates": polygons}


def coverage_thresholds(user):
    """(green, amber): the coverage percentages from which the user's bank colours a territory
    green or amber (the defaults above any bank)."""
    values = for_branch(user.branch_id, ("coverage_green_pct", "coverage_amber_pct"))
    return values["coverage_green_pct"], values["coverage_amber_pct"]


def coverage_band(visited, counted, green, amber):
    """'h', 'm' or 'l' (green, amber, red) for visited of counted; None when nothing is counted."""
    if not counted:
        return None
    # Whole numbers: 4 of 5 is exactly 80 %, never 79.999…
    percent = visited * 100
    return "h" if percent >= green * counted else "m" if percent >= amber * counted else "l"


def map_data(user, datum="wgs84", period=None):
    """The map's data for a user, compact: what the scope lets them see, and no more.

    period is a team.Period: the coverage the colours show (the bank's judging period,
    setting coverage_period, by default), named in the payload's "period" [start, last day].
    Territories: {i id, p parent id, k kind, n name, c customers in the subtree,
    v [visited, counted] in the period, b its coverage colour band (h green, m amber, l red, by
    the bank's thresholds; null when nothing is counted), g polygons (see encode_geometry)}. Customers,
    column by column in id order: i ids, x/y longitude/latitude in 1e-5 degrees, each
    of the three as differences from the previous one (gzip halves them then); t tier
    letters (g/m/p), v 1 when visited in the period (a verified visit, as coverage counts
    it). No phone, no ID number, no name: a tap fetches the customer's card, scoped again.
    """
    territories = list(Territory.visible_to(user)
                       .select(Territory.id, Territory.parent, Territory.kind, Territory.name, Territory.geometry)
                       .where(Territory.live()).order_by(Territory.path).tuples())
    shown = [row[0] for row in territories]
    period = period or default_period(user)
    counts = Customer.counts_by_territory(shown, Customer.visible_to(user))
    coverage = Visit.coverage(user, period.start, period.end, by="territory", among=shown, as_of=period.as_of)
    ids, xs, ys, tiers, seen = [], [], [], [], []
    for cid, lng, lat, tier, is_visited in Visit.map_dots(user, period.start, period.end):
        ids.append(cid)
        xs.append(lng)
        ys.append(lat)
        tiers.append(tier[0])
        seen.append("1" if is_visited else "0")
    lngs, lats = _shift(xs, ys, datum)
    green, amber = coverage_thresholds(user)
    rows = []
    shown = set(shown)
    for tid, parent, kind, name, geometry in territories:
        visited, counted, _ = coverage[tid]
        rows.append({"i": tid, "p": parent if parent in shown else None, "k": kind, "n": name,
                     "c": counts.get(tid, 0), "v": [visited, counted],
                     "b": coverage_band(visited, counted, green, amber),
                     "g": encode_geometry(json.loads(geometry), datum) if geometry else None})
    return {
        "datum": datum,
        # Coverage colours only once a visit in the period exists; until then colour by kind.
        "by": "coverage" if any(figure[0] for figure in coverage.values()) else "kind",
        "period": [period.start.isoformat(), period.last_day.isoformat()],
        "t": rows,
        "c": {"i": _deltas(ids), "x": _deltas(_ints(lngs)), "y": _deltas(_ints(lats)),
              "t": "".join(tiers), "v": "".join(seen)},
    }
