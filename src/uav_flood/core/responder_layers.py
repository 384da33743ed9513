"""Responder layers from a land-cover grid: flooded buildings, roads, passability (no rclpy).

A land-cover grid holds one FloodNet class per cell (`CLASSES`, the order of the segmentation
model's `classes` output; -1 where nothing was seen) on the map's grid (a GridPatch's layout: row
0 is the southern edge, cell (row, col)'s south-west corner at origin + (col, row) x resolution).

- flooded_buildings(): the connected patches of `building-flooded` cells as polygons (map ENU),
  with their area and the mean confidence of their cells.
- road_network(): the road cells (`road-flooded` and `road-non-flooded`) thinned to centre lines
  (Zhang-Suen thinning, 8-connected), traced between junctions and ends, and split where
  flooding starts and ends; each segment has its length, passability and mean confidence.
- find_route(): whether a path over passable road segments connects two points, and its length
  (Dijkstra on the segment graph, entered at the nearest passable centre-line cell).

Everything is in cells of the grid: a road narrower than about two cells has no centre line
left, so roads are only as good as the map's resolution and the model's road masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import heapq
import math

import cv2
import numpy as np
from numpy.typing import NDArray
from shapely.geometry import LineString, Polygon

from uav_flood.core.errors import UavFloodError

__all__ = [
    'CLASSES',
    'CLASS_COLOURS_RGB',
    'FloodedBuilding',
    'LandCoverGrid',
    'ResponderLayers',
    'ResponderLayerError',
    'RoadSegment',
    'RouteResult',
    'find_route',
    'flooded_buildings',
    'responder_layers',
    'road_network',
    'thin',
]

#: FloodNet's classes in the order of the segmentation model's `classes` output (MODEL_CARD.md).
CLASSES = (
    'background',
    'building-flooded',
    'building-non-flooded',
    'road-flooded',
    'road-non-flooded',
    'water',
    'tree',
    'vehicle',
    'pool',
    'grass',
)
#: FloodNet's colour for each class (RGB), as its label viewers draw them.
CLASS_COLOURS_RGB = (
    (0, 0, 0),
    (255, 0, 0),
    (180, 120, 120),
    (160, 150, 20),
    (140, 140, 140),
    (61, 230, 250),
    (0, 82, 255),
    (255, 0, 245),
    (255, 235, 0),
    (4, 250, 7),
)
BUILDING_FLOODED = CLASSES.index('building-flooded')
ROAD_FLOODED = CLASSES.index('road-flooded')
ROAD_NON_FLOODED = CLASSES.index('road-non-flooded')
UNSEEN = -1
#: The 8 neighbours of a cell: (d_row, d_col).
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class ResponderLayerError(UavFloodError):
    """A land-cover grid or a route query is invalid (shape, values, resolution, points)."""


@dataclass(frozen=True)
class LandCoverGrid:
    """One FloodNet class per cell on the map's grid, and how sure the map is of it.

    :param labels: int8 (rows, cols): an index into CLASSES, or -1 (not seen).
    :param confidence: float32 (rows, cols), in [0, 1]: the fused probability of the label.
    :param origin_east: east of the south-west corner of cell (0, 0) (m, map ENU).
    :param origin_north: north of that corner (m, map ENU).
    :param resolution_m: cell edge (m, > 0).
    """

    labels: NDArray[np.int8]
    confidence: NDArray[np.float32]
    origin_east: float
    origin_north: float
    resolution_m: float

    def __post_init__(self) -> None:
        labels, confidence = np.asarray(self.labels), np.asarray(self.confidence)
        if labels.ndim != 2 or labels.shape != confidence.shape:
            raise ResponderLayerError(
                f'labels and confidence must be 2-D of one shape, got {labels.shape} and '
                f'{confidence.shape}'
            )
        if labels.size and (labels.min() < UNSEEN or labels.max() >= len(CLASSES)):
            raise ResponderLayerError(
                f'labels must be -1 (not seen) or 0..{len(CLASSES) - 1}, got '
                f'{int(labels.min())}..{int(labels.max())}'
            )
        if not (math.isfinite(self.resolution_m) and self.resolution_m > 0.0):
            raise ResponderLayerError(f'resolution must be > 0 m, got {self.resolution_m}')
        if not (math.isfinite(self.origin_east) and math.isfinite(self.origin_north)):
            raise ResponderLayerError('the grid origin must be finite')

    def enu(self, row: float, col: float) -> tuple[float, float]:
        """Return the map ENU (east, north) of a cell's centre (m)."""
        res = self.resolution_m
        return self.origin_east + (col + 0.5) * res, self.origin_north + (row + 0.5) * res

    def cell(self, east: float, north: float) -> tuple[int, int]:
        """Return the (row, col) of the cell holding a map ENU point (may be off the grid)."""
        res = self.resolution_m
        return (
            math.floor((north - self.origin_north) / res),
            math.floor((east - self.origin_east) / res),
        )


@dataclass(frozen=True)
class FloodedBuilding:
    """A building standing in water: its outline (map ENU), area (m2) and mean confidence."""

    outline: Polygon
    area_m2: float
    confidence: float


@dataclass(frozen=True)
class RoadSegment:
    """A stretch of road centre line that is flooded all along or passable all along.

    :param line: the centre line (map ENU, m), through the centres of its cells.
    :param cells: its cells (row, col), in order along the line.
    :param length_m: its length (m).
    :param passable: True where the road is not flooded.
    :param confidence: the mean confidence of its cells' labels.
    """

    line: LineString
    cells: tuple[tuple[int, int], ...]
    length_m: float
    passable: bool
    confidence: float


@dataclass(frozen=True)
class RouteResult:
    """The answer of find_route().

    :param found: a passable road path connects the two points.
    :param length_m: its length along the road (m), from the road cell nearest each point; nan
        when none was found.
    :param line: the path (map ENU), or None.
    :param reason: why none was found ('' when found).
    """

    found: bool
    length_m: float
    line: LineString | None
    reason: str


@dataclass(frozen=True)
class ResponderLayers:
    """The layers responders read off a land-cover grid (responder_layers()).

    :param buildings: the flooded buildings, largest first.
    :param roads: the road centre lines, split where flooding starts and ends.
    """

    buildings: list[FloodedBuilding]
    roads: list[RoadSegment]

    @property
    def building_area_m2(self) -> float:
        """Return the flooded buildings' total area (m2)."""
        return sum(b.area_m2 for b in self.buildings)

    def road_km(self, passable: bool) -> float:
        """Return the total length of passable (or flooded) road (km)."""
        return sum(r.length_m for r in self.roads if r.passable == passable) / 1000.0


#: Defaults of responder_layers: smaller flooded-building patches are single misclassified
#: cells; shorter road spurs that end in nothing are thinning artefacts at road edges.
MIN_BUILDING_M2 = 4.0
MIN_ROAD_SPUR_M = 5.0


def responder_layers(
    grid: LandCoverGrid,
    min_building_m2: float = MIN_BUILDING_M2,
    min_spur_m: float = MIN_ROAD_SPUR_M,
) -> ResponderLayers:
    """Return the flooded buildings and the road network of a land-cover grid."""
    return ResponderLayers(
        flooded_buildings(grid, min_building_m2), road_network(grid, min_spur_m)
    )


def flooded_buildings(grid: LandCoverGrid, min_area_m2: float = 4.0) -> list[FloodedBuilding]:
    """Return the flooded buildings of `grid`: 8-connected `building-flooded` cells.

    :param min_area_m2: smaller patches are left out (single misclassified cells).
    """
    mask = (np.asarray(grid.labels) == BUILDING_FLOODED).astype(np.uint8)
    count, components = cv2.connectedComponents(mask, connectivity=8)
    res = grid.resolution_m
    buildings: list[FloodedBuilding] = []
    for label in range(1, count):
        component = components == label
        area = float(component.sum()) * res * res
        if area < min_area_m2:
            continue
        contours, _ = cv2.findContours(
            component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        outline = _cells_polygon(max(contours, key=cv2.contourArea), grid)
        confidence = float(np.asarray(grid.confidence)[component].mean())
        buildings.append(FloodedBuilding(outline, area, confidence))
    buildings.sort(key=lambda b: -b.area_m2)
    return buildings


def _cells_polygon(contour: NDArray[np.int32], grid: LandCoverGrid) -> Polygon:
    """Return the polygon around the cells a contour of cell indices (col, row) runs through."""
    points = contour.reshape(-1, 2)
    if len(points) < 3:  # a line of cells: its box
        (c0, r0), (c1, r1) = points.min(axis=0), points.max(axis=0)
        points = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]])
    ring = [grid.enu(float(r), float(c)) for c, r in points]
    # Through the cells' centres: grown by half a cell, the outline encloses the cells.
    polygon = Polygon(ring).buffer(0.5 * grid.resolution_m, join_style='mitre')
    return polygon if isinstance(polygon, Polygon) else Polygon(ring)


def thin(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Return the Zhang-Suen thinning of a binary mask: 8-connected lines one cell wide.

    T. Y. Zhang and C. Y. Suen, "A fast parallel algorithm for thinning digital patterns",
    Comm. ACM 27(3), 1984. Cells on the grid's border are treated as having background outside.
    """
    image = np.pad(np.asarray(mask, dtype=bool), 1).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = image
            # The neighbours P2..P9, clockwise from north (row - 1).
            n = [
                p[:-2, 1:-1],
                p[:-2, 2:],
                p[1:-1, 2:],
                p[2:, 2:],
                p[2:, 1:-1],
                p[2:, :-2],
                p[1:-1, :-2],
                p[:-2, :-2],
            ]
            centre = p[1:-1, 1:-1]
            neighbours = sum(x.astype(np.int32) for x in n)
            ring = [*n, n[0]]
            transitions = sum(
                ((a == 0) & (b == 1)).astype(np.int32)
                for a, b in zip(ring, ring[1:], strict=False)
            )
            if step == 0:
                a = n[0] * n[2] * n[4]
                b = n[2] * n[4] * n[6]
            else:
                a = n[0] * n[2] * n[6]
                b = n[0] * n[4] * n[6]
            remove = (
                (centre == 1)
                & (neighbours >= 2)
                & (neighbours <= 6)
                & (transitions == 1)
                & (a == 0)
                & (b == 0)
            )
            if remove.any():
                image[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def road_network(grid: LandCoverGrid, min_length_m: float = 0.0) -> list[RoadSegment]:
    """Return the road centre lines of `grid`, split where flooding starts and ends.

    The road cells (flooded or not) are thinned together, so a flooded stretch stays part of
    its road; each centre-line cell is flooded when the road cells within one cell of it are
    mostly `road-flooded`. Chains are traced between junctions (3 or more neighbours) and ends.

    :param min_length_m: spurs shorter than this that end in nothing are left out (0: none).
    """
    labels = np.asarray(grid.labels)
    road = (labels == ROAD_FLOODED) | (labels == ROAD_NON_FLOODED)
    skeleton = thin(road)
    flooded_share = _local_share(labels == ROAD_FLOODED, road)
    flooded = skeleton & (flooded_share > 0.5)
    segments: list[RoadSegment] = []
    for chain in _chains(skeleton):
        for piece in _split(chain, flooded):
            # A piece starts at the last cell of the one before: its state is its second cell's.
            segment = _segment(piece, grid, len(piece) > 1 and not flooded[piece[1]])
            if segment is not None:
                segments.append(segment)
    if min_length_m > 0.0:
        segments = _drop_spurs(segments, skeleton, min_length_m)
    return segments


def _local_share(part: NDArray[np.bool_], whole: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Return, per cell, the share of `whole` cells in its 3 x 3 window that are `part`."""
    kernel = np.ones((3, 3), np.float32)
    inside = cv2.filter2D(part.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    total = cv2.filter2D(whole.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return np.where(total > 0, inside / np.maximum(total, 1.0), 0.0)


def _neighbours(skeleton: NDArray[np.bool_], row: int, col: int) -> list[tuple[int, int]]:
    rows, cols = skeleton.shape
    return [
        (row + dr, col + dc)
        for dr, dc in _NEIGHBOURS
        if 0 <= row + dr < rows and 0 <= col + dc < cols and skeleton[row + dr, col + dc]
    ]


def _chains(skeleton: NDArray[np.bool_]) -> list[list[tuple[int, int]]]:
    """Return the skeleton's chains of cells between nodes (junctions and ends), and loops."""
    cells = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    links = {cell: _neighbours(skeleton, *cell) for cell in cells}
    # Where a junction's cells touch each other, drop the diagonal link between two cells
    # that also share an orthogonal neighbour: the chains then meet at one cell.
    for (r, c), near in links.items():
        links[(r, c)] = [
            (nr, nc)
            for nr, nc in near
            if nr == r or nc == c or ((r, nc) not in cells and (nr, c) not in cells)
        ]
    nodes = {cell for cell, near in links.items() if len(near) != 2}
    seen_edges: set[frozenset[tuple[int, int]]] = set()
    chains: list[list[tuple[int, int]]] = []

    def walk(start: tuple[int, int], first: tuple[int, int]) -> list[tuple[int, int]]:
        chain = [start, first]
        seen_edges.add(frozenset((start, first)))
        while chain[-1] not in nodes:
            here = chain[-1]
            ahead = [n for n in links[here] if frozenset((here, n)) not in seen_edges]
            if not ahead:
                break
            seen_edges.add(frozenset((here, ahead[0])))
            chain.append(ahead[0])
            if ahead[0] == start:
                break
        return chain

    for node in sorted(nodes):
        for first in links[node]:
            if frozenset((node, first)) not in seen_edges:
                chains.append(walk(node, first))
    for cell in sorted(cells):  # loops without a node
        for first in links[cell]:
            if frozenset((cell, first)) not in seen_edges:
                chains.append(walk(cell, first))
    return chains


def _split(
    chain: list[tuple[int, int]], flooded: NDArray[np.bool_]
) -> list[list[tuple[int, int]]]:
    """Split a chain where its cells change between flooded and passable (sharing the cell)."""
    pieces = [[chain[0]]]
    for previous, cell in zip(chain, chain[1:], strict=False):
        if flooded[cell] != flooded[previous]:
            pieces.append([previous])
            # The new piece starts at the last cell of the old one: lengths add up and the
            # pieces stay connected.
        pieces[-1].append(cell)
    return pieces


def _segment(
    cells: list[tuple[int, int]], grid: LandCoverGrid, passable: bool
) -> RoadSegment | None:
    if len(cells) < 2:
        return None
    res = grid.resolution_m
    length = sum(math.dist(a, b) for a, b in zip(cells, cells[1:], strict=False)) * res
    body = cells[1:] if len(cells) > 2 else cells
    confidence = float(np.mean([grid.confidence[r, c] for r, c in body]))
    line = LineString([grid.enu(r, c) for r, c in cells])
    return RoadSegment(line, tuple(cells), length, passable, confidence)


def _drop_spurs(
    segments: list[RoadSegment], skeleton: NDArray[np.bool_], min_length_m: float
) -> list[RoadSegment]:
    """Leave out short segments with a free end (thinning's whiskers on wide roads)."""
    ends: dict[tuple[int, int], int] = {}
    for segment in segments:
        for cell in (segment.cells[0], segment.cells[-1]):
            ends[cell] = ends.get(cell, 0) + 1
    kept = []
    for segment in segments:
        free = any(
            ends[cell] == 1 and len(_neighbours(skeleton, *cell)) <= 1
            for cell in (segment.cells[0], segment.cells[-1])
        )
        joined = any(ends[cell] > 1 for cell in (segment.cells[0], segment.cells[-1]))
        if free and joined and segment.length_m < min_length_m:
            continue
        kept.append(segment)
    return kept


def find_route(
    segments: Sequence[RoadSegment],
    grid: LandCoverGrid,
    start: tuple[float, float],
    goal: tuple[float, float],
    snap_m: float = 30.0,
) -> RouteResult:
    """Return whether passable road connects `start` and `goal` (map ENU, m), and how far.

    Each point is taken to the nearest centre-line cell of any road within `snap_m`; when that
    cell is on a flooded segment, the point is cut off. The search is Dijkstra over the
    centre-line cells of the passable segments (8-connected steps, their lengths).

    :raises ResponderLayerError: a point or snap_m is not finite, or snap_m <= 0.
    """
    for name, point in (('start', start), ('goal', goal)):
        if len(point) != 2 or not all(math.isfinite(v) for v in point):
            raise ResponderLayerError(f'{name} must be a finite (east, north) point, got {point}')
    if not (math.isfinite(snap_m) and snap_m > 0.0):
        raise ResponderLayerError(f'snap distance must be > 0 m, got {snap_m}')
    if not segments:
        return RouteResult(False, math.nan, None, 'the map has no road')
    passable_cells: dict[tuple[int, int], set[tuple[int, int]]] = {}
    state: dict[tuple[int, int], bool] = {}
    for segment in segments:
        for a, b in zip(segment.cells, segment.cells[1:], strict=False):
            if segment.passable:
                passable_cells.setdefault(a, set()).add(b)
                passable_cells.setdefault(b, set()).add(a)
        for cell in segment.cells[1:-1] if len(segment.cells) > 2 else segment.cells:
            state[cell] = segment.passable or state.get(cell, False)
        for cell in (segment.cells[0], segment.cells[-1]):
            state[cell] = state.get(cell, False) or segment.passable
    ends: list[tuple[int, int]] = []
    for name, point in (('start', start), ('goal', goal)):
        cell, distance = _nearest(state, grid, point)
        if distance > snap_m:
            return RouteResult(False, math.nan, None, f'no road within {snap_m:g} m of the {name}')
        if not state[cell]:
            return RouteResult(
                False, math.nan, None, f'the road nearest the {name} is flooded there'
            )
        ends.append(cell)
    path = _dijkstra(passable_cells, ends[0], ends[1])
    if path is None:
        return RouteResult(
            False,
            math.nan,
            None,
            'no passable road connects them: the roads between are flooded or not mapped',
        )
    steps = zip(path, path[1:], strict=False)
    length = sum(math.dist(a, b) for a, b in steps) * grid.resolution_m
    points = [grid.enu(r, c) for r, c in path]
    line = LineString(points if len(points) > 1 else points * 2)
    return RouteResult(True, length, line, '')


def _nearest(
    cells: dict[tuple[int, int], bool], grid: LandCoverGrid, point: tuple[float, float]
) -> tuple[tuple[int, int], float]:
    keys = list(cells)
    centres = np.array([grid.enu(r, c) for r, c in keys])
    distances = np.hypot(centres[:, 0] - point[0], centres[:, 1] - point[1])
    best = int(np.argmin(distances))
    return keys[best], float(distances[best])


def _dijkstra(
    graph: dict[tuple[int, int], set[tuple[int, int]]],
    start: tuple[int, int],
    goal: tuple[int, int],
) -> list[tuple[int, int]] | None:
    if start == goal:
        return [start]
    distance = {start: 0.0}
    previous: dict[tuple[int, int], tuple[int, int]] = {}
    queue = [(0.0, start)]
    while queue:
        d, cell = heapq.heappop(queue)
        if cell == goal:
            path = [goal]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        if d > distance.get(cell, math.inf):
            continue
        for near in graph.get(cell, ()):
            nd = d + math.dist(cell, near)
            if nd < distance.get(near, math.inf):
                distance[near] = nd
                previous[near] = cell
                heapq.heappush(queue, (nd, near))
    return None
