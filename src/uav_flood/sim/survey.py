"""Fly a simulated camera over a flood scene without ROS: frames, segmentations, a fused map.

The same chain as the nodes (sim_camera renders, core.segmentation segments, core.georef
projects, core.flood_map fuses), in one process, to measure what fusion adds: each frame's
water IoU against the truth it rendered, and the fused map's IoU against the scene truth, with a
per-tile table (the truth's water share beside what the frames and the map call water).

    from uav_flood.sim.survey import survey
    result = survey(FloodScene.load(), FloodSegmenter())
    print(result.table())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import math

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.evaluation import MapScore, on_grid_of, score_map
from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.core.georef import (
    GridPatch,
    GridSpec,
    mask_to_patch,
    UNSEEN,
    VehiclePose,
    WATER,
)
from uav_flood.core.segmentation import FloodSegmenter
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene

__all__ = ['lawnmower', 'survey', 'SurveyResult', 'TileRow']


@dataclass(frozen=True)
class TileRow:
    """One scene tile: the truth's water share and what the frames and the map called water.

    :param tile_id: the tile's source image id.
    :param truth: share of the tile's labelled cells that are water.
    :param frames: share of the tile's pixels the frames called water (all frames pooled).
    :param fused: share of the tile's observed map cells that are water.
    :param iou: the fused map's water IoU on the tile (nan without water in either).
    """

    tile_id: str
    truth: float
    frames: float
    fused: float
    iou: float


@dataclass
class SurveyResult:
    """What a survey measured.

    :param frames: frames rendered and segmented.
    :param frame_ious: each frame's water IoU against its rendered truth (nan: no water in
        either).
    :param pooled: (tp, fp, fn) over every valid pixel of every frame.
    :param fused: the fused map against the scene truth.
    :param tiles: the per-tile table.
    """

    frames: int
    frame_ious: list[float]
    pooled: tuple[int, int, int]
    fused: MapScore
    tiles: list[TileRow] = field(default_factory=list)

    @property
    def frame_iou_mean(self) -> float:
        """Return the mean single-frame IoU over frames with water in the truth or the mask."""
        finite = [v for v in self.frame_ious if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    @property
    def frame_iou_pooled(self) -> float:
        """Return the IoU over all frames' pixels together."""
        tp, fp, fn = self.pooled
        return tp / (tp + fp + fn) if tp + fp + fn else math.nan

    def table(self) -> str:
        """Return the per-tile table and the totals as Markdown."""
        lines = [
            '| tile | truth water | frames call water | map calls water | map IoU |',
            '|---|---|---|---|---|',
        ]
        lines += [
            f'| {t.tile_id} | {t.truth:.2f} | {t.frames:.2f} | {t.fused:.2f} | '
            + (f'{t.iou:.2f}' if math.isfinite(t.iou) else '-')
            + ' |'
            for t in self.tiles
        ]
        lines.append(
            f'\n{self.frames} frames: single-frame IoU mean {self.frame_iou_mean:.3f}, pooled '
            f'{self.frame_iou_pooled:.3f}; fused map IoU {self.fused.iou:.3f} (precision '
            f'{self.fused.precision:.3f}, recall {self.fused.recall:.3f}, coverage '
            f'{self.fused.coverage_pct:.1f} %)'
        )
        return '\n'.join(lines)


def lawnmower(
    bounds: tuple[float, float, float, float], altitude_m: float, spacing_m: float, step_m: float
) -> list[VehiclePose]:
    """Return nadir poses along east-west sweeps over `bounds` (min_e, min_n, max_e, max_n).

    Sweeps are `spacing_m` apart, starting half a spacing inside the southern edge; a frame
    every `step_m` along each sweep; the heading follows the sweep.
    """
    min_e, min_n, max_e, max_n = bounds
    poses = []
    north = min_n + spacing_m / 2.0
    sweep = 0
    while north < max_n:
        easts = np.arange(min_e, max_e + 1e-9, step_m)
        if sweep % 2:
            easts = easts[::-1]
        yaw = 0.0 if sweep % 2 == 0 else 180.0
        poses += [
            VehiclePose.from_euler((float(e), north, altitude_m), yaw_deg=yaw) for e in easts
        ]
        north += spacing_m
        sweep += 1
    return poses


def survey(
    scene: FloodScene,
    segmenter: FloodSegmenter,
    fusion: FusionConfig | None = None,
    altitude_m: float = 60.0,
    spacing_m: float = 50.0,
    step_m: float = 10.0,
    camera: SimCamera | None = None,
    progress: Callable[[int, int], None] | None = None,
    soft: bool = True,
    view_weight: bool = True,
) -> SurveyResult:
    """Fly a lawnmower over the scene, segment every frame, fuse them; score frames and map.

    :param scene: the scene (its truth scores both).
    :param segmenter: the model, run as the segmentation node runs it.
    :param fusion: the mapper's sensor model and grid (default: the mapper's defaults).
    :param altitude_m: flight height above the ground (m).
    :param spacing_m: between sweeps (m).
    :param step_m: between frames along a sweep (m).
    :param camera: the camera (default SimCamera.default: 640 x 480, 70 degrees).
    :param progress: called with (frames done, frames) after each frame.
    :param soft: send the water probability (True) or the thresholded mask, as the
        segmentation node's send_probability.
    :param view_weight: weigh by the viewing geometry, as the node's view_weight.
    """
    fusion = fusion or FusionConfig()
    camera = camera or SimCamera.default(scene)
    grid = GridSpec(fusion.resolution_m)
    flood_map = FloodMap(fusion)
    poses = lawnmower(scene.bounds_enu, altitude_m, spacing_m, step_m)
    frame_ious: list[float] = []
    tp = fp = fn = 0
    called = np.zeros(scene.water.shape, np.int64)  # per mosaic pixel: frames calling water
    seen = np.zeros(scene.water.shape, np.int64)
    for k, pose in enumerate(poses):
        rgb, truth, valid = camera.render(pose)
        segmentation = segmenter.segment(rgb)
        mask = segmentation.mask
        water, wet = mask & valid, (truth > 0) & valid
        a, b, c = (
            int(np.count_nonzero(water & wet)),
            int(np.count_nonzero(water & ~wet)),
            int(np.count_nonzero(~water & wet)),
        )
        tp, fp, fn = tp + a, fp + b, fn + c
        frame_ious.append(a / (a + b + c) if a + b + c else math.nan)
        _tally(scene, camera, pose, mask, valid, called, seen)
        observed = segmentation.probability if soft else mask.astype(np.uint8)
        patch = mask_to_patch(
            observed, camera.camera, camera.mount, pose, grid, valid, view_weight=view_weight
        )
        if patch is not None:
            flood_map.apply(patch)
        if progress is not None:
            progress(k + 1, len(poses))
    truth_patch = scene.truth_patch(grid)
    inside = np.asarray(truth_patch.data).reshape(truth_patch.height, truth_patch.width) != UNSEEN
    estimate = flood_map.to_occupancy()
    fused = score_map(estimate, truth_patch, inside)
    tiles = _tiles(scene, grid, estimate, truth_patch, called, seen)
    return SurveyResult(len(poses), frame_ious, (tp, fp, fn), fused, tiles)


def _tally(
    scene: FloodScene,
    camera: SimCamera,
    pose: VehiclePose,
    mask: NDArray[np.bool_],
    valid: NDArray[np.bool_],
    called: NDArray[np.int64],
    seen: NDArray[np.int64],
) -> None:
    """Count, per scene pixel, how often frames saw it and called it water."""
    pixels = scene.enu_to_pixel(camera.ground_points(pose)[valid])
    cols = np.clip(np.rint(pixels[:, 0]).astype(np.int64), 0, scene.width_px - 1)
    rows = np.clip(np.rint(pixels[:, 1]).astype(np.int64), 0, scene.height_px - 1)
    np.add.at(seen, (rows, cols), 1)
    np.add.at(called, (rows, cols), mask[valid].astype(np.int64))


def _tiles(
    scene: FloodScene,
    grid: GridSpec,
    estimate: GridPatch,
    truth_patch: GridPatch,
    called: NDArray[np.int64],
    seen: NDArray[np.int64],
) -> list[TileRow]:
    res = grid.resolution_m
    truth = np.asarray(truth_patch.data, np.int16).reshape(truth_patch.height, truth_patch.width)
    mapped = on_grid_of(estimate, truth_patch)
    rows = []
    for tile in scene.tiles:
        e0, n0 = tile.sw_enu_m
        e1 = e0 + tile.width_px * scene.resolution_m
        n1 = n0 + tile.height_px * scene.resolution_m
        ca = round((e0 - truth_patch.origin_east) / res)
        cb = round((e1 - truth_patch.origin_east) / res)
        ra = round((n0 - truth_patch.origin_north) / res)
        rb = round((n1 - truth_patch.origin_north) / res)
        t, m = truth[ra:rb, ca:cb], mapped[ra:rb, ca:cb]
        labelled = t != UNSEEN
        observed = labelled & (m != UNSEEN)
        wet_truth, wet_map = (t == WATER) & labelled, (m > 50) & observed
        union = int(np.count_nonzero(wet_truth | wet_map))
        iou = int(np.count_nonzero(wet_truth & wet_map)) / union if union else math.nan
        (pc0, pr1), (pc1, pr0) = (
            np.rint(scene.enu_to_pixel(np.array([[e0, n0], [e1, n1]]))).astype(int).tolist()
        )
        s = seen[max(pr0, 0) : pr1, max(pc0, 0) : pc1]
        c = called[max(pr0, 0) : pr1, max(pc0, 0) : pc1]
        rows.append(
            TileRow(
                tile.tile_id,
                float(np.count_nonzero(wet_truth)) / max(1, int(np.count_nonzero(labelled))),
                float(c.sum()) / max(1, int(s.sum())),
                float(np.count_nonzero(wet_map)) / max(1, int(np.count_nonzero(observed))),
                iou,
            )
        )
    return rows
