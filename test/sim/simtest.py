"""Helpers of the simulator tests: a pymavlink ground station and common flight steps."""

from __future__ import annotations

import os
import struct
import time

os.environ.setdefault('MAVLINK20', '1')

from pymavlink import mavutil  # noqa: E402
import pytest  # noqa: E402

from uav_flood.sim import Simulator  # noqa: E402

#: Simulated seconds per wall second in these tests.
SPEED = 10.0
NAN = float('nan')


class GroundStation:
    """A pymavlink client on the vehicle's port, as MAVSDK's udpin://: it records what it hears.

    It sends a GCS heartbeat every 0.25 s (wall) while it pumps, so the vehicle sees a live link.
    """

    def __init__(self, port: int, sysid: int = 255, compid: int = 190) -> None:
        self.conn = mavutil.mavlink_connection(
            f'udpin:127.0.0.1:{port}',
            source_system=sysid,
            source_component=compid,
            dialect='common',
        )
        self.texts: list[str] = []
        self.last: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.heartbeats = True
        self._chunks: dict[int, str] = {}
        self._last_hb = 0.0
        # Messages not yet taken by wait(): (serial, message), oldest first.
        self._inbox: list[tuple[int, object]] = []
        self._serial = 0

    def close(self) -> None:
        self.conn.close()

    def pump(self, timeout_s: float = 0.05) -> list:
        """Take every message that has arrived, waiting up to `timeout_s` for more; return them.

        Everything is also recorded (last of each type, counts, texts, the inbox of wait()).
        """
        got = []
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.monotonic()
            if self.heartbeats and now - self._last_hb > 0.25 and self.conn.clients:
                self.conn.mav.heartbeat_send(6, 8, 0, 0, 0)
                self._last_hb = now
            msg = self.conn.recv_match(blocking=False)
            if msg is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return got
                msg = self.conn.recv_match(blocking=True, timeout=min(0.05, remaining))
                if msg is None:
                    continue
            if msg.get_type() == 'BAD_DATA':
                continue
            self._record(msg)
            got.append(msg)

    def _record(self, msg) -> None:
        kind = msg.get_type()
        self.last[kind] = msg
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == 'STATUSTEXT':
            # Texts over 50 characters come in chunks that share an id.
            text = self._chunks.pop(msg.id, '') + msg.text
            if len(msg.text) < 50:
                self.texts.append(text.rstrip('\t'))
            else:
                self._chunks[msg.id] = text
        self._inbox.append((self._serial, msg))
        self._serial += 1
        del self._inbox[:-5000]

    def mark(self) -> int:
        """Return the serial number the next received message will get."""
        return self._serial

    def until(self, predicate, timeout_s: float, what: str = 'the condition') -> None:
        """Pump until `predicate()` holds; fail the test after `timeout_s` wall seconds."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f'timed out after {timeout_s} s waiting for {what}')
            self.pump(0.05)

    def wait(self, kind: str, timeout_s: float = 3.0, where=None, since: int = 0):
        """Take the first message of type `kind` (matching `where`) received since `since`.

        Messages already received count; other messages stay for later waits. Fails the test
        after `timeout_s` wall seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for index, (serial, msg) in enumerate(self._inbox):
                if serial >= since and msg.get_type() == kind and (where is None or where(msg)):
                    del self._inbox[index]
                    return msg
            if time.monotonic() > deadline:
                pytest.fail(f'no {kind} within {timeout_s} s')
            self.pump(0.05)

    def command(self, command: int, *params: float, target: int = 1, timeout_s: float = 3.0):
        """Send COMMAND_LONG and return its COMMAND_ACK result."""
        p = list(params) + [0.0] * (7 - len(params))
        since = self.mark()
        self.conn.mav.command_long_send(target, 1, command, 0, *p)
        ack = self.wait('COMMAND_ACK', timeout_s, lambda m: m.command == command, since)
        return ack.result

    def mode(self) -> tuple[int, int]:
        """Return (main, sub) of the vehicle's last HEARTBEAT."""
        hb = self.last['HEARTBEAT']
        return (hb.custom_mode >> 16) & 0xFF, (hb.custom_mode >> 24) & 0xFF


def fly_to(station: GroundStation, sim: Simulator, height_m: float = 10.0, instance: int = 0):
    """Arm, take off to `height_m` above home over MAVLink and wait until the vehicle holds."""
    vehicle = sim.vehicles[instance]
    station.until(lambda: vehicle.state().home is not None and sim.time_s > 3.5, 10.0, 'home')
    assert station.command(400, 1.0, target=vehicle.system_id) == 0  # arm
    alt = vehicle.state().home.alt_m + height_m
    assert station.command(22, NAN, 0, 0, NAN, NAN, NAN, alt, target=vehicle.system_id) == 0
    station.until(
        lambda: (
            vehicle.state().relative_alt_m > height_m - 0.5
            and vehicle.state().mode.name == 'AUTO.LOITER'
        ),
        20.0,
        f'a hold at {height_m} m',
    )


def item(seq, command, lat=0.0, lon=0.0, alt=0.0, params=(0.0, 0.0, 0.0, NAN), frame=6, mtype=0):
    """Return the MISSION_ITEM_INT fields of one plan item (lat/lon in degrees)."""
    return {
        'seq': seq,
        'frame': frame,
        'command': command,
        'current': int(seq == 0),
        'autocontinue': 1,
        'param1': params[0],
        'param2': params[1],
        'param3': params[2],
        'param4': params[3],
        'x': int(round(lat * 1e7)),
        'y': int(round(lon * 1e7)),
        'z': alt,
        'mission_type': mtype,
    }


def upload(station: GroundStation, items: list[dict], mission_type: int = 0, target: int = 1):
    """Upload a plan as a ground station does; return (MISSION_ACK type, requested seqs)."""
    mav = station.conn.mav
    mav.mission_count_send(target, 1, len(items), mission_type)
    requested = []
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        for msg in station.pump(0.05):
            kind = msg.get_type()
            if kind == 'MISSION_ACK':
                return msg.type, requested
            if kind == 'MISSION_REQUEST_INT' and msg.mission_type == mission_type:
                requested.append(msg.seq)
                mav.mission_item_int_send(target, 1, **items[msg.seq])
    pytest.fail('no MISSION_ACK for the upload')


def download(station: GroundStation, mission_type: int = 0, target: int = 1) -> list:
    """Download a plan with MISSION_REQUEST_LIST / MISSION_REQUEST_INT; return the items."""
    mav = station.conn.mav
    since = station.mark()
    mav.mission_request_list_send(target, 1, mission_type)
    count = station.wait('MISSION_COUNT', 3.0, lambda m: m.mission_type == mission_type, since)
    items = []
    for seq in range(count.count):
        since = station.mark()
        mav.mission_request_int_send(target, 1, seq, mission_type)
        items.append(station.wait('MISSION_ITEM_INT', 3.0, lambda m, s=seq: m.seq == s, since))
    mav.mission_ack_send(target, 1, 0, mission_type)
    return items


def param_value(msg) -> float:
    """Return the value a PARAM_VALUE carries (INT32 parameters are byte-wise, as PX4 sends)."""
    if msg.param_type == 6:
        return float(struct.unpack('<i', struct.pack('<f', msg.param_value))[0])
    return msg.param_value


def param_set(station: GroundStation, name: str, value: float, int32: bool, target: int = 1):
    """Set a parameter as MAVSDK does for PX4 (INT32 byte-wise); return the echoed value."""
    wire = struct.unpack('<f', struct.pack('<i', int(value)))[0] if int32 else value
    since = station.mark()
    station.conn.mav.param_set_send(target, 1, name.encode(), wire, 6 if int32 else 9)
    echo = station.wait('PARAM_VALUE', 3.0, lambda m: m.param_id == name, since)
    return param_value(echo)


class ModeLog:
    """Record (simulated time, mode name) whenever a vehicle's mode changes, as polled."""

    def __init__(self, vehicle) -> None:
        self.vehicle = vehicle
        self.changes: list[tuple[float, str]] = []

    def poll(self) -> None:
        state = self.vehicle.state()
        if not self.changes or self.changes[-1][1] != state.mode.name:
            self.changes.append((state.time_s, state.mode.name))

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.changes]

    def entered(self, name: str) -> float:
        return next(t for t, n in self.changes if n == name)


def subsequence(wanted: list[str], seen: list[str]) -> bool:
    """Return whether `wanted` appears in `seen` in order (other items may come between)."""
    rest = iter(seen)
    return all(any(w == s for s in rest) for w in wanted)


class TextLog:
    """An on_text callback for Simulator: (simulated time, instance, text) of every STATUSTEXT.

    It hears texts the vehicle sends while its link is down, which a ground station cannot.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[float, int, str]] = []

    def __call__(self, vehicle, severity: int, text: str) -> None:
        self.entries.append((vehicle.autopilot.t, vehicle.instance, text.rstrip('\t')))

    def texts(self, instance: int = 0) -> list[str]:
        return [text for _, i, text in self.entries if i == instance]

    def time_of(self, text: str, instance: int = 0, after: float = -1.0) -> float:
        return next(t for t, i, x in self.entries if i == instance and x == text and t > after)
