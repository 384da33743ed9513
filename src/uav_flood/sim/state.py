"""VehicleState: a snapshot of one simulated vehicle, as SimVehicle.state() returns it."""

from __future__ import annotations

from dataclasses import dataclass

from uav_flood.autopilot.px4 import Px4Mode
from uav_flood.core.geo import GeoPoint


@dataclass(frozen=True)
class VehicleState:
    """A snapshot of one vehicle (SimVehicle.state()).

    :param lat_deg: latitude (deg).
    :param lon_deg: longitude (deg).
    :param alt_m: altitude AMSL (m).
    :param position_ned: position about the vehicle's start point (its EKF origin and first
        home), north/east/down (m).
    :param velocity_ned: velocity north/east/down (m/s).
    :param yaw_rad: heading (rad from north, clockwise).
    :param armed: whether the motors are armed.
    :param mode: the PX4 mode reported in HEARTBEAT.
    :param landed_state: MAV_LANDED_STATE (1 on ground, 2 in air, 3 takeoff, 4 landing).
    :param battery_remaining: reported charge (0..1).
    :param mission_current: current mission item.
    :param mission_count: items in the mission plan.
    :param home: home position, None until the estimator sets it.
    :param failsafe: cause of the active failsafe ('battery_critical', 'gcs_link_lost',
        'geofence', 'offboard_lost', 'position_lost', ...), None when there is none.
    :param gps_ok: whether the GPS receiver works.
    :param killed: whether the vehicle was killed.
    :param time_s: simulated seconds since start.
    :param relative_alt_m: altitude above home (m).
    :param link_up: False while the link is dropped or the vehicle is killed.
    :param mission_state: MISSION_CURRENT.mission_state (1 none, 2 not started, 3 active,
        4 paused, 5 complete).
    """

    lat_deg: float
    lon_deg: float
    alt_m: float
    position_ned: tuple[float, float, float]
    velocity_ned: tuple[float, float, float]
    yaw_rad: float
    armed: bool
    mode: Px4Mode
    landed_state: int
    battery_remaining: float
    mission_current: int
    mission_count: int
    home: GeoPoint | None
    failsafe: str | None
    gps_ok: bool
    killed: bool
    time_s: float
    relative_alt_m: float = 0.0
    link_up: bool = True
    mission_state: int = 1
