"""A minimal ground-station link for the demo: simulated time, vehicle state and fault injection.

The simulator (like PX4 SITL) sends every vehicle's telemetry to a ground-station port as well
(PX4: UDP 14550). The demo listens there, as QGroundControl would, and reads:

- the autopilot's boot time (`time_boot_ms` of ATTITUDE): the simulated clock, which runs
  `speed_factor` times faster than the wall clock and slows down if the machine cannot keep up;
- per system: armed (HEARTBEAT), landed state (EXTENDED_SYS_STATE), battery (SYS_STATUS).

It injects faults the way an operator does in PX4's shell (`failure battery off`): PARAM_SET
SYS_FAILURE_EN=1 then MAV_CMD_INJECT_FAILURE, or the simulator's own fault parameters: UFS_KILL
(the vehicle dies), UFS_PKT_LOSS (MAVLink packet loss, both ways, on every link of the vehicle)
and UFS_LINK_DROP (every link silent for that many simulated seconds). No rclpy here: the ROS
side of the demo is in demo/monitor.py.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import select
import socket
import struct
import threading
import time

from pymavlink.dialects.v20 import common as mavlink

#: MAVLink system id of this ground station (QGroundControl uses 255).
GCS_SYSTEM_ID = 255
FAILURE_UNIT_SYSTEM_BATTERY = 100
FAILURE_TYPE_OFF = 1
#: MAV_LANDED_STATE names, as flight_control reports them.
LANDED_STATES = {0: 'unknown', 1: 'on_ground', 2: 'in_air', 3: 'taking_off', 4: 'landing'}
#: Fault kinds the ground station injects into a vehicle over MAVLink.
FAULTS = ('battery', 'kill', 'packet-loss', 'link-drop')


@dataclass
class VehicleView:
    """What the ground station last heard from one system.

    :param address: (host, port) its packets come from: where commands go.
    :param time_boot_ms: its autopilot clock (ms since boot, simulated).
    :param armed: motors armed (HEARTBEAT base_mode).
    :param landed_state: 'on_ground', 'in_air', ... (EXTENDED_SYS_STATE).
    :param battery_pct: battery remaining (%), -1 unknown.
    :param heard_at: wall time of its last packet (monotonic s).
    """

    address: tuple[str, int]
    time_boot_ms: int = 0
    armed: bool = False
    landed_state: str = 'unknown'
    battery_pct: float = -1.0
    heard_at: float = 0.0


class GroundStation:
    """Listen on the simulator's ground-station port in a thread; send commands to vehicles.

    :param port: the UDP port the simulator sends to (its `--gcs-port`).
    :param host: the address to bind.
    :raises OSError: if the port cannot be bound.
    """

    def __init__(self, port: int, host: str = '127.0.0.1') -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.setblocking(False)
        self._mav = mavlink.MAVLink(None, srcSystem=GCS_SYSTEM_ID, srcComponent=190)
        self._parsers: dict[tuple[str, int], mavlink.MAVLink] = {}
        self._lock = threading.Lock()
        self._vehicles: dict[int, VehicleView] = {}
        self._acks: dict[tuple[int, int], int] = {}
        self._params: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='demo-gcs', daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the listener and close the socket."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()

    def vehicles(self) -> dict[int, VehicleView]:
        """Return a copy of every system heard, by system id."""
        with self._lock:
            return {k: VehicleView(**vars(v)) for k, v in self._vehicles.items()}

    def sim_time_s(self) -> float | None:
        """Return the simulated clock (s since boot of the first vehicle), or None if unheard."""
        with self._lock:
            if not self._vehicles:
                return None
            return self._vehicles[min(self._vehicles)].time_boot_ms / 1e3

    def inject(
        self, system_id: int, fault: str, value: float = math.nan, timeout_s: float = 3.0
    ) -> str:
        """Inject a fault into one vehicle; return what happened, in words.

        :param system_id: the vehicle's MAVLink system id (vehicle i: i + 1).
        :param fault: 'battery' (the battery reads empty: PX4's battery failsafe), 'kill'
            (the vehicle stops: motors and link, for good), 'packet-loss' (`value` percent of
            MAVLink packets lost both ways from now on) or 'link-drop' (every MAVLink link of
            the vehicle silent for `value` simulated seconds).
        :param value: the fault's size (percent or seconds), for the faults that have one.
        :param timeout_s: how long to keep trying to get the vehicle's confirmation (s).
        :raises ValueError: on an unknown fault, a missing value or a vehicle never heard.
        """
        if fault not in FAULTS:
            raise ValueError(f'unknown fault {fault!r}; known: {", ".join(FAULTS)}')
        deadline = time.monotonic() + timeout_s
        while True:  # a vehicle that just booted is heard within a second
            with self._lock:
                view = self._vehicles.get(system_id)
            if view is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if view is None:
            raise ValueError(f'system {system_id} was never heard on the ground-station port')
        if fault == 'kill':
            self._param_set(view.address, system_id, b'UFS_KILL', 1, mavlink.MAV_PARAM_TYPE_INT32)
            return 'killed (UFS_KILL=1: motors off, link silent)'
        if fault in ('packet-loss', 'link-drop'):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'{fault} needs a size > 0, got {value}')
            name = 'UFS_PKT_LOSS' if fault == 'packet-loss' else 'UFS_LINK_DROP'
            confirmed = self._param_set_confirmed(view.address, system_id, name, value, timeout_s)
            what = (
                f'{value:g} % of MAVLink packets lost both ways (UFS_PKT_LOSS)'
                if fault == 'packet-loss'
                else f'MAVLink links silent for {value:g} s simulated (UFS_LINK_DROP)'
            )
            # A link drop silences the confirmation too: it is the fault working.
            return what + ('' if confirmed or fault == 'link-drop' else ', not confirmed')
        self._param_set(
            view.address, system_id, b'SYS_FAILURE_EN', 1, mavlink.MAV_PARAM_TYPE_INT32
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = self._mav.command_long_encode(
                system_id,
                1,
                mavlink.MAV_CMD_INJECT_FAILURE,
                0,
                FAILURE_UNIT_SYSTEM_BATTERY,
                FAILURE_TYPE_OFF,
                0,
                0,
                0,
                0,
                0,
            )
            with self._lock:
                self._acks.pop((system_id, mavlink.MAV_CMD_INJECT_FAILURE), None)
            self._sock.sendto(msg.pack(self._mav), view.address)
            until = time.monotonic() + 0.5
            while time.monotonic() < until:
                with self._lock:
                    result = self._acks.get((system_id, mavlink.MAV_CMD_INJECT_FAILURE))
                if result is not None:
                    if result == mavlink.MAV_RESULT_ACCEPTED:
                        return 'battery failure injected (MAV_CMD_INJECT_FAILURE, battery off)'
                    return f'battery failure refused by the autopilot (MAV_RESULT {result})'
                time.sleep(0.02)
        return 'battery failure sent, no answer from the autopilot'

    def _param_set_confirmed(
        self, address: tuple[str, int], system_id: int, name: str, value: float, timeout_s: float
    ) -> bool:
        """Set a REAL32 parameter, repeated until the vehicle echoes it (PARAM_VALUE)."""
        deadline = time.monotonic() + timeout_s
        key = (system_id, name)
        while time.monotonic() < deadline:
            with self._lock:
                self._params.pop(key, None)
            msg = self._mav.param_set_encode(
                system_id, 1, name.encode(), value, mavlink.MAV_PARAM_TYPE_REAL32
            )
            self._sock.sendto(msg.pack(self._mav), address)
            until = time.monotonic() + 0.3
            while time.monotonic() < until:
                with self._lock:
                    echoed = self._params.get(key)
                if echoed is not None and abs(echoed - value) <= 1e-3 * max(1.0, abs(value)):
                    return True
                time.sleep(0.02)
        return False

    def _param_set(
        self, address: tuple[str, int], system_id: int, name: bytes, value: int, kind: int
    ) -> None:
        # INT32 parameters travel as their four bytes in the float field, as PX4 expects.
        encoded = struct.unpack('<f', struct.pack('<i', value))[0]
        msg = self._mav.param_set_encode(system_id, 1, name, encoded, kind)
        self._sock.sendto(msg.pack(self._mav), address)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            for _ in range(256):
                try:
                    data, address = self._sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                self._handle(data, address)

    def _handle(self, data: bytes, address: tuple[str, int]) -> None:
        parser = self._parsers.get(address)
        if parser is None:
            parser = self._parsers[address] = mavlink.MAVLink(None)
            parser.robust_parsing = True
        try:
            messages = parser.parse_buffer(data) or []
        except mavlink.MAVError:
            return
        now = time.monotonic()
        with self._lock:
            for msg in messages:
                system = msg.get_srcSystem()
                if system == GCS_SYSTEM_ID or msg.get_type() == 'BAD_DATA':
                    continue
                view = self._vehicles.get(system)
                if view is None:
                    view = self._vehicles[system] = VehicleView(address)
                view.address, view.heard_at = address, now
                kind = msg.get_type()
                if kind == 'ATTITUDE':
                    view.time_boot_ms = int(msg.time_boot_ms)
                elif kind == 'HEARTBEAT':
                    view.armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
                elif kind == 'EXTENDED_SYS_STATE':
                    view.landed_state = LANDED_STATES.get(int(msg.landed_state), 'unknown')
                elif kind == 'SYS_STATUS' and msg.battery_remaining >= 0:
                    view.battery_pct = float(msg.battery_remaining)
                elif kind == 'COMMAND_ACK':
                    self._acks[(system, int(msg.command))] = int(msg.result)
                elif kind == 'PARAM_VALUE':
                    name = msg.param_id.rstrip('\x00') if isinstance(msg.param_id, str) else ''
                    self._params[(system, name)] = float(msg.param_value)
