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
from uav_flood.autopilot.interface import FlightMode, LandedState
from uav_flood.core.rotation import multiply, normalized, Quaternion

_HALF_SQRT2 = math.sqrt(0.5)
#: Rotation from NED to ENU axes (x<->y, z flipped).
Q_ENU_NED = Quaternion(0.0, _HALF_SQRT2, _HALF_SQRT2, 0.0)
#: Rotation from FLU to FRD axes (y and z flipped), its own inverse.
Q_FRD_FLU = Quaternion(0.0, 1.0, 0.0, 0.0)


def ned_frd_to_enu_flu(q_ned_frd: Quaternion) -> Quaternion:
    """Convert PX4's attitude (body FRD in NED) to ROS's (base_link FLU in map ENU).

    :param q_ned_frd: the rotation from FRD body axes to NED, as PX4's ATTITUDE_QUATERNION.
    :raises ValueError: the quaternion is zero or not finite.
    """
    return normalized(multiply(multiply(Q_ENU_NED, normalized(q_ned_frd)), Q_FRD_FLU))


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
