"""MavsdkAutopilot without a vehicle: MAVLink items, connection errors, commands too early."""

import math

import pytest

from uav_flood.autopilot.interface import AutopilotError, NotConnectedError, Telemetry
from uav_flood.autopilot.mavsdk_autopilot import (
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
    MAV_FRAME_MISSION,
    MavsdkAutopilot,
    mission_items,
)
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import build_mission, validate_path

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
FRAME = LocalFrame(ORIGIN)


def test_mission_items_are_mavlink_mission_item_int_relative_to_home():
    home = GeoPoint(ORIGIN.lat_deg, ORIGIN.lon_deg, ORIGIN.alt_m + 3.0)  # home 3 m higher
    path = validate_path([(0.0, 0.0, 20.0), (40.0, 0.0, 25.0)])
    items = mission_items(build_mission(path, FRAME, home, acceptance_radius_m=2.5))
    assert [i['seq'] for i in items] == [0, 1, 2, 3]
    assert [i['command'] for i in items] == [
        MAV_CMD_NAV_TAKEOFF,
        MAV_CMD_NAV_WAYPOINT,
        MAV_CMD_NAV_WAYPOINT,
        MAV_CMD_NAV_RETURN_TO_LAUNCH,
    ]
    assert [i['frame'] for i in items] == [MAV_FRAME_GLOBAL_RELATIVE_ALT_INT] * 3 + [
        MAV_FRAME_MISSION
    ]
    assert [i['current'] for i in items] == [1, 0, 0, 0]
    assert all(i['autocontinue'] == 1 and i['mission_type'] == 0 for i in items)
    # z above home: 20 m above the origin is 17 m above a home 3 m higher.
    assert [i['z'] for i in items[:3]] == pytest.approx([17.0, 17.0, 22.0])
    assert items[0]['x'] == round(home.lat_deg * 1e7) and items[0]['y'] == round(
        home.lon_deg * 1e7
    )
    second = FRAME.enu_to_point(40.0, 0.0, 25.0)
    assert (items[2]['x'], items[2]['y']) == (
        round(second.lat_deg * 1e7),
        round(second.lon_deg * 1e7),
    )
    assert items[1]['param2'] == 2.5  # acceptance radius
    assert math.isnan(items[1]['param4'])  # yaw left to PX4
    assert items[3]['x'] == 0 and items[3]['z'] == 0.0


@pytest.mark.parametrize('url', ['bogus://nowhere', 'serial:///dev/does-not-exist:57600'])
def test_bad_connection_url_is_a_clear_error(url):
    autopilot = MavsdkAutopilot()
    try:
        with pytest.raises(AutopilotError, match='cannot open connection'):
            autopilot.connect(url)
    finally:
        autopilot.close()


def test_commands_before_any_autopilot_is_heard_are_refused(udp_ports):
    autopilot = MavsdkAutopilot()
    try:
        autopilot.connect(f'udpin://127.0.0.1:{udp_ports(1)}')
        assert autopilot.telemetry() == Telemetry()
        for command in (autopilot.arm, autopilot.land, autopilot.return_to_launch):
            with pytest.raises(NotConnectedError, match='not connected to the autopilot'):
                command()
        with pytest.raises(AutopilotError, match='already connected'):
            autopilot.connect('udpin://127.0.0.1:1')
    finally:
        autopilot.close()
    with pytest.raises(NotConnectedError, match='closed'):
        autopilot.arm()
    autopilot.close()  # idempotent
    with pytest.raises(AutopilotError, match='was closed'):
        autopilot.connect('udpin://127.0.0.1:1')


def test_a_speed_change_is_do_change_speed_ground_speed_throttle_unchanged():
    path = validate_path([(0.0, 0.0, 20.0), (40.0, 0.0, 20.0)])
    plan = build_mission(path, FRAME, ORIGIN, transit_speed_m_s=10.0, mission_speed_m_s=5.0)
    items = mission_items(plan)
    changes = [i for i in items if i['command'] == 178]
    assert [(i['param1'], i['param2'], i['param3']) for i in changes] == [
        (1.0, 10.0, -1.0), (1.0, 5.0, -1.0), (1.0, 10.0, -1.0),
    ]  # fmt: skip
    assert all(i['frame'] == MAV_FRAME_MISSION and (i['x'], i['y']) == (0, 0) for i in changes)
    assert [i['seq'] for i in items] == list(range(len(plan.items)))
