"""Score a flood map against ground truth inside an area of interest.

Used by the demo's live progress and its report (docs/demo.md). Unlike `FloodMap.iou`, which
compares only cells both grids know, this scores the whole area: a cell of the area the drones
never observed counts as "not water" in the map, so a gap in coverage lowers recall instead of
vanishing from the score. Cells outside the truth (beyond the labelled scene) are left out of
IoU, precision and recall but still count for coverage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math

import numpy as np
from numpy.typing import NDArray
import shapely
from shapely.geometry.base import BaseGeometry

from uav_flood.core.georef import GridPatch, UNSEEN


@dataclass(frozen=True)
class MapScore:
    """How a map compares with the truth inside an area.

    :param area_cells: grid cells whose centre lies in the area.
    :param observed_cells: of those, cells the map observed at least once.
    :param truth_cells: area cells the truth labels (inside the scene).
    :param true_positive: truth-labelled area cells that are water in both.
    :param false_positive: water in the map, dry in the truth.
    :param false_negative: water in the truth, not water in the map (dry or unobserved).
    """

    area_cells: int
    observed_cells: int
    truth_cells: int
    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def coverage_pct(self) -> float:
        """Return the observed share of the area (%)."""
        return 100.0 * self.observed_cells / self.area_cells if self.area_cells else 0.0

    @property
    def iou(self) -> float:
        """Return the water IoU (nan without water in either)."""
        union = self.true_positive + self.false_positive + self.false_negative
        return self.true_positive / union if union else math.nan

    @property
    def precision(self) -> float:
        """Return the share of mapped water that is water (nan if none mapped)."""
        mapped = self.true_positive + self.false_positive
        return self.true_positive / mapped if mapped else math.nan

    @property
    def recall(self) -> float:
        """Return the share of true water that is mapped (nan if the truth has none)."""
        water = self.true_positive + self.false_negative
        return self.true_positive / water if water else math.nan


def area_cells(truth: GridPatch, area: BaseGeometry) -> NDArray[np.bool_]:
    """Return which cells of `truth`'s patch have their centre inside `area` (map ENU).

    :param truth: a patch of the global grid (its geometry only).
    :param area: polygon(s) in map ENU (m).
    """
    res = truth.resolution_m
    east = truth.origin_east + (np.arange(truth.width) + 0.5) * res
    north = truth.origin_north + (np.arange(truth.height) + 0.5) * res
    grid_e, grid_n = np.meshgrid(east, north)
    inside: NDArray[np.bool_] = shapely.contains_xy(area, grid_e, grid_n)
    return inside


def score_classes(
    estimate: GridPatch, truth: GridPatch, inside: NDArray[np.bool_], classes: tuple[int, ...]
) -> MapScore:
    """Score a land-cover map's `classes` against class truth, as score_map scores water.

    A cell is positive where its class is one of `classes`; a cell the map never observed
    (-1) counts as negative, so gaps lower the recall.

    :param estimate: the land cover: FloodNet class 0..9 per cell, -1 unobserved.
    :param truth: the class truth on the same global grid, -1 unlabelled.
    :param inside: (truth.height, truth.width) cells of the area.
    :raises ValueError: on grids of other resolutions or a mask of another shape.
    """

    def of_classes(values: NDArray[np.int16]) -> NDArray[np.bool_]:
        positive: NDArray[np.bool_] = np.isin(values, classes)
        return positive

    return _score(estimate, truth, inside, of_classes, of_classes)


def on_grid_of(estimate: GridPatch, truth: GridPatch) -> NDArray[np.int16]:
    """Return `estimate`'s values on `truth`'s cells (truth.height, truth.width); -1 elsewhere.

    Both patches sit on the global grid (same resolution), so cell indices differ by a whole
    offset.
    """
    res = truth.resolution_m
    mapped = np.full((truth.height, truth.width), UNSEEN, np.int16)
    if estimate.width and estimate.height:
        dc = round((estimate.origin_east - truth.origin_east) / res)
        dr = round((estimate.origin_north - truth.origin_north) / res)
        est = np.asarray(estimate.data, np.int16).reshape(estimate.height, estimate.width)
        c0, r0 = max(dc, 0), max(dr, 0)
        c1 = min(dc + estimate.width, truth.width)
        r1 = min(dr + estimate.height, truth.height)
        if c1 > c0 and r1 > r0:
            mapped[r0:r1, c0:c1] = est[r0 - dr : r1 - dr, c0 - dc : c1 - dc]
    return mapped


def score_map(
    estimate: GridPatch, truth: GridPatch, inside: NDArray[np.bool_], threshold_pct: int = 50
) -> MapScore:
    """Score a map patch against a truth patch on the truth patch's cells that are `inside`.

    :param estimate: the map: -1 unobserved, else P(water) in percent (FloodMap.to_occupancy,
        or a /flood_map OccupancyGrid).
    :param truth: 100 water, 0 dry, -1 unlabelled, on the same global grid.
    :param inside: (truth.height, truth.width) cells of the area (see area_cells).
    :param threshold_pct: a map cell is water above this (percent).
    :raises ValueError: on grids of other resolutions or a mask of another shape.
    """
    return _score(
        estimate,
        truth,
        inside,
        lambda values: values > threshold_pct,
        lambda values: values > 50,
    )


def _score(
    estimate: GridPatch,
    truth: GridPatch,
    inside: NDArray[np.bool_],
    positive_map: Callable[[NDArray[np.int16]], NDArray[np.bool_]],
    positive_truth: Callable[[NDArray[np.int16]], NDArray[np.bool_]],
) -> MapScore:
    """Count the area's cells where `positive_*` holds in the map and in the truth."""
    res = truth.resolution_m
    if abs(estimate.resolution_m - res) > 1e-6 * res:
        raise ValueError(f'map at {estimate.resolution_m} m, truth at {res} m')
    if inside.shape != (truth.height, truth.width):
        raise ValueError(f'area mask {inside.shape}, truth {truth.height}x{truth.width}')
    truth_data = np.asarray(truth.data, np.int16).reshape(truth.height, truth.width)
    mapped = on_grid_of(estimate, truth)
    labelled = inside & (truth_data != UNSEEN)
    in_map = labelled & positive_map(mapped)
    in_truth = labelled & positive_truth(truth_data)
    return MapScore(
        area_cells=int(np.count_nonzero(inside)),
        observed_cells=int(np.count_nonzero(inside & (mapped != UNSEEN))),
        truth_cells=int(np.count_nonzero(labelled)),
        true_positive=int(np.count_nonzero(in_map & in_truth)),
        false_positive=int(np.count_nonzero(in_map & ~in_truth)),
        false_negative=int(np.count_nonzero(in_truth & ~in_map)),
    )
