"""The one small interface flight_control talks to, whatever autopilot answers.

Everything here is ROS-side vocabulary: positions in WGS84, attitude as an ENU/FLU quaternion,
flight modes by what they do (`FlightMode.RETURN`), not by PX4's custom-mode encoding. NED, FRD
and PX4's mode numbers stay inside the implementations (see mavsdk_autopilot.py, frames.py).

Commands are blocking: they return when the autopilot has accepted them and raise
AutopilotError (with the autopilot's reason) when it has not. Callers that must stay responsive
run them on a worker thread (the node does).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
import enum

from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.mission import MissionPlan
from uav_flood.core.rotation import Quaternion as Quaternion  # the type of Telemetry.attitude


class AutopilotError(UavFloodError):
    """The autopilot refused a command, or did not answer.

    :param message: the reason in words, e.g. 'denied by the autopilot: Arming denied: ...'.
    :param code: a short machine-readable cause ('COMMAND_DENIED', 'TIMEOUT', ...), if known.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class NotConnectedError(AutopilotError):
    """A command was given before the autopilot was connected (or after the link was lost)."""

    def __init__(self, message: str = 'not connected to the autopilot') -> None:
        super().__init__(message, 'NOT_CONNECTED')


class FlightMode(enum.Enum):
    """What the autopilot is doing, named by behaviour (PX4's modes map onto these)."""

    UNKNOWN = 'unknown'
    MANUAL = 'manual'
    STABILIZED = 'stabilized'
    ACRO = 'acro'
    ALTITUDE = 'altitude'
    POSITION = 'position'
    OFFBOARD = 'offboard'
    READY = 'ready'
    TAKEOFF = 'takeoff'
    HOLD = 'hold'
    MISSION = 'mission'
    RETURN = 'return'
    LAND = 'land'


class LandedState(enum.Enum):
    """Whether the vehicle is on the ground, in the air, or between the two."""

    UNKNOWN = 'unknown'
    ON_GROUND = 'on_ground'
    TAKING_OFF = 'taking_off'
    IN_AIR = 'in_air'
    LANDING = 'landing'


class Severity(enum.IntEnum):
    """MAVLink STATUSTEXT severities (MAV_SEVERITY), lower is worse."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


@dataclass(frozen=True)
class StatusText:
    """A text message from the autopilot (PX4's STATUSTEXT).

    :param severity: how bad it is.
    :param text: the message, e.g. 'Failsafe activated: entering Hold for 5 seconds'.
    :param stamp_s: when it arrived (s, time.monotonic()).
    """

    severity: Severity
    text: str
    stamp_s: float


@dataclass(frozen=True)
class Telemetry:
    """A consistent snapshot of everything the autopilot reported so far.

    :param discovered: an autopilot has been heard on the connection at least once.
    :param last_message_s: when the last MAVLink message arrived (s, time.monotonic()).
    :param position: global position (WGS84, altitude AMSL), None before the first fix.
    :param attitude: body orientation, base_link FLU relative to map ENU; None before the first.
    :param armed: motors armed.
    :param flight_mode: what the autopilot is doing.
    :param landed_state: on the ground, in the air, taking off or landing.
    :param battery_remaining: state of charge (0..1), None before the first report.
    :param battery_voltage_v: battery voltage (V), None before the first report.
    :param home: the home position PX4 will return to (WGS84), None until it is set.
    :param global_position_ok: the estimator has a usable global position.
    :param armable: the autopilot's pre-arm checks pass.
    :param failsafe: the autopilot says it is in a failsafe (HEARTBEAT state critical/emergency).
    :param mission_current: sequence number of the mission item being flown (-1: none).
    :param mission_total: number of items in the autopilot's current mission.
    :param mission_reached: sequence numbers of the mission items reached, in order, since the
        last upload (repeats removed).
    """

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
    mission_reached: tuple[int, ...] = field(default_factory=tuple)

    @property
    def in_air(self) -> bool:
        """Return True when the vehicle is airborne (or taking off or landing)."""
        return self.landed_state in (
            LandedState.IN_AIR,
            LandedState.TAKING_OFF,
            LandedState.LANDING,
        )


class Autopilot(abc.ABC):
    """A connection to one autopilot: telemetry snapshot plus blocking commands."""

    @abc.abstractmethod
    def connect(self, url: str) -> None:
        """Open the connection and start looking for the autopilot; return at once.

        :param url: e.g. 'udpin://0.0.0.0:14540' or 'serial:///dev/ttyTHS1:921600'.
        :raises AutopilotError: the URL is malformed or the port/device cannot be opened.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection and stop every background thread; idempotent."""

    @abc.abstractmethod
    def telemetry(self) -> Telemetry:
        """Return the latest telemetry snapshot (thread-safe, never blocks for long)."""

    @abc.abstractmethod
    def status_texts(self) -> list[StatusText]:
        """Return and forget the autopilot's text messages received since the last call."""

    @abc.abstractmethod
    def arm(self) -> None:
        """Arm the motors."""

    @abc.abstractmethod
    def disarm(self) -> None:
        """Disarm the motors (the autopilot refuses in flight)."""

    @abc.abstractmethod
    def takeoff(self, altitude_m: float) -> None:
        """Take off vertically to `altitude_m` above home (m) and hold there."""

    @abc.abstractmethod
    def land(self) -> None:
        """Land where the vehicle is."""

    @abc.abstractmethod
    def return_to_launch(self) -> None:
        """Fly home and land (PX4's RTL)."""

    @abc.abstractmethod
    def hold(self) -> None:
        """Stop and hover where the vehicle is."""

    @abc.abstractmethod
    def upload_mission(self, plan: MissionPlan) -> None:
        """Replace the autopilot's mission with `plan` (does not start it)."""

    @abc.abstractmethod
    def holds_mission(self, plan: MissionPlan) -> bool:
        """Return whether the autopilot's mission is `plan`, item by item (downloaded).

        A restarted flight_control takes up the mission a flying vehicle is on this way,
        instead of uploading it again (which would restart it).
        """

    @abc.abstractmethod
    def start_mission(self) -> None:
        """Start (or resume) the uploaded mission; the vehicle must be armed."""

    @abc.abstractmethod
    def upload_geofence(self, polygon: Sequence[GeoPoint]) -> None:
        """Replace the autopilot's geofence with one inclusion polygon (WGS84 vertices)."""
