"""Rebuild the flood map from a recording's /uavN/flood_observation messages (no rclpy).

FloodMap's fusion is order-independent (integer evidence counts), so fusing the recorded
observations in any order gives the map the live flood_mapper built from the same ones, bit for
bit; `replay` checks that against the last recorded /flood_map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
import json
import math
import os
import re
from typing import Any

import numpy as np

from uav_flood.core.flood_map import (
    FloodMap,
    FloodMapError,
    FusionConfig,
    PatchRejectedError,
    RejectReason,
)
from uav_flood.core.geo import GeoPoint, ORIGIN_PARAMETERS
from uav_flood.recording.mcap_io import read_messages, read_metadata, RecordingError, topic_summary

__all__ = [
    'FLOOD_MAP_TOPIC',
    'MAPPER_PARAMETERS',
    'OBSERVATION_TOPIC',
    'ReplayResult',
    'compare_grid',
    'recorded_parameters',
    'replay',
]

#: Observation topics of every vehicle namespace.
OBSERVATION_TOPIC = re.compile(r'^/uav\d+/flood_observation$')
FLOOD_MAP_TOPIC = '/flood_map'
#: Metadata record names the recorder gives node parameters: 'parameters:' + node name.
PARAMETERS_PREFIX = 'parameters:'
#: The node whose parameters define the fusion configuration.
MAPPER_PARAMETERS = PARAMETERS_PREFIX + '/flood_mapper'


@dataclass
class ReplayResult:
    """What a replay rebuilt and how it compares with the recorded map.

    :param flood_map: the rebuilt map.
    :param observations: observations fused (each id once: vehicle topic + stamp).
    :param duplicates: observation messages whose id was fused already (the drones' re-sends).
    :param rejected: observations refused, by reason.
    :param compared: whether the recording had a /flood_map to compare with.
    :param cells_differing: cells whose value differs from the last recorded /flood_map (the
        whole union of both grids counts; 0 = identical).
    :param observations_after_last_map: observations logged after the last /flood_map.
    :param config_source: where the fusion configuration came from.
    :param origin: the mission origin, if known.
    """

    flood_map: FloodMap
    observations: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    compared: bool = False
    cells_differing: int = 0
    observations_after_last_map: int = 0
    config_source: str = 'defaults'
    origin: GeoPoint | None = None


def recorded_parameters(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Return {node name: {parameter: value}} of the parameters recorded in a file.

    :raises RecordingError: when the file is not a readable MCAP.
    """
    result = {}
    for name, record in read_metadata(path).items():
        if name.startswith(PARAMETERS_PREFIX):
            values = {}
            for key, text in record.items():
                try:
                    values[key] = json.loads(text)
                except (ValueError, RecursionError):  # kept as text, like the recorder's
                    values[key] = text
            result[name[len(PARAMETERS_PREFIX) :]] = values
    return result


def _config_from(params: dict[str, Any], overrides: dict[str, float]) -> FusionConfig:
    names = {f.name for f in fields(FusionConfig)}
    values = {k: float(v) for k, v in params.items() if k in names and isinstance(v, int | float)}
    values.update(overrides)
    return FusionConfig(**values)


def compare_grid(
    a_origin: tuple[float, float],
    a_shape: tuple[int, int],
    a: np.ndarray[Any, Any],
    b_origin: tuple[float, float],
    b_shape: tuple[int, int],
    b: np.ndarray[Any, Any],
    resolution_m: float,
) -> int:
    """Return the number of cells that differ between two grids of one global lattice.

    Cells outside a grid count as -1 (unknown); the grids are (rows, cols) with row 0 south.
    Memory is that of the grids themselves: two grids far apart are not drawn on one canvas.

    :param a_origin: south-west corner (m, map ENU) of grid a; likewise b_origin.
    """
    a_col, a_row = (round(a_origin[0] / resolution_m), round(a_origin[1] / resolution_m))
    b_col, b_row = (round(b_origin[0] / resolution_m), round(b_origin[1] / resolution_m))
    grid_a = np.asarray(a, dtype=np.int16).reshape(a_shape) if a_shape[0] * a_shape[1] else None
    grid_b = np.asarray(b, dtype=np.int16).reshape(b_shape) if b_shape[0] * b_shape[1] else None
    # Known cells of each grid count as differing, unless the other grid holds the same value.
    differing = sum(int(np.count_nonzero(g != -1)) for g in (grid_a, grid_b) if g is not None)
    if grid_a is None or grid_b is None:
        return differing
    col0, row0 = max(a_col, b_col), max(a_row, b_row)
    col1 = min(a_col + a_shape[1], b_col + b_shape[1])
    row1 = min(a_row + a_shape[0], b_row + b_shape[0])
    if col1 <= col0 or row1 <= row0:
        return differing
    both_a = grid_a[row0 - a_row : row1 - a_row, col0 - a_col : col1 - a_col]
    both_b = grid_b[row0 - b_row : row1 - b_row, col0 - b_col : col1 - b_col]
    # In the overlap: the cells counted above that are equal and known in both were no
    # difference (counted twice), and those known in one only were counted once, rightly.
    same_known = int(np.count_nonzero((both_a == both_b) & (both_a != -1)))
    differ_both_known = int(np.count_nonzero((both_a != both_b) & (both_a != -1) & (both_b != -1)))
    return differing - 2 * same_known - differ_both_known


def replay(
    path: str | os.PathLike[str],
    overrides: dict[str, float] | None = None,
    origin: GeoPoint | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Fuse every recorded flood observation into a new FloodMap and compare with /flood_map.

    :param path: the .mcap recording.
    :param overrides: FusionConfig fields that replace the recorded mapper's parameters.
    :param origin: the mission origin; else the recorded origin_* parameters, if any.
    :param progress: called with (observations read, observations recorded) before the first
        and after each one.
    :raises RecordingError: when the file is unreadable or holds no flood observation.
    :raises FloodMapError: when the fusion configuration is invalid.
    """
    topics = topic_summary(path)
    params = recorded_parameters(path)
    mapper = params.get('/flood_mapper', {})
    vehicles = mapper.get('vehicles')
    if isinstance(vehicles, list) and vehicles:
        # The mapper fused exactly its vehicles' observations: so does the replay.
        wanted_topics = {f'/{str(v).strip("/")}/flood_observation' for v in vehicles}
        observation_topics = sorted(t for t in topics if t in wanted_topics)
    else:
        observation_topics = sorted(t for t in topics if OBSERVATION_TOPIC.match(t))
    if not observation_topics or not any(topics[t][1] for t in observation_topics):
        raise RecordingError(f'{path}: no /uavN/flood_observation messages in the recording')
    config = _config_from(mapper, dict(overrides or {}))
    if mapper:
        source = 'recorded /flood_mapper parameters' + (' + options' if overrides else '')
    else:
        source = 'options' if overrides else 'defaults'
    if origin is None:
        for values in params.values():
            # A mapper with no origin records NaN (unknown): skip it.
            if all(
                isinstance(values.get(k), int | float) and math.isfinite(values[k])
                for k in ORIGIN_PARAMETERS
            ):
                origin = GeoPoint(*(float(values[k]) for k in ORIGIN_PARAMETERS))
                break
    result = ReplayResult(FloodMap(config, origin=origin), config_source=source, origin=origin)
    last_map: Any = None
    seen: set[tuple[str, int, int]] = set()  # ids: the mapper fuses each once, and so do we
    wanted = [*observation_topics, FLOOD_MAP_TOPIC]
    total, done = sum(topics[t][1] for t in observation_topics), 0
    if progress is not None:
        progress(0, total)
    for record in read_messages(path, wanted):
        msg = record.message
        if record.topic == FLOOD_MAP_TOPIC:
            last_map = msg
            result.observations_after_last_map = 0
            continue
        done += 1
        if progress is not None:
            progress(done, total)
        key = (record.topic, int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        result.observations_after_last_map += 1
        try:
            if msg.header.frame_id != 'map':
                raise PatchRejectedError(
                    RejectReason.FRAME, f'frame {msg.header.frame_id!r} is not map'
                )
            position = msg.info.origin.position
            result.flood_map.apply_arrays(
                float(position.x),
                float(position.y),
                float(msg.info.resolution),
                int(msg.info.width),
                int(msg.info.height),
                np.asarray(msg.data, dtype=np.int8),
            )
            result.observations += 1
        except PatchRejectedError as exc:
            reason = str(exc.reason)
            result.rejected[reason] = result.rejected.get(reason, 0) + 1
    if last_map is not None:
        result.compared = True
        live = result.flood_map.to_occupancy()
        info = last_map.info
        recorded = np.asarray(last_map.data, dtype=np.int8)
        if recorded.size != int(info.width) * int(info.height):
            raise RecordingError(
                f'{path}: the last /flood_map holds {recorded.size} cells, its header says '
                f'{info.width} x {info.height}'
            )
        if not math.isclose(float(info.resolution), config.resolution_m, rel_tol=1e-6):
            raise FloodMapError(
                f'the recorded /flood_map has {info.resolution} m cells, the replay '
                f'{config.resolution_m} m: pass --resolution {info.resolution}'
            )
        result.cells_differing = compare_grid(
            (live.origin_east, live.origin_north),
            (live.height, live.width),
            live.data,
            (float(info.origin.position.x), float(info.origin.position.y)),
            (int(info.height), int(info.width)),
            recorded,
            config.resolution_m,
        )
    return result
