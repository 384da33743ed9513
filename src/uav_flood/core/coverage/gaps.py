"""What the flood map has not seen of the area: the gaps a second pass flies (no rclpy).

The coordinator follows what the drones flew; the map shows what their cameras saw. The two
differ where a drone's segmentation fell behind (frames dropped at the end of a leg, on loaded
cores) or where frames had no pose (flight_control restarting). `map_gaps` finds the cells of
the area the map has not observed, drops specks, and returns them as polygons grown so that a
re-plan (which ignores strips narrower than its sliver width) still flies them.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import cv2
import numpy as np
from numpy.typing import NDArray
import shapely
from shapely.geometry import LinearRing, Polygon
from shapely.geometry.base import BaseGeometry

from uav_flood.core.coverage.area import polygons_of
from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.flood_map import cells_outline
from uav_flood.core.georef import GridPatch

#: The map's value of a cell it never observed.
UNSEEN = -1
#: Fixed-point bits of the polygon vertices handed to cv2.fillPoly (1/16 cell).
_SHIFT = 4


@dataclass(frozen=True)
class MapGaps:
    """The parts of an area a map has not seen.

    :param geometry: the gaps to fly again, grown by the margin and clipped to the region
        (m, map ENU; empty when none is large enough).
    :param count: how many gaps that is.
    :param unseen_m2: every unseen cell of the region, specks included (m2).
    :param gaps_m2: the unseen cells of the kept gaps, before growing (m2).
    :param region_m2: the region's cells (m2).
    """

    geometry: BaseGeometry
    count: int
    unseen_m2: float
    gaps_m2: float
    region_m2: float

    @property
    def seen_fraction(self) -> float:
        """Return the fraction of the region's cells the map has observed."""
        if self.region_m2 <= 0.0:
            return 1.0
        return 1.0 - self.unseen_m2 / self.region_m2


def map_gaps(
    patch: GridPatch,
    region: BaseGeometry,
    min_gap_m2: float,
    margin_m: float,
) -> MapGaps:
    """Return what `patch` has not observed of `region`.

    A cell belongs to the region when its centre lies inside. Unseen cells that an opening by
    a 3 x 3 cell square removes (single cells, lines one or two cells wide along the edge) are
    specks; 8-connected groups of the rest smaller than `min_gap_m2` are dropped too.

    :param patch: the map (OccupancyGrid layout: -1 unseen); it may cover only part of the
        region (the rest is unseen).
    :param region: where the map must see (m, map ENU), e.g. the area less its no-fly zones.
    :param min_gap_m2: the smallest gap worth a flight (m2).
    :param margin_m: each gap is grown by this much before it is clipped to the region (m), so
        a strip a few cells deep is still wider than a re-plan's sliver width.
    :raises PlanningError: on a negative size or an empty region.
    """
    if min_gap_m2 < 0.0 or margin_m < 0.0 or not math.isfinite(min_gap_m2 + margin_m):
        raise PlanningError(
            f'map gaps: min_gap_m2 and margin_m must be >= 0, got {min_gap_m2}, {margin_m}'
        )
    if region.is_empty or region.area <= 0.0:
        raise PlanningError('map gaps: the region is empty')
    res = float(patch.resolution_m)
    cell_m2 = res * res
    min_x, min_y, max_x, max_y = region.bounds
    col0, row0 = math.floor(min_x / res), math.floor(min_y / res)
    width = math.ceil(max_x / res) - col0
    height = math.ceil(max_y / res) - row0
    inside = _rasterise(region, res, col0, row0, width, height)
    seen = np.zeros((height, width), dtype=bool)
    pcol, prow = patch.origin_index
    if patch.width and patch.height:
        data = np.asarray(patch.data).reshape(patch.height, patch.width)
        dc, dr = pcol - col0, prow - row0
        c0, r0 = max(dc, 0), max(dr, 0)
        c1, r1 = min(dc + patch.width, width), min(dr + patch.height, height)
        if c1 > c0 and r1 > r0:
            seen[r0:r1, c0:c1] = data[r0 - dr : r1 - dr, c0 - dc : c1 - dc] != UNSEEN
    unseen = (inside & ~seen).astype(np.uint8)
    region_m2 = float(np.count_nonzero(inside)) * cell_m2
    unseen_m2 = float(np.count_nonzero(unseen)) * cell_m2
    kernel = np.ones((3, 3), np.uint8)
    solid = cv2.morphologyEx(unseen, cv2.MORPH_OPEN, kernel)
    count, labels_any, stats, _ = cv2.connectedComponentsWithStats(
        solid, connectivity=8, ltype=cv2.CV_32S
    )
    labels: NDArray[np.int32] = np.asarray(labels_any, dtype=np.int32)
    sizes = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    keep = sizes * cell_m2 >= min_gap_m2
    keep[0] = False  # the background
    kept = np.flatnonzero(keep)
    if not len(kept):
        return MapGaps(Polygon(), 0, unseen_m2, 0.0, region_m2)
    mask = np.isin(labels, kept).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    shapes = [cells_outline(c, res, col0 * res, row0 * res) for c in contours]
    grown = shapely.union_all(shapes).buffer(margin_m, join_style='mitre')
    geometry = shapely.union_all(
        [p for p in polygons_of(grown.intersection(region)) if p.area > cell_m2]
    )
    gaps_m2 = float(sizes[kept].sum()) * cell_m2
    return MapGaps(geometry, len(kept), unseen_m2, gaps_m2, region_m2)


def _rasterise(
    region: BaseGeometry, res: float, col0: int, row0: int, width: int, height: int
) -> NDArray[np.bool_]:
    """Return which cells of the grid (row 0 south) have their centre inside `region`."""
    image = np.zeros((height, width), np.uint8)
    scale = float(1 << _SHIFT)

    def pixels(ring: LinearRing) -> NDArray[np.int32]:
        xy = np.asarray(ring.coords, dtype=np.float64)[:, :2]
        cols = (xy[:, 0] / res - col0 - 0.5) * scale
        rows = (xy[:, 1] / res - row0 - 0.5) * scale
        return np.rint(np.stack([cols, rows], axis=1)).astype(np.int32)

    for polygon in polygons_of(region):
        cv2.fillPoly(image, [pixels(polygon.exterior)], 1, shift=_SHIFT)
        for hole in polygon.interiors:
            cv2.fillPoly(image, [pixels(hole)], 0, shift=_SHIFT)
    inside: NDArray[np.bool_] = image.astype(bool)
    return inside
