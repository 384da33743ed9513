"""swarm_coordinator's parameters: their table (name: default, description) and their reading.

The node declares PARAMETERS read-only and builds its configuration with the dataclass here,
which checks every value and names the parameter a ConfigError is about.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

from rclpy.node import Node

from uav_flood.core import sitl
from uav_flood.core.coverage import (
    Camera,
    PlanConfig,
    PlanningError,
)
from uav_flood.core.errors import ConfigError, UavFloodError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.mission import MissionError, PathLimits, TRANSIT_SPEED_M_S
from uav_flood.core.safety import EnergyModel
from uav_flood.nodes.params import parse_vehicles

# name: (default, description). Defaults equal config/swarm_coordinator.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'vehicles': (['uav0', 'uav1', 'uav2'], 'Namespaces of the drones (flight_control per name).'),
    'origin_lat_deg': (
        sitl.PX4_SITL_HOME.lat_deg,
        'Mission origin latitude (deg): map (0, 0, 0).',
    ),
    'origin_lon_deg': (sitl.PX4_SITL_HOME.lon_deg, 'Mission origin longitude (deg).'),
    'origin_alt_m': (sitl.PX4_SITL_HOME.alt_m, 'Mission origin altitude (m AMSL): map z = 0.'),
    'area_file': (
        '',
        'Area of interest (GeoJSON, WGS84). Empty: wait for /swarm/area_of_interest.',
    ),
    'no_fly_file': ('', 'Extra no-fly zones (GeoJSON, WGS84). Empty: none.'),
    'altitude_m': (60.0, 'Altitude of the lowest drone layer (m above the origin).'),
    'altitude_step_m': (5.0, 'Altitude separation between the drones (m).'),
    'overlap': (0.2, 'Side overlap of neighbouring sweep legs (fraction, [0, 0.9)).'),
    'hfov_deg': (70.0, 'Camera horizontal field of view, across track (deg).'),
    'width': (640, 'Camera image width (px).'),
    'height': (480, 'Camera image height (px).'),
    'no_fly_margin_m': (5.0, 'Distance sweep legs keep from no-fly zones (m).'),
    'turn_penalty_s': (2.0, 'Time a turn of more than 30 deg costs (s).'),
    'cruise_speed_m_s': (4.4, 'Cruise speed of every drone over the area (m/s).'),
    'climb_speed_m_s': (2.0, 'Energy model: mean climb speed (m/s).'),
    'descent_speed_m_s': (1.0, 'Energy model: descent and landing speed (m/s).'),
    'transit_speed_m_s': (
        TRANSIT_SPEED_M_S,
        "Ground speed of the transits, as flight_control's (m/s); 0: at cruise speed.",
    ),
    'transit_accel_m_s2': (1.0, 'Energy model: mean acceleration on a transit (m/s^2).'),
    'battery_drain_pct_per_s': (0.07, 'Energy model: battery percent used per second (%/s).'),
    'battery_reserve_pct': (20.0, 'Battery percent that must be left on landing (%).'),
    'return_altitude_m': (30.0, 'Energy model: RTL altitude above home (m).'),
    'check_energy': (True, 'Refuse plans a battery cannot fly (false: plan geometry only).'),
    'sorties': (
        True,
        'Fly a part larger than one battery in sorties with a battery swap at home between '
        'them (false: refuse such a plan).',
    ),
    'swap_time_s': (
        120.0,
        'Planning: time on the ground between two sorties for the battery swap (s).',
    ),
    'frame_spacing_m': (
        0.0,
        'Planning: how far a drone may fly between two frames its segmentation processes, '
        'beyond what the overlap allows for (m): legs end that much later. 0 when the on-board '
        'computer keeps up with the camera.',
    ),
    'auto_resume': (
        False,
        'Send the next sortie as soon as the drone is landed, ready and its battery holds it; '
        'false: also wait for an operator to confirm the swap on /swarm/battery_swapped.',
    ),
    'min_altitude_m': (5.0, 'Lowest waypoint (m above the origin), as flight_control.'),
    'max_altitude_m': (120.0, 'Highest waypoint (m above the origin), as flight_control.'),
    'max_distance_m': (5000.0, 'Farthest waypoint from the origin (m), as flight_control.'),
    'status_timeout_s': (3.0, 'A drone whose status stops for this long is lost (s).'),
    'fleet_wait_s': (
        10.0,
        'Plan when every vehicle has reported status, pose and battery, or this long after the '
        'area is known with those that have (s).',
    ),
    'replan_on_loss': (True, 'Re-plan the remainder for the healthy drones when one is lost.'),
    'start_timeout_s': (
        60.0,
        'A drone that has not started the mission of a path this long after it was sent is '
        'lost (s).',
    ),
    'readmit_after_s': (
        5.0,
        'A lost drone that is fit again is taken back no sooner than this after the loss (s).',
    ),
    'max_readmissions': (3, 'How often one drone is taken back after a loss, at most.'),
    'readmit_min_battery_pct': (
        35.0,
        'A lost drone is taken back only with at least this much battery (%).',
    ),
    'state_file': (
        '',
        'JSON file the mission state is saved to and resumed from after a restart. Empty: off.',
    ),
    'map_gap_rounds': (
        2,
        'When every drone is done, fly what /flood_map has not seen of the area again, at most '
        'this many times (0: trust the flown paths).',
    ),
    'map_gap_min_m2': (
        25.0,
        'An unseen gap in /flood_map smaller than this is not worth a flight (m2).',
    ),
    'map_quiet_s': (
        5.0,
        'The map is checked once every drone is done and /flood_map has not changed for this '
        'long (s): the last frames are still being segmented and fused meanwhile.',
    ),
}


@dataclass(frozen=True)
class CoordinatorParams:
    """swarm_coordinator's parameters, read once (see PARAMETERS for their meaning)."""

    vehicles: tuple[str, ...]
    origin: GeoPoint
    area_file: str
    no_fly_file: str
    plan: PlanConfig
    cruise_speed_m_s: float
    status_timeout_s: float
    fleet_wait_s: float
    replan_on_loss: bool
    start_timeout_s: float
    readmit_after_s: float
    max_readmissions: int
    readmit_min_battery_pct: float
    state_file: str
    auto_resume: bool = False
    map_gap_rounds: int = 2
    map_gap_min_m2: float = 25.0
    map_quiet_s: float = 5.0

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> CoordinatorParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is out of range.
        """
        vehicles = parse_vehicles(values['vehicles'])
        try:
            origin = GeoPoint(
                values['origin_lat_deg'], values['origin_lon_deg'], values['origin_alt_m']
            )
        except UavFloodError as exc:
            raise ConfigError(str(exc), 'origin_lat_deg/origin_lon_deg/origin_alt_m') from None
        for name in ('status_timeout_s', 'cruise_speed_m_s', 'start_timeout_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        for name in ('readmit_after_s', 'readmit_min_battery_pct'):
            value = float(values[name])
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f'must be >= 0, got {values[name]}', name)
        for name in ('max_readmissions', 'map_gap_rounds'):
            if int(values[name]) < 0:
                raise ConfigError(f'must be >= 0, got {values[name]}', name)
        for name in ('map_gap_min_m2', 'map_quiet_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f'must be >= 0, got {values[name]}', name)
        fleet_wait = float(values['fleet_wait_s'])
        if not (math.isfinite(fleet_wait) and fleet_wait >= 0.0):
            raise ConfigError(f'must be >= 0, got {values["fleet_wait_s"]}', 'fleet_wait_s')
        try:
            energy = EnergyModel(
                drain_pct_per_s=float(values['battery_drain_pct_per_s']),
                cruise_speed_m_s=float(values['cruise_speed_m_s']),
                climb_speed_m_s=float(values['climb_speed_m_s']),
                descent_speed_m_s=float(values['descent_speed_m_s']),
                reserve_pct=float(values['battery_reserve_pct']),
                return_altitude_m=float(values['return_altitude_m']),
                transit_speed_m_s=float(values['transit_speed_m_s']),
                transit_accel_m_s2=float(values['transit_accel_m_s2']),
            )
            limits = PathLimits(
                min_altitude_m=float(values['min_altitude_m']),
                max_altitude_m=float(values['max_altitude_m']),
                max_distance_m=float(values['max_distance_m']),
            )
        except MissionError as exc:
            raise ConfigError(str(exc), 'energy model / path limits') from None
        try:
            camera = Camera(float(values['hfov_deg']), int(values['width']), int(values['height']))
            plan = PlanConfig(
                base_altitude_m=float(values['altitude_m']),
                altitude_step_m=float(values['altitude_step_m']),
                overlap=float(values['overlap']),
                camera=camera,
                no_fly_margin_m=float(values['no_fly_margin_m']),
                turn_penalty_s=float(values['turn_penalty_s']),
                energy=energy,
                check_energy=bool(values['check_energy']),
                limits=limits,
                sorties=bool(values['sorties']),
                swap_time_s=float(values['swap_time_s']),
                frame_spacing_m=float(values['frame_spacing_m']),
            )
        except PlanningError as exc:
            raise ConfigError(str(exc), 'planning parameters') from None
        return cls(
            vehicles=vehicles,
            origin=origin,
            area_file=str(values['area_file']).strip(),
            no_fly_file=str(values['no_fly_file']).strip(),
            plan=plan,
            cruise_speed_m_s=float(values['cruise_speed_m_s']),
            status_timeout_s=float(values['status_timeout_s']),
            fleet_wait_s=fleet_wait,
            replan_on_loss=bool(values['replan_on_loss']),
            start_timeout_s=float(values['start_timeout_s']),
            readmit_after_s=float(values['readmit_after_s']),
            max_readmissions=int(values['max_readmissions']),
            readmit_min_battery_pct=float(values['readmit_min_battery_pct']),
            state_file=str(values['state_file']).strip(),
            auto_resume=bool(values['auto_resume']),
            map_gap_rounds=int(values['map_gap_rounds']),
            map_gap_min_m2=float(values['map_gap_min_m2']),
            map_quiet_s=float(values['map_quiet_s']),
        )

    @classmethod
    def from_node(cls, node: Node) -> CoordinatorParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})
