"""A coverage path in map ENU turned into a flyable mission (pure Python, no rclpy, no MAVLink).

The mission is what PX4 flies for one path: take off at home to the first waypoint's altitude,
fly every waypoint in order, return to launch (PX4 lands at home and disarms). Items carry both
their map ENU position and their WGS84 position (through core.geo.LocalFrame), so the autopilot
layer uploads WGS84 and the node reports progress against the path's own waypoint indices.

Altitudes of a path are map z: metres above the mission origin's altitude (alt0), not above
home; the autopilot layer converts them to whatever altitude frame its protocol uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import enum
import math
from typing import NamedTuple

from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoError, GeoPoint, LocalFrame


class MissionError(UavFloodError):
    """A path or mission cannot be flown; the message says why, in an operator's words.

    :param reason: what is wrong, e.g. 'waypoint 3 altitude 400.0 m is above max_altitude_m 120'.
    :param waypoint: index of the offending path waypoint, if one waypoint is to blame.
    """

    def __init__(self, reason: str, waypoint: int | None = None) -> None:
        self.reason = reason
        self.waypoint = waypoint
        super().__init__(reason)


class Enu(NamedTuple):
    """A position in the map frame (m, ENU about the mission origin)."""

    east_m: float
    north_m: float
    up_m: float


@dataclass(frozen=True)
class PathLimits:
    """Bounds every path waypoint must respect.

    :param min_altitude_m: lowest waypoint altitude (m above the origin, and above home).
    :param max_altitude_m: highest waypoint altitude (m above the origin).
    :param max_distance_m: farthest a waypoint may be from the origin, horizontally (m).
    :param max_waypoints: most waypoints in one path (PX4 stores 500 mission items by default).
    """

    min_altitude_m: float = 5.0
    max_altitude_m: float = 120.0
    max_distance_m: float = 5000.0
    max_waypoints: int = 450

    def __post_init__(self) -> None:
        """Reject limits that no path could meet."""
        values = (self.min_altitude_m, self.max_altitude_m, self.max_distance_m)
        if not all(math.isfinite(v) for v in values):
            raise MissionError(f'path limits must be finite numbers, got {values}')
        if not 0.0 < self.min_altitude_m < self.max_altitude_m:
            raise MissionError(
                f'need 0 < min_altitude_m ({self.min_altitude_m}) < max_altitude_m '
                f'({self.max_altitude_m})'
            )
        if self.max_distance_m <= 0.0 or self.max_waypoints < 1:
            raise MissionError('max_distance_m and max_waypoints must be positive')


def validate_path(
    points: Iterable[Sequence[float]], limits: PathLimits | None = None
) -> tuple[Enu, ...]:
    """Check a path of map ENU points and return it as Enu tuples.

    :param points: waypoints as (east, north, up) in metres, map ENU (up above the origin).
    :param limits: the bounds to check against (defaults: PathLimits()).
    :raises MissionError: empty path, too many waypoints, a coordinate that is not a finite
        number, or a waypoint outside the altitude or distance limits.
    """
    limits = limits or PathLimits()
    path: list[Enu] = []
    for index, point in enumerate(points):
        if len(point) != 3:
            raise MissionError(f'waypoint {index} has {len(point)} coordinates, expected 3', index)
        east, north, up = (float(v) for v in point)
        if not all(math.isfinite(v) for v in (east, north, up)):
            raise MissionError(
                f'waypoint {index} is not a finite number: ({east}, {north}, {up})', index
            )
        if not limits.min_altitude_m <= up <= limits.max_altitude_m:
            raise MissionError(
                f'waypoint {index} altitude {up:.1f} m above the origin is outside '
                f'{limits.min_altitude_m:g}..{limits.max_altitude_m:g} m',
                index,
            )
        distance = math.hypot(east, north)
        if distance > limits.max_distance_m:
            raise MissionError(
                f'waypoint {index} is {distance:.0f} m from the origin, beyond '
                f'max_distance_m {limits.max_distance_m:g} m',
                index,
            )
        path.append(Enu(east, north, up))
        if len(path) > limits.max_waypoints:
            raise MissionError(f'path has more than {limits.max_waypoints} waypoints')
    if not path:
        raise MissionError('empty path: no waypoints')
    return tuple(path)


#: PX4's mission speed (MPC_XY_CRUISE, m/s): what a path flies after a transit.
PX4_MISSION_SPEED_M_S = 5.0
#: flight_control's default transit speed (m/s; PX4's MPC_XY_VEL_MAX is 12).
TRANSIT_SPEED_M_S = 10.0


class ItemKind(enum.Enum):
    """What a mission item makes the vehicle do."""

    TAKEOFF = 'takeoff'
    WAYPOINT = 'waypoint'
    RETURN_TO_LAUNCH = 'return_to_launch'
    #: MAV_CMD_DO_CHANGE_SPEED: the ground speed of the waypoints that follow.
    CHANGE_SPEED = 'change_speed'


@dataclass(frozen=True)
class MissionItem:
    """One step of a mission.

    :param kind: takeoff, waypoint, return to launch or speed change.
    :param position: where it goes (WGS84, altitude AMSL); None for return to launch and speed
        changes.
    :param enu: the same position in the map frame (m); None where `position` is.
    :param acceptance_radius_m: how close counts as reached (m); 0 for non-waypoints.
    :param waypoint: index of the path waypoint this item flies to, None for other items.
    :param speed_m_s: the ground speed a CHANGE_SPEED item sets (m/s); 0 for other items.
    """

    kind: ItemKind
    position: GeoPoint | None = None
    enu: Enu | None = None
    acceptance_radius_m: float = 0.0
    waypoint: int | None = None
    speed_m_s: float = 0.0


@dataclass(frozen=True)
class MissionPlan:
    """The mission for one path: items in upload order (item i is MAVLink sequence number i).

    :param items: takeoff, one waypoint item per path waypoint, return to launch.
    :param waypoints: the validated path (map ENU).
    :param home: where the vehicle takes off and returns to (WGS84).
    """

    items: tuple[MissionItem, ...]
    waypoints: tuple[Enu, ...]
    home: GeoPoint

    def waypoint_of_item(self, seq: int) -> int | None:
        """Return the path waypoint index that mission item `seq` flies to, else None."""
        if 0 <= seq < len(self.items):
            return self.items[seq].waypoint
        return None

    def item_of_waypoint(self, waypoint: int) -> int:
        """Return the mission item sequence number of path waypoint `waypoint`."""
        for seq, item in enumerate(self.items):
            if item.waypoint == waypoint:
                return seq
        raise IndexError(f'waypoint {waypoint} not in the mission')

    @property
    def waypoint_count(self) -> int:
        """Return the number of path waypoints."""
        return len(self.waypoints)


def build_mission(
    path: Sequence[Enu],
    frame: LocalFrame,
    home: GeoPoint,
    acceptance_radius_m: float = 2.0,
    limits: PathLimits | None = None,
    transit_speed_m_s: float = 0.0,
    mission_speed_m_s: float = 5.0,
) -> MissionPlan:
    """Build takeoff, waypoints and return to launch for a validated path.

    The takeoff item is at home, climbing to the first waypoint's altitude, so that the vehicle
    leaves the ground vertically before it flies anywhere.

    With a transit speed, the transits fly faster than the path: a speed change to it before
    the first waypoint and back to `mission_speed_m_s` after it; after the last waypoint a
    speed change to it again and a return waypoint over home at the last waypoint's altitude
    (not a path waypoint), so that PX4's RTL, starting within RTL_MIN_DIST of home, only
    descends and lands (PX4 returns at MPC_XY_CRUISE otherwise).

    :param path: waypoints from validate_path() (map ENU, m).
    :param frame: the map frame (its origin converts ENU to WGS84).
    :param home: the vehicle's home (WGS84, altitude AMSL).
    :param acceptance_radius_m: radius within which PX4 counts a waypoint reached (m, > 0).
    :param limits: checked again against home: every waypoint at least min_altitude_m above it.
    :param transit_speed_m_s: ground speed of the transits (m/s); 0: no speed changes, the
        whole mission flies at the autopilot's mission speed.
    :param mission_speed_m_s: ground speed along the path after a transit (m/s; PX4's
        MPC_XY_CRUISE by default).
    :raises MissionError: a waypoint too low above home, an invalid acceptance radius or
        speed.
    """
    limits = limits or PathLimits()
    if not path:
        raise MissionError('empty path: no waypoints')
    if not (math.isfinite(acceptance_radius_m) and acceptance_radius_m > 0.0):
        raise MissionError(f'acceptance radius must be > 0 m, got {acceptance_radius_m}')
    if not (math.isfinite(transit_speed_m_s) and transit_speed_m_s >= 0.0):
        raise MissionError(f'transit speed must be >= 0 m/s, got {transit_speed_m_s}')
    if transit_speed_m_s > 0.0 and not (
        math.isfinite(mission_speed_m_s) and mission_speed_m_s > 0.0
    ):
        raise MissionError(f'mission speed must be > 0 m/s, got {mission_speed_m_s}')
    fast = transit_speed_m_s > 0.0
    home_up = home.alt_m - frame.origin.alt_m
    items = [
        MissionItem(
            ItemKind.TAKEOFF,
            GeoPoint(home.lat_deg, home.lon_deg, frame.origin.alt_m + path[0].up_m),
            Enu(*frame.point_to_enu(home)[:2], path[0].up_m),
        )
    ]
    for index, point in enumerate(path):
        above_home = point.up_m - home_up
        if above_home < limits.min_altitude_m:
            raise MissionError(
                f'waypoint {index} is {above_home:.1f} m above home, below min_altitude_m '
                f'{limits.min_altitude_m:g} m',
                index,
            )
        try:
            position = frame.enu_to_point(*point)
        except GeoError as exc:
            raise MissionError(
                f'waypoint {index} has no valid WGS84 position: {exc}', index
            ) from None
        if fast and index == 0:
            items.append(MissionItem(ItemKind.CHANGE_SPEED, speed_m_s=transit_speed_m_s))
        if fast and index == 1:
            items.append(MissionItem(ItemKind.CHANGE_SPEED, speed_m_s=mission_speed_m_s))
        items.append(
            MissionItem(ItemKind.WAYPOINT, position, point, acceptance_radius_m, waypoint=index)
        )
    if fast:
        if len(path) > 1:
            items.append(MissionItem(ItemKind.CHANGE_SPEED, speed_m_s=transit_speed_m_s))
        over_home = GeoPoint(home.lat_deg, home.lon_deg, frame.origin.alt_m + path[-1].up_m)
        home_xy = frame.point_to_enu(home)[:2]
        items.append(
            MissionItem(
                ItemKind.WAYPOINT,
                over_home,
                Enu(home_xy[0], home_xy[1], path[-1].up_m),
                acceptance_radius_m,
            )
        )
    items.append(MissionItem(ItemKind.RETURN_TO_LAUNCH))
    return MissionPlan(tuple(items), tuple(path), home)


def path_length_m(points: Sequence[Enu]) -> float:
    """Return the 3-D length of a polyline through `points` (m)."""
    return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))
