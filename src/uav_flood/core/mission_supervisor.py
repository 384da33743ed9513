"""The mission state machine of one vehicle, its retries and readiness (no rclpy, no MAVLink).

flight_control feeds the supervisor what happens (a path arrived, an upload started or failed, the
autopilot flies the mission) and publishes `state` on its status topic; the swarm coordinator reads
it back (core.coverage.progress). Every failure ends in an explicit state with a reason:
`refused` (flight_control's own checks said no), `failed` (the autopilot did not take the mission
or did not start it, after the retries below).

Retries follow what a real PX4 does (shared/px4_reference, fence-autostart and boot): right after
boot it answers arming with MAV_RESULT_TEMPORARILY_REJECTED for about 4 s while its health checks
settle, and after a geofence and mission upload it refuses Mission mode ("Switching to Mission is
currently not available") until its navigator has checked the mission against the loaded fence,
a few hundred milliseconds later. Both are transient; an upload that times out on a lossy link is
transient too. `is_transient` tells them from real refusals, and `RetryPolicy` spaces the attempts.

    state        what it means                                        next
    none         no path yet                                          pending, refused
    pending      a valid path waits for the autopilot (link, home)    uploading, refused, pending
    uploading    geofence and mission on their way (with retries)     uploaded, failed, refused
    uploaded     the autopilot has the mission                        starting, active, completed
    starting     arming and switching to Mission (with retries)       active, completed, failed
    active       the autopilot flies the mission                      completed
    completed    every waypoint reached                               pending
    refused      flight_control refused the path (last_refusal)       pending
    failed       upload or start failed after retries (last_refusal)  pending

A new path can arrive in any state (pending or refused next), and a mission that has been
uploaded can be started by hand (the start_mission service) from any state after uploaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import enum
import threading
from typing import Generic, TypeVar

from uav_flood.core.errors import UavFloodError

T = TypeVar('T')


class MissionState(enum.Enum):
    """Where one vehicle's mission is; the value is what the status topic carries."""

    NONE = 'none'
    PENDING = 'pending'
    UPLOADING = 'uploading'
    UPLOADED = 'uploaded'
    STARTING = 'starting'
    ACTIVE = 'active'
    COMPLETED = 'completed'
    REFUSED = 'refused'
    FAILED = 'failed'


#: States that show flight_control has taken the path last sent to it.
ACK_STATES = frozenset(
    {
        MissionState.PENDING,
        MissionState.UPLOADING,
        MissionState.UPLOADED,
        MissionState.STARTING,
        MissionState.REFUSED,
        MissionState.FAILED,
    }
)
#: States after which the vehicle will not fly the path it was given.
FAILED_STATES = frozenset({MissionState.REFUSED, MissionState.FAILED})
#: States in which the autopilot holds the current plan (progress refers to it).
STARTED_STATES = frozenset({MissionState.STARTING, MissionState.ACTIVE, MissionState.COMPLETED})

_ALWAYS = frozenset({MissionState.PENDING, MissionState.REFUSED})
_TRANSITIONS: dict[MissionState, frozenset[MissionState]] = {
    MissionState.NONE: _ALWAYS,
    MissionState.PENDING: _ALWAYS | {MissionState.UPLOADING},
    MissionState.UPLOADING: _ALWAYS | {MissionState.UPLOADED, MissionState.FAILED},
    MissionState.UPLOADED: _ALWAYS
    | {MissionState.STARTING, MissionState.ACTIVE, MissionState.COMPLETED, MissionState.FAILED},
    MissionState.STARTING: _ALWAYS
    | {MissionState.ACTIVE, MissionState.COMPLETED, MissionState.FAILED},
    MissionState.ACTIVE: _ALWAYS | {MissionState.STARTING, MissionState.COMPLETED},
    MissionState.COMPLETED: _ALWAYS | {MissionState.STARTING},
    MissionState.REFUSED: _ALWAYS | {MissionState.STARTING},
    MissionState.FAILED: _ALWAYS | {MissionState.STARTING},
}


class TransitionError(UavFloodError):
    """A mission state change that the state machine does not allow (a bug in the caller)."""


class MissionSupervisor(Generic[T]):
    """The mission state of one vehicle, thread-safe (a worker and a timer both write it).

    :param T: the type of the uploaded plan (core.mission.MissionPlan in flight_control).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = MissionState.NONE
        self._plan: T | None = None
        self._last_refusal = ''
        self._attempts = 0
        self._retrying = ''

    # -- what it knows ------------------------------------------------------------------------

    @property
    def state(self) -> MissionState:
        """Return the current state."""
        with self._lock:
            return self._state

    @property
    def plan(self) -> T | None:
        """Return the plan the autopilot holds (None before the first successful upload)."""
        with self._lock:
            return self._plan

    @property
    def last_refusal(self) -> str:
        """Return the last refusal or failure, in words ('' if none yet)."""
        with self._lock:
            return self._last_refusal

    @property
    def attempts(self) -> int:
        """Return how many attempts the last upload or start took (0 before any)."""
        with self._lock:
            return self._attempts

    @property
    def retrying(self) -> str:
        """Return the retry in progress, e.g. 'mission upload attempt 2: timeout' ('' if none)."""
        with self._lock:
            return self._retrying

    def snapshot(self) -> tuple[MissionState, T | None, str]:
        """Return (state, plan, last_refusal) read together."""
        with self._lock:
            return self._state, self._plan, self._last_refusal

    # -- what happens -------------------------------------------------------------------------

    def _go(self, state: MissionState) -> None:
        # Under the lock.
        if state is not self._state and state not in _TRANSITIONS[self._state]:
            raise TransitionError(f'mission state {self._state.value} -> {state.value}')
        self._state = state
        self._retrying = ''

    def path_received(self) -> None:
        """Record a valid path waiting to be uploaded."""
        with self._lock:
            self._go(MissionState.PENDING)

    def refuse(self, reason: str, prefix: str = 'mission refused') -> None:
        """Record that flight_control refused a path (state refused)."""
        with self._lock:
            self._go(MissionState.REFUSED)
            self._last_refusal = f'{prefix}: {reason}'

    def upload_started(self) -> None:
        """Record that the upload of the pending path has begun."""
        with self._lock:
            self._go(MissionState.UPLOADING)

    def uploaded(self, plan: T, attempts: int = 1) -> None:
        """Record that the autopilot accepted `plan` (after `attempts` tries)."""
        with self._lock:
            self._go(MissionState.UPLOADED)
            self._plan = plan
            self._attempts = attempts

    def fail(self, reason: str) -> None:
        """Record that the upload or the start failed for good (state failed)."""
        with self._lock:
            self._go(MissionState.FAILED)
            self._last_refusal = reason

    def note_refusal(self, reason: str) -> None:
        """Record a refusal that does not change the state (a service answered 'no')."""
        with self._lock:
            self._last_refusal = reason

    def note_retry(self, text: str) -> None:
        """Record a retry in progress (cleared by the next state change or `started`)."""
        with self._lock:
            self._retrying = text

    def start_requested(self) -> None:
        """Record that the mission is being started (arming, switching to Mission)."""
        with self._lock:
            if self._plan is None:
                raise TransitionError('no mission uploaded to start')
            self._go(MissionState.STARTING)

    def started(self, attempts: int) -> None:
        """Record how many attempts the start took (the state follows the autopilot)."""
        with self._lock:
            self._attempts = attempts
            self._retrying = ''

    def observe(self, plan: T, flying_mission: bool, all_reached: bool) -> MissionState | None:
        """Follow the autopilot: the mission is active once it flies it, completed at the end.

        :param plan: the plan the observation refers to (ignored if it was replaced meanwhile).
        :param flying_mission: the vehicle is armed in Mission mode.
        :param all_reached: every waypoint of `plan` has been reached.
        :return: the new state if it changed, else None.
        """
        with self._lock:
            if self._plan is not plan:
                return None
            before = self._state
            if all_reached and before in (
                MissionState.UPLOADED,
                MissionState.STARTING,
                MissionState.ACTIVE,
            ):
                self._state = MissionState.COMPLETED
            elif flying_mission and before in (MissionState.UPLOADED, MissionState.STARTING):
                self._state = MissionState.ACTIVE
            return self._state if self._state is not before else None


# -- retries -----------------------------------------------------------------------------------

#: Autopilot error codes (MAVSDK's result names) of refusals that pass by themselves: PX4's
#: MAV_RESULT_TEMPORARILY_REJECTED (which MAVSDK's action plugin reports as COMMAND_DENIED and
#: its mission plugin as DENIED), a busy or silent autopilot, a lost packet.
TRANSIENT_COMMAND_CODES = frozenset(
    {
        'TEMPORARILY_REJECTED',
        'COMMAND_DENIED',
        'DENIED',
        'BUSY',
        'TIMEOUT',
        'CONNECTION_ERROR',
        'NO_SYSTEM',
        'NOT_CONNECTED',
    }
)
#: Upload failures that a new attempt may cure: the mission protocol timed out or lost its
#: place (lost packets), the autopilot was busy with another transfer, or the link dropped.
TRANSIENT_UPLOAD_CODES = frozenset(
    {
        'TIMEOUT',
        'PROTOCOL_ERROR',
        'TRANSFER_CANCELLED',
        'BUSY',
        'DENIED',
        'CONNECTION_ERROR',
        'NO_SYSTEM',
        'NOT_CONNECTED',
        'INVALID_SEQUENCE',
    }
)


def is_transient(code: str | None, upload: bool = False) -> bool:
    """Return whether a refusal or failure with this code may pass if tried again.

    :param code: the autopilot layer's error code (AutopilotError.code), None if unknown.
    :param upload: the failure is a mission or geofence upload (else a command).
    """
    if code is None:
        return False
    return code in (TRANSIENT_UPLOAD_CODES if upload else TRANSIENT_COMMAND_CODES)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: how long to wait before each new attempt.

    :param attempts: most attempts in all, the first included (>= 1).
    :param first_delay_s: wait before the second attempt (s).
    :param factor: each later wait is this many times the one before (>= 1).
    :param max_delay_s: no wait is longer than this (s).
    :param deadline_s: no attempt starts later than this after the first (s).
    """

    attempts: int
    first_delay_s: float
    factor: float = 2.0
    max_delay_s: float = 5.0
    deadline_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f'attempts must be >= 1, got {self.attempts}')
        if not (self.first_delay_s >= 0.0 and self.factor >= 1.0 and self.max_delay_s >= 0.0):
            raise ValueError('delays must be >= 0 and the factor >= 1')

    def delays(self) -> Iterator[float]:
        """Yield the wait before each attempt after the first, within attempts and deadline."""
        delay = self.first_delay_s
        elapsed = 0.0
        for _ in range(self.attempts - 1):
            wait = min(delay, self.max_delay_s)
            if elapsed + wait > self.deadline_s:
                return
            elapsed += wait
            yield wait
            delay *= self.factor


#: Geofence and mission uploads: 4 attempts over about 7 s (MAVSDK's own protocol timeouts and
#: retransmissions come inside each attempt).
UPLOAD_RETRY = RetryPolicy(attempts=4, first_delay_s=1.0, factor=2.0, max_delay_s=4.0)
#: Arming and starting: PX4's boot-time refusals last about 4 s and the mission check after a
#: fence upload under a second; 30 s covers a slow SITL start with margin.
START_RETRY = RetryPolicy(
    attempts=40, first_delay_s=0.25, factor=1.5, max_delay_s=2.0, deadline_s=30.0
)


# -- readiness ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    """Whether the vehicle can be armed now, and why not.

    :param ready: the autopilot's pre-arm checks pass.
    :param reason: why not, in the autopilot's words where it gave them ('' when ready).
    """

    ready: bool
    reason: str = ''


def readiness(
    armable: bool, global_position_ok: bool, home_set: bool, last_denial: str = ''
) -> Readiness:
    """Return whether a vehicle is ready to arm, with the most useful reason when it is not.

    :param armable: the autopilot's pre-arm checks pass (PX4: SYS_STATUS PREARM_CHECK healthy).
    :param global_position_ok: the estimator has a global position.
    :param home_set: the autopilot has a home position.
    :param last_denial: the autopilot's last arming refusal text, e.g. 'Arming denied: Resolve
        system health failures first' ('' if none).
    """
    if armable:
        return Readiness(True)
    reasons = []
    if not global_position_ok:
        reasons.append('no global position estimate yet')
    if not home_set:
        reasons.append('no home position yet')
    if last_denial:
        reasons.append(f'PX4: {last_denial}')
    if not reasons:
        reasons.append('pre-arm checks failing')
    return Readiness(False, '; '.join(reasons))
