"""The Autopilot interface over MAVSDK's native Python binding (`mavsdk` 4.x, no mavsdk_server).

One Mavsdk instance per vehicle, in this process: MAVSDK runs its own I/O and callback threads,
reconnects by itself when packets resume after a link loss, and brings its implementations of the
MAVLink command, mission and geofence protocols (timeouts, retries), which are tested against
real PX4. What the plugins do not expose is read straight off the wire with the MavlinkDirect
plugin: HEARTBEAT (PX4's custom mode, decoded with autopilot.px4, and the failsafe state in
system_status) and MISSION_ITEM_REACHED.

Threading: MAVSDK calls the subscription callbacks below on its callback thread. They only copy
values into `_state` under a lock; they never call back into MAVSDK (a blocking MAVSDK call from
its own callback thread would deadlock). Commands are blocking MAVSDK calls made by the caller's
thread.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
import dataclasses
import json
import logging
import math
import threading
import time
from typing import Any, Protocol

from uav_flood.autopilot import frames
from uav_flood.autopilot.interface import (
    Autopilot,
    AutopilotError,
    FlightMode,
    LandedState,
    NotConnectedError,
    Severity,
    StatusText,
    Telemetry,
)
from uav_flood.core.geo import GeoError, GeoPoint
from uav_flood.core.mission import ItemKind, MissionPlan
from uav_flood.core.rotation import Quaternion

_LOG = logging.getLogger(__name__)

# MAVLink numbers used to build MISSION_ITEM_INT (common.xml).
MAV_CMD_NAV_WAYPOINT = 16
MAV_CMD_NAV_RETURN_TO_LAUNCH = 20
MAV_CMD_DO_CHANGE_SPEED = 178
MAV_CMD_NAV_TAKEOFF = 22
MAV_FRAME_MISSION = 2
MAV_FRAME_GLOBAL_RELATIVE_ALT_INT = 6
MAV_MISSION_TYPE_MISSION = 0

#: How long a failed command waits for the STATUSTEXT that explains it (PX4 sends the text
#: right before or after the COMMAND_ACK).
REASON_WAIT_S = 0.3
#: BATTERY_STATUS rate asked for along with position and attitude (Hz).
BATTERY_RATE_HZ = 2.0
#: How many received STATUSTEXTs are kept for explaining refusals and for the caller.
TEXT_HISTORY = 50


class LogSink(Protocol):
    """Anything with logging methods that take one string (logging.Logger, an rclpy logger)."""

    def debug(self, message: str) -> Any:
        """Log a debug message."""

    def info(self, message: str) -> Any:
        """Log an informational message."""

    def warning(self, message: str) -> Any:
        """Log a warning."""

    def error(self, message: str) -> Any:
        """Log an error."""


def mission_items(plan: MissionPlan) -> list[dict[str, Any]]:
    """Return the MISSION_ITEM_INT fields of `plan`, altitudes relative to its home.

    PX4 gets the frame MAVSDK's own mission plugin uses (GLOBAL_RELATIVE_ALT_INT, as in the
    reference recording): altitude above home, so the map z of a path (above the mission
    origin) is converted with the home altitude the plan was built for.

    :param plan: the mission (takeoff, waypoints, return to launch).
    """
    items: list[dict[str, Any]] = []
    for seq, item in enumerate(plan.items):
        fields: dict[str, Any] = {
            'seq': seq,
            'current': 1 if seq == 0 else 0,
            'autocontinue': 1,
            'param1': 0.0,
            'param2': 0.0,
            'param3': 0.0,
            'param4': 0.0,
            'x': 0,
            'y': 0,
            'z': 0.0,
            'mission_type': MAV_MISSION_TYPE_MISSION,
        }
        if item.kind is ItemKind.RETURN_TO_LAUNCH:
            fields.update(frame=MAV_FRAME_MISSION, command=MAV_CMD_NAV_RETURN_TO_LAUNCH)
        elif item.kind is ItemKind.CHANGE_SPEED:
            # param1 1: ground speed; param3 -1: throttle unchanged (as QGroundControl writes).
            fields.update(
                frame=MAV_FRAME_MISSION,
                command=MAV_CMD_DO_CHANGE_SPEED,
                param1=1.0,
                param2=float(item.speed_m_s),
                param3=-1.0,
            )
        else:
            if item.position is None:
                raise AutopilotError(f'mission item {seq} ({item.kind.value}) has no position')
            fields.update(
                frame=MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                x=round(item.position.lat_deg * 1e7),
                y=round(item.position.lon_deg * 1e7),
                z=item.position.alt_m - plan.home.alt_m,
                param4=math.nan,  # yaw: NaN keeps PX4's own heading logic
            )
            if item.kind is ItemKind.TAKEOFF:
                fields.update(command=MAV_CMD_NAV_TAKEOFF)
            else:
                fields.update(command=MAV_CMD_NAV_WAYPOINT, param2=item.acceptance_radius_m)
        items.append(fields)
    return items


def _install_mavsdk_log_forwarding() -> None:
    """Send MAVSDK's own log lines to Python logging (it prints to stdout by default)."""
    global _LOG_FORWARDING
    if _LOG_FORWARDING:
        return
    from mavsdk import log_subscribe, LogLevel

    logger = logging.getLogger('uav_flood.mavsdk')
    levels = {
        LogLevel.DEBUG: logging.DEBUG,
        LogLevel.INFO: logging.DEBUG,  # 'New system on ...': useful when debugging only
        LogLevel.WARN: logging.WARNING,
        LogLevel.ERROR: logging.ERROR,
    }

    def forward(level: Any, message: str, _file: str | None, _line: int) -> bool:
        logger.log(levels.get(level, logging.INFO), 'MAVSDK: %s', message)
        return True  # suppress MAVSDK's own printing

    log_subscribe(forward)
    _LOG_FORWARDING = True


_LOG_FORWARDING = False


@dataclasses.dataclass
class _State:
    """The mutable twin of Telemetry, written by MAVSDK's callback thread under a lock."""

    discovered: bool = False
    last_message_s: float | None = None
    position: GeoPoint | None = None
    attitude: Quaternion | None = None
    armed: bool = False
    flight_mode: FlightMode = FlightMode.UNKNOWN
    landed_state: LandedState = LandedState.UNKNOWN
    battery_remaining: float | None = None
    battery_voltage_v: float | None = None
    home: GeoPoint | None = None
    global_position_ok: bool = False
    armable: bool = False
    failsafe: bool = False
    mission_current: int = -1
    mission_total: int = 0
    mission_reached: list[int] = dataclasses.field(default_factory=list)


class MavsdkAutopilot(Autopilot):
    """An Autopilot backed by one native MAVSDK instance (one vehicle).

    :param log: where to log connection events (default: this module's Python logger).
    :param telemetry_rate_hz: position and attitude rate to ask the autopilot for once it is
        found (Hz); 0 leaves its defaults.
    """

    def __init__(self, log: LogSink | None = None, telemetry_rate_hz: float = 0.0) -> None:
        self._log: LogSink = log if log is not None else _LOG
        self._telemetry_rate_hz = telemetry_rate_hz
        self._lock = threading.Condition()
        self._state = _State()
        self._new_texts: collections.deque[StatusText] = collections.deque(maxlen=TEXT_HISTORY)
        self._recent_texts: collections.deque[StatusText] = collections.deque(maxlen=TEXT_HISTORY)
        self._setup_lock = threading.Lock()
        self._closed = False
        self._ready = threading.Event()
        self._mavsdk: Any = None
        self._system: Any = None
        self._first_autopilot: Any = None
        self._telemetry: Any = None
        self._action: Any = None
        self._mission: Any = None
        self._geofence: Any = None
        self._direct: Any = None
        self._url = ''

    # -- connection ---------------------------------------------------------------------------

    def connect(self, url: str) -> None:
        """Open `url` and wait for an autopilot in the background; see Autopilot.connect."""
        from mavsdk import ComponentType, Configuration, ConnectionResult, Mavsdk

        if self._closed:
            raise AutopilotError('this autopilot connection was closed; make a new one')
        if self._mavsdk is not None:
            raise AutopilotError('already connected')
        _install_mavsdk_log_forwarding()
        # A ground-station identity (sysid 245), as MAVSDK's server uses: PX4's offboard link
        # (14540+N) and a telemetry radio both accept it.
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        instance = Mavsdk(config)
        result = ConnectionResult(instance.add_any_connection(url))
        if result != ConnectionResult.SUCCESS:
            instance.destroy()
            raise AutopilotError(
                f'cannot open connection {url!r}: {result.name.lower().replace("_", " ")}',
                result.name,
            )
        self._mavsdk = instance
        self._url = url
        self._first_autopilot = instance.first_autopilot_async(-1.0, self._on_autopilot)
        self._log.info(f'listening for the autopilot on {url}')

    def close(self) -> None:
        """Release MAVSDK (its threads, sockets, subscriptions); final and idempotent.

        Wait for running commands first: MAVSDK's plugins are destroyed under them.
        """
        with self._setup_lock:
            self._closed = True
            instance, self._mavsdk = self._mavsdk, None
        if instance is not None:
            # destroy() cancels the discovery wait, unsubscribes (waiting for running callbacks)
            # and joins MAVSDK's threads.
            instance.destroy()
        self._ready.clear()

    def _on_autopilot(self, system: Any) -> None:
        # On MAVSDK's callback thread: hand the plugin set-up to a thread of our own, since
        # plugin constructors and subscriptions are MAVSDK calls.
        if system is None:
            return
        threading.Thread(
            target=self._setup, args=(system,), name='mavsdk-setup', daemon=True
        ).start()

    def _setup(self, system: Any) -> None:
        from mavsdk.plugins.action import Action
        from mavsdk.plugins.geofence import Geofence
        from mavsdk.plugins.mavlink_direct import MavlinkDirect
        from mavsdk.plugins.mission_raw import MissionRaw
        from mavsdk.plugins.telemetry import Telemetry as TelemetryPlugin

        with self._setup_lock:
            if self._closed or self._mavsdk is None:
                return
            self._system = system
            self._telemetry = TelemetryPlugin(system)
            self._action = Action(system)
            self._mission = MissionRaw(system)
            self._geofence = Geofence(system)
            self._direct = MavlinkDirect(system)
            tel = self._telemetry
            tel.subscribe_position(self._on_position)
            tel.subscribe_attitude_quaternion(self._on_attitude)
            tel.subscribe_armed(self._on_armed)
            tel.subscribe_landed_state(self._on_landed_state)
            tel.subscribe_battery(self._on_battery)
            tel.subscribe_home(self._on_home)
            tel.subscribe_health(self._on_health)
            tel.subscribe_status_text(self._on_status_text)
            self._mission.subscribe_mission_progress(self._on_mission_progress)
            self._direct.subscribe_message('HEARTBEAT', self._on_heartbeat)
            self._direct.subscribe_message('MISSION_ITEM_REACHED', self._on_item_reached)
            self._direct.subscribe_message('MISSION_CURRENT', self._on_mission_current)
            with self._lock:
                self._state.discovered = True
                self._state.last_message_s = time.monotonic()
            self._ready.set()
        self._log.info(f'autopilot found: system {system.get_system_id()} on {self._url}')
        if self._telemetry_rate_hz > 0.0:
            self._request_rates(self._telemetry_rate_hz)

    def _request_rates(self, rate_hz: float) -> None:
        # PX4's rates depend on the link's MAVLink mode (a radio link sends position at a few
        # Hz); ask for what pose publishing needs. Not fatal: PX4 may cap the rate.
        from mavsdk import MavsdkError

        # The battery at a modest rate: PX4's 0.5 Hz makes the energy check react late.
        rates = {'position': rate_hz, 'attitude_quaternion': rate_hz, 'battery': BATTERY_RATE_HZ}
        for name, rate in rates.items():
            try:
                # Under the set-up lock, so that close() cannot destroy MAVSDK mid-call.
                with self._setup_lock:
                    if self._closed:
                        return
                    getattr(self._telemetry, f'set_rate_{name}')(rate)
            except (MavsdkError, RuntimeError) as exc:
                self._log.warning(f'autopilot did not set the {name} rate to {rate:g} Hz: {exc}')

    # -- MAVSDK callbacks (MAVSDK's callback thread; copy and return) --------------------------

    def _update(self, **values: Any) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self._state, name, value)
            self._state.last_message_s = time.monotonic()

    def _on_position(self, position: Any, _user: Any) -> None:
        try:
            point = GeoPoint(
                position.latitude_deg, position.longitude_deg, position.absolute_altitude_m
            )
        except GeoError:
            point = None  # no fix yet: PX4 sends NaN or zeros
        self._update(position=point)

    def _on_attitude(self, q: Any, _user: Any) -> None:
        try:
            attitude: Quaternion | None = frames.ned_frd_to_enu_flu(Quaternion(q.w, q.x, q.y, q.z))
        except ValueError:
            attitude = None
        self._update(attitude=attitude)

    def _on_armed(self, armed: Any, _user: Any) -> None:
        self._update(armed=bool(armed))

    def _on_landed_state(self, state: Any, _user: Any) -> None:
        self._update(landed_state=frames.landed_state_from_mavlink(int(state)))

    def _on_battery(self, battery: Any, _user: Any) -> None:
        remaining = float(battery.remaining_percent)
        voltage = float(battery.voltage_v)
        self._update(
            battery_remaining=remaining / 100.0 if math.isfinite(remaining) else None,
            battery_voltage_v=voltage if math.isfinite(voltage) else None,
        )

    def _on_home(self, home: Any, _user: Any) -> None:
        try:
            point: GeoPoint | None = GeoPoint(
                home.latitude_deg, home.longitude_deg, home.absolute_altitude_m
            )
        except GeoError:
            point = None
        self._update(home=point)

    def _on_health(self, health: Any, _user: Any) -> None:
        self._update(
            global_position_ok=bool(health.is_global_position_ok),
            armable=bool(health.is_armable),
        )

    def _on_status_text(self, status: Any, _user: Any) -> None:
        # MAVSDK numbers its StatusTextType upwards from DEBUG; match them by name.
        try:
            severity = Severity[status.type.name]
        except (KeyError, AttributeError):
            severity = Severity.INFO
        text = StatusText(severity, str(status.text).strip(), time.monotonic())
        with self._lock:
            self._new_texts.append(text)
            self._recent_texts.append(text)
            self._state.last_message_s = text.stamp_s
            self._lock.notify_all()

    def _on_mission_progress(self, progress: Any, _user: Any) -> None:
        # MAVSDK's total is the size of the mission it uploaded as soon as the upload ends; the
        # autopilot's own count comes from MISSION_CURRENT (_on_mission_current).
        self._update(mission_current=int(progress.current))

    def _on_mission_current(self, message: Any, _user: Any) -> None:
        # PX4 counts a new mission in MISSION_CURRENT.total only once its navigator has checked
        # it (against a geofence loaded just before: a few hundred ms later, fence-autostart);
        # 65535 (UINT16_MAX) or 0: no valid mission.
        try:
            total = int(json.loads(message.fields_json)['total'])
        except (ValueError, KeyError, TypeError):
            return
        self._update(mission_total=0 if total >= 0xFFFF else total)

    def _on_heartbeat(self, message: Any, _user: Any) -> None:
        try:
            fields = json.loads(message.fields_json)
            mode = frames.flight_mode_from_px4(int(fields['custom_mode']))
            failsafe = frames.is_failsafe_state(int(fields['system_status']))
        except (ValueError, KeyError, TypeError):
            return
        self._update(flight_mode=mode, failsafe=failsafe)

    def _on_item_reached(self, message: Any, _user: Any) -> None:
        try:
            seq = int(json.loads(message.fields_json)['seq'])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            reached = self._state.mission_reached
            # PX4 repeats MISSION_ITEM_REACHED about once a second until the next item.
            if not reached or reached[-1] != seq:
                reached.append(seq)
            self._state.last_message_s = time.monotonic()

    # -- queries --------------------------------------------------------------------------------

    def telemetry(self) -> Telemetry:
        """Return the latest snapshot; see Autopilot.telemetry."""
        with self._lock:
            values = {f.name: getattr(self._state, f.name) for f in dataclasses.fields(_State)}
            values['mission_reached'] = tuple(self._state.mission_reached)
        return Telemetry(**values)

    def status_texts(self) -> list[StatusText]:
        """Return and forget the texts received since the last call."""
        with self._lock:
            texts = list(self._new_texts)
            self._new_texts.clear()
        return texts

    # -- commands -------------------------------------------------------------------------------

    def _require(self) -> None:
        if self._closed:
            raise NotConnectedError('the autopilot connection is closed')
        if not self._ready.is_set():
            raise NotConnectedError('not connected to the autopilot (no heartbeat yet)')
        if not self._system.is_connected():
            raise NotConnectedError('not connected to the autopilot (link lost)')

    def _reason_since(self, start_s: float) -> str | None:
        """Return the text of the worst STATUSTEXT since `start_s`, waiting briefly for one."""
        deadline = time.monotonic() + REASON_WAIT_S
        with self._lock:
            while True:
                texts = [
                    t
                    for t in self._recent_texts
                    if t.stamp_s >= start_s and t.severity <= Severity.WARNING
                ]
                remaining = deadline - time.monotonic()
                if texts or remaining <= 0:
                    break
                self._lock.wait(remaining)
        if not texts:
            return None
        return min(texts, key=lambda t: t.severity).text

    def _run(self, what: str, call: Callable[[], Any]) -> None:
        """Run one blocking MAVSDK call and turn its failure into an AutopilotError."""
        from mavsdk import MavsdkError

        self._require()
        start = time.monotonic()
        try:
            call()
        except MavsdkError as exc:
            result = getattr(exc, 'result', None)
            code = result.name if result is not None else type(exc).__name__
            reason = self._reason_since(start)
            words = code.lower().replace('_', ' ')
            message = f'{what}: {words}' + (f' ({reason})' if reason else '')
            raise AutopilotError(message, code) from None
        except RuntimeError as exc:  # a plugin used after close()
            raise NotConnectedError(f'{what}: {exc}') from None

    def arm(self) -> None:
        """Arm; see Autopilot.arm."""
        self._run('arming refused', lambda: self._action.arm())

    def disarm(self) -> None:
        """Disarm; see Autopilot.disarm."""
        self._run('disarming refused', lambda: self._action.disarm())

    def takeoff(self, altitude_m: float) -> None:
        """Take off to `altitude_m` above home; see Autopilot.takeoff."""
        if not (math.isfinite(altitude_m) and altitude_m > 0.0):
            raise AutopilotError(f'takeoff altitude must be > 0 m, got {altitude_m}')
        self._run(
            'takeoff altitude refused', lambda: self._action.set_takeoff_altitude(altitude_m)
        )
        self._run('takeoff refused', lambda: self._action.takeoff())

    def land(self) -> None:
        """Land; see Autopilot.land."""
        self._run('landing refused', lambda: self._action.land())

    def return_to_launch(self) -> None:
        """Return to launch; see Autopilot.return_to_launch."""
        self._run('return to launch refused', lambda: self._action.return_to_launch())

    def hold(self) -> None:
        """Hold position; see Autopilot.hold."""
        self._run('hold refused', lambda: self._action.hold())

    def upload_mission(self, plan: MissionPlan) -> None:
        """Upload `plan` as PX4's mission; see Autopilot.upload_mission."""
        from mavsdk.plugins.mission_raw import MissionItem

        items = [MissionItem(**fields) for fields in mission_items(plan)]
        self._run('mission upload failed', lambda: self._mission.upload_mission(items))
        with self._lock:
            # Progress of the previous mission no longer applies, nor its item count: the
            # autopilot's MISSION_CURRENT counts the new mission's items once it has checked it.
            self._state.mission_reached.clear()
            self._state.mission_current = -1
            self._state.mission_total = 0

    def holds_mission(self, plan: MissionPlan) -> bool:
        """Download the autopilot's mission and compare it with `plan`; see the interface."""
        downloaded: list[Any] = []

        def download() -> None:
            downloaded.extend(self._mission.download_mission())

        self._run('mission download failed', download)
        wanted = mission_items(plan)
        if len(downloaded) != len(wanted):
            return False
        for item, fields in zip(downloaded, wanted, strict=True):
            if (int(item.command), int(item.frame)) != (fields['command'], fields['frame']):
                return False
            if (int(item.x), int(item.y)) != (fields['x'], fields['y']):
                return False
            if abs(float(item.z) - float(fields['z'])) > 0.05:
                return False
        return True

    def start_mission(self) -> None:
        """Start the uploaded mission; see Autopilot.start_mission."""
        self._run('mission start refused', lambda: self._mission.start_mission())

    def upload_geofence(self, polygon: Sequence[GeoPoint]) -> None:
        """Upload one inclusion polygon; see Autopilot.upload_geofence."""
        from mavsdk.plugins.geofence import FenceType, GeofenceData, Point, Polygon

        if len(polygon) < 3:
            raise AutopilotError(f'a geofence needs at least 3 vertices, got {len(polygon)}')
        fence = GeofenceData(
            polygons=[
                Polygon(
                    points=[Point(p.lat_deg, p.lon_deg) for p in polygon],
                    fence_type=FenceType.INCLUSION,
                )
            ]
        )
        self._run('geofence upload failed', lambda: self._geofence.upload_geofence(fence))
