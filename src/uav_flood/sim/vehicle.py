"""One simulated PX4 vehicle on the wire: its UDP links, telemetry streams and MAVLink protocols.

The flight logic lives in sim/autopilot.py; this module speaks MAVLink 2 for it the way PX4's
mavlink module does: streams at configurable rates, COMMAND_LONG/INT with COMMAND_ACK, the
parameter and mission protocols, STATUSTEXT (chunked), and the fault injection that acts on
the link itself (kill, link drop, packet loss).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import math
import random
import socket
import time
from typing import Any

from pymavlink.dialects.v20 import common as mavlink

from uav_flood.autopilot.px4 import Px4Mode
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.rotation import quaternion_from_euler
from uav_flood.sim import autopilot as ap
from uav_flood.sim import mission as mis
from uav_flood.sim.battery import WARNING_CRITICAL, WARNING_EMERGENCY, WARNING_LOW
from uav_flood.sim.params import decode_bytewise, encode_bytewise, ParamStore
from uav_flood.sim.state import VehicleState

log = logging.getLogger(__name__)

#: Default telemetry rates on every link, in messages per WALL second (docs/sim.md).
DEFAULT_RATES_HZ: dict[str, float] = {
    'HEARTBEAT': 1.0,
    'SYS_STATUS': 2.0,
    'EXTENDED_SYS_STATE': 1.0,
    'GPS_RAW_INT': 2.0,
    'GLOBAL_POSITION_INT': 10.0,
    'LOCAL_POSITION_NED': 10.0,
    'ATTITUDE': 10.0,
    'ATTITUDE_QUATERNION': 10.0,
    'VFR_HUD': 4.0,
    'BATTERY_STATUS': 0.5,
    'HOME_POSITION': 0.5,
    'MISSION_CURRENT': 1.0,
    'SYSTEM_TIME': 1.0,
    # Off by default; SET_MESSAGE_INTERVAL or REQUEST_MESSAGE turn them on.
    'ODOMETRY': 0.0,
    'ALTITUDE': 0.0,
    'GPS_GLOBAL_ORIGIN': 0.0,
}
#: Fastest stream the simulator honours (wall Hz): its loop ticks at 50 Hz.
MAX_RATE_HZ = 50.0

# PX4's SYS_STATUS sensor words, from the recording.
SENSORS_PRESENT = 50348079
SENSORS_ENABLED = 50413615
SENSORS_HEALTH = 320915519
#: The health word PX4 sends before its sensors report (present and enabled 0), at boot.
SENSORS_HEALTH_BOOT = 52545599
BIT_GPS = mavlink.MAV_SYS_STATUS_SENSOR_GPS
BIT_XY_CONTROL = mavlink.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
BIT_BATTERY = mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
BIT_PREARM = mavlink.MAV_SYS_STATUS_PREARM_CHECK

#: PX4's AUTOPILOT_VERSION.capabilities (recorded: 59647) without FTP, which is not simulated.
CAPABILITIES = 59647 & ~mavlink.MAV_PROTOCOL_CAPABILITY_FTP
PX4_UID = 5283920058631409231

# Mission protocol timing (wall seconds), PX4's MAVLINK_MISSION_RETRY/PROTOCOL_TIMEOUT_DEFAULT.
MISSION_RETRY_S = 0.25
MISSION_TIMEOUT_S = 5.0
#: PARAM_VALUEs sent per tick while answering PARAM_REQUEST_LIST.
PARAMS_PER_TICK = 40

MAV_TYPE_GCS = mavlink.MAV_TYPE_GCS
FAILURE_UNIT_GPS = 4
FAILURE_UNIT_BATTERY = 100
FAILURE_UNIT_MAVLINK_SIGNAL = 105
FAILURE_OK = 0
FAILURE_OFF = 1


@dataclass
class Link:
    """One UDP link: its socket, where it sends, and its stream schedule.

    :param name: 'api' (the offboard API port) or 'gcs'.
    :param sock: the bound, non-blocking UDP socket.
    :param dest: where packets go: PX4's remote port until a client speaks, then the client.
    """

    name: str
    sock: socket.socket
    dest: tuple[str, int]
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES_HZ))
    due: dict[str, float] = field(default_factory=dict)
    parser: Any = None
    param_queue: list[int] = field(default_factory=list)
    reached_repeats: int = 0
    sent: int = 0
    received: int = 0


@dataclass
class _Transfer:
    """A mission upload in progress (PX4's MAVLINK_WPM_STATE_GETLIST)."""

    link: Link
    partner: tuple[int, int]
    mission_type: int
    count: int
    items: list[mis.MissionItem] = field(default_factory=list)
    int_mode: bool = True
    last_sent: float = 0.0
    last_recv: float = 0.0


class SimVehicle:
    """A simulated PX4 vehicle: instance i, system id i+1, on PX4 SITL's ports for instance i.

    Build it through Simulator; the public methods are thread-safe (they take the simulator's
    lock).

    :param instance: PX4 instance number (0-based).
    :param start: where it stands at boot.
    :param port: UDP port it sends to (the client's, 14540 + i for PX4).
    :param local_port: UDP port it listens on (14580 + i for PX4).
    :param gcs_port: UDP port of a ground station to send to (PX4: 14550), or None.
    :param host: address to bind and send to.
    :param params: parameter overrides.
    :param gcs_host: the ground station's address when it is not `host` (then the ground-station
        link binds every interface).
    :param seed: random seed (packet loss).
    :param lock: the simulator's lock.
    :param on_text: called with (vehicle, severity, text) for each STATUSTEXT.
    """

    def __init__(
        self,
        instance: int,
        start: GeoPoint,
        port: int,
        local_port: int,
        gcs_port: int | None,
        host: str,
        params: dict[str, float],
        seed: int,
        lock: Any,
        on_text: Callable[[SimVehicle, int, str], None] | None = None,
        gcs_host: str | None = None,
    ) -> None:
        self.instance = instance
        self.system_id = instance + 1
        self.port = port
        self.local_port = local_port
        self.gcs_port = gcs_port
        self.name = f'uav{instance}'
        self._lock = lock
        self._on_text = on_text
        self.params = ParamStore(params)
        self.autopilot = ap.Autopilot(self.params, start, name=self.name)
        self._rng = random.Random(seed * 1000 + instance)
        self._mav = mavlink.MAVLink(None, srcSystem=self.system_id, srcComponent=1)
        self.links: list[Link] = []
        self.killed = False
        self._drop_until = -math.inf
        self._signal_off = False
        self._loss = 0.0
        self._transfer: _Transfer | None = None
        self._text_id = 0
        self._reached_sent = (-1, 0)
        self._mission_current_sent = (-1, -1, -1)
        self._last_report: tuple[str, bool] | None = None
        self._last_landed = ap.ON_GROUND
        self._last_warning = 0
        self._cache: dict[str, Any] = {}
        self.packets_dropped = 0
        try:
            self.links.append(self._open('api', host, local_port, (host, port)))
            if gcs_port is not None:
                if gcs_host is None:
                    self.links.append(self._open('gcs', host, 0, (host, gcs_port)))
                else:
                    self.links.append(self._open('gcs', '0.0.0.0', 0, (gcs_host, gcs_port)))
        except OSError:
            self.close()
            raise
        self._apply_param_side_effects('UFS_PKT_LOSS')

    def _open(self, name: str, host: str, bind_port: int, dest: tuple[str, int]) -> Link:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, bind_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f'cannot listen on UDP {host}:{bind_port} ({exc.strerror}); is another '
                'simulator or PX4 SITL using it? Choose another --base-port.',
                source=self.name,
            ) from None
        sock.setblocking(False)
        parser = mavlink.MAVLink(None, srcSystem=self.system_id, srcComponent=1)
        parser.robust_parsing = True
        return Link(name, sock, dest, parser=parser)

    def close(self) -> None:
        """Close the sockets."""
        for link in self.links:
            link.sock.close()

    # ------------------------------------------------------------------ public API

    def state(self) -> VehicleState:
        """Return a snapshot of the vehicle (thread-safe)."""
        with self._lock:
            a = self.autopilot
            b = a.body
            lat, lon = a.lat_lon()
            home = GeoPoint(*a.home) if a.home else None
            return VehicleState(
                lat_deg=lat,
                lon_deg=lon,
                alt_m=a.alt_amsl,
                position_ned=(b.n, b.e, b.d),
                velocity_ned=(b.vn, b.ve, b.vd),
                yaw_rad=b.yaw,
                armed=a.armed,
                mode=a.mode,
                landed_state=a.landed_state(),
                battery_remaining=a.battery.remaining,
                mission_current=a.mission_current,
                mission_count=len(a.plans[mis.MISSION]),
                home=home,
                failsafe=a.failsafe_cause,
                gps_ok=a.gps_ok,
                killed=self.killed,
                time_s=a.t,
                relative_alt_m=a.alt_amsl - a.home_alt,
                link_up=not self._link_down(),
                mission_state=a.mission_state,
            )

    def kill(self) -> None:
        """Kill the vehicle: it goes silent for good and falls (a crash, a dead autopilot)."""
        with self._lock:
            self._kill()

    def drop_link(self, seconds: float) -> None:
        """Drop every link (in and out) for `seconds` of simulated time."""
        with self._lock:
            self.params.set('UFS_LINK_DROP', seconds)
            self._apply_param_side_effects('UFS_LINK_DROP')

    def set_packet_loss(self, probability: float) -> None:
        """Lose each packet (in and out) with `probability` (0..1)."""
        if not 0.0 <= probability <= 1.0:
            raise ConfigError(f'packet loss {probability} is not in 0..1', source=self.name)
        with self._lock:
            self.params.set('UFS_PKT_LOSS', probability * 100.0)
            self._apply_param_side_effects('UFS_PKT_LOSS')

    def set_battery_drain(self, multiplier: float) -> None:
        """Scale the battery drain rate (1 = nominal)."""
        with self._lock:
            self.params.set('UFS_BAT_MULT', multiplier)

    def set_gps(self, available: bool) -> None:
        """Turn the GPS on or off (as MAV_CMD_INJECT_FAILURE with FAILURE_UNIT_SENSOR_GPS)."""
        with self._lock:
            self.autopilot.set_gps(available)

    def set_param(self, name: str, value: float) -> float:
        """Set a parameter as PARAM_SET would; return the value stored.

        :raises ConfigError: unknown parameter or bad value.
        """
        with self._lock:
            stored = self.params.set(name, value)
            self._send_param_value(name, self.links)
            self._apply_param_side_effects(name)
            return stored

    def get_param(self, name: str) -> float:
        """Return a parameter's value."""
        with self._lock:
            return self.params.get(name)

    # ------------------------------------------------------------------ fault injection

    def _kill(self) -> None:
        if not self.killed:
            log.warning('%s: killed (no more packets)', self.name)
        self.killed = True
        self.params.set('UFS_KILL', 1)
        a = self.autopilot
        a.armed = False  # the motors stop with the autopilot

    def _link_down(self) -> bool:
        return self.killed or self.autopilot.t < self._drop_until

    def _apply_param_side_effects(self, name: str) -> None:
        if name == 'UFS_KILL' and self.params.get_int('UFS_KILL'):
            self._kill()
        elif name == 'UFS_LINK_DROP':
            seconds = self.params.get('UFS_LINK_DROP')
            self._drop_until = self.autopilot.t + seconds if seconds > 0.0 else -math.inf
            if seconds > 0.0:
                log.warning('%s: link dropped for %.1f s', self.name, seconds)
        elif name == 'UFS_PKT_LOSS':
            self._loss = self.params.get('UFS_PKT_LOSS') / 100.0

    def _lost(self) -> bool:
        if self._loss > 0.0 and self._rng.random() < self._loss:
            self.packets_dropped += 1
            return True
        return False

    # ------------------------------------------------------------------ sending

    def _send(self, msg: Any, links: list[Link] | None = None) -> None:
        buf = msg.pack(self._mav)
        self._mav.seq = (self._mav.seq + 1) % 256
        if self._link_down() or self._signal_off:
            return
        for link in self.links if links is None else links:
            if self._lost():
                continue
            try:
                link.sock.sendto(buf, link.dest)
                link.sent += 1
            except OSError:
                pass  # nobody listening yet: PX4 sends into the void as well

    def _statustext(self, severity: int, text: str) -> None:
        if self._on_text is not None:
            self._on_text(self, severity, text)
        data = text.encode('utf-8')
        chunks = [data[i : i + 50] for i in range(0, len(data), 50)] or [b'']
        if len(chunks) > 1 and len(chunks[-1]) == 50:
            chunks.append(b'')
        msg_id = self._text_id
        if msg_id == 0 and len(chunks) > 1:
            msg_id = 1  # id 0 means 'not chunked': receivers (MAVSDK) would not join the chunks
        self._text_id = (msg_id + 1) % 65536
        for chunk_seq, chunk in enumerate(chunks):
            self._send(self._mav.statustext_encode(severity, chunk, msg_id, chunk_seq))

    def _ack(self, link: Link, msg: Any, command: int, result: int) -> None:
        self._send(
            self._mav.command_ack_encode(
                command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
            ),
            [link],
        )

    # ------------------------------------------------------------------ the tick

    def update(self, dt: float, wall: float, max_step: float) -> None:
        """Advance by `dt` simulated seconds and send what is due (call with the lock held).

        :param dt: simulated time to advance (s).
        :param wall: the wall clock (monotonic s).
        :param max_step: longest physics step (simulated s).
        """
        a = self.autopilot
        steps = max(1, math.ceil(dt / max_step - 1e-9))
        for _ in range(steps):
            a.step(dt / steps, wall)
        if self.killed:
            a.texts.clear()
            return
        if a.t >= self._drop_until > -math.inf:
            self._drop_until = -math.inf
            self.params.set('UFS_LINK_DROP', 0.0)
            log.warning('%s: link back', self.name)
        self._cache.clear()
        self._report_changes()
        for severity, text in a.texts:
            self._statustext(severity, text)
        a.texts.clear()
        self._mission_events(wall)
        self._mission_timeouts(wall)
        if a.home_changed:
            a.home_changed = False
            self._send_stream('HOME_POSITION', self.links)
            for link in self.links:
                # The stream goes on one period after this message, not in between.
                hz = link.rates.get('HOME_POSITION', 0.0)
                if hz > 0.0:
                    link.due['HOME_POSITION'] = wall + 1.0 / hz
        for link in self.links:
            self._send_params(link)
            self._streams(link, wall)

    def _report_changes(self) -> None:
        a = self.autopilot
        # Changes go out at once, not at the next 1 Hz (wall) stream slot: at a high speed factor
        # a client would otherwise see a mode change many simulated seconds late.
        landed = a.landed_state()
        if landed != self._last_landed:
            self._last_landed = landed
            self._send_stream('EXTENDED_SYS_STATE', self.links)
        warning = a.battery.warning
        if warning != self._last_warning:
            self._last_warning = warning
            self._send_stream('SYS_STATUS', self.links)
            self._send_stream('BATTERY_STATUS', self.links)
        report = (a.mode.name, a.armed)
        if report != self._last_report:
            if self._last_report is not None:
                self._send_stream('HEARTBEAT', self.links)
            log.info(
                '%s: %s, %s%s',
                self.name,
                a.mode.name,
                'armed' if a.armed else 'disarmed',
                f' (failsafe: {a.failsafe_cause})' if a.failsafe_cause else '',
            )
            self._last_report = report

    def _streams(self, link: Link, wall: float) -> None:
        for name, hz in link.rates.items():
            if hz <= 0.0:
                continue
            due = link.due.get(name)
            if due is None:
                link.due[name] = wall + self._rng.random() / hz  # spread the first messages
                continue
            if wall >= due:
                period = 1.0 / hz
                link.due[name] = due + period if wall - due < period else wall + period
                self._send_stream(name, [link])
                if name == 'MISSION_CURRENT' and link.reached_repeats > 0:
                    link.reached_repeats -= 1
                    reached = self._mav.mission_item_reached_encode(self.autopilot.reached_seq)
                    self._send(reached, [link])

    def _send_stream(self, name: str, links: list[Link]) -> bool:
        msg = self._cache.get(name)
        if msg is None:
            builder = getattr(self, f'_msg_{name.lower()}', None)
            msg = builder() if builder is not None else None
            if msg is None:
                return False
            self._cache[name] = msg
        self._send(msg, links)
        return True

    # ------------------------------------------------------------------ telemetry

    def _time_boot_ms(self) -> int:
        return int(self.autopilot.t * 1000.0) & 0xFFFFFFFF

    def _time_usec(self) -> int:
        return int(self.autopilot.t * 1e6)

    def _msg_heartbeat(self) -> Any:
        a = self.autopilot
        mode = a.mode
        return self._mav.heartbeat_encode(
            mavlink.MAV_TYPE_QUADROTOR,
            mavlink.MAV_AUTOPILOT_PX4,
            mode.base_mode(a.armed),
            mode.custom_mode,
            a.system_status(),
            3,
        )

    def _msg_sys_status(self) -> Any:
        a = self.autopilot
        present, enabled, health = SENSORS_PRESENT, SENSORS_ENABLED, SENSORS_HEALTH
        if a.t < ap.SENSORS_UP_S:
            # Booting: nothing reported yet (boot-autopilot.tlog until 2.0 s).
            present, enabled, health = 0, 0, SENSORS_HEALTH_BOOT
        elif a.t < ap.ARMABLE_S:
            # Sensors up, GPS not yet reported, position control not healthy (until 4.0 s).
            present &= ~BIT_GPS
            enabled &= ~BIT_GPS
            health &= ~BIT_XY_CONTROL
        if not a.gps_ok:
            health &= ~BIT_GPS
        if not a.global_valid:
            health &= ~BIT_XY_CONTROL
        if a.battery.warning >= WARNING_LOW:
            health &= ~BIT_BATTERY
        if not a.prearm_ok():
            health &= ~BIT_PREARM
        cfg = a.battery_cfg
        return self._mav.sys_status_encode(
            present,
            enabled,
            health,
            100,
            int(a.battery.voltage(cfg) * 1000.0),
            -100,
            int(round(a.battery.remaining * 100.0)),
            int(self._loss * 10000),
            0,
            0,
            0,
            0,
            0,
        )

    def _msg_extended_sys_state(self) -> Any:
        return self._mav.extended_sys_state_encode(0, self.autopilot.landed_state())

    def _msg_gps_raw_int(self) -> Any:
        a = self.autopilot
        b = a.body
        if not a.gps_ok:
            return self._mav.gps_raw_int_encode(
                self._time_usec(), 1, 0, 0, 0, 65535, 65535, 65535, 65535, 0
            )
        lat, lon = a.lat_lon()
        alt_mm = int(a.alt_amsl * 1000.0)
        cog = int(math.degrees(math.atan2(b.ve, b.vn)) * 100.0) % 36000
        return self._mav.gps_raw_int_encode(
            self._time_usec(),
            3,
            int(lat * 1e7),
            int(lon * 1e7),
            alt_mm,
            70,
            110,
            int(b.ground_speed * 100.0),
            cog if b.ground_speed > 0.2 else 65535,
            self.params.get_int('SIM_GPS_USED'),
            alt_mm,
            900,
            1780,
            400,
            0,
            0,
        )

    def _msg_global_position_int(self) -> Any:
        a = self.autopilot
        if not a.global_valid:
            return None  # PX4 publishes no global position without a valid estimate
        b = a.body
        lat, lon = a.lat_lon()
        return self._mav.global_position_int_encode(
            self._time_boot_ms(),
            int(lat * 1e7),
            int(lon * 1e7),
            int(a.alt_amsl * 1000.0),
            int((a.alt_amsl - a.home_alt) * 1000.0),
            int(b.vn * 100.0),
            int(b.ve * 100.0),
            int(b.vd * 100.0),
            int(math.degrees(b.yaw) * 100.0) % 36000,
        )

    def _msg_local_position_ned(self) -> Any:
        b = self.autopilot.body
        return self._mav.local_position_ned_encode(
            self._time_boot_ms(), b.n, b.e, b.d, b.vn, b.ve, b.vd
        )

    def _msg_attitude(self) -> Any:
        b = self.autopilot.body
        return self._mav.attitude_encode(
            self._time_boot_ms(), b.roll, b.pitch, b.yaw, 0.0, 0.0, b.yaw_rate
        )

    def _msg_attitude_quaternion(self) -> Any:
        b = self.autopilot.body
        q = quaternion_from_euler(b.roll, b.pitch, b.yaw).wxyz
        return self._mav.attitude_quaternion_encode(
            self._time_boot_ms(), *q, 0.0, 0.0, b.yaw_rate, (0.0, 0.0, 0.0, 0.0)
        )

    def _msg_vfr_hud(self) -> Any:
        a = self.autopilot
        b = a.body
        throttle = int(min(100.0, b.thrust_ratio * 50.0)) if a.armed else 0
        return self._mav.vfr_hud_encode(
            math.nan,
            b.ground_speed,
            int(math.degrees(b.yaw)) % 360,
            throttle,
            a.alt_amsl,
            -b.vd,
        )

    def _msg_battery_status(self) -> Any:
        a = self.autopilot
        cfg = a.battery_cfg
        state = {WARNING_LOW: 2, WARNING_CRITICAL: 3, WARNING_EMERGENCY: 4}.get(
            a.battery.warning, 1
        )
        voltages = [int(a.battery.voltage(cfg) * 1000.0)] + [65535] * 9
        return self._mav.battery_status_encode(
            0,
            1,
            1,
            32767,
            voltages,
            -100,
            0,
            -1,
            int(round(a.battery.remaining * 100.0)),
            0,
            state,
        )

    def _msg_home_position(self) -> Any:
        a = self.autopilot
        if a.home is None:
            return None
        lat, lon, alt = a.home
        n, e, d = a.home_ned
        return self._mav.home_position_encode(
            int(lat * 1e7),
            int(lon * 1e7),
            int(alt * 1000.0),
            n,
            e,
            d,
            (1.0, 0.0, 0.0, 0.0),
            0.0,
            0.0,
            0.0,
            self._time_usec(),
        )

    def _msg_mission_current(self) -> Any:
        a = self.autopilot
        count = len(a.plans[mis.MISSION]) if a.mission_valid() else 0
        return self._mav.mission_current_encode(
            a.mission_current,
            count if count else 65535,
            a.mission_state,
            1 if a.nav == 'mission' else 2,
        )

    def _msg_system_time(self) -> Any:
        return self._mav.system_time_encode(int(time.time() * 1e6), self._time_boot_ms())

    def _msg_odometry(self) -> Any:
        b = self.autopilot.body
        nan21 = [math.nan] * 21
        return self._mav.odometry_encode(
            self._time_usec(),
            mavlink.MAV_FRAME_LOCAL_NED,
            mavlink.MAV_FRAME_BODY_FRD,
            b.n,
            b.e,
            b.d,
            quaternion_from_euler(b.roll, b.pitch, b.yaw).wxyz,
            b.vn,
            b.ve,
            b.vd,
            0.0,
            0.0,
            b.yaw_rate,
            nan21,
            nan21,
        )

    def _msg_altitude(self) -> Any:
        a = self.autopilot
        return self._mav.altitude_encode(
            self._time_usec(),
            a.alt_amsl,
            a.alt_amsl,
            -a.body.d,
            a.alt_amsl - a.home_alt,
            math.nan,
            math.nan,
        )

    def _msg_gps_global_origin(self) -> Any:
        o = self.autopilot.origin
        return self._mav.gps_global_origin_encode(
            int(o.lat_deg * 1e7), int(o.lon_deg * 1e7), int(o.alt_m * 1000.0), 0
        )

    def _msg_autopilot_version(self) -> Any:
        custom = [0, 0, 0, 60, 81, 52, 14, 232]
        return self._mav.autopilot_version_encode(
            CAPABILITIES,
            17825984,
            17825984,
            101854463,
            1,
            custom,
            custom,
            [0] * 8,
            0,
            0,
            PX4_UID + self.instance,
        )

    # ------------------------------------------------------------------ receiving

    def handle_datagram(self, link: Link, data: bytes, addr: tuple[str, int], wall: float) -> None:
        """Parse a UDP datagram from `addr` and act on its messages (call with the lock held)."""
        if self._link_down() or self._lost():
            return
        link.dest = addr  # PX4 answers whoever spoke last
        try:
            msgs = link.parser.parse_buffer(data)
        except mavlink.MAVError:
            return
        for msg in msgs or ():
            link.received += 1
            handler = getattr(self, f'_on_{msg.get_type().lower()}', None)
            if handler is not None:
                handler(link, msg, wall)

    def _for_me(self, msg: Any) -> bool:
        return msg.target_system in (0, self.system_id) and msg.target_component in (0, 1)

    def _on_heartbeat(self, link: Link, msg: Any, wall: float) -> None:
        if msg.type == MAV_TYPE_GCS:
            self.autopilot.gcs_heartbeat(wall)

    def _on_timesync(self, link: Link, msg: Any, wall: float) -> None:
        if msg.tc1 == 0:
            self._send(self._mav.timesync_encode(int(self.autopilot.t * 1e9), msg.ts1), [link])

    def _on_ping(self, link: Link, msg: Any, wall: float) -> None:
        if msg.target_system == 0 and msg.target_component == 0:
            self._send(
                self._mav.ping_encode(
                    msg.time_usec, msg.seq, msg.get_srcSystem(), msg.get_srcComponent()
                ),
                [link],
            )

    def _on_set_mode(self, link: Link, msg: Any, wall: float) -> None:
        if msg.target_system != self.system_id:
            return
        self._set_mode(
            msg.base_mode, (msg.custom_mode >> 16) & 0xFF, (msg.custom_mode >> 24) & 0xFF
        )

    def _set_mode(self, base_mode: int, main: int, sub: int) -> int:
        if base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            nav = ap.nav_state_from_mode(Px4Mode(main, sub))
            if nav is None:
                self.autopilot.say(ap.CRITICAL, 'Unsupported auto mode')
                return ap.TEMPORARILY_REJECTED
        elif base_mode & mavlink.MAV_MODE_FLAG_AUTO_ENABLED:
            nav = 'mission'
        elif base_mode & mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED:
            if base_mode & mavlink.MAV_MODE_FLAG_GUIDED_ENABLED:
                nav = 'posctl'
            elif base_mode & mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED:
                nav = 'stab'
            else:
                nav = 'manual'
        else:
            return ap.ACCEPTED
        return self.autopilot.request_mode(nav)

    # ------------------------------------------------------------------ commands

    def _on_command_long(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        p = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        self._command(link, msg, msg.command, p, None)

    def _on_command_int(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        lat = msg.x * 1e-7 if msg.x != 0 or msg.y != 0 else math.nan
        lon = msg.y * 1e-7 if msg.x != 0 or msg.y != 0 else math.nan
        alt = msg.z
        if mis.FRAME_ALT_RELATIVE.get(msg.frame, False) and math.isfinite(alt):
            alt += self.autopilot.home_alt
        p = (msg.param1, msg.param2, msg.param3, msg.param4, lat, lon, alt)
        self._command(link, msg, msg.command, p, msg.frame)

    def _command(
        self, link: Link, msg: Any, command: int, p: tuple[float, ...], frame: int | None
    ) -> None:
        a = self.autopilot
        c = mavlink
        result: int | None
        if command == c.MAV_CMD_COMPONENT_ARM_DISARM:
            force = int(round(p[1])) == 21196 if math.isfinite(p[1]) else False
            if int(round(p[0])) == 1:
                result = a.arm(force=force)
            elif int(round(p[0])) == 0:
                result = a.disarm(force=force)
            else:
                result = ap.DENIED
        elif command == c.MAV_CMD_DO_SET_MODE:
            result = self._set_mode(int(p[0]), int(p[1]), int(p[2]))
        elif command == c.MAV_CMD_NAV_TAKEOFF:
            result = a.takeoff(p[4], p[5], p[6])
        elif command == c.MAV_CMD_NAV_LAND:
            result = a.land()
        elif command == c.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            result = a.return_to_launch()
        elif command == c.MAV_CMD_MISSION_START:
            result = a.mission_start(p[0] if math.isfinite(p[0]) else 0.0)
        elif command == c.MAV_CMD_DO_REPOSITION:
            flags = int(p[1]) if math.isfinite(p[1]) else 0
            if flags != 1:
                result = ap.UNSUPPORTED
            else:
                result = a.reposition(p[4], p[5], p[6], p[0])
        elif command == c.MAV_CMD_DO_SET_HOME:
            result = a.set_home(p[0] > 0.5, p[4], p[5], p[6])
        elif command == c.MAV_CMD_DO_CHANGE_SPEED:
            result = a.change_speed(p[1])
        elif command == c.MAV_CMD_DO_SET_MISSION_CURRENT:
            seq = int(p[0]) if math.isfinite(p[0]) else -1
            result = ap.ACCEPTED if seq == -1 or a.set_mission_current(seq) else ap.DENIED
            self._send_stream('MISSION_CURRENT', self.links)
        elif command == c.MAV_CMD_DO_FLIGHTTERMINATION:
            result = a.terminate() if p[0] > 0.5 else ap.DENIED
        elif command == c.MAV_CMD_SET_MESSAGE_INTERVAL:
            result = self._set_interval(link, int(p[0]), p[1])
        elif command == c.MAV_CMD_REQUEST_MESSAGE:
            name = mavlink.mavlink_map.get(int(p[0]))
            stream = name.msgname if name is not None else ''
            result = ap.ACCEPTED if self._send_stream(stream, [link]) else ap.FAILED
        elif command == c.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            self._send_stream('AUTOPILOT_VERSION', [link])
            result = ap.ACCEPTED
        elif command == c.MAV_CMD_GET_HOME_POSITION:
            result = ap.ACCEPTED if self._send_stream('HOME_POSITION', [link]) else ap.FAILED
        elif command == c.MAV_CMD_INJECT_FAILURE:
            result = self._inject_failure(int(p[0]), int(p[1]))
        elif command == c.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN:
            result = ap.ACCEPTED if int(p[0]) == 0 else ap.DENIED
        else:
            result = ap.UNSUPPORTED
        self._ack(link, msg, command, result)

    def _set_interval(self, link: Link, msg_id: int, interval_us: float) -> int:
        entry = mavlink.mavlink_map.get(msg_id)
        name = entry.msgname if entry is not None else ''
        if name not in DEFAULT_RATES_HZ:
            return ap.FAILED
        if interval_us < 0:
            hz = 0.0
        elif interval_us == 0:
            hz = DEFAULT_RATES_HZ[name]
        else:
            hz = min(1e6 / interval_us, MAX_RATE_HZ)
        link.rates[name] = hz
        link.due.pop(name, None)
        return ap.ACCEPTED

    def _inject_failure(self, unit: int, failure: int) -> int:
        if self.params.get_int('SYS_FAILURE_EN') != 1:
            self.autopilot.say(ap.CRITICAL, 'Failure injection disabled')
            return ap.DENIED
        if failure not in (FAILURE_OK, FAILURE_OFF):
            return ap.UNSUPPORTED
        ok = failure == FAILURE_OK
        if unit == FAILURE_UNIT_GPS:
            self.autopilot.set_gps(ok)
        elif unit == FAILURE_UNIT_BATTERY:
            self.autopilot.battery.failed = not ok
            if ok:
                self.autopilot.battery.reset_warning()
        elif unit == FAILURE_UNIT_MAVLINK_SIGNAL:
            self._signal_off = not ok
        else:
            return ap.UNSUPPORTED
        log.warning('%s: injected failure unit %d: %s', self.name, unit, 'ok' if ok else 'off')
        return ap.ACCEPTED

    # ------------------------------------------------------------------ offboard

    def _on_set_position_target_local_ned(self, link: Link, msg: Any, wall: float) -> None:
        if msg.target_system != self.system_id:
            return
        a = self.autopilot
        b = a.body
        mask = msg.type_mask
        frame = msg.coordinate_frame
        pos = [None if mask & bit else v for bit, v in ((1, msg.x), (2, msg.y), (4, msg.z))]
        vel = [None if mask & bit else v for bit, v in ((8, msg.vx), (16, msg.vy), (32, msg.vz))]
        body = frame in (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED, 12)
        if (
            frame not in (mavlink.MAV_FRAME_LOCAL_NED, mavlink.MAV_FRAME_LOCAL_OFFSET_NED)
            and not body
        ):
            return
        if body:
            vel[0], vel[1] = _rotate(vel[0], vel[1], b.yaw)
            if frame != mavlink.MAV_FRAME_BODY_NED:
                pos[0], pos[1] = _rotate(pos[0], pos[1], b.yaw)
        if frame in (mavlink.MAV_FRAME_LOCAL_OFFSET_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED, 12):
            here = (b.n, b.e, b.d)
            pos = [None if v is None else v + cur for v, cur in zip(pos, here, strict=True)]
        self._offboard(pos, vel, mask, msg.yaw, msg.yaw_rate, wall)

    def _on_set_position_target_global_int(self, link: Link, msg: Any, wall: float) -> None:
        if msg.target_system != self.system_id:
            return
        a = self.autopilot
        mask = msg.type_mask
        pos: list[float | None] = [None, None, None]
        if not mask & 3:
            alt = msg.alt
            if mis.FRAME_ALT_RELATIVE.get(msg.coordinate_frame, False):
                alt += a.home_alt
            n, e, d = a.to_local(msg.lat_int * 1e-7, msg.lon_int * 1e-7, alt)
            pos = [n, e, None if mask & 4 else d]
        elif not mask & 4:
            alt = msg.alt + (a.home_alt if mis.FRAME_ALT_RELATIVE.get(msg.coordinate_frame) else 0)
            pos[2] = a.origin.alt_m - alt
        vel = [None if mask & bit else v for bit, v in ((8, msg.vx), (16, msg.vy), (32, msg.vz))]
        self._offboard(pos, vel, mask, msg.yaw, msg.yaw_rate, wall)

    def _offboard(
        self,
        pos: list[float | None],
        vel: list[float | None],
        mask: int,
        yaw: float,
        yaw_rate: float,
        wall: float,
    ) -> None:
        sp = ap.OffboardSetpoint(
            position=(pos[0], pos[1], pos[2]),
            velocity=(vel[0], vel[1], vel[2]),
            yaw=None if mask & 1024 or not math.isfinite(yaw) else yaw,
            yaw_rate=None if mask & 2048 or not math.isfinite(yaw_rate) else yaw_rate,
        )
        self.autopilot.set_offboard_setpoint(sp, wall)

    # ------------------------------------------------------------------ parameters

    def _send_param_value(self, name: str, links: list[Link]) -> None:
        ptype = self.params.type_of(name)
        self._send(
            self._mav.param_value_encode(
                name.encode('ascii'),
                encode_bytewise(self.params.get(name), ptype),
                ptype,
                len(self.params),
                self.params.index_of(name),
            ),
            links,
        )

    def _send_params(self, link: Link) -> None:
        for _ in range(min(PARAMS_PER_TICK, len(link.param_queue))):
            index = link.param_queue.pop(0)
            self._send_param_value(self.params.names[index], [link])

    def _on_param_request_list(self, link: Link, msg: Any, wall: float) -> None:
        if self._for_me(msg):
            link.param_queue = list(range(len(self.params)))

    def _on_param_request_read(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        if msg.param_index >= 0:
            if msg.param_index < len(self.params):
                self._send_param_value(self.params.names[msg.param_index], [link])
            return
        name = _param_name(msg.param_id)
        if name in self.params:
            self._send_param_value(name, [link])

    def _on_param_set(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        name = _param_name(msg.param_id)
        if name not in self.params:
            return
        ptype = self.params.type_of(name)
        wire_int = msg.param_type in (1, 2, 3, 4, 5, 6, 7, 8)
        if wire_int != (ptype != 9):
            # Type mismatch: PX4 refuses; answer with the unchanged value.
            self._send_param_value(name, [link])
            return
        try:
            self.params.set(name, decode_bytewise(msg.param_value, ptype))
        except ConfigError:
            pass
        self._send_param_value(name, self.links)
        self._apply_param_side_effects(name)

    # ------------------------------------------------------------------ mission protocol

    def _mission_events(self, wall: float) -> None:
        a = self.autopilot
        reached = (a.reached_seq, a.reached_count)
        if reached != self._reached_sent and a.reached_seq >= 0:
            self._reached_sent = reached
            self._send(self._mav.mission_item_reached_encode(a.reached_seq))
            for link in self.links:
                # PX4 repeats the last MISSION_ITEM_REACHED 10 times with MISSION_CURRENT.
                link.reached_repeats = 10
        count = len(a.plans[mis.MISSION]) if a.mission_valid() else 0
        current = (a.mission_current, a.mission_state, count)
        if current != self._mission_current_sent:
            self._mission_current_sent = current
            self._send_stream('MISSION_CURRENT', self.links)

    def _on_mission_count(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        mission_type = getattr(msg, 'mission_type', 0)
        partner = (msg.get_srcSystem(), msg.get_srcComponent())
        if self._transfer is not None and self._transfer.partner != partner:
            self._mission_ack(link, partner, mis.DENIED, mission_type)
            return
        if mission_type not in (mis.MISSION, mis.FENCE, mis.RALLY):
            self._mission_ack(link, partner, mis.UNSUPPORTED, mission_type)
            return
        if msg.count > mis.MAX_ITEMS:
            self._mission_ack(link, partner, mis.NO_SPACE, mission_type)
            return
        if msg.count == 0:
            self._transfer = None
            self.autopilot.set_plan(mission_type, [])
            self._mission_ack(link, partner, mis.ACCEPTED, mission_type)
            return
        self._transfer = _Transfer(link, partner, mission_type, msg.count, last_recv=wall)
        self._request_item(wall)

    def _request_item(self, wall: float) -> None:
        t = self._transfer
        assert t is not None
        seq = len(t.items)
        encode = (
            self._mav.mission_request_int_encode
            if t.int_mode
            else self._mav.mission_request_encode
        )
        self._send(encode(t.partner[0], t.partner[1], seq, t.mission_type), [t.link])
        t.last_sent = wall

    def _on_mission_item_int(self, link: Link, msg: Any, wall: float) -> None:
        self._mission_item(link, msg, wall, msg.x, msg.y)

    def _on_mission_item(self, link: Link, msg: Any, wall: float) -> None:
        self._mission_item(link, msg, wall, int(round(msg.x * 1e7)), int(round(msg.y * 1e7)))

    def _mission_item(self, link: Link, msg: Any, wall: float, x: int, y: int) -> None:
        t = self._transfer
        if t is None or not self._for_me(msg):
            return
        partner = (msg.get_srcSystem(), msg.get_srcComponent())
        if partner != t.partner or getattr(msg, 'mission_type', 0) != t.mission_type:
            return
        t.last_recv = wall
        t.int_mode = msg.get_type() == 'MISSION_ITEM_INT'
        if msg.seq != len(t.items):
            return  # a duplicate or one from the future: the retry timer asks again
        item = mis.MissionItem(
            msg.seq,
            msg.frame,
            msg.command,
            msg.current,
            msg.autocontinue,
            msg.param1,
            msg.param2,
            msg.param3,
            msg.param4,
            x,
            y,
            msg.z,
            t.mission_type,
        )
        t.items.append(item)
        if len(t.items) < t.count:
            self._request_item(wall)
            return
        self._transfer = None
        result, reason = mis.check_plan(t.items, t.mission_type)
        if result == mis.ACCEPTED:
            self.autopilot.set_plan(t.mission_type, t.items)
            log.info('%s: %d item(s) of plan type %d accepted', self.name, t.count, t.mission_type)
        else:
            log.warning('%s: plan type %d rejected: %s', self.name, t.mission_type, reason)
        self._mission_ack(t.link, t.partner, result, t.mission_type)

    def _mission_ack(self, link: Link, partner: tuple[int, int], result: int, mtype: int) -> None:
        self._send(self._mav.mission_ack_encode(partner[0], partner[1], result, mtype), [link])

    def _mission_timeouts(self, wall: float) -> None:
        t = self._transfer
        if t is None:
            return
        if wall - t.last_recv > MISSION_TIMEOUT_S:
            self._transfer = None
            self.autopilot.say(ap.CRITICAL, 'Operation timeout')
        elif wall - t.last_sent > MISSION_RETRY_S:
            self._request_item(wall)

    def _on_mission_request_list(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        mission_type = getattr(msg, 'mission_type', 0)
        items = self.autopilot.plans.get(mission_type)
        partner = (msg.get_srcSystem(), msg.get_srcComponent())
        if items is None:
            self._mission_ack(link, partner, mis.UNSUPPORTED, mission_type)
            return
        self._send(
            self._mav.mission_count_encode(partner[0], partner[1], len(items), mission_type),
            [link],
        )

    def _on_mission_request_int(self, link: Link, msg: Any, wall: float) -> None:
        self._send_item(link, msg, as_int=True)

    def _on_mission_request(self, link: Link, msg: Any, wall: float) -> None:
        self._send_item(link, msg, as_int=False)

    def _send_item(self, link: Link, msg: Any, as_int: bool) -> None:
        if not self._for_me(msg):
            return
        mission_type = getattr(msg, 'mission_type', 0)
        items = self.autopilot.plans.get(mission_type, [])
        partner = (msg.get_srcSystem(), msg.get_srcComponent())
        if not 0 <= msg.seq < len(items):
            self._mission_ack(link, partner, mis.INVALID_SEQUENCE, mission_type)
            return
        it = items[msg.seq]
        current = int(mission_type == mis.MISSION and it.seq == self.autopilot.mission_current)
        if as_int:
            out = self._mav.mission_item_int_encode(
                partner[0], partner[1], it.seq, it.frame, it.command, current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, it.x, it.y, it.z, mission_type,
            )  # fmt: skip
        else:
            out = self._mav.mission_item_encode(
                partner[0], partner[1], it.seq, it.frame, it.command, current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, it.lat_deg, it.lon_deg, it.z,
                mission_type,
            )  # fmt: skip
        self._send(out, [link])

    def _on_mission_clear_all(self, link: Link, msg: Any, wall: float) -> None:
        if not self._for_me(msg):
            return
        mission_type = getattr(msg, 'mission_type', 0)
        types = (mis.MISSION, mis.FENCE, mis.RALLY) if mission_type == mis.ALL else (mission_type,)
        partner = (msg.get_srcSystem(), msg.get_srcComponent())
        if any(t not in self.autopilot.plans for t in types):
            self._mission_ack(link, partner, mis.UNSUPPORTED, mission_type)
            return
        for mtype in types:
            self.autopilot.set_plan(mtype, [])
        self._mission_ack(link, partner, mis.ACCEPTED, mission_type)

    def _on_mission_set_current(self, link: Link, msg: Any, wall: float) -> None:
        if self._for_me(msg) and self.autopilot.set_mission_current(msg.seq):
            self._send_stream('MISSION_CURRENT', self.links)

    def _on_mission_ack(self, link: Link, msg: Any, wall: float) -> None:
        """End of a download: nothing to do (PX4 keeps no state for it either)."""


def _param_name(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode('ascii', errors='replace')
    return str(raw).split('\x00', 1)[0]


def _rotate(x: float | None, y: float | None, yaw: float) -> tuple[float | None, float | None]:
    if x is None and y is None:
        return None, None
    fx = x or 0.0
    fy = y or 0.0
    c = math.cos(yaw)
    s = math.sin(yaw)
    return c * fx - s * fy, s * fx + c * fy
