"""tools/eval_segmentation.py on the mini FloodNet set: figures that can be checked by hand."""

import json
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))

import eval_segmentation as ev  # noqa: E402

MINI = ROOT / 'test' / 'data' / 'floodnet_mini'


def test_zoom_crops_the_centre_and_the_horizon_marks_the_sky_unknown():
    rgb = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    classes = np.full((40, 60), 5, np.uint8)
    zoomed, zc = ev.zoom(2.0)(rgb, classes)
    assert zoomed.shape == (20, 30, 3) and zc.shape == (20, 30)
    assert np.array_equal(zoomed, rgb[10:30, 15:45])
    sky, labels = ev.horizon(rgb, classes)
    assert (labels[:13] == 255).all() and (labels[13:] == 5).all()
    assert not np.array_equal(sky[:13], rgb[:13]) and np.array_equal(sky[13:], rgb[13:])


def test_score_counts_sky_called_water_apart():
    class AllWater:
        def segment(self, rgb):
            class Result:
                mask = np.ones(rgb.shape[:2], bool)

            return Result()

    classes = np.zeros((10, 10), np.uint8)
    classes[:, :5] = 5  # half water
    classes[:2] = 255  # sky: 20 pixels
    result = ev.score(AllWater(), [(np.zeros((10, 10, 3), np.uint8), classes)])
    assert result['sky_called_water'] == 1.0
    assert result['iou'] == pytest.approx(40 / 80)  # 40 water pixels below the sky, 80 known


def test_the_command_reports_water_classes_robustness_and_latency(tmp_path):
    out = tmp_path / 'eval.json'
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / 'tools' / 'eval_segmentation.py'),
            '--data',
            str(MINI),
            '--split',
            'val',
            '--robustness',
            '--json',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report['latency_ms_512']) == {'1', '2'}
    assert all(ms > 0 for ms in report['latency_ms_512'].values())
    assert 0.0 <= report['water']['iou'] <= 1.0
    checks = report['robustness']
    assert 'horizon (sky over the top third)' in checks
    assert 0.0 <= checks['horizon (sky over the top third)']['sky_called_water'] <= 1.0
    # The transform that changes nothing scores as the plain evaluation.
    assert checks['as staged (about 15 cm/px at 512 px)']['iou'] == pytest.approx(
        report['water']['iou']
    )


def test_a_missing_data_set_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'eval_segmentation.py'), '--data', str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert 'splits.csv not found' in proc.stderr and 'Traceback' not in proc.stderr


def test_mosaic_needs_four_frames():
    assert ev.mosaic(MINI, ['a', 'b']) == []
    ids = [line.split(',')[0] for line in (MINI / 'splits.csv').read_text().splitlines()[1:]]
    tiles = ev.mosaic(MINI, ids[:4])
    assert len(tiles) == 1
    rgb, classes = tiles[0]
    first = cv2.imread(str(MINI / 'masks_orig' / f'{ids[0]}.png'), cv2.IMREAD_UNCHANGED)
    h, w = first.shape
    assert classes.shape == (h // 2 * 2, w // 2 * 2) and rgb.shape[:2] == classes.shape


def test_the_error_breakdown_adds_up_to_the_water_metrics():
    from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig

    ids = ev.split_ids(MINI, 'val')
    segmenter = FloodSegmenter(SegmenterConfig(threads=1))
    errors = ev.water_errors(segmenter, MINI, ids, worst=1)
    # Missed water can only be labelled road-flooded or water; false water never is.
    assert set(errors['missed_by_class']) <= {'road-flooded', 'water'}
    assert not set(errors['false_by_class']) & {'road-flooded', 'water'}
    missed, false = sum(errors['missed_by_class'].values()), sum(errors['false_by_class'].values())
    water = ev.water_metrics(segmenter, MINI, ids)
    truth = sum(int(np.count_nonzero(np.isin(ev.load(MINI, i)[1], ev.WATER_CLASSES))) for i in ids)
    assert truth > 0
    assert water['recall'] == pytest.approx((truth - missed) / truth)
    assert water['iou'] == pytest.approx((truth - missed) / (truth + false))
    (row,) = errors['worst_images']
    assert row['id'] in ids and row['missed'] + row['false'] <= missed + false
