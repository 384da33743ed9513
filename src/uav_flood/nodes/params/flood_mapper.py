"""flood_mapper's parameters: their table (name: default, description) and their reading.

The node declares PARAMETERS read-only and builds its configuration with the dataclass here,
which checks every value and names the parameter a ConfigError is about.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

from rclpy.node import Node

from uav_flood.core.errors import ConfigError
from uav_flood.core.flood_map import FloodMapError, FusionConfig
from uav_flood.core.geo import (
    GeoError,
    GeoPoint,
    ORIGIN_PARAMETERS,
)
from uav_flood.core.plausibility import PlausibilityConfig
from uav_flood.nodes.params import parse_vehicles

#: The drones' positions are kept every TRACE_STEP_S over TRACE_SPAN_S for the plausibility check.
TRACE_STEP_S = 0.5
TRACE_SPAN_S = 1800.0

# name: (default, description). Defaults equal config/flood_mapper.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'vehicles': (['uav0', 'uav1', 'uav2'], 'Namespaces whose flood_observation and pose to use.'),
    'resolution_m': (0.5, 'Cell edge length of the map (m); patches must use the same.'),
    'p_hit': (0.85, 'Sensor model: P(observe water | water).'),
    'p_false': (0.15, 'Sensor model: P(observe water | dry).'),
    'clamp_log_odds': (3.5, 'Bound on abs(log-odds) when the map is read (3.5 is P = 0.97).'),
    'max_extent_m': (10000.0, 'Side of the square about the origin patches must lie in (m).'),
    # The mission origin, stored in the checkpoint (and so in recordings' parameters) so that
    # export and replay know where the map is. NaN: unknown (the checkpoint says so).
    'origin_lat_deg': (math.nan, 'Mission origin latitude (deg): map (0, 0, 0); NaN: unknown.'),
    'origin_lon_deg': (math.nan, 'Mission origin longitude (deg); NaN: unknown.'),
    'origin_alt_m': (math.nan, 'Mission origin altitude (m AMSL); NaN: unknown.'),
    'water_threshold': (0.5, 'P(water) above which a cell counts as water (polygons, area).'),
    'publish_rate_hz': (1.0, 'Rate of /flood_map (Hz); published only when the map changed.'),
    'markers_period_s': (5.0, 'Period of /flood_map/markers (polygons and tracks) (s).'),
    'min_polygon_area_m2': (10.0, 'Flood regions smaller than this get no outline (m2).'),
    'checkpoint_file': ('', 'Checkpoint (.npz) to reload on start and save to; empty: off.'),
    'checkpoint_interval_s': (
        5.0,
        'Longest a received observation waits before it is in the checkpoint (s).',
    ),
    'tracks': (True, 'Draw the drone tracks from /<vehicle>/pose in the markers.'),
    'track_step_m': (2.0, 'A track gets a new point when the drone moved this far (m).'),
    'track_max_points': (2000, 'Points kept per track; older ones are thinned out.'),
    'dedupe_window': (
        20000,
        'Observation ids remembered per vehicle to fuse each once (about 100 bytes each).',
    ),
    'max_future_s': (2.0, 'Observations stamped further in the future are refused (s).'),
    'max_before_start_s': (
        1800.0,
        'Observations stamped this long before the mission (this map) started are refused (s).',
    ),
    'max_patch_cells': (4000000, 'Observations with more cells are refused.'),
    'max_patch_m': (1000.0, 'Observations longer than this on a side are refused (m).'),
    'check_pose': (
        True,
        'Refuse observations the drone could not have seen from its reported /<vehicle>/pose '
        'at their stamp (false only for setups that publish no pose).',
    ),
    'max_view_angle_deg': (
        60.0,
        'Generous camera view angle from nadir: a patch centre may be 2 x height x '
        'tan(angle) + footprint_margin_m from the drone (deg).',
    ),
    'footprint_margin_m': (25.0, 'Margin of that reach: terrain, pose error (m).'),
    'max_speed_m_s': (25.0, 'Fastest horizontal speed of a drone, to bridge pose gaps (m/s).'),
    'max_climb_m_s': (10.0, 'Fastest climb of a drone, to bridge pose gaps (m/s).'),
    'max_pose_gap_s': (
        600.0,
        'Longest time between a stamp and the nearest pose the speed bound bridges (s).',
    ),
}


@dataclass(frozen=True)
class MapperParams:
    """flood_mapper's parameters, read once (see PARAMETERS for their meaning)."""

    vehicles: tuple[str, ...]
    fusion: FusionConfig
    origin: GeoPoint | None
    water_threshold: float
    publish_rate_hz: float
    markers_period_s: float
    min_polygon_area_m2: float
    checkpoint_file: str
    checkpoint_interval_s: float
    tracks: bool
    track_step_m: float
    track_max_points: int
    dedupe_window: int
    plausibility: PlausibilityConfig

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> MapperParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is out of range.
        """
        vehicles = parse_vehicles(values['vehicles'])
        try:
            fusion = FusionConfig(
                resolution_m=float(values['resolution_m']),
                p_hit=float(values['p_hit']),
                p_false=float(values['p_false']),
                clamp_log_odds=float(values['clamp_log_odds']),
                max_extent_m=float(values['max_extent_m']),
            )
        except FloodMapError as exc:
            raise ConfigError(str(exc), 'fusion parameters') from None
        origin_values = [float(values[k]) for k in ORIGIN_PARAMETERS]
        origin = None
        if not all(math.isnan(v) for v in origin_values):
            try:
                origin = GeoPoint(*origin_values)
            except GeoError as exc:
                raise ConfigError(
                    f'{exc} (all three, or none)', '/'.join(ORIGIN_PARAMETERS)
                ) from None
        for name in ('publish_rate_hz', 'markers_period_s', 'checkpoint_interval_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        threshold = float(values['water_threshold'])
        if not 0.0 <= threshold < 1.0:
            raise ConfigError(f'must be in [0, 1), got {threshold}', 'water_threshold')
        for name in ('min_polygon_area_m2', 'track_step_m'):
            value = float(values[name])
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f'must be >= 0, got {values[name]}', name)
        if int(values['track_max_points']) < 2:
            raise ConfigError(
                f'must be >= 2, got {values["track_max_points"]}', 'track_max_points'
            )
        if int(values['dedupe_window']) < 1:
            raise ConfigError(f'must be >= 1, got {values["dedupe_window"]}', 'dedupe_window')
        try:
            plausibility = PlausibilityConfig(
                max_future_s=float(values['max_future_s']),
                max_before_start_s=float(values['max_before_start_s']),
                max_patch_cells=int(values['max_patch_cells']),
                max_patch_m=float(values['max_patch_m']),
                check_pose=bool(values['check_pose']),
                max_view_angle_deg=float(values['max_view_angle_deg']),
                margin_m=float(values['footprint_margin_m']),
                max_speed_m_s=float(values['max_speed_m_s']),
                max_climb_m_s=float(values['max_climb_m_s']),
                max_pose_gap_s=float(values['max_pose_gap_s']),
                trace_step_s=TRACE_STEP_S,
                trace_span_s=TRACE_SPAN_S,
            )
        except ConfigError as exc:
            field = exc.source or ''
            name = 'footprint_margin_m' if field == 'margin_m' else field
            raise ConfigError(str(exc).removeprefix(f'{field}: '), name) from None
        return cls(
            vehicles=vehicles,
            fusion=fusion,
            origin=origin,
            water_threshold=threshold,
            publish_rate_hz=float(values['publish_rate_hz']),
            markers_period_s=float(values['markers_period_s']),
            min_polygon_area_m2=float(values['min_polygon_area_m2']),
            checkpoint_file=str(values['checkpoint_file']).strip(),
            checkpoint_interval_s=float(values['checkpoint_interval_s']),
            tracks=bool(values['tracks']),
            track_step_m=float(values['track_step_m']),
            track_max_points=int(values['track_max_points']),
            dedupe_window=int(values['dedupe_window']),
            plausibility=plausibility,
        )

    @classmethod
    def from_node(cls, node: Node) -> MapperParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})
