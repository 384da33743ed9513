"""Where NED, FRD and PX4's numbers become ENU, FLU and words (pure functions, no MAVLink I/O).

PX4 reports attitude as the rotation from its body frame FRD (x forward, y right, z down) to the
local NED frame (x north, y east, z down). ROS wants base_link FLU (x forward, y left, z up)
relative to map ENU (x east, y north, z up), REP-103. With rotations written as quaternions:

    q_enu_flu = q_enu_ned * q_ned_frd * q_frd_flu

where q_enu_ned swaps x/y and flips z (a half turn about (1, 1, 0)/sqrt 2) and q_frd_flu flips
y and z (a half turn about x). So yaw 0 in NED (nose north) is yaw +90 deg in ENU, a positive
FRD pitch (nose up) is a negative FLU pitch, and roll keeps its sign.
"""

from __future__ import annotations

import math

from uav_flood.autopilot import px4
from uav_flood.autopilot.interface import FlightMode, LandedState, Quaternion

_HALF_SQRT2 = math.sqrt(0.5)
#: Rotation from NED to ENU axes (x<->y, z flipped).
Q_ENU_NED = Quaternion(0.0, _HALF_SQRT2, _HALF_SQRT2, 0.0)
#: Rotation from FLU to FRD axes (y and z flipped), its own inverse.
Q_FRD_FLU = Quaternion(0.0, 1.0, 0.0, 0.0)


def multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    """Return the Hamilton product a * b (apply b first, then a)."""
    return Quaternion(
        a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
        a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
        a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
        a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
    )


def normalized(q: Quaternion) -> Quaternion:
    """Return `q` scaled to unit length, with w >= 0 (the same rotation, one canonical sign).

    :raises ValueError: the quaternion is zero or not finite.
    """
    norm = math.sqrt(q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z)
    if not (math.isfinite(norm) and norm > 1e-9):
        raise ValueError(f'not a rotation quaternion: {q}')
    sign = -1.0 if q.w < 0.0 else 1.0
    return Quaternion(sign * q.w / norm, sign * q.x / norm, sign * q.y / norm, sign * q.z / norm)


def ned_frd_to_enu_flu(q_ned_frd: Quaternion) -> Quaternion:
    """Convert PX4's attitude (body FRD in NED) to ROS's (base_link FLU in map ENU).

    :param q_ned_frd: the rotation from FRD body axes to NED, as PX4's ATTITUDE_QUATERNION.
    :raises ValueError: the quaternion is zero or not finite.
    """
    return normalized(multiply(multiply(Q_ENU_NED, normalized(q_ned_frd)), Q_FRD_FLU))


def quaternion_from_euler(roll_rad: float, pitch_rad: float, yaw_rad: float) -> Quaternion:
    """Return the quaternion of intrinsic z-y'-x'' (yaw, pitch, roll) Euler angles (rad)."""
    cr, sr = math.cos(roll_rad / 2), math.sin(roll_rad / 2)
    cp, sp = math.cos(pitch_rad / 2), math.sin(pitch_rad / 2)
    cy, sy = math.cos(yaw_rad / 2), math.sin(yaw_rad / 2)
    return Quaternion(
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def euler_from_quaternion(q: Quaternion) -> tuple[float, float, float]:
    """Return (roll, pitch, yaw) in rad of a quaternion, z-y'-x'' convention."""
    roll = math.atan2(2 * (q.w * q.x + q.y * q.z), 1 - 2 * (q.x * q.x + q.y * q.y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (q.w * q.y - q.z * q.x))))
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    return roll, pitch, yaw


_AUTO_MODES: dict[int, FlightMode] = {
    px4.AutoSubMode.READY: FlightMode.READY,
    px4.AutoSubMode.TAKEOFF: FlightMode.TAKEOFF,
    px4.AutoSubMode.LOITER: FlightMode.HOLD,
    px4.AutoSubMode.MISSION: FlightMode.MISSION,
    px4.AutoSubMode.RTL: FlightMode.RETURN,
    px4.AutoSubMode.LAND: FlightMode.LAND,
    px4.AutoSubMode.PRECLAND: FlightMode.LAND,
}
_MAIN_MODES: dict[int, FlightMode] = {
    px4.MainMode.MANUAL: FlightMode.MANUAL,
    px4.MainMode.ALTCTL: FlightMode.ALTITUDE,
    px4.MainMode.POSCTL: FlightMode.POSITION,
    px4.MainMode.ACRO: FlightMode.ACRO,
    px4.MainMode.OFFBOARD: FlightMode.OFFBOARD,
    px4.MainMode.STABILIZED: FlightMode.STABILIZED,
}


def flight_mode_from_px4(custom_mode: int) -> FlightMode:
    """Return the FlightMode of PX4's HEARTBEAT.custom_mode (UNKNOWN for anything else)."""
    mode = px4.Px4Mode.from_custom_mode(custom_mode)
    if mode.main == px4.MainMode.AUTO:
        return _AUTO_MODES.get(mode.sub, FlightMode.UNKNOWN)
    return _MAIN_MODES.get(mode.main, FlightMode.UNKNOWN)


#: MAV_LANDED_STATE (EXTENDED_SYS_STATE.landed_state) to LandedState.
_LANDED_STATES = {
    1: LandedState.ON_GROUND,
    2: LandedState.IN_AIR,
    3: LandedState.TAKING_OFF,
    4: LandedState.LANDING,
}


def landed_state_from_mavlink(value: int) -> LandedState:
    """Return the LandedState of a MAV_LANDED_STATE value (UNKNOWN for 0 and anything else)."""
    return _LANDED_STATES.get(value, LandedState.UNKNOWN)


#: HEARTBEAT.system_status values (MAV_STATE) that PX4 sends while a failsafe is active.
MAV_STATE_CRITICAL = 5
MAV_STATE_EMERGENCY = 6


def is_failsafe_state(system_status: int) -> bool:
    """Return True for the HEARTBEAT.system_status values PX4 uses in a failsafe."""
    return system_status in (MAV_STATE_CRITICAL, MAV_STATE_EMERGENCY)
