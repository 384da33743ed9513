"""The flood map: log-odds fusion of water observations on the global grid (no rclpy).

Every vehicle publishes flood observations as patches of the global grid (core.georef.GridPatch:
the frame's water probability in percent, 0..100, or -1 unseen; 0 and 100 are hard dry and
water; cell (i, j) covers east [i r, (i + 1) r) and north [j r, (j + 1) r) in map ENU). FloodMap
fuses them into one grid of log-odds per cell with a binary Bayes filter,
renders it as an OccupancyGrid-style patch, extracts flood polygons, checkpoints itself to disk
atomically and scores itself against a truth grid. See docs/flood_map.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import datetime
import enum
import io
import json
import logging
import math
import os
from pathlib import Path
import struct
import time
import tokenize
from typing import Any
import zipfile
import zlib

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from uav_flood.core.atomic_file import write_atomic
from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoError, GeoPoint
from uav_flood.core.georef import DRY, GridPatch, UNSEEN, WATER

__all__ = [
    'CHECKPOINT_FORMAT',
    'CHECKPOINT_VERSION',
    'CheckpointError',
    'CheckpointTooLargeError',
    'FloodMap',
    'FloodMapError',
    'FloodPolygon',
    'FusionConfig',
    'PatchRejectedError',
    'RejectReason',
    'grid_iou',
    'load_or_new',
    'set_aside_corrupt',
]

_LOG = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 'uav_flood.flood_map'
CHECKPOINT_VERSION = 3
#: Checkpoint versions this build reads (2: water and dry counts, converted on load).
READABLE_VERSIONS = (2, 3)
#: Evidence is summed per cell in integer units of 1/EVIDENCE_SCALE log-odds: integer addition
#: gives the same sum in any order, so replay reproduces the live map bit for bit.
EVIDENCE_SCALE = 1024
# An origin may be off the grid by this much (cells) and still count as aligned: float32
# resolutions in OccupancyGrid (0.1 is 0.10000000149) must not be refused far from the origin.
_ALIGN_TOL_CELLS = 1e-3
#: Largest array a checkpoint may hold (cells): the whole extent of the default configuration,
#: 10 km a side at 0.5 m. A file whose array headers claim more is refused before anything is
#: decompressed (a few MB of zeros deflate from GBs).
MAX_CHECKPOINT_CELLS = 20_000 * 20_000
# Largest checkpoint header array (bytes); real ones are about 500.
_MAX_HEADER_BYTES = 1 << 20
# Relative tolerance on a patch's resolution, again for float32 round trips.
_RES_TOL = 1e-6
# Smallest allocation (cells a side); growth at least doubles the allocated size.
_MIN_ALLOC_CELLS = 256
_COUNT_MAX = np.iinfo(np.uint16).max


class FloodMapError(UavFloodError):
    """A flood map operation got invalid input (configuration, truth grid, threshold)."""


class RejectReason(enum.StrEnum):
    """Why a patch was refused; the node counts refusals by these values."""

    FRAME = 'frame'  # Checked by the node (header.frame_id); listed so all counts share keys.
    SIZE = 'size'
    ORIGIN = 'origin'
    RESOLUTION = 'resolution'
    ALIGNMENT = 'alignment'
    EXTENT = 'extent'
    VALUES = 'values'


class PatchRejectedError(FloodMapError):
    """A patch was refused and not fused.

    :param reason: the category, for counting.
    :param message: what is wrong, in words an operator can act on.
    """

    def __init__(self, reason: RejectReason, message: str) -> None:
        self.reason = reason
        super().__init__(f'patch refused ({reason.value}): {message}')


class CheckpointError(FloodMapError):
    """A checkpoint file is unreadable: corrupt, truncated, another format or version.

    :param path: the file.
    :param message: what is wrong.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f'checkpoint {path}: {message}')


class CheckpointTooLargeError(CheckpointError):
    """A checkpoint whose arrays claim more cells than the reader accepts (before reading)."""


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class FusionConfig:
    """The sensor model and the grid's size limits.

    An observation of water (100) adds log(p_hit / p_false) to a cell's log-odds, one of dry (0)
    adds log((1 - p_hit) / (1 - p_false)). A soft observation, the frame's calibrated probability
    q in percent, adds logit(q), bounded by those two: a frame is never trusted more than a hard
    observation, and q = 50 adds nothing. The map sums the evidence per cell in integer units
    (EVIDENCE_SCALE) and computes the log-odds from the sum when read, clamped to [-clamp,
    clamp]: the result does not depend on the order of the observations (replay reproduces the
    live map bit for bit), at the price that a saturated cell no longer changes its mind faster
    than the evidence against it accumulates (see docs/flood_map.md).

    :param resolution_m: cell edge length (m); fixed for the map's life.
    :param p_hit: P(observe water | water).
    :param p_false: P(observe water | dry).
    :param clamp_log_odds: bound L on |log-odds| (L = 3.5 is P = 0.97).
    :param max_extent_m: side of the square centred on the map origin that patches must lie
        in (m, map ENU).
    """

    resolution_m: float = 0.5
    p_hit: float = 0.85
    p_false: float = 0.15
    clamp_log_odds: float = 3.5
    max_extent_m: float = 10_000.0

    def __post_init__(self) -> None:
        """Reject a sensor model that carries no information and non-positive sizes."""
        for name in ('resolution_m', 'clamp_log_odds', 'max_extent_m'):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
                raise FloodMapError(f'{name} must be a positive number, got {value!r}')
        for name in ('p_hit', 'p_false'):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value < 1.0):
                raise FloodMapError(f'{name} must be a probability in (0, 1), got {value!r}')
        if self.p_hit <= self.p_false:
            raise FloodMapError(
                f'p_hit ({self.p_hit}) must exceed p_false ({self.p_false}), else an '
                'observation of water is no evidence of water'
            )
        if self.max_extent_m / self.resolution_m > 1_000_000:
            raise FloodMapError(
                f'max_extent_m {self.max_extent_m} is over a million cells of '
                f'{self.resolution_m} m a side'
            )

    @property
    def water_log_odds(self) -> float:
        """Return the log-odds increment of one observation of water."""
        return math.log(self.p_hit / self.p_false)

    @property
    def dry_log_odds(self) -> float:
        """Return the log-odds increment (negative) of one observation of dry ground."""
        return math.log((1.0 - self.p_hit) / (1.0 - self.p_false))

    def increments(self) -> NDArray[np.int32]:
        """Return the evidence (EVIDENCE_SCALE units) each observed value 0..100 adds (101,)."""
        q = np.clip(np.arange(101, dtype=np.float64) / 100.0, 1e-9, 1.0 - 1e-9)
        logs = np.clip(np.log(q / (1.0 - q)), self.dry_log_odds, self.water_log_odds)
        out: NDArray[np.int32] = np.rint(logs * EVIDENCE_SCALE).astype(np.int32)
        return out

    @property
    def extent_cells(self) -> tuple[int, int]:
        """Return the [first, last) global cell index allowed on either axis."""
        half = math.floor(self.max_extent_m / 2.0 / self.resolution_m + 1e-9)
        return -half, half


@dataclass(frozen=True)
class FloodPolygon:
    """One connected flooded region.

    :param polygon: the outline with its holes (m, map ENU), simplified within one cell.
    :param area_m2: the area of its water cells (m2).
    :param mean_confidence: mean P(water) of its cells.
    :param cells: number of water cells.
    """

    polygon: Polygon
    area_m2: float
    mean_confidence: float
    cells: int


@dataclass
class _Window:
    """An allocated block of the global grid: first column and row, arrays (rows, cols).

    `evidence` is the summed log-odds of the observations (EVIDENCE_SCALE units), `count` how
    many observed the cell (saturating at 65535; evidence stops growing there too).
    """

    col0: int
    row0: int
    evidence: NDArray[np.int32]
    count: NDArray[np.uint16]

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.count.shape[0]), int(self.count.shape[1]))


@dataclass
class FloodMap:
    """A map-frame grid of flood log-odds that grows with the observed area.

    Each cell holds the sum of its observations' evidence (int32, EVIDENCE_SCALE units) and
    their number (uint16, saturating at 65535); integer addition is commutative and associative,
    so any order of the same observations gives the same arrays. Cells never observed keep count
    0 and are unknown. Outputs cover the bounding box of every observed cell (`bounds_cells`).

    :param config: the sensor model, resolution and maximum extent.
    """

    config: FusionConfig = field(default_factory=FusionConfig)
    observations_applied: int = 0
    cells_observed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    #: The mission origin, map (0, 0, 0), when known: checkpoints keep it, so a checkpoint says
    #: where on Earth it is (export and replay need no --origin).
    origin: GeoPoint | None = None
    _window: _Window | None = field(default=None, init=False, repr=False)
    # Observed bounding box in global cells: (col0, row0, col1, row1), [0, 1) half-open.
    _seen: tuple[int, int, int, int] | None = field(default=None, init=False, repr=False)
    _increments: NDArray[np.int32] = field(
        default_factory=lambda: np.zeros(101, np.int32), init=False, repr=False
    )

    def __post_init__(self) -> None:
        """Give every reject reason a count; tabulate the sensor model's evidence per value."""
        for reason in RejectReason:
            self.rejected.setdefault(reason.value, 0)
        self._increments = self.config.increments()

    # ---- fusion ------------------------------------------------------------------------------

    @property
    def resolution_m(self) -> float:
        """Return the cell edge length (m)."""
        return self.config.resolution_m

    def apply(self, patch: GridPatch) -> int:
        """Fuse one observation patch; return the number of cells it observed.

        :param patch: cells 0..100 (water probability in percent; 0 dry, 100 water), -1
            unseen, on the global grid (map ENU).
        :raises PatchRejectedError: with the reason, after counting it in `rejected`.
        """
        return self.apply_arrays(
            patch.origin_east,
            patch.origin_north,
            patch.resolution_m,
            patch.width,
            patch.height,
            patch.data,
        )

    def apply_arrays(
        self,
        origin_east: float,
        origin_north: float,
        resolution_m: float,
        width: int,
        height: int,
        data: ArrayLike,
    ) -> int:
        """Fuse one patch given as OccupancyGrid fields; return the number of cells it observed.

        :param origin_east: east of the south-west corner (m, map ENU).
        :param origin_north: north of the south-west corner (m, map ENU).
        :param resolution_m: cell edge length (m); must equal the map's.
        :param width: columns (cells, eastward).
        :param height: rows (cells, northward).
        :param data: width x height values, row-major from the south row: 0..100 or -1.
        :raises PatchRejectedError: with the reason, after counting it in `rejected`.
        """
        try:
            col0, row0, cells = self._check(
                origin_east, origin_north, resolution_m, width, height, data
            )
        except PatchRejectedError as error:
            self.rejected[error.reason.value] += 1
            raise
        return self._fuse(col0, row0, cells)

    def _check(
        self,
        origin_east: float,
        origin_north: float,
        resolution_m: float,
        width: int,
        height: int,
        data: ArrayLike,
    ) -> tuple[int, int, NDArray[np.uint8]]:
        """Validate a patch; return its global (column, row) and its cells as uint8 (-1 = 255)."""
        res = self.config.resolution_m
        if not all(isinstance(v, int | np.integer) for v in (width, height)):
            raise PatchRejectedError(
                RejectReason.SIZE, f'size {width!r} x {height!r} is not integer'
            )
        if width <= 0 or height <= 0:
            raise PatchRejectedError(RejectReason.SIZE, f'size {width} x {height} has no cells')
        try:
            cells = np.asarray(data)
        except (TypeError, ValueError) as error:
            raise PatchRejectedError(
                RejectReason.VALUES, f'data is not an array: {error}'
            ) from None
        if cells.size != width * height:
            raise PatchRejectedError(
                RejectReason.SIZE,
                f'data has {cells.size} values for {width} x {height} = {width * height} cells',
            )
        if not (math.isfinite(origin_east) and math.isfinite(origin_north)):
            raise PatchRejectedError(
                RejectReason.ORIGIN, f'origin ({origin_east}, {origin_north}) is not finite'
            )
        if not (math.isfinite(resolution_m) and resolution_m > 0.0):
            raise PatchRejectedError(
                RejectReason.RESOLUTION, f'resolution {resolution_m} is not a positive number'
            )
        if abs(resolution_m - res) > _RES_TOL * res:
            raise PatchRejectedError(
                RejectReason.RESOLUTION, f'resolution {resolution_m} m, the map uses {res} m'
            )
        col_f, row_f = origin_east / res, origin_north / res
        col0, row0 = round(col_f), round(row_f)
        if abs(col_f - col0) > _ALIGN_TOL_CELLS or abs(row_f - row0) > _ALIGN_TOL_CELLS:
            raise PatchRejectedError(
                RejectReason.ALIGNMENT,
                f'origin ({origin_east}, {origin_north}) is not on the {res} m grid',
            )
        low, high = self.config.extent_cells
        if col0 < low or row0 < low or col0 + width > high or row0 + height > high:
            half = self.config.max_extent_m / 2.0
            raise PatchRejectedError(
                RejectReason.EXTENT,
                f'patch east [{col0 * res}, {(col0 + width) * res}) north [{row0 * res}, '
                f'{(row0 + height) * res}) m leaves the map extent +-{half} m',
            )
        if cells.dtype != np.int8:
            if not np.issubdtype(cells.dtype, np.integer):
                raise PatchRejectedError(
                    RejectReason.VALUES, f'data of type {cells.dtype} is not int'
                )
            if cells.size and (cells.min() < -1 or cells.max() > WATER):
                raise PatchRejectedError(RejectReason.VALUES, 'data has values outside -1..100')
            cells = cells.astype(np.int8)
        codes = cells.reshape(height, width).view(np.uint8)
        valid = (codes <= WATER) | (codes == np.uint8(UNSEEN & 0xFF))
        if not valid.all():
            bad = np.unique(cells.reshape(-1)[~valid.reshape(-1)])[:5].tolist()
            raise PatchRejectedError(
                RejectReason.VALUES, f'data has values {bad}; allowed -1 and 0..100'
            )
        return col0, row0, codes

    def _fuse(self, col0: int, row0: int, codes: NDArray[np.uint8]) -> int:
        observed = codes != np.uint8(UNSEEN & 0xFF)
        rows_any = np.flatnonzero(observed.any(axis=1))
        self.observations_applied += 1
        if rows_any.size == 0:
            return 0
        cols_any = np.flatnonzero(observed.any(axis=0))
        # Trim to the observed cells: footprints of pitched cameras leave unseen margins.
        r_a, r_b = int(rows_any[0]), int(rows_any[-1]) + 1
        c_a, c_b = int(cols_any[0]), int(cols_any[-1]) + 1
        codes, observed = codes[r_a:r_b, c_a:c_b], observed[r_a:r_b, c_a:c_b]
        col0, row0 = col0 + c_a, row0 + r_a
        height, width = codes.shape
        window = self._ensure(col0, row0, col0 + width, row0 + height)
        r, c = row0 - window.row0, col0 - window.col0
        count = window.count[r : r + height, c : c + width]
        evidence = window.evidence[r : r + height, c : c + width]
        add = observed & (count < _COUNT_MAX)
        evidence += np.where(add, self._increments[np.minimum(codes, WATER)], 0)
        count += add
        seen = (col0, row0, col0 + width, row0 + height)
        if self._seen is not None:
            seen = (
                min(seen[0], self._seen[0]),
                min(seen[1], self._seen[1]),
                max(seen[2], self._seen[2]),
                max(seen[3], self._seen[3]),
            )
        self._seen = seen
        n = int(np.count_nonzero(observed))
        self.cells_observed += n
        return n

    def _ensure(self, col0: int, row0: int, col1: int, row1: int) -> _Window:
        """Return the window, grown (at least doubled) to hold [col0, col1) x [row0, row1)."""
        window = self._window
        if window is not None:
            rows, cols = window.shape
            if (
                col0 >= window.col0
                and row0 >= window.row0
                and col1 <= window.col0 + cols
                and row1 <= window.row0 + rows
            ):
                return window
            new_c0, new_c1 = self._grow(window.col0, window.col0 + cols, col0, col1)
            new_r0, new_r1 = self._grow(window.row0, window.row0 + rows, row0, row1)
        else:
            new_c0, new_c1 = self._grow(col0, col0, col0, col1)
            new_r0, new_r1 = self._grow(row0, row0, row0, row1)
        evidence = np.zeros((new_r1 - new_r0, new_c1 - new_c0), dtype=np.int32)
        count = np.zeros(evidence.shape, dtype=np.uint16)
        if window is not None:
            rows, cols = window.shape
            r, c = window.row0 - new_r0, window.col0 - new_c0
            evidence[r : r + rows, c : c + cols] = window.evidence
            count[r : r + rows, c : c + cols] = window.count
            _LOG.debug('flood map grown from %dx%d to %dx%d cells', cols, rows, *count.shape[::-1])
        self._window = _Window(new_c0, new_r0, evidence, count)
        return self._window

    def _grow(self, have0: int, have1: int, need0: int, need1: int) -> tuple[int, int]:
        """Return a span holding both [have0, have1) and [need0, need1), padded, in extent."""
        low, high = self.config.extent_cells
        lo, hi = min(have0, need0), max(have1, need1)
        if (lo, hi) == (have0, have1):
            return lo, hi
        size = min(high - low, max(hi - lo, 2 * (have1 - have0), _MIN_ALLOC_CELLS))
        extra = size - (hi - lo)
        grew_low, grew_high = need0 < have0 or have0 == have1, need1 > have1
        if grew_low and grew_high:
            lo -= extra // 2
        elif grew_low:
            lo -= extra
        hi = lo + size
        # Slide the span back inside the extent (it fits: size <= high - low).
        shift = max(0, low - lo) - max(0, hi - high)
        return lo + shift, hi + shift

    def adopt(self, config: FusionConfig) -> None:
        """Switch to another sensor model and extent on the same grid, keeping the evidence.

        The evidence already summed stays as it is; the new model weighs the observations
        fused from now on.

        :param config: the new configuration; its resolution must be the map's.
        :raises FloodMapError: on another resolution or an extent the observed cells leave.
        """
        if config.resolution_m != self.config.resolution_m:
            raise FloodMapError(
                f'cannot change resolution from {self.config.resolution_m} to '
                f'{config.resolution_m} m'
            )
        low, high = config.extent_cells
        if self._seen is not None and (min(self._seen[:2]) < low or max(self._seen[2:]) > high):
            raise FloodMapError(f'observed cells {self._seen} leave the extent of {config}')
        self.config = config
        self.__post_init__()

    def copy(self) -> FloodMap:
        """Return an independent copy (e.g. a snapshot to extract polygons on another thread)."""
        other = FloodMap(
            self.config,
            observations_applied=self.observations_applied,
            cells_observed=self.cells_observed,
            rejected=dict(self.rejected),
        )
        if self._window is not None and self._seen is not None:
            evidence, count = self._arrays()
            other._window = _Window(self._seen[0], self._seen[1], evidence.copy(), count.copy())
            other._seen = self._seen
        return other

    # ---- outputs -----------------------------------------------------------------------------

    @property
    def bounds_cells(self) -> tuple[int, int, int, int] | None:
        """Return the observed bounding box (col0, row0, col1, row1) in global cells, or None."""
        return self._seen

    @property
    def allocated_bytes(self) -> int:
        """Return the memory held by the grid arrays (bytes)."""
        if self._window is None:
            return 0
        return int(self._window.evidence.nbytes + self._window.count.nbytes)

    def _arrays(self) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        """Return evidence and counts over the observed bounding box (views, not copies)."""
        if self._window is None or self._seen is None:
            return np.zeros((0, 0), np.int32), np.zeros((0, 0), np.uint16)
        c0, r0, c1, r1 = self._seen
        w = self._window
        rows = slice(r0 - w.row0, r1 - w.row0)
        cols = slice(c0 - w.col0, c1 - w.col0)
        return w.evidence[rows, cols], w.count[rows, cols]

    def _view(self) -> tuple[NDArray[np.float32], NDArray[np.uint16]]:
        """Return the clamped log-odds and observation counts over the observed bounding box.

        Computed from the integer sums in float64, then rounded once to float32: the same
        sums always give the same values.
        """
        evidence, count = self._arrays()
        config = self.config
        logs = evidence / float(EVIDENCE_SCALE)
        np.clip(logs, -config.clamp_log_odds, config.clamp_log_odds, out=logs)
        return logs.astype(np.float32), count.copy()

    def _origin(self) -> tuple[float, float]:
        if self._seen is None:
            return 0.0, 0.0
        return self._seen[0] * self.resolution_m, self._seen[1] * self.resolution_m

    def forget_outside(
        self, inside: Callable[[NDArray[np.float64], NDArray[np.float64]], Any]
    ) -> int:
        """Clear every observed cell whose centre is not `inside`; return how many were cleared.

        For products of one area of interest: the cameras also see beyond it, and what they see
        there (the edge of a simulated scene, say) is not part of the answer. The bounding box
        stays as it was.

        :param inside: (east, north) cell-centre arrays (m, map ENU) -> True where kept, e.g.
            ``lambda e, n: shapely.contains_xy(area, e, n)``.
        """
        evidence, count = self._arrays()
        if count.size == 0:
            return 0
        east0, north0 = self._origin()
        res = self.resolution_m
        east = east0 + (np.arange(count.shape[1]) + 0.5) * res
        north = north0 + (np.arange(count.shape[0]) + 0.5) * res
        grid_e, grid_n = np.meshgrid(east, north)
        outside = ~np.asarray(inside(grid_e, grid_n), bool) & (count > 0)
        evidence[outside] = 0  # views into the window: clears the map itself
        count[outside] = 0
        return int(np.count_nonzero(outside))

    def log_odds(self) -> NDArray[np.float32]:
        """Return the clamped log-odds over the observed bounding box (rows from the south)."""
        return self._view()[0]

    def observation_count(self) -> NDArray[np.uint16]:
        """Return the per-cell observation counts (saturating at 65535)."""
        return self._view()[1]

    def evidence(self) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        """Return copies of the summed evidence and the observation counts (bounding box).

        Evidence is in EVIDENCE_SCALE units of log-odds, unclamped.
        """
        evidence, count = self._arrays()
        return evidence.copy(), count.copy()

    def probability(self) -> NDArray[np.float32]:
        """Return P(water) over the observed bounding box; 0.5 where never observed."""
        logs = self._view()[0]
        out: NDArray[np.float32] = 0.5 + 0.5 * np.tanh(0.5 * logs)
        return out

    def seen(self) -> NDArray[np.bool_]:
        """Return which cells of the observed bounding box were ever observed."""
        return self._view()[1] > 0

    def water_mask(self, threshold: float = 0.5) -> NDArray[np.bool_]:
        """Return the observed cells whose P(water) exceeds threshold (bounding box).

        :param threshold: probability in [0, 1).
        :raises FloodMapError: on a threshold outside [0, 1).
        """
        if not 0.0 <= threshold < 1.0:
            raise FloodMapError(f'water threshold must be in [0, 1), got {threshold}')
        logs, counts = self._view()
        level = -np.inf if threshold == 0.0 else _logit(threshold)
        mask: NDArray[np.bool_] = (logs > level) & (counts > 0)
        return mask

    def to_occupancy(self) -> GridPatch:
        """Return the map as an OccupancyGrid-style patch of the observed bounding box.

        Values: -1 never observed, else round(100 x P(water)) in 0..100; the patch origin is the
        south-west corner (m, map ENU) and row 0 is the southern row. Empty map: 0 x 0.
        """
        logs, counts = self._view()
        east, north = self._origin()
        prob = 50.0 + 50.0 * np.tanh(0.5 * logs)
        data = np.rint(prob).astype(np.int8)
        data[counts == 0] = UNSEEN
        return GridPatch(east, north, self.resolution_m, logs.shape[1], logs.shape[0], data)

    def flood_polygons(
        self,
        threshold: float = 0.5,
        min_area_m2: float = 0.0,
        simplify_tolerance_m: float | None = None,
    ) -> list[FloodPolygon]:
        """Return the connected flooded regions as valid polygons with holes (m, map ENU).

        Regions are 8-connected groups of water cells (`water_mask`). Outlines follow cell
        edges, then are simplified within simplify_tolerance_m unless that changes the area by
        over 10 % (regions of a few cells); area_m2 and mean_confidence count the cells.

        :param threshold: P(water) above which a cell is water.
        :param min_area_m2: drop regions smaller than this (m2).
        :param simplify_tolerance_m: simplification tolerance (m); default one cell.
        """
        mask = self.water_mask(threshold)
        if not mask.any():
            return []
        res = self.resolution_m
        tolerance = res if simplify_tolerance_m is None else simplify_tolerance_m
        east0, north0 = self._origin()
        image = np.ascontiguousarray(mask, dtype=np.uint8)
        count, labels_any, stats, _ = cv2.connectedComponentsWithStats(
            image, connectivity=8, ltype=cv2.CV_32S
        )
        labels: NDArray[np.int32] = np.asarray(labels_any, dtype=np.int32)
        sizes = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
        prob_sum = np.bincount(
            labels.reshape(-1), weights=self.probability().reshape(-1), minlength=count
        )
        keep = sizes >= min_area_m2 / (res * res)
        keep[0] = False  # label 0 is the dry background
        # Filled rectangles (most noise specks) need no tracing: they are their bounding box.
        rect = keep & (stats[:, cv2.CC_STAT_WIDTH] * stats[:, cv2.CC_STAT_HEIGHT] == sizes)
        traced = keep & ~rect
        shapes: dict[int, BaseGeometry] = {}
        for index in np.flatnonzero(rect):
            shapes[int(index)] = _stats_box(stats[index], res, east0, north0)
        if traced.any():
            holes = _hole_outlines(image, labels, traced, res, east0, north0)
            for contour in _outer_contours(image):
                col, row = contour[0][0]
                label = int(labels[row, col])
                if not traced[label]:
                    continue
                geometry = cells_outline(contour, res, east0, north0)
                if label in holes:
                    geometry = geometry.difference(shapely.union_all(holes[label]))
                simple = geometry.simplify(tolerance, preserve_topology=True)
                # Small regions (a few cells) would lose their shape: keep them as they are.
                if simple.is_valid and abs(simple.area - geometry.area) <= 0.1 * geometry.area:
                    geometry = simple
                shapes[label] = geometry
        result = []
        for label, geometry in shapes.items():
            cells = int(sizes[label])
            parts = _polygons(geometry)
            if len(parts) > 1:
                # Cutting holes can leave slivers at chamfers; drop those below half a cell.
                parts = [p for p in parts if p.area >= 0.5 * res * res] or parts[:1]
            if len(parts) == 1:
                confidence = float(prob_sum[label] / cells)
                result.append(FloodPolygon(parts[0], cells * res * res, confidence, cells))
                continue
            # Holes split a region at a diagonal pinch: give each part the cells inside it.
            left, top, width, height = (int(v) for v in stats[label, :4])
            rows, cols = np.nonzero(labels[top : top + height, left : left + width] == label)
            east = east0 + (left + cols + 0.5) * res
            north = north0 + (top + rows + 0.5) * res
            probability = self.probability()[top + rows, left + cols]
            for part in parts:
                inside = shapely.contains_xy(part, east, north)
                n = int(np.count_nonzero(inside))
                if n:
                    mean = float(probability[inside].mean())
                    result.append(FloodPolygon(part, n * res * res, mean, n))
        result.sort(key=lambda p: p.area_m2, reverse=True)
        return result

    def iou(self, truth: GridPatch, threshold: float = 0.5) -> float:
        """Return the water IoU against a truth grid on the cells both know.

        :param truth: 100 water, 0 dry, -1 unknown, on this map's grid (e.g.
            FloodScene.truth_patch).
        :param threshold: P(water) above which a map cell is water.
        :raises FloodMapError: on another resolution or grid, or no cell known to both.
        """
        occupancy = self.to_occupancy()
        known = self.seen()
        water = self.water_mask(threshold)
        codes = np.where(known, np.where(water, WATER, DRY), UNSEEN).astype(np.int8)
        mine = GridPatch(
            occupancy.origin_east,
            occupancy.origin_north,
            occupancy.resolution_m,
            occupancy.width,
            occupancy.height,
            codes,
        )
        return grid_iou(mine, truth)

    # ---- checkpoint --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], compress: bool = True) -> Path:
        """Write the map to path atomically (temporary file, fsync, rename); return the path.

        :param path: the checkpoint file (.npz; see docs/flood_map.md for the format).
        :param compress: deflate the arrays (smaller, slower).
        """
        target = Path(path)
        evidence, count = self._arrays()
        header = {
            'format': CHECKPOINT_FORMAT,
            'version': CHECKPOINT_VERSION,
            'saved_unix_s': time.time(),
            'resolution_m': self.config.resolution_m,
            'p_hit': self.config.p_hit,
            'p_false': self.config.p_false,
            'clamp_log_odds': self.config.clamp_log_odds,
            'max_extent_m': self.config.max_extent_m,
            'bounds_cells': list(self._seen) if self._seen is not None else None,
            'shape': list(count.shape),
            'evidence_scale': EVIDENCE_SCALE,
            'observations_applied': self.observations_applied,
            'cells_observed': self.cells_observed,
            'rejected': dict(self.rejected),
            'origin': (
                [self.origin.lat_deg, self.origin.lon_deg, self.origin.alt_m]
                if self.origin is not None
                else None
            ),
        }
        buffer = io.BytesIO()
        save = np.savez_compressed if compress else np.savez
        save(
            buffer,
            header=np.frombuffer(json.dumps(header).encode('utf-8'), dtype=np.uint8),
            evidence=np.ascontiguousarray(evidence),
            count=np.ascontiguousarray(count),
        )
        return write_atomic(target, buffer.getbuffer())

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_cells: int = MAX_CHECKPOINT_CELLS) -> FloodMap:
        """Read a checkpoint written by save.

        :param path: the checkpoint file.
        :param max_cells: the largest grid accepted (cells), checked before decompressing.
        :raises FileNotFoundError: when there is no file.
        :raises CheckpointError: when it is corrupt, truncated, of another format or version,
            or its grid has more than `max_cells` cells.
        """
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f'no checkpoint at {source}')
        try:
            _check_archive(source, max_cells)
            with np.load(source, allow_pickle=False) as archive:
                names = set(archive.files)
                arrays = ('evidence', 'count') if 'evidence' in names else ('water', 'dry')
                if not {'header', *arrays} <= names:
                    raise CheckpointError(source, f'missing arrays; has {sorted(names)}')
                header = json.loads(archive['header'].tobytes().decode('utf-8'))
                first = archive[arrays[0]]
                second = archive[arrays[1]]
        except CheckpointError:
            raise
        except RecursionError:
            raise CheckpointError(source, 'unreadable (header JSON nested too deeply)') from None
        except (
            OSError,
            ValueError,
            EOFError,
            KeyError,
            zipfile.BadZipFile,
            zlib.error,
            UnicodeDecodeError,
            # zipfile: an unknown compression method, an encrypted member
            NotImplementedError,
            RuntimeError,
            # numpy's .npy header reader on a garbled header
            SyntaxError,
            tokenize.TokenError,
            struct.error,
        ) as error:
            raise CheckpointError(
                source, f'unreadable ({type(error).__name__}: {error})'
            ) from None
        return cls._from_checkpoint(source, header, first, second)

    @classmethod
    def _from_checkpoint(
        cls, source: Path, header: Any, first: NDArray[Any], second: NDArray[Any]
    ) -> FloodMap:
        if not isinstance(header, dict) or header.get('format') != CHECKPOINT_FORMAT:
            raise CheckpointError(source, f'not a {CHECKPOINT_FORMAT} checkpoint')
        version = header.get('version')
        if version not in READABLE_VERSIONS:
            raise CheckpointError(
                source,
                f'version {version!r}; this build reads versions '
                f'{", ".join(map(str, READABLE_VERSIONS))}',
            )
        try:
            config = FusionConfig(
                resolution_m=float(header['resolution_m']),
                p_hit=float(header['p_hit']),
                p_false=float(header['p_false']),
                clamp_log_odds=float(header['clamp_log_odds']),
                max_extent_m=float(header['max_extent_m']),
            )
            bounds = header['bounds_cells']
            shape = tuple(int(v) for v in header['shape'])
            flood_map = cls(
                config,
                observations_applied=int(header['observations_applied']),
                cells_observed=int(header['cells_observed']),
                rejected={str(k): int(v) for k, v in dict(header['rejected']).items()},
            )
            stored = header.get('origin')  # absent before the origin was stored
            if stored is not None:
                lat, lon, alt = (float(v) for v in stored)
                flood_map.origin = GeoPoint(lat, lon, alt)
        except (KeyError, TypeError, ValueError, FloodMapError, GeoError) as error:
            raise CheckpointError(source, f'bad header ({error})') from None
        if version == 2:  # water and dry counts: as many hard observations
            if first.dtype != np.uint16 or second.dtype != np.uint16:
                raise CheckpointError(source, f'array types {first.dtype}, {second.dtype}')
            steps = config.increments()
            evidence = first.astype(np.int32) * steps[WATER] + second.astype(np.int32) * steps[DRY]
            count = np.minimum(first.astype(np.int32) + second, _COUNT_MAX).astype(np.uint16)
        else:
            if header.get('evidence_scale') != EVIDENCE_SCALE:
                raise CheckpointError(
                    source,
                    f'evidence scale {header.get("evidence_scale")!r}, not {EVIDENCE_SCALE}',
                )
            if first.dtype != np.int32 or second.dtype != np.uint16:
                raise CheckpointError(source, f'array types {first.dtype}, {second.dtype}')
            evidence, count = first, second
        if evidence.shape != shape or count.shape != shape or len(shape) != 2:
            raise CheckpointError(
                source, f'array shapes {evidence.shape}, {count.shape}; header says {shape}'
            )
        if bounds is None:
            if shape != (0, 0):
                raise CheckpointError(source, 'arrays without bounds')
            return flood_map
        c0, r0, c1, r1 = (int(v) for v in bounds)
        if (r1 - r0, c1 - c0) != shape:
            raise CheckpointError(source, f'bounds {bounds} do not match shape {shape}')
        low, high = config.extent_cells
        if min(c0, r0) < low or max(c1, r1) > high:
            raise CheckpointError(source, f'bounds {bounds} leave the extent')
        flood_map._window = _Window(c0, r0, evidence.copy(), count.copy())
        flood_map._seen = (c0, r0, c1, r1)
        return flood_map


def _check_archive(source: Path, max_cells: int) -> None:
    """Refuse a checkpoint that is no zip archive, or whose arrays would be too large.

    np.load reads a plain .npy file as one array of whatever shape its header claims, and
    decompresses .npz members whole: the array headers are checked first.

    :param max_cells: the largest grid arrays accepted (cells): evidence and count, or a
        version 2 file's water and dry.
    :raises CheckpointError: see above; zipfile and npy header errors propagate.
    """
    if not zipfile.is_zipfile(source):
        raise CheckpointError(source, 'not a checkpoint (.npz: a zip archive of arrays)')
    limits = {'header': _MAX_HEADER_BYTES}
    limits.update(dict.fromkeys(('evidence', 'count', 'water', 'dry'), max_cells))
    with zipfile.ZipFile(source) as archive:
        for name, limit in limits.items():
            try:
                member = archive.open(f'{name}.npy')
            except KeyError:
                continue  # load() names the missing arrays
            with member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, _ = np.lib.format.read_array_header_2_0(member)
                else:
                    raise CheckpointError(
                        source, f'{name} array in unknown .npy format version {version}'
                    )
            cells = math.prod(shape)
            if cells > limit:
                raise CheckpointTooLargeError(
                    source,
                    f'{name} array of {" x ".join(map(str, shape))} = {cells} cells is above '
                    f'the {limit} cell limit',
                )


def _outer_contours(image: NDArray[np.uint8]) -> list[NDArray[Any]]:
    """Return the outer contours of the 8-connected regions of image, nested ones included."""
    contours, hierarchy = cv2.findContours(image, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    return [np.asarray(c) for c, link in zip(contours, hierarchy[0], strict=True) if link[3] == -1]


def _stats_box(stat: NDArray[Any], res: float, east0: float, north0: float) -> Polygon:
    """Return the cell-edge box of a cv2 component's bounding box (m, map ENU)."""
    left, top = int(stat[cv2.CC_STAT_LEFT]), int(stat[cv2.CC_STAT_TOP])
    width, height = int(stat[cv2.CC_STAT_WIDTH]), int(stat[cv2.CC_STAT_HEIGHT])
    return shapely.box(
        east0 + left * res,
        north0 + top * res,
        east0 + (left + width) * res,
        north0 + (top + height) * res,
    )


def _hole_outlines(
    water: NDArray[np.uint8],
    labels: NDArray[np.int32],
    wanted: NDArray[np.bool_],
    res: float,
    east0: float,
    north0: float,
) -> dict[int, list[BaseGeometry]]:
    """Return the outlines of the holes of the wanted water regions, by region label.

    A hole is a 4-connected group of non-water cells that does not reach the edge of the grid
    (the dual of 8-connected water). The raster-first cell of a hole has a water cell to its
    west (any other cell there would belong to the hole or the outside): its region owns it.
    """
    padded = np.pad(1 - water, 1, constant_values=1)
    count, background, stats, _ = cv2.connectedComponentsWithStats(
        padded, connectivity=4, ltype=cv2.CV_32S
    )
    outside = int(background[0, 0])
    outlines: dict[int, list[BaseGeometry]] = {}
    sizes = stats[:, cv2.CC_STAT_AREA]
    rect = stats[:, cv2.CC_STAT_WIDTH] * stats[:, cv2.CC_STAT_HEIGHT] == sizes
    is_hole = np.ones(count, bool)
    is_hole[[0, outside]] = False
    # The raster-first cell of a rectangle is its top-left; in grid (unpadded) indices.
    first_row = stats[:, cv2.CC_STAT_TOP] - 1
    first_col = stats[:, cv2.CC_STAT_LEFT] - 1
    for hole in np.flatnonzero(is_hole & rect):
        owner = int(labels[first_row[hole], first_col[hole] - 1])
        if wanted[owner]:
            shifted = stats[hole].copy()
            shifted[cv2.CC_STAT_LEFT] -= 1
            shifted[cv2.CC_STAT_TOP] -= 1
            outlines.setdefault(owner, []).append(_stats_box(shifted, res, east0, north0))
    for hole in np.flatnonzero(is_hole & ~rect):
        owner = int(
            labels[first_row[hole], np.argmax(background[first_row[hole] + 1] == hole) - 2]
        )
        if not wanted[owner]:
            continue
        # Trace each hole alone: cv2 traces 8-connected, which would merge diagonal holes.
        left, top, width, height = (int(v) for v in stats[hole, :4])
        crop = (background[top : top + height, left : left + width] == hole).astype(np.uint8)
        for contour in _outer_contours(crop):
            outline = cells_outline(
                contour, res, east0 + (left - 1) * res, north0 + (top - 1) * res
            )
            outlines.setdefault(owner, []).append(outline)
    return outlines


def cells_outline(contour: NDArray[Any], res: float, east0: float, north0: float) -> BaseGeometry:
    """Turn a cv2 outer contour (through cell centres) into the region's outline on cell edges.

    The contour joins the centres of the border cells; growing it by half a cell with square
    corners reaches the cell edges: exactly along straight runs and convex corners, within half
    a cell (a chamfer) at concave corners, which cv2's 8-connected trace cuts diagonally.
    """
    points = contour.reshape(-1, 2).astype(np.float64)
    shell = np.stack(
        [east0 + (points[:, 0] + 0.5) * res, north0 + (points[:, 1] + 0.5) * res], axis=1
    )
    distinct = len(np.unique(shell, axis=0))
    geometry: BaseGeometry
    if distinct >= 3:
        polygon = Polygon(shell)
        geometry = polygon if polygon.is_valid else shapely.make_valid(polygon)
    elif distinct == 2:
        geometry = LineString(shell)
    else:
        geometry = Point(shell[0])
    return geometry.buffer(res / 2.0, cap_style='square', join_style='mitre')


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """Return the polygons of a geometry (a polygon, or the parts of a collection)."""
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    parts = getattr(geometry, 'geoms', [])
    return [p for part in parts for p in _polygons(part)]


def grid_iou(estimate: GridPatch, truth: GridPatch) -> float:
    """Return the water IoU of two grids on the cells both know.

    A cell is water where its value exceeds 50 (so 0..100 probability grids and 0/100
    observations both work) and unknown where it is -1.

    :param estimate: a patch of the global grid (map ENU).
    :param truth: a patch of the same grid.
    :raises FloodMapError: on different resolutions or no cell known to both.
    """
    res = estimate.resolution_m
    if abs(truth.resolution_m - res) > _RES_TOL * res:
        raise FloodMapError(f'IoU of grids at {res} m and {truth.resolution_m} m')
    (ec, er), (tc, tr) = estimate.origin_index, truth.origin_index
    c0, r0 = max(ec, tc), max(er, tr)
    c1 = min(ec + estimate.width, tc + truth.width)
    r1 = min(er + estimate.height, tr + truth.height)
    if c1 <= c0 or r1 <= r0:
        raise FloodMapError('the grids do not overlap')
    a = np.asarray(estimate.data).reshape(estimate.height, estimate.width)
    b = np.asarray(truth.data).reshape(truth.height, truth.width)
    a = a[r0 - er : r1 - er, c0 - ec : c1 - ec]
    b = b[r0 - tr : r1 - tr, c0 - tc : c1 - tc]
    known = (a != UNSEEN) & (b != UNSEEN)
    if not known.any():
        raise FloodMapError('no cell is known to both grids')
    wet_a, wet_b = (a > 50) & known, (b > 50) & known
    union = int(np.count_nonzero(wet_a | wet_b))
    if union == 0:
        return 1.0  # Both agree there is no water.
    return int(np.count_nonzero(wet_a & wet_b)) / union


def set_aside_corrupt(path: str | os.PathLike[str], now: datetime.datetime | None = None) -> Path:
    """Rename a bad checkpoint to <name>.corrupt-<UTC timestamp>; return the new path.

    Never overwrites: when the name is taken, -1, -2, ... is appended.

    :param path: the bad file.
    :param now: the time to stamp (default the current UTC time).
    :raises FileNotFoundError: when path does not exist.
    """
    source = Path(path)
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime('%Y%m%dT%H%M%SZ')
    base = source.with_name(f'{source.name}.corrupt-{stamp}')
    for attempt in range(10_000):
        target = base if attempt == 0 else base.with_name(f'{base.name}-{attempt}')
        try:
            # link + unlink, unlike rename, fails instead of replacing an existing target.
            os.link(source, target)
        except FileExistsError:
            continue
        source.unlink()
        return target
    raise FloodMapError(f'no free name to set {source} aside')


def load_or_new(
    path: str | os.PathLike[str], config: FusionConfig
) -> tuple[FloodMap, Path | None]:
    """Load the checkpoint at path, or start empty; return the map and any set-aside file.

    A missing file starts an empty map. A corrupt file, or one made with another resolution,
    is renamed by set_aside_corrupt (never overwritten) and an empty map starts.

    :param path: the checkpoint file.
    :param config: the configuration of a new map, and the resolution a loaded one must have.
    """
    try:
        flood_map = FloodMap.load(path)
    except FileNotFoundError:
        return FloodMap(config), None
    except CheckpointError as error:
        moved = set_aside_corrupt(path)
        _LOG.error('%s; set aside as %s, starting an empty map', error, moved)
        return FloodMap(config), moved
    if flood_map.config != config:
        low, high = config.extent_cells
        bounds = flood_map.bounds_cells
        outside = bounds is not None and (min(bounds[:2]) < low or max(bounds[2:]) > high)
        if flood_map.config.resolution_m != config.resolution_m or outside:
            moved = set_aside_corrupt(path)
            _LOG.error(
                'checkpoint %s was made for another grid (%s); set aside as %s',
                path,
                flood_map.config,
                moved,
            )
            return FloodMap(config), moved
        flood_map.adopt(config)
    return flood_map, None
