"""The built-in simulator against the real PX4: fly the recorded scenarios, compare the summaries.

Each scenario replays what MAVSDK sent to PX4 (the same commands and mission items, gated on the
vehicle's answers as MAVSDK did) against `uav_flood.sim` at SPEED_FACTOR, records what the
simulator sends with TlogWriter, and compares its summary with the recording's. Where the
simulator differs from PX4 the assertion is marked xfail(strict=True) with what differs, so the
gap stays visible and a fix shows up as an XPASS (docs/px4_conformance.md lists them).

A scenario flies once per test session: the first test that needs it flies it and leaves the
.tlog files in the session's shared temporary directory (under a file lock, so parallel pytest
workers do not fly it twice); the others summarise those files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass
import fcntl
import json
import math
from pathlib import Path
import time
from typing import Any

from px4_replay import reference, ReplayClient
import pytest
from tlog import read_tlog, summarise_files, text_template, TlogSummary

from uav_flood.core.geo import GeoPoint

#: Simulated seconds per wall second.
SPEED_FACTOR = 10.0
#: PX4 SITL's default home, where the recordings were flown.
ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    client_tlog: str
    params: dict[str, float]
    #: Simulated seconds from the first command to the disarm, with margin (PX4: 95 and 112 s).
    flight_s: float
    speed_factor: float = SPEED_FACTOR
    #: Stop this many wall seconds after arming instead of waiting for the disarm.
    armed_record_s: float | None = None
    #: Start once the vehicle is ready (False: from its first packet, as the boot recording).
    wait_ready: bool = True
    #: Every command and upload must be accepted (False: PX4 refused some in the recording).
    strict: bool = True


SCENARIOS = {
    'mission': Scenario('mission', 'mission-client.tlog', {}, 160.0),
    # Its battery drains in 80 simulated seconds: at 10x a 0.25 s stall of the simulator on a
    # loaded machine moved 'Low battery' by 3 % (CI once: said at 12 %, PX4 at 15 %); at 5x the
    # same stall moves it half as far.
    'lowbattery': Scenario(
        'lowbattery',
        'lowbattery-client.tlog',
        {'SIM_BAT_DRAIN': 80.0, 'SIM_BAT_MIN_PCT': 0.0},
        180.0,
        5.0,
    ),
    # Stream rates are compared in real time: at a speed factor above 1, event-driven messages
    # (a landed-state change, a new mission item) come closer together in wall time.
    'rates': Scenario('rates', 'mission-client.tlog', {}, 160.0, 1.0, 6.0),
    # From PX4's start: arming is refused until its health checks pass (real time: the refusals
    # are told apart by when they come).
    'boot': Scenario('boot', 'boot-client.tlog', {}, 20.0, 1.0, wait_ready=False, strict=False),
    # Geofence and mission uploaded, armed and started at once: the start is refused while the
    # navigator loads the fence; armed on the ground, PX4 disarms by itself after 10 s.
    'fence-autostart': Scenario(
        'fence-autostart', 'fence-autostart-client.tlog', {}, 40.0, 4.0, strict=False
    ),
    # The same, started 1 s after the upload: accepted, flown, RTL, landed. PX4 main runs the
    # mission's RTL item its own way (UFS_MIS_RTL_MAIN, docs/sim.md).
    'fence-mission': Scenario(
        'fence-mission', 'fence-mission-client.tlog', {'UFS_MIS_RTL_MAIN': 1}, 90.0
    ),
}


@dataclass(frozen=True)
class Flight:
    summary: TlogSummary
    autopilot_tlog: Path
    client_tlog: Path
    wall_s: float
    bad_packets: int
    #: (command, MAV_RESULT) of each command the replay sent, in order.
    acks: list[tuple[int, int]]


@contextlib.contextmanager
def _locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path` (shared by pytest-xdist workers); yield whether held."""
    with path.open('w') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fly(scenario: Scenario, out: Path, port: int) -> dict[str, Any]:
    from uav_flood import sim

    speed = scenario.speed_factor
    config = sim.SimConfig(
        vehicles=1, origin=ORIGIN, base_port=port, speed_factor=speed, params=dict(scenario.params)
    )
    started = time.monotonic()
    # The client listens first, so that the recording starts at the vehicle's first packet.
    with ReplayClient(port, out / 'autopilot.tlog', out / 'client.tlog', speed) as client:
        with sim.Simulator(config):
            acks = client.replay(
                reference(scenario.client_tlog),
                flight_timeout_s=scenario.flight_s / speed + 5.0,
                armed_record_s=scenario.armed_record_s,
                wait_ready=scenario.wait_ready,
                autopilot_tlog=reference(scenario.client_tlog.replace('-client', '-autopilot')),
                strict=scenario.strict,
            )
        bad_packets = client.bad_packets
    return {'wall_s': time.monotonic() - started, 'bad_packets': bad_packets, 'acks': acks}


_flights: dict[str, Flight] = {}


def _fly_if_needed(name: str, shared: Path, port: Callable[[], int], wait: bool) -> bool | None:
    """Fly scenario `name` unless it was flown already.

    Return True if it flew now, False if it had been flown, None if another worker is flying it
    (only when `wait` is False).
    """
    out = shared / f'px4-conformance-{name}'
    with _locked(shared / f'px4-conformance-{name}.lock', wait) as held:
        if not held:
            return None
        if (out / 'result.json').exists():
            return False
        out.mkdir(parents=True, exist_ok=True)
        try:
            result = _fly(SCENARIOS[name], out, port())
        except Exception as error:  # noqa: BLE001 - every worker must see the same failure
            result = {'error': f'{type(error).__name__}: {error}'}
        (out / 'result.json').write_text(json.dumps(result))
        return True


def _flight(
    name: str,
    udp_ports: Callable[[int], int],
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
) -> Flight:
    if name in _flights:
        return _flights[name]
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != 'master' else base

    def port() -> int:
        return udp_ports(41)  # the vehicle sends to P and listens on P + 40

    # While another worker flies this scenario, fly one that nobody has flown yet, so that
    # parallel workers fly different scenarios instead of waiting for the same one.
    others = [other for other in SCENARIOS if other != name]
    while _fly_if_needed(name, shared, port, wait=False) is None:
        if not any(_fly_if_needed(other, shared, port, wait=False) for other in others):
            _fly_if_needed(name, shared, port, wait=True)
            break
    out = shared / f'px4-conformance-{name}'
    result = json.loads((out / 'result.json').read_text())
    if 'error' in result:
        pytest.fail(f'the {name} flight against the simulator failed: {result["error"]}')
    speed = SCENARIOS[name].speed_factor
    flight = Flight(
        summarise_files(out / 'autopilot.tlog', out / 'client.tlog', speed_factor=speed),
        out / 'autopilot.tlog',
        out / 'client.tlog',
        result['wall_s'],
        result['bad_packets'],
        [(int(c), int(r)) for c, r in result['acks']],
    )
    _flights[name] = flight
    return flight


@pytest.fixture
def sim_mission(
    udp_ports: Callable[[int], int], tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Flight:
    return _flight('mission', udp_ports, tmp_path_factory, worker_id)


@pytest.fixture
def sim_rates(
    udp_ports: Callable[[int], int], tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Flight:
    return _flight('rates', udp_ports, tmp_path_factory, worker_id)


@pytest.fixture
def sim_lowbattery(
    udp_ports: Callable[[int], int], tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Flight:
    return _flight('lowbattery', udp_ports, tmp_path_factory, worker_id)


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    remaining = iter(seen)
    return all(any(item == other for other in remaining) for item in wanted)


def _acks_by_request(summary: TlogSummary) -> list[tuple[int, int]]:
    """Return (command, result) of the first ACK of each client request, in order."""
    return [(a.command, a.result) for a in summary.command_acks if a.request_time_s is not None]


# --- the mission scenario ------------------------------------------------------------------------


def test_mission_flight_completed(sim_mission: Flight) -> None:
    assert sim_mission.bad_packets == 0
    assert sim_mission.wall_s < 40


def test_mission_mode_sequence(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert sim_mission.summary.mode_sequence == px4_mission.mode_sequence


def test_mission_arming_sequence(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert [e.value for e in sim_mission.summary.arming] == [e.value for e in px4_mission.arming]


def test_mission_landed_state_sequence(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert sim_mission.summary.landed_state_sequence == px4_mission.landed_state_sequence


def test_mission_items_reached(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert sim_mission.summary.reached_sequence == px4_mission.reached_sequence


def test_mission_current(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    sim_current = [e.value for e in sim_mission.summary.mission_current]
    assert sim_current == [e.value for e in px4_mission.mission_current]


def test_mission_statustexts_in_order(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    wanted = [text_template(t) for t in px4_mission.texts]
    seen = [text_template(t) for t in sim_mission.summary.texts]
    assert _is_subsequence(wanted, seen), f'PX4: {px4_mission.texts}\nsim: {seen}'


def test_mission_command_results(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert _acks_by_request(sim_mission.summary) == _acks_by_request(px4_mission)


@pytest.mark.xfail(
    strict=True,
    reason=(
        'PX4 acknowledged the single DO_SET_MODE (176) of MAVSDK twice, 12 ms apart '
        '(mission-autopilot.tlog 7.340 s and 7.352 s; lowbattery too); the simulator once'
    ),
)
def test_mission_command_ack_count(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    sim_acks = [(a.command, a.result) for a in sim_mission.summary.command_acks]
    assert sim_acks == [(a.command, a.result) for a in px4_mission.command_acks]


def test_mission_upload_protocol(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    sim_upload = [(m.label, m.seq, m.result) for m in sim_mission.summary.mission_upload()]
    assert sim_upload == [(m.label, m.seq, m.result) for m in px4_mission.mission_upload()]


#: The messages the node stack relies on (AUTOPILOT_VERSION: on request, as MAVSDK asks for it).
RELIED_ON = [
    'HEARTBEAT',
    'SYS_STATUS',
    'BATTERY_STATUS',
    'GPS_RAW_INT',
    'GLOBAL_POSITION_INT',
    'LOCAL_POSITION_NED',
    'ATTITUDE',
    'ATTITUDE_QUATERNION',
    'HOME_POSITION',
    'EXTENDED_SYS_STATE',
    'VFR_HUD',
    'MISSION_CURRENT',
    'AUTOPILOT_VERSION',
]


def test_mission_relied_on_messages_present(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    assert set(RELIED_ON) <= set(px4_mission.counts)
    missing = [name for name in RELIED_ON if name not in sim_mission.summary.counts]
    assert missing == []
    assert sim_mission.summary.counts['AUTOPILOT_VERSION'] >= 1


def test_mission_heartbeat_fields(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    def fields(summary: TlogSummary) -> dict[str, Any]:
        beats = [e.value for e in summary.heartbeats]
        status = [b.system_status for b in beats]
        # PX4 reports MAV_STATE_UNINIT (0) for its first seconds of boot; compare from then on.
        while status and status[0] in (0, 1):
            status.pop(0)
        return {
            'type': {b.type for b in beats},
            'autopilot': {b.autopilot for b in beats},
            'base_mode_armed': {b.base_mode for b in beats if b.armed},
            'base_mode_disarmed': {b.base_mode for b in beats if not b.armed},
            'system_status': [s for i, s in enumerate(status) if i == 0 or status[i - 1] != s],
        }

    assert fields(sim_mission.summary) == fields(px4_mission)


def _autopilot_version(path: Path) -> Any:
    return next(m.message for m in read_tlog(path) if m.type == 'AUTOPILOT_VERSION')


def test_autopilot_version_versions(sim_mission: Flight) -> None:
    px4 = _autopilot_version(reference('mission-autopilot.tlog'))
    sim = _autopilot_version(sim_mission.autopilot_tlog)
    fields = ('flight_sw_version', 'middleware_sw_version', 'os_sw_version', 'board_version')
    assert {f: getattr(sim, f) for f in fields} == {f: getattr(px4, f) for f in fields}


@pytest.mark.xfail(
    strict=True,
    reason=(
        'PX4 advertises capabilities 59647, the simulator 59615: it leaves out '
        'MAV_PROTOCOL_CAPABILITY_FTP (32), having no MAVLink FTP server'
    ),
)
def test_autopilot_version_capabilities(sim_mission: Flight) -> None:
    px4 = _autopilot_version(reference('mission-autopilot.tlog'))
    sim = _autopilot_version(sim_mission.autopilot_tlog)
    assert sim.capabilities == px4.capabilities


#: Band of the rate comparison: each stream's own rate in the simulator against PX4's.
RATE_TOLERANCE = 0.25
RATE_TYPES = [name for name in RELIED_ON if name != 'AUTOPILOT_VERSION']


#: Streams the simulator sends slower than PX4 by design (its wall-Hz defaults, docs/sim.md):
#: (PX4's rate, the simulator's) in Hz, as measured.
SLOWER_STREAMS = {
    'SYS_STATUS': (5, 2),
    'GPS_RAW_INT': (8, 2),
    'GLOBAL_POSITION_INT': (50, 10),
    'LOCAL_POSITION_NED': (30, 10),
    'ATTITUDE': (95, 10),
    'ATTITUDE_QUATERNION': (50, 10),
    'VFR_HUD': (10, 4),
}


def test_rates_flight_recorded(sim_rates: Flight) -> None:
    assert sim_rates.bad_packets == 0
    ((begin, end),) = sim_rates.summary.armed_windows  # armed until the recording stopped
    assert end - begin >= 5.0  # simulated = wall seconds at speed factor 1


def _rate_case(name: str) -> Any:
    if name not in SLOWER_STREAMS:
        return name
    px4_hz, sim_hz = SLOWER_STREAMS[name]
    reason = f'PX4 sends {name} at {px4_hz} Hz, the simulator at {sim_hz} Hz (its default)'
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize('name', [_rate_case(name) for name in RATE_TYPES])
def test_stream_rate(px4_mission: TlogSummary, sim_rates: Flight, name: str) -> None:
    px4_rate = px4_mission.stream_rates_hz[name]
    sim_rate = sim_rates.summary.stream_rates_hz.get(name, 0.0)
    assert sim_rate == pytest.approx(px4_rate, rel=RATE_TOLERANCE)


def _milestones(summary: TlogSummary) -> dict[str, float]:
    """Return simulated seconds from arming to each milestone of the flight."""
    armed = next(e.time_s for e in summary.arming if e.value)
    texts = {s.text: s.time_s for s in reversed(summary.statustexts)}
    landed = {e.value: e.time_s for e in reversed(summary.landed_states)}
    marks = {
        'takeoff detected': texts.get('Takeoff detected'),
        'in air': landed.get(2),
        'landing': landed.get(4),
        'disarmed': summary.arming[-1].time_s if not summary.arming[-1].value else None,
    }
    for event in summary.mission_current[1:]:
        marks[f'mission item {event.value}'] = event.time_s
    return {k: v - armed for k, v in marks.items() if v is not None}


def test_mission_timing(px4_mission: TlogSummary, sim_mission: Flight) -> None:
    """The flight's milestones come at PX4's times after arming (within 15 % or 3 s)."""
    px4_marks = _milestones(px4_mission)
    sim_marks = _milestones(sim_mission.summary)
    assert sim_marks.keys() == px4_marks.keys()
    late_or_early = {
        k: (round(px4_marks[k], 1), round(sim_marks[k], 1))
        for k in px4_marks
        if abs(sim_marks[k] - px4_marks[k]) > max(3.0, 0.15 * px4_marks[k])
    }
    assert late_or_early == {}, 'milestone: (PX4 s, sim s) after arming'


# --- the low-battery scenario --------------------------------------------------------------------

LOWBATTERY_KEY_TEXTS = [
    'Armed by external command',
    'Executing Mission',
    'Climb to 25.0 meters above home',
    'Takeoff detected',
    'Low battery',
    'Critical battery',
    'Failsafe activated: entering Hold for 5 seconds',
    'Emergency battery level',
    'Failsafe activated',
    'Landing detected',
    'Disarmed by landing',
]


def test_lowbattery_flight_completed(sim_lowbattery: Flight) -> None:
    assert sim_lowbattery.bad_packets == 0
    assert sim_lowbattery.wall_s < 40


def test_lowbattery_failsafe_texts_in_order(
    px4_lowbattery: TlogSummary, sim_lowbattery: Flight
) -> None:
    assert _is_subsequence(LOWBATTERY_KEY_TEXTS, px4_lowbattery.texts)
    sim_texts = sim_lowbattery.summary.texts
    assert _is_subsequence(LOWBATTERY_KEY_TEXTS, sim_texts), f'sim: {sim_texts}'


def test_lowbattery_mode_sequence(px4_lowbattery: TlogSummary, sim_lowbattery: Flight) -> None:
    assert sim_lowbattery.summary.mode_sequence == px4_lowbattery.mode_sequence


def test_lowbattery_arming_and_landed_states(
    px4_lowbattery: TlogSummary, sim_lowbattery: Flight
) -> None:
    sim = sim_lowbattery.summary
    assert [e.value for e in sim.arming] == [e.value for e in px4_lowbattery.arming]
    assert sim.landed_state_sequence == px4_lowbattery.landed_state_sequence


def test_lowbattery_system_status(px4_lowbattery: TlogSummary, sim_lowbattery: Flight) -> None:
    def status(summary: TlogSummary) -> list[int]:
        values = [e.value.system_status for e in summary.heartbeats]
        return [s for i, s in enumerate(values) if i == 0 or values[i - 1] != s]

    assert status(sim_lowbattery.summary) == status(px4_lowbattery)


@pytest.mark.parametrize('text', ['Low battery', 'Critical battery', 'Emergency battery level'])
def test_lowbattery_battery_at_threshold(
    px4_lowbattery: TlogSummary, sim_lowbattery: Flight, text: str
) -> None:
    """The simulator says `text` as its charge crosses the charge PX4 said it at (2 % slack).

    The crossing lies between the simulator's battery reports around the text; a tick that a
    loaded machine stretched widens that bracket (seen: 7.2 % before, 4.9 % at the text).
    """
    px4_pct = px4_lowbattery.battery_at(text)
    bracket = sim_lowbattery.summary.battery_around(text)
    assert px4_pct is not None
    assert bracket is not None, f'the simulator never said {text!r}, or sent no battery around it'
    low, high = bracket
    assert low - 2 <= px4_pct <= high + 2, (low, high, px4_pct)


def test_lowbattery_timing(px4_lowbattery: TlogSummary, sim_lowbattery: Flight) -> None:
    def after_arming(summary: TlogSummary) -> dict[str, float]:
        at = {s.text: s.time_s for s in reversed(summary.statustexts)}
        armed = next(e.time_s for e in summary.arming if e.value)
        keys = ('Low battery', 'Critical battery', 'Emergency battery level')
        return {k: at[k] - armed for k in keys if k in at}

    px4_times = after_arming(px4_lowbattery)
    sim_times = after_arming(sim_lowbattery.summary)
    assert sim_times.keys() == px4_times.keys()
    for key, px4_s in px4_times.items():
        assert sim_times[key] == pytest.approx(px4_s, abs=3.0), key


def test_lowbattery_hold_lasts_5_s(sim_lowbattery: Flight) -> None:
    modes = sim_lowbattery.summary.modes
    names = [e.value for e in modes]
    assert 'AUTO.LAND' in names
    land = names.index('AUTO.LAND')
    assert modes[land - 1].value == 'AUTO.LOITER'
    # Heartbeats come once a simulated second: the change is seen up to a second late.
    assert modes[land].time_s - modes[land - 1].time_s == pytest.approx(5.0, abs=1.1)


def test_lowbattery_mission_protocol(px4_lowbattery: TlogSummary, sim_lowbattery: Flight) -> None:
    sim = sim_lowbattery.summary
    assert [m.label for m in sim.mission_upload()] == [
        m.label for m in px4_lowbattery.mission_upload()
    ]
    assert _acks_by_request(sim) == _acks_by_request(px4_lowbattery)


@pytest.mark.xfail(
    strict=True,
    reason=(
        'the simulator reaches item 3 (72.6 s after arming) before the battery failsafe '
        '(79 s), PX4 only item 1: on the 167 m first leg PX4 creeps up from 3.7 to 4.9 m/s '
        'where the simulator holds MPC_XY_CRUISE 5 m/s, and PX4 reaches item 2 at 58 s, the '
        'simulator at 53 s; its 113 m second leg then takes the simulator 19 s'
    ),
)
def test_lowbattery_items_reached(px4_lowbattery: TlogSummary, sim_lowbattery: Flight) -> None:
    assert sim_lowbattery.summary.reached_sequence == px4_lowbattery.reached_sequence


def test_summary_of_sim_recording_is_reproducible(sim_mission: Flight) -> None:
    """The recorded files summarise to the same facts again (the files are complete)."""
    again = summarise_files(
        sim_mission.autopilot_tlog, sim_mission.client_tlog, speed_factor=SPEED_FACTOR
    )
    assert again.mode_sequence == sim_mission.summary.mode_sequence
    assert again.counts == sim_mission.summary.counts
    vehicle_only = summarise_files(sim_mission.autopilot_tlog, speed_factor=SPEED_FACTOR)
    assert vehicle_only.commands_sent == []
    assert vehicle_only.counts == sim_mission.summary.counts


# --- boot, geofence and mission start: the recordings of issue 16 ------------------------------

MAV_CMD_COMPONENT_ARM_DISARM = 400
MAV_CMD_DO_SET_MODE = 176
MAV_RESULT_TEMPORARILY_REJECTED = 1


@pytest.fixture
def px4_boot() -> TlogSummary:
    return summarise_files(reference('boot-autopilot.tlog'), reference('boot-client.tlog'))


@pytest.fixture
def px4_fence_autostart() -> TlogSummary:
    return summarise_files(
        reference('fence-autostart-autopilot.tlog'), reference('fence-autostart-client.tlog')
    )


@pytest.fixture
def px4_fence_mission() -> TlogSummary:
    return summarise_files(
        reference('fence-mission-autopilot.tlog'), reference('fence-mission-client.tlog')
    )


def _flight_fixture(name: str) -> Any:
    @pytest.fixture
    def fixture(
        udp_ports: Callable[[int], int], tmp_path_factory: pytest.TempPathFactory, worker_id: str
    ) -> Flight:
        return _flight(name, udp_ports, tmp_path_factory, worker_id)

    return fixture


sim_boot = _flight_fixture('boot')
sim_fence_autostart = _flight_fixture('fence-autostart')
sim_fence_mission = _flight_fixture('fence-mission')


def _arm_results(acks: list[tuple[int, int]]) -> list[int]:
    return [result for command, result in acks if command == MAV_CMD_COMPONENT_ARM_DISARM]


def test_boot_arming_refused_until_health_checks_pass(
    px4_boot: TlogSummary, sim_boot: Flight
) -> None:
    """Arm every 0.5 s from PX4's first second: TEMPORARILY_REJECTED until about 4 s, as PX4."""
    assert sim_boot.bad_packets == 0
    px4_arms = _arm_results(_acks_by_request(px4_boot))
    assert px4_arms == [1, 1, 1, 1, 1, 1, 0, 0]  # six refusals, the arm, the disarm
    sim_arms = _arm_results(sim_boot.acks)
    # The refusals are 0.5 s apart: one more or less is a matter of scheduling, not behaviour.
    refused = sim_arms.index(0)
    assert 5 <= refused <= 7, sim_arms
    assert sim_arms[:refused] == [MAV_RESULT_TEMPORARILY_REJECTED] * refused
    assert sim_arms[refused:] == [0, 0]


def test_boot_refusals_explained(px4_boot: TlogSummary, sim_boot: Flight) -> None:
    text = 'Arming denied: Resolve system health failures first'
    assert text in px4_boot.texts
    refused = _arm_results(sim_boot.acks).count(MAV_RESULT_TEMPORARILY_REJECTED)
    assert sim_boot.summary.texts.count(text) == refused
    wanted = ['Armed by external command', 'Disarmed by external command']
    assert _is_subsequence(wanted, sim_boot.summary.texts)


def test_boot_system_status(px4_boot: TlogSummary, sim_boot: Flight) -> None:
    """MAV_STATE_UNINIT while booting, STANDBY once ready, ACTIVE armed, STANDBY again."""

    def status(summary: TlogSummary) -> list[int]:
        values = [e.value.system_status for e in summary.heartbeats]
        return [s for i, s in enumerate(values) if i == 0 or values[i - 1] != s]

    assert status(px4_boot) == [0, 3, 4, 3]
    assert status(sim_boot.summary) == status(px4_boot)


def _sys_status_words(path: Path) -> list[tuple[int, int, bool]]:
    """Return the changes of (present, enabled, PREARM_CHECK healthy) in SYS_STATUS."""
    words = []
    for m in read_tlog(path):
        if m.type == 'SYS_STATUS':
            msg = m.message
            word = (
                msg.onboard_control_sensors_present,
                msg.onboard_control_sensors_enabled,
                bool(msg.onboard_control_sensors_health & 0x10000000),
            )
            if not words or words[-1] != word:
                words.append(word)
    return words


def test_boot_sys_status_health(sim_boot: Flight) -> None:
    """Nothing present, then sensors without GPS and no pre-arm health, then all healthy."""
    px4 = _sys_status_words(reference('boot-autopilot.tlog'))
    sim = _sys_status_words(sim_boot.autopilot_tlog)
    assert [p[2] for p in px4] == [False, False, True]
    assert sim == px4


def test_fence_autostart_start_refused_while_the_fence_loads(
    px4_fence_autostart: TlogSummary, sim_fence_autostart: Flight
) -> None:
    """Fence, mission, arm, start at once: the start is TEMPORARILY_REJECTED, as PX4 does."""
    assert sim_fence_autostart.bad_packets == 0
    px4_acks = _acks_by_request(px4_fence_autostart)
    expected = [
        (MAV_CMD_COMPONENT_ARM_DISARM, 0),
        (MAV_CMD_DO_SET_MODE, MAV_RESULT_TEMPORARILY_REJECTED),
    ]
    assert px4_acks[-2:] == expected
    assert sim_fence_autostart.acks[-2:] == expected
    text = 'Switching to Mission is currently not available'
    assert text in px4_fence_autostart.texts
    assert text in sim_fence_autostart.summary.texts


def test_fence_autostart_uploads_accepted(sim_fence_autostart: Flight) -> None:
    def acks(path: Path) -> list[tuple[int, int]]:
        """Return (mission_type, MAV_MISSION_RESULT) of each MISSION_ACK the vehicle sent."""
        return [
            (m.message.mission_type, m.message.type)
            for m in read_tlog(path)
            if m.type == 'MISSION_ACK'
        ]

    px4 = acks(reference('fence-autostart-autopilot.tlog'))
    assert px4 == [(1, 0), (0, 0)]  # the fence, then the mission
    assert acks(sim_fence_autostart.autopilot_tlog) == px4


def test_fence_autostart_auto_disarm(
    px4_fence_autostart: TlogSummary, sim_fence_autostart: Flight
) -> None:
    """Armed on the ground without taking off, PX4 disarms after COM_DISARM_PRFLT (10 s)."""

    def disarm_after_arming(summary: TlogSummary) -> float:
        ((begin, end),) = summary.armed_windows
        return end - begin

    text = 'Disarmed by auto preflight disarming'
    assert text in px4_fence_autostart.texts
    assert text in sim_fence_autostart.summary.texts
    px4_s = disarm_after_arming(px4_fence_autostart)
    assert px4_s == pytest.approx(11.1, abs=0.5)
    # Heartbeats come once a simulated second: the arming and the disarm are seen up to 1 s late.
    assert disarm_after_arming(sim_fence_autostart.summary) == pytest.approx(px4_s, abs=1.5)


def test_fence_autostart_modes(
    px4_fence_autostart: TlogSummary, sim_fence_autostart: Flight
) -> None:
    """The vehicle never leaves Hold (AUTO.LOITER): refused, armed, disarmed."""
    assert px4_fence_autostart.mode_sequence == ['AUTO.LOITER']
    assert sim_fence_autostart.summary.mode_sequence == px4_fence_autostart.mode_sequence


def test_fence_autostart_mission_valid_after_the_fence_loaded(
    sim_fence_autostart: Flight,
) -> None:
    """MISSION_CURRENT counts the mission's items only once it is valid, after the refusal."""

    def first_total(path: Path) -> tuple[float, float]:
        """Return when the upload was acknowledged and when the total first counted (s).

        On the autopilot's own clock: the time_boot_ms of the last message before each. The
        tlog's wall stamps would do for PX4 at 1x, but the simulator at 4x catches up in steps
        on a loaded machine, and its wall stamps then bunch (once 41 ms for 0.3 s simulated).
        """
        boot_s = math.nan
        ack = valid = math.nan
        for m in read_tlog(path):
            stamp = getattr(m.message, 'time_boot_ms', None)
            if stamp is not None:
                boot_s = stamp / 1e3
            if m.type == 'MISSION_ACK' and m.message.mission_type == 0 and math.isnan(ack):
                ack = boot_s
            if m.type == 'MISSION_CURRENT' and m.message.total == 4 and math.isnan(valid):
                valid = boot_s
        return ack, valid

    px4_ack, px4_valid = first_total(reference('fence-autostart-autopilot.tlog'))
    assert 0.2 < px4_valid - px4_ack < 0.6
    sim_ack, sim_valid = first_total(sim_fence_autostart.autopilot_tlog)
    assert 0.2 < sim_valid - sim_ack < 0.8


def test_fence_mission_started_after_a_delay_flies(
    px4_fence_mission: TlogSummary, sim_fence_mission: Flight
) -> None:
    """Armed and started 1 s after the upload: accepted, the mission is flown, RTL, landed."""
    assert sim_fence_mission.bad_packets == 0
    assert _acks_by_request(px4_fence_mission)[-2:] == [
        (MAV_CMD_COMPONENT_ARM_DISARM, 0),
        (MAV_CMD_DO_SET_MODE, 0),
    ]
    assert sim_fence_mission.acks[-2:] == _acks_by_request(px4_fence_mission)[-2:]
    assert sim_fence_mission.summary.landed_state_sequence == (
        px4_fence_mission.landed_state_sequence
    )


def test_fence_mission_items_reached(
    px4_fence_mission: TlogSummary, sim_fence_mission: Flight
) -> None:
    assert sim_fence_mission.summary.reached_sequence == px4_fence_mission.reached_sequence


def test_fence_mission_mode_after_disarm(
    px4_fence_mission: TlogSummary, sim_fence_mission: Flight
) -> None:
    """PX4 shows AUTO.MISSION after the landing: the RTL was the mission's, not the user's."""
    assert px4_fence_mission.mode_sequence[-3:] == ['AUTO.MISSION', 'AUTO.RTL', 'AUTO.MISSION']
    assert sim_fence_mission.summary.mode_sequence == px4_fence_mission.mode_sequence


def test_fence_mission_texts_in_order(
    px4_fence_mission: TlogSummary, sim_fence_mission: Flight
) -> None:
    wanted = [
        'Armed by external command',
        'Executing Mission',
        'Takeoff detected',
        'Returning to launch',
        'Landing detected',
        'Disarmed by landing',
    ]
    assert _is_subsequence(wanted, px4_fence_mission.texts)
    sim_texts = sim_fence_mission.summary.texts
    assert _is_subsequence(wanted, sim_texts), sim_texts
