"""Mission, geofence and rally plans as PX4 stores them, with PX4's upload checks.

Items arrive as MISSION_ITEM_INT fields and are kept as such (so a download returns exactly what
was uploaded); geometry is converted to the vehicle's local frame when used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math

# MAV_MISSION_TYPE
MISSION = 0
FENCE = 1
RALLY = 2
ALL = 255

# MAV_MISSION_RESULT
ACCEPTED = 0
ERROR = 1
UNSUPPORTED_FRAME = 2
UNSUPPORTED = 3
NO_SPACE = 4
INVALID_PARAM1 = 6
INVALID_SEQUENCE = 13
DENIED = 14

# MAV_CMD values the navigator executes.
NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TURNS = 18
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
NAV_DELAY = 93
DO_JUMP = 177
DO_CHANGE_SPEED = 178
FENCE_POLYGON_VERTEX_INCLUSION = 5001
FENCE_POLYGON_VERTEX_EXCLUSION = 5002
FENCE_CIRCLE_INCLUSION = 5003
FENCE_CIRCLE_EXCLUSION = 5004
NAV_RALLY_POINT = 5100

#: Position items the navigator flies to.
NAV_POSITION_COMMANDS = frozenset(
    {NAV_WAYPOINT, NAV_LOITER_UNLIM, NAV_LOITER_TURNS, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF}
)
#: Items that do something besides flying (speed, jumps, delays).
ACTIVE_DO_COMMANDS = frozenset({DO_JUMP, DO_CHANGE_SPEED, NAV_DELAY, NAV_RETURN_TO_LAUNCH})
#: Items PX4 accepts and hands to other modules (camera, gimbal, ROI, servos): no-ops here.
PASSIVE_DO_COMMANDS = frozenset(
    {
        80,  # NAV_ROI
        183,  # DO_SET_SERVO
        189,  # DO_LAND_START
        195,  # DO_SET_ROI_LOCATION
        196,  # DO_SET_ROI_WPNEXT_OFFSET
        197,  # DO_SET_ROI_NONE
        201,  # DO_SET_ROI
        203,  # DO_DIGICAM_CONTROL
        205,  # DO_MOUNT_CONTROL
        206,  # DO_SET_CAM_TRIGG_DIST
        214,  # DO_SET_CAM_TRIGG_INTERVAL
        530,  # SET_CAMERA_MODE
        531,  # SET_CAMERA_ZOOM
        532,  # SET_CAMERA_FOCUS
        1000,  # DO_GIMBAL_MANAGER_PITCHYAW
        1001,  # DO_GIMBAL_MANAGER_CONFIGURE
        2000,  # IMAGE_START_CAPTURE
        2001,  # IMAGE_STOP_CAPTURE
        2500,  # VIDEO_START_CAPTURE
        2501,  # VIDEO_STOP_CAPTURE
    }
)
MISSION_COMMANDS = NAV_POSITION_COMMANDS | ACTIVE_DO_COMMANDS | PASSIVE_DO_COMMANDS
FENCE_COMMANDS = frozenset(
    {
        FENCE_POLYGON_VERTEX_INCLUSION,
        FENCE_POLYGON_VERTEX_EXCLUSION,
        FENCE_CIRCLE_INCLUSION,
        FENCE_CIRCLE_EXCLUSION,
    }
)

# MAV_FRAME values with a global position, and whether their altitude is relative to home.
FRAME_ALT_RELATIVE = {0: False, 3: True, 5: False, 6: True, 10: True, 11: True}
FRAME_MISSION = 2
MAX_ITEMS = 2000


@dataclass(frozen=True)
class MissionItem:
    """One item of a plan, with MISSION_ITEM_INT's fields (x, y in degE7, z in m)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = MISSION

    @property
    def lat_deg(self) -> float:
        """Return the latitude (deg)."""
        return self.x * 1e-7

    @property
    def lon_deg(self) -> float:
        """Return the longitude (deg)."""
        return self.y * 1e-7

    @property
    def has_position(self) -> bool:
        """Return whether x/y hold a position (PX4 reads 0/0 as 'here')."""
        return self.x != 0 or self.y != 0

    @property
    def relative_alt(self) -> bool:
        """Return whether z is metres above home rather than AMSL."""
        return FRAME_ALT_RELATIVE.get(self.frame, True)


def check_plan(items: Sequence[MissionItem], mission_type: int) -> tuple[int, str]:
    """Return (MAV_MISSION_RESULT, reason) for a complete upload, as PX4's feasibility checks."""
    if len(items) > MAX_ITEMS:
        return NO_SPACE, f'{len(items)} items, at most {MAX_ITEMS}'
    if mission_type == MISSION:
        return _check_mission(items)
    if mission_type == FENCE:
        return _check_fence(items)
    if mission_type == RALLY:
        for item in items:
            if item.command != NAV_RALLY_POINT:
                return UNSUPPORTED, f'item {item.seq}: command {item.command} in a rally plan'
            if item.frame not in FRAME_ALT_RELATIVE:
                return UNSUPPORTED_FRAME, f'item {item.seq}: frame {item.frame}'
        return ACCEPTED, ''
    return ERROR, f'mission type {mission_type}'


def _check_mission(items: Sequence[MissionItem]) -> tuple[int, str]:
    for item in items:
        if item.command not in MISSION_COMMANDS:
            return UNSUPPORTED, f'item {item.seq}: command {item.command} is not supported'
        if item.command in NAV_POSITION_COMMANDS and item.frame not in FRAME_ALT_RELATIVE:
            return UNSUPPORTED_FRAME, f'item {item.seq}: frame {item.frame}'
        if item.command == DO_JUMP and not 0 <= item.param1 < len(items):
            return INVALID_PARAM1, f'item {item.seq}: jump to {item.param1}'
        if item.command in NAV_POSITION_COMMANDS and not math.isfinite(item.z):
            if item.command not in (NAV_LAND, NAV_TAKEOFF):
                return ERROR, f'item {item.seq}: altitude is not a number'
    return ACCEPTED, ''


def _check_fence(items: Sequence[MissionItem]) -> tuple[int, str]:
    i = 0
    while i < len(items):
        item = items[i]
        if item.command not in FENCE_COMMANDS:
            return UNSUPPORTED, f'item {item.seq}: command {item.command} in a fence plan'
        if item.frame not in FRAME_ALT_RELATIVE:
            return UNSUPPORTED_FRAME, f'item {item.seq}: frame {item.frame}'
        if item.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
            if not item.param1 > 0.0:
                return INVALID_PARAM1, f'item {item.seq}: circle radius {item.param1}'
            i += 1
            continue
        count = int(item.param1)
        if count < 3 or i + count > len(items):
            return INVALID_PARAM1, f'item {item.seq}: polygon of {item.param1} vertices'
        for vertex in items[i : i + count]:
            if vertex.command != item.command or int(vertex.param1) != count:
                return INVALID_PARAM1, f'item {vertex.seq}: polygon vertex count mismatch'
        i += count
    return ACCEPTED, ''


@dataclass(frozen=True)
class FenceShape:
    """One geofence shape in the local frame (north, east metres)."""

    inclusion: bool
    polygon: tuple[tuple[float, float], ...] = ()
    center: tuple[float, float] = (0.0, 0.0)
    radius_m: float = 0.0

    def contains(self, north: float, east: float) -> bool:
        """Return whether the point lies inside the shape."""
        if not self.polygon:
            return math.hypot(north - self.center[0], east - self.center[1]) <= self.radius_m
        inside = False
        pts = self.polygon
        j = len(pts) - 1
        for i in range(len(pts)):
            ni, ei = pts[i]
            nj, ej = pts[j]
            if (ei > east) != (ej > east):
                n_cross = ni + (east - ei) * (nj - ni) / (ej - ei)
                if north < n_cross:
                    inside = not inside
            j = i
        return inside


def fence_shapes(
    items: Sequence[MissionItem], to_local: Callable[[float, float], tuple[float, float]]
) -> list[FenceShape]:
    """Convert a checked fence plan to local shapes.

    :param items: fence items that passed check_plan.
    :param to_local: (lat_deg, lon_deg) -> (north, east) in metres (a MapProjection.project).
    """
    shapes: list[FenceShape] = []
    i = 0
    while i < len(items):
        item = items[i]
        inclusion = item.command in (FENCE_POLYGON_VERTEX_INCLUSION, FENCE_CIRCLE_INCLUSION)
        if item.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
            shapes.append(
                FenceShape(
                    inclusion, center=to_local(item.lat_deg, item.lon_deg), radius_m=item.param1
                )
            )
            i += 1
            continue
        count = int(item.param1)
        polygon = tuple(to_local(v.lat_deg, v.lon_deg) for v in items[i : i + count])
        shapes.append(FenceShape(inclusion, polygon=polygon))
        i += count
    return shapes


def inside_fence(shapes: Sequence[FenceShape], north: float, east: float) -> bool:
    """Return whether a point satisfies the fence: inside every inclusion, outside exclusions.

    PX4 requires the vehicle to be inside at least one inclusion shape (when there are any) and
    outside all exclusion shapes.
    """
    inclusions = [s for s in shapes if s.inclusion]
    if inclusions and not any(s.contains(north, east) for s in inclusions):
        return False
    return not any(s.contains(north, east) for s in shapes if not s.inclusion)
