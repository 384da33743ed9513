"""autopilot.frames: PX4 attitude NED/FRD -> ROS ENU/FLU, PX4 modes and landed states."""

import math

import pytest

from uav_flood.autopilot import frames, px4
from uav_flood.autopilot.interface import FlightMode, LandedState
from uav_flood.core.rotation import euler_from_quaternion, Quaternion, quaternion_from_euler

DEG = math.pi / 180.0


def rotate(q: Quaternion, v):
    """Rotate vector v by quaternion q (q v q*)."""
    p = Quaternion(0.0, *v)
    conj = Quaternion(q.w, -q.x, -q.y, -q.z)
    r = frames.multiply(frames.multiply(q, p), conj)
    return (r.x, r.y, r.z)


def enu_flu(roll_deg, pitch_deg, yaw_deg):
    q_ned_frd = quaternion_from_euler(roll_deg * DEG, pitch_deg * DEG, yaw_deg * DEG)
    return frames.ned_frd_to_enu_flu(q_ned_frd)


@pytest.mark.parametrize(
    ('yaw_ned_deg', 'nose_enu'),
    [
        (0.0, (0.0, 1.0, 0.0)),  # nose north: +y in ENU
        (90.0, (1.0, 0.0, 0.0)),  # nose east: +x in ENU
        (180.0, (0.0, -1.0, 0.0)),
        (-90.0, (-1.0, 0.0, 0.0)),
        (45.0, (math.sqrt(0.5), math.sqrt(0.5), 0.0)),
    ],
)
def test_heading_maps_to_the_right_enu_direction(yaw_ned_deg, nose_enu):
    q = enu_flu(0.0, 0.0, yaw_ned_deg)
    assert rotate(q, (1.0, 0.0, 0.0)) == pytest.approx(nose_enu, abs=1e-9)
    # Level flight: base_link z (up) stays map z (up).
    assert rotate(q, (0.0, 0.0, 1.0)) == pytest.approx((0.0, 0.0, 1.0), abs=1e-9)
    _, _, yaw_enu = euler_from_quaternion(q)
    expected = math.remainder(math.pi / 2 - yaw_ned_deg * DEG, 2 * math.pi)
    assert math.remainder(yaw_enu - expected, 2 * math.pi) == pytest.approx(0.0, abs=1e-9)


def test_roll_keeps_sign_pitch_flips_sign():
    roll, pitch, _ = euler_from_quaternion(enu_flu(10.0, 0.0, 0.0))
    assert roll == pytest.approx(10.0 * DEG) and pitch == pytest.approx(0.0, abs=1e-9)
    roll, pitch, _ = euler_from_quaternion(enu_flu(0.0, 15.0, 0.0))
    assert pitch == pytest.approx(-15.0 * DEG) and roll == pytest.approx(0.0, abs=1e-9)


def test_nose_up_points_the_nose_up_in_enu():
    # FRD pitch +20 deg (nose up) heading east: the nose vector climbs in ENU.
    q = enu_flu(0.0, 20.0, 90.0)
    nose = rotate(q, (1.0, 0.0, 0.0))
    assert nose == pytest.approx((math.cos(20 * DEG), 0.0, math.sin(20 * DEG)), abs=1e-9)
    # Right wing down (FRD roll +30) heading north: base_link y (left wing) goes up.
    left = rotate(enu_flu(30.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert left[2] == pytest.approx(math.sin(30 * DEG))


def test_conversion_normalises_and_rejects_garbage():
    q = frames.ned_frd_to_enu_flu(Quaternion(2.0, 0.0, 0.0, 0.0))
    assert math.sqrt(q.w**2 + q.x**2 + q.y**2 + q.z**2) == pytest.approx(1.0)
    assert q.w >= 0.0
    for bad in (Quaternion(0, 0, 0, 0), Quaternion(math.nan, 0, 0, 1)):
        with pytest.raises(ValueError):
            frames.ned_frd_to_enu_flu(bad)


def test_euler_round_trip():
    for angles in ((0.1, -0.2, 0.3), (-1.0, 0.5, 3.0), (0.0, 0.0, -2.5)):
        q = quaternion_from_euler(*angles)
        assert euler_from_quaternion(q) == pytest.approx(angles)


@pytest.mark.parametrize(
    ('mode', 'expected'),
    [
        (px4.MISSION, FlightMode.MISSION),
        (px4.HOLD, FlightMode.HOLD),
        (px4.RTL, FlightMode.RETURN),
        (px4.LAND, FlightMode.LAND),
        (px4.TAKEOFF, FlightMode.TAKEOFF),
        (px4.READY, FlightMode.READY),
        (px4.POSCTL, FlightMode.POSITION),
        (px4.ALTCTL, FlightMode.ALTITUDE),
        (px4.MANUAL, FlightMode.MANUAL),
        (px4.OFFBOARD, FlightMode.OFFBOARD),
        (px4.STABILIZED, FlightMode.STABILIZED),
        (px4.Px4Mode(9), FlightMode.UNKNOWN),
        (px4.Px4Mode(px4.MainMode.AUTO, 7), FlightMode.UNKNOWN),
    ],
)
def test_px4_modes(mode, expected):
    assert frames.flight_mode_from_px4(mode.custom_mode) is expected


def test_recorded_custom_modes():
    # From the reference recording's HEARTBEATs.
    assert frames.flight_mode_from_px4(0x04040000) is FlightMode.MISSION
    assert frames.flight_mode_from_px4(0x03040000) is FlightMode.HOLD
    assert frames.flight_mode_from_px4(0x05040000) is FlightMode.RETURN
    assert frames.flight_mode_from_px4(0x06040000) is FlightMode.LAND


def test_landed_states_and_failsafe_state():
    assert [frames.landed_state_from_mavlink(v) for v in range(6)] == [
        LandedState.UNKNOWN,
        LandedState.ON_GROUND,
        LandedState.IN_AIR,
        LandedState.TAKING_OFF,
        LandedState.LANDING,
        LandedState.UNKNOWN,
    ]
    assert [frames.is_failsafe_state(s) for s in (3, 4, 5, 6)] == [False, False, True, True]
