"""Categorical fusion of land-cover evidence on the map's grid (no rclpy).

Each observation of a cell brings, per FloodNet class (core.responder_layers.CLASSES), the log of
the probability the segmentation model gave it, clipped at MIN_LOG_PROB and quantised to
1 / EVIDENCE_SCALE nat: an int8 per class and cell, which is also the compact form a frame's
evidence travels in (10 bytes per cell instead of 40 for float probabilities). The map adds the
observations per cell in int32: integer addition is commutative and associative, so any order of
the same observations gives the same map, as for the water map (core.flood_map). The fused class
of a cell is the one with the largest sum (the naive-Bayes posterior's mode with a flat prior),
its confidence that posterior's probability.

The window grows with the observed area (global cell indices, as GridPatch's origin_index), up
to max_side_cells on each side; checkpoints are .npz archives (save/load).

A frame travels to the map compactly as a ClassObservation on its water patch's cells: per cell
the most probable class and its probability in 1/255 steps (2 bytes per cell; class_observation
samples the model's quarter-resolution class probabilities where each cell centre falls in the
image). top_evidence() turns it back into evidence for all ten classes: log p for that class and
log((1 - p) / 9) for each other (the rest of the probability spread evenly), so the fusion
keeps how sure each frame was without ten planes on the radio link.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import io
import math
import os
from pathlib import Path
from typing import Any
import zipfile

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.atomic_file import write_atomic
from uav_flood.core.errors import UavFloodError
from uav_flood.core.georef import CameraModel, CameraMount, GridPatch, ground_to_pixel, VehiclePose
from uav_flood.core.responder_layers import CLASSES, LandCoverGrid

__all__ = [
    'EVIDENCE_SCALE',
    'MIN_LOG_PROB',
    'ClassMap',
    'ClassMapError',
    'ClassFusion',
    'ClassObservation',
    'class_observation',
    'quantise',
    'top_classes',
    'top_evidence',
]

#: Evidence units per nat.
EVIDENCE_SCALE = 16
#: The least log-probability one observation can give a class (nat): -8 * 16 = -128 fits int8.
MIN_LOG_PROB = -8.0
FORMAT = 'uav_flood.class_map'
VERSION = 1


class ClassMapError(UavFloodError):
    """Invalid evidence, a window beyond the map's extent, or an unreadable checkpoint."""


def quantise(probabilities: NDArray[np.floating]) -> NDArray[np.int8]:
    """Return the int8 evidence of class probabilities shaped (classes, rows, cols).

    :raises ClassMapError: not (10, rows, cols), or values outside [0, 1] or not finite.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] != len(CLASSES):
        raise ClassMapError(f'probabilities must be ({len(CLASSES)}, rows, cols), got {p.shape}')
    if not np.isfinite(p).all() or p.min(initial=0.0) < 0.0 or p.max(initial=0.0) > 1.0:
        raise ClassMapError('probabilities must be finite and within [0, 1]')
    with np.errstate(divide='ignore'):
        logs = np.log(p)
    logs = np.clip(logs, MIN_LOG_PROB, 0.0)
    return np.round(logs * EVIDENCE_SCALE).astype(np.int8)


#: A class observation's label where its water patch saw nothing.
NO_CLASS = -1


@dataclass(frozen=True)
class ClassObservation:
    """One frame's classes on the cells of its water patch (same origin and size).

    :param labels: int8 (rows, cols): the most probable class, NO_CLASS where unseen.
    :param confidence: uint8 (rows, cols): that class's probability x 255 (0 where unseen).
    """

    labels: NDArray[np.int8]
    confidence: NDArray[np.uint8]

    def __post_init__(self) -> None:
        labels, confidence = np.asarray(self.labels), np.asarray(self.confidence)
        if labels.dtype != np.int8 or confidence.dtype != np.uint8 or labels.ndim != 2:
            raise ClassMapError(
                f'a class observation is int8 labels and uint8 confidence (rows, cols), got '
                f'{labels.dtype} {labels.shape} and {confidence.dtype} {confidence.shape}'
            )
        if labels.shape != confidence.shape:
            raise ClassMapError(f'labels {labels.shape} and confidence {confidence.shape} differ')
        if labels.size and (labels.min() < NO_CLASS or labels.max() >= len(CLASSES)):
            raise ClassMapError(f'labels must be {NO_CLASS} (unseen) or 0..{len(CLASSES) - 1}')

    @property
    def seen(self) -> NDArray[np.bool_]:
        """Return which cells carry a class."""
        seen: NDArray[np.bool_] = np.asarray(self.labels) != NO_CLASS
        return seen


def top_classes(classes: NDArray[np.floating]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Return the most probable class and its probability x 255 of class probabilities.

    :param classes: (10, h, w) probabilities (Segmentation.classes).
    :return: labels (h, w) uint8 0..9 and confidence (h, w) uint8.
    :raises ClassMapError: classes of another shape.
    """
    p = np.asarray(classes, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] != len(CLASSES) or min(p.shape[1:], default=0) < 1:
        raise ClassMapError(f'classes must be ({len(CLASSES)}, rows, cols), got {p.shape}')
    labels = np.argmax(p, axis=0)
    best = np.take_along_axis(p, labels[None], axis=0)[0]
    confidence = np.clip(np.rint(best * 255.0), 0, 255).astype(np.uint8)
    return labels.astype(np.uint8), confidence


def class_observation(
    top: tuple[NDArray[np.uint8], NDArray[np.uint8]],
    camera: CameraModel,
    mount: CameraMount,
    pose: VehiclePose,
    patch: GridPatch,
) -> ClassObservation:
    """Sample a frame's classes on the cells its water patch saw.

    Each seen cell's centre is projected into the image (as georef.mask_to_patch does) and takes
    the class and confidence of the class-grid cell it falls in.

    :param top: the frame's most probable class per class-grid cell and its probability x 255
        (top_classes, or an edge result's classes), each (h, w) over the whole image: h, w a
        fixed fraction of the camera's height and width.
    :param patch: the frame's water patch (mask_to_patch): its cells other than -1 are the seen.
    :raises ClassMapError: labels and confidence of different shapes, or labels beyond 0..9.
    """
    top_labels, top_confidence = (np.asarray(a) for a in top)
    if top_labels.ndim != 2 or top_labels.shape != top_confidence.shape or not top_labels.size:
        raise ClassMapError(
            f'classes and confidence must be one (rows, cols), got {top_labels.shape} and '
            f'{top_confidence.shape}'
        )
    if top_labels.max() >= len(CLASSES):
        raise ClassMapError(f'class {int(top_labels.max())} beyond 0..{len(CLASSES) - 1}')
    ch, cw = top_labels.shape
    data = np.asarray(patch.data).reshape(patch.height, patch.width)
    labels = np.full(data.shape, NO_CLASS, np.int8)
    confidence = np.zeros(data.shape, np.uint8)
    seen = data != -1
    if seen.any():
        east, north = patch.cell_centres()
        uv = ground_to_pixel(camera, mount, pose, np.stack([east[seen], north[seen]], axis=1))
        ok = camera.contains(uv)
        # Pixel centres are integers; class cell j spans pixels [j s, (j + 1) s).
        cols = np.clip(np.floor((uv[ok, 0] + 0.5) * cw / camera.width).astype(np.int64), 0, cw - 1)
        rows = np.clip(
            np.floor((uv[ok, 1] + 0.5) * ch / camera.height).astype(np.int64), 0, ch - 1
        )
        index = np.flatnonzero(seen.ravel())[ok]
        labels.ravel()[index] = top_labels[rows, cols].astype(np.int8)
        confidence.ravel()[index] = top_confidence[rows, cols].astype(np.uint8)
    return ClassObservation(labels, confidence)


def top_evidence(observation: ClassObservation) -> NDArray[np.int8]:
    """Return the int8 evidence (10, rows, cols) of a class observation (0 where unseen).

    The observed class gets log p, every other class log((1 - p) / 9), both clipped at
    MIN_LOG_PROB and quantised like quantise().
    """
    labels = np.asarray(observation.labels)
    p = np.asarray(observation.confidence, np.float64) / 255.0
    k = len(CLASSES)
    p = np.clip(p, 1.0 / k, 1.0)  # the top class of k has at least 1/k
    with np.errstate(divide='ignore'):
        top = np.clip(np.log(p), MIN_LOG_PROB, 0.0)
        rest = np.clip(np.log((1.0 - p) / (k - 1)), MIN_LOG_PROB, 0.0)
    evidence = np.repeat(np.rint(rest * EVIDENCE_SCALE)[None], k, axis=0)
    seen = labels != NO_CLASS
    rows, cols = np.nonzero(seen)
    evidence[labels[seen], rows, cols] = np.rint(top[seen] * EVIDENCE_SCALE)
    evidence[:, ~seen] = 0
    return evidence.astype(np.int8)


@dataclass
class ClassMap:
    """Fused land-cover evidence: per class and cell the sum of its observations' evidence.

    :param resolution_m: cell edge (m), the water map's.
    :param max_side_cells: the largest window side (cells); evidence beyond it is refused.
    """

    resolution_m: float
    max_side_cells: int = 8192
    observations_applied: int = 0
    _evidence: NDArray[np.int32] = field(
        default_factory=lambda: np.zeros((len(CLASSES), 0, 0), np.int32), repr=False
    )
    _count: NDArray[np.uint16] = field(
        default_factory=lambda: np.zeros((0, 0), np.uint16), repr=False
    )
    _col0: int = 0
    _row0: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.resolution_m) and self.resolution_m > 0.0):
            raise ClassMapError(f'resolution must be > 0 m, got {self.resolution_m}')
        if self.max_side_cells < 1:
            raise ClassMapError(f'max_side_cells must be >= 1, got {self.max_side_cells}')

    def fuse(
        self,
        col0: int,
        row0: int,
        evidence: NDArray[np.int8],
        seen: NDArray[np.bool_] | None = None,
    ) -> int:
        """Add one observation of a window of cells; return the number of cells it observed.

        :param col0: global column of the window's south-west cell.
        :param row0: global row of that cell.
        :param evidence: int8 (classes, rows, cols) from quantise(), row 0 southern.
        :param seen: bool (rows, cols): the cells this observation saw (default: all).
        :raises ClassMapError: wrong shape or type, positive evidence, or beyond the extent.
        """
        e = np.asarray(evidence)
        if e.dtype != np.int8 or e.ndim != 3 or e.shape[0] != len(CLASSES):
            raise ClassMapError(
                f'evidence must be int8 ({len(CLASSES)}, rows, cols), got {e.dtype} {e.shape}'
            )
        if e.size and e.max() > 0:
            raise ClassMapError('evidence is a log-probability: it must be <= 0')
        mask = np.ones(e.shape[1:], bool) if seen is None else np.asarray(seen, bool)
        if mask.shape != e.shape[1:]:
            raise ClassMapError(f'seen must be {e.shape[1:]}, got {mask.shape}')
        rows, cols = mask.shape
        if not mask.any():
            return 0
        self._ensure(col0, row0, col0 + cols, row0 + rows)
        r, c = row0 - self._row0, col0 - self._col0
        window = self._evidence[:, r : r + rows, c : c + cols]
        window += np.where(mask, e, 0).astype(np.int32)
        count = self._count[r : r + rows, c : c + cols]
        count[mask & (count < np.iinfo(np.uint16).max)] += 1
        self.observations_applied += 1
        return int(mask.sum())

    def _ensure(self, col0: int, row0: int, col1: int, row1: int) -> None:
        """Grow the window to hold columns col0..col1 and rows row0..row1 (exclusive ends)."""
        _, height, width = self._evidence.shape
        if height and width:
            have = (self._col0, self._row0, self._col0 + width, self._row0 + height)
            if col0 >= have[0] and row0 >= have[1] and col1 <= have[2] and row1 <= have[3]:
                return
            col0, row0 = min(col0, have[0]), min(row0, have[1])
            col1, row1 = max(col1, have[2]), max(row1, have[3])
        if col1 - col0 > self.max_side_cells or row1 - row0 > self.max_side_cells:
            raise ClassMapError(
                f'the map would grow to {col1 - col0} x {row1 - row0} cells, beyond '
                f'max_side_cells {self.max_side_cells}'
            )
        evidence = np.zeros((len(CLASSES), row1 - row0, col1 - col0), np.int32)
        count = np.zeros((row1 - row0, col1 - col0), np.uint16)
        if height and width:
            r, c = self._row0 - row0, self._col0 - col0
            evidence[:, r : r + height, c : c + width] = self._evidence
            count[r : r + height, c : c + width] = self._count
        self._evidence, self._count, self._col0, self._row0 = evidence, count, col0, row0

    @property
    def origin_index(self) -> tuple[int, int]:
        """Return the global (column, row) of the window's south-west cell."""
        return self._col0, self._row0

    def evidence(self) -> tuple[NDArray[np.int32], NDArray[np.uint16]]:
        """Return copies of the summed evidence (classes, rows, cols) and observation counts."""
        return self._evidence.copy(), self._count.copy()

    def cells_known(self) -> int:
        """Return how many cells have been observed at least once."""
        return int(np.count_nonzero(self._count))

    def land_cover(self) -> LandCoverGrid:
        """Return each cell's fused class and its posterior probability (-1 where unseen)."""
        evidence = self._evidence
        if not evidence[0].size:
            labels = np.zeros(evidence.shape[1:], np.int8)
            return LandCoverGrid(
                labels,
                np.zeros(labels.shape, np.float32),
                self._col0 * self.resolution_m,
                self._row0 * self.resolution_m,
                self.resolution_m,
            )
        labels = np.argmax(evidence, axis=0).astype(np.int8)
        top = np.max(evidence, axis=0)
        # The posterior of the top class: 1 / sum over classes of exp((e_k - e_top) / scale).
        total = np.zeros(top.shape, np.float32)
        for plane in evidence:
            total += np.exp((plane - top).astype(np.float32) / EVIDENCE_SCALE)
        confidence = (1.0 / total).astype(np.float32)
        unseen = self._count == 0
        labels[unseen] = -1
        confidence[unseen] = 0.0
        res = self.resolution_m
        return LandCoverGrid(labels, confidence, self._col0 * res, self._row0 * res, res)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a compressed checkpoint (.npz) atomically; return its path."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(FORMAT),
            version=np.array(VERSION),
            classes=np.array(CLASSES),
            resolution_m=np.array(self.resolution_m),
            origin_index=np.array([self._col0, self._row0], np.int64),
            observations=np.array(self.observations_applied, np.int64),
            evidence=self._evidence,
            count=self._count,
        )
        return write_atomic(path, buffer.getbuffer())

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_side_cells: int = 8192) -> ClassMap:
        """Read a checkpoint written by save().

        :raises ClassMapError: unreadable, another format, version or class list, or arrays
            that do not fit together.
        """
        source = Path(path)
        try:
            with np.load(source, allow_pickle=False) as archive:
                if str(archive['format']) != FORMAT:
                    raise ClassMapError(f'{source}: not a class map checkpoint')
                if int(archive['version']) != VERSION:
                    raise ClassMapError(
                        f'{source}: checkpoint version {int(archive["version"])}, this code '
                        f'reads {VERSION}'
                    )
                if tuple(str(c) for c in archive['classes']) != CLASSES:
                    raise ClassMapError(f'{source}: written for other classes')
                resolution = float(archive['resolution_m'])
                col0, row0 = (int(v) for v in archive['origin_index'])
                evidence = archive['evidence']
                count = archive['count']
                observations = int(archive['observations'])
        except ClassMapError:
            raise
        except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
            raise ClassMapError(f'{source}: unreadable checkpoint ({exc})') from None
        if (
            evidence.dtype != np.int32
            or count.dtype != np.uint16
            or evidence.ndim != 3
            or evidence.shape[0] != len(CLASSES)
            or evidence.shape[1:] != count.shape
            or max(count.shape, default=0) > max_side_cells
        ):
            raise ClassMapError(f'{source}: arrays of the wrong type or shape')
        fused = cls(resolution, max_side_cells, observations)
        fused._evidence, fused._count = evidence, count
        fused._col0, fused._row0 = col0, row0
        return fused


#: How many observations' classes a ClassFusion keeps waiting for their pair, each way.
PAIR_WINDOW = 1000


class ClassFusion:
    """Fuse each observation's classes once, when its water observation is fused.

    The classes travel on their own topic: they may come before or after their water
    observation, or not at all, and are re-sent with it. They count only with a water
    observation fused for the first time: classes that wait for it (`early`) are fused when it
    is; a water observation fused before its classes waits for them (`waiting`, with where its
    cells are). Classes whose water observation was decided before (a re-send) are dropped, so
    a re-send never counts twice. Both waiting lists keep the newest PAIR_WINDOW entries.

    :param classes: the map the evidence goes into.
    :param window: entries kept per waiting list.
    """

    def __init__(self, classes: ClassMap, window: int = PAIR_WINDOW) -> None:
        self.map = classes
        self.window = window
        self._waiting: OrderedDict[tuple[str, int], tuple[int, int, int, int]] = OrderedDict()
        self._early: OrderedDict[tuple[str, int], ClassObservation] = OrderedDict()
        #: Class observations fused; dropped as re-sends or mismatched; lost to the windows.
        self.fused = 0
        self.dropped = 0
        self.expired = 0

    @property
    def unpaired(self) -> int:
        """Return how many observations wait for their pair (classes or water)."""
        return len(self._waiting) + len(self._early)

    def water_fused(
        self, vehicle: str, obs_id: int, col0: int, row0: int, width: int, height: int
    ) -> bool:
        """Note that a water observation was fused; fuse its classes if they came first.

        :param col0, row0: the global cell of its south-west corner.
        :param width, height: its size (cells).
        :return: whether classes were fused now.
        """
        key = (vehicle, obs_id)
        early = self._early.pop(key, None)
        if early is None:
            self._keep(self._waiting, key, (col0, row0, width, height))
            return False
        return self._fuse(early, col0, row0, width, height)

    def classes_arrived(
        self, vehicle: str, obs_id: int, observation: ClassObservation, water_decided: bool
    ) -> bool:
        """Take one class observation; return whether it was fused now.

        :param water_decided: its water observation was decided before (fused, refused or too
            old): without its place in `waiting`, these classes are a re-send.
        """
        key = (vehicle, obs_id)
        place = self._waiting.pop(key, None)
        if place is not None:
            return self._fuse(observation, *place)
        if water_decided:
            self.dropped += 1
            return False
        self._keep(self._early, key, observation)
        return False

    def _fuse(self, observation: ClassObservation, col0: int, row0: int, w: int, h: int) -> bool:
        if observation.labels.shape != (h, w):
            self.dropped += 1
            return False
        self.map.fuse(col0, row0, top_evidence(observation), observation.seen)
        self.fused += 1
        return True

    def _keep(
        self, table: OrderedDict[tuple[str, int], Any], key: tuple[str, int], value: Any
    ) -> None:
        table[key] = value
        while len(table) > self.window:
            table.popitem(last=False)
            self.expired += 1
