"""The swarm coordinator's decisions, without ROS (nodes/swarm_coordinator.py is its ROS side).

It plans the coverage once the area and the fleet are known, follows each drone's progress from
its flight_control status and pose, declares a drone lost (silence, failure, failsafe, a mission
not started), re-plans the remainder for the healthy drones, flies sorties with battery swaps,
takes back drones that are fit again, checks the fused map for gaps once the drones are done,
saves the mission state (core.coverage.persist) and says where it stands (status_schema
.SwarmStatus). What it sends goes out through the callbacks it is given: each drone's path (with
the stamp a plan's paths share) and "the markers changed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
import time
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from uav_flood.core import status_schema
from uav_flood.core.coverage import (
    Area,
    CoveragePlan,
    Drone,
    DronePlan,
    free_region,
    persist,
    plan_coverage,
    PlanConfig,
    PlanningError,
    replan_coverage,
)
from uav_flood.core.coverage.gaps import map_gaps
from uav_flood.core.coverage.progress import (
    CoverageTracker,
    loss_reason,
    readmission_block,
    swap_block,
    XY,
)
from uav_flood.core.errors import UavFloodError
from uav_flood.core.georef import GridPatch
from uav_flood.core.mission import Enu
from uav_flood.core.status_schema import DroneEntry, SwarmStatus, VehicleStatus

#: The mission state is saved at most this often while only progress changes (s).
SAVE_PERIOD_S = 1.0
#: Coverage at which nothing is left to re-plan (fraction of the region).
DONE_COVERAGE = 0.999
#: Warnings in loops are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0
#: A drone higher than this above the origin is taken as flying (m).
AIRBORNE_M = 2.0
#: A plan or re-plan that kept the executor this long (s) was deaf: no status was read meanwhile,
#: so silence up to its end is not held against the drones.
DEAF_AFTER_S = 0.5
#: The map is checked at the latest this many map_quiet_s after the drones are done, even if it
#: still changes (a camera still sending from the ground must not hold the mission open).
MAP_WAIT_MAX_QUIET = 6.0


class CoordinatorConfig(Protocol):
    """What the coordinator is configured with (swarm_coordinator's parameters, read-only)."""

    @property
    def vehicles(self) -> tuple[str, ...]: ...

    @property
    def plan(self) -> PlanConfig: ...

    @property
    def cruise_speed_m_s(self) -> float: ...

    @property
    def status_timeout_s(self) -> float: ...

    @property
    def fleet_wait_s(self) -> float: ...

    @property
    def replan_on_loss(self) -> bool: ...

    @property
    def start_timeout_s(self) -> float: ...

    @property
    def readmit_after_s(self) -> float: ...

    @property
    def max_readmissions(self) -> int: ...

    @property
    def readmit_min_battery_pct(self) -> float: ...

    @property
    def state_file(self) -> str: ...

    @property
    def auto_resume(self) -> bool: ...

    @property
    def map_gap_rounds(self) -> int: ...

    @property
    def map_gap_min_m2(self) -> float: ...

    @property
    def map_quiet_s(self) -> float: ...


@dataclass
class Vehicle:
    """The latest reports of one drone."""

    index: int
    status: VehicleStatus | None = None
    status_at_s: float = 0.0
    #: When its telemetry (pose) last arrived: the coordinator's own evidence of its link.
    telemetry_at_s: float = -math.inf
    position: tuple[float, float, float] | None = None
    home: XY | None = None
    battery_pct: float | None = None


class Coordinator:
    """Plan the swarm's coverage, follow its progress and re-plan when a drone is lost.

    :param params: the configuration.
    :param log: where it says what it does (info, warning, error; throttle_duration_sec taken).
    :param clock_ns: the clock of the drones' reports and of the paths' stamps (ns).
    :param send_path: sends (drone, path, stamp ns) to a drone.
    :param markers_changed: called when the plan or what is covered changed.
    :param swap_service: where an operator confirms battery swaps (named in the status).
    """

    def __init__(
        self,
        params: CoordinatorConfig,
        log: Any,
        clock_ns: Callable[[], int],
        send_path: Callable[[str, tuple[Enu, ...], int], None],
        markers_changed: Callable[[], None],
        swap_service: str,
    ) -> None:
        self._params = params
        self.log = log
        self._clock_ns = clock_ns
        self._send_path = send_path
        self._markers_changed = markers_changed
        self._swap_service = swap_service
        self._vehicles = {name: Vehicle(i) for i, name in enumerate(params.vehicles)}
        self._area: Area | None = None
        self._area_since_s = 0.0
        self._plan: CoveragePlan | None = None
        self._tracker: CoverageTracker | None = None
        self.error = ''
        self._replans = 0
        #: Per drone, the expected time (s) of the first path a plan gave it (status
        #: `<name>_planned_s`): take-off to landed as the planner predicts it.
        self.planned_s: dict[str, float] = {}
        self._last_replan_reason = ''
        self.last_replan_latency_ms = math.nan
        self.resumed = ''  # what was resumed from state_file, '' if nothing
        self._state_error = ''
        # When the coordinator last finished a plan that kept it from reading (see _heard_deaf).
        self._deaf_until_s = -math.inf
        self._saved_at_s = -math.inf
        #: Drone -> index of the sortie of its current plan that is due but not sent: it waits
        #: on the ground for a battery that holds it (and for the operator unless auto_resume).
        self._due: dict[str, int] = {}
        #: Why each due sortie is not sent yet ('' once nothing but the operator holds it).
        self._due_block: dict[str, str] = {}
        #: Drones whose battery swap the operator confirmed (until their next sortie is sent).
        self._swap_confirmed: set[str] = set()
        #: The latest /flood_map and when it arrived (it is published only when it changed).
        self._map: GridPatch | None = None
        self._map_at_s = -math.inf
        #: The plan whose flights the map was last checked after (see _check_map).
        self._map_checked: CoveragePlan | None = None
        #: Since when no drone has had anything to fly (None: one has).
        self._idle_since_s: float | None = None
        #: Gap-filling re-plans made so far, and the map's last verdict on the area.
        self._map_rounds = 0
        self._map_seen_pct = math.nan

    def now_s(self) -> float:
        """Return the clock's time (s)."""
        return self._clock_ns() * 1e-9

    @property
    def plan(self) -> CoveragePlan | None:
        """Return the current plan (None before one)."""
        return self._plan

    @property
    def tracker(self) -> CoverageTracker | None:
        """Return the progress tracker of the current plan (None before one)."""
        return self._tracker

    @property
    def vehicles(self) -> dict[str, Vehicle]:
        """Return each drone's latest reports."""
        return self._vehicles

    # -- inputs ---------------------------------------------------------------------------------

    def on_status(self, name: str, status: VehicleStatus) -> None:
        """Take a drone's flight_control status."""
        vehicle = self._vehicles[name]
        vehicle.status = status
        vehicle.status_at_s = self.now_s()
        if vehicle.telemetry_at_s == -math.inf:
            # First heard (a restarted coordinator too): its telemetry gets status_timeout_s
            # from now to arrive before its silence counts.
            vehicle.telemetry_at_s = vehicle.status_at_s
        if self._tracker is not None:
            self._tracker.update_status(name, status, vehicle.status_at_s)

    def on_pose(self, name: str, x: float, y: float, z: float) -> None:
        """Take a drone's position (map ENU, m); a non-finite one is ignored."""
        if not all(math.isfinite(v) for v in (x, y, z)):
            return
        vehicle = self._vehicles[name]
        vehicle.position = (x, y, z)
        vehicle.telemetry_at_s = self.now_s()
        if vehicle.home is None:
            vehicle.home = (x, y)
        if self._tracker is not None:
            self._tracker.set_position(name, (x, y))

    def on_battery(self, name: str, fraction: float) -> None:
        """Take a drone's battery state of charge (0..1); NaN is ignored."""
        if math.isfinite(fraction):
            self._vehicles[name].battery_pct = min(100.0, max(0.0, fraction * 100.0))

    def on_map(self, patch: GridPatch) -> None:
        """Take the fused flood map (it is published only when it changed)."""
        self._map = patch
        self._map_at_s = self.now_s()

    def battery_swapped(self) -> tuple[bool, str]:
        """Take the operator's word that the batteries are swapped: every waiting drone goes on.

        :return: (whether a drone was waiting, what became of each).
        """
        waiting = sorted(self._due)
        self._swap_confirmed.update(waiting)
        if not waiting:
            return False, 'no drone is waiting for a battery swap'
        now = self.now_s()
        parts = []
        for name in waiting:
            block = self._sortie_block(name, self._due[name], now) if name in self._due else None
            parts.append(f'{name}: ' + (f'confirmed, still {block}' if block else 'confirmed'))
        self.log.warning(f'battery swap confirmed by the operator: {"; ".join(parts)}')
        return True, '; '.join(parts)

    # -- the mission ----------------------------------------------------------------------------

    def set_area(self, area: Area) -> None:
        self._area = area
        self._area_since_s = self.now_s()
        self.error = ''
        if self._plan is not None:
            # A new area replaces the mission: plan it afresh from where the drones are.
            self._plan = None
            self._tracker = None
        self.log.info(f'area of interest: {area.region.area / 1e6:.3f} km2')
        if self._plan is None and self._params.state_file:
            self._resume(area)

    def _resume(self, area: Area) -> None:
        """Take up the mission saved in state_file for this area, if there is one."""
        path = self._params.state_file
        try:
            plan, tracker, extra = persist.load_state(
                path, area, self._params.plan, list(self._vehicles)
            )
        except FileNotFoundError:
            return
        except (persist.StateError, OSError) as exc:
            self._state_error = str(exc)
            self.log.warning(f'not resuming: {exc}; planning afresh')
            return
        self._plan, self._tracker = plan, tracker
        self._replans = int(extra.get('replans', 0))
        self._last_replan_reason = str(extra.get('last_replan_reason', ''))
        self._map_rounds = int(extra.get('map_gap_rounds', 0))
        due = extra.get('due', {})
        if isinstance(due, dict):
            self._due = {
                str(n): int(k) for n, k in due.items() if n in tracker.tracks and int(k) >= 0
            }
        lost = [n for n, t in tracker.tracks.items() if t.lost]
        self.resumed = f'{tracker.coverage() * 100:.1f} % covered, {self._replans} re-plans' + (
            f', lost: {", ".join(lost)}' if lost else ''
        )
        self.log.warning(f'resumed the mission from {path}: {self.resumed}')
        # Publish the paths again with their original stamps: latched for a flight_control
        # that starts later; one that has the path already knows the stamp and ignores it.
        for name, track in tracker.tracks.items():
            if track.path and track.path_stamp_ns is not None and not track.lost:
                self._send_path(name, track.path, track.path_stamp_ns)
        self._markers_changed()

    def save(self, force: bool = False) -> None:
        """Save the mission state (at most every SAVE_PERIOD_S unless forced)."""
        if not self._params.state_file or self._plan is None or self._tracker is None:
            return
        now = time.monotonic()
        if not force and now - self._saved_at_s < SAVE_PERIOD_S:
            return
        assert self._area is not None
        try:
            persist.save_state(
                self._params.state_file,
                self._plan.area,
                self._plan,
                self._tracker,
                {
                    'replans': self._replans,
                    'last_replan_reason': self._last_replan_reason,
                    'due': dict(self._due),
                    'map_gap_rounds': self._map_rounds,
                },
            )
        except OSError as exc:
            if self._state_error != str(exc):
                self.log.error(f'cannot save the mission state: {exc}')
            self._state_error = str(exc)
            return
        self._state_error = ''
        self._saved_at_s = now

    def known(self, name: str) -> bool:
        v = self._vehicles[name]
        return v.status is not None and v.position is not None and v.battery_pct is not None

    def check(self) -> None:
        """Find lost drones, send due sorties, take drones back, re-plan, check the map."""
        now = self.now_s()
        if self._tracker is None:
            self._maybe_plan(now)
            return
        params = self._params
        lost_now = []
        for name, vehicle in self._vehicles.items():
            track = self._tracker.tracks[name]
            if track.lost or vehicle.status is None:
                continue
            heard = self._deaf_until_s
            reason = loss_reason(
                vehicle.status,
                now - max(vehicle.status_at_s, heard),
                params.status_timeout_s,
                track.acknowledged,
                telemetry_age_s=now - max(vehicle.telemetry_at_s, heard),
                since_sent_s=now - track.sent_at_s if track.path else 0.0,
                start_timeout_s=params.start_timeout_s,
            )
            if reason:
                track.lost = reason
                track.lost_at_s = now
                lost_now.append(name)
                self.log.error(f'{name} lost: {reason}')
        self._send_due_sorties(now)
        back = self._readmit(now)
        if not lost_now and not back:
            self._check_map(now)
            self.save()
            return
        detected = time.monotonic()
        unfinished = [n for n in lost_now if self._tracker.unfinished(n) or n in self._due]
        for name in lost_now:  # what it had left is re-planned for the others
            self._due.pop(name, None)
            self._due_block.pop(name, None)
        reasons = [f'{n} lost: {self._tracker.tracks[n].lost}' for n in unfinished]
        reasons += [f'{n} taken back' for n in back]
        if reasons and params.replan_on_loss and self._tracker.coverage() < DONE_COVERAGE:
            reason = '; '.join(reasons)
            if self._replan(reason):
                self.last_replan_latency_ms = (time.monotonic() - detected) * 1e3
                self.log.info(
                    f'replan {self._replans} published {self.last_replan_latency_ms:.0f} ms '
                    'after the loss was detected'
                )
        self.save(force=True)
        self._markers_changed()

    def _send_due_sorties(self, now: float) -> None:
        """Mark the sorties now due and send those whose drone is ready for them."""
        assert self._tracker is not None
        for name, track in self._tracker.tracks.items():
            if not track.lost and track.between_sorties and name not in self._due:
                self._due[name] = track.sortie + 1
                self.log.info(
                    f'{name}: sortie {track.sortie + 1}/{track.sorties} flown, waiting for a '
                    'battery swap'
                )
        for name, index in list(self._due.items()):
            block = self._sortie_block(name, index, now)
            self._due_block[name] = block or ''
            if block is None:
                self._send_sortie(name, index, now)

    def _planned(self, name: str) -> DronePlan | None:
        """Return drone `name`'s part of the current plan, None if it has none."""
        if self._plan is None:
            return None
        try:
            return self._plan.drone(name)
        except KeyError:
            return None

    def _sortie_block(self, name: str, index: int, now: float) -> str | None:
        """Return why sortie `index` of drone `name` cannot be sent now, or None."""
        plan = self._planned(name)
        if plan is None or not 0 <= index < len(plan.sorties):
            self._due.pop(name, None)  # nothing of this plan left for it
            return 'no such sortie'
        vehicle = self._vehicles[name]
        if vehicle.status is None:
            return 'no status'
        energy = self._params.plan.energy
        need = plan.sorties[index].energy_pct + energy.reserve_pct
        battery = vehicle.battery_pct
        if index == 0 and battery is not None and battery >= need:
            return None  # the plan's first flight, on the battery it has: no swap
        block = swap_block(
            vehicle.status,
            now - vehicle.status_at_s,
            now - vehicle.telemetry_at_s,
            self._params.status_timeout_s,
            battery,
            need,
        )
        if block is not None:
            return block
        if not self._params.auto_resume and name not in self._swap_confirmed:
            return f'waiting for the operator: {self._swap_service}'
        return None

    def _send_sortie(self, name: str, index: int, now: float) -> None:
        plan = self._planned(name)
        assert plan is not None and self._tracker is not None
        sortie = plan.sorties[index]
        stamp_ns = self._clock_ns()
        self._due.pop(name, None)
        self._due_block.pop(name, None)
        self._swap_confirmed.discard(name)
        self._tracker.set_path(name, sortie.path, now, stamp_ns, index, len(plan.sorties))
        self._send_path(name, sortie.path, stamp_ns)
        self.log.info(
            f'{name}: sortie {index + 1}/{len(plan.sorties)}, {len(sortie.path)} waypoints, '
            f'expected {sortie.time_s:.0f} s, {sortie.energy_pct:.0f} % of its battery'
        )
        self.save(force=True)

    def _readmit(self, now: float) -> list[str]:
        """Take back the lost drones that are fit again; return their names."""
        assert self._tracker is not None
        params = self._params
        back = []
        for name, vehicle in self._vehicles.items():
            track = self._tracker.tracks[name]
            if not track.lost or vehicle.status is None:
                continue
            if track.readmissions >= params.max_readmissions:
                continue
            if not now - track.lost_at_s >= params.readmit_after_s:
                continue
            block = readmission_block(
                vehicle.status,
                now - vehicle.status_at_s,
                now - vehicle.telemetry_at_s,
                params.status_timeout_s,
                vehicle.battery_pct,
                params.readmit_min_battery_pct,
            )
            if block is not None:
                continue
            self.log.warning(
                f'{name} taken back ({track.readmissions + 1}/{params.max_readmissions}) after: '
                f'{track.lost}'
            )
            track.lost = ''
            track.readmissions += 1
            # Its old path no longer binds it (what it flew of it stays covered): the re-plan
            # gives it work from where it is, and the old mission's state is not read again.
            self._tracker.set_path(name, (), now)
            back.append(name)
        return back

    def _could_come_back(self, now: float) -> list[str]:
        """Return the lost drones that may still be taken back (their wait is not over)."""
        assert self._tracker is not None
        params = self._params
        window = params.readmit_after_s + 2.0 * params.status_timeout_s
        return [
            name
            for name, track in self._tracker.tracks.items()
            if track.lost
            and track.readmissions < params.max_readmissions
            and now - track.lost_at_s < window
        ]

    def _heard_deaf(self, started: float) -> None:
        """Count the drones' silence from now if planning kept the executor for DEAF_AFTER_S.

        Planning 10 drones on 2 loaded cores took over status_timeout_s: the statuses that came
        meanwhile waited in the queue, and the next check, before they were read, lost 9 drones
        of 10 at once. Only planning counts: a grace after every slow check would keep a drone
        that is silent for real from ever being lost on a loaded machine.
        """
        if time.monotonic() - started > DEAF_AFTER_S:
            self._deaf_until_s = self.now_s()

    def _maybe_plan(self, now: float) -> None:
        if self._area is None:
            return
        ready = [n for n in self._vehicles if self.known(n)]
        waited = now - self._area_since_s >= self._params.fleet_wait_s
        if len(ready) < len(self._vehicles) and not (waited and ready):
            return
        healthy = []
        for name in ready:
            vehicle = self._vehicles[name]
            assert vehicle.status is not None
            reason = loss_reason(
                vehicle.status, now - vehicle.status_at_s, self._params.status_timeout_s, False
            )
            if reason:
                self.log.warning(
                    f'{name} left out of the plan: {reason}', throttle_duration_sec=WARN_THROTTLE_S
                )
            else:
                healthy.append(name)
        if not healthy:
            return
        area = self._area
        try:
            started = time.monotonic()
            plan = plan_coverage(area, self._drones(healthy), self._params.plan)
            self._heard_deaf(started)
        except UavFloodError as exc:
            if self.error != f'planning failed: {exc}':
                self.error = f'planning failed: {exc}'
                self.log.error(self.error)
            self._area = None  # planned again when a new area arrives
            return
        self.error = ''
        self._plan = plan
        self._tracker = CoverageTracker(
            plan.region, plan.swath_m, list(self._vehicles), plan.config.reach_m
        )
        for name in self._vehicles:
            vehicle = self._vehicles[name]
            if vehicle.position is not None:
                self._tracker.set_position(name, vehicle.position[:2])
            if name not in healthy:
                # Lost from now: once it reports fit, it is taken back readmit_after_s later.
                self._tracker.tracks[name].lost = 'not in the fleet when planning'
                self._tracker.tracks[name].lost_at_s = now
        self._send_plan(plan)
        m = plan.metrics
        self.log.info(
            f'plan: {len(healthy)} drones, {m.area_m2 / 1e6:.3f} km2, coverage '
            f'{m.coverage * 100:.1f} %, path {m.total_length_m:.0f} m ({m.length_ratio:.2f} x '
            f'lower bound), expected {m.makespan_s:.0f} s'
        )

    def _drones(self, healthy: list[str]) -> list[Drone]:
        drones = []
        for name in healthy:
            v = self._vehicles[name]
            assert v.position is not None
            airborne = v.position[2] > AIRBORNE_M
            drones.append(
                Drone(
                    name,
                    (v.position[0], v.position[1]),
                    v.battery_pct if v.battery_pct is not None else 100.0,
                    self._params.cruise_speed_m_s,
                    home=v.home,
                    flying_altitude_m=v.position[2] if airborne else None,
                    layer=v.index,
                )
            )
        return drones

    def _fleet_state(self, now: float) -> str:
        """Return SWARM_MAPPING, SWARM_WAITING_FOR_LOST or SWARM_IDLE: what the drones are at."""
        assert self._tracker is not None
        for name, track in self._tracker.tracks.items():
            if name in self._due or track.state in ('flying', 'sent', 'swap'):
                return status_schema.SWARM_MAPPING
        if self._tracker.coverage() < DONE_COVERAGE and self._could_come_back(now):
            return status_schema.SWARM_WAITING_FOR_LOST
        return status_schema.SWARM_IDLE

    def _map_pending(self) -> bool:
        """Return whether the map is still to be checked after the current plan's flights."""
        return (
            self._params.map_gap_rounds > 0
            and self._map is not None
            and self._plan is not None
            and self._map_checked is not self._plan
        )

    def _check_map(self, now: float) -> None:
        """Once the drones are done and the map is quiet, fly what the map has not seen.

        The tracker counts what the drones flew; a drone whose segmentation fell behind, or
        whose frames had no pose, flew strips its camera never delivered. Without a map heard
        (no mapper in the graph) the flown paths are trusted.
        """
        if not self._map_pending() or self._fleet_state(now) != status_schema.SWARM_IDLE:
            self._idle_since_s = None
            return
        assert self._plan is not None and self._map is not None
        if self._idle_since_s is None:
            self._idle_since_s = now
        params = self._params
        quiet = now - max(self._idle_since_s, self._map_at_s) >= params.map_quiet_s
        if not quiet and now - self._idle_since_s < MAP_WAIT_MAX_QUIET * params.map_quiet_s:
            return
        self._map_checked = self._plan
        self._idle_since_s = None
        region = free_region(self._plan.area, params.plan.no_fly_margin_m)
        # Grown by a re-plan's sliver width (and a cell), a gap a few cells deep is still flown.
        margin = params.plan.sliver_fraction * self._plan.swath_m + self._map.resolution_m
        try:
            gaps = map_gaps(self._map, region, params.map_gap_min_m2, margin)
        except PlanningError as exc:
            self.log.error(f'map check failed: {exc}')
            return
        self._map_seen_pct = gaps.seen_fraction * 100.0
        seen = f'the map has seen {self._map_seen_pct:.2f} % of the area'
        if not gaps.count:
            self.log.info(f'{seen}: no gap of {params.map_gap_min_m2:g} m2 or more')
            return
        found = f'{gaps.count} gap(s) of {gaps.gaps_m2:.0f} m2 unseen'
        if self._map_rounds >= params.map_gap_rounds:
            self.log.warning(
                f'{seen}: {found} left (map_gap_rounds {params.map_gap_rounds} flown)'
            )
            return
        self._map_rounds += 1
        reason = f'map check {self._map_rounds}/{params.map_gap_rounds}: {found}'
        self.log.warning(f'{seen}: {found}, flying them again')
        started = time.monotonic()
        if self._replan(reason, covered=region.difference(gaps.geometry)):
            self.last_replan_latency_ms = (time.monotonic() - started) * 1e3
        self.save(force=True)
        self._markers_changed()

    def _replan(self, reason: str, covered: BaseGeometry | None = None) -> bool:
        """Plan what is not covered for the healthy drones and send it.

        :param covered: what needs no flight; default: what the drones flew.
        """
        assert self._tracker is not None and self._plan is not None
        healthy = [n for n in self._vehicles if not self._tracker.tracks[n].lost and self.known(n)]
        self._replans += 1
        self._last_replan_reason = reason
        if not healthy:
            self.error = f'no healthy drone left to cover the remainder ({reason})'
            self.log.error(self.error)
            return False
        try:
            started = time.monotonic()
            if covered is None:
                covered = self._tracker.covered()
            plan = replan_coverage(self._plan, covered, self._drones(healthy), self._params.plan)
            self._heard_deaf(started)
        except UavFloodError as exc:
            self.error = f'replanning failed: {exc}'
            self.log.error(self.error)
            return False
        self._plan = plan
        self._send_plan(plan)
        self.log.info(
            f'replanned {plan.metrics.area_m2 / 1e6:.4f} km2 left for {", ".join(healthy)}'
        )
        return True

    def _send_plan(self, plan: CoveragePlan) -> None:
        assert self._tracker is not None
        now = self.now_s()
        stamp_ns = self._clock_ns()
        for drone in plan.drones:
            # A new plan replaces what any earlier one left to fly.
            self._due.pop(drone.drone, None)
            self._due_block.pop(drone.drone, None)
            track = self._tracker.tracks[drone.drone]
            track.sorties = track.sortie + 1
            if not drone.path:
                self.log.info(f'{drone.drone}: nothing to cover in this plan')
                continue
            self.planned_s.setdefault(drone.drone, drone.expected_time_s)
            if drone.sorties:
                self.log.info(
                    f'{drone.drone}: {len(drone.sorties)} sorties, {drone.length_m:.0f} m at '
                    f'{drone.altitude_m:.0f} m, expected {drone.expected_time_s:.0f} s with '
                    f'{len(drone.sorties) - 1} battery swap(s)'
                )
                self._due[drone.drone] = 0
                continue
            self._tracker.set_path(drone.drone, drone.path, now, stamp_ns)
            self._send_path(drone.drone, drone.path, stamp_ns)
            self.log.info(
                f'{drone.drone}: path of {len(drone.path)} waypoints, {drone.length_m:.0f} m at '
                f'{drone.altitude_m:.0f} m, expected {drone.expected_time_s:.0f} s'
            )
        self._send_due_sorties(now)
        self.save(force=True)
        self._markers_changed()

    def _time_left_s(self) -> float:
        """Return the longest time a drone not lost has left to fly, sorties and swaps too (s)."""
        assert self._tracker is not None
        tracker, params = self._tracker, self._params
        plans = {d.drone: d for d in self._plan.drones} if self._plan is not None else {}
        longest = 0.0
        for name, track in tracker.tracks.items():
            if track.lost:
                continue
            left = track.remaining_m(tracker.tolerance_m) / params.cruise_speed_m_s
            plan = plans.get(name)
            first = self._due.get(name, track.sortie + 1 if track.sorties > 1 else None)
            if plan is not None and plan.sorties and first is not None:
                rest = plan.sorties[first:]
                left += sum(s.time_s for s in rest) + params.plan.swap_time_s * len(rest)
            longest = max(longest, left)
        return longest

    def swarm_status(self) -> SwarmStatus:
        """Return the coordinator's state (core.status_schema.SwarmStatus)."""
        tracker = self._tracker
        drones: dict[str, DroneEntry] = {}
        if tracker is None:
            coverage = 0.0
            time_left = math.nan
            if self._area is None:
                state = 'waiting for the area of interest'
            else:
                known = sum(self.known(n) for n in self._vehicles)
                state = f'waiting for the fleet ({known}/{len(self._vehicles)} reporting)'
            for name in self._vehicles:
                drones[name] = DroneEntry('reporting' if self.known(name) else 'not heard')
        else:
            coverage = tracker.coverage()
            time_left = self._time_left_s()
            for name, track in tracker.tracks.items():
                sortie, waiting = '', None
                planned = self._planned(name)
                if name in self._due and planned is not None:
                    sortie = f'{self._due[name] + 1}/{len(planned.sorties)}'
                    waiting = self._due_block.get(name, '')
                elif track.sorties > 1:
                    sortie = f'{track.sortie + 1}/{track.sorties}'
                if track.lost:
                    word = f'lost: {track.lost}'
                else:
                    word = 'swap' if name in self._due else track.state
                drones[name] = DroneEntry(
                    word, track.readmissions, self.planned_s.get(name), sortie, waiting
                )
            state = self._fleet_state(self.now_s())
            if state == status_schema.SWARM_IDLE:
                pending = self._map_pending()
                state = status_schema.SWARM_CHECKING_MAP if pending else status_schema.SWARM_DONE
        return SwarmStatus(
            state=state,
            coverage_pct=coverage * 100.0,
            time_left_s=time_left if math.isfinite(time_left) else None,
            replans=self._replans,
            map_gap_rounds=self._map_rounds,
            map_seen_pct=self._map_seen_pct if math.isfinite(self._map_seen_pct) else None,
            last_replan_reason=self._last_replan_reason,
            last_replan_latency_ms=(
                self.last_replan_latency_ms if math.isfinite(self.last_replan_latency_ms) else None
            ),
            area_m2=self._plan.metrics.area_m2 if self._plan else None,
            swath_m=self._params.plan.swath_m,
            error=self.error,
            resumed=self.resumed,
            state_file_error=self._state_error,
            drones=drones,
        )
