"""Coverage progress and drone loss for the swarm coordinator (map ENU, m; no rclpy).

The coordinator hands each drone a coverage path; flight_control reports which of its waypoints
have been reached (a prefix of the path: the mission has no jumps) and where the drone is. What
a drone has covered is the flown part of its path, the legs up to the last waypoint reached
plus the part of the next leg up to the drone's position projected on it, buffered by
swath / 2, the same rule the planner uses for its own coverage metric. When a path is replaced
(a re-plan), the flown part of the old one is kept.

A drone is lost when its status stops, when its telemetry stops and it reports a lost link
(the report alone is not evidence: anyone on the ROS domain can publish a status), a failsafe
(battery or autopilot) or a return to launch before its mission is completed, a refused or failed
mission, or a mission it has not started within a bounded time. A lost drone is taken back
(`readmission_block`) once it is fit again: telemetry fresh, link up, no failsafe, battery above
the reserve, on the ground ready to arm or in the air not on its way home. What a re-plan needs,
the remainder, is the planner's region minus what is covered; covered only grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import math

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from uav_flood.core.coverage.footprint import swath_geometry
from uav_flood.core.mission import Enu
from uav_flood.core.mission_supervisor import MissionState
from uav_flood.core.status_schema import (
    ACK_STATES,
    FAILED_STATES,
    IN_AIR,
    STARTING_STATES,
    VehicleStatus,
)

XY = tuple[float, float]

#: A path is taken as acknowledged this long after it was sent if its status shows a mission of
#: the path's size, even without an ACK_STATES state seen in between (s).
ACK_FALLBACK_S = 2.0


def flown_polyline(
    path: Sequence[Enu], reached: int, position: XY | None, tolerance_m: float
) -> list[XY]:
    """Return the flown part of a path as (east, north) points (map ENU, m).

    :param path: the drone's waypoints (map ENU).
    :param reached: index of the last waypoint reached (-1: none yet; earlier ones are implied).
    :param position: the drone's position now (east, north), or None when unknown.
    :param tolerance_m: the position counts on the next leg only within this distance of it (m).
    """
    if reached < 0 or not path:
        return []
    last = min(reached, len(path) - 1)
    points: list[XY] = [(p[0], p[1]) for p in path[: last + 1]]
    if position is not None and last + 1 < len(path):
        leg = LineString([points[-1], (path[last + 1][0], path[last + 1][1])])
        here = Point(position)
        if leg.length > 0.0 and leg.distance(here) <= tolerance_m:
            along = leg.project(here)
            if along > 0.0:
                projected = leg.interpolate(along)
                points.append((projected.x, projected.y))
    return points


def path_length_m(points: Sequence[Sequence[float]]) -> float:
    """Return the horizontal length of a polyline (m)."""
    return sum(math.dist(p[:2], q[:2]) for p, q in zip(points, points[1:], strict=False))


def loss_reason(
    values: VehicleStatus | Mapping[str, str],
    status_age_s: float,
    timeout_s: float,
    acknowledged: bool,
    telemetry_age_s: float | None = None,
    since_sent_s: float = 0.0,
    start_timeout_s: float = math.inf,
) -> str | None:
    """Return why a drone must be counted lost, or None while it is healthy.

    :param values: the last status of its flight_control (parsed, or its key/values).
    :param status_age_s: time since that status arrived (s).
    :param timeout_s: a status (or telemetry) older than this means the drone is lost (s).
    :param acknowledged: flight_control has taken the path last sent (mission_state then refers
        to it); False before any path or while a new path is on its way.
    :param telemetry_age_s: time since the coordinator last received the drone's telemetry (its
        pose) itself (s); a reported 'link lost' counts only when this is over `timeout_s` too.
        None: unknown, the report is believed.
    :param since_sent_s: time since the path was sent (s).
    :param start_timeout_s: an acknowledged path whose mission has not started this long after
        it was sent means the drone is lost (s).
    """
    status = VehicleStatus.of(values)
    if status_age_s > timeout_s:
        return f'status silent for {status_age_s:.1f} s (status_timeout_s {timeout_s:g})'
    if status.link_lost:
        if telemetry_age_s is None:
            return 'autopilot link lost'
        if telemetry_age_s > timeout_s:
            return f'autopilot link lost (no telemetry for {telemetry_age_s:.1f} s)'
    elif telemetry_age_s is not None and telemetry_age_s > timeout_s:
        return f'telemetry silent for {telemetry_age_s:.1f} s (status_timeout_s {timeout_s:g})'
    state = status.mission_state
    if state != MissionState.COMPLETED and status.in_failsafe:
        return f'failsafe before its mission was completed: {status.failsafe}'
    if not acknowledged:
        return None
    if state in FAILED_STATES:
        refusal = status.last_refusal
        return f'mission {status.state_word}' + (f': {refusal}' if refusal else '')
    if state == MissionState.ACTIVE and status.homebound:
        return f'{status.flight_mode} before its mission was completed'
    if state in STARTING_STATES and since_sent_s > start_timeout_s:
        detail = status.retrying or status.not_ready_reason
        return (
            f'mission not started {since_sent_s:.0f} s after its path was sent '
            f'(still {status.state_word})' + (f': {detail}' if detail else '')
        )
    return None


def readmission_block(
    values: VehicleStatus | Mapping[str, str],
    status_age_s: float,
    telemetry_age_s: float,
    timeout_s: float,
    battery_pct: float | None,
    min_battery_pct: float,
) -> str | None:
    """Return why a lost drone cannot be taken back yet, or None when it is fit to fly again.

    Fit: its status and telemetry are fresh, the link is up, no failsafe holds, its battery is
    above `min_battery_pct`, and it is either disarmed on the ground and ready to arm, or in the
    air and not on its way home or landing (a drone whose link dropped and came back).

    :param values: the drone's last flight_control status (parsed, or its key/values).
    :param status_age_s: time since that status arrived (s).
    :param telemetry_age_s: time since its last telemetry (pose) arrived (s).
    :param timeout_s: fresh means younger than this (s).
    :param battery_pct: its last battery report (%), None if unknown.
    :param min_battery_pct: least battery worth flying with (%).
    """
    status = VehicleStatus.of(values)
    if status_age_s > timeout_s or telemetry_age_s > timeout_s:
        return 'no fresh status and telemetry'
    if not status.connected:
        return f'autopilot {status.connection or "not reporting"}'
    if status.in_failsafe:
        return f'failsafe: {status.failsafe}'
    if battery_pct is None or battery_pct < min_battery_pct:
        level = 'unknown' if battery_pct is None else f'{battery_pct:.0f} %'
        return f'battery {level} < {min_battery_pct:g} %'
    if status.on_ground:
        if status.armed:
            return 'armed on the ground'
        if status.ready_to_arm is False:
            return f'not ready to arm: {status.not_ready_reason}'.rstrip(': ')
        return None
    if status.landed_state == IN_AIR and not status.homebound:
        return None
    return (
        f'{status.landed_state or "unknown landed state"}, {status.flight_mode or "unknown mode"}'
    )


def swap_block(
    values: VehicleStatus | Mapping[str, str],
    status_age_s: float,
    telemetry_age_s: float,
    timeout_s: float,
    battery_pct: float | None,
    need_pct: float,
) -> str | None:
    """Return why a drone between two sorties cannot take off yet, or None when it can.

    It can once it is landed, disarmed and ready to arm with fresh status and telemetry, no
    failsafe, and a battery of at least `need_pct`: the next sortie's energy and the reserve,
    which only a swapped battery has (see readmission_block for the rest).

    :param values: the drone's last flight_control status (parsed, or its key/values).
    :param status_age_s: time since that status arrived (s).
    :param telemetry_age_s: time since its last telemetry (pose) arrived (s).
    :param timeout_s: fresh means younger than this (s).
    :param battery_pct: its last battery report (%), None if unknown.
    :param need_pct: battery the next sortie needs, reserve included (%).
    """
    status = VehicleStatus.of(values)
    if not status.on_ground:
        return f'not landed ({status.landed_state or "unknown landed state"})'
    block = readmission_block(
        status, status_age_s, telemetry_age_s, timeout_s, battery_pct, need_pct
    )
    if block is not None and block.startswith('battery'):
        return f'waiting for a battery swap: {block}'
    return block


@dataclass
class DroneTrack:
    """What the coordinator knows of one drone's coverage.

    :param name: the drone's name, e.g. 'uav0'.
    :param path: the path last sent to it (map ENU), empty when it has none.
    :param reached: index of the last waypoint of `path` reached (-1: none).
    :param position: its last position (east, north; map ENU), None until known.
    :param flown_before: flown polylines of the paths it flew before `path`.
    :param acknowledged: flight_control has taken `path`.
    :param sent_at_s: when `path` was sent (s, the caller's clock).
    :param completed: it reported `path` completed.
    :param lost: why it is lost, '' while it is not.
    :param path_stamp_ns: the stamp of the path message last sent (ns), which flight_control
        echoes in its status as `path_stamp` once it has taken that path; None: not known.
    :param lost_at_s: when it was last declared lost (s, the caller's clock).
    :param readmissions: how often it was taken back after a loss.
    :param sortie: which of its plan's sorties `path` is (0: the first).
    :param sorties: how many sorties its plan has (1: one flight).
    """

    name: str
    path: tuple[Enu, ...] = ()
    reached: int = -1
    position: XY | None = None
    flown_before: list[list[XY]] = field(default_factory=list)
    acknowledged: bool = False
    sent_at_s: float = 0.0
    completed: bool = False
    lost: str = ''
    path_stamp_ns: int | None = None
    lost_at_s: float = math.nan
    readmissions: int = 0
    sortie: int = 0
    sorties: int = 1

    @property
    def between_sorties(self) -> bool:
        """Return whether it completed a sortie and has more to fly (a battery swap first)."""
        return bool(self.path) and self.completed and self.sortie + 1 < self.sorties

    def flown(self, tolerance_m: float) -> list[XY]:
        """Return the flown part of the current path (see flown_polyline)."""
        return flown_polyline(self.path, self.reached, self.position, tolerance_m)

    def remaining_m(self, tolerance_m: float) -> float:
        """Return the length of the current path still to fly (m)."""
        if not self.path or self.completed:
            return 0.0
        flown = self.flown(tolerance_m)
        if not flown:
            return path_length_m(self.path)
        return max(0.0, path_length_m(self.path) - path_length_m(flown))

    @property
    def state(self) -> str:
        """Return its state: lost, done, swap, flying, sent or idle.

        'swap': between two sorties; 'sent': its path not yet taken; 'idle': no path.
        """
        if self.lost:
            return 'lost'
        if not self.path:
            return 'idle'
        if self.between_sorties:
            return 'swap'
        if self.completed:
            return 'done'
        return 'flying' if self.acknowledged else 'sent'


class CoverageTracker:
    """Progress of every drone's path and the covered geometry (map ENU).

    :param region: what is to be covered (the plan's region: area minus no-fly zones).
    :param swath_m: the swath of the plan (m).
    :param drones: the drones' names.
    :param reach_m: how far the camera sees ahead and behind (footprint.reach_m; the plan's
        PlanConfig.reach_m), or None: a flown line covers its buffer by swath / 2.
    """

    def __init__(
        self,
        region: BaseGeometry,
        swath_m: float,
        drones: Sequence[str],
        reach_m: float | None = None,
    ) -> None:
        self.region = region
        self.swath_m = swath_m
        self.reach_m = reach_m
        self.tracks = {name: DroneTrack(name) for name in drones}
        #: Everything ever counted covered: the covered geometry only grows (a path replaced
        #: or a drone lost never uncovers what was flown).
        self._covered: BaseGeometry = Point().buffer(0)

    @property
    def tolerance_m(self) -> float:
        """Return how far off its next leg a drone's position still counts as on it (m)."""
        return 0.5 * self.swath_m

    def set_path(
        self,
        name: str,
        path: Sequence[Enu],
        now_s: float,
        stamp_ns: int | None = None,
        sortie: int = 0,
        sorties: int = 1,
    ) -> None:
        """Record a path sent to a drone; what it flew of its previous path stays covered.

        :param name: the drone.
        :param path: the new path (map ENU).
        :param now_s: when it was sent (s).
        :param stamp_ns: the header stamp of the path message (ns), if known.
        :param sortie: which of the drone's sorties the path is (0: the first).
        :param sorties: how many sorties the drone's plan has (1: one flight).
        """
        track = self.tracks[name]
        flown = track.flown(self.tolerance_m)
        if flown:
            track.flown_before.append(flown)
        track.path = tuple(path)
        track.reached = -1
        track.acknowledged = False
        track.completed = False
        track.sent_at_s = now_s
        track.path_stamp_ns = stamp_ns
        track.sortie, track.sorties = sortie, max(1, sorties)

    def set_position(self, name: str, position: XY) -> None:
        """Record where a drone is (east, north; map ENU, m)."""
        self.tracks[name].position = position

    def update_status(
        self, name: str, values: VehicleStatus | Mapping[str, str], now_s: float
    ) -> None:
        """Apply a flight_control status to a drone's progress.

        Reached waypoints count only once flight_control has taken the path last sent, so that
        the status of its previous mission is never read against the new path.

        :param name: the drone.
        :param values: its status, parsed or as key/values (mission_state, path_stamp,
            mission_waypoint_total, mission_waypoints_reached).
        :param now_s: when it arrived (s).
        """
        track = self.tracks[name]
        if not track.path:
            return
        # A lost drone's progress still counts: a drone whose link dropped flies on (PX4 keeps
        # flying its mission) and what it flew is covered.
        status = VehicleStatus.of(values)
        state = status.mission_state
        total = status.mission_waypoint_total
        if not track.acknowledged:
            echoed = status.path_stamp
            if echoed is not None and track.path_stamp_ns is not None:
                # flight_control says which path its state is about: no guessing, no race
                # with a status of the previous path (its 'failed' is not the new path's).
                if echoed != str(track.path_stamp_ns):
                    return
                track.acknowledged = True
            else:
                late = now_s - track.sent_at_s >= ACK_FALLBACK_S and total == len(track.path)
                if state in ACK_STATES or (late and state != MissionState.COMPLETED):
                    track.acknowledged = True
                else:
                    return
        if total != len(track.path):
            return
        reached = status.mission_waypoints_reached
        if reached:
            track.reached = max(track.reached, min(max(reached), len(track.path) - 1))
        if state == MissionState.COMPLETED:
            track.completed = True
            track.reached = len(track.path) - 1

    def flown(self, name: str) -> list[list[XY]]:
        """Return every flown polyline of a drone: earlier paths and the current one."""
        track = self.tracks[name]
        current = track.flown(self.tolerance_m)
        return [*track.flown_before, *([current] if current else [])]

    def covered(self) -> BaseGeometry:
        """Return what the fleet has covered (map ENU polygon); it never shrinks."""
        lines = [line for name in self.tracks for line in self.flown(name)]
        now = swath_geometry(lines, self.swath_m, self.reach_m)
        if not now.difference(self._covered).is_empty:
            self._covered = shapely.union_all([self._covered, now])
        return self._covered

    def add_covered(self, geometry: BaseGeometry) -> None:
        """Count `geometry` as covered (restored from a saved state, map ENU)."""
        if not geometry.is_empty:
            self._covered = shapely.union_all([self._covered, geometry])

    def coverage(self) -> float:
        """Return the covered fraction of the region (0..1)."""
        area = float(self.region.area)
        if area <= 0.0:
            return 1.0
        return min(1.0, float(self.covered().intersection(self.region).area) / area)

    def time_left_s(self, speeds_m_s: Mapping[str, float]) -> float:
        """Return the longest flight time left on the paths of drones not lost (s).

        :param speeds_m_s: each drone's cruise speed (m/s).
        """
        times = [
            track.remaining_m(self.tolerance_m) / speeds_m_s[name]
            for name, track in self.tracks.items()
            if not track.lost
        ]
        return max(times, default=0.0)

    def unfinished(self, name: str) -> bool:
        """Return whether a drone has a path it has not completed, or sorties left to fly."""
        track = self.tracks[name]
        return bool(track.path) and (not track.completed or track.between_sorties)
