"""core.safety: geofence and energy checks (no rclpy)."""

import json
import math

import pytest

from uav_flood.core.geo import distance_m, GeoPoint, LocalFrame
from uav_flood.core.mission import Enu, MissionError
from uav_flood.core.safety import (
    check_mission_energy,
    check_remaining_energy,
    EnergyModel,
    Geofence,
)

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
FRAME = LocalFrame(ORIGIN)
HOME = Enu(0.0, 0.0, 0.0)
AREA = [(-10.0, -10.0), (100.0, -10.0), (100.0, 100.0), (-10.0, 100.0)]


# -- energy model ------------------------------------------------------------------------------


def test_leg_time_adds_horizontal_and_vertical_parts():
    model = EnergyModel(cruise_speed_m_s=5.0, climb_speed_m_s=2.0, descent_speed_m_s=1.0)
    assert model.leg_time_s(Enu(0, 0, 10), Enu(30, 40, 10)) == pytest.approx(10.0)
    assert model.leg_time_s(Enu(0, 0, 10), Enu(0, 0, 30)) == pytest.approx(10.0)
    assert model.leg_time_s(Enu(0, 0, 30), Enu(0, 0, 10)) == pytest.approx(20.0)
    assert model.leg_time_s(Enu(0, 0, 0), Enu(50, 0, 20)) == pytest.approx(10.0 + 10.0)


def test_return_climbs_to_return_altitude_then_flies_home_and_descends():
    model = EnergyModel(
        cruise_speed_m_s=5.0, climb_speed_m_s=2.0, descent_speed_m_s=1.0, return_altitude_m=30.0
    )
    # From 20 m, 100 m away: climb 10 m (5 s), fly 100 m (20 s), descend 30 m (30 s).
    assert model.return_time_s(Enu(100, 0, 20), HOME) == pytest.approx(55.0)
    # Above the return altitude it stays there: fly 100 m (20 s), descend 50 m (50 s).
    assert model.return_time_s(Enu(0, 100, 50), HOME) == pytest.approx(70.0)


def test_mission_time_is_takeoff_path_and_return():
    model = EnergyModel(
        cruise_speed_m_s=5.0, climb_speed_m_s=2.0, descent_speed_m_s=1.0, return_altitude_m=0.0
    )
    path = [Enu(50, 0, 20), Enu(50, 50, 20)]
    # Climb 20 m (10 s), 50 m to wp0 (10 s), 50 m to wp1 (10 s), 70.7 m home (14.1 s),
    # descend 20 m (20 s).
    expected = 10 + 10 + 10 + math.hypot(50, 50) / 5 + 20
    assert model.mission_time_s(HOME, path) == pytest.approx(expected)
    assert model.mission_time_s(HOME, []) == 0.0


def test_transits_at_transit_speed_speed_up_and_brake():
    model = EnergyModel(
        cruise_speed_m_s=4.0, transit_speed_m_s=10.0, transit_accel_m_s2=1.0,
        climb_speed_m_s=2.0, descent_speed_m_s=1.0, return_altitude_m=30.0,
    )  # fmt: skip
    # 300 m: 100 m speeding up and braking (20 s) and 200 m at 10 m/s (20 s).
    assert model.transit_horizontal_s(300.0) == pytest.approx(40.0)
    # 64 m never reaches 10 m/s: a triangle, 2 x sqrt(32 / 1) = 11.3 s; 16 m: no faster than
    # at cruise speed (4 s).
    assert model.transit_horizontal_s(64.0) == pytest.approx(2 * math.sqrt(64.0))
    assert model.transit_horizontal_s(16.0) == pytest.approx(4.0)
    assert model.transit_time_s(Enu(0, 0, 20), Enu(300, 0, 40)) == pytest.approx(40.0 + 10.0)
    path = [Enu(300, 0, 50), Enu(300, 100, 50)]
    # climb 50 m (25 s), 300 m out fast (40 s), 100 m of path (25 s), 316 m back fast over
    # home at 50 m (no climb to the return altitude: it is higher) and 50 m down (50 s).
    back = model.transit_horizontal_s(math.hypot(300, 100))
    assert model.mission_time_s(HOME, path) == pytest.approx(25 + 40 + 25 + back + 50)
    # The way home flight_control's energy RTL takes is PX4's RTL: at cruise speed.
    assert model.return_time_s(path[-1], HOME) == pytest.approx(math.hypot(300, 100) / 4 + 50)
    assert EnergyModel().transit_horizontal_s(300.0) == pytest.approx(300.0 / 4.4)  # no speed


def test_mission_energy_check_against_battery_and_reserve():
    model = EnergyModel(drain_pct_per_s=0.1, reserve_pct=20.0, return_altitude_m=0.0)
    path = [Enu(500, 0, 20), Enu(500, 500, 20), Enu(0, 500, 20)]
    flight_s = model.mission_time_s(HOME, path)
    full = check_mission_energy(model, HOME, path, battery_pct=100.0)
    assert full.flight_time_s == pytest.approx(flight_s)
    assert full.required_pct == pytest.approx(0.1 * flight_s)
    assert full.ok and full.margin_pct == pytest.approx(80.0 - 0.1 * flight_s)
    low = check_mission_energy(model, HOME, path, battery_pct=full.required_pct + 19.0)
    assert not low.ok
    assert low.margin_pct == pytest.approx(-1.0)
    assert 'reserve' in low.describe() and f'{low.available_pct:.1f}%' in low.describe()


def test_remaining_energy_triggers_when_home_is_out_of_reach():
    model = EnergyModel(
        drain_pct_per_s=0.5, reserve_pct=10.0, cruise_speed_m_s=5.0, return_altitude_m=30.0
    )
    far = Enu(1000.0, 0.0, 30.0)  # 200 s home + 30 s descent = 230 s = 115 %
    assert not check_remaining_energy(model, far, HOME, battery_pct=100.0).ok
    near = Enu(50.0, 0.0, 30.0)  # 10 s + 30 s = 20 %
    check = check_remaining_energy(model, near, HOME, battery_pct=31.0)
    assert check.ok and check.required_pct == pytest.approx(20.0)
    # The rest of a path is added before the way home.
    with_path = check_remaining_energy(model, near, HOME, 31.0, [Enu(100.0, 0.0, 30.0)])
    assert with_path.flight_time_s == pytest.approx(10.0 + 20.0 + 30.0)
    assert not with_path.ok


@pytest.mark.parametrize(
    'kwargs',
    [
        {'drain_pct_per_s': 0.0},
        {'cruise_speed_m_s': -1.0},
        {'climb_speed_m_s': math.nan},
        {'reserve_pct': 100.0},
        {'return_altitude_m': -5.0},
        {'transit_speed_m_s': -1.0},
        {'transit_accel_m_s2': 0.0},
    ],
)
def test_meaningless_energy_models_are_rejected(kwargs):
    with pytest.raises(MissionError, match='energy model'):
        EnergyModel(**kwargs)


# -- geofence ----------------------------------------------------------------------------------


def test_path_inside_the_area_passes_and_outside_is_refused():
    fence = Geofence(AREA, margin_m=5.0)
    fence.check_path([Enu(0, 0, 20), Enu(90, 90, 20), Enu(104, 50, 20)], HOME)
    with pytest.raises(MissionError) as info:
        fence.check_path([Enu(0, 0, 20), Enu(120, 50, 20)], HOME)
    assert info.value.waypoint == 1
    assert 'waypoint 1 (120.0, 50.0) is 15.0 m outside the geofence' in info.value.reason


def test_a_leg_that_cuts_outside_a_concave_area_is_refused():
    # An L-shaped area: both waypoints inside, the straight leg between them is not.
    l_shape = [(0, 0), (100, 0), (100, 20), (20, 20), (20, 100), (0, 100)]
    fence = Geofence(l_shape, margin_m=0.0)
    with pytest.raises(MissionError, match='leg from waypoint 0 to waypoint 1 leaves'):
        fence.check_path([Enu(90, 10, 20), Enu(10, 90, 20)], Enu(10, 10, 0))


def test_home_outside_the_fence_is_refused():
    fence = Geofence(AREA, margin_m=0.0)
    with pytest.raises(MissionError, match='home .* is outside the geofence'):
        fence.check_path([Enu(0, 0, 20)], Enu(-50.0, 0.0, 0.0))


def test_autopilot_fence_is_the_area_grown_by_twice_the_margin():
    fence = Geofence(AREA, margin_m=5.0)
    vertices = fence.autopilot_fence_wgs84(FRAME)
    assert len(vertices) == 4  # mitred corners keep a rectangle a rectangle
    corners = sorted(tuple(round(v) for v in FRAME.point_to_enu(p)[:2]) for p in vertices)
    assert corners == [(-20, -20), (-20, 110), (110, -20), (110, 110)]


def test_enu_text_parameter_form():
    fence = Geofence.from_enu_text('-10,-10; 100,-10; 100,100; -10,100;', margin_m=1.0)
    assert fence.area.area == pytest.approx(110 * 110)
    for bad in ('1,2; 3', '1,2; 3,4', 'a,b; 1,2; 3,4', '1,2,3; 4,5; 6,7'):
        with pytest.raises(MissionError):
            Geofence.from_enu_text(bad)


@pytest.mark.parametrize(
    ('vertices', 'words'),
    [
        ([(0, 0), (1, 1)], 'at least 3 vertices'),
        ([(0, 0), (10, 10), (10, 0), (0, 10)], 'not a simple polygon'),
        ([(0, 0), (math.nan, 0), (0, 1)], 'not a finite number'),
    ],
)
def test_bad_fence_polygons(vertices, words):
    with pytest.raises(MissionError, match=words):
        Geofence(vertices)


def test_geojson_feature_collection_in_wgs84(tmp_path):
    corners = [FRAME.enu_to_point(e, n) for e, n in AREA]
    ring = [[p.lon_deg, p.lat_deg] for p in corners] + [[corners[0].lon_deg, corners[0].lat_deg]]
    document = {
        'type': 'FeatureCollection',
        'features': [
            {'type': 'Feature', 'geometry': {'type': 'Point', 'coordinates': [8.5, 47.3]}},
            {'type': 'Feature', 'geometry': {'type': 'Polygon', 'coordinates': [ring]}},
        ],
    }
    path = tmp_path / 'area.geojson'
    path.write_text(json.dumps(document))
    fence = Geofence.from_geojson(path, FRAME, margin_m=2.0)
    assert fence.area.area == pytest.approx(110 * 110, rel=1e-4)
    fence.check_path([Enu(101.0, 50.0, 20.0)], HOME)
    # Round trip: PX4's vertices are the area grown by 4 m, in WGS84.
    first = fence.autopilot_fence_wgs84(FRAME)
    assert min(distance_m(p, c) for p in first for c in corners) == pytest.approx(
        math.hypot(4, 4), abs=0.05
    )


@pytest.mark.parametrize(
    ('content', 'words'),
    [
        ('{not json', 'is not JSON'),
        ('{"type": "Point", "coordinates": [8.5, 47.3]}', 'holds no GeoJSON Polygon'),
        ('{"type": "Polygon", "coordinates": [[[8.5, 147.3], [8.6, 47.3], [8.6, 47.4]]]}', 'bad'),
    ],
)
def test_bad_geojson_files(tmp_path, content, words):
    path = tmp_path / 'bad.geojson'
    path.write_text(content)
    with pytest.raises(MissionError, match=words):
        Geofence.from_geojson(path, FRAME)


def test_missing_geojson_file(tmp_path):
    with pytest.raises(MissionError, match='cannot read geofence file'):
        Geofence.from_geojson(tmp_path / 'nope.geojson', FRAME)
