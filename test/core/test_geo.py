"""Tests of the WGS84 <-> map ENU conversions."""

import math

import numpy as np
import pytest

from uav_flood.core.geo import distance_m, GeoError, GeoPoint, LocalFrame

ORIGIN = GeoPoint(29.7604, -95.3698, 15.0)  # Houston, where the FloodNet imagery was taken


def test_origin_maps_to_zero() -> None:
    frame = LocalFrame(ORIGIN)
    assert frame.point_to_enu(ORIGIN) == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)


@pytest.mark.parametrize('east,north,up', [(100.0, 0.0, 20.0), (0.0, -250.0, 5.0), (-3e3, 4e3, 0)])
def test_round_trip_and_distance(east: float, north: float, up: float) -> None:
    frame = LocalFrame(ORIGIN)
    point = frame.enu_to_point(east, north, up)
    assert point.alt_m == pytest.approx(ORIGIN.alt_m + up)
    # the azimuthal equidistant projection keeps the distance from the origin exact
    assert distance_m(ORIGIN, point) == pytest.approx(math.hypot(east, north), abs=1e-3)
    assert frame.point_to_enu(point) == pytest.approx((east, north, up), abs=1e-6)


def test_east_is_east_and_north_is_north() -> None:
    frame = LocalFrame(ORIGIN)
    east = frame.enu_to_point(50.0, 0.0)
    north = frame.enu_to_point(0.0, 50.0)
    assert east.lon_deg > ORIGIN.lon_deg and east.lat_deg == pytest.approx(ORIGIN.lat_deg)
    assert north.lat_deg > ORIGIN.lat_deg and north.lon_deg == pytest.approx(ORIGIN.lon_deg)


def test_vectorised() -> None:
    frame = LocalFrame(ORIGIN)
    e = np.linspace(-500, 500, 11)
    n = np.linspace(300, -300, 11)
    lat, lon, alt = frame.to_geodetic(e, n, 10.0)
    e2, n2, u2 = frame.to_enu(lat, lon, alt)
    np.testing.assert_allclose(e2, e, atol=1e-6)
    np.testing.assert_allclose(n2, n, atol=1e-6)
    np.testing.assert_allclose(u2, 10.0)


@pytest.mark.parametrize(
    'text', ['', '1', '1,2,3,4', 'a,b', 'nan,0', '91,0', '0,181', '0,0,inf', '0,0,1e6']
)
def test_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(GeoError):
        GeoPoint.parse(text)


def test_parse() -> None:
    assert GeoPoint.parse('47.397742, 8.545594, 488') == GeoPoint(47.397742, 8.545594, 488.0)
    assert GeoPoint.parse('1,2').alt_m == 0.0
