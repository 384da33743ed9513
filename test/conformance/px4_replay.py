"""Replay what MAVSDK sent to the real PX4 against a simulated vehicle, and record both sides.

`ReplayClient` stands where MAVSDK stood in the reference recordings: it listens on the UDP port
the vehicle sends to (like `udpin://0.0.0.0:PORT`), answers from the vehicle's address, sends a
GCS heartbeat, and records what the vehicle sent and what it sent itself into two .tlog files with
`TlogWriter`, as the recordings in /work/shared/px4_reference are. `replay()` walks the client
recording (COMMAND_LONG, MISSION_COUNT and the MISSION_ITEM_INT served on request), gating each
step on the vehicle's answer as MAVSDK did.
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import socket
import threading
import time
from typing import Any

from pymavlink.dialects.v20 import development as mavlink
from tlog import read_tlog, TlogWriter

from uav_flood.autopilot.px4 import FLAG_SAFETY_ARMED

#: The recordings of a real PX4 v1.16 SITL (test/data/px4_reference/README.md), kept in the
#: repository so CI has them; UAV_FLOOD_PX4_REFERENCE points elsewhere.
REFERENCE = Path(
    os.environ.get(
        'UAV_FLOOD_PX4_REFERENCE',
        Path(__file__).resolve().parents[1] / 'data' / 'px4_reference',
    )
)

#: MAVSDK's system and component id in the recordings.
CLIENT_SYSID = 245
CLIENT_COMPID = 190


def reference(name: str) -> Path:
    """Return the path of a file of the PX4 reference recordings (they ship with the tests)."""
    path = REFERENCE / name
    if not path.is_file():
        raise FileNotFoundError(f'PX4 reference recording {path} is missing')
    return path


class ReplayError(AssertionError):
    """The vehicle did not answer a replayed step as PX4 did (in time)."""


class ReplayClient:
    """A MAVLink 2 client on `127.0.0.1:port` that records both directions to .tlog files.

    :param port: the UDP port the vehicle sends to.
    :param autopilot_tlog: where to record what the vehicle sends.
    :param client_tlog: where to record what this client sends.
    :param speed_factor: the simulator's speed factor (the GCS heartbeat is 1 Hz simulated).
    """

    def __init__(
        self, port: int, autopilot_tlog: Path, client_tlog: Path, speed_factor: float = 1.0
    ) -> None:
        self.speed_factor = speed_factor
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(('127.0.0.1', port))
        self._sock.settimeout(0.05)
        self._vehicle: tuple[str, int] | None = None
        self._parser = mavlink.MAVLink(None)
        self._parser.robust_parsing = True
        self._packer = mavlink.MAVLink(None, srcSystem=CLIENT_SYSID, srcComponent=CLIENT_COMPID)
        self._received = TlogWriter(autopilot_tlog)
        self._sent = TlogWriter(client_tlog)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self.messages: list[Any] = []
        self.bad_packets = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._receive, name='replay-rx', daemon=True),
            threading.Thread(target=self._heartbeat, name='replay-hb', daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop the threads, close the socket and the .tlog files."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()
        self._received.close()
        self._sent.close()

    def __enter__(self) -> ReplayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- link ---------------------------------------------------------------------------------

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.time()
            messages = self._parser.parse_buffer(data) or []
            with self._cond:
                if self._vehicle is None:
                    self._vehicle = address
                for message in messages:
                    if message.get_type() == 'BAD_DATA':
                        self.bad_packets += 1
                        continue
                    self._received.write_message(message, now)
                    self.messages.append(message)
                self._cond.notify_all()

    def _heartbeat(self) -> None:
        period = 1.0 / self.speed_factor
        while not self._stop.wait(period):
            if self._vehicle is not None:
                # MAV_TYPE_GCS, MAV_AUTOPILOT_INVALID, as MAVSDK sent.
                self.send(self._packer.heartbeat_encode(6, 8, 0, 0, 0))

    def send(self, message: Any) -> None:
        """Pack `message` as this client (seq, ids) and send it to the vehicle; record it."""
        if self._vehicle is None:
            raise ReplayError('no packet from the vehicle yet: its address is unknown')
        with self._send_lock:
            packet = message.pack(self._packer)
            self._packer.seq = (self._packer.seq + 1) % 256
            # Stamp before sending: the answer may be received (and stamped) before sendto returns.
            stamp = time.time()
            self._sock.sendto(packet, self._vehicle)
            self._sent.write(packet, stamp)

    def wait_for(
        self, predicate: Callable[[Any], bool], timeout_s: float, since: int = 0, what: str = ''
    ) -> tuple[int, Any]:
        """Return (index, message) of the first message from `since` on that fits `predicate`.

        :raises ReplayError: none came within `timeout_s` (wall seconds).
        """
        deadline = time.monotonic() + timeout_s
        index = since
        with self._cond:
            while True:
                while index < len(self.messages):
                    message = self.messages[index]
                    if predicate(message):
                        return index, message
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReplayError(f'timed out after {timeout_s:.1f} s waiting for {what}')
                self._cond.wait(remaining)

    def mark(self) -> int:
        """Return the index the next received message will have."""
        with self._cond:
            return len(self.messages)

    # --- the MAVSDK sequence ------------------------------------------------------------------

    def command(self, message: Any, timeout_s: float = 1.0, retries: int = 3) -> int:
        """Send a COMMAND_LONG as MAVSDK does (retransmit with confirmation + 1); return result."""
        for confirmation in range(retries + 1):
            start = self.mark()
            message.confirmation = confirmation
            self.send(message)
            try:
                _, ack = self.wait_for(
                    lambda m: m.get_type() == 'COMMAND_ACK' and m.command == message.command,
                    timeout_s,
                    start,
                    f'COMMAND_ACK of command {message.command}',
                )
            except ReplayError:
                continue
            return int(ack.result)
        raise ReplayError(f'no COMMAND_ACK for command {message.command} after {retries} retries')

    def upload(
        self, count_message: Any, items: dict[tuple[int, int], Any], timeout_s: float = 2.0
    ) -> int:
        """Upload a plan as the recorded client did; return the MISSION_ACK type.

        :param items: the recorded MISSION_ITEM_INTs by (mission_type, seq).
        """
        mission_type = getattr(count_message, 'mission_type', 0)
        start = self.mark()
        self.send(count_message)
        kinds = ('MISSION_REQUEST_INT', 'MISSION_REQUEST', 'MISSION_ACK')
        while True:
            start, reply = self.wait_for(
                lambda m: m.get_type() in kinds, timeout_s, start, 'a MISSION_REQUEST_INT or ACK'
            )
            start += 1
            if reply.get_type() == 'MISSION_ACK':
                return int(reply.type)
            if (mission_type, reply.seq) not in items:
                raise ReplayError(f'the vehicle requested item {reply.seq}, which does not exist')
            self.send(items[(mission_type, reply.seq)])

    def replay(
        self,
        client_tlog: Path,
        flight_timeout_s: float,
        armed_record_s: float | None = None,
        *,
        wait_ready: bool = True,
        autopilot_tlog: Path | None = None,
        strict: bool = True,
    ) -> list[tuple[int, int]]:
        """Send what the recorded client sent, in order, then wait for the flight to end.

        Each step (a COMMAND_LONG, or an upload from its MISSION_COUNT) goes out as long after the
        previous step's end as it did in the recording (scaled by the speed factor): PX4 answers
        a mode switch 14 ms after a fence and mission upload differently from one 1 s after.

        :param client_tlog: the recording of the client (MAVSDK) side.
        :param flight_timeout_s: how long (wall) to wait for the vehicle to land and disarm.
        :param armed_record_s: if given, return this many wall seconds after the vehicle armed
            (recording what it sends meanwhile) instead of waiting for the disarm.
        :param wait_ready: start once the vehicle is ready (home set, MAV_STATE_STANDBY), as
            the recordings that connected to a booted PX4; False: start from the vehicle's first
            packet, at the recorded delay after the first packet of `autopilot_tlog`.
        :param autopilot_tlog: the recording of the vehicle side (needed without `wait_ready`).
        :param strict: raise ReplayError when a command or upload is not accepted; False:
            go on, as MAVSDK's caller decided in the recording.
        :return: (command, MAV_RESULT) of each command sent, in order.
        """
        recorded = list(read_tlog(client_tlog))
        items = {
            (getattr(m.message, 'mission_type', 0), m.message.seq): m.message
            for m in recorded
            if m.type == 'MISSION_ITEM_INT'
        }
        if wait_ready:
            self.wait_for(_is_vehicle_heartbeat, 10.0, what='the first vehicle HEARTBEAT')
            # MAVSDK connected to a PX4 that had booted, was ready (MAV_STATE_STANDBY) and had
            # set its home several seconds before (the recordings): start from the same state.
            self.wait_for(lambda m: m.get_type() == 'HOME_POSITION', 20.0, what='HOME_POSITION')
            self.wait_for(
                lambda m: _is_vehicle_heartbeat(m) and m.system_status == 3,
                20.0,
                what='a HEARTBEAT with system_status MAV_STATE_STANDBY',
            )
            previous_end: float | None = None
        else:
            if autopilot_tlog is None:
                raise ValueError('replay without wait_ready needs the autopilot recording')
            self.wait_for(lambda m: True, 10.0, what='the first packet of the vehicle')
            previous_end = next(iter(read_tlog(autopilot_tlog))).timestamp_s
        step_done = time.monotonic()
        results: list[tuple[int, int]] = []
        for record in recorded:
            message = record.message
            kind = record.type
            if kind == 'MISSION_ITEM_INT':
                previous_end = record.timestamp_s
            if kind not in ('COMMAND_LONG', 'MISSION_COUNT'):
                continue
            if previous_end is not None:
                gap = max(0.0, record.timestamp_s - previous_end) / self.speed_factor
                self._stop.wait(max(0.0, step_done + gap - time.monotonic()))
            previous_end = record.timestamp_s
            if kind == 'COMMAND_LONG':
                result = self.command(message)
                results.append((int(message.command), result))
                if strict and result != 0:  # MAV_RESULT_ACCEPTED
                    raise ReplayError(f'command {message.command} answered with result {result}')
            else:
                result = self.upload(message, items)
                if strict and result != 0:  # MAV_MISSION_ACCEPTED
                    raise ReplayError(f'mission upload answered with MISSION_ACK type {result}')
            step_done = time.monotonic()
        armed, _ = self.wait_for(
            lambda m: _is_vehicle_heartbeat(m) and bool(m.base_mode & FLAG_SAFETY_ARMED),
            10.0,
            what='an armed HEARTBEAT',
        )
        if armed_record_s is not None:
            # Recording for a fixed time is the point here, not waiting for a condition.
            self._stop.wait(armed_record_s)
            return results
        self.wait_for(
            lambda m: _is_vehicle_heartbeat(m) and not m.base_mode & FLAG_SAFETY_ARMED,
            flight_timeout_s,
            armed,
            'the vehicle to land and disarm',
        )
        return results


def _is_vehicle_heartbeat(message: Any) -> bool:
    return bool(message.get_type() == 'HEARTBEAT' and message.autopilot != 8)
