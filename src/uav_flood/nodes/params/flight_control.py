"""flight_control's parameters: their table (name: default, description) and their reading.

The node declares PARAMETERS read-only and builds its configuration with the dataclass here,
which checks every value and names the parameter a ConfigError is about.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import re
from typing import Any

from rclpy.node import Node

from uav_flood.autopilot.pilot import PilotConfig
from uav_flood.core import sitl
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoError, GeoPoint
from uav_flood.core.mission import (
    MissionError,
    PathLimits,
    PX4_MISSION_SPEED_M_S,
    TRANSIT_SPEED_M_S,
)
from uav_flood.core.safety import EnergyModel

# name: (default, description), all read-only: nothing that makes a vehicle fly, or keeps it
# safe, can be changed by whoever reaches the ROS graph. Defaults equal
# config/flight_control.yaml.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'connection_url': (
        '',
        'MAVSDK connection URL, e.g. udpin://0.0.0.0:14540 or serial:///dev/ttyTHS1:921600. '
        'Empty: udpin://0.0.0.0:<mavlink_base_port + N> for namespace /uavN (PX4 SITL).',
    ),
    'mavlink_base_port': (
        sitl.MAVLINK_BASE_PORT,
        'UDP port of instance 0 when connection_url is empty.',
    ),
    'origin_lat_deg': (
        sitl.PX4_SITL_HOME.lat_deg,
        'Mission origin latitude (deg): map (0, 0, 0).',
    ),
    'origin_lon_deg': (sitl.PX4_SITL_HOME.lon_deg, 'Mission origin longitude (deg).'),
    'origin_alt_m': (sitl.PX4_SITL_HOME.alt_m, 'Mission origin altitude (m AMSL): map z = 0.'),
    'publish_rate_hz': (20.0, 'Rate of pose, global_position, battery and status (Hz).'),
    'telemetry_rate_hz': (
        20.0,
        'Position and attitude rate asked of the autopilot (Hz); 0: the autopilot decides.',
    ),
    'link_timeout_s': (
        1.5,
        'No MAVLink message for this long: status ERROR "link lost" (s).',
    ),
    'command_timeout_s': (
        15.0,
        'Longest a service waits for the autopilot before answering "failed" (s).',
    ),
    'auto_start': (False, 'Arm and start each mission as soon as it is uploaded.'),
    'start_hold_s': (
        0.0,
        'With auto_start, a vehicle on the ground takes off no sooner than this long after its '
        "path's stamp (s): the paths of one plan share a stamp, so the fleet takes off together "
        'instead of as each upload ends. 0: as soon as uploaded. Not applied in the air.',
    ),
    'takeoff_altitude_m': (10.0, 'Altitude of the takeoff service (m above home).'),
    'acceptance_radius_m': (2.0, 'Waypoint acceptance radius (m), as PX4 NAV_ACC_RAD.'),
    'min_altitude_m': (5.0, 'Lowest waypoint (m above the origin and above home).'),
    'max_altitude_m': (120.0, 'Highest waypoint (m above the origin).'),
    'max_distance_m': (5000.0, 'Farthest waypoint from the origin, horizontally (m).'),
    'geofence_file': (
        '',
        'GeoJSON file with the area of interest as a Polygon (WGS84). Empty: no file.',
    ),
    'geofence_enu': (
        '',
        'Area of interest as map ENU vertices "E,N; E,N; E,N" (m), used when geofence_file is '
        'empty. Empty: no geofence.',
    ),
    'geofence_margin_m': (
        10.0,
        'Paths may leave the area by this much (m); PX4 gets the area grown by twice this.',
    ),
    'cruise_speed_m_s': (
        4.4,
        'Energy model: mean horizontal speed, braking at waypoints included (m/s).',
    ),
    'climb_speed_m_s': (2.0, 'Energy model: mean climb speed, spool-up included (m/s).'),
    'descent_speed_m_s': (1.0, 'Energy model: descent and landing speed (m/s).'),
    'transit_speed_m_s': (
        TRANSIT_SPEED_M_S,
        'Ground speed of the transit to the first waypoint and back over home (m/s, at most '
        "PX4's MPC_XY_VEL_MAX 12); 0: the whole mission at the autopilot's mission speed.",
    ),
    'mission_speed_m_s': (
        PX4_MISSION_SPEED_M_S,
        "Ground speed along the path after the transit (m/s; PX4's MPC_XY_CRUISE).",
    ),
    'transit_accel_m_s2': (
        1.0,
        "Energy model: mean acceleration and braking on a transit (m/s^2; PX4's auto "
        'trajectories average about a third of MPC_ACC_HOR).',
    ),
    'battery_drain_pct_per_s': (
        0.07,
        'Energy model: battery percent used per second of flight (%/s).',
    ),
    'battery_reserve_pct': (20.0, 'Battery percent that must be left on landing (%).'),
    'return_altitude_m': (
        30.0,
        'Energy model: RTL altitude above home, PX4 RTL_RETURN_ALT.',
    ),
    'energy_rtl': (
        True,
        'Return to launch when the battery no longer covers the way home plus the reserve.',
    ),
}

#: The range each numeric parameter must be in, checked at start (one line naming it).
PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    'mavlink_base_port': (1, 65535),
    'origin_alt_m': (-500.0, 9000.0),
    'publish_rate_hz': (0.1, 200.0),
    'telemetry_rate_hz': (0.0, 200.0),
    'link_timeout_s': (0.1, 60.0),
    'command_timeout_s': (0.5, 600.0),
    'start_hold_s': (0.0, 60.0),
    'takeoff_altitude_m': (0.5, 500.0),
    'acceptance_radius_m': (0.1, 100.0),
    'min_altitude_m': (0.5, 500.0),
    'max_altitude_m': (1.0, 500.0),
    'max_distance_m': (1.0, 100_000.0),
    'geofence_margin_m': (0.0, 1000.0),
    'cruise_speed_m_s': (0.1, 30.0),
    'climb_speed_m_s': (0.1, 20.0),
    'descent_speed_m_s': (0.1, 20.0),
    'transit_speed_m_s': (0.0, 30.0),
    'mission_speed_m_s': (0.5, 30.0),
    'transit_accel_m_s2': (0.05, 20.0),
    'battery_drain_pct_per_s': (0.001, 10.0),
    'battery_reserve_pct': (0.0, 90.0),
    'return_altitude_m': (0.0, 500.0),
}

_NAMESPACE_INSTANCE = re.compile(r'^/uav(\d+)$')


@dataclass(frozen=True)
class FlightParams:
    """flight_control's parameters, read once (see PARAMETERS for their meaning)."""

    connection_url: str
    origin: GeoPoint
    publish_rate_hz: float
    telemetry_rate_hz: float
    link_timeout_s: float
    command_timeout_s: float
    auto_start: bool
    takeoff_altitude_m: float
    acceptance_radius_m: float
    limits: PathLimits
    geofence_file: str
    geofence_enu: str
    geofence_margin_m: float
    energy: EnergyModel
    energy_rtl: bool
    mission_speed_m_s: float = PX4_MISSION_SPEED_M_S
    start_hold_s: float = 0.0

    @classmethod
    def from_values(cls, values: dict[str, Any], namespace: str) -> FlightParams:
        """Build and check the parameters; derive the connection URL from /uavN.

        :param values: parameter name -> value, every key of PARAMETERS.
        :param namespace: the node's namespace, e.g. '/uav2'.
        :raises ConfigError: a value is out of range or the URL cannot be derived.
        """
        for name, (low, high) in PARAMETER_RANGES.items():
            value = values[name]
            if not (math.isfinite(value) and low <= value <= high):
                raise ConfigError(f'must be within {low:g}..{high:g}, got {value:g}', name)
        url = str(values['connection_url']).strip()
        if not url:
            match = _NAMESPACE_INSTANCE.match(namespace)
            if match is None:
                raise ConfigError(
                    f'namespace {namespace!r} is not /uavN, so no UDP port can be derived: '
                    'set connection_url',
                    'connection_url',
                )
            port = sitl.offboard_port(int(match.group(1)), int(values['mavlink_base_port']))
            url = f'udpin://0.0.0.0:{port}'
        try:
            origin = GeoPoint(
                values['origin_lat_deg'], values['origin_lon_deg'], values['origin_alt_m']
            )
        except GeoError as exc:
            raise ConfigError(str(exc), 'origin_lat_deg/origin_lon_deg/origin_alt_m') from None
        for name in ('publish_rate_hz', 'link_timeout_s', 'command_timeout_s'):
            if not (math.isfinite(values[name]) and values[name] > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        if not (math.isfinite(values['telemetry_rate_hz']) and values['telemetry_rate_hz'] >= 0):
            raise ConfigError('must be >= 0', 'telemetry_rate_hz')
        if not (math.isfinite(values['takeoff_altitude_m']) and values['takeoff_altitude_m'] > 0):
            raise ConfigError('must be > 0', 'takeoff_altitude_m')
        try:
            limits = PathLimits(
                values['min_altitude_m'], values['max_altitude_m'], values['max_distance_m']
            )
            energy = EnergyModel(
                drain_pct_per_s=values['battery_drain_pct_per_s'],
                cruise_speed_m_s=values['cruise_speed_m_s'],
                climb_speed_m_s=values['climb_speed_m_s'],
                descent_speed_m_s=values['descent_speed_m_s'],
                reserve_pct=values['battery_reserve_pct'],
                return_altitude_m=values['return_altitude_m'],
                transit_speed_m_s=values['transit_speed_m_s'],
                transit_accel_m_s2=values['transit_accel_m_s2'],
            )
        except MissionError as exc:
            raise ConfigError(str(exc)) from None
        radius = values['acceptance_radius_m']
        if not (math.isfinite(radius) and radius > 0.0):
            raise ConfigError(f'must be > 0, got {radius}', 'acceptance_radius_m')
        return cls(
            connection_url=url,
            origin=origin,
            publish_rate_hz=values['publish_rate_hz'],
            telemetry_rate_hz=values['telemetry_rate_hz'],
            link_timeout_s=values['link_timeout_s'],
            command_timeout_s=values['command_timeout_s'],
            auto_start=values['auto_start'],
            start_hold_s=values['start_hold_s'],
            takeoff_altitude_m=values['takeoff_altitude_m'],
            acceptance_radius_m=radius,
            limits=limits,
            geofence_file=values['geofence_file'],
            geofence_enu=values['geofence_enu'],
            geofence_margin_m=values['geofence_margin_m'],
            energy=energy,
            energy_rtl=values['energy_rtl'],
            mission_speed_m_s=values['mission_speed_m_s'],
        )

    @property
    def pilot(self) -> PilotConfig:
        """Return what autopilot.pilot flies by."""
        return PilotConfig(
            acceptance_radius_m=self.acceptance_radius_m,
            limits=self.limits,
            energy=self.energy,
            mission_speed_m_s=self.mission_speed_m_s,
            takeoff_altitude_m=self.takeoff_altitude_m,
            auto_start=self.auto_start,
            start_hold_s=self.start_hold_s,
        )

    @classmethod
    def from_node(cls, node: Node) -> FlightParams:
        """Read the declared parameters of `node`."""
        values = {name: node.get_parameter(name).value for name in PARAMETERS}
        return cls.from_values(values, node.get_namespace())
