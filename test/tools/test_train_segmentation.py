"""tools/train_segmentation.py: the --quick run end to end, and its errors without torch/data.

The quick run needs the training environment (`python3 tools/install.py --train`, .venv-train with
PyTorch CPU): torch is never a dependency of the stack or of the default test install, so without
that environment the test is skipped with the command that enables it. CI creates it.
"""

import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'train_segmentation.py'
MINI = ROOT / 'test' / 'data' / 'floodnet_mini'
TRAIN_PYTHON = Path(os.environ.get('UAV_FLOOD_TRAIN_PYTHON', ROOT / '.venv-train/bin/python'))


def run(python, *args, timeout=300):
    return subprocess.run(
        [str(python), str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)
def test_quick_run_trains_exports_and_reports(tmp_path):
    proc = run(TRAIN_PYTHON, '--quick', '--data', str(MINI), '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = proc.stdout
    assert 'loaded 6 train and 2 val images' in log
    assert 'epoch 2/2' in log and 'exported' in log
    assert 'test model: water IoU' in log and 'test baseline: water IoU' in log
    report = json.loads((tmp_path / 'flood_seg.json').read_text())
    assert report['splits'] == {'train': 6, 'val': 2, 'test': 2}
    for key in ('test', 'baseline_test'):
        metrics = report[key]
        assert 0.0 <= metrics['iou'] <= metrics['f1'] <= 1.0
        assert 0.0 <= metrics['accuracy'] <= 1.0
    assert report['recipe']['seed'] == 0 and report['curve'][-1]['epoch'] == 2
    # The exported model runs in the stack's own wrapper, at any size.
    segmenter = FloodSegmenter(SegmenterConfig(model_path=str(tmp_path / 'flood_seg.onnx')))
    mask = segmenter.segment(np.zeros((150, 230, 3), np.uint8)).mask
    assert mask.shape == (150, 230)


@pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)
def test_quick_run_of_the_fast_model_writes_its_own_files(tmp_path):
    proc = run(
        TRAIN_PYTHON,
        '--quick',
        '--arch',
        'scratch',
        '--name',
        'flood_seg_fast',
        '--data',
        str(MINI),
        '--out',
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'scratch network' in proc.stdout and 'calibration on val: temperature' in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'MODEL_CARD_flood_seg_fast.md',
        'flood_seg_fast.json',
        'flood_seg_fast.onnx',
    ]
    report = json.loads((tmp_path / 'flood_seg_fast.json').read_text())
    assert report['recipe']['arch'] == 'scratch'
    calibration = report['calibration']
    assert 0.5 <= calibration['temperature'] <= 3.0
    assert calibration['val_nll_after'] <= calibration['val_nll_before']
    assert set(report['class_iou_test']) >= {'water', 'road-flooded', 'building-flooded'}
    card = (tmp_path / 'MODEL_CARD_flood_seg_fast.md').read_text()
    assert card.startswith('# flood_seg_fast.onnx') and 'FloodSegNet' in card


@pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)
def test_bad_data_folder_is_a_clear_error(tmp_path):
    proc = run(TRAIN_PYTHON, '--quick', '--data', str(tmp_path), '--out', str(tmp_path / 'o'))
    assert proc.returncode == 2
    assert 'splits.csv not found' in proc.stderr and 'Traceback' not in proc.stderr


def test_without_torch_it_says_how_to_get_it(tmp_path):
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip('this environment has torch; the message is for environments without it')
    proc = run(sys.executable, '--quick', '--data', str(MINI), '--out', str(tmp_path))
    assert proc.returncode == 2
    assert 'tools/install.py --train' in proc.stderr and 'Traceback' not in proc.stderr


def test_quick_refuses_to_overwrite_the_shipped_model():
    proc = run(sys.executable, '--quick')
    assert proc.returncode == 2
    assert '--quick writes a throwaway model' in proc.stderr


@pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)
def test_quick_run_with_pseudo_labels_and_a_stride_32_encoder(tmp_path):
    photos = tmp_path / 'unlabelled' / 'images'
    photos.mkdir(parents=True)
    for image in sorted((MINI / 'images').glob('*.jpg'))[:3]:
        (photos / image.name).write_bytes(image.read_bytes())
    out = tmp_path / 'out'
    out.mkdir()
    proc = run(
        TRAIN_PYTHON,
        '--quick',
        '--data',
        str(MINI),
        '--out',
        str(out),
        '--encoder-stride',
        '32',
        '--pseudo-labels',
        'accurate',
        '--unlabelled',
        str(photos.parent),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '3 pseudo-labelled photos join the training images' in proc.stdout
    assert 'loaded 9 train and 2 val images' in proc.stdout
    recipe = json.loads((out / 'flood_seg.json').read_text())['recipe']
    assert recipe['encoder_stride'] == 32 and recipe['pseudo_images'] == 3
    assert 0.0 < recipe['pseudo_kept'] <= 1.0
    card = (out / 'MODEL_CARD.md').read_text()
    assert 'blocks up to stride 32, 320 channels' in card
    assert 'Semi-supervised: 3 unlabelled photos (`unlabelled`)' in card
    segmenter = FloodSegmenter(SegmenterConfig(model_path=str(out / 'flood_seg.onnx')))
    assert segmenter.segment(np.zeros((96, 128, 3), np.uint8)).mask.shape == (96, 128)


def load_script(monkeypatch):
    """Import the script as a module (its helpers import tools/eval_segmentation)."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / 'tools'))
    spec = importlib.util.spec_from_file_location('train_segmentation', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, 'train_segmentation', module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_pseudo_labels_keep_only_what_the_teacher_is_sure_of(tmp_path, monkeypatch):
    train = load_script(monkeypatch)
    photos = tmp_path / 'images'
    photos.mkdir()
    for image in sorted((MINI / 'images').glob('*.jpg'))[:2]:
        (photos / image.name).write_bytes(image.read_bytes())
    sure = train.pseudo_label(train.resolve_teacher('accurate'), tmp_path, (256, 192), 0.95)
    loose = train.pseudo_label(train.resolve_teacher('accurate'), tmp_path, (256, 192), 0.3)
    assert sure.images.shape == (2, 192, 256, 3) and sure.classes.shape == (2, 192, 256)
    assert set(np.unique(sure.classes)) <= set(range(10)) | {train.IGNORE}
    kept_sure = np.mean(sure.classes != train.IGNORE)
    kept_loose = np.mean(loose.classes != train.IGNORE)
    assert 0.0 < kept_sure < kept_loose <= 1.0
    # Where both keep a pixel they agree: confidence only decides what is kept.
    both = (sure.classes != train.IGNORE) & (loose.classes != train.IGNORE)
    assert np.array_equal(sure.classes[both], loose.classes[both])
    joined = train.concat_splits(sure, loose)
    assert joined.ids == sure.ids + loose.ids and len(joined.images) == 4


def test_pseudo_labels_say_what_is_missing(tmp_path, monkeypatch):
    train = load_script(monkeypatch)
    with pytest.raises(train.TrainError, match='no \\*.jpg photos'):
        train.pseudo_label(train.resolve_teacher('accurate'), tmp_path, (64, 48), 0.8)
    (tmp_path / 'images').mkdir()
    first = sorted((MINI / 'images').glob('*.jpg'))[0]
    (tmp_path / 'images' / 'a.jpg').write_bytes(first.read_bytes())
    with pytest.raises(train.TrainError, match='teacher model .* not found'):
        train.pseudo_label(tmp_path / 'nope.onnx', tmp_path, (64, 48), 0.8)


@pytest.mark.skipif(
    not TRAIN_PYTHON.exists(),
    reason=f'no training environment at {TRAIN_PYTHON}: run `python3 tools/install.py --train`',
)
def test_a_teacher_without_classes_is_a_clear_error(tmp_path):
    """A water-only model (as the stack shipped before) cannot pseudo-label the 10 classes."""
    teacher = tmp_path / 'water_only.onnx'
    build = (
        'import onnx, sys\n'
        'from onnx import helper, TensorProto\n'
        "x = helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, None, None])\n"
        "y = helper.make_tensor_value_info('water', TensorProto.FLOAT, [1, 3, None, None])\n"
        "graph = helper.make_graph([helper.make_node('Identity', ['image'], ['water'])], 'g', "
        '[x], [y])\n'
        "model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])\n"
        'model.ir_version = 8\n'
        'onnx.save(model, sys.argv[1])\n'
    )
    made = subprocess.run(
        [str(TRAIN_PYTHON), '-c', build, str(teacher)], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    photos = tmp_path / 'unlabelled' / 'images'
    photos.mkdir(parents=True)
    first = sorted((MINI / 'images').glob('*.jpg'))[0]
    (photos / first.name).write_bytes(first.read_bytes())
    proc = run(
        TRAIN_PYTHON,
        '--quick',
        '--data',
        str(MINI),
        '--out',
        str(tmp_path / 'out'),
        '--pseudo-labels',
        str(teacher),
        '--unlabelled',
        str(photos.parent),
    )
    assert proc.returncode == 2
    assert 'has no classes output: it cannot pseudo-label' in proc.stderr
    assert 'Traceback' not in proc.stderr
