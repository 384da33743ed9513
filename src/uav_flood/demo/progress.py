"""The demo's view of the mission: per-drone state, completion, the fault trigger, the table.

Fed with the key/value statuses the nodes publish (flight_control, segmentation, swarm
coordinator, mapper, edge server; see demo/monitor.py) and the ground station's view of the
autopilots (demo/gcs.py). No rclpy here, so the rules are tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import re

from uav_flood.core.errors import ConfigError
from uav_flood.core.latency import LatencyHistogram
from uav_flood.core.mission_supervisor import MissionState
from uav_flood.demo.gcs import FAULTS

#: Mission states of flight_control in which a mission is (about to be) flown.
BUSY_MISSION_STATES = frozenset(
    state.value
    for state in (
        MissionState.PENDING,
        MissionState.UPLOADING,
        MissionState.UPLOADED,
        MissionState.STARTING,
        MissionState.ACTIVE,
    )
)
#: The fleet must look finished for this long (wall s) before the demo stops: a re-plan after a
#: loss can send a landed drone a new path within a second or two.
SETTLE_S = 3.0

_FAIL_RE = re.compile(r'^(?P<name>[A-Za-z_][A-Za-z0-9_]*)@(?P<pct>[0-9.]+)%?(?::(?P<kind>\w+))?$')


@dataclass(frozen=True)
class FailPlan:
    """Fail one drone when the swarm's coverage reaches a share of the area.

    :param vehicle: the drone's name, e.g. 'uav2'.
    :param at_pct: the swarm coverage (%) at which it fails.
    :param fault: 'battery' (PX4 battery failure: it lands where it is) or 'kill'.
    """

    vehicle: str
    at_pct: float
    fault: str = 'battery'

    @classmethod
    def parse(cls, text: str, vehicles: list[str]) -> FailPlan:
        """Parse 'uav2@40%' or 'uav2@40%:kill'.

        :raises ConfigError: on bad syntax, an unknown drone, a share outside (0, 100) or an
            unknown fault.
        """
        match = _FAIL_RE.match(text.strip())
        if match is None:
            raise ConfigError(f'{text!r}: expected NAME@PCT%[:FAULT], e.g. uav2@40%', '--fail')
        name, kind = match['name'], match['kind'] or 'battery'
        try:
            pct = float(match['pct'])
        except ValueError:
            raise ConfigError(f'{text!r}: {match["pct"]!r} is not a number', '--fail') from None
        if name not in vehicles:
            raise ConfigError(
                f'{text!r}: no drone {name} (drones: {", ".join(vehicles)})', '--fail'
            )
        if not 0.0 < pct < 100.0:
            raise ConfigError(f'{text!r}: the coverage share must be in (0, 100)', '--fail')
        if kind not in FAULTS:
            raise ConfigError(f'{text!r}: unknown fault {kind!r} ({", ".join(FAULTS)})', '--fail')
        return cls(name, pct, kind)


@dataclass
class Drone:
    """What the demo knows about one drone."""

    name: str
    status: dict[str, str] = field(default_factory=dict)
    segmentation: dict[str, str] = field(default_factory=dict)
    first_battery_pct: float = math.nan
    last_battery_pct: float = math.nan
    flew: bool = False
    failsafes: list[str] = field(default_factory=list)
    failed: str = ''
    failed_at_s: float = math.nan

    @property
    def armed(self) -> bool:
        """Return whether flight_control last reported the vehicle armed."""
        return self.status.get('armed') == 'true'

    @property
    def landed(self) -> bool:
        """Return whether flight_control last reported the vehicle on the ground."""
        return self.status.get('landed_state') == 'on_ground'

    @property
    def link_lost(self) -> bool:
        """Return whether flight_control lost the link to its autopilot."""
        return self.status.get('connection') == 'link lost'

    @property
    def energy_used_pct(self) -> float:
        """Return the battery used since the first report (percentage points)."""
        return self.first_battery_pct - self.last_battery_pct

    def at_rest(self, lost: bool = False) -> bool:
        """Return True if the drone has finished (or was killed and is silent for good).

        Finished: it flew, is now disarmed on the ground, and has no mission pending; or the
        coordinator counts it lost and it is disarmed on the ground (a drone that never flew:
        its upload failed, it was never ready) or silent.

        :param lost: the coordinator counts the drone lost (for good, or until taken back).
        """
        if self.failed == 'kill' and self.link_lost:
            return True
        if lost and (self.link_lost or (not self.armed and self.landed)):
            return True
        # A drone that failed or went into a failsafe is left out by the coordinator for
        # good; flight_control may still call its interrupted mission active.
        settled = (
            bool(self.failed or self.failsafes)
            or self.status.get('mission_state', 'none') not in BUSY_MISSION_STATES
        )
        return self.flew and not self.armed and self.landed and settled

    def outcome(self, coordinator: str = '') -> str:
        """Return what became of the drone, in words, for the report.

        :param coordinator: the swarm coordinator's word on it ('done', 'lost: <why>', ...).
        """
        lost = coordinator[len('lost: ') :] if coordinator.startswith('lost') else ''
        if self.failed == 'kill':
            where = 'in flight' if self.flew and not self.landed else 'on the ground'
            return f'killed {where} (autopilot silent)'
        if self.link_lost:
            return 'silent: its link is lost' + (f' (lost: {lost})' if lost else '')
        if self.landed and not self.armed:
            if not self.flew:
                return 'never flew' + (f' (lost: {lost})' if lost else '')
            words = 'landed and disarmed'
            if self.failsafes:
                words += f' after a failsafe ({self.failsafes[-1]})'
            return words + (f'; lost: {lost}' if lost else '')
        state = self.status.get('landed_state', 'unknown')
        return f'not at rest: {state}, {"armed" if self.armed else "disarmed"}' + (
            f'; lost: {lost}' if lost else ''
        )

    def histogram(self, source: str) -> LatencyHistogram:
        """Return this drone's latency histogram of `source` ('local' or 'edge')."""
        text = self.segmentation.get(f'latency_{source}_hist', '')
        try:
            return LatencyHistogram.from_text(text)
        except ValueError:
            return LatencyHistogram()


class Fleet:
    """The mission as the demo sees it.

    :param vehicles: drone names.
    :param fail: the drone to fail and when, or None.
    """

    def __init__(self, vehicles: list[str], fail: FailPlan | None = None) -> None:
        self.drones = {name: Drone(name) for name in vehicles}
        self.fail = fail
        self.fail_result = ''
        self.swarm: dict[str, str] = {}
        self.mapper: dict[str, str] = {}
        self.edge: dict[str, str] = {}
        self.map_score: tuple[float, float] | None = None  # (coverage %, IoU)
        self._rest_since: float | None = None

    # -- inputs --------------------------------------------------------------------------

    def on_drone_status(self, name: str, values: dict[str, str]) -> None:
        """Take one flight_control status of drone `name`."""
        drone = self.drones.get(name)
        if drone is None:
            return
        drone.status = values
        battery = _number(values.get('battery_pct', ''))
        if math.isfinite(battery):
            if math.isnan(drone.first_battery_pct):
                drone.first_battery_pct = battery
            drone.last_battery_pct = battery
        if values.get('armed') == 'true':
            drone.flew = True
        failsafe = values.get('failsafe', 'none')
        if failsafe not in ('none', '') and failsafe not in drone.failsafes:
            drone.failsafes.append(failsafe)

    def on_segmentation_status(self, name: str, values: dict[str, str]) -> None:
        """Take one segmentation status of drone `name`."""
        if name in self.drones:
            self.drones[name].segmentation = values

    # -- derived -------------------------------------------------------------------------

    @property
    def coverage_pct(self) -> float:
        """Return the coordinator's coverage of the area (%), 0 before it reports."""
        value = _number(self.swarm.get('coverage_pct', ''))
        return value if math.isfinite(value) else 0.0

    def fault_due(self) -> FailPlan | None:
        """Return the fail plan once its moment has come (once), else None."""
        if self.fail is None or self.drones[self.fail.vehicle].failed:
            return None
        if self.coverage_pct >= self.fail.at_pct:
            return self.fail
        return None

    def mark_failed(self, name: str, fault: str, at_s: float, result: str) -> None:
        """Record that drone `name` was failed with `fault` at wall time `at_s`."""
        drone = self.drones[name]
        drone.failed, drone.failed_at_s = fault, at_s
        self.fail_result = result

    def finished(self, now: float) -> bool:
        """Return True once every drone has been at rest for SETTLE_S (wall s).

        And the coordinator has nothing left to fly: it is neither mapping nor waiting to take a
        lost drone back.
        """
        busy = self.swarm.get('state', '') in ('mapping', 'waiting for a lost drone')
        lost = {n: self.swarm.get(n, '').startswith('lost') for n in self.drones}
        if not busy and all(d.at_rest(lost[n]) for n, d in self.drones.items()):
            if self._rest_since is None:
                self._rest_since = now
            return now - self._rest_since >= SETTLE_S
        self._rest_since = None
        return False

    def rest_summary(self) -> str:
        """Return how every drone ended, e.g. 'uav0 landed and disarmed; uav1 killed ...'."""
        return '; '.join(
            f'{name} {drone.outcome(self.swarm.get(name, ""))}'
            for name, drone in self.drones.items()
        )

    def histogram(self, source: str) -> LatencyHistogram:
        """Return the fleet's latency histogram of `source` ('local' or 'edge')."""
        total = LatencyHistogram()
        for drone in self.drones.values():
            total.merge(drone.histogram(source))
        return total

    def frames(self) -> tuple[int, int]:
        """Return the frames segmented on board and at the edge, fleet-wide."""
        local = edge = 0
        for drone in self.drones.values():
            processed = _int(drone.segmentation.get('frames_processed', '0'))
            hits = _int(drone.segmentation.get('edge_hits', '0'))
            local += processed - hits
            edge += hits
        return local, edge

    # -- output --------------------------------------------------------------------------

    def table(self, elapsed_s: float, sim_s: float | None) -> list[str]:
        """Return the progress table as plain text lines (one header, one line per drone)."""
        clock = f'{elapsed_s:5.0f} s'
        if sim_s is not None:
            clock += f' (sim {sim_s:.0f} s)'
        score = ''
        if self.map_score is not None:
            seen, iou = self.map_score
            score = f'  map: {seen:.1f} % of the area seen, IoU {_fmt(iou, 3)}'
        local, edge = self.frames()
        lines = [
            f'{clock}  coverage {self.coverage_pct:5.1f} %  frames local/edge {local}/{edge}'
            f'  replans {self.swarm.get("replans", "0")}{score}',
            f'  {"drone":<6} {"mode":<8} {"state":<10} {"armed":<5} {"battery":>7} '
            f'{"mission":>7} {"local/edge":>10} {"lat ms":>7}  note',
        ]
        for drone in self.drones.values():
            s, g = drone.status, drone.segmentation
            done = s.get('mission_waypoints_reached', '')
            reached = len([x for x in done.split(',') if x.strip()])
            total = s.get('mission_waypoint_total', '0')
            processed = _int(g.get('frames_processed', '0'))
            hits = _int(g.get('edge_hits', '0'))
            latency = _number(g.get('latency_ms_mean', ''))
            note = drone.failed and f'FAILED ({drone.failed})'
            if not note and drone.failsafes:
                note = drone.failsafes[-1]
            if not note and drone.link_lost:
                note = 'link lost'
            battery = _number(s.get('battery_pct', ''))
            lines.append(
                f'  {drone.name:<6} {s.get("flight_mode", "-"):<8} '
                f'{s.get("landed_state", "-"):<10} {s.get("armed", "-"):<5} '
                f'{_fmt(battery, 1):>6}% {f"{reached}/{total}":>7} '
                f'{f"{processed - hits}/{hits}":>10} {_fmt(latency, 0):>7}  {note}'
            )
        return lines


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def _fmt(value: float, digits: int) -> str:
    return f'{value:.{digits}f}' if math.isfinite(value) else '-'
