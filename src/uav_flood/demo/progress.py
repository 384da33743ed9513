"""The demo's view of the mission: per-drone state, completion, the fault trigger, the table.

Fed with the key/value statuses the nodes publish (flight_control, segmentation, swarm
coordinator, mapper, edge server; see demo/monitor.py) and the ground station's view of the
autopilots (demo/gcs.py). No rclpy here, so the rules are tested without ROS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import math
import re

from uav_flood.core.errors import ConfigError
from uav_flood.core.latency import LatencyHistogram
from uav_flood.core.status_schema import (
    BUSY_MISSION_STATES,
    IN_AIR,
    SwarmStatus,
    VehicleStatus,
)
from uav_flood.demo.gcs import FAULTS

#: Segmentation status counters that start from 0 in a restarted process (summed across).
RESTARTING_COUNTERS = (
    'observations_published',
    'frames_processed',
    'edge_hits',
    'outbox_resent',
    'outbox_dropped_full',
)
#: The fleet must look finished for this long (wall s) before the demo stops: a re-plan after a
#: loss can send a landed drone a new path within a second or two.
SETTLE_S = 3.0

_FAIL_RE = re.compile(
    r'^(?P<target>[A-Za-z_][A-Za-z0-9_/]*)@(?P<when>start|[0-9.]+%?)'
    r'(?::(?P<kind>[a-z-]+)(?:=(?P<value>[0-9.]+)(?P<unit>%|s)?)?)?$'
)
#: Fault kinds of a drone: the MAVLink ones the ground station injects (demo/gcs.py) and the
#: radio outage (its host's network link cut; needs --drone-hosts).
DRONE_FAULTS = (*FAULTS, 'radio-outage')
#: Fault kinds of a node process.
NODE_FAULTS = ('kill',)
#: The faults that take a size, and its unit.
_SIZED = {'packet-loss': '%', 'link-drop': 's', 'radio-outage': 's'}


@dataclass(frozen=True)
class FailPlan:
    """One fault to inject: what, into which drone or node, and when.

    :param target: a drone ('uav2') or a node process label ('flood_mapper', 'uav1/segmentation').
    :param at_pct: the swarm coverage (%) at which it is injected; 0: at the start (as soon as
        the target can take it).
    :param fault: a drone's 'battery', 'kill', 'packet-loss', 'link-drop', 'radio-outage'; a
        node's 'kill'.
    :param value: the fault's size: percent for packet-loss, seconds for link-drop and
        radio-outage (nan for the others).
    :param node: the target is a node process, not a drone.
    """

    target: str
    at_pct: float
    fault: str = 'battery'
    value: float = math.nan
    node: bool = False

    @property
    def vehicle(self) -> str:
        """Return the target (the drone's name, for a drone fault)."""
        return self.target

    def describe(self) -> str:
        """Return the plan as `--fail` writes it, e.g. 'uav1@start:packet-loss=30%'."""
        when = 'start' if self.at_pct == 0.0 else f'{self.at_pct:g}%'
        size = f'={self.value:g}{_SIZED[self.fault]}' if self.fault in _SIZED else ''
        return f'{self.target}@{when}:{self.fault}{size}'

    @classmethod
    def parse(cls, text: str, vehicles: list[str], nodes: list[str] | None = None) -> FailPlan:
        """Parse 'uav2@40%', 'uav1@start:packet-loss=30%', 'flood_mapper@50%:kill', ...

        :param vehicles: the drones' names.
        :param nodes: the graph's node labels (None: node faults are not offered).
        :raises ConfigError: on bad syntax, an unknown target or fault, a share outside
            (0, 100), or a size missing, not wanted or out of range.
        """
        match = _FAIL_RE.match(text.strip())
        if match is None:
            raise ConfigError(
                f'{text!r}: expected TARGET@PCT%[:FAULT[=SIZE]] or TARGET@start:..., '
                'e.g. uav2@40%',
                '--fail',
            )
        target, kind = match['target'], match['kind']
        node = target not in vehicles
        if node and target not in (nodes or []):
            known = f'drones: {", ".join(vehicles)}'
            if nodes:
                known += f'; nodes: {", ".join(nodes)}'
            raise ConfigError(f'{text!r}: no drone {target} ({known})', '--fail')
        kind = kind or ('kill' if node else 'battery')
        allowed = NODE_FAULTS if node else DRONE_FAULTS
        if kind not in allowed:
            raise ConfigError(
                f'{text!r}: unknown fault {kind!r} for {"a node" if node else "a drone"} '
                f'({", ".join(allowed)})',
                '--fail',
            )
        if match['when'] == 'start':
            pct = 0.0
        else:
            try:
                pct = float(match['when'].rstrip('%'))
            except ValueError:
                raise ConfigError(
                    f'{text!r}: {match["when"]!r} is not a number', '--fail'
                ) from None
            if not 0.0 < pct < 100.0:
                raise ConfigError(f'{text!r}: the coverage share must be in (0, 100)', '--fail')
        value = math.nan
        if kind in _SIZED:
            unit = _SIZED[kind]
            if match['value'] is None:
                raise ConfigError(f'{text!r}: {kind} needs a size, e.g. {kind}=30{unit}', '--fail')
            if match['unit'] not in (None, unit):
                raise ConfigError(f'{text!r}: the size of {kind} is in {unit}', '--fail')
            try:
                value = float(match['value'])
            except ValueError:
                raise ConfigError(
                    f'{text!r}: {match["value"]!r} is not a number', '--fail'
                ) from None
            high = 100.0 if unit == '%' else 3600.0
            if not 0.0 < value <= high:
                raise ConfigError(f'{text!r}: {kind} must be in (0, {high:g}]{unit}', '--fail')
        elif match['value'] is not None:
            raise ConfigError(f'{text!r}: {kind} takes no size', '--fail')
        return cls(target, pct, kind, value, node)


@dataclass
class Drone:
    """What the demo knows about one drone."""

    name: str
    status: VehicleStatus = field(default_factory=lambda: VehicleStatus(present=False))
    segmentation: dict[str, str] = field(default_factory=dict)
    first_battery_pct: float = math.nan
    last_battery_pct: float = math.nan
    flew: bool = False
    failsafes: list[str] = field(default_factory=list)
    #: 'battery' or 'kill' once such a fault was injected: the drone is out of the mission.
    failed: str = ''
    failed_at_s: float = math.nan
    #: Every fault injected into it (described), with what happened.
    faults: list[str] = field(default_factory=list)
    #: What earlier segmentation processes had counted (RESTARTING_COUNTERS), by key.
    counter_base: dict[str, int] = field(default_factory=dict)
    #: Simulated time (s) when it was first seen armed, and when it last touched down after
    #: being in the air (Fleet.note_sim_time).
    armed_sim_s: float = math.nan
    landed_sim_s: float = math.nan
    airborne: bool = False
    #: Battery used, summed over its batteries: every drop counts, a swap's rise does not (%).
    used_pct: float = 0.0
    #: The highest sortie the coordinator sent it, and how many its plan had (0: one flight).
    sortie: int = 0
    sorties: int = 0

    @property
    def flown_s(self) -> float:
        """Return simulated seconds from the first arming to the last landing (nan if unknown)."""
        return self.landed_sim_s - self.armed_sim_s

    @property
    def armed(self) -> bool:
        """Return whether flight_control last reported the vehicle armed."""
        return self.status.armed is True

    @property
    def landed(self) -> bool:
        """Return whether flight_control last reported the vehicle on the ground."""
        return self.status.on_ground

    @property
    def link_lost(self) -> bool:
        """Return whether flight_control lost the link to its autopilot."""
        return self.status.link_lost

    @property
    def energy_used_pct(self) -> float:
        """Return the battery used since the first report, every battery's (percentage points)."""
        return self.used_pct if math.isfinite(self.first_battery_pct) else math.nan

    @property
    def swaps(self) -> int:
        """Return the battery swaps between its sorties (0: one flight)."""
        return max(0, self.sortie - 1)

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
            or self.status.mission_state not in BUSY_MISSION_STATES
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
        state = self.status.landed_state or 'unknown'
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
    :param fail: the faults to inject and when (one, several or None).
    """

    def __init__(
        self, vehicles: list[str], fail: FailPlan | Sequence[FailPlan] | None = None
    ) -> None:
        self.drones = {name: Drone(name) for name in vehicles}
        if fail is None:
            self.fails: list[FailPlan] = []
        elif isinstance(fail, FailPlan):
            self.fails = [fail]
        else:
            self.fails = list(fail)
        self._injected: set[int] = set()
        #: Drones whose radio link to the ground is cut now (an injected outage).
        self.radio_down: set[str] = set()
        #: What each injected fault did, in injection order.
        self.fault_results: list[str] = []
        self.swarm = SwarmStatus()
        self.mapper: dict[str, str] = {}
        self.edge: dict[str, str] = {}
        self.map_score: tuple[float, float] | None = None  # (coverage %, IoU)
        self._rest_since: float | None = None

    # -- inputs --------------------------------------------------------------------------

    def on_swarm_status(self, values: dict[str, str]) -> None:
        """Take one swarm_coordinator status: coverage, states, each drone's sortie."""
        self.swarm = SwarmStatus.parse(values, self.drones)
        for name, drone in self.drones.items():
            sortie = self.swarm.drone(name).sortie_of
            if sortie is not None:
                drone.sortie = max(drone.sortie, sortie[0])
                drone.sorties = sortie[1]

    def on_drone_status(self, name: str, values: dict[str, str]) -> None:
        """Take one flight_control status of drone `name`."""
        drone = self.drones.get(name)
        if drone is None:
            return
        status = drone.status = VehicleStatus.parse(values)
        battery = status.battery_pct if status.battery_pct is not None else math.nan
        if math.isfinite(battery):
            if math.isnan(drone.first_battery_pct):
                drone.first_battery_pct = battery
            elif battery < drone.last_battery_pct:
                drone.used_pct += drone.last_battery_pct - battery
            drone.last_battery_pct = battery
        if status.armed:
            drone.flew = True
        if status.in_failsafe and status.failsafe not in drone.failsafes:
            drone.failsafes.append(status.failsafe)

    def on_segmentation_status(self, name: str, values: dict[str, str]) -> None:
        """Take one segmentation status of drone `name`.

        A restarted segmentation node counts from 0 again: its counters are added to what the
        earlier process had counted, so the mission's totals stay totals.
        """
        drone = self.drones.get(name)
        if drone is None:
            return
        values = dict(values)
        for key in RESTARTING_COUNTERS:
            if key not in values:
                continue
            now = _int(values[key])
            before = _int(drone.segmentation.get(key, '0')) - drone.counter_base.get(key, 0)
            if now < before:  # a new process
                drone.counter_base[key] = drone.counter_base.get(key, 0) + before
            values[key] = str(now + drone.counter_base.get(key, 0))
        drone.segmentation = values

    # -- derived -------------------------------------------------------------------------

    @property
    def coverage_pct(self) -> float:
        """Return the coordinator's coverage of the area (%), 0 before it reports."""
        return self.swarm.coverage_pct

    @property
    def fail(self) -> FailPlan | None:
        """Return the first fault planned, or None."""
        return self.fails[0] if self.fails else None

    @property
    def fail_result(self) -> str:
        """Return what the injected faults did, joined."""
        return '; '.join(self.fault_results)

    def fault_due(self) -> FailPlan | None:
        """Return the next fault whose moment has come (each once), else None.

        A fault 'at the start' comes once its target reports: a drone's flight_control status
        (the autopilot is up), or for a node, any drone status (the graph is running).
        """
        for index, plan in enumerate(self.fails):
            if index in self._injected:
                continue
            if plan.at_pct == 0.0:
                if plan.node:
                    ready = any(d.status.present for d in self.drones.values())
                else:
                    # Its autopilot is up (flight_control hears it): the ground station too.
                    ready = self.drones[plan.target].status.connected

            else:
                ready = self.coverage_pct >= plan.at_pct
            if ready:
                self._injected.add(index)
                return plan
        return None

    def mark_injected(self, plan: FailPlan, at_s: float, result: str) -> None:
        """Record that `plan` was injected at wall time `at_s` with `result` (in words)."""
        self.fault_results.append(f'{plan.describe()}: {result}')
        if plan.node:
            return
        drone = self.drones[plan.target]
        drone.faults.append(f'{plan.describe()}: {result}')
        if plan.fault in ('battery', 'kill') and not result.startswith('not injected'):
            drone.failed, drone.failed_at_s = plan.fault, at_s

    def mark_failed(self, name: str, fault: str, at_s: float, result: str) -> None:
        """Record that drone `name` was failed with `fault` ('battery', 'kill') at `at_s`."""
        self.mark_injected(FailPlan(name, 1.0, fault), at_s, result)

    def finished(self, now: float) -> bool:
        """Return True once every drone has been at rest for SETTLE_S (wall s).

        And the coordinator has nothing left to fly: it is neither mapping, nor waiting to take a
        lost drone back, nor checking the map for gaps to fly again; and every flood observation
        is delivered: no drone's outbox holds one (segmentation's outbox_pending) and no radio
        link is cut.
        """
        busy = self.swarm.busy
        # Every flood observation made must be in the map: no drone still holds one in its
        # outbox (it comes once the link is back), and no radio link is cut.
        undelivered = self.radio_down or any(
            _int(d.segmentation.get('outbox_pending', '0')) for d in self.drones.values()
        )
        # Lost, or idle: the coordinator has no work for it (a re-plan of a small remainder
        # for many drones leaves some without a part); either way it need not have flown.
        spare = {n: self.swarm.drone(n).spare for n in self.drones}
        if (
            not busy
            and not undelivered
            and all(d.at_rest(spare[n]) for n, d in self.drones.items())
        ):
            if self._rest_since is None:
                self._rest_since = now
            return now - self._rest_since >= SETTLE_S
        self._rest_since = None
        return False

    def planned_s(self, name: str) -> float:
        """Return the coordinator's prediction for the drone's first path (s; nan if none)."""
        planned = self.swarm.drone(name).planned_s
        return planned if planned is not None else math.nan

    def note_sim_time(self, sim_s: float) -> None:
        """Note the simulated time for each drone's first arming and last landing.

        Called every control step (a few times a second, so about a second of simulated time
        at 5x), with the statuses last received.
        """
        for drone in self.drones.values():
            if drone.armed and math.isnan(drone.armed_sim_s):
                drone.armed_sim_s = sim_s
            if drone.status.landed_state == IN_AIR:
                drone.airborne = True
            elif drone.airborne and drone.landed:  # touched down after a flight
                drone.landed_sim_s = sim_s
                drone.airborne = False

    def rest_summary(self) -> str:
        """Return how every drone ended, e.g. 'uav0 landed and disarmed; uav1 killed ...'."""
        return '; '.join(
            f'{name} {drone.outcome(self.swarm.drone(name).state)}'
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
            f'  replans {self.swarm.replans}{score}',
            f'  {"drone":<6} {"mode":<8} {"state":<10} {"armed":<5} {"battery":>7} '
            f'{"mission":>7} {"local/edge":>10} {"lat ms":>7}  note',
        ]
        for drone in self.drones.values():
            s, g = drone.status, drone.segmentation
            reached = len(s.mission_waypoints_reached)
            total = max(s.mission_waypoint_total, 0)
            processed = _int(g.get('frames_processed', '0'))
            hits = _int(g.get('edge_hits', '0'))
            latency = _number(g.get('latency_ms_mean', ''))
            note = drone.failed and f'FAILED ({drone.failed})'
            if not note and drone.failsafes:
                note = drone.failsafes[-1]
            if not note and drone.link_lost:
                note = 'link lost'
            battery = s.battery_pct if s.battery_pct is not None else math.nan
            armed = '-' if s.armed is None else str(s.armed).lower()
            lines.append(
                f'  {drone.name:<6} {s.flight_mode or "-":<8} '
                f'{s.landed_state or "-":<10} {armed:<5} '
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
