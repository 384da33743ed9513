"""Is a flood observation plausible? Stamp, size and the drone's reach at that stamp (no rclpy).

The mapper fuses an observation only if it could have come from the vehicle whose topic it
arrived on (the mapper subscribes per known vehicle, so the vehicle is known by construction):

- its stamp is not in the future beyond `max_future_s` and not earlier than the mission's start
  minus `max_before_start_s` (a drone may fly before the ground mapper first starts);
- its size is sane: at most `max_patch_cells` cells and `max_patch_m` metres a side;
- its centre is within reach of the drone's reported position at that stamp. Reach: a camera
  tilted up to `max_view_angle_deg` from nadir at height z sees the ground up to
  2 z tan(angle) away (the brief's generous bound; 3.5 z at 60 deg), plus `margin_m` for
  terrain below the mission origin, pose error and a pose/frame stamp offset.

The position at the stamp comes from a `PositionTrace` per vehicle (positions only, kept every
`trace_step_s` over `trace_span_s`): the poses just before and just after the stamp. The drone
moved at most `max_speed_m_s` horizontally and `max_climb_m_s` vertically since (or until) each
of them, so with dt the time to that pose the centre must lie within
reach(z + max_climb_m_s dt) + max_speed_m_s dt + margin_m of it, for each side that is at most
`max_pose_gap_s` away. With poses 0.05 s apart (20 Hz) this is the footprint bound plus a few
metres; across a radio outage (poses lost too) it widens with the gap but stays bounded.

No pose within max_pose_gap_s on either side: if a pose newer than the stamp is known, none
older can come any more (poses are not re-sent), so the observation is refused (`no_pose`);
otherwise the decision is deferred: the mapper neither fuses nor acknowledges it, the drone's
outbox re-sends it, and it is judged once a pose is known. With `check_pose` false (setups with
no pose topic) only the stamp and size are checked.

Not protected: a process that can publish /uavN/pose can move the reach with it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import enum
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.errors import ConfigError

__all__ = [
    'Check',
    'ObservationGate',
    'PlausibilityConfig',
    'PositionTrace',
    'RefuseReason',
    'Verdict',
    'footprint_reach_m',
]


class RefuseReason(enum.StrEnum):
    """Why an observation is implausible; counted with FloodMap's reasons (`rejected_<value>`)."""

    VEHICLE = 'vehicle'  # not a known vehicle (replay of other topics; the node subscribes)
    TOO_LARGE = 'too_large'  # more than max_patch_cells cells or max_patch_m a side
    STAMP_FUTURE = 'stamp_future'  # stamped more than max_future_s after now
    STAMP_OLD = 'stamp_old'  # stamped before the mission's start minus max_before_start_s
    FOOTPRINT = 'footprint'  # the drone's reported pose could not have seen it
    NO_POSE = 'no_pose'  # no pose near the stamp, and none can come any more


class Verdict(enum.StrEnum):
    """The gate's decision."""

    ACCEPT = 'accept'
    REFUSE = 'refuse'  # final: count it, acknowledge it, do not fuse it
    DEFER = 'defer'  # no pose known yet: neither fuse nor acknowledge (it is re-sent)


@dataclass(frozen=True)
class Check:
    """The answer of ObservationGate.check.

    :param verdict: accept, refuse or defer.
    :param reason: the RefuseReason when refused ('' otherwise).
    :param text: why, in words for a log line ('' when accepted).
    """

    verdict: Verdict
    reason: str = ''
    text: str = ''


@dataclass(frozen=True)
class PlausibilityConfig:
    """The bounds of a plausible observation (see the module docstring).

    :raises ConfigError: a bound out of range (named by field).
    """

    max_future_s: float = 2.0
    max_before_start_s: float = 1800.0
    max_patch_cells: int = 4_000_000
    max_patch_m: float = 1000.0
    check_pose: bool = True
    max_view_angle_deg: float = 60.0
    margin_m: float = 25.0
    max_speed_m_s: float = 25.0
    max_climb_m_s: float = 10.0
    max_pose_gap_s: float = 600.0
    trace_step_s: float = 0.5
    trace_span_s: float = 1800.0

    def __post_init__(self) -> None:
        """Check the ranges."""
        for name in (
            'max_future_s',
            'max_before_start_s',
            'margin_m',
            'max_speed_m_s',
            'max_climb_m_s',
            'max_pose_gap_s',
            'trace_step_s',
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f'must be >= 0, got {value}', name)
        for name in ('max_patch_m', 'trace_span_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {value}', name)
        if self.max_patch_cells < 1:
            raise ConfigError(f'must be >= 1, got {self.max_patch_cells}', 'max_patch_cells')
        if not 0.0 < self.max_view_angle_deg < 90.0:
            raise ConfigError(
                f'must be in (0, 90), got {self.max_view_angle_deg}', 'max_view_angle_deg'
            )


def footprint_reach_m(height_m: float, config: PlausibilityConfig) -> float:
    """Return how far from the drone (horizontally, m) a patch centre may be at this height.

    2 x height x tan(max_view_angle_deg) + margin_m; heights below the origin count as 0.
    """
    tan = math.tan(math.radians(config.max_view_angle_deg))
    return 2.0 * max(0.0, height_m) * tan + config.margin_m


class PositionTrace:
    """A vehicle's positions (map ENU, m) over the last span_s, one every step_s at most.

    Positions are appended in time order; one older than the newest kept (out of order) is
    ignored unless it is older than everything (then it extends the trace backwards).

    :param step_s: a position is kept when at least this long after the newest kept (s).
    :param span_s: positions older than this before the newest are dropped (s).
    """

    def __init__(self, step_s: float = 0.5, span_s: float = 1800.0) -> None:
        self.step_s = float(step_s)
        self.span_s = float(span_s)
        self._stamps: list[float] = []
        self._points: list[tuple[float, float, float]] = []

    def __len__(self) -> int:
        """Return how many positions are kept."""
        return len(self._stamps)

    @property
    def newest_stamp(self) -> float | None:
        """Return the stamp of the newest position (s), or None when empty."""
        return self._stamps[-1] if self._stamps else None

    def add(self, stamp_s: float, x: float, y: float, z: float) -> bool:
        """Keep a position if it is new enough (see the class docstring); return whether kept."""
        if not all(math.isfinite(v) for v in (stamp_s, x, y, z)):
            return False
        point = (float(x), float(y), float(z))
        if self._stamps and stamp_s < self._stamps[0]:
            if self._stamps[-1] - stamp_s > self.span_s:
                return False
            self._stamps.insert(0, float(stamp_s))
            self._points.insert(0, point)
            return True
        if self._stamps and stamp_s < self._stamps[-1] + self.step_s:
            return False
        self._stamps.append(float(stamp_s))
        self._points.append(point)
        keep = bisect.bisect_left(self._stamps, self._stamps[-1] - self.span_s)
        if keep:
            del self._stamps[:keep]
            del self._points[:keep]
        return True

    def bracket(
        self, stamp_s: float
    ) -> tuple[tuple[float, tuple[float, float, float]] | None, ...]:
        """Return (stamp, position) just at or before and just at or after a stamp (or None)."""
        index = bisect.bisect_left(self._stamps, stamp_s)
        after = (self._stamps[index], self._points[index]) if index < len(self._stamps) else None
        if after is not None and after[0] == stamp_s:
            return after, after
        before = (self._stamps[index - 1], self._points[index - 1]) if index > 0 else None
        return before, after

    def to_array(self) -> NDArray[np.float64]:
        """Return the trace as an (n, 4) array of stamp, x, y, z."""
        if not self._stamps:
            return np.zeros((0, 4), dtype=np.float64)
        return np.column_stack([np.asarray(self._stamps), np.asarray(self._points)])

    def extend(self, rows: NDArray[Any]) -> None:
        """Add the rows of an (n, 4) array of stamp, x, y, z (a saved trace), in time order."""
        table = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        for stamp, x, y, z in table[np.argsort(table[:, 0], kind='stable')]:
            self.add(float(stamp), float(x), float(y), float(z))


class ObservationGate:
    """Decide per observation: accept, refuse (with the reason) or defer.

    :param config: the bounds.
    :param vehicles: the known vehicle names.
    :param started_s: when the mission (this map) started, on the stamps' clock (s).
    """

    def __init__(
        self, config: PlausibilityConfig, vehicles: Iterable[str], started_s: float
    ) -> None:
        self.config = config
        self.started_s = float(started_s)
        self.traces = {
            v: PositionTrace(config.trace_step_s, config.trace_span_s) for v in vehicles
        }
        self.poses_ignored = 0

    def add_pose(
        self, vehicle: str, stamp_s: float, x: float, y: float, z: float, now_s: float
    ) -> None:
        """Record a reported position; poses stamped in the future are ignored (and counted)."""
        trace = self.traces.get(vehicle)
        if trace is None:
            return
        if stamp_s > now_s + self.config.max_future_s:
            self.poses_ignored += 1
            return
        trace.add(stamp_s, x, y, z)

    def check(
        self,
        vehicle: str,
        stamp_s: float,
        now_s: float,
        origin_east_m: float,
        origin_north_m: float,
        resolution_m: float,
        width: int,
        height: int,
    ) -> Check:
        """Judge one observation (OccupancyGrid fields; structure is FloodMap's to check).

        :param vehicle: the topic's vehicle.
        :param stamp_s: the observation's stamp (s, the clock of now_s).
        :param now_s: the mapper's clock now (s).
        :param origin_east_m: south-west corner east (m, map ENU); likewise origin_north_m.
        :param resolution_m: cell size (m); a non-positive or non-finite one is left to the
            map (refused there as `resolution`).
        :param width: columns; height: rows.
        """
        cfg = self.config
        if vehicle not in self.traces:
            return Check(Verdict.REFUSE, RefuseReason.VEHICLE, f'unknown vehicle {vehicle!r}')
        if width * height > cfg.max_patch_cells:
            return Check(
                Verdict.REFUSE,
                RefuseReason.TOO_LARGE,
                f'{width} x {height} cells, more than max_patch_cells {cfg.max_patch_cells}',
            )
        usable = math.isfinite(resolution_m) and resolution_m > 0.0
        if usable and max(width, height) * resolution_m > cfg.max_patch_m:
            return Check(
                Verdict.REFUSE,
                RefuseReason.TOO_LARGE,
                f'{max(width, height) * resolution_m:.0f} m a side, more than max_patch_m '
                f'{cfg.max_patch_m:g}',
            )
        if not math.isfinite(stamp_s) or stamp_s > now_s + cfg.max_future_s:
            return Check(
                Verdict.REFUSE,
                RefuseReason.STAMP_FUTURE,
                f'stamped {stamp_s - now_s:.1f} s in the future (max_future_s '
                f'{cfg.max_future_s:g})',
            )
        if stamp_s < self.started_s - cfg.max_before_start_s:
            return Check(
                Verdict.REFUSE,
                RefuseReason.STAMP_OLD,
                f'stamped {self.started_s - stamp_s:.0f} s before the mission started ('
                f'max_before_start_s {cfg.max_before_start_s:g})',
            )
        if not cfg.check_pose or not usable:
            return Check(Verdict.ACCEPT)
        centre = (
            origin_east_m + 0.5 * width * resolution_m,
            origin_north_m + 0.5 * height * resolution_m,
        )
        trace = self.traces[vehicle]
        sides = [s for s in trace.bracket(stamp_s) if s is not None]
        near = [(t, p) for t, p in sides if abs(stamp_s - t) <= cfg.max_pose_gap_s]
        if not near:
            newest = trace.newest_stamp
            if newest is not None and newest >= stamp_s:
                return Check(
                    Verdict.REFUSE,
                    RefuseReason.NO_POSE,
                    f'no pose of {vehicle} within max_pose_gap_s {cfg.max_pose_gap_s:g} s of '
                    'the stamp, and none can come any more',
                )
            return Check(Verdict.DEFER, '', f'no pose of {vehicle} near the stamp yet')
        for t, (x, y, z) in near:
            dt = abs(stamp_s - t)
            reach = footprint_reach_m(z + cfg.max_climb_m_s * dt, cfg) + cfg.max_speed_m_s * dt
            distance = math.hypot(centre[0] - x, centre[1] - y)
            if distance > reach:
                return Check(
                    Verdict.REFUSE,
                    RefuseReason.FOOTPRINT,
                    f'patch centre ({centre[0]:.0f}, {centre[1]:.0f}) is {distance:.0f} m from '
                    f'{vehicle} at ({x:.0f}, {y:.0f}, {z:.0f}) {dt:.1f} s from the stamp; it '
                    f'could see {reach:.0f} m',
                )
        return Check(Verdict.ACCEPT)

    # ---- persistence --------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """Return the traces and the start as a header part and arrays (for save_state)."""
        names = list(self.traces)
        arrays = {f'trace_{i}': self.traces[v].to_array() for i, v in enumerate(names)}
        return {'trace_vehicles': names, 'started_s': self.started_s}, arrays

    def restore(self, header: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> None:
        """Load saved traces and the mission's start (vehicles not known here are ignored).

        :raises ValueError, KeyError, TypeError: malformed content.
        """
        self.started_s = float(header['started_s'])
        if not math.isfinite(self.started_s):
            raise ValueError(f'started_s {self.started_s} is not finite')
        for index, vehicle in enumerate(header['trace_vehicles']):
            if str(vehicle) in self.traces:
                self.traces[str(vehicle)].extend(arrays[f'trace_{index}'])
