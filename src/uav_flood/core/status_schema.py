"""The status contract: flight_control's /uavN/status and the coordinator's /swarm/status.

flight_control writes a vehicle's state as DiagnosticArray key/values (VehicleStatus.values);
the swarm coordinator, the demo's monitor and its report read them back (VehicleStatus.parse).
The coordinator writes its own (SwarmStatus.values), which the demo reads (SwarmStatus.parse).
Keys, their formats and the states they take are defined here only: a reader never spells a
key or a state string itself. Parsing is tolerant, as a reader of a live topic must be: a
missing or malformed value reads as unknown (None, '' or -1), never as an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
import math
from typing import Any

from uav_flood.core.mission_supervisor import (
    ACK_STATES,
    FAILED_STATES,
    MissionState,
    STARTED_STATES,
)

__all__ = [
    'ACK_STATES',
    'DroneEntry',
    'FAILED_STATES',
    'STARTED_STATES',
    'SwarmStatus',
    'VehicleStatus',
]

# -- connection (flight_control <-> its autopilot) -----------------------------------------------

CONNECTED = 'connected'
LINK_LOST = 'link lost'
WAITING_FOR_AUTOPILOT = 'waiting for autopilot'

# -- the autopilot's words readers act on (autopilot.interface FlightMode, LandedState) ---

ON_GROUND = 'on_ground'
IN_AIR = 'in_air'
#: Flight modes in which the vehicle is on its way down or home, not flying its mission.
HOMEBOUND_MODES = frozenset({'return', 'land'})
#: The failsafe value when none holds.
NO_FAILSAFE = 'none'

# -- mission states (core.mission_supervisor.MissionState; ACK_STATES, FAILED_STATES and
# STARTED_STATES are the state machine's own, re-exported here) ------------------------------

#: States before the mission flies: a drone must leave them within a bounded time.
STARTING_STATES = frozenset(
    {MissionState.PENDING, MissionState.UPLOADING, MissionState.UPLOADED, MissionState.STARTING}
)
#: States in which a mission is (about to be) flown.
BUSY_MISSION_STATES = STARTING_STATES | {MissionState.ACTIVE}

# -- /swarm/status 'state' (swarm_coordinator) ---------------------------------------------------

SWARM_MAPPING = 'mapping'
SWARM_WAITING_FOR_LOST = 'waiting for a lost drone'
SWARM_CHECKING_MAP = 'checking the map'
SWARM_IDLE = 'idle'
SWARM_DONE = 'done'
#: /swarm/status 'state' values while the coordinator still has work for the drones: flying
#: paths or sorties, waiting to take a lost drone back, or waiting for the flood map to settle
#: to fly what it has not seen (then 'done').
BUSY_SWARM_STATES = frozenset({SWARM_MAPPING, SWARM_WAITING_FOR_LOST, SWARM_CHECKING_MAP})


def parse_waypoints(text: str) -> list[int]:
    """Parse a mission_waypoints_reached value ('0,1,2', '': none); skip bad items."""
    result = []
    for item in text.split(','):
        item = item.strip()
        if item.lstrip('-').isdigit():
            result.append(int(item))
    return result


def _bool(text: str | None) -> bool | None:
    return {'true': True, 'false': False}.get(text or '')


def _float(text: str | None) -> float | None:
    try:
        value = float(text or '')
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or '')
    except ValueError:
        return default


def _fmt_bool(value: bool | None) -> str:
    return 'unknown' if value is None else str(value).lower()


@dataclass(frozen=True)
class VehicleStatus:
    """One vehicle's state as flight_control publishes it on /uavN/status.

    Unknown values are None ('' for text, -1 for indices, () for waypoints); `present` is False
    for a status without any key (nothing heard yet).
    """

    connection: str = ''
    #: Time since the autopilot's last message (s); None: never heard.
    link_age_s: float | None = None
    armed: bool | None = None
    flight_mode: str = ''
    landed_state: str = ''
    battery_pct: float | None = None
    energy_margin_pct: float | None = None
    home_set: bool | None = None
    ready_to_arm: bool | None = None
    not_ready_reason: str = ''
    failsafe: str = NO_FAILSAFE
    #: None: no mission state reported (or one this version does not know).
    mission_state: MissionState | None = None
    #: The stamp (ns, as text) of the path the mission state is about; None: not reported.
    path_stamp: str | None = None
    mission_waypoint_current: int = -1
    mission_waypoint_total: int = -1
    mission_waypoints_reached: tuple[int, ...] = ()
    mission_item_current: int = -1
    mission_item_total: int = -1
    last_refusal: str = ''
    retrying: str = ''
    present: bool = True

    # -- readers' questions ---------------------------------------------------------------------

    @property
    def link_lost(self) -> bool:
        """Return whether flight_control lost the link to its autopilot (after having it)."""
        return self.connection == LINK_LOST

    @property
    def connected(self) -> bool:
        """Return whether flight_control hears its autopilot."""
        return self.connection == CONNECTED

    @property
    def on_ground(self) -> bool:
        """Return whether the autopilot reports the vehicle on the ground."""
        return self.landed_state == ON_GROUND

    @property
    def homebound(self) -> bool:
        """Return whether the vehicle is returning or landing (not flying its mission)."""
        return self.flight_mode in HOMEBOUND_MODES

    @property
    def in_failsafe(self) -> bool:
        """Return whether a failsafe holds."""
        return self.failsafe not in (NO_FAILSAFE, '')

    @property
    def state_word(self) -> str:
        """Return the mission state's value ('' when none was reported)."""
        return self.mission_state.value if self.mission_state is not None else ''

    # -- format and parse ------------------------------------------------------------------------

    def values(self) -> dict[str, str]:
        """Return the status as the DiagnosticStatus key/values flight_control publishes."""
        return {
            'connection': self.connection,
            'link_age_s': f'{self.link_age_s:.2f}' if self.link_age_s is not None else 'never',
            'armed': _fmt_bool(self.armed),
            'flight_mode': self.flight_mode,
            'landed_state': self.landed_state,
            'battery_pct': (
                f'{self.battery_pct:.1f}' if self.battery_pct is not None else 'unknown'
            ),
            'energy_margin_pct': (
                f'{self.energy_margin_pct:.1f}' if self.energy_margin_pct is not None else ''
            ),
            'home_set': _fmt_bool(self.home_set),
            'ready_to_arm': _fmt_bool(self.ready_to_arm),
            'not_ready_reason': self.not_ready_reason,
            'failsafe': self.failsafe or NO_FAILSAFE,
            'mission_state': self.state_word or MissionState.NONE.value,
            'path_stamp': self.path_stamp or '',
            'mission_waypoint_current': str(self.mission_waypoint_current),
            'mission_waypoint_total': str(max(self.mission_waypoint_total, 0)),
            'mission_waypoints_reached': ','.join(str(w) for w in self.mission_waypoints_reached),
            'mission_item_current': str(self.mission_item_current),
            'mission_item_total': str(self.mission_item_total),
            'last_refusal': self.last_refusal,
            'retrying': self.retrying,
        }

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> VehicleStatus:
        """Read a status from its key/values; missing or malformed values read as unknown."""
        get = values.get
        try:
            state: MissionState | None = MissionState(get('mission_state', ''))
        except ValueError:
            state = None
        return cls(
            connection=get('connection', ''),
            link_age_s=_float(get('link_age_s')),
            armed=_bool(get('armed')),
            flight_mode=get('flight_mode', ''),
            landed_state=get('landed_state', ''),
            battery_pct=_float(get('battery_pct')),
            energy_margin_pct=_float(get('energy_margin_pct')),
            home_set=_bool(get('home_set')),
            ready_to_arm=_bool(get('ready_to_arm')),
            not_ready_reason=get('not_ready_reason', ''),
            failsafe=get('failsafe', NO_FAILSAFE) or NO_FAILSAFE,
            mission_state=state,
            path_stamp=get('path_stamp'),
            mission_waypoint_current=_int(get('mission_waypoint_current'), -1),
            mission_waypoint_total=_int(get('mission_waypoint_total'), -1),
            mission_waypoints_reached=tuple(parse_waypoints(get('mission_waypoints_reached', ''))),
            mission_item_current=_int(get('mission_item_current'), -1),
            mission_item_total=_int(get('mission_item_total'), -1),
            last_refusal=get('last_refusal', ''),
            retrying=get('retrying', ''),
            present=bool(values),
        )

    @classmethod
    def of(cls, status: VehicleStatus | Mapping[str, Any]) -> VehicleStatus:
        """Return `status` parsed, or as it is when it already is a VehicleStatus."""
        return status if isinstance(status, VehicleStatus) else cls.parse(status)


# -- /swarm/status (swarm_coordinator) -----------------------------------------------------------


def _fmt(value: float | None, digits: int, unknown: str = '') -> str:
    return f'{value:.{digits}f}' if value is not None and math.isfinite(value) else unknown


@dataclass(frozen=True)
class DroneEntry:
    """One drone in the coordinator's status.

    :param state: its track's state (flying, done, swap, sent, idle), 'lost: <why>', or before
        a plan 'reporting' / 'not heard'.
    :param readmissions: how often it was taken back after a loss (None before a plan).
    :param planned_s: the plan's predicted time of its first path (s), None if none.
    :param sortie: 'k/n' while it flies (or waits for) sortie k of n; '' for one flight.
    :param waiting: why its next sortie is not sent yet ('' when it is due and nothing holds
        it); None when no sortie is due.
    """

    state: str
    readmissions: int | None = None
    planned_s: float | None = None
    sortie: str = ''
    waiting: str | None = None

    @property
    def lost(self) -> bool:
        """Return whether the coordinator counts the drone lost."""
        return self.state.startswith('lost')

    @property
    def spare(self) -> bool:
        """Return whether the coordinator has no work for the drone (lost, or idle)."""
        return self.lost or self.state == 'idle'

    @property
    def sortie_of(self) -> tuple[int, int] | None:
        """Return (k, n) of `sortie`, or None."""
        k, _, n = self.sortie.partition('/')
        return (int(k), int(n)) if k.isdigit() and n.isdigit() else None


@dataclass(frozen=True)
class SwarmStatus:
    """The coordinator's state as it publishes it on /swarm/status (key/values)."""

    state: str = ''
    coverage_pct: float = 0.0
    time_left_s: float | None = None
    replans: int = 0
    map_gap_rounds: int = 0
    map_seen_pct: float | None = None
    last_replan_reason: str = ''
    last_replan_latency_ms: float | None = None
    area_m2: float | None = None
    swath_m: float | None = None
    error: str = ''
    resumed: str = ''
    state_file_error: str = ''
    drones: Mapping[str, DroneEntry] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """Return whether the coordinator still has work for the drones (BUSY_SWARM_STATES)."""
        return self.state in BUSY_SWARM_STATES

    def drone(self, name: str) -> DroneEntry:
        """Return a drone's entry (state '' when the status does not name it)."""
        return self.drones.get(name, DroneEntry(''))

    def values(self) -> dict[str, str]:
        """Return the status as the DiagnosticStatus key/values the coordinator publishes."""
        values: dict[str, str] = {}
        for name, entry in self.drones.items():
            values[name] = entry.state
            if entry.readmissions is not None:
                values[f'{name}_readmissions'] = str(entry.readmissions)
            if entry.planned_s is not None:
                values[f'{name}_planned_s'] = f'{entry.planned_s:.1f}'
            if entry.sortie:
                values[f'{name}_sortie'] = entry.sortie
            if entry.waiting is not None:
                values[f'{name}_waiting'] = entry.waiting
        values.update(
            {
                'state': self.state,
                'coverage_pct': f'{self.coverage_pct:.1f}',
                'time_left_s': _fmt(self.time_left_s, 0, 'unknown'),
                'replans': str(self.replans),
                'map_gap_rounds': str(self.map_gap_rounds),
                'map_seen_pct': _fmt(self.map_seen_pct, 2),
                'last_replan_reason': self.last_replan_reason,
                'last_replan_latency_ms': _fmt(self.last_replan_latency_ms, 0),
                'area_m2': _fmt(self.area_m2, 0),
                'swath_m': _fmt(self.swath_m, 1),
                'error': self.error,
                'resumed': self.resumed,
                'state_file_error': self.state_file_error,
            }
        )
        return values

    @classmethod
    def parse(cls, values: Mapping[str, str], names: Iterable[str]) -> SwarmStatus:
        """Read a status from its key/values; `names`: the drones to read entries of."""
        get = values.get
        drones = {}
        for name in names:
            if name not in values:
                continue
            readmissions = _int(get(f'{name}_readmissions'), -1)
            drones[name] = DroneEntry(
                state=values[name],
                readmissions=readmissions if readmissions >= 0 else None,
                planned_s=_float(get(f'{name}_planned_s')),
                sortie=get(f'{name}_sortie', ''),
                waiting=get(f'{name}_waiting'),
            )
        return cls(
            state=get('state', ''),
            coverage_pct=_float(get('coverage_pct')) or 0.0,
            time_left_s=_float(get('time_left_s')),
            replans=max(0, _int(get('replans'), 0)),
            map_gap_rounds=max(0, _int(get('map_gap_rounds'), 0)),
            map_seen_pct=_float(get('map_seen_pct')),
            last_replan_reason=get('last_replan_reason', ''),
            last_replan_latency_ms=_float(get('last_replan_latency_ms')),
            area_m2=_float(get('area_m2')),
            swath_m=_float(get('swath_m')),
            error=get('error', ''),
            resumed=get('resumed', ''),
            state_file_error=get('state_file_error', ''),
            drones=drones,
        )


# -- /edge/status (edge_server): the load the drones' offload policies read ---------------------


@dataclass(frozen=True)
class EdgeLoad:
    """The edge server's load as it publishes it on /edge/status (among its other counters).

    :param queue_length: requests waiting at the server.
    :param service_s: its mean service time per frame (s); NaN while unknown.
    """

    queue_length: int
    service_s: float

    def values(self) -> dict[str, str]:
        """Return the load's key/values."""
        return {
            'queue_length': str(self.queue_length),
            'service_ms_mean': f'{self.service_s * 1e3:.2f}',
        }

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> EdgeLoad | None:
        """Read the load; None when a value is malformed (a missing one reads as 0 and NaN)."""
        try:
            queue = int(values.get('queue_length', '0'))
            service_s = float(values.get('service_ms_mean', 'nan')) * 1e-3
        except ValueError:
            return None
        return cls(queue, service_s)
