"""flight_control's own safety layer, on top of PX4's: geofence and energy checks (no rclpy).

Two questions, answered with plain data in the map ENU frame (m, about the mission origin):

- Geofence: does a path (and the legs from and back to home) stay inside the area of interest
  plus a margin? The area comes from a GeoJSON polygon (WGS84) or from ENU vertices.
- Energy: does the battery cover flying the path and returning home with a reserve left? And,
  in flight: does what is left still cover the way home? The model is deliberately simple and
  conservative: battery percent drains at a constant rate per second of flight (a multirotor
  draws roughly the same power hovering and cruising at low speed), and flight time is
  horizontal distance at cruise speed plus climbs and descents at their vertical speeds, added
  (not overlapped), the way PX4 flies a takeoff, a mission and an RTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
from pathlib import Path

import shapely
from shapely.geometry import LineString, Point, Polygon

from uav_flood.core import geojson
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import Enu, MissionError
from uav_flood.core.user_files import load_json, UserFileError


@dataclass(frozen=True)
class EnergyModel:
    """Battery use of a multirotor: constant drain per second of flight.

    :param drain_pct_per_s: battery percent used per second of flight (%/s).
    :param cruise_speed_m_s: horizontal speed on mission and return legs (m/s).
    :param climb_speed_m_s: vertical speed up (m/s).
    :param descent_speed_m_s: vertical speed down, landing included (m/s).
    :param reserve_pct: battery percent that must be left on landing (%).
    :param return_altitude_m: altitude above home that PX4's RTL climbs to first (m).
    :param transit_speed_m_s: horizontal speed commanded for the transits of a mission: from the
        take-off to the first waypoint and from the last one back over home (m/s); 0: they fly
        at cruise speed like the rest.
    :param transit_accel_m_s2: mean horizontal acceleration and braking on a transit (m/s^2):
        PX4's jerk-limited auto trajectories average about a third of MPC_ACC_HOR (3 m/s^2).
    """

    drain_pct_per_s: float = 0.07
    cruise_speed_m_s: float = 4.4
    climb_speed_m_s: float = 2.0
    descent_speed_m_s: float = 1.0
    reserve_pct: float = 20.0
    return_altitude_m: float = 30.0
    transit_speed_m_s: float = 0.0
    transit_accel_m_s2: float = 1.0

    def __post_init__(self) -> None:
        """Reject values that make the model meaningless."""
        positive = {
            'drain_pct_per_s': self.drain_pct_per_s,
            'cruise_speed_m_s': self.cruise_speed_m_s,
            'climb_speed_m_s': self.climb_speed_m_s,
            'descent_speed_m_s': self.descent_speed_m_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise MissionError(f'energy model: {name} must be > 0, got {value}')
        if not (math.isfinite(self.reserve_pct) and 0.0 <= self.reserve_pct < 100.0):
            raise MissionError(f'energy model: reserve_pct must be 0..100, got {self.reserve_pct}')
        if not (math.isfinite(self.return_altitude_m) and self.return_altitude_m >= 0.0):
            raise MissionError('energy model: return_altitude_m must be >= 0')
        if not (math.isfinite(self.transit_speed_m_s) and self.transit_speed_m_s >= 0.0):
            raise MissionError(
                f'energy model: transit_speed_m_s must be >= 0, got {self.transit_speed_m_s}'
            )
        if not (math.isfinite(self.transit_accel_m_s2) and self.transit_accel_m_s2 > 0.0):
            raise MissionError(
                f'energy model: transit_accel_m_s2 must be > 0, got {self.transit_accel_m_s2}'
            )

    def transit_horizontal_s(self, distance_m: float) -> float:
        """Return the time of a horizontal transit of `distance_m`, rest to rest (s).

        At transit_speed_m_s with transit_accel_m_s2 to speed up and to brake (a trapezoid, or
        a triangle when the transit is too short to reach the speed), never slower than at
        cruise speed; at cruise speed when transit_speed_m_s is 0.
        """
        cruise_s = distance_m / self.cruise_speed_m_s
        v, a = self.transit_speed_m_s, self.transit_accel_m_s2
        if v <= 0.0 or distance_m <= 0.0:
            return cruise_s
        if distance_m >= v * v / a:
            fast_s = distance_m / v + v / a
        else:
            fast_s = 2.0 * math.sqrt(distance_m / a)
        return min(fast_s, cruise_s)

    def transit_time_s(self, start: Enu, end: Enu) -> float:
        """Return the time of a mission transit from `start` to `end` (s).

        As leg_time_s, with the horizontal part at transit speed (transit_horizontal_s).
        """
        horizontal = math.hypot(end.east_m - start.east_m, end.north_m - start.north_m)
        climb = end.up_m - start.up_m
        vertical_speed = self.climb_speed_m_s if climb > 0.0 else self.descent_speed_m_s
        return self.transit_horizontal_s(horizontal) + abs(climb) / vertical_speed

    def leg_time_s(self, start: Enu, end: Enu) -> float:
        """Return the time to fly from `start` to `end` (s): horizontal plus vertical part."""
        horizontal = math.hypot(end.east_m - start.east_m, end.north_m - start.north_m)
        climb = end.up_m - start.up_m
        vertical_speed = self.climb_speed_m_s if climb > 0.0 else self.descent_speed_m_s
        return horizontal / self.cruise_speed_m_s + abs(climb) / vertical_speed

    def return_time_s(self, position: Enu, home: Enu) -> float:
        """Return the time PX4's RTL takes from `position` to landed at `home` (s).

        RTL climbs to return_altitude_m above home if lower, flies home, then descends and
        lands.
        """
        cruise_up = max(position.up_m, home.up_m + self.return_altitude_m)
        above = Enu(position.east_m, position.north_m, cruise_up)
        over_home = Enu(home.east_m, home.north_m, cruise_up)
        return (
            self.leg_time_s(position, above)
            + self.leg_time_s(above, over_home)
            + self.leg_time_s(over_home, home)
        )

    def planned_return_time_s(self, position: Enu, home: Enu) -> float:
        """Return the time of a mission's own way home from its last waypoint to landed (s).

        With a transit speed, the mission flies at its last waypoint's altitude over home at
        that speed (core.mission's return waypoint) and PX4's RTL, within RTL_MIN_DIST of home
        there, only descends and lands; without one, PX4's RTL flies the whole way
        (return_time_s).
        """
        if self.transit_speed_m_s <= 0.0:
            return self.return_time_s(position, home)
        over_home = Enu(home.east_m, home.north_m, position.up_m)
        return self.transit_time_s(position, over_home) + self.leg_time_s(over_home, home)

    def mission_time_s(self, home: Enu, path: Sequence[Enu]) -> float:
        """Return the time to take off at home, fly `path` and return home (s).

        The transits to the first waypoint and home from the last fly at transit speed.
        """
        if not path:
            return 0.0
        takeoff = Enu(home.east_m, home.north_m, path[0].up_m)
        total = self.leg_time_s(home, takeoff) + self.transit_time_s(takeoff, path[0])
        total += sum(self.leg_time_s(a, b) for a, b in zip(path, path[1:], strict=False))
        return total + self.planned_return_time_s(path[-1], home)

    def energy_pct(self, time_s: float) -> float:
        """Return the battery percent that `time_s` seconds of flight use (%)."""
        return time_s * self.drain_pct_per_s


@dataclass(frozen=True)
class EnergyCheck:
    """The outcome of an energy check.

    :param required_pct: battery the flight uses (%), the reserve not included.
    :param reserve_pct: battery that must be left on landing (%).
    :param available_pct: battery the vehicle has now (%).
    :param flight_time_s: the modelled flight time (s).
    """

    required_pct: float
    reserve_pct: float
    available_pct: float
    flight_time_s: float

    @property
    def ok(self) -> bool:
        """Return True when the battery covers the flight plus the reserve."""
        return self.available_pct >= self.required_pct + self.reserve_pct

    @property
    def margin_pct(self) -> float:
        """Return the battery left over after the flight and the reserve (%, negative: short)."""
        return self.available_pct - self.required_pct - self.reserve_pct

    def describe(self) -> str:
        """Return the check in words, e.g. for a refusal."""
        return (
            f'needs {self.required_pct:.1f}% for {self.flight_time_s:.0f} s of flight + '
            f'{self.reserve_pct:.0f}% reserve, battery has {self.available_pct:.1f}%'
        )


def check_mission_energy(
    model: EnergyModel, home: Enu, path: Sequence[Enu], battery_pct: float
) -> EnergyCheck:
    """Check that the battery covers take-off, the whole path and the return home.

    :param model: the energy model.
    :param home: the take-off and landing point (map ENU, m).
    :param path: the waypoints (map ENU, m).
    :param battery_pct: remaining battery (%, 0..100).
    """
    time_s = model.mission_time_s(home, path)
    return EnergyCheck(model.energy_pct(time_s), model.reserve_pct, battery_pct, time_s)


def check_remaining_energy(
    model: EnergyModel, position: Enu, home: Enu, battery_pct: float, path: Sequence[Enu] = ()
) -> EnergyCheck:
    """Check, in flight, that the battery covers the rest of `path` and then the way home.

    With an empty `path` this is the return-home check that triggers flight_control's RTL.

    :param model: the energy model.
    :param position: where the vehicle is (map ENU, m).
    :param home: where it lands (map ENU, m).
    :param battery_pct: remaining battery (%, 0..100).
    :param path: waypoints still to fly, in order (map ENU, m).
    """
    time_s = 0.0
    last = position
    for point in path:
        time_s += model.leg_time_s(last, point)
        last = point
    time_s += model.return_time_s(last, home)
    return EnergyCheck(model.energy_pct(time_s), model.reserve_pct, battery_pct, time_s)


class Geofence:
    """The area the vehicle may fly in: an area-of-interest polygon plus a margin (map ENU).

    Paths must stay inside `fence` (the area grown by margin_m). PX4 gets `autopilot_fence`
    (the area grown by twice the margin) as its own inclusion fence: a backstop that trips
    on a real excursion, not on a waypoint flown slightly wide at the edge of the area.

    :param vertices: the area's outline, (east, north) in metres, map ENU, at least 3 points.
    :param margin_m: how far outside the area a path may go (m, >= 0).
    """

    def __init__(self, vertices: Sequence[Sequence[float]], margin_m: float = 0.0) -> None:
        if not (math.isfinite(margin_m) and margin_m >= 0.0):
            raise MissionError(f'geofence margin must be >= 0 m, got {margin_m}')
        points = [(float(p[0]), float(p[1])) for p in vertices]
        if len(points) >= 2 and points[0] == points[-1]:
            points = points[:-1]
        if len(points) < 3:
            raise MissionError(f'a geofence needs at least 3 vertices, got {len(points)}')
        if not all(math.isfinite(v) for p in points for v in p):
            raise MissionError('a geofence vertex is not a finite number')
        area = Polygon(points)
        if not area.is_valid or area.area <= 0.0:
            reason = shapely.is_valid_reason(area)
            raise MissionError(f'the geofence polygon is not a simple polygon ({reason})')
        self.area: Polygon = area
        self.margin_m = margin_m
        self.fence: Polygon = _grow(area, margin_m)
        self.autopilot_fence: Polygon = _grow(area, 2.0 * margin_m)

    @classmethod
    def from_enu_text(cls, text: str, margin_m: float = 0.0) -> Geofence:
        """Parse 'E,N; E,N; E,N ...' (map ENU metres), the form of the geofence_enu parameter."""
        vertices: list[tuple[float, float]] = []
        for part in text.split(';'):
            if not part.strip():
                continue
            fields = part.split(',')
            try:
                if len(fields) != 2:
                    raise ValueError
                vertices.append((float(fields[0]), float(fields[1])))
            except ValueError:
                raise MissionError(
                    f'geofence vertex {part.strip()!r} is not "east,north" in metres'
                ) from None
        return cls(vertices, margin_m)

    @classmethod
    def from_geojson(
        cls, source: str | Path, frame: LocalFrame, margin_m: float = 0.0
    ) -> Geofence:
        """Read the first Polygon of a GeoJSON file (WGS84 lon/lat, RFC 7946) as a geofence.

        Accepts a Polygon or MultiPolygon geometry, a Feature or a FeatureCollection; holes are
        ignored (the outer ring bounds the flight).

        :param source: path of the GeoJSON file.
        :param frame: the map frame the vertices are converted into.
        :param margin_m: see Geofence.
        """
        path = Path(source)
        try:
            document = load_json(path, 'geofence file')
        except UserFileError as exc:
            raise MissionError(str(exc)) from None
        try:
            rings = (geojson.outer_ring(c) for c, _ in geojson.polygon_coordinates(document))
            ring = next((r for r in rings if r is not None), None)
        except geojson.GeoJsonError as exc:
            raise MissionError(f'geofence file {path}: {exc}') from None
        if ring is None:
            raise MissionError(f'geofence file {path} holds no GeoJSON Polygon')
        vertices = []
        for value in ring:
            try:
                point = geojson.position(value, frame.origin.alt_m)
            except geojson.GeoJsonError as exc:
                raise MissionError(f'geofence file {path}: {exc}') from None
            east, north, _ = frame.point_to_enu(point)
            vertices.append((east, north))
        return cls(vertices, margin_m)

    def check_path(self, path: Sequence[Enu], home: Enu | None = None) -> None:
        """Raise MissionError unless `path`, and the legs from and back to `home`, stay inside.

        :param path: the waypoints (map ENU, m).
        :param home: the take-off point, if known (map ENU, m).
        """
        for index, point in enumerate(path):
            where = Point(point.east_m, point.north_m)
            if not self.fence.covers(where):
                outside = self.fence.exterior.distance(where)
                raise MissionError(
                    f'waypoint {index} ({point.east_m:.1f}, {point.north_m:.1f}) is '
                    f'{outside:.1f} m outside the geofence',
                    index,
                )
        if home is not None:
            where = Point(home.east_m, home.north_m)
            if not self.fence.covers(where):
                raise MissionError(
                    f'home ({home.east_m:.1f}, {home.north_m:.1f}) is outside the geofence: '
                    'launch inside the area or include the launch site in the polygon'
                )
        stops = [(f'waypoint {i}', p) for i, p in enumerate(path)]
        if home is not None:
            stops = [('home', home), *stops, ('home', home)]
        for (name_a, a), (name_b, b) in zip(stops, stops[1:], strict=False):
            leg = LineString([(a.east_m, a.north_m), (b.east_m, b.north_m)])
            if leg.length > 0.0 and not self.fence.covers(leg):
                raise MissionError(f'the leg from {name_a} to {name_b} leaves the geofence')

    def autopilot_fence_wgs84(self, frame: LocalFrame) -> list[GeoPoint]:
        """Return PX4's inclusion polygon (area + 2 x margin) as WGS84 vertices, not closed."""
        coords = list(self.autopilot_fence.exterior.coords)[:-1]
        return [frame.enu_to_point(east, north, 0.0) for east, north in coords]


def _grow(area: Polygon, margin_m: float) -> Polygon:
    """Return `area` grown by `margin_m` with mitred corners (keeps the vertex count low)."""
    if margin_m == 0.0:
        return area
    grown = area.buffer(margin_m, join_style='mitre', mitre_limit=3.0)
    if not isinstance(grown, Polygon):  # growing a simple polygon always gives one polygon
        raise MissionError('the grown geofence is not a single polygon')
    return grown
