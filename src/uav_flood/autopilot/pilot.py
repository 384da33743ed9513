"""The pilot: one vehicle's commands and missions through an Autopilot, with no ROS.

flight_control (the ROS node) owns the threads and the topics; everything it asks of the
autopilot goes through here:

- commands (arm, takeoff, land, return, start the mission), each refused with the reason when
  its precondition does not hold (RefusedError);
- a path's mission: built and checked (mission items, geofence, energy), taken up when the
  flying vehicle is on it already (a restarted flight_control), uploaded with retries of the
  failures that pass by themselves (core.mission_supervisor.UPLOAD_RETRY), then started when
  auto_start is set, after start_hold_s, with its own retries (START_RETRY);
- the mission state (core.mission_supervisor.MissionSupervisor), which the node publishes.

Every method blocks on the autopilot: the node calls them on its one worker thread. Tests fly
it against a fake autopilot (test/autopilot/test_pilot.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import threading
import time

from uav_flood.autopilot.interface import Autopilot, AutopilotError, Telemetry
from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import LocalFrame
from uav_flood.core.mission import build_mission, Enu, MissionError, MissionPlan, PathLimits
from uav_flood.core.mission_supervisor import (
    is_transient,
    MissionSupervisor,
    RetryPolicy,
    START_RETRY,
    STARTED_STATES,
    UPLOAD_RETRY,
)
from uav_flood.core.safety import (
    check_mission_energy,
    check_remaining_energy,
    EnergyCheck,
    EnergyModel,
    Geofence,
)

#: After an upload, auto_start waits this long at most for the autopilot to count the new
#: mission's items (PX4 checks a mission against a just-loaded geofence first: 0.3-0.9 s in
#: fence-autostart and fence-mission) before it tries to start anyway (s).
MISSION_ACCEPT_WAIT_S = 5.0

#: log(level, text, throttle_s): level is 'info', 'warning' or 'error'; a line may be throttled
#: to one per throttle_s (0: never).
Log = Callable[[str, str, float], None]


class RefusedError(UavFloodError):
    """The pilot itself refuses a request (a precondition is not met)."""


@dataclass(frozen=True)
class PilotConfig:
    """What the pilot flies by (flight_control's parameters of the same names).

    :param acceptance_radius_m: a waypoint counts as reached within this (m).
    :param limits: altitude and distance limits of a path.
    :param energy: the energy model (battery reach checks).
    :param mission_speed_m_s: the speed along the mission's sweeps (m/s).
    :param takeoff_altitude_m: the takeoff command's altitude above home (m).
    :param auto_start: start an uploaded mission by itself.
    :param start_hold_s: on the ground, start no sooner than this after the path's stamp (s).
    """

    acceptance_radius_m: float
    limits: PathLimits
    energy: EnergyModel
    mission_speed_m_s: float
    takeoff_altitude_m: float
    auto_start: bool = False
    start_hold_s: float = 0.0


class Pilot:
    """Fly one vehicle's commands and missions through `autopilot` (see the module docstring).

    :param autopilot: the connected autopilot.
    :param config: what to fly by.
    :param frame: the map frame (mission origin).
    :param geofence: the geofence every path must keep to, or None.
    :param closing: set when the owner shuts down: waits and retries stop at once.
    :param log: where the pilot says what it does.
    :param now_ns: the owner's clock (ns), the clock of the paths' stamps (ROS time).
    :param mission: the mission state to keep (the owner reads it); None: a new one.
    """

    def __init__(
        self,
        autopilot: Autopilot,
        config: PilotConfig,
        frame: LocalFrame,
        geofence: Geofence | None,
        closing: threading.Event,
        log: Log,
        now_ns: Callable[[], int],
        mission: MissionSupervisor[MissionPlan] | None = None,
    ) -> None:
        self.autopilot = autopilot
        self.config = config
        self.frame = frame
        self.geofence = geofence
        self.mission: MissionSupervisor[MissionPlan] = mission or MissionSupervisor()
        self._closing = closing
        self._log = log
        self._now_ns = now_ns

    # -- missions -------------------------------------------------------------------------------

    def refuse(self, reason: str) -> None:
        """Refuse the mission of the last path, saying why."""
        self.mission.refuse(reason)
        self._log('warning', f'mission refused: {reason}', 0.0)

    def fly_path(self, path: Sequence[Enu], stamp_ns: int) -> None:
        """Build, check, upload (and with auto_start start) the mission of a path.

        The owner has moved `mission` to UPLOADING (path_received, upload_started) when it
        handed the path over.

        :param path: the waypoints (map ENU), checked already (core.mission.validate_path).
        :param stamp_ns: the path's header stamp (ns; 0 unstamped), for start_hold_s.
        """
        telemetry = self.autopilot.telemetry()
        plan_energy = self._plan(path, telemetry)
        if plan_energy is None:
            return
        plan, energy = plan_energy
        if self._adopt(plan, telemetry):
            return
        try:
            attempts = 0
            if self.geofence is not None:
                fence = self.geofence.autopilot_fence_wgs84(self.frame)
                attempts += self.retry(
                    'geofence upload',
                    lambda: self.autopilot.upload_geofence(fence),
                    UPLOAD_RETRY,
                    upload=True,
                )
            attempts += self.retry(
                'mission upload',
                lambda: self.autopilot.upload_mission(plan),
                UPLOAD_RETRY,
                upload=True,
            )
        except AutopilotError as exc:
            if self._closing.is_set():
                return
            self.mission.fail(f'mission upload failed: {exc}')
            self._log('error', f'mission upload failed: {exc}', 0.0)
            return
        self.mission.uploaded(plan, attempts)
        self._log(
            'info',
            f'mission uploaded: {plan.waypoint_count} waypoints, {energy.describe()}'
            + (f' ({attempts} attempts)' if attempts > (2 if self.geofence else 1) else ''),
            0.0,
        )
        if self.config.auto_start:
            self._auto_start(plan, stamp_ns)

    def _plan(
        self, path: Sequence[Enu], telemetry: Telemetry
    ) -> tuple[MissionPlan, EnergyCheck] | None:
        """Return the path's mission and its energy check, or None after refusing it."""
        home, battery = telemetry.home, telemetry.battery_remaining
        if home is None or battery is None:
            self.refuse('the autopilot reports no home position or battery')
            return None
        config = self.config
        home_enu = Enu(*self.frame.point_to_enu(home))
        try:
            plan = build_mission(
                path,
                self.frame,
                home,
                config.acceptance_radius_m,
                config.limits,
                transit_speed_m_s=config.energy.transit_speed_m_s,
                mission_speed_m_s=config.mission_speed_m_s,
            )
            if self.geofence is not None:
                self.geofence.check_path(path, home_enu)
            if telemetry.in_air and telemetry.position is not None:
                here = Enu(*self.frame.point_to_enu(telemetry.position))
                energy = check_remaining_energy(config.energy, here, home_enu, battery * 100, path)
            else:
                energy = check_mission_energy(config.energy, home_enu, path, battery * 100)
            if not energy.ok:
                raise MissionError(f'beyond battery reach: {energy.describe()}')
        except MissionError as exc:
            self.refuse(exc.reason)
            return None
        return plan, energy

    def _adopt(self, plan: MissionPlan, telemetry: Telemetry) -> bool:
        """Take up `plan` without uploading it when the flying vehicle is on it already.

        A flight_control restarted in flight (a crash, the runner's respawn) gets its path
        again (latched); uploading it again would restart the mission from its first item.
        """
        if not telemetry.in_air or telemetry.mission_total != len(plan.items):
            return False
        try:
            held = self.autopilot.holds_mission(plan)
        except AutopilotError as exc:
            self._log('warning', f'could not compare the autopilot mission: {exc}', 0.0)
            return False
        if not held:
            return False
        self.mission.uploaded(plan, attempts=0)
        # Not started either: whatever the vehicle does (the mission, its return at the end, a
        # failsafe's return or landing) was decided while this node was away, and switching to
        # Mission would override it.
        self._log(
            'warning',
            f'took up the mission the vehicle is flying ({plan.waypoint_count} waypoints, at '
            f'item {telemetry.mission_current}, {telemetry.flight_mode.value}): not uploaded '
            'or started again',
            0.0,
        )
        return True

    def retry(
        self, what: str, call: Callable[[], None], policy: RetryPolicy, upload: bool = False
    ) -> int:
        """Run `call` until it succeeds; retry transient failures per `policy`.

        :return: the number of attempts it took.
        :raises AutopilotError: a permanent failure, or the last transient one when the policy
            is spent (its message then says how many attempts were made).
        """
        delays = policy.delays()
        attempt = 1
        while True:
            try:
                call()
                return attempt
            except AutopilotError as exc:
                delay = next(delays, None) if is_transient(exc.code, upload) else None
                if delay is None:
                    if attempt > 1:
                        raise AutopilotError(
                            f'{exc} (after {attempt} attempts)', exc.code
                        ) from None
                    raise
                self.mission.note_retry(f'{what} attempt {attempt + 1} after: {exc}')
                self._log('warning', f'{what}: {exc}; attempt {attempt + 1} in {delay:.2g} s', 2.0)
                if self._closing.wait(delay):
                    raise AutopilotError(f'{what}: flight_control is shutting down') from None
                attempt += 1

    def _auto_start(self, plan: MissionPlan, stamp_ns: int) -> None:
        # Start the uploaded mission as soon as the autopilot can take it. PX4 checks a new
        # mission against a just-loaded geofence before Mission mode is available
        # (fence-autostart: a start 14 ms after the upload is TEMPORARILY_REJECTED), so first
        # wait until it counts the mission's items; its arming checks settle for a few seconds
        # after boot. Refusals that pass by themselves are retried (START_RETRY); a vehicle PX4
        # disarmed meanwhile (COM_DISARM_PRFLT) is armed again by the next attempt.
        deadline = time.monotonic() + MISSION_ACCEPT_WAIT_S
        while not self._closing.is_set() and time.monotonic() < deadline:
            if self.autopilot.telemetry().mission_total == len(plan.items):
                break
            self._closing.wait(0.05)
        self._hold_start(stamp_ns)
        try:
            self.mission.start_requested()
            attempts = self.retry('auto_start', self._start_mission_once, START_RETRY)
        except (AutopilotError, RefusedError) as exc:
            if self._closing.is_set():
                return
            self.mission.fail(f'auto_start failed: {exc}')
            self._log('error', f'auto_start failed: {exc}', 0.0)
            return
        self.mission.started(attempts)
        self._log(
            'info',
            f'auto_start: mission started ({plan.waypoint_count} waypoints'
            + (f', {attempts} attempts)' if attempts > 1 else ')'),
            0.0,
        )

    def _hold_start(self, stamp_ns: int) -> None:
        """On the ground, wait until start_hold_s after the path's stamp."""
        hold = self.config.start_hold_s
        if hold <= 0.0 or stamp_ns <= 0 or self.autopilot.telemetry().in_air:
            return
        until_ns = stamp_ns + round(hold * 1e9)
        # At most `hold` from now: a stamp from another clock must not keep it on the ground.
        give_up = time.monotonic() + hold
        while not self._closing.is_set() and time.monotonic() < give_up:
            left_ns = until_ns - self._now_ns()
            if left_ns <= 0:
                return
            self._closing.wait(min(0.05, left_ns * 1e-9))

    def waypoints_reached(self, telemetry: Telemetry, plan: MissionPlan) -> list[int]:
        """Return the plan's waypoints reached (an item reached implies every earlier one).

        PX4 reports MISSION_ITEM_REACHED for the latest item only (two items done in one step,
        e.g. the last waypoint and the RTL item, give one report), and the mission has no jumps.
        """
        last_done = max(telemetry.mission_reached, default=-1)
        started = self.mission.state in STARTED_STATES
        if started and telemetry.mission_total == len(plan.items):
            last_done = max(last_done, telemetry.mission_current - 1)
        return [w for w in range(plan.waypoint_count) if plan.item_of_waypoint(w) <= last_done]

    # -- commands (each returns its success message) ------------------------------------------

    def arm(self) -> str:
        """Arm on the ground."""
        telemetry = self.autopilot.telemetry()
        if telemetry.in_air:
            raise RefusedError('already flying')
        if telemetry.armed:
            raise RefusedError('already armed')
        self.autopilot.arm()
        return 'armed'

    def takeoff(self) -> str:
        """Arm if needed and take off to takeoff_altitude_m above home."""
        telemetry = self.autopilot.telemetry()
        if telemetry.in_air:
            raise RefusedError('already flying')
        if not telemetry.armed:
            self.autopilot.arm()
        self.autopilot.takeoff(self.config.takeoff_altitude_m)
        return f'taking off to {self.config.takeoff_altitude_m:g} m above home'

    def land(self) -> str:
        """Land where the vehicle is."""
        if not self.autopilot.telemetry().in_air:
            raise RefusedError('already on the ground')
        self.autopilot.land()
        return 'landing'

    def return_home(self) -> str:
        """Return to launch and land."""
        if not self.autopilot.telemetry().in_air:
            raise RefusedError('on the ground: nothing to return from')
        self.autopilot.return_to_launch()
        return 'returning to launch'

    def start_mission(self) -> str:
        """Start (or resume) the uploaded mission if the battery reaches what is left of it."""
        telemetry = self.autopilot.telemetry()
        plan = self.mission.plan
        if plan is None:
            raise RefusedError('no mission uploaded (publish a path on mission/path)')
        remaining = list(plan.waypoints)
        if telemetry.battery_remaining is not None and telemetry.home is not None:
            home = Enu(*self.frame.point_to_enu(telemetry.home))
            battery = telemetry.battery_remaining * 100.0
            energy = self.config.energy
            if telemetry.in_air and telemetry.position is not None:
                here = Enu(*self.frame.point_to_enu(telemetry.position))
                reached = self.waypoints_reached(telemetry, plan)
                remaining = [p for i, p in enumerate(plan.waypoints) if i not in reached]
                check = check_remaining_energy(energy, here, home, battery, remaining)
            else:
                check = check_mission_energy(energy, home, remaining, battery)
            if not check.ok:
                raise RefusedError(f'beyond battery reach: {check.describe()}')
        self.mission.start_requested()
        self._start_mission_once()
        return f'mission started ({plan.waypoint_count} waypoints)'

    def _start_mission_once(self) -> None:
        # Arm if needed (again, if PX4 disarmed a vehicle left armed on the ground), then
        # switch to Mission.
        if not self.autopilot.telemetry().armed:
            self.autopilot.arm()
        self.autopilot.start_mission()
