"""sim.survey: frames over the scene, segmented and fused without ROS."""

import math

import numpy as np
import pytest

from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig
from uav_flood.sim.scene import FloodScene
from uav_flood.sim.survey import lawnmower, survey


def test_lawnmower_sweeps_alternate_and_stay_inside():
    poses = lawnmower((-100.0, -50.0, 100.0, 50.0), 60.0, 40.0, 50.0)
    norths = sorted({round(p.position_enu_m[1], 6) for p in poses})
    assert norths == [-30.0, 10.0]  # half a spacing inside, then a spacing apart
    first = [p.position_enu_m[0] for p in poses if p.position_enu_m[1] == -30.0]
    second = [p.position_enu_m[0] for p in poses if p.position_enu_m[1] == 10.0]
    assert first == [-100.0, -50.0, 0.0, 50.0, 100.0] and second == first[::-1]
    assert all(p.position_enu_m[2] == 60.0 for p in poses)


@pytest.fixture(scope='module')
def result():
    segmenter = FloodSegmenter(SegmenterConfig(threads=1))
    return survey(FloodScene.load(), segmenter, spacing_m=60.0, step_m=30.0)


def test_a_short_survey_scores_every_frame_and_the_map(result):
    assert result.frames == 3 * 11  # 3 sweeps over 300 m x 180 m, a frame every 30 m
    assert len(result.frame_ious) == result.frames
    assert len(result.tiles) == 20
    assert result.fused.coverage_pct > 90.0
    tp, fp, fn = result.pooled
    assert tp > 0 and result.frame_iou_pooled == pytest.approx(tp / (tp + fp + fn))
    assert 0.0 < result.fused.iou < 1.0
    # Tiles without water in the truth have no IoU, and the table says so.
    dry = [t for t in result.tiles if t.truth == 0.0 and t.fused == 0.0]
    assert all(math.isnan(t.iou) for t in dry)
    table = result.table()
    assert table.count('\n| ') == 20 and 'fused map IoU' in table  # a row per tile
    assert np.isfinite(result.frame_iou_mean)
