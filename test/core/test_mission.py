"""core.mission: path validation and path -> mission items (no rclpy)."""

import math

import pytest

from uav_flood.core.geo import distance_m, GeoPoint, LocalFrame
from uav_flood.core.mission import (
    build_mission,
    Enu,
    ItemKind,
    MissionError,
    path_length_m,
    PathLimits,
    validate_path,
)

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
FRAME = LocalFrame(ORIGIN)
SQUARE = [(0.0, 0.0, 20.0), (40.0, 0.0, 20.0), (40.0, 40.0, 25.0), (0.0, 40.0, 25.0)]


def test_valid_path_comes_back_as_enu_tuples():
    path = validate_path(SQUARE)
    assert path == tuple(Enu(*p) for p in SQUARE)
    assert path[2].north_m == 40.0 and path[2].up_m == 25.0


@pytest.mark.parametrize(
    ('points', 'words', 'index'),
    [
        ([], 'empty path', None),
        ([(0.0, 0.0, 20.0), (math.nan, 0.0, 20.0)], 'waypoint 1 is not a finite number', 1),
        ([(0.0, math.inf, 20.0)], 'waypoint 0 is not a finite number', 0),
        ([(0.0, 0.0, 20.0), (0.0, 0.0, 2.0)], 'waypoint 1 altitude 2.0 m', 1),
        ([(0.0, 0.0, 500.0)], 'outside 5..120 m', 0),
        ([(0.0, 0.0, -10.0)], 'outside 5..120 m', 0),
        ([(6000.0, 0.0, 20.0)], 'waypoint 0 is 6000 m from the origin', 0),
        ([(0.0, 0.0)], 'waypoint 0 has 2 coordinates', 0),
    ],
)
def test_bad_paths_are_refused_with_a_reason(points, words, index):
    with pytest.raises(MissionError) as info:
        validate_path(points)
    assert words in info.value.reason
    assert info.value.waypoint == index


def test_too_many_waypoints():
    limits = PathLimits(max_waypoints=3)
    with pytest.raises(MissionError, match='more than 3 waypoints'):
        validate_path(SQUARE, limits)


@pytest.mark.parametrize(
    'kwargs',
    [
        {'min_altitude_m': 0.0},
        {'min_altitude_m': 50.0, 'max_altitude_m': 40.0},
        {'max_distance_m': -1.0},
        {'max_altitude_m': math.nan},
    ],
)
def test_impossible_limits_are_rejected(kwargs):
    with pytest.raises(MissionError):
        PathLimits(**kwargs)


def test_mission_is_takeoff_waypoints_rtl_with_wgs84_positions():
    home = FRAME.enu_to_point(3.0, -4.0, 0.0)
    plan = build_mission(validate_path(SQUARE), FRAME, home, acceptance_radius_m=2.5)
    kinds = [item.kind for item in plan.items]
    assert kinds == [ItemKind.TAKEOFF] + [ItemKind.WAYPOINT] * 4 + [ItemKind.RETURN_TO_LAUNCH]

    takeoff = plan.items[0]
    assert takeoff.position is not None
    # Vertical take-off at home, to the first waypoint's altitude (AMSL = alt0 + z).
    assert distance_m(takeoff.position, home) < 0.01
    assert takeoff.position.alt_m == pytest.approx(ORIGIN.alt_m + 20.0)

    for index, (item, point) in enumerate(zip(plan.items[1:-1], SQUARE, strict=True)):
        assert item.waypoint == index
        assert item.acceptance_radius_m == 2.5
        assert item.position is not None
        east, north, up = FRAME.point_to_enu(item.position)
        assert (east, north, up) == pytest.approx(point, abs=1e-6)
    # The second waypoint is 40 m east of the origin on the ground.
    second = plan.items[2].position
    assert distance_m(ORIGIN, second) == pytest.approx(40.0, abs=0.01)
    assert plan.items[-1].position is None and plan.items[-1].waypoint is None


def test_item_and_waypoint_indices_map_both_ways():
    plan = build_mission(validate_path(SQUARE), FRAME, ORIGIN)
    assert plan.waypoint_count == 4
    assert [plan.waypoint_of_item(seq) for seq in range(7)] == [None, 0, 1, 2, 3, None, None]
    assert plan.waypoint_of_item(-1) is None
    assert [plan.item_of_waypoint(i) for i in range(4)] == [1, 2, 3, 4]
    with pytest.raises(IndexError):
        plan.item_of_waypoint(4)


def test_waypoint_too_low_above_a_higher_home_is_refused():
    # Home on a 18 m hill: a waypoint 20 m above the origin is only 2 m above home.
    home = GeoPoint(ORIGIN.lat_deg, ORIGIN.lon_deg, ORIGIN.alt_m + 18.0)
    with pytest.raises(MissionError, match='waypoint 0 is 2.0 m above home'):
        build_mission(validate_path(SQUARE), FRAME, home)


@pytest.mark.parametrize('radius', [0.0, -1.0, math.nan])
def test_bad_acceptance_radius(radius):
    with pytest.raises(MissionError, match='acceptance radius'):
        build_mission(validate_path(SQUARE), FRAME, ORIGIN, acceptance_radius_m=radius)


def test_path_length():
    assert path_length_m(validate_path(SQUARE)) == pytest.approx(40 + math.hypot(40, 5) + 40)
    assert path_length_m(()) == 0.0


def test_a_transit_speed_brackets_the_transits_with_speed_changes_and_returns_over_home():
    home = FRAME.enu_to_point(3.0, -4.0, 0.0)
    plan = build_mission(
        validate_path(SQUARE), FRAME, home, transit_speed_m_s=10.0, mission_speed_m_s=5.0
    )
    kinds = [item.kind for item in plan.items]
    change, waypoint = ItemKind.CHANGE_SPEED, ItemKind.WAYPOINT
    assert kinds == [
        ItemKind.TAKEOFF, change, waypoint, change, waypoint, waypoint, waypoint, change,
        waypoint, ItemKind.RETURN_TO_LAUNCH,
    ]  # fmt: skip
    assert [i.speed_m_s for i in plan.items if i.kind is change] == [10.0, 5.0, 10.0]
    # The path's waypoints keep their indices; the return waypoint is none of them.
    assert [plan.item_of_waypoint(w) for w in range(4)] == [2, 4, 5, 6]
    over_home = plan.items[-2]
    assert over_home.waypoint is None and over_home.position is not None
    assert distance_m(over_home.position, home) < 0.01
    assert over_home.position.alt_m == pytest.approx(ORIGIN.alt_m + SQUARE[-1][2])
    # One waypoint: fast out, fast back, no mission speed in between.
    one = build_mission(validate_path(SQUARE[:1]), FRAME, home, transit_speed_m_s=8.0)
    assert [i.kind for i in one.items] == [
        ItemKind.TAKEOFF, change, waypoint, waypoint, ItemKind.RETURN_TO_LAUNCH,
    ]  # fmt: skip
    with pytest.raises(MissionError, match='transit speed'):
        build_mission(validate_path(SQUARE), FRAME, home, transit_speed_m_s=-1.0)
    with pytest.raises(MissionError, match='mission speed'):
        build_mission(
            validate_path(SQUARE), FRAME, home, transit_speed_m_s=9.0, mission_speed_m_s=0.0
        )
