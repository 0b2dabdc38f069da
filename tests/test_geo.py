"""app/geo.py: datums, checks, areas and placement, without a database."""
import json
import math

import pytest
import shapely
from shapely.geometry import Polygon

from app import geo


def square(lng0, lat0, lng1, lat1, holes=()):
    ring = [[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]
    return {"type": "Polygon", "coordinates": [ring, *holes]}


def codes(problems):
    return [p.code for p in problems]


def test_gcj02_forward_matches_the_published_reference():
    # Tiananmen: a widely quoted pair for the public formula.
    lng, lat = geo.wgs84_to_gcj02(116.391349, 39.907375)
    assert geo.distance_m(lng, lat, 116.397590, 39.908779) < 2  # the reference is given to 1e-6°
    # The shift in a mountain county is a few hundred metres, never zero.
    assert 100 < geo.distance_m(107.6, 28.9, *geo.wgs84_to_gcj02(107.6, 28.9)) < 1000


@pytest.mark.parametrize("lng,lat", [(107.6, 28.9), (116.39, 39.9), (87.6, 43.8), (121.47, 31.23),
                                     (110.3, 18.3), (126.6, 45.75)])
def test_gcj02_inverse_is_below_a_centimetre(lng, lat):
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lng, lat))
    assert geo.distance_m(lng, lat, *back) < 0.01


def test_areas_in_m2_mu_and_km2():
    # 0.01° × 0.01° at 28.9°N: 1111.95 m (lat, on the sphere ~1105.8 m on the ellipsoid) × 974 m.
    shape, problems = geo.check_geometry(square(107.60, 28.90, 107.61, 28.91))
    assert problems == []
    m2 = geo.area_m2(shape)
    lat_m = 110_800 * 0.01 * 1.0  # metres per 0.01° of latitude near 29°N, ±0.3 %
    lng_m = 111_320 * 0.01 * math.cos(math.radians(28.905))
    assert m2 == pytest.approx(lat_m * lng_m, rel=0.005)
    assert geo.area_mu(m2) == pytest.approx(m2 * 15 / 10000)
    assert geo.area_km2(m2) == pytest.approx(m2 / 1e6)


def test_a_hole_is_not_counted_in_the_area():
    hole = [[107.602, 28.902], [107.602, 28.904], [107.604, 28.904], [107.604, 28.902], [107.602, 28.902]]
    whole, _ = geo.check_geometry(square(107.60, 28.90, 107.61, 28.91))
    holed, problems = geo.check_geometry(square(107.60, 28.90, 107.61, 28.91, [hole]))
    assert problems == []
    assert geo.area_m2(holed) == pytest.approx(geo.area_m2(whole) * 0.96, rel=1e-3)


@pytest.mark.parametrize("geometry,code", [
    ({"type": "Point", "coordinates": [107.6, 28.9]}, "bad_type"),
    ({"type": "Polygon", "coordinates": "x"}, "bad_coordinates"),
    (square(28.90, 107.60, 28.91, 107.61), "swapped"),
    (square(190, 28.90, 191, 28.91), "out_of_range"),
    (square(2.0, 48.8, 2.1, 48.9), "outside_china"),
    ({"type": "Polygon", "coordinates": [[[107.6, 28.9], [107.6, 28.9]]]}, "too_few_points"),
    ({"type": "Polygon", "coordinates": [[[107.6, 28.9], [107.61, 28.9], [107.61, 28.91], [107.6, 28.91]]]},
     "not_closed"),
    ({"type": "Polygon", "coordinates": [[[107.6, 28.9], [107.61, 28.91], [107.61, 28.9], [107.6, 28.91],
                                          [107.6, 28.9]]]}, "invalid"),
])
def test_bad_shapes_are_named(geometry, code):
    shape, problems = geo.check_geometry(geometry)
    assert shape is None
    assert codes(problems) == [code]
    assert str(problems[0])  # every problem has a message


def test_self_intersection_names_the_place():
    bowtie = {"type": "Polygon", "coordinates": [[[107.6, 28.9], [107.61, 28.91], [107.61, 28.9],
                                                  [107.6, 28.91], [107.6, 28.9]]]}
    _, problems = geo.check_geometry(bowtie)
    assert "107.605000" in str(problems[0]) and "28.905000" in str(problems[0])


def test_inside_parent_and_overlap_allow_a_small_tolerance():
    parent = ("Z", Polygon([(107.60, 28.90), (107.62, 28.90), (107.62, 28.92), (107.60, 28.92)]))
    sibling = ("V2", Polygon([(107.61, 28.90), (107.62, 28.90), (107.62, 28.92), (107.61, 28.92)]))
    # Sticks out of the parent and into V2 by 0.00001° (about 1 m): within tolerance.
    shape, problems = geo.validate(square(107.59999, 28.90, 107.61001, 28.92), parent=parent,
                                   siblings=[sibling])
    assert problems == []
    # 100 m into the sibling and out of the parent: both named.
    shape, problems = geo.validate(square(107.599, 28.90, 107.611, 28.92), parent=parent, siblings=[sibling])
    assert codes(problems) == ["outside_parent", "overlap"]
    assert "V2" in str(problems[1]) and "Z" in str(problems[0])


def test_a_gcj02_shape_comes_back_to_wgs84():
    wgs = square(107.60, 28.90, 107.61, 28.91)
    ring = [list(geo.wgs84_to_gcj02(lng, lat)) for lng, lat in wgs["coordinates"][0]]
    shape, problems = geo.validate({"type": "Polygon", "coordinates": [ring]}, datum="gcj02")
    assert problems == []
    for (lng, lat), (x, y) in zip(wgs["coordinates"][0], shape.exterior.coords):
        assert geo.distance_m(lng, lat, x, y) < 0.01


def test_placement_takes_the_deepest_territory_and_respects_holes():
    hole = [(107.602, 28.902), (107.602, 28.904), (107.604, 28.904), (107.604, 28.902)]
    zone = Polygon([(107.60, 28.90), (107.62, 28.90), (107.62, 28.92), (107.60, 28.92)])
    west = Polygon([(107.60, 28.90), (107.61, 28.90), (107.61, 28.92), (107.60, 28.92)], [hole])
    east = Polygon([(107.61, 28.90), (107.62, 28.90), (107.62, 28.92), (107.61, 28.92)])
    group = Polygon([(107.60, 28.90), (107.61, 28.90), (107.61, 28.91), (107.60, 28.91)], [hole])
    placer = geo.Placer([(1, 1, zone), (2, 2, west), (3, 2, east), (4, 3, group)])
    points = {
        (107.605, 28.915): 2,   # west, above the group
        (107.605, 28.905): 4,   # the group, deepest
        (107.603, 28.903): 1,   # in the hole of west and group: the zone
        (107.615, 28.91): 3,    # east
        (107.61, 28.915): 2,    # on the west/east border: equal depth, equal size, lowest id
        (107.60, 28.905): 4,    # on the outer edge: still inside (borders count)
        (107.70, 28.90): 0,     # outside every territory
    }
    lngs, lats = zip(*points)
    assert list(placer.place(lngs, lats)) == list(points.values())
    assert placer.place_one(107.615, 28.91) == 3
    assert placer.place_one(None, None) is None


# --- the local plane ----------------------------------------------------------------------

def test_the_local_plane_agrees_with_the_exact_figures_over_a_county():
    seat = (107.6, 28.9)
    east = geo.from_plane(shapely.Point(3000, 4000), seat)
    assert geo.plane_distance_m(seat, (east.x, east.y)) == pytest.approx(5000, rel=1e-3)
    assert geo.plane_distance_m(seat, (east.x, east.y)) == pytest.approx(
        geo.distance_m(*seat, east.x, east.y), rel=5e-3)
    lng, lat = geo.moved(*seat, 250, math.pi / 2)  # due east
    assert lat == seat[1] and geo.plane_distance_m(seat, (lng, lat)) == pytest.approx(250)
    square_km = geo.from_plane(shapely.box(0, 0, 1000, 1000), seat)
    assert geo.plane_area_m2(square_km) == pytest.approx(1e6, rel=1e-3)
    assert geo.plane_area_m2(square_km) == pytest.approx(geo.area_m2(square_km), rel=5e-3)


def test_a_polygon_is_written_counter_clockwise_with_six_decimals():
    clockwise = Polygon([(107.1234567, 28.9), (107.1234567, 28.91), (107.13, 28.91), (107.13, 28.9)])
    data = json.loads(geo.polygon_geojson(clockwise))
    ring = data["coordinates"][0]
    assert data["type"] == "Polygon" and ring[0] == ring[-1] and ring[0] == [107.123457, 28.9]
    assert Polygon(ring).exterior.is_ccw
