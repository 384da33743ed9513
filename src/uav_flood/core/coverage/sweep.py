"""Boustrophedon coverage of a region: sweep rows, cells, piece order and routed transits.

All geometry is in the map frame (m, ENU). For one connected part of the region and a sweep
direction, the region is cut into bands one swath wide (or a little less: the band count is
rounded up and the bands spread evenly), perpendicular to nothing but parallel to the legs.
Each band's intersection with the region gives one leg per connected piece, spanning the piece's
extent along the legs, so a leg buffered by swath / 2 covers its whole piece. Legs of
neighbouring bands that overlap one-to-one form a cell (the discrete boustrophedon
decomposition: a cell is swept back and forth without leaving it); branching rows (concave
shapes, holes, no-fly zones) start new cells. Whatever the legs miss (legs are clipped out of
no-fly zones) is swept again by a second pass. Cells are ordered greedily, nearest entry first,
and every transit between them is routed around the no-fly zones through a visibility graph on
the zones' outlines grown by the margin.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
import heapq
import math

import numpy as np
from numpy.typing import NDArray
import shapely
from shapely import affinity
from shapely.geometry import box, LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

from uav_flood.core.coverage.area import polygons_of
from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.coverage.footprint import swath_geometry

XY = tuple[float, float]
Leg = tuple[float, float, float]  # y, x_start, x_end in the rotated (sweep) frame
TURN_ANGLE_DEG = 30.0


class Router:
    """Shortest transit paths that stay out of the no-fly zones (map ENU, m).

    Transits keep half the margin away from each zone (sweep legs are clipped at the full
    margin, so leg ends are always reachable); the routing graph's nodes lie on the zones'
    outlines grown by the margin.

    :param no_fly: the no-fly zones, or None.
    :param margin_m: how far from a zone a sweep leg stays (m, > 0).
    """

    def __init__(self, no_fly: BaseGeometry | None, margin_m: float) -> None:
        self.blocked: BaseGeometry | None = None
        self._nodes: list[XY] = []
        self._edges: dict[int, list[tuple[int, float]]] = {}
        if no_fly is None or no_fly.is_empty:
            return
        self.blocked = no_fly.buffer(0.5 * margin_m)
        self._prepared = prep(self.blocked)
        grown = no_fly.buffer(margin_m, join_style='mitre', mitre_limit=2.0)
        for polygon in polygons_of(grown.simplify(0.1 * margin_m)):
            self._nodes += [(float(x), float(y)) for x, y in polygon.exterior.coords[:-1]]
            for ring in polygon.interiors:
                self._nodes += [(float(x), float(y)) for x, y in ring.coords[:-1]]
        self._edges = {i: [] for i in range(len(self._nodes))}
        for i, a in enumerate(self._nodes):
            for j in range(i + 1, len(self._nodes)):
                b = self._nodes[j]
                if self.clear(a, b):
                    d = math.dist(a, b)
                    self._edges[i].append((j, d))
                    self._edges[j].append((i, d))

    def clear(self, a: XY, b: XY) -> bool:
        """Return True when the straight leg a-b keeps out of every no-fly zone."""
        if self.blocked is None:
            return True
        if a == b:
            return not self._prepared.intersects(Point(a))
        return not self._prepared.intersects(LineString([a, b]))

    def inside(self, point: XY) -> bool:
        """Return True when `point` is inside a no-fly zone (or within half the margin)."""
        return self.blocked is not None and self._prepared.intersects(Point(point))

    def route(self, a: XY, b: XY) -> list[XY]:
        """Return the waypoints strictly between a and b of the shortest clear route.

        :raises PlanningError: a or b is inside a no-fly zone, or no route exists.
        """
        if self.clear(a, b):
            return []
        for name, point in (('start', a), ('end', b)):
            if self.inside(point):
                raise PlanningError(
                    f'transit {name} ({point[0]:.0f}, {point[1]:.0f}) is inside a no-fly zone'
                )
        n = len(self._nodes)
        start, goal = n, n + 1
        extra: dict[int, list[tuple[int, float]]] = {start: [], goal: []}
        for i, node in enumerate(self._nodes):
            for k, p in ((start, a), (goal, b)):
                if self.clear(p, node):
                    extra[k].append((i, math.dist(p, node)))
        goal_links = dict(extra[goal])
        dist = {start: 0.0}
        previous: dict[int, int] = {}
        queue = [(0.0, start)]
        while queue:
            d, u = heapq.heappop(queue)
            if u == goal:
                break
            if d > dist.get(u, math.inf):
                continue
            links = extra[start] if u == start else self._edges[u]
            if u in goal_links:
                links = [*links, (goal, goal_links[u])]
            for v, w in links:
                if d + w < dist.get(v, math.inf):
                    dist[v] = d + w
                    previous[v] = u
                    heapq.heappush(queue, (d + w, v))
        if goal not in previous:
            raise PlanningError(
                f'no route around the no-fly zones from ({a[0]:.0f}, {a[1]:.0f}) to '
                f'({b[0]:.0f}, {b[1]:.0f})'
            )
        points: list[XY] = []
        index = previous[goal]
        while index != start:
            points.append(self._nodes[index])
            index = previous[index]
        return points[::-1]

    def distance(self, a: XY, b: XY) -> float:
        """Return the length of the clear route from a to b (m)."""
        points = [a, *self.route(a, b), b]
        return sum(math.dist(p, q) for p, q in zip(points, points[1:], strict=False))


def band_legs(
    region: BaseGeometry,
    swath_m: float,
    blocked: BaseGeometry | None,
    reach_m: float | None = None,
) -> list[list[tuple[float, float]]]:
    """Return the legs of each band of `region`, already rotated so legs run along x.

    :param region: the region to sweep, in the sweep frame (legs parallel to x).
    :param swath_m: the leg spacing (m).
    :param blocked: what legs must stay out of (same frame), or None.
    :param reach_m: how far the camera sees ahead and behind (footprint.reach_m): a leg ends
        that far inside its piece; None: where a round swath / 2 end still covers it.
    :return: per band (bottom to top), its legs as (x_start, x_end), sorted; band k's legs lie
        at y = min_y + (k + 0.5) * spacing with spacing = height / band count.
    """
    min_x, min_y, max_x, max_y = region.bounds
    count = max(1, math.ceil((max_y - min_y) / swath_m - 1e-9))
    spacing = (max_y - min_y) / count
    tiny = 1e-4 * swath_m * swath_m
    rows: list[list[tuple[float, float]]] = []
    for k in range(count):
        lo = min_y + k * spacing
        band = region.intersection(box(min_x - 1.0, lo, max_x + 1.0, lo + spacing))
        y = lo + 0.5 * spacing
        spans = sorted(
            _span(p, y, 0.5 * swath_m, reach_m) for p in polygons_of(band) if p.area > tiny
        )
        merged: list[tuple[float, float]] = []
        for x0, x1 in spans:
            if merged and x0 <= merged[-1][1] + 1e-6:
                merged[-1] = (merged[-1][0], max(merged[-1][1], x1))
            else:
                merged.append((x0, x1))
        if blocked is not None and merged:
            clipped: list[tuple[float, float]] = []
            for x0, x1 in merged:
                if x1 - x0 <= 1e-3:  # a one-point leg: its piece lies within swath / 2
                    if not blocked.intersects(Point(x0, y)):
                        clipped.append((x0, x1))
                    continue
                free = LineString([(x0, y), (x1, y)]).difference(blocked)
                for piece in _lines(free):
                    xs = [c[0] for c in piece.coords]
                    if max(xs) - min(xs) > 1e-3:
                        clipped.append((min(xs), max(xs)))
            merged = sorted(clipped)
        rows.append(merged)
    return rows


def _span(
    piece: Polygon, y: float, radius: float, reach_m: float | None = None
) -> tuple[float, float]:
    """Return the shortest leg (x_start, x_end) at `y` whose camera coverage covers `piece`.

    With `reach_m`, the camera sees that far beyond the leg's ends across its whole width (the
    piece lies within the band, inside the swath): the leg stops `reach_m` short of the piece's
    extent. Without, the leg's round ends (its buffer by `radius`) cover a slanted side: the leg
    may stop short by sqrt(radius^2 - dy^2) at each of its vertices (exact for straight edges:
    the bound is concave along an edge, so its minimum is at a vertex).
    """
    coords = shapely.get_coordinates(piece.boundary)
    if reach_m is not None:
        reach = np.full(len(coords), reach_m)
    else:
        reach = np.sqrt(np.maximum(radius * radius - (coords[:, 1] - y) ** 2, 0.0))
    x0 = float(np.min(coords[:, 0] + reach))
    x1 = float(np.max(coords[:, 0] - reach))
    if x0 > x1:
        x0 = x1 = 0.5 * (x0 + x1)
    return x0, x1


def band_cells(
    rows: list[list[tuple[float, float]]], min_y: float, spacing: float
) -> list[list[Leg]]:
    """Group the legs of consecutive bands into cells (one-to-one overlapping legs chain)."""

    def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return min(a[1], b[1]) - max(a[0], b[0]) > 0.0

    cells: list[list[Leg]] = []
    open_cell: dict[int, int] = {}  # leg index in the previous row -> cell index
    for k, row in enumerate(rows):
        y = min_y + (k + 0.5) * spacing
        prev = rows[k - 1] if k > 0 else []
        now: dict[int, int] = {}
        for j, leg in enumerate(row):
            below = [i for i, p in enumerate(prev) if overlaps(p, leg)]
            cell = None
            if len(below) == 1 and below[0] in open_cell:
                above = [m for m, q in enumerate(row) if overlaps(prev[below[0]], q)]
                if len(above) == 1:
                    cell = open_cell[below[0]]
            if cell is None:
                cells.append([])
                cell = len(cells) - 1
            cells[cell].append((y, leg[0], leg[1]))
            now[j] = cell
        open_cell = now
    return [c for c in cells if c]


@dataclass(frozen=True)
class Cell:
    """A cell swept back and forth: its legs in the map frame, bottom to top.

    :param legs: (start, end) points of each leg (map ENU, m); leg i+1 follows leg i.
    """

    legs: tuple[tuple[XY, XY], ...]

    def variants(self) -> list[list[XY]]:
        """Return the four boustrophedon orders (from either end row, either side)."""
        out = []
        for legs in (self.legs, self.legs[::-1]):
            for flip in (False, True):
                points: list[XY] = []
                for index, (a, b) in enumerate(legs):
                    forward = (index % 2 == 0) != flip
                    points += [a, b] if forward else [b, a]
                out.append(points)
        return out


def cells_for_direction(
    region: BaseGeometry,
    angle_rad: float,
    swath_m: float,
    blocked: BaseGeometry | None,
    reach_m: float | None = None,
) -> list[Cell]:
    """Return the cells of `region` swept with legs at `angle_rad` from east (map frame)."""
    deg = math.degrees(angle_rad)
    rotated = affinity.rotate(region, -deg, origin=(0.0, 0.0))
    blocked_rot = affinity.rotate(blocked, -deg, origin=(0.0, 0.0)) if blocked else None
    rows = band_legs(rotated, swath_m, blocked_rot, reach_m)
    _, min_y, _, max_y = rotated.bounds
    spacing = (max_y - min_y) / max(1, len(rows))
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)

    def back(x: float, y: float) -> XY:
        return (x * cos - y * sin, x * sin + y * cos)

    return [
        Cell(tuple((back(x0, y), back(x1, y)) for y, x0, x1 in legs))
        for legs in band_cells(rows, min_y, spacing)
    ]


def candidate_directions(region: Polygon, limit: int = 8) -> list[float]:
    """Return sweep directions worth trying (rad): the longest edges' and the minimum width's."""
    hull = region.convex_hull
    coords = np.asarray(region.exterior.coords)
    vectors = np.diff(coords, axis=0)
    lengths = np.hypot(vectors[:, 0], vectors[:, 1])
    angles = np.mod(np.arctan2(vectors[:, 1], vectors[:, 0]), math.pi)
    order = np.argsort(-lengths)
    out: list[float] = []
    rect = hull.minimum_rotated_rectangle
    if isinstance(rect, Polygon):
        r = np.asarray(rect.exterior.coords)
        sides = np.diff(r[:3], axis=0)
        longest = sides[int(np.argmax(np.hypot(sides[:, 0], sides[:, 1])))]
        out.append(float(np.mod(math.atan2(longest[1], longest[0]), math.pi)))
    for index in order:
        angle = float(angles[index])
        if all(_angle_gap(angle, a) > math.radians(2.0) for a in out):
            out.append(angle)
        if len(out) >= limit:
            break
    return out


def _angle_gap(a: float, b: float) -> float:
    gap = abs(a - b) % math.pi
    return min(gap, math.pi - gap)


def cells_cost(cells: Sequence[Cell], turn_m: float) -> float:
    """Estimate the cost of sweeping `cells` (m): leg + connector length plus turns in metres."""
    total = 0.0
    for cell in cells:
        points = cell.variants()[0]
        total += sum(math.dist(p, q) for p, q in zip(points, points[1:], strict=False))
        total += turn_m * max(0, len(points) - 2)
    return total + 2.0 * turn_m * len(cells)


@dataclass(frozen=True)
class Route:
    """One polyline that sweeps a whole region, transits included (map ENU, m).

    :param points: the waypoints, shape (n, 2).
    :param cumulative_m: distance along the route at each waypoint, shape (n,).
    :param turns_m: route distance of each waypoint where the heading turns by more than 30 deg.
    :param angles_deg: the sweep direction chosen for each connected part (deg from east).
    :param sweeps_m: (k, 2): where the route sweeps a cell, from and to (m along it); between
        them it only connects one cell to the next. None: pieces keep their connections.
    """

    points: NDArray[np.float64]
    cumulative_m: NDArray[np.float64]
    turns_m: NDArray[np.float64]
    angles_deg: tuple[float, ...]
    sweeps_m: NDArray[np.float64] | None = None

    @property
    def length_m(self) -> float:
        """Return the route length (m)."""
        return float(self.cumulative_m[-1]) if len(self.cumulative_m) else 0.0

    @cached_property
    def _lists(self) -> tuple[list[float], list[float], list[float], list[float]]:
        """Return cumulative_m, the x and y of the points and turns_m as Python lists."""
        return (
            self.cumulative_m.tolist(),
            self.points[:, 0].tolist(),
            self.points[:, 1].tolist(),
            self.turns_m.tolist(),
        )

    def point_at(self, s: float) -> XY:
        """Return the point at distance `s` along the route (m)."""
        cumulative, xs, ys, _ = self._lists
        s = min(max(s, 0.0), cumulative[-1])
        i = min(max(bisect.bisect_right(cumulative, s) - 1, 0), len(cumulative) - 2)
        span = cumulative[i + 1] - cumulative[i]
        t = 0.0 if span <= 0.0 else (s - cumulative[i]) / span
        return xs[i] + t * (xs[i + 1] - xs[i]), ys[i] + t * (ys[i + 1] - ys[i])

    def piece(self, a: float, b: float) -> list[XY]:
        """Return the waypoints of the route from distance a to b (m), both ends included."""
        inner = np.nonzero((self.cumulative_m > a + 1e-6) & (self.cumulative_m < b - 1e-6))[0]
        points = [self.point_at(a)]
        points += [(float(self.points[i][0]), float(self.points[i][1])) for i in inner]
        points.append(self.point_at(b))
        return points

    def trim(self, a: float, b: float) -> tuple[float, float]:
        """Return piece a..b without the connection it starts with (m along).

        A drone whose piece starts on the way from one cell to the next flies straight from
        home to the next cell instead. Only the start is trimmed: a piece that ends on a
        connection flies that part of it and returns home from there, so a drone's time stays
        continuous in where its piece ends (the route split searches that end). A piece that
        sweeps nothing comes back empty (a, a).
        """
        if self.sweeps_m is None or b <= a:
            return a, b
        runs = self.sweeps_m
        first = int(np.searchsorted(runs[:, 1], a, side='right'))
        if first >= len(runs) or runs[first, 0] >= b:
            return a, a
        return max(a, float(runs[first, 0])), b

    def turns_between(self, a: float, b: float) -> int:
        """Return the number of turns strictly between distances a and b (m)."""
        turns = self._lists[3]
        return bisect.bisect_left(turns, b) - bisect.bisect_right(turns, a)


def build_route(
    region: BaseGeometry,
    swath_m: float,
    router: Router,
    blocked: BaseGeometry | None,
    start: XY,
    turn_m: float,
    reach_m: float | None = None,
    petals: bool = False,
) -> Route:
    """Plan one route that sweeps every connected part of `region`, starting near `start`.

    :param region: what to cover (map ENU, no-fly zones and their margin already removed).
    :param swath_m: leg spacing (m).
    :param router: routes transits around the no-fly zones.
    :param blocked: the zones grown by the margin, that legs are clipped out of, or None.
    :param start: where the sweep should begin (map ENU, m), e.g. the fleet's centre.
    :param turn_m: the cost of one turn expressed in metres, used to pick directions.
    :param reach_m: how far the camera sees ahead and behind (footprint.reach_m), or None:
        legs end where a round swath / 2 end covers the area (see band_legs).
    :param petals: cut every leg where it crosses the line through `start` across the legs,
        and sweep each side's legs in pairs (see petal_cells): the route comes back past
        `start` after every pair, so pieces of it can start and end near a launch point
        inside the area.
    :return: the route; one point when the region lies within swath / 2 of it (a region
        narrower than the swath both ways), no point when no leg was found (nothing to sweep).
    """
    cells: list[Cell] = []
    angles: list[float] = []
    for part in sorted(polygons_of(region), key=lambda p: -p.area):
        best: tuple[float, float, list[Cell]] | None = None
        for angle in candidate_directions(part):
            candidate = cells_for_direction(part, angle, swath_m, blocked, reach_m)
            cost = cells_cost(candidate, turn_m)
            if best is None or cost < best[0]:
                best = (cost, angle, candidate)
        if best is None:
            continue
        _, angle, part_cells = best
        angles.append(math.degrees(angle))
        if petals:
            part_cells = petal_cells(part_cells, angle, start)
        cells += part_cells
        cells += _touch_up(part, part_cells, angle, swath_m, blocked, reach_m)
    points, spans = _order(cells, start, router)
    if not points:
        return Route(np.empty((0, 2)), np.empty(0), np.empty(0), tuple(angles))
    array = np.asarray(points, dtype=np.float64)
    steps = np.hypot(*np.diff(array, axis=0).T)
    full = np.concatenate([[0.0], np.cumsum(steps)])
    # Where each cell's sweep starts and ends along the route (m).
    runs = np.array([(full[first], full[last]) for first, last in spans])
    keep = np.concatenate([[True], steps > 1e-6])
    array = array[keep]
    steps = np.hypot(*np.diff(array, axis=0).T)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    turns: list[float] = []
    for i in range(1, len(array) - 1):
        u, v = array[i] - array[i - 1], array[i + 1] - array[i]
        cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
        if cos < math.cos(math.radians(TURN_ANGLE_DEG)):
            turns.append(float(cumulative[i]))
    # Petal routes come back past the launch point between cells: a piece that starts on a
    # connection flies it as a transit (Route.trim). A standard route's connections stay in
    # its pieces: there a connection can be long, and trimming it makes the next drone's time
    # jump where a cut crosses the connection's start, which the split may leave unbalanced.
    return Route(array, cumulative, np.asarray(turns), tuple(angles), runs if petals else None)


def petal_cells(cells: Sequence[Cell], angle_rad: float, start: XY) -> list[Cell]:
    """Return cells of at most two legs each that begin and end near the line through `start`.

    Every leg that crosses the line through `start` perpendicular to the legs (angle_rad from
    east) is cut there; on each side of it, the legs of each cell are paired bottom to top
    into two-leg cells (the last one alone when a side has an odd count). A two-leg cell flown
    from its near end goes out along one leg and back along the next: a petal from the line.
    """
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)

    def along(point: XY) -> float:
        return point[0] * cos + point[1] * sin

    cut = along(start)
    out: list[Cell] = []
    for cell in cells:
        sides: tuple[list[tuple[XY, XY]], list[tuple[XY, XY]]] = ([], [])
        whole: dict[tuple[XY, XY], tuple[XY, XY]] = {}  # a cut half -> the leg it is half of
        for a, b in cell.legs:
            if along(a) > along(b):
                a, b = b, a
            ta, tb = along(a), along(b)
            if ta < cut < tb:
                t = (cut - ta) / (tb - ta)
                middle = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
                sides[0].append((middle, a))
                sides[1].append((middle, b))
                whole[sides[0][-1]] = whole[sides[1][-1]] = (a, b)
            else:
                sides[0 if tb <= cut else 1].append((a, b) if ta >= cut else (b, a))
        singles: list[tuple[XY, XY]] = []
        for legs in sides:
            for k in range(0, len(legs), 2):
                if k + 1 < len(legs):
                    out.append(Cell(tuple(legs[k : k + 2])))
                else:
                    singles.append(legs[k])
        # Both halves of one leg left over: fly it whole rather than as two out-and-backs.
        halves = [whole.get(leg) for leg in singles]
        if len(singles) == 2 and halves[0] is not None and halves[0] == halves[1]:
            singles = [halves[0]]
        out += [Cell((leg,)) for leg in singles]
    return out


def _touch_up(
    part: Polygon,
    cells: list[Cell],
    angle: float,
    swath_m: float,
    blocked: BaseGeometry | None,
    reach_m: float | None = None,
) -> list[Cell]:
    """Return extra cells for what the first pass left uncovered (beside clipped legs)."""
    if blocked is None:
        return []
    covered = swath_geometry([[a, b] for cell in cells for a, b in cell.legs], swath_m, reach_m)
    missed = part.difference(covered)
    extra: list[Cell] = []
    for piece in polygons_of(missed):
        if piece.area < 0.01 * swath_m * swath_m:
            continue
        extra += cells_for_direction(piece, angle, swath_m, blocked, reach_m)
    return extra


def _order(cells: list[Cell], start: XY, router: Router) -> tuple[list[XY], list[tuple[int, int]]]:
    """Chain the cells greedily (nearest entry next) with routed transits between them.

    :return: the points, and the indices in them of each cell's first and last point.
    """
    remaining = list(range(len(cells)))
    variants = [cell.variants() for cell in cells]
    points: list[XY] = []
    spans: list[tuple[int, int]] = []
    here = start
    while remaining:
        best = min(
            ((math.dist(here, v[0]), c, v) for c in remaining for v in variants[c]),
            key=lambda t: t[0],
        )
        _, cell, chosen = best
        remaining.remove(cell)
        if points:
            points += router.route(here, chosen[0])
        first = len(points)
        points += _with_connectors(chosen, router)
        spans.append((first, len(points) - 1))
        here = points[-1]
    return points, spans


def _with_connectors(points: list[XY], router: Router) -> list[XY]:
    """Return a cell's waypoints with any connector that crosses a zone routed around it."""
    out = [points[0]]
    for a, b in zip(points, points[1:], strict=False):
        out += router.route(a, b)
        out.append(b)
    return out


def _lines(geometry: BaseGeometry) -> list[LineString]:
    if isinstance(geometry, LineString):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, MultiLineString) or hasattr(geometry, 'geoms'):
        return [g for g in geometry.geoms if isinstance(g, LineString) and not g.is_empty]
    return []


def count_turns(points: Sequence[Sequence[float]]) -> int:
    """Return the turns of more than TURN_ANGLE_DEG along a polyline of (x, y, ...) points."""
    cos_limit = math.cos(math.radians(TURN_ANGLE_DEG))
    turns = 0
    for p, q, r in zip(points, points[1:], points[2:], strict=False):
        u = (q[0] - p[0], q[1] - p[1])
        v = (r[0] - q[0], r[1] - q[1])
        nu, nv = math.hypot(*u), math.hypot(*v)
        if nu > 1e-6 and nv > 1e-6 and (u[0] * v[0] + u[1] * v[1]) / (nu * nv) < cos_limit:
            turns += 1
    return turns
