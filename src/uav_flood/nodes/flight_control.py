"""flight_control: one per vehicle (namespace /uavN), the bridge between ROS and the autopilot.

Publishes pose (map ENU; also as the transform map -> uavN/base_link on /tf where tf2_msgs is
installed), global_position, battery and status (DiagnosticArray: connection,
arming, flight mode, landed state, mission progress, failsafe, last refusal); offers the
Trigger services arm, takeoff, land, return_to_launch and start_mission; turns each nav_msgs/Path
on mission/path into a PX4 mission (takeoff, waypoints, RTL) and uploads it, with a geofence,
after its own safety checks (core.safety); starts it when auto_start is set; sends the vehicle
home when the battery no longer covers the way back.

Threads: MAVSDK calls block (a command waits for the autopilot's COMMAND_ACK, an upload for the
whole mission protocol). They all run on one worker thread (`_worker`), which also serialises
them. The services wait for their worker job with a timeout in their own callback group, so on
a MultiThreadedExecutor (main() uses one) the telemetry timer and the path subscription keep
running meanwhile; the path subscription never waits (it queues the upload and returns).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
import dataclasses
from dataclasses import dataclass
import logging
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import BatteryState, NavSatFix
from std_srvs.srv import Trigger

from uav_flood.autopilot.interface import (
    Autopilot,
    AutopilotError,
    FlightMode,
    LandedState,
    NotConnectedError,
    Severity,
    Telemetry,
)
from uav_flood.autopilot.mavsdk_autopilot import MavsdkAutopilot
from uav_flood.autopilot.pilot import Pilot, RefusedError
from uav_flood.core import status_schema
from uav_flood.core.errors import ConfigError, UavFloodError
from uav_flood.core.geo import LocalFrame
from uav_flood.core.mission import (
    Enu,
    MissionError,
    MissionPlan,
    validate_path,
)
from uav_flood.core.mission_supervisor import (
    FAILED_STATES,
    MissionState,
    MissionSupervisor,
    readiness,
)
from uav_flood.core.safety import (
    check_remaining_energy,
    Geofence,
)
from uav_flood.core.status_schema import VehicleStatus
from uav_flood.nodes import conversions, names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.params.flight_control import FlightParams, PARAMETERS
from uav_flood.nodes.spin import spin_node

#: Python loggers whose warnings and errors the node forwards to its ROS logger (MAVSDK's own
#: log lines and the autopilot layer's).
_FORWARDED_LOGGERS = ('uav_flood.mavsdk', 'uav_flood.autopilot')
#: How long the link must be up before a mission is uploaded and auto-started: PX4 counts the
#: ground link (an arming check when NAV_DLL_ACT is set) once it has heard our 1 Hz heartbeat.
LINK_SETTLE_S = 2.0
#: The texts PX4 gives when it refuses to arm (kept as the reason the vehicle is not ready).
_ARMING_DENIAL_PREFIXES = ('arming denied', 'preflight fail')


@dataclass
class _Alerts:
    """What the autopilot and the energy check announced (written by the timer and worker)."""

    #: The autopilot's last failsafe announcement (a CRITICAL or worse STATUSTEXT).
    autopilot_failsafe: str = ''
    #: Why flight_control sent the vehicle home itself, while that holds.
    energy_failsafe: str = ''
    #: The autopilot's last arming refusal ('Arming denied: ...'), the not-ready reason.
    arming_denial: str = ''


class _RosLogHandler(logging.Handler):
    """Forward Python log records of uav_flood's libraries to the node's ROS logger."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self._logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(message)
        elif record.levelno >= logging.INFO:
            self._logger.info(message)
        else:
            self._logger.debug(message)


#: Makes flight_control's autopilot from its parameters and its logger.
AutopilotFactory = Callable[[FlightParams, Any], Autopilot]


def mavsdk_autopilot(params: FlightParams, log: Any) -> Autopilot:
    """Return the MAVSDK autopilot flight_control flies by default (real PX4, SITL, the sim)."""
    return MavsdkAutopilot(log=log, telemetry_rate_hz=params.telemetry_rate_hz)


class FlightControlNode(Node):
    """Fly one vehicle: telemetry out, missions and commands in, with a safety layer."""

    def __init__(self, autopilot_factory: AutopilotFactory | None = None, **kwargs: Any) -> None:
        """Read the parameters, connect the autopilot, start publishing.

        :param autopilot_factory: makes the autopilot from the parameters and the node's logger
            (default: MAVSDK, mavsdk_autopilot); tests pass a fake.
        :param kwargs: rclpy Node arguments (context, namespace, parameter_overrides, ...).
        """
        super().__init__('flight_control', **kwargs)
        declare_read_only(self, PARAMETERS)
        self._params = FlightParams.from_node(self)
        self._frame = LocalFrame(self._params.origin)
        self._geofence = self._load_geofence()
        self._base_frame = names.frame_id(self.get_namespace(), names.BASE_FRAME)

        self._lock = threading.Lock()
        self._mission: MissionSupervisor[MissionPlan] = MissionSupervisor()
        self._alerts = _Alerts()
        self._pending_path: tuple[Enu, ...] | None = None
        self._path_stamp = ''  # header stamp (ns) of the last path received
        self._job: Future[Any] | None = None
        self._link_lost_since: float | None = None
        self._link_up_since: float | None = None
        self._ever_connected = False
        self._energy_rtl_sent = False
        self._energy_margin_pct: float | None = None
        self._last_mode = FlightMode.UNKNOWN

        self._pose_pub = conversions.publisher(self, PoseStamped, names.POSE)
        # map -> uavN/base_link on /tf, from the pose, where tf2_msgs is installed.
        self._tf = conversions.TransformBroadcaster(self)
        self._fix_pub = conversions.publisher(self, NavSatFix, names.GLOBAL_POSITION)
        self._battery_pub = conversions.publisher(self, BatteryState, names.BATTERY)
        self._status_pub = conversions.StatusPublisher(self, names.STATUS)
        conversions.subscribe(self, Path, names.MISSION_PATH, self._on_path)
        # Services wait for the autopilot (seconds): their own group lets a multi-threaded
        # executor keep the telemetry timer and the path subscription running meanwhile.
        self._service_group = MutuallyExclusiveCallbackGroup()
        services: dict[str, Callable[[], str]] = {
            names.ARM_SERVICE.name: lambda: self._pilot.arm(),
            names.TAKEOFF_SERVICE.name: lambda: self._pilot.takeoff(),
            names.LAND_SERVICE.name: lambda: self._pilot.land(),
            names.RETURN_TO_LAUNCH_SERVICE.name: lambda: self._pilot.return_home(),
            names.START_MISSION_SERVICE.name: lambda: self._pilot.start_mission(),
        }
        for service, action in services.items():
            self.create_service(
                Trigger,
                service,
                self._service_callback(service, action),
                callback_group=self._service_group,
            )

        # One worker thread: MAVSDK calls block, and the autopilot takes one command at a time.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix='autopilot')
        self._closing = threading.Event()
        self._log_handler = _RosLogHandler(self)
        for logger in _FORWARDED_LOGGERS:
            logging.getLogger(logger).addHandler(self._log_handler)
        factory = autopilot_factory or mavsdk_autopilot
        self._autopilot: Autopilot = factory(self._params, self.get_logger())
        try:
            self._autopilot.connect(self._params.connection_url)
        except AutopilotError as exc:
            self._shutdown_worker()
            for logger in _FORWARDED_LOGGERS:
                logging.getLogger(logger).removeHandler(self._log_handler)
            raise ConfigError(str(exc), 'connection_url') from None
        # Commands and missions (autopilot.pilot), on the worker thread.
        self._pilot = Pilot(
            self._autopilot,
            self._params.pilot,
            self._frame,
            self._geofence,
            self._closing,
            self._pilot_log,
            lambda: self.get_clock().now().nanoseconds,
            self._mission,
        )
        self._timer = self.create_timer(1.0 / self._params.publish_rate_hz, self._on_timer)
        fence = (
            f'geofence {len(self._geofence.area.exterior.coords) - 1} vertices + '
            f'{self._params.geofence_margin_m:g} m'
            if self._geofence
            else 'no geofence'
        )
        self.get_logger().info(
            f'ready: autopilot {self._params.connection_url}, origin '
            f'{self._params.origin.lat_deg:.6f},{self._params.origin.lon_deg:.6f},'
            f'{self._params.origin.alt_m:.1f}, {fence}, auto_start={self._params.auto_start}'
        )

    # -- set-up and tear-down ---------------------------------------------------------------------

    def _load_geofence(self) -> Geofence | None:
        params = self._params
        try:
            if params.geofence_file:
                return Geofence.from_geojson(
                    params.geofence_file, self._frame, params.geofence_margin_m
                )
            if params.geofence_enu.strip():
                return Geofence.from_enu_text(params.geofence_enu, params.geofence_margin_m)
        except MissionError as exc:
            source = 'geofence_file' if params.geofence_file else 'geofence_enu'
            raise ConfigError(str(exc), source) from None
        return None

    def _shutdown_worker(self) -> None:
        self._closing.set()
        self._worker.shutdown(wait=True, cancel_futures=True)

    def destroy_node(self) -> None:
        """Stop the worker, close the autopilot connection, then destroy the node."""
        if hasattr(self, '_timer'):
            self._timer.cancel()
        if hasattr(self, '_worker'):
            # The running job (if any) ends within MAVSDK's own protocol timeouts.
            self._shutdown_worker()
        if hasattr(self, '_autopilot'):
            self._autopilot.close()
        if hasattr(self, '_log_handler'):
            for logger in _FORWARDED_LOGGERS:
                logging.getLogger(logger).removeHandler(self._log_handler)
        super().destroy_node()

    # -- telemetry, link watchdog, energy and status: the timer -----------------------------------

    def _link_ok(self, telemetry: Telemetry, now: float) -> bool:
        last = telemetry.last_message_s
        return (
            telemetry.discovered and last is not None and now - last <= self._params.link_timeout_s
        )

    def _on_timer(self) -> None:
        try:
            self._tick()
        except Exception as exc:  # noqa: BLE001  # nothing may escape into the executor
            if not self.context.ok():
                return  # shutting down (Ctrl-C): publishers are gone, nothing is wrong
            self.get_logger().error(f'telemetry tick failed: {exc!r}', throttle_duration_sec=5.0)

    def _tick(self) -> None:
        now = time.monotonic()
        telemetry = self._autopilot.telemetry()
        link_ok = self._link_ok(telemetry, now)
        self._watch_link(telemetry, link_ok, now)
        self._log_status_texts()
        if telemetry.armable:
            with self._lock:
                self._alerts.arming_denial = ''  # ready now: an old refusal explains nothing
        if telemetry.flight_mode != self._last_mode and link_ok:
            if self._last_mode is FlightMode.UNKNOWN:
                self.get_logger().info(f'flight mode: {telemetry.flight_mode.value}')
            else:
                self.get_logger().info(
                    f'flight mode {self._last_mode.value} -> {telemetry.flight_mode.value}'
                )
            self._last_mode = telemetry.flight_mode
        stamp = self.get_clock().now().to_msg()
        if link_ok:
            if telemetry.position is not None:
                enu = self._frame.point_to_enu(telemetry.position)
                pose = conversions.pose_stamped(enu, telemetry.attitude, stamp)
                self._pose_pub.publish(pose)
                if self._tf.available:
                    self._tf.send([conversions.pose_transform(pose, self._base_frame)])
            self._fix_pub.publish(
                conversions.nav_sat_fix(telemetry.position, self._base_frame, stamp)
            )
            self._battery_pub.publish(
                conversions.battery_state(
                    telemetry.battery_remaining,
                    telemetry.battery_voltage_v,
                    self._base_frame,
                    stamp,
                )
            )
            self._check_energy(telemetry)
            self._maybe_upload(telemetry, now)
        self._update_mission_state(telemetry, link_ok)
        self._status_pub.publish(self._status(telemetry, link_ok, now, stamp))

    def _watch_link(self, telemetry: Telemetry, link_ok: bool, now: float) -> None:
        if not link_ok:
            self._link_up_since = None
        elif self._link_up_since is None:
            self._link_up_since = now
        if link_ok:
            if not self._ever_connected:
                self._ever_connected = True
                self.get_logger().info('autopilot connected')
            elif self._link_lost_since is not None:
                self.get_logger().info(f'link restored after {now - self._link_lost_since:.1f} s')
            self._link_lost_since = None
        elif self._ever_connected and self._link_lost_since is None:
            self._link_lost_since = now
            silent = now - (telemetry.last_message_s or now)
            self.get_logger().error(f'link lost: no MAVLink message for {silent:.1f} s')

    def _log_status_texts(self) -> None:
        for text in self._autopilot.status_texts():
            line = f'autopilot: {text.text}'
            # PX4 announces failsafes at CRITICAL or worse; its answers to commands ('Arming
            # denied: ...') share the severity but are not failsafes.
            lowered = text.text.lower()
            if lowered.startswith(_ARMING_DENIAL_PREFIXES):
                with self._lock:
                    self._alerts.arming_denial = text.text
            elif text.severity <= Severity.CRITICAL and 'denied' not in lowered:
                with self._lock:
                    self._alerts.autopilot_failsafe = text.text
            if text.severity <= Severity.WARNING:
                self.get_logger().warning(line)
            else:
                self.get_logger().info(line)

    def _check_energy(self, telemetry: Telemetry) -> None:
        if telemetry.landed_state is LandedState.ON_GROUND and not telemetry.armed:
            if self._energy_rtl_sent:  # a new flight, a new decision
                self._energy_rtl_sent = False
                with self._lock:
                    self._alerts.energy_failsafe = ''
        if (
            telemetry.position is None
            or telemetry.home is None
            or telemetry.battery_remaining is None
        ):
            self._energy_margin_pct = None
            return
        check = check_remaining_energy(
            self._params.energy,
            Enu(*self._frame.point_to_enu(telemetry.position)),
            Enu(*self._frame.point_to_enu(telemetry.home)),
            telemetry.battery_remaining * 100.0,
        )
        self._energy_margin_pct = check.margin_pct
        if (
            check.ok
            or not self._params.energy_rtl
            or self._energy_rtl_sent
            or not telemetry.in_air
            or telemetry.flight_mode in (FlightMode.RETURN, FlightMode.LAND)
        ):
            return
        self._energy_rtl_sent = True
        reason = f'energy reserve: returning to launch ({check.describe()})'
        with self._lock:
            self._alerts.energy_failsafe = reason
        self.get_logger().warning(reason)
        future = self._worker.submit(self._autopilot.return_to_launch)
        future.add_done_callback(self._log_job_failure('energy return to launch'))

    def _pilot_log(self, level: str, text: str, throttle_s: float) -> None:
        # One call per severity and throttling: rclpy refuses two severities from one call site.
        log = self.get_logger()
        if level == 'error':
            log.error(text)
        elif level == 'warning' and throttle_s > 0.0:
            log.warning(text, throttle_duration_sec=throttle_s)
        elif level == 'warning':
            log.warning(text)
        else:
            log.info(text)

    def _log_job_failure(self, what: str) -> Callable[[Future[Any]], None]:
        def done(future: Future[Any]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                self.get_logger().error(f'{what} failed: {exc}')

        return done

    def _update_mission_state(self, telemetry: Telemetry, link_ok: bool) -> None:
        plan = self._mission.plan
        if plan is None or not link_ok:
            return
        reached = self._pilot.waypoints_reached(telemetry, plan)
        changed = self._mission.observe(
            plan,
            flying_mission=telemetry.flight_mode is FlightMode.MISSION and telemetry.armed,
            all_reached=len(reached) == plan.waypoint_count,
        )
        if changed is MissionState.COMPLETED:
            self.get_logger().info(f'mission completed: {plan.waypoint_count} waypoints')

    def _status(
        self, telemetry: Telemetry, link_ok: bool, now: float, stamp: Any
    ) -> DiagnosticArray:
        state, plan, last_refusal = self._mission.snapshot()
        with self._lock:
            alerts = dataclasses.replace(self._alerts)
        ready = readiness(
            telemetry.armable,
            telemetry.global_position_ok,
            telemetry.home is not None,
            alerts.arming_denial,
        )
        if link_ok:
            connection = status_schema.CONNECTED
        elif self._ever_connected:
            connection = status_schema.LINK_LOST
        else:
            connection = status_schema.WAITING_FOR_AUTOPILOT
        reached = self._pilot.waypoints_reached(telemetry, plan) if plan is not None else []
        current = plan.waypoint_of_item(telemetry.mission_current) if plan is not None else None
        if telemetry.failsafe:
            failsafe = f'autopilot failsafe: {alerts.autopilot_failsafe or "active"}'
        elif alerts.energy_failsafe:
            failsafe = alerts.energy_failsafe
        else:
            failsafe = status_schema.NO_FAILSAFE
        battery = telemetry.battery_remaining
        status = VehicleStatus(
            connection=connection,
            link_age_s=(
                now - telemetry.last_message_s if telemetry.last_message_s is not None else None
            ),
            armed=telemetry.armed,
            flight_mode=telemetry.flight_mode.value,
            landed_state=telemetry.landed_state.value,
            battery_pct=battery * 100.0 if battery is not None else None,
            energy_margin_pct=self._energy_margin_pct,
            home_set=telemetry.home is not None,
            ready_to_arm=ready.ready if link_ok else None,
            not_ready_reason=ready.reason if link_ok and not telemetry.armed else '',
            failsafe=failsafe,
            mission_state=state,
            path_stamp=self._path_stamp,
            mission_waypoint_current=current if current is not None else -1,
            mission_waypoint_total=plan.waypoint_count if plan is not None else 0,
            mission_waypoints_reached=tuple(reached),
            mission_item_current=telemetry.mission_current,
            mission_item_total=telemetry.mission_total,
            last_refusal=last_refusal,
            retrying=self._mission.retrying,
        )
        values = status.values()
        if connection == status_schema.LINK_LOST:
            level, message = 'ERROR', 'link lost'
        elif connection == status_schema.WAITING_FOR_AUTOPILOT:
            level, message = 'WARN', f'waiting for the autopilot on {self._params.connection_url}'
        elif failsafe != status_schema.NO_FAILSAFE:
            level, message = 'WARN', failsafe
        else:
            level = 'OK'
            message = f'{telemetry.flight_mode.value}, {telemetry.landed_state.value}'
            if plan is not None:
                message += f', mission {state.value} {len(reached)}/{plan.waypoint_count}'
        return conversions.diagnostic_array(
            self.get_fully_qualified_name(),
            self._params.connection_url,
            level,
            message,
            values,
            stamp,
        )

    # -- missions ---------------------------------------------------------------------------------

    def _on_path(self, msg: Path) -> None:
        stamp = str(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
        with self._lock:
            if (
                stamp == self._path_stamp
                and stamp != '0'  # an unstamped path is always new
                and self._mission.state not in FAILED_STATES
            ):
                # The same path again (a restarted coordinator publishes its paths again, with
                # their stamps): taken already; uploading it again would restart the mission.
                self.get_logger().info('path received again: already taken, ignored')
                return
            # Echoed in the status: the coordinator knows which path mission_state is about.
            self._path_stamp = stamp
        try:
            path = validate_path(conversions.path_points(msg), self._params.limits)
            if self._geofence is not None:
                self._geofence.check_path(path)
        except MissionError as exc:
            self._pilot.refuse(exc.reason)
            return
        with self._lock:
            self._pending_path = path
            self._mission.path_received()
        self.get_logger().info(f'path received: {len(path)} waypoints')

    def _maybe_upload(self, telemetry: Telemetry, now: float) -> None:
        # On the timer: hand a waiting path to the worker once the autopilot can take it.
        with self._lock:
            path = self._pending_path
            busy = self._job is not None and not self._job.done()
            if path is None or busy:
                return
            if self._link_up_since is None or now - self._link_up_since < LINK_SETTLE_S:
                return
            if telemetry.home is None or telemetry.battery_remaining is None:
                return  # PX4 has no home yet (no GPS fix): keep waiting
            self._pending_path = None
            self._mission.upload_started()
            stamp_ns = int(self._path_stamp or 0)
            self._job = self._worker.submit(self._pilot.fly_path, path, stamp_ns)
        self._job.add_done_callback(self._log_job_failure('mission upload'))

    # -- services ---------------------------------------------------------------------------------

    def _service_callback(
        self, service: str, action: Callable[[], str]
    ) -> Callable[[Trigger.Request, Trigger.Response], Trigger.Response]:
        def callback(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            response.success, response.message = self._run_command(action)
            if response.success:
                self.get_logger().info(f'{service}: {response.message}')
            else:
                self.get_logger().warning(f'{service}: {response.message}')
                self._mission.note_refusal(f'{service}: {response.message}')
            return response

        return callback

    def _run_command(self, action: Callable[[], str]) -> tuple[bool, str]:
        telemetry = self._autopilot.telemetry()
        if not telemetry.discovered:
            return False, 'refused: not connected to the autopilot'
        if not self._link_ok(telemetry, time.monotonic()):
            return False, 'refused: link to the autopilot lost'
        try:
            future = self._worker.submit(action)
        except RuntimeError:  # the worker is shut down: the node is going away
            return False, 'refused: flight_control is shutting down'
        timeout = self._params.command_timeout_s
        try:
            return True, future.result(timeout=timeout)
        except FutureTimeout:
            return False, f'failed: no answer from the autopilot within {timeout:g} s'
        except (RefusedError, NotConnectedError) as exc:
            return False, f'refused: {exc}'
        except AutopilotError as exc:
            return False, f'denied by the autopilot: {exc}'
        except UavFloodError as exc:
            return False, f'refused: {exc}'
        except Exception as exc:  # noqa: BLE001  # a service must answer, whatever happened
            self.get_logger().error(f'command failed unexpectedly: {exc!r}')
            return False, f'failed: {exc}'


def main(args: list[str] | None = None) -> None:
    """Run flight_control until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Multi-threaded: a service waiting for the autopilot must not stop telemetry.
    spin_node(
        'flight_control',
        FlightControlNode,
        args,
        make_executor=lambda: MultiThreadedExecutor(num_threads=3),
    )


if __name__ == '__main__':
    main()
