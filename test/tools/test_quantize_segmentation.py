"""tools/quantize_segmentation.py on the mini FloodNet set: an INT8 model the stack runs.

Needs the training environment (onnx and onnxruntime's quantisation tools; `python3
tools/install.py --train`); skipped without it, with the command that creates it.
"""

import json
import os
from pathlib import Path
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from uav_flood.core.segmentation import default_model_path, FloodSegmenter, SegmenterConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'quantize_segmentation.py'
MINI = ROOT / 'test' / 'data' / 'floodnet_mini'
TRAIN_PYTHON = Path(os.environ.get('UAV_FLOOD_TRAIN_PYTHON', ROOT / '.venv-train/bin/python'))

needs_training_env = pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)


@needs_training_env
def test_quantises_the_shipped_model_and_reports_val_and_latency(tmp_path):
    out = tmp_path / 'm_int8.onnx'
    proc = subprocess.run(
        [
            str(TRAIN_PYTHON),
            str(SCRIPT),
            '--model',
            str(default_model_path()),
            '--data',
            str(MINI),
            '--calibration',
            '4',
            '--out',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'calibrating on 4 train images (percentile)' in proc.stdout
    report = json.loads(out.with_suffix('.json').read_text())
    assert report['calibration_images'] == 4 and report['from'] == 'flood_seg.onnx'
    assert 0.0 <= report['val_iou_int8'] <= 1.0
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [o.name for o in session.get_outputs()] == ['water', 'classes']
    float_mask = FloodSegmenter(SegmenterConfig(threads=1)).segment(_frame()).probability
    int8 = FloodSegmenter(SegmenterConfig(model_path=str(out), threads=1)).segment(_frame())
    assert int8.probability.shape == float_mask.shape
    assert np.mean(np.abs(int8.probability - float_mask)) < 0.1


def _frame():
    import cv2

    ids = [line.split(',')[0] for line in (MINI / 'splits.csv').read_text().splitlines()[1:]]
    bgr = cv2.imread(str(MINI / 'images' / f'{ids[0]}.jpg'), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@needs_training_env
def test_a_missing_data_set_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [str(TRAIN_PYTHON), str(SCRIPT), '--data', str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert 'no FloodNet data' in proc.stderr and 'Traceback' not in proc.stderr
