#!/usr/bin/env python3
"""Read, write and summarise MAVLink telemetry logs (.tlog).

A .tlog is what QGroundControl, MAVProxy and MAVExplorer write and read: each record is an 8-byte
big-endian timestamp (microseconds since the Unix epoch, the time the packet was received or sent)
followed by one raw MAVLink 1 or 2 packet. `read_tlog` decodes one with pymavlink's `development`
dialect (the superset of `common` that PX4 is built with), `TlogWriter` records a live link in
the same framing, and `summarise` reduces a recording to the facts that say whether an autopilot
behaves like PX4: flight modes, arming, landed states, STATUSTEXT, the mission and command
protocols, mission progress and message rates.

Run `python3 tools/tlog.py AUTOPILOT.tlog [CLIENT.tlog]` for a printed summary (the PX4
conformance tests import it as a module, docs/px4_conformance.md).
"""

from __future__ import annotations

import argparse
import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
import heapq
import math
import os
from pathlib import Path
import re
import statistics
import struct
import sys
import threading
import time
from typing import Any, BinaryIO, Generic, TypeVar

from pymavlink.dialects.v20 import development as mavlink

from uav_flood.autopilot.px4 import FLAG_SAFETY_ARMED, Px4Mode
from uav_flood.core.errors import UavFloodError

_TIMESTAMP = struct.Struct('>Q')
_MAGIC_V1 = 0xFE
_MAGIC_V2 = 0xFD
_SIGNED_FLAG = 0x01
_SIGNATURE_LEN = 13

#: MAV_AUTOPILOT_PX4 and MAV_AUTOPILOT_INVALID (ground stations, companions).
AUTOPILOT_PX4 = 12
AUTOPILOT_INVALID = 8

#: Mission protocol messages (MISSION_CURRENT and MISSION_ITEM_REACHED are progress telemetry).
MISSION_PROTOCOL = frozenset(
    {
        'MISSION_COUNT',
        'MISSION_REQUEST_LIST',
        'MISSION_REQUEST_PARTIAL_LIST',
        'MISSION_WRITE_PARTIAL_LIST',
        'MISSION_REQUEST',
        'MISSION_REQUEST_INT',
        'MISSION_ITEM',
        'MISSION_ITEM_INT',
        'MISSION_ACK',
        'MISSION_CLEAR_ALL',
        'MISSION_SET_CURRENT',
    }
)

#: MAV_SEVERITY_CRITICAL: PX4 sends battery warnings and failsafe notices at this level or above.
SEVERITY_CRITICAL = 2

#: STATUSTEXT carries at most this many characters per chunk (MAVLink 2).
_STATUSTEXT_CHUNK = 50

T = TypeVar('T')


class TlogError(UavFloodError):
    """A .tlog file is missing, unreadable or not a MAVLink telemetry log.

    :param message: what is wrong.
    :param path: the file, where there is one.
    :param offset: the byte offset of the bad record, where known.
    """

    def __init__(
        self,
        message: str,
        path: str | os.PathLike[str] | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = message
        self.path = None if path is None else str(path)
        self.offset = offset
        where = self.path if offset is None else f'{self.path} (byte {offset})'
        super().__init__(message if where is None else f'{where}: {message}')


@dataclass(frozen=True)
class TlogMessage:
    """One decoded MAVLink packet of a .tlog.

    :param timestamp_s: when it was received or sent (s since the Unix epoch).
    :param message: the pymavlink message (`msg.get_type()`, its fields; `_timestamp` is set).
    :param sysid: the sender's MAVLink system id (from the packet header).
    :param compid: the sender's MAVLink component id.
    """

    timestamp_s: float
    message: Any
    sysid: int
    compid: int

    @property
    def type(self) -> str:
        """Return the message name, e.g. 'HEARTBEAT' ('UNKNOWN_<id>' outside the dialect)."""
        return str(self.message.get_type())


def _packet_length(header: bytes) -> int:
    """Return the length of the MAVLink packet whose first 3 bytes are `header`."""
    if header[0] == _MAGIC_V2:
        signed = header[2] & _SIGNED_FLAG
        return 10 + header[1] + 2 + (_SIGNATURE_LEN if signed else 0)
    return 6 + header[1] + 2


def read_tlog(
    path: str | os.PathLike[str], *, strict: bool = True, dialect: Any = None
) -> Iterator[TlogMessage]:
    """Yield the messages of a .tlog in file order.

    :param path: the .tlog file.
    :param strict: raise TlogError on a packet that fails its CRC; if False, skip it.
    :param dialect: a pymavlink dialect module (default: `development`, PX4's dialect).
    :raises TlogError: the file is missing, truncated or not a .tlog.
    """
    source = Path(path)
    if not source.is_file():
        raise TlogError('no such file' if not source.exists() else 'not a regular file', path)
    module = dialect or mavlink
    parser = module.MAVLink(None)
    parser.robust_parsing = False
    try:
        stream: BinaryIO = source.open('rb')
    except OSError as error:
        raise TlogError(f'cannot open: {error.strerror}', path) from error
    with stream:
        offset = 0
        while True:
            stamp = stream.read(_TIMESTAMP.size)
            if not stamp:
                return
            head = stream.read(3)
            if len(stamp) < _TIMESTAMP.size or len(head) < 3:
                raise TlogError('truncated record at the end of the file', path, offset)
            if head[0] not in (_MAGIC_V1, _MAGIC_V2):
                raise TlogError(
                    f'expected a MAVLink packet (0xFD or 0xFE) after the 8-byte timestamp, '
                    f'found 0x{head[0]:02X}: not a .tlog, or a corrupted one',
                    path,
                    offset,
                )
            length = _packet_length(head)
            rest = stream.read(length - 3)
            if len(rest) < length - 3:
                raise TlogError('truncated record at the end of the file', path, offset)
            packet = bytearray(head + rest)
            try:
                message = parser.decode(packet)
            except module.MAVError as error:
                if strict:
                    raise TlogError(f'bad MAVLink packet: {error}', path, offset) from error
                offset += _TIMESTAMP.size + length
                continue
            timestamp_s = _TIMESTAMP.unpack(stamp)[0] * 1e-6
            message._timestamp = timestamp_s
            if head[0] == _MAGIC_V2:
                sysid, compid = packet[5], packet[6]
            else:
                sysid, compid = packet[3], packet[4]
            yield TlogMessage(timestamp_s, message, sysid, compid)
            offset += _TIMESTAMP.size + length


def merge(*streams: Iterable[TlogMessage]) -> Iterator[TlogMessage]:
    """Merge time-ordered message streams (e.g. the autopilot's and the client's) by timestamp."""
    return heapq.merge(*streams, key=lambda item: item.timestamp_s)


class TlogWriter:
    """Record raw MAVLink packets with the 8-byte timestamp framing of a .tlog.

    Safe to share between a receiving and a sending thread. Use as a context manager, or call
    `close()`.

    :param path: the file to create (parent directories are created; an existing file is replaced).
    :param clock: the time source for packets written without a timestamp (s since the epoch).
    """

    def __init__(self, path: str | os.PathLike[str], clock: Any = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.count = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = self.path.open('wb')
        except OSError as error:
            raise TlogError(f'cannot create: {error.strerror}', path) from error

    def write(self, packet: bytes | bytearray, timestamp_s: float | None = None) -> None:
        """Append one raw MAVLink packet.

        :param packet: exactly one MAVLink 1 or 2 packet, header to CRC (and signature).
        :param timestamp_s: when it was received or sent (s since the epoch); now if None.
        :raises ValueError: `packet` is not one whole MAVLink packet.
        """
        if len(packet) < 8 or packet[0] not in (_MAGIC_V1, _MAGIC_V2):
            raise ValueError('not a MAVLink packet (must start with 0xFD or 0xFE)')
        if _packet_length(bytes(packet[:3])) != len(packet):
            raise ValueError(
                f'packet length {len(packet)} does not match its header '
                f'({_packet_length(bytes(packet[:3]))})'
            )
        stamp = self._clock() if timestamp_s is None else timestamp_s
        record = _TIMESTAMP.pack(round(stamp * 1e6)) + bytes(packet)
        with self._lock:
            if self._file is None:
                raise ValueError(f'{self.path}: writer is closed')
            self._file.write(record)
            self.count += 1

    def write_message(self, message: Any, timestamp_s: float | None = None) -> None:
        """Append a pymavlink message that was packed (sent) or decoded (received).

        :raises ValueError: the message has no packed form: `message.pack(mav)` it first.
        """
        packet = message.get_msgbuf()
        if not packet:
            raise ValueError(f'{message.get_type()} was never packed: call pack(mav) first')
        self.write(packet, timestamp_s)

    def flush(self) -> None:
        """Push buffered records to the file."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Flush and close the file; later writes raise ValueError."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> TlogWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- summary -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event(Generic[T]):
    """A value that took effect at a time.

    :param time_s: seconds since the summary's start (scaled to simulated time, see `summarise`).
    :param value: what changed.
    """

    time_s: float
    value: T


@dataclass(frozen=True)
class Heartbeat:
    """The fields of an autopilot HEARTBEAT that describe its state."""

    type: int
    autopilot: int
    base_mode: int
    custom_mode: int
    system_status: int

    @property
    def armed(self) -> bool:
        """Return whether MAV_MODE_FLAG_SAFETY_ARMED is set."""
        return bool(self.base_mode & FLAG_SAFETY_ARMED)

    @property
    def mode(self) -> str:
        """Return the flight mode's name (PX4's, e.g. 'AUTO.MISSION', for a PX4 autopilot)."""
        if self.autopilot == AUTOPILOT_PX4:
            return Px4Mode.from_custom_mode(self.custom_mode).name
        return f'custom_mode={self.custom_mode:#x}'


@dataclass(frozen=True)
class StatusText:
    """One (reassembled) STATUSTEXT of the vehicle.

    :param time_s: when its last chunk arrived (s since the summary's start).
    :param severity: MAV_SEVERITY (0 emergency .. 7 debug).
    :param text: the text, chunks joined and trailing whitespace removed.
    :param battery_pct: the battery charge last reported before it (%), None if none yet
        (`TlogSummary.battery_at` interpolates).
    """

    time_s: float
    severity: int
    text: str
    battery_pct: float | None


@dataclass(frozen=True)
class MissionMessage:
    """One mission protocol message.

    :param time_s: when it was sent (s since the summary's start).
    :param from_vehicle: True if the vehicle sent it, False if the client (GCS, API) did.
    :param type: the message name, e.g. 'MISSION_REQUEST_INT'.
    :param seq: the item sequence number, for messages that carry one.
    :param result: MISSION_ACK's type (MAV_MISSION_RESULT), None for other messages.
    """

    time_s: float
    from_vehicle: bool
    type: str
    seq: int | None = None
    result: int | None = None

    @property
    def label(self) -> str:
        """Return 'vehicle:TYPE' or 'client:TYPE'."""
        return f'{"vehicle" if self.from_vehicle else "client"}:{self.type}'


@dataclass(frozen=True)
class CommandAck:
    """A COMMAND_ACK of the vehicle, paired with the client's request where that is recorded.

    :param time_s: when the vehicle acknowledged (s since the summary's start).
    :param command: MAV_CMD id.
    :param result: MAV_RESULT.
    :param request_time_s: when the client sent the command (first transmission), if recorded.
    """

    time_s: float
    command: int
    result: int
    request_time_s: float | None = None

    @property
    def command_name(self) -> str:
        """Return the MAV_CMD name without its prefix, e.g. 'COMPONENT_ARM_DISARM'."""
        return enum_name('MAV_CMD', self.command)

    @property
    def result_name(self) -> str:
        """Return the MAV_RESULT name without its prefix, e.g. 'ACCEPTED'."""
        return enum_name('MAV_RESULT', self.result)


def enum_name(enum: str, value: int) -> str:
    """Return the name of a MAVLink enum value without the enum's prefix ('MAV_CMD', 400 -> ...).

    :param enum: the enum, e.g. 'MAV_LANDED_STATE'.
    :param value: its value; unknown values give the number as text.
    """
    entry = mavlink.enums.get(enum, {}).get(value)
    if entry is None:
        return str(value)
    name = str(entry.name)
    return name[len(enum) + 1 :] if name.startswith(enum + '_') else name


@dataclass
class TlogSummary:
    """What a recording says about the vehicle: see `summarise`.

    Times are seconds since `start_s` (s since the epoch) on the vehicle's clock (simulated
    seconds for a simulator, see `summarise`); `counts` and `rates_hz` (per second of
    the recording) cover the vehicle's messages, `armed_*` those sent while its HEARTBEAT said
    armed (`armed_windows`).
    """

    sysid: int
    start_s: float
    duration_s: float
    counts: dict[str, int] = field(default_factory=dict)
    rates_hz: dict[str, float] = field(default_factory=dict)
    armed_counts: dict[str, int] = field(default_factory=dict)
    armed_rates_hz: dict[str, float] = field(default_factory=dict)
    armed_windows: list[tuple[float, float]] = field(default_factory=list)
    heartbeats: list[Event[Heartbeat]] = field(default_factory=list)
    landed_states: list[Event[int]] = field(default_factory=list)
    statustexts: list[StatusText] = field(default_factory=list)
    mission_messages: list[MissionMessage] = field(default_factory=list)
    commands_sent: list[Event[int]] = field(default_factory=list)
    command_acks: list[CommandAck] = field(default_factory=list)
    mission_items_reached: list[Event[int]] = field(default_factory=list)
    mission_current: list[Event[int]] = field(default_factory=list)
    battery: list[Event[float]] = field(default_factory=list)
    stream_rates_hz: dict[str, float] = field(default_factory=dict)

    @property
    def modes(self) -> list[Event[str]]:
        """Return the flight-mode changes (the first heartbeat's mode included)."""
        return _changes((e.time_s, e.value.mode) for e in self.heartbeats)

    @property
    def arming(self) -> list[Event[bool]]:
        """Return the arming changes (the first heartbeat's state included)."""
        return _changes((e.time_s, e.value.armed) for e in self.heartbeats)

    @property
    def mode_sequence(self) -> list[str]:
        """Return the flight modes in the order they were entered."""
        return [e.value for e in self.modes]

    @property
    def landed_state_sequence(self) -> list[int]:
        """Return the MAV_LANDED_STATE values in the order they were entered."""
        return [e.value for e in self.landed_states]

    @property
    def reached_sequence(self) -> list[int]:
        """Return the mission items reported reached, repeats of the last one removed."""
        return [e.value for e in self.mission_items_reached]

    @property
    def failsafe_texts(self) -> list[StatusText]:
        """Return the STATUSTEXTs of severity CRITICAL or worse (PX4's failsafe notices)."""
        return [s for s in self.statustexts if s.severity <= SEVERITY_CRITICAL]

    @property
    def texts(self) -> list[str]:
        """Return the vehicle's STATUSTEXTs in order."""
        return [s.text for s in self.statustexts]

    def mission_upload(self) -> list[MissionMessage]:
        """Return the first mission upload: from MISSION_COUNT to the vehicle's MISSION_ACK."""
        upload: list[MissionMessage] = []
        for item in self.mission_messages:
            if not upload and not (item.type == 'MISSION_COUNT' and not item.from_vehicle):
                continue
            upload.append(item)
            if item.type == 'MISSION_ACK' and item.from_vehicle:
                break
        return upload

    def battery_at(self, text: str) -> float | None:
        """Return the battery % at the first STATUSTEXT that reads `text` (None if absent).

        The charge is interpolated in time between the reports before and after the text, so that
        a slow battery stream (one report per several simulated seconds) still gives the charge
        at the moment of the text.
        """
        status = next((s for s in self.statustexts if s.text == text), None)
        if status is None:
            return None
        before = [e for e in self.battery if e.time_s <= status.time_s]
        after = [e for e in self.battery if e.time_s > status.time_s]
        if not before:
            return None
        if not after or after[0].time_s == before[-1].time_s:
            return before[-1].value
        low, high = before[-1], after[0]
        share = (status.time_s - low.time_s) / (high.time_s - low.time_s)
        return low.value + share * (high.value - low.value)

    def battery_around(self, text: str) -> tuple[float, float] | None:
        """Return the battery % of the reports just after and just before a STATUSTEXT.

        The vehicle said `text` when its charge crossed a threshold somewhere between the last
        report strictly before the text and the first report at or after it, so the pair
        (after, before) brackets the charge at the crossing. A vehicle that stalled (a loaded
        machine: a simulator's tick covers more time) gives a wider bracket, not a wrong value.
        None when the text or a report on either side is missing.
        """
        status = next((s for s in self.statustexts if s.text == text), None)
        if status is None:
            return None
        before = [e for e in self.battery if e.time_s < status.time_s]
        after = [e for e in self.battery if e.time_s >= status.time_s]
        if not before or not after:
            return None
        return after[0].value, before[-1].value

    def format(self) -> str:
        """Return the summary as text an operator can read."""
        lines = [
            f'system {self.sysid}: {self.duration_s:.1f} s, '
            f'{sum(self.counts.values())} messages of {len(self.counts)} types',
            'modes:    ' + ' -> '.join(f'{e.value} ({e.time_s:.1f} s)' for e in self.modes),
            'arming:   '
            + ' -> '.join(
                f'{"armed" if e.value else "disarmed"} ({e.time_s:.1f} s)' for e in self.arming
            ),
            'landed:   '
            + ' -> '.join(
                f'{enum_name("MAV_LANDED_STATE", e.value)} ({e.time_s:.1f} s)'
                for e in self.landed_states
            ),
            'reached:  ' + ' '.join(str(s) for s in self.reached_sequence),
            'commands: '
            + ', '.join(f'{a.command_name}={a.result_name}' for a in self.command_acks),
            'mission:  ' + ' '.join(m.label for m in self.mission_upload()),
            'texts:',
        ]
        for status in self.statustexts:
            battery = '' if status.battery_pct is None else f' [battery {status.battery_pct:g}%]'
            lines.append(
                f'  {status.time_s:7.2f} s  sev {status.severity}  {status.text}{battery}'
            )
        lines.append('rates (Hz, armed / overall / stream):')
        for name in sorted(self.counts):
            armed = self.armed_rates_hz.get(name)
            armed_text = '-' if armed is None else f'{armed:7.2f}'
            stream = self.stream_rates_hz.get(name)
            stream_text = '-' if stream is None else f'{stream:7.2f}'
            lines.append(
                f'  {name:28s} {armed_text:>7s} {self.rates_hz[name]:7.2f} {stream_text:>7s}'
            )
        return '\n'.join(lines)


def _changes(items: Iterable[tuple[float, T]]) -> list[Event[T]]:
    events: list[Event[T]] = []
    for time_s, value in items:
        if not events or events[-1].value != value:
            events.append(Event(time_s, value))
    return events


class _TextAssembler:
    """Join STATUSTEXT chunks (MAVLink 2: same non-zero id, chunk_seq 0, 1, ...)."""

    def __init__(self) -> None:
        self._id = 0
        self._severity = 0
        self._parts: list[str] = []

    def add(self, message: Any) -> list[tuple[int, str]]:
        """Add one STATUSTEXT; return the (severity, text) of the texts it completes."""
        text = _text(message.text)
        text_id = int(getattr(message, 'id', 0))
        chunk = int(getattr(message, 'chunk_seq', 0))
        done: list[tuple[int, str]] = []
        if self._parts and (text_id != self._id or chunk == 0):
            # The last chunk of the pending text was lost: keep what arrived.
            done.extend(self._flush())
        if text_id == 0:  # id 0: a text that is not chunked
            return [*done, (int(message.severity), text)]
        if not self._parts:
            self._id, self._severity = text_id, int(message.severity)
        self._parts.append(text)
        if len(text) < _STATUSTEXT_CHUNK:
            done.extend(self._flush())
        return done

    def _flush(self) -> list[tuple[int, str]]:
        if not self._parts:
            return []
        joined = ''.join(self._parts)
        self._parts = []
        return [(self._severity, joined)]

    def finish(self) -> list[tuple[int, str]]:
        """Return a text whose last chunk never came, if any."""
        return self._flush()


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        value = value.decode('utf-8', 'replace')
    return str(value).split('\x00', 1)[0]


def _find_vehicle(messages: Sequence[TlogMessage]) -> int:
    for item in messages:
        if item.type == 'HEARTBEAT' and item.message.autopilot != AUTOPILOT_INVALID:
            return item.sysid
    raise TlogError('no autopilot HEARTBEAT in the recording: which vehicle is it?')


class _VehicleClock:
    """Map recording time to the vehicle's own clock (`time_boot_ms` of its messages).

    A simulator that falls behind its speed factor (a loaded machine) then still gives event
    times in its simulated seconds. Between two messages that carry `time_boot_ms` (and where
    none does) time advances at `speed_factor` times the recording's.
    """

    def __init__(self, items: list[TlogMessage], vehicle: int, speed_factor: float) -> None:
        self.speed_factor = speed_factor
        self.walls: list[float] = []
        self.boots: list[float] = []
        for item in items:
            boot_ms = getattr(item.message, 'time_boot_ms', None)
            if item.sysid != vehicle or boot_ms is None:
                continue
            boot = boot_ms * 1e-3
            if self.boots and boot < self.boots[-1]:
                continue  # a reboot or a stale sample: keep the clock monotonic
            self.walls.append(item.timestamp_s)
            self.boots.append(boot)

    def __call__(self, wall: float) -> float:
        """Return the vehicle time (s) at recording time `wall` (s since the epoch)."""
        if not self.walls:
            return wall * self.speed_factor
        index = max(bisect.bisect_right(self.walls, wall) - 1, 0)
        return self.boots[index] + (wall - self.walls[index]) * self.speed_factor


def summarise(
    messages: Iterable[TlogMessage], sysid: int | None = None, speed_factor: float = 1.0
) -> TlogSummary:
    """Summarise a recording of one vehicle (and, where given, of its client).

    Messages from `sysid` are the vehicle's; messages from any other system are the client's
    (a GCS or API such as MAVSDK): pass `merge(autopilot, client)` to see both sides of the
    mission and command protocols.

    :param messages: time-ordered messages, e.g. `read_tlog(path)`.
    :param sysid: the vehicle's system id; default: the first system that sends an autopilot
        HEARTBEAT.
    :param speed_factor: how much faster than real time the vehicle ran (a simulator's speed
        factor). Event times are the vehicle's own (its messages' `time_boot_ms`), advanced at
        `speed_factor` times the recording's time between those messages, so that they are in
        simulated seconds and compare with a real-time recording. Rates stay per second of the
        recording (wall clock), which is what a client receives.
    :raises TlogError: there are no messages, or no vehicle HEARTBEAT to identify the vehicle.
    """
    if not speed_factor > 0:
        raise ValueError(f'speed_factor must be positive, got {speed_factor}')
    items = list(messages)
    if not items:
        raise TlogError('the recording holds no MAVLink messages')
    vehicle = _find_vehicle(items) if sysid is None else sysid
    start = items[0].timestamp_s
    vehicle_times = [item.timestamp_s for item in items if item.sysid == vehicle]
    if not vehicle_times:
        raise TlogError(f'no messages from system {vehicle}')
    end = vehicle_times[-1]

    clock = _VehicleClock(items, vehicle, speed_factor)
    origin = clock(start)

    def rel(stamp: float) -> float:
        """Return seconds since the start, in the vehicle's time."""
        return clock(stamp) - origin

    summary = TlogSummary(sysid=vehicle, start_s=start, duration_s=rel(end))
    texts = _TextAssembler()
    battery: float | None = None
    pending: dict[int, float] = {}  # command id -> first time the client sent it
    armed_since: float | None = None
    wall_windows: list[tuple[float, float]] = []  # the armed windows in recording time
    armed_since_wall = 0.0

    for item in items:
        msg = item.message
        kind = item.type
        now = rel(item.timestamp_s)
        if item.sysid != vehicle:
            if kind in ('COMMAND_LONG', 'COMMAND_INT') and msg.target_system in (vehicle, 0):
                command = int(msg.command)
                # Retransmissions (COMMAND_LONG.confirmation > 0) are the same request.
                if int(getattr(msg, 'confirmation', 0)) == 0 or command not in pending:
                    pending.setdefault(command, now)
                    summary.commands_sent.append(Event(now, command))
            elif kind in MISSION_PROTOCOL:
                summary.mission_messages.append(_mission_message(now, False, kind, msg))
            continue
        summary.counts[kind] = summary.counts.get(kind, 0) + 1
        if kind == 'HEARTBEAT':
            if msg.autopilot == AUTOPILOT_INVALID or item.compid != 1:
                continue
            beat = Heartbeat(
                int(msg.type),
                int(msg.autopilot),
                int(msg.base_mode),
                int(msg.custom_mode),
                int(msg.system_status),
            )
            if not summary.heartbeats or summary.heartbeats[-1].value != beat:
                summary.heartbeats.append(Event(now, beat))
            if beat.armed and armed_since is None:
                armed_since, armed_since_wall = now, item.timestamp_s
            elif not beat.armed and armed_since is not None:
                summary.armed_windows.append((armed_since, now))
                wall_windows.append((armed_since_wall, item.timestamp_s))
                armed_since = None
        elif kind == 'EXTENDED_SYS_STATE':
            state = int(msg.landed_state)
            if not summary.landed_states or summary.landed_states[-1].value != state:
                summary.landed_states.append(Event(now, state))
        elif kind == 'STATUSTEXT':
            for severity, text in texts.add(msg):
                summary.statustexts.append(StatusText(now, severity, text.rstrip(), battery))
        elif kind in ('SYS_STATUS', 'BATTERY_STATUS'):
            if msg.battery_remaining >= 0:
                battery = float(msg.battery_remaining)
                if not summary.battery or summary.battery[-1].value != battery:
                    summary.battery.append(Event(now, battery))
        elif kind == 'MISSION_ITEM_REACHED':
            seq = int(msg.seq)
            if not summary.mission_items_reached or summary.mission_items_reached[-1].value != seq:
                summary.mission_items_reached.append(Event(now, seq))
        elif kind == 'MISSION_CURRENT':
            seq = int(msg.seq)
            if not summary.mission_current or summary.mission_current[-1].value != seq:
                summary.mission_current.append(Event(now, seq))
        elif kind == 'COMMAND_ACK':
            command = int(msg.command)
            summary.command_acks.append(
                CommandAck(now, command, int(msg.result), pending.pop(command, None))
            )
        elif kind in MISSION_PROTOCOL:
            summary.mission_messages.append(_mission_message(now, True, kind, msg))

    for severity, text in texts.finish():
        summary.statustexts.append(
            StatusText(summary.duration_s, severity, text.rstrip(), battery)
        )
    if armed_since is not None:
        summary.armed_windows.append((armed_since, summary.duration_s))
        wall_windows.append((armed_since_wall, end))
    _fill_rates(summary, items, vehicle, wall_windows)
    return summary


def _mission_message(now: float, from_vehicle: bool, kind: str, msg: Any) -> MissionMessage:
    seq = getattr(msg, 'seq', None)
    result = int(msg.type) if kind == 'MISSION_ACK' else None
    return MissionMessage(now, from_vehicle, kind, None if seq is None else int(seq), result)


def _fill_rates(
    summary: TlogSummary,
    items: list[TlogMessage],
    vehicle: int,
    armed: list[tuple[float, float]],
) -> None:
    """Fill the per-type rates, per second of the recording (wall clock), overall and armed.

    :param armed: the armed windows in recording time (s since the epoch).
    """
    stamps: dict[str, list[float]] = {}
    for item in items:
        if item.sysid == vehicle:
            stamps.setdefault(item.type, []).append(item.timestamp_s)
    first = min(times[0] for times in stamps.values())
    last = max(times[-1] for times in stamps.values())
    for name, times in stamps.items():
        summary.rates_hz[name] = len(times) / (last - first) if last > first else math.nan
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        if len(gaps) >= 2:
            median = statistics.median(gaps)
            summary.stream_rates_hz[name] = 1.0 / median if median > 0 else math.inf
    armed_span = sum(end - begin for begin, end in armed)
    if armed_span <= 0:
        return
    for name, times in stamps.items():
        count = sum(1 for t in times if any(begin <= t < end for begin, end in armed))
        if count:
            summary.armed_counts[name] = count
            summary.armed_rates_hz[name] = count / armed_span


def summarise_files(
    autopilot: str | os.PathLike[str],
    client: str | os.PathLike[str] | None = None,
    sysid: int | None = None,
    speed_factor: float = 1.0,
) -> TlogSummary:
    """Read and summarise a vehicle's .tlog, merged with its client's .tlog where given."""
    streams = [read_tlog(autopilot)]
    if client is not None:
        streams.append(read_tlog(client))
    try:
        return summarise(merge(*streams), sysid=sysid, speed_factor=speed_factor)
    except TlogError as error:
        if error.path is None:
            raise TlogError(error.reason, autopilot) from None
        raise


_NUMBER = re.compile(r'[-+]?\d+(\.\d+)?')


def text_template(text: str) -> str:
    """Return `text` with every number replaced by '#', to compare texts that report values."""
    return _NUMBER.sub('#', text)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of a .tlog (and its client's .tlog); return the exit status."""
    parser = argparse.ArgumentParser(
        prog='python3 tools/tlog.py',
        description='Summarise a MAVLink telemetry log (.tlog) of a PX4 vehicle.',
    )
    parser.add_argument('autopilot', help='the .tlog of what the vehicle sent')
    parser.add_argument('client', nargs='?', help='the .tlog of what its client sent (optional)')
    parser.add_argument('--sysid', type=int, help='the vehicle system id (default: detected)')
    parser.add_argument(
        '--speed-factor', type=float, default=1.0, help='simulator speed factor of the recording'
    )
    args = parser.parse_args(argv)
    try:
        summary = summarise_files(args.autopilot, args.client, args.sysid, args.speed_factor)
    except (TlogError, ValueError) as error:
        sys.stderr.write(f'error: {error}\n')
        return 1
    sys.stdout.write(summary.format() + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
