"""PX4's flight logic for one simulated vehicle: commander, failsafes, navigator, land detector.

No sockets here: the MAVLink side (sim/vehicle.py) calls the command methods, reads the state
and sends what `texts` collects. Everything runs in simulated seconds, like PX4 in lockstep.
Behaviour follows PX4 v1.16 as recorded in shared/px4_reference (texts, mode changes, the order
of the low-battery failsafe) and PX4's Commander, failsafe framework and Navigator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import logging
import math

from uav_flood.autopilot import px4
from uav_flood.autopilot.px4 import AutoSubMode, MainMode, Px4Mode
from uav_flood.core.geo import GeoPoint
from uav_flood.sim import mission as mis
from uav_flood.sim.battery import (
    Battery,
    BatteryConfig,
    WARNING_CRITICAL,
    WARNING_EMERGENCY,
    WARNING_LOW,
    WARNING_NONE,
)
from uav_flood.sim.frames import MapProjection
from uav_flood.sim.params import ParamStore
from uav_flood.sim.physics import Limits, Multirotor, Setpoint

log = logging.getLogger(__name__)

# MAV_RESULT
ACCEPTED = 0
TEMPORARILY_REJECTED = 1
DENIED = 2
UNSUPPORTED = 3
FAILED = 4

# MAV_LANDED_STATE
LANDED_UNDEFINED = 0
ON_GROUND = 1
IN_AIR = 2
TAKEOFF = 3
LANDING = 4

# MAV_SEVERITY
EMERGENCY = 0
CRITICAL = 2
WARNING = 4
INFO = 6

# MISSION_STATE
MISSION_STATE_NO_MISSION = 1
MISSION_STATE_NOT_STARTED = 2
MISSION_STATE_ACTIVE = 3
MISSION_STATE_PAUSED = 4
MISSION_STATE_COMPLETE = 5

#: Simulated seconds after boot until the estimator has a global position (home is set then).
EKF_READY_S = 1.5
#: Simulated seconds after boot until the sensors report in SYS_STATUS (present and enabled
#: are 0 before; boot-autopilot.tlog: 2.0 s after PX4's first packet).
SENSORS_UP_S = 2.0
#: Simulated seconds after boot until the pre-arm checks pass: arming is TEMPORARILY_REJECTED
#: ("Arming denied: Resolve system health failures first") and HEARTBEAT says MAV_STATE_UNINIT
#: before (boot-autopilot.tlog: rejected at 3.52 s after PX4's first packet, accepted at 4.03 s).
ARMABLE_S = 3.8
#: After a geofence upload, simulated seconds until PX4's navigator has loaded it; a mission is
#: only valid (Mission mode available, MISSION_CURRENT counts its items) once the fence it must
#: be checked against is loaded (fence-autostart-autopilot.tlog: a start 14 ms after the
#: mission's ACK, 0.24 s after the fence's, is TEMPORARILY_REJECTED; the mission is valid 0.28 s
#: after its ACK; fence-mission: a start 1 s after it is accepted).
GEOFENCE_LOAD_S = 0.5
#: After GPS comes back, seconds until the estimator uses it again.
GPS_RECOVERY_S = 1.0
#: A link or offboard stream is only lost after this many wall seconds without traffic, however
#: large the speed factor: clients send heartbeats at 1 Hz of *wall* time.
WALL_GUARD_S = 2.0
OFFBOARD_WALL_GUARD_S = 0.5
#: PX4's auto trajectories are jerk-limited (MPC_JERK_AUTO): on average they accelerate and
#: brake at about a third of MPC_ACC_HOR (measured in the SITL recordings: 0.9-1.5 m/s^2).
AUTO_ACC_FRACTION = 1.0 / 3.0
#: PX4 starts an RTL landing once the vehicle has stopped over the destination (m/s; the
#: recording: 2.5 s of braking and creeping in after arriving at 1.9 m/s).
RTL_STOPPED_SPEED = 0.2
#: After touchdown PX4 winds the thrust down before the land detector's maybe-landed thrust
#: condition holds (s); its three hysteresis stages of LNDMC_TRIG_TIME come on top (the
#: recording: "Landing detected" 4.6 s after the distance sensor read 0).
LAND_THRUST_DECAY_S = 1.6

# Failsafe actions, ordered by severity as PX4's FailsafeBase::Action.
A_NONE = 0
A_WARN = 1
A_FALLBACK = 2
A_HOLD = 5
A_RTL = 6
A_LAND = 7
A_DESCEND = 8
A_DISARM = 9
A_TERMINATE = 10

#: Internal navigation states and the PX4 mode each one reports in HEARTBEAT.
NAV_MODES: dict[str, Px4Mode] = {
    'manual': px4.MANUAL,
    'altctl': px4.ALTCTL,
    'posctl': px4.POSCTL,
    'stab': px4.STABILIZED,
    'acro': Px4Mode(MainMode.ACRO),
    'offboard': px4.OFFBOARD,
    'takeoff': px4.TAKEOFF,
    'hold': px4.HOLD,
    'mission': px4.MISSION,
    'rtl': px4.RTL,
    'land': px4.LAND,
    'descend': px4.LAND,  # PX4 reports Descend as AUTO.LAND
    'termination': px4.MANUAL,
}
_MODE_NAMES = {
    'manual': 'Manual',
    'altctl': 'Altitude',
    'posctl': 'Position',
    'stab': 'Stabilized',
    'acro': 'Acro',
    'offboard': 'Offboard',
    'takeoff': 'Takeoff',
    'hold': 'Hold',
    'mission': 'Mission',
    'rtl': 'Return',
    'land': 'Land',
}
#: Modes that need a pilot's sticks: the simulator has no RC, so they cannot run.
_MANUAL_MODES = frozenset({'manual', 'altctl', 'posctl', 'stab', 'acro'})
_GLOBAL_MODES = frozenset({'takeoff', 'hold', 'mission', 'rtl', 'offboard'})


def nav_state_from_mode(mode: Px4Mode) -> str | None:
    """Return the navigation state a PX4 main/sub mode selects (None: not a PX4 mode)."""
    if mode.main == MainMode.AUTO:
        return {
            0: 'mission',
            AutoSubMode.LOITER: 'hold',
            AutoSubMode.MISSION: 'mission',
            AutoSubMode.RTL: 'rtl',
            AutoSubMode.TAKEOFF: 'takeoff',
            AutoSubMode.LAND: 'land',
            AutoSubMode.PRECLAND: 'land',
        }.get(mode.sub)
    manual: dict[int, str] = {
        MainMode.MANUAL: 'manual',
        MainMode.ALTCTL: 'altctl',
        MainMode.POSCTL: 'posctl',
        MainMode.ACRO: 'acro',
        MainMode.OFFBOARD: 'offboard',
        MainMode.STABILIZED: 'stab',
    }
    return manual.get(mode.main)


@dataclass
class _Failsafe:
    cause: str
    action: int
    sticky: bool  # cleared on mode change or disarm (else when the condition clears)
    delayable: bool


@dataclass
class OffboardSetpoint:
    """The latest offboard setpoint, in the local NED frame.

    :param position: target position (m), None components are free.
    :param velocity: target or feed-forward velocity (m/s).
    :param yaw: heading (rad), None to keep it.
    :param yaw_rate: yaw rate (rad/s) when yaw is None.
    """

    position: tuple[float | None, float | None, float | None]
    velocity: tuple[float | None, float | None, float | None]
    yaw: float | None = None
    yaw_rate: float | None = None


class Autopilot:
    """The flight logic of one vehicle.

    :param params: the vehicle's parameters (shared with the MAVLink side).
    :param start: where the vehicle stands at boot (its EKF origin and first home).
    :param name: label for log lines ('uav0').
    """

    def __init__(self, params: ParamStore, start: GeoPoint, name: str = 'uav') -> None:
        self.params = params
        self.name = name
        self.origin = start
        self.proj = MapProjection(start.lat_deg, start.lon_deg)
        self.body = Multirotor()
        self.battery = Battery()
        self.battery_cfg = BatteryConfig()
        self.t = 0.0
        self._wall_now = 0.0
        self.texts: list[tuple[int, str]] = []
        # Commander
        self.armed = False
        self.armed_at = 0.0
        #: When it last disarmed (s), None before its first flight (UFS_BAT_SWAP counts from it).
        self.disarmed_at: float | None = None
        self.landed = True
        self.user_mode = 'hold'
        self.nav = 'hold'
        self.gps_ok = True
        self.global_valid = False
        self._gps_change_t = 0.0
        self.home: tuple[float, float, float] | None = None  # lat, lon, alt AMSL
        self.home_ned = (0.0, 0.0, 0.0)
        self.home_changed = False
        self.gcs_seen = False
        self.gcs_lost = False
        self._gcs_last_t = 0.0
        self._gcs_last_wall = 0.0
        self._took_off = False
        self._ground_since: float | None = None
        self._landed_at = 0.0
        self._battery_warning_at_arming = 0
        self._reported_warning = 0
        # Failsafe framework
        self._failsafes: dict[str, _Failsafe] = {}
        self._conditions: dict[str, bool] = {}
        self._fs_delay = 0.0
        self._fs_effective = A_NONE
        self._takeover = False
        self.failsafe_cause: str | None = None
        # Navigator
        self._active: str | None = None
        self._sp: Setpoint | None = None
        self._sp_kind = 'idle'
        self._limits = Limits()
        self._hold_target = (0.0, 0.0, 0.0)
        self._hold_speed: float | None = None
        self._takeoff_goal: tuple[float, float, float] | None = None
        self._reposition_pending = False
        self.offboard_sp: OffboardSetpoint | None = None
        self._offboard_t = -math.inf
        self._offboard_wall = -math.inf
        self._rtl_phase = ''
        self._rtl_dest = (0.0, 0.0)
        self._rtl_d = 0.0
        self._land_target = (0.0, 0.0)
        self._geofence_breached = False
        #: A mission's RTL item runs as Return under the user's Mission (UFS_MIS_RTL_MAIN).
        self._mission_rtl = False
        # Mission
        self.plans: dict[int, list[mis.MissionItem]] = {
            mis.MISSION: [],
            mis.FENCE: [],
            mis.RALLY: [],
        }
        self.fence: list[mis.FenceShape] = []
        #: When the navigator has loaded the last geofence upload (simulated s).
        self._fence_ready_t = -math.inf
        #: When the mission last uploaded becomes valid (checked against the loaded fence).
        self._mission_valid_t = -math.inf
        self.mission_current = 0
        self.mission_state = MISSION_STATE_NO_MISSION
        self.reached_seq = -1
        self.reached_count = 0
        self._mis_phase = ''
        self._mis_wait_until = 0.0
        self._mis_speed: float | None = None
        self._mis_target: tuple[float, float, float] | None = None
        self._mis_leg_start = (0.0, 0.0)
        self._jump_counts: dict[int, int] = {}

    # ------------------------------------------------------------------ helpers

    def _p(self, name: str) -> float:
        return self.params.get(name)

    def say(self, severity: int, text: str) -> None:
        """Queue a STATUSTEXT as PX4 words it (with PX4's trailing tab: events exist for it)."""
        self.texts.append((severity, text + '\t'))
        log.info('%s: %s', self.name, text)

    @property
    def mode(self) -> Px4Mode:
        """Return the PX4 mode reported in HEARTBEAT."""
        return NAV_MODES[self.nav]

    @property
    def alt_amsl(self) -> float:
        """Return the altitude above mean sea level (m)."""
        return self.origin.alt_m - self.body.d

    @property
    def home_alt(self) -> float:
        """Return the home altitude AMSL, or the origin's before home is set (m)."""
        return self.home[2] if self.home else self.origin.alt_m

    def lat_lon(self) -> tuple[float, float]:
        """Return the vehicle's WGS84 position (deg)."""
        return self.proj.reproject(self.body.n, self.body.e)

    def to_local(
        self, lat_deg: float, lon_deg: float, alt_amsl: float
    ) -> tuple[float, float, float]:
        """Return the local NED position of a WGS84 point (m)."""
        n, e = self.proj.project(lat_deg, lon_deg)
        return n, e, self.origin.alt_m - alt_amsl

    def landed_state(self) -> int:
        """Return EXTENDED_SYS_STATE.landed_state as PX4 derives it."""
        if self.landed:
            return ON_GROUND
        if self._sp_kind == 'takeoff':
            return TAKEOFF
        if self._sp_kind == 'land':
            return LANDING
        return IN_AIR

    def system_status(self) -> int:
        """Return HEARTBEAT.system_status (MAV_STATE)."""
        if self.armed:
            return 5 if self._fs_effective > A_WARN else 4
        return 3 if self.t >= ARMABLE_S else 0

    def prearm_ok(self) -> bool:
        """Return whether the pre-arm checks pass (the PREARM_CHECK health bit)."""
        return not self._arming_failures(self.user_mode)

    def mission_valid(self) -> bool:
        """Return whether a mission that PX4 could fly is loaded (and checked)."""
        return bool(self.plans[mis.MISSION]) and self.t >= self._mission_valid_t

    # ------------------------------------------------------------------ commander

    def gcs_heartbeat(self, wall: float) -> None:
        """Record a heartbeat from a ground station (MAV_TYPE_GCS)."""
        self._gcs_last_t = self.t
        self._gcs_last_wall = wall
        if self.gcs_lost:
            self.gcs_lost = False
            self.say(INFO, 'Data link regained')
        self.gcs_seen = True

    def _arming_failures(self, nav: str) -> list[str]:
        failures = []
        if self.t < ARMABLE_S or not self.global_valid or self.home is None:
            failures.append('no global position / home')
        if self.battery.warning >= WARNING_CRITICAL:
            failures.append('battery critical')
        if not self._can_run(nav):
            failures.append(f'mode {nav} not available')
        if self.params.get_int('NAV_DLL_ACT') > 0 and (self.gcs_lost or not self.gcs_seen):
            failures.append('no connection to the GCS')
        if self.params.get_int('GF_ACTION') > 0 and self._outside_fence():
            failures.append('outside the geofence')
        return failures

    def arm(self, reason: str = 'external command', force: bool = False) -> int:
        """Arm as PX4's Commander::arm; return the MAV_RESULT."""
        if self.armed:
            return ACCEPTED
        failures = [] if force else self._arming_failures(self.user_mode)
        if failures:
            log.info('%s: arming denied: %s', self.name, ', '.join(failures))
            self.say(CRITICAL, 'Arming denied: Resolve system health failures first')
            return TEMPORARILY_REJECTED
        self.armed = True
        self.armed_at = self.t
        self._took_off = False
        self._battery_warning_at_arming = self.battery.warning
        self.say(INFO, f'Armed by {reason}')
        if self.params.get_int('COM_HOME_EN') and self.global_valid:
            self._set_home_here()
        self._active = None  # re-activate the navigator with the motors running
        return ACCEPTED

    def disarm(self, reason: str = 'external command', force: bool = False) -> int:
        """Disarm as PX4's Commander::disarm; return the MAV_RESULT."""
        if not self.armed:
            return ACCEPTED
        if not force and not self.landed:
            self.say(CRITICAL, 'Disarming denied: not landed')
            return TEMPORARILY_REJECTED
        self.armed = False
        self.disarmed_at = self.t
        self._mission_rtl = False
        self._failsafes.clear()
        self._conditions.clear()
        self._fs_delay = 0.0
        self._fs_effective = A_NONE
        self._takeover = False
        self.failsafe_cause = None
        if self.user_mode in ('takeoff', 'land', 'rtl', 'descend'):
            # UserModeIntention::onDisarm: modes that make no sense on the ground become Hold.
            self.user_mode = 'hold'
        self.say(INFO, f'Disarmed by {reason}')
        if self.battery.warning >= WARNING_LOW:
            self.say(CRITICAL, 'Low battery')
        self.nav = self._effective_nav()  # the mode and the disarm reach the wire together
        self._active = None
        return ACCEPTED

    def request_mode(self, nav: str, source_gcs: bool = True) -> int:
        """Change the user's intended mode as PX4's UserModeIntention::change."""
        if self.armed and not self._can_run(nav):
            if source_gcs:
                name = _MODE_NAMES.get(nav, nav)
                self.say(CRITICAL, f'Switching to {name} is currently not available')
            return TEMPORARILY_REJECTED
        self._user_mode_changed(nav)
        return ACCEPTED

    def _user_mode_changed(self, nav: str) -> None:
        self.user_mode = nav
        self._mission_rtl = False
        # ClearCondition::OnModeChangeOrDisarm, and a user taking over from a failsafe.
        for cause in [c for c, f in self._failsafes.items() if f.sticky]:
            del self._failsafes[cause]
        if self._failsafes:
            self._takeover = True
        self._fs_delay = 0.0
        if self.nav == nav:
            self._active = None  # re-activate: e.g. a new takeoff or reposition target

    def _can_run(self, nav: str) -> bool:
        if nav in _MANUAL_MODES or nav == 'termination':
            return False
        if nav in _GLOBAL_MODES and not self.global_valid:
            return False
        if nav == 'mission' and not self.mission_valid():
            return False
        if nav == 'rtl' and self.home is None:
            return False
        if nav == 'offboard' and not self.offboard_signal():
            return False
        return True

    def offboard_signal(self) -> bool:
        """Return whether offboard setpoints arrive often enough (PX4's proof of life)."""
        return not self._offboard_lost(self._wall_now)

    def _offboard_lost(self, wall: float) -> bool:
        if self.offboard_sp is None:
            return True
        late_sim = self.t - self._offboard_t > self._p('COM_OF_LOSS_T')
        late_wall = wall - self._offboard_wall > OFFBOARD_WALL_GUARD_S
        return late_sim and late_wall

    def set_offboard_setpoint(self, sp: OffboardSetpoint, wall: float) -> None:
        """Take a new offboard setpoint (SET_POSITION_TARGET_*)."""
        self.offboard_sp = sp
        self._offboard_t = self.t
        self._offboard_wall = wall

    def _set_home_here(self) -> None:
        lat, lon = self.lat_lon()
        self.home = (lat, lon, self.alt_amsl)
        self.home_ned = (self.body.n, self.body.e, self.body.d)
        self.home_changed = True

    def set_home(self, use_current: bool, lat: float, lon: float, alt: float) -> int:
        """Handle MAV_CMD_DO_SET_HOME."""
        if not self.params.get_int('COM_HOME_EN'):
            return DENIED
        if use_current:
            if not self.global_valid:
                return TEMPORARILY_REJECTED
            self._set_home_here()
            return ACCEPTED
        if not all(math.isfinite(v) for v in (lat, lon, alt)):
            return DENIED
        self.home = (lat, lon, alt)
        self.home_ned = self.to_local(lat, lon, alt)
        self.home_changed = True
        return ACCEPTED

    def takeoff(self, lat: float, lon: float, alt_amsl: float) -> int:
        """Handle MAV_CMD_NAV_TAKEOFF (NaN fields: here, at MIS_TAKEOFF_ALT above home)."""
        if not math.isfinite(alt_amsl):
            alt_amsl = self.home_alt + self._p('MIS_TAKEOFF_ALT')
        n, e = self.body.n, self.body.e
        if math.isfinite(lat) and math.isfinite(lon):
            n, e, _ = self.to_local(lat, lon, alt_amsl)
        previous = self._takeoff_goal
        self._takeoff_goal = (n, e, self.origin.alt_m - alt_amsl)
        result = self.request_mode('takeoff')
        if result != ACCEPTED:
            self._takeoff_goal = previous
        return result

    def land(self) -> int:
        """Handle MAV_CMD_NAV_LAND."""
        result = self.request_mode('land')
        if result == ACCEPTED:
            self.say(INFO, 'Landing at current position')
        return result

    def return_to_launch(self) -> int:
        """Handle MAV_CMD_NAV_RETURN_TO_LAUNCH."""
        result = self.request_mode('rtl')
        if result == ACCEPTED:
            self.say(INFO, 'Returning to launch')
        return result

    def mission_start(self, first: float) -> int:
        """Handle MAV_CMD_MISSION_START: switch to Mission and arm."""
        if not self.mission_valid():
            self.say(CRITICAL, 'Mission start denied! No valid mission')
            return DENIED
        count = len(self.plans[mis.MISSION])
        if not (math.isfinite(first) and -1 <= first < count):
            return DENIED
        if first >= 0:
            self.set_mission_current(int(first))
        if self.request_mode('mission') != ACCEPTED:
            return TEMPORARILY_REJECTED
        if self.arm('mission start') != ACCEPTED:
            return TEMPORARILY_REJECTED
        return ACCEPTED

    def reposition(self, lat: float, lon: float, alt_amsl: float, speed: float) -> int:
        """Handle MAV_CMD_DO_REPOSITION (with the change-mode flag): go there in Hold."""
        result = self.request_mode('hold')
        if result != ACCEPTED:
            return result
        n, e, d = self.body.n, self.body.e, self.body.d
        if math.isfinite(lat) and math.isfinite(lon):
            n, e, _ = self.to_local(lat, lon, 0.0)
        if math.isfinite(alt_amsl):
            d = self.origin.alt_m - alt_amsl
        self._hold_target = (n, e, min(d, 0.0))
        self._hold_speed = speed if math.isfinite(speed) and speed > 0.0 else None
        self._reposition_pending = True
        if self.nav == 'hold':
            self._active = None
        return ACCEPTED

    def change_speed(self, speed: float) -> int:
        """Handle MAV_CMD_DO_CHANGE_SPEED outside a mission."""
        if not (math.isfinite(speed) and speed > 0.0):
            return ACCEPTED  # -1: no change, as PX4
        speed = min(speed, self._p('MPC_XY_VEL_MAX'))
        self._hold_speed = speed
        self._mis_speed = speed
        return ACCEPTED

    def terminate(self) -> int:
        """Handle MAV_CMD_DO_FLIGHTTERMINATION: motors off, the vehicle falls."""
        if not self.armed:
            return DENIED
        self.say(CRITICAL, 'Flight termination active')
        self.disarm('lockdown', force=True)
        return ACCEPTED

    def set_gps(self, available: bool) -> None:
        """Turn the GPS receiver on or off (fault injection)."""
        if available != self.gps_ok:
            self.gps_ok = available
            self._gps_change_t = self.t

    # ------------------------------------------------------------------ mission plans

    def set_plan(self, mission_type: int, items: Sequence[mis.MissionItem]) -> None:
        """Replace a plan after a successful upload (or with [] to clear it)."""
        self.plans[mission_type] = list(items)
        if mission_type == mis.FENCE:
            self.fence = mis.fence_shapes(items, self.proj.project)
            self._fence_ready_t = self.t + GEOFENCE_LOAD_S
            # The loaded mission is checked again against the new fence.
            self._mission_valid_t = max(self._mission_valid_t, self._fence_ready_t)
        elif mission_type == mis.MISSION:
            self._mission_valid_t = max(self.t, self._fence_ready_t)
            self._mission_rtl = False
            current = next((i.seq for i in items if i.current), 0)
            self.mission_current = current if items else 0
            self.mission_state = MISSION_STATE_NOT_STARTED if items else MISSION_STATE_NO_MISSION
            self.reached_seq = -1
            self._jump_counts.clear()
            self._mis_phase = ''
            if self.nav == 'mission':
                self._active = None

    def set_mission_current(self, seq: int) -> bool:
        """Handle MISSION_SET_CURRENT / MAV_CMD_DO_SET_MISSION_CURRENT."""
        items = self.plans[mis.MISSION]
        if not 0 <= seq < len(items):
            return False
        self.mission_current = seq
        if self.mission_state == MISSION_STATE_COMPLETE:
            self.mission_state = MISSION_STATE_NOT_STARTED
        self._mis_phase = ''
        if self.nav == 'mission':
            self._active = None
        return True

    # ------------------------------------------------------------------ the step

    def step(self, dt: float, wall: float) -> None:
        """Advance everything by `dt` simulated seconds.

        :param dt: simulated time step (s).
        :param wall: the wall clock (monotonic s), for link timeouts' wall guard.
        """
        self.t += dt
        self._wall_now = wall
        self._estimator()
        self._battery_step(dt)
        self._datalink(wall)
        self._geofence()
        if self.armed:
            self._failsafe_step(dt, wall)
        self.nav = self._effective_nav()
        self._navigate()
        limits = self._limits
        sp = self._sp
        spooled = self.armed and self.t - self.armed_at >= self._p('COM_SPOOLUP_TIME')
        if not spooled or (self.landed and sp is None):
            sp = None
        wind = (self._p('UFS_WIND_N'), self._p('UFS_WIND_E'))
        self.body.step(dt, sp, limits, wind)
        self._land_detector()

    def _estimator(self) -> None:
        since_change = self.t - self._gps_change_t
        if self.gps_ok:
            valid = self.t >= EKF_READY_S and since_change >= GPS_RECOVERY_S
        else:
            # Dead reckoning until EKF2_NOAID_TOUT, then the global position is invalid.
            valid = self.global_valid and since_change < self._p('EKF2_NOAID_TOUT') * 1e-6
        self.global_valid = valid
        if valid and self.home is None and not self.armed:
            self._set_home_here()

    def _battery_config(self) -> BatteryConfig:
        return BatteryConfig(
            drain_s=self._p('SIM_BAT_DRAIN'),
            min_fraction=self._p('SIM_BAT_MIN_PCT') / 100.0,
            multiplier=self._p('UFS_BAT_MULT'),
            cells=self.params.get_int('BAT1_N_CELLS'),
            v_full=self._p('BAT1_V_CHARGED'),
            v_empty=self._p('BAT1_V_EMPTY'),
            low=self._p('BAT_LOW_THR'),
            critical=self._p('BAT_CRIT_THR'),
            emergency=self._p('BAT_EMERGEN_THR'),
        )

    def _battery_step(self, dt: float) -> None:
        self.battery_cfg = self._battery_config()
        swap_s = self._p('UFS_BAT_SWAP')
        if (
            not self.armed
            and swap_s >= 0.0
            and self.disarmed_at is not None
            and self.t - self.disarmed_at >= swap_s
        ):
            # The ground crew's swap (PX4 SITL's battery simulator: full while disarmed).
            self.disarmed_at = None
            if self.battery.charge < 1.0 or self.battery.warning:
                log.info('%s: battery swapped at %.0f %%', self.name, self.battery.charge * 100)
                self.battery.swap()
                self._reported_warning = WARNING_NONE
        self.battery.step(dt, self.battery_cfg, self.armed, self.body.thrust_ratio)
        level = self.battery.warning
        if level > self._reported_warning:
            if level == WARNING_LOW:
                self.say(CRITICAL, 'Low battery')
            elif level == WARNING_CRITICAL:
                self.say(CRITICAL, 'Critical battery')
            elif level == WARNING_EMERGENCY:
                self.say(CRITICAL, 'System does not support shutdown')
                self.say(EMERGENCY, 'Emergency battery level')
        self._reported_warning = level

    def _datalink(self, wall: float) -> None:
        if not self.gcs_seen or self.gcs_lost:
            return
        late_sim = self.t - self._gcs_last_t > self._p('COM_DL_LOSS_T')
        late_wall = wall - self._gcs_last_wall > WALL_GUARD_S
        if late_sim and late_wall:
            self.gcs_lost = True
            self.say(CRITICAL, 'Connection to ground station lost')

    def _outside_fence(self) -> bool:
        if self.home is None:
            return False
        n, e = self.body.n, self.body.e
        if self.fence and not mis.inside_fence(self.fence, n, e):
            return True
        max_hor = self._p('GF_MAX_HOR_DIST')
        hn, he, hd = self.home_ned
        if max_hor > 0.0 and math.hypot(n - hn, e - he) > max_hor:
            return True
        max_ver = self._p('GF_MAX_VER_DIST')
        return max_ver > 0.0 and hd - self.body.d > max_ver

    def _geofence(self) -> None:
        breached = self.armed and not self.landed and self._outside_fence()
        if breached and not self._geofence_breached:
            self.say(CRITICAL, 'Geofence violation')
        self._geofence_breached = breached

    # ------------------------------------------------------------------ failsafes

    def _failsafe_step(self, dt: float, wall: float) -> None:
        conditions: dict[str, tuple[bool, int, bool, bool]] = {}
        warning = self.battery.warning
        low_act = self.params.get_int('COM_LOW_BAT_ACT')
        worse = warning > self._battery_warning_at_arming
        for level, cause in (
            (WARNING_LOW, 'battery_low'),
            (WARNING_CRITICAL, 'battery_critical'),
            (WARNING_EMERGENCY, 'battery_emergency'),
        ):
            action = _battery_action(low_act if worse else 0, level)
            conditions[cause] = (warning >= level, action, False, True)
        dll = self.params.get_int('NAV_DLL_ACT')
        dll_ignored = self.user_mode == 'land'
        conditions['gcs_link_lost'] = (
            self.gcs_lost and dll != 0 and not dll_ignored,
            {1: A_HOLD, 2: A_RTL, 3: A_LAND, 5: A_TERMINATE, 6: A_DISARM}.get(dll, A_NONE),
            True,
            True,
        )
        gf = self.params.get_int('GF_ACTION')
        conditions['geofence'] = (
            self._geofence_breached,
            {1: A_WARN, 2: A_HOLD, 3: A_RTL, 4: A_TERMINATE, 5: A_LAND}.get(gf, A_NONE),
            True,
            gf in (3, 5),
        )
        obl = self.params.get_int('COM_OBL_RC_ACT')
        offboard_lost = self.user_mode == 'offboard' and self._offboard_lost(wall)
        conditions['offboard_lost'] = (
            offboard_lost,
            {3: A_RTL, 4: A_LAND, 6: A_TERMINATE, 7: A_DISARM}.get(obl, A_HOLD),
            False,
            False,
        )
        position_lost = not self.global_valid and self.user_mode in _GLOBAL_MODES
        conditions['position_lost'] = (position_lost, A_DESCEND, False, False)
        added = False
        for cause, (active, action, sticky, delayable) in conditions.items():
            was = self._conditions.get(cause, False)
            self._conditions[cause] = active
            if active and not was and action > A_NONE and cause not in self._failsafes:
                self._failsafes[cause] = _Failsafe(cause, action, sticky, delayable)
                added = True
                if action >= A_HOLD:
                    self._takeover = False
                if (
                    delayable
                    and action > A_WARN
                    and self._p('COM_FAIL_ACT_T') > 0.1
                    and self._fs_delay <= 0.0
                    and self._fs_effective <= A_WARN
                ):
                    self._fs_delay = self._p('COM_FAIL_ACT_T')
            elif not active and cause in self._failsafes and not self._failsafes[cause].sticky:
                del self._failsafes[cause]
        if cause_offboard := self._failsafes.get('offboard_lost'):
            # PX4 changes the user's intention to the fallback mode, so a returning setpoint
            # stream does not switch back to Offboard.
            self.user_mode = {A_RTL: 'rtl', A_LAND: 'land'}.get(cause_offboard.action, 'hold')
            self._active = None
        self._select_action(dt, added)

    def _select_action(self, dt: float, added: bool) -> None:
        worst = max(self._failsafes.values(), key=lambda f: f.action, default=None)
        selected = worst.action if worst else A_NONE
        self.failsafe_cause = worst.cause if worst else None
        if self._takeover and not added:
            selected = min(selected, A_WARN)
        effective = selected
        delayed = False
        if self._fs_delay > 0.0:
            self._fs_delay = max(self._fs_delay - dt, 0.0)
            if selected > A_WARN and selected not in (A_DISARM, A_TERMINATE):
                if self._fs_delay > 0.0:
                    effective = A_HOLD
                    delayed = selected != A_HOLD
            else:
                self._fs_delay = 0.0
        if effective != self._fs_effective and effective > A_WARN:
            self._active = None  # a failsafe mode starts afresh, e.g. Hold where the vehicle is
        if effective > self._fs_effective:
            if delayed:
                seconds = int(self._fs_delay + 0.5)
                self.say(CRITICAL, f'Failsafe activated: entering Hold for {seconds} seconds')
            elif effective > A_WARN:
                self.say(CRITICAL, 'Failsafe activated')
        self._fs_effective = effective
        if effective in (A_DISARM, A_TERMINATE) and self.armed:
            self.disarm('failsafe', force=True)

    def _effective_nav(self) -> str:
        action = self._fs_effective if self.armed else A_NONE
        if action <= A_WARN:
            nav = self.user_mode
            if nav in _MANUAL_MODES and self.armed:
                return 'hold'
            if nav == 'mission' and self._mission_rtl and self.armed:
                return 'rtl'  # a mission's RTL item, PX4 main's way (UFS_MIS_RTL_MAIN)
            return nav
        if action == A_RTL and self.home is not None and self.global_valid:
            return 'rtl'
        if action in (A_HOLD, A_FALLBACK) and self.global_valid:
            return 'hold'
        if action == A_DESCEND or not self.global_valid:
            return 'descend'
        return 'land'

    # ------------------------------------------------------------------ navigator

    def _navigate(self) -> None:
        if self._active != self.nav:
            self._activate(self.nav)
            self._active = self.nav
        handler = getattr(self, f'_nav_{self.nav}', self._nav_hold)
        handler()

    def _auto_limits(self, speed_xy: float | None = None) -> Limits:
        return Limits(
            speed_xy=min(speed_xy or self._p('MPC_XY_CRUISE'), self._p('MPC_XY_VEL_MAX')),
            speed_up=self._p('MPC_Z_V_AUTO_UP'),
            speed_down=self._p('MPC_Z_V_AUTO_DN'),
            acc_xy=self._p('MPC_ACC_HOR') * AUTO_ACC_FRACTION,
            acc_up=self._p('MPC_ACC_UP_MAX'),
            acc_down=self._p('MPC_ACC_DOWN_MAX'),
            tilt_max_rad=math.radians(self._p('MPC_TILTMAX_AIR')),
            yaw_rate_max=math.radians(self._p('MPC_YAWRAUTO_MAX')),
            pos_gain=self._p('MPC_XY_TRAJ_P'),
            jerk=self._p('MPC_JERK_AUTO'),
        )

    def _brake_point(self) -> tuple[float, float, float]:
        b = self.body
        acc = max(self._p('MPC_ACC_HOR'), 0.5)
        speed = b.ground_speed
        stop = speed * speed / (2.0 * acc)
        if speed > 0.1:
            return b.n + b.vn / speed * stop, b.e + b.ve / speed * stop, b.d
        return b.n, b.e, b.d

    def _activate(self, nav: str) -> None:
        b = self.body
        self._limits = self._auto_limits()
        if nav != 'mission' and self.mission_state == MISSION_STATE_ACTIVE:
            self.mission_state = MISSION_STATE_PAUSED
        if nav == 'hold':
            if not self._reposition_pending:
                self._hold_target = self._brake_point()
                self._hold_speed = None
            self._reposition_pending = False
        elif nav == 'takeoff':
            if self._takeoff_goal is None:
                self._takeoff_goal = (b.n, b.e, self.home_ned[2] - self._p('MIS_TAKEOFF_ALT'))
            self._hold_target = self._takeoff_goal
        elif nav in ('land', 'descend'):
            n, e, _ = self._brake_point()
            self._land_target = (n, e)
        elif nav == 'rtl':
            self._rtl_phase = ''
        elif nav == 'mission':
            self._mis_phase = ''

    def _set(self, kind: str, sp: Setpoint | None, limits: Limits | None = None) -> None:
        self._sp_kind = kind
        self._sp = sp
        if limits is not None:
            self._limits = limits

    def _heading_to(self, n: float, e: float, fallback: float | None = None) -> float | None:
        dn = n - self.body.n
        de = e - self.body.e
        if math.hypot(dn, de) < 2.0:
            return fallback
        return math.atan2(de, dn)

    def _nav_hold(self) -> None:
        if self.landed or not self.armed:
            self._set('idle', None)
            return
        n, e, d = self._hold_target
        self._set(
            'position',
            Setpoint(position=(n, e, d), yaw=self._heading_to(n, e)),
            self._auto_limits(self._hold_speed),
        )

    def _nav_takeoff(self) -> None:
        if not self.armed:
            self._set('idle', None)
            return
        n, e, d = self._hold_target
        if not self.landed and abs(self.body.d - d) < self._p('NAV_MC_ALT_RAD'):
            # Takeoff done: PX4 continues in Hold at the takeoff point.
            self._hold_speed = None
            self._takeoff_goal = None
            self._user_mode_changed('hold')
            self._active = 'hold'
            self.nav = 'hold'
            self._hold_target = (n, e, d)
            self._nav_hold()
            return
        if self.body.d < d - self._p('NAV_MC_ALT_RAD') and not self.landed:
            self.say(INFO, 'Already higher than takeoff altitude')
            self._takeoff_goal = None
            self._user_mode_changed('hold')
            return
        self._set('takeoff', Setpoint(position=(n, e, d)), self._takeoff_limits())

    def _takeoff_limits(self) -> Limits:
        """Return PX4's takeoff limits: no lift during the ramp, MPC_TKO_SPEED near the ground."""
        limits = self._auto_limits()
        if self.landed or self.t - self.armed_at < self._takeoff_ramp_end():
            # PX4 ramps the thrust up over MPC_TKO_RAMP_T; the vehicle lifts off at its end.
            limits.speed_up = 0.0
        elif -self.body.d + self.home_ned[2] < self._p('MPC_LAND_ALT1'):
            limits.speed_up = min(limits.speed_up, self._p('MPC_TKO_SPEED'))
        return limits

    def _takeoff_ramp_end(self) -> float:
        return self._p('COM_SPOOLUP_TIME') + self._p('MPC_TKO_RAMP_T')

    def _land_setpoint(self, n: float, e: float) -> None:
        height = -self.body.d
        alt1 = self._p('MPC_LAND_ALT1')
        alt2 = self._p('MPC_LAND_ALT2')
        slow = self._p('MPC_LAND_SPEED')
        fast = self._p('MPC_Z_V_AUTO_DN')
        crawl = self._p('MPC_LAND_CRWL')
        if height <= self._p('MPC_LAND_ALT3') and 0.0 < crawl < slow:
            speed = crawl
        elif height <= alt2:
            speed = slow
        elif height >= alt1 or alt1 <= alt2:
            speed = fast
        else:
            speed = slow + (fast - slow) * (height - alt2) / (alt1 - alt2)
        limits = self._auto_limits()
        limits.speed_down = max(speed, crawl)
        hold = self.nav != 'descend' and self.global_valid
        pos = (n, e, None) if hold else (None, None, None)
        self._set(
            'land', Setpoint(position=pos, velocity=(None, None, speed), hold_xy=hold), limits
        )

    def _nav_land(self) -> None:
        if self.landed or not self.armed:
            self._set('idle', None)
            return
        self._land_setpoint(*self._land_target)

    def _nav_descend(self) -> None:
        self._nav_land()

    def _nav_rtl(self) -> None:
        if self.landed or not self.armed:
            self._set('idle', None)
            return
        b = self.body
        if not self._rtl_phase:
            self._rtl_start()
        dn, de = self._rtl_dest
        if self._rtl_phase == 'climb':
            if b.d <= self._rtl_d + self._p('NAV_MC_ALT_RAD'):
                self._rtl_phase = 'return'
            else:
                self._set(
                    'position', Setpoint(position=(b.n, b.e, self._rtl_d)), self._auto_limits()
                )
                return
        if self._rtl_phase == 'return':
            near = math.hypot(dn - b.n, de - b.e) <= self._p('NAV_ACC_RAD')
            if near and b.ground_speed <= RTL_STOPPED_SPEED:
                self._rtl_phase = 'land'
                self.say(INFO, 'RTL: land at destination')
            else:
                self._set(
                    'position',
                    Setpoint(position=(dn, de, self._rtl_d), yaw=self._heading_to(dn, de)),
                    self._auto_limits(),
                )
                return
        self._land_setpoint(dn, de)

    def _rtl_start(self) -> None:
        b = self.body
        hn, he, _ = self.home_ned
        dest = (hn, he)
        for item in self.plans[mis.RALLY]:
            rn, re_, _ = self.to_local(item.lat_deg, item.lon_deg, 0.0)
            if math.hypot(rn - b.n, re_ - b.e) < math.hypot(dest[0] - b.n, dest[1] - b.e):
                dest = (rn, re_)
        self._rtl_dest = dest
        dist = math.hypot(dest[0] - b.n, dest[1] - b.e)
        current = -b.d - (-self.home_ned[2])  # height above the destination (flat ground)
        if dist <= self._p('RTL_MIN_DIST'):
            ret = current
        else:
            ret = self._p('RTL_RETURN_ALT')
            cone = self._p('RTL_CONE_ANG')
            if 0.0 < cone < 90.0:
                ret = min(
                    ret, max(self._p('RTL_DESCEND_ALT'), dist / math.tan(math.radians(cone)))
                )
        ret = max(ret, current)
        self._rtl_d = self.home_ned[2] - ret
        self._rtl_phase = 'climb'
        amsl = self.home_alt + ret
        self.say(INFO, f'RTL: start return at {round(amsl)} m ({round(ret)} m above destination)')

    def _nav_offboard(self) -> None:
        sp = self.offboard_sp
        if sp is None or not self.armed:
            self._set('idle', None)
            return
        wants_air = (sp.position[2] is not None and sp.position[2] < -0.3) or (
            sp.velocity[2] is not None and sp.velocity[2] < -0.1
        )
        if self.landed and not wants_air:
            self._set('idle', None)
            return
        limits = Limits(
            speed_xy=self._p('MPC_XY_VEL_MAX'),
            speed_up=self._p('MPC_Z_VEL_MAX_UP'),
            speed_down=self._p('MPC_Z_VEL_MAX_DN'),
            acc_xy=self._p('MPC_ACC_HOR_MAX'),
            acc_up=self._p('MPC_ACC_UP_MAX'),
            acc_down=self._p('MPC_ACC_DOWN_MAX'),
            tilt_max_rad=math.radians(self._p('MPC_TILTMAX_AIR')),
            yaw_rate_max=math.radians(self._p('MPC_MAN_Y_MAX')),
        )
        self._set(
            'velocity' if sp.position == (None, None, None) else 'position',
            Setpoint(position=sp.position, velocity=sp.velocity, yaw=sp.yaw, yaw_rate=sp.yaw_rate),
            limits,
        )

    # ------------------------------------------------------------------ mission execution

    def _nav_mission(self) -> None:
        items = self.plans[mis.MISSION]
        if not self.armed or not items:
            self._set('idle', None)
            return
        if not self._mis_phase:
            self._mission_begin(items)
        for _ in range(len(items) + 1):  # DO items advance without flying
            if not self._mission_run(items):
                break

    def _mission_begin(self, items: list[mis.MissionItem]) -> None:
        if self.mission_state == MISSION_STATE_COMPLETE:
            if not self.landed:
                self._mis_phase = 'done'
                self._hold_target = self._brake_point()
                return
            self.mission_current = 0
            self._jump_counts.clear()
        self.mission_state = MISSION_STATE_ACTIVE
        self._mis_speed = None
        self.say(INFO, 'Executing Mission')
        self._mis_phase = 'item'
        self._mis_target = None
        if self.landed:
            first = items[self.mission_current]
            if first.command != mis.NAV_TAKEOFF:
                nav_item = next(
                    (
                        i
                        for i in items[self.mission_current :]
                        if i.command in mis.NAV_POSITION_COMMANDS
                    ),
                    None,
                )
                height = self._p('MIS_TAKEOFF_ALT')
                if nav_item is not None and math.isfinite(nav_item.z):
                    height = max(height, self._item_alt(nav_item) - self.home_alt)
                self.say(INFO, f'Climb to {height:.1f} meters above home')
                self._hold_target = (self.body.n, self.body.e, self.home_ned[2] - height)
                self._mis_phase = 'climb'

    def _item_alt(self, item: mis.MissionItem) -> float:
        if not math.isfinite(item.z):
            return self.alt_amsl
        return self.home_alt + item.z if item.relative_alt else item.z

    def _reached(self, seq: int) -> None:
        self.reached_seq = seq
        self.reached_count += 1

    def _advance(self, items: list[mis.MissionItem]) -> bool:
        """Go to the next item; return False when the mission is over."""
        self._mis_target = None
        self._mis_wait_until = -1.0
        if self.mission_current + 1 >= len(items):
            self._mission_finished()
            return False
        self.mission_current += 1
        return True

    def _mission_finished(self) -> None:
        self.mission_state = MISSION_STATE_COMPLETE
        self._mis_phase = 'done'
        self._hold_target = self._brake_point()
        self.say(INFO, 'Mission finished, loitering')

    def _mission_run(self, items: list[mis.MissionItem]) -> bool:
        """Execute the current item for one step; return True to go on with the next at once."""
        b = self.body
        limits = self._auto_limits(self._mis_speed)
        if self._mis_phase == 'done':
            n, e, d = self._hold_target
            if self.landed:
                self._set('idle', None)
            else:
                self._set('position', Setpoint(position=(n, e, d)), limits)
            return False
        if self._mis_phase == 'climb':
            n, e, d = self._hold_target
            if b.d <= d + self._p('NAV_MC_ALT_RAD') and not self.landed:
                self._mis_phase = 'item'
            else:
                self._set('takeoff', Setpoint(position=(n, e, d)), self._takeoff_limits())
                return False
        item = items[self.mission_current]
        cmd = item.command
        if cmd == mis.DO_CHANGE_SPEED:
            if math.isfinite(item.param2) and item.param2 > 0.0:
                self._mis_speed = min(item.param2, self._p('MPC_XY_VEL_MAX'))
            self._reached(item.seq)
            return self._advance(items)
        if cmd == mis.DO_JUMP:
            done = self._jump_counts.get(item.seq, 0)
            if item.param2 < 0 or done < item.param2:
                self._jump_counts[item.seq] = done + 1
                self.mission_current = int(item.param1)
                self._mis_target = None
                return True
            return self._advance(items)
        if cmd == mis.NAV_DELAY:
            if self._mis_wait_until < 0.0:
                self._mis_wait_until = self.t + max(item.param1, 0.0)
            self._hold_here(limits)
            if self.t >= self._mis_wait_until:
                self._reached(item.seq)
                return self._advance(items)
            return False
        if cmd in mis.PASSIVE_DO_COMMANDS:
            self._reached(item.seq)
            return self._advance(items)
        if cmd == mis.NAV_RETURN_TO_LAUNCH:
            if self.params.get_int('UFS_MIS_RTL_MAIN'):
                # PX4 main: the navigator returns on its own; the user still wants Mission.
                self.mission_current = item.seq
                self._mis_phase = 'done'
                self._mission_rtl = True
                self.say(INFO, 'Returning to launch')
                return False
            self._reached(item.seq)
            self.mission_state = MISSION_STATE_COMPLETE
            self._mis_phase = 'done'
            self.say(INFO, 'Mission finished, loitering')
            self._user_mode_changed('rtl')
            self.say(INFO, 'Returning to launch')
            return False
        return self._fly_item(item, items, limits)

    def _hold_here(self, limits: Limits) -> None:
        if self._mis_target is None:
            self._mis_target = self._brake_point()
        n, e, d = self._mis_target
        if self.landed:
            self._set('idle', None)
        else:
            self._set('position', Setpoint(position=(n, e, d)), limits)

    def _fly_item(
        self, item: mis.MissionItem, items: list[mis.MissionItem], limits: Limits
    ) -> bool:
        b = self.body
        cmd = item.command
        if self._mis_target is None:
            if cmd == mis.NAV_TAKEOFF:
                n, e = b.n, b.e
            elif item.has_position:
                n, e, _ = self.to_local(item.lat_deg, item.lon_deg, 0.0)
            else:
                n, e = b.n, b.e
            d = b.d if cmd == mis.NAV_LAND else self.origin.alt_m - self._item_alt(item)
            self._mis_target = (n, e, d)
            self._mis_leg_start = (b.n, b.e)
            self._mis_wait_until = -1.0
        n, e, d = self._mis_target
        if cmd == mis.NAV_TAKEOFF:
            if b.d <= d + self._p('NAV_MC_ALT_RAD') and not self.landed:
                self._reached(item.seq)
                return self._advance(items)
            self._set('takeoff', Setpoint(position=(n, e, d)), self._takeoff_limits())
            return False
        horizontal = math.hypot(n - b.n, e - b.e)
        radius = self._p('NAV_ACC_RAD')
        if cmd == mis.NAV_WAYPOINT and item.param2 > 0.0:
            radius = item.param2
        if cmd == mis.NAV_LAND:
            if self.landed:
                self._reached(item.seq)
                self.mission_state = MISSION_STATE_COMPLETE
                self._mis_phase = 'done'
                return False
            if horizontal <= radius or self._mis_wait_until == 0.0:
                self._mis_wait_until = 0.0  # descending
                self._land_setpoint(n, e)
                return False
            self._set(
                'position', Setpoint(position=(n, e, b.d), yaw=self._heading_to(n, e)), limits
            )
            return False
        arrived = horizontal <= radius and abs(b.d - d) <= self._p('NAV_MC_ALT_RAD')
        yaw = math.radians(item.param4) if math.isfinite(item.param4) else None
        if arrived and self._mis_wait_until < 0.0:
            if cmd == mis.NAV_LOITER_UNLIM:
                self._reached(item.seq)
                self._mis_wait_until = math.inf
            else:
                hold = item.param1 if cmd in (mis.NAV_WAYPOINT, mis.NAV_LOITER_TIME) else 0.0
                self._mis_wait_until = self.t + max(hold if math.isfinite(hold) else 0.0, 0.0)
        if self._mis_wait_until >= 0.0 and self.t >= self._mis_wait_until:
            self._reached(item.seq)
            return self._advance(items)
        heading = yaw if yaw is not None else self._heading_to(n, e)
        corner = self._corner_speed(item, items, (n, e), radius, limits)
        sp = Setpoint(position=(n, e, d), yaw=heading, speed_at_target=corner)
        self._set('position', sp, limits)
        return False

    def _corner_speed(
        self,
        item: mis.MissionItem,
        items: list[mis.MissionItem],
        target: tuple[float, float],
        radius: float,
        limits: Limits,
    ) -> float:
        """Return the speed PX4 keeps through waypoint `item` toward the next one (m/s).

        PX4's trajectory generator (computeMaxSpeedInWaypoint) passes a waypoint at the speed
        whose centripetal acceleration turns it within the acceptance radius: sqrt(a r
        tan(alpha / 2)), alpha the angle between the legs (180 degrees: straight on). It stops
        at a waypoint with a hold time and at the last one.
        """
        if item.command != mis.NAV_WAYPOINT or (math.isfinite(item.param1) and item.param1 > 0):
            return 0.0
        nxt = next(
            (
                i
                for i in items[self.mission_current + 1 :]
                if i.command in mis.NAV_POSITION_COMMANDS or i.command == mis.NAV_RETURN_TO_LAUNCH
            ),
            None,
        )
        if nxt is None or nxt.command != mis.NAV_WAYPOINT or not nxt.has_position:
            return 0.0
        nn, ne, _ = self.to_local(nxt.lat_deg, nxt.lon_deg, 0.0)
        start = self._mis_leg_start
        back = (start[0] - target[0], start[1] - target[1])
        ahead = (nn - target[0], ne - target[1])
        norms = math.hypot(*back) * math.hypot(*ahead)
        if norms < 1e-6:
            return 0.0
        cos_alpha = (back[0] * ahead[0] + back[1] * ahead[1]) / norms
        alpha = math.acos(min(max(cos_alpha, -1.0), 1.0))
        if alpha >= math.pi - 1e-3:
            return limits.speed_xy
        return min(limits.speed_xy, math.sqrt(limits.acc_xy * radius * math.tan(alpha / 2.0)))

    # ------------------------------------------------------------------ land detector

    def _land_detector(self) -> None:
        b = self.body
        if not self.armed:
            if b.on_ground and not self.landed:
                self.landed = True
                self._ground_since = None
            return
        if self.landed:
            spooled = self.t - self.armed_at >= self._p('COM_SPOOLUP_TIME')
            # PX4's land detector lets go as soon as the takeoff ramp raises the thrust.
            ramping = spooled and self._sp_kind == 'takeoff'
            if ramping or (not b.on_ground and -b.d > 0.1):
                self.landed = False
                if not self._took_off:
                    self._took_off = True
                    self.say(INFO, 'Takeoff detected')
            elif self.t - self.armed_at > self._p('COM_DISARM_PRFLT') > 0.0 and not self._took_off:
                self.disarm('auto preflight disarming', force=True)
            elif self._took_off and self.t - self._landed_at > self._p('COM_DISARM_LAND') > 0.0:
                self.disarm('landing', force=True)
            return
        if b.on_ground and self._sp_kind != 'takeoff':
            delay = LAND_THRUST_DECAY_S + 3.0 * self._p('LNDMC_TRIG_TIME')
            if self._ground_since is None:
                self._ground_since = self.t
            elif self.t - self._ground_since >= delay:
                self.landed = True
                self._landed_at = self.t
                self._ground_since = None
                self.say(INFO, 'Landing detected')
        else:
            self._ground_since = None


def _battery_action(low_bat_act: int, level: int) -> int:
    """Return PX4's failsafe action for a battery warning (fromBatteryWarningActParam)."""
    if level == WARNING_LOW:
        return A_WARN
    if level == WARNING_CRITICAL:
        return {1: A_RTL, 2: A_LAND, 3: A_RTL}.get(low_bat_act, A_WARN)
    return {1: A_RTL, 2: A_LAND, 3: A_LAND}.get(low_bat_act, A_WARN)
