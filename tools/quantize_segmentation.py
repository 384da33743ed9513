#!/usr/bin/env python3
"""Quantise the flood model to INT8 with onnxruntime's static quantisation, for on-board CPUs.

    .venv-train/bin/python tools/quantize_segmentation.py          # flood_seg.onnx -> _int8
    .venv-train/bin/python tools/quantize_segmentation.py --model M.onnx --out M_int8.onnx

Needs the training environment (`python3 tools/install.py --train`: onnx, onnxruntime's
quantisation tools) and the FloodNet data set in ../shared/data/floodnet_harvey_uav (or --data).

What it does:
1. Pre-processes the float model (onnxruntime.quantization.shape_inference.quant_pre_process:
   shape inference, BatchNorm folding, graph optimisation).
2. Calibrates activation ranges on --calibration images of the TRAIN split, resized as the stack
   resizes them (512 px on the longer side), with the chosen method (percentile by default: a
   few extreme activations do not stretch the ranges).
3. Writes a QOperator model (QLinearConv: the format onnxruntime's CPU kernels run fastest),
   per-channel INT8 weights and UINT8 activations. The class head and everything after it (the
   softmax, the water sum and the upsampling) stay float: the probability keeps its resolution.
4. Reports water IoU on the val split for the float and the INT8 model, and their latency on a
   512 x 512 frame (1 thread); writes <out>.json beside the model with those figures.
The test split is not read here; tools/eval_segmentation.py reports it.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'tools'))

import eval_segmentation as ev  # noqa: E402

from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig  # noqa: E402

DEFAULT_MODEL = ROOT / 'src' / 'uav_flood' / 'models' / 'flood_seg.onnx'
DEFAULT_DATA = ROOT.parent / 'shared' / 'data' / 'floodnet_harvey_uav'
METHODS = ('percentile', 'minmax', 'entropy')


def say(message: str) -> None:
    """Print a progress line."""
    print(f'[quantize] {message}', flush=True)


def train_frames(data: Path, count: int) -> list[np.ndarray]:
    """Return `count` train-split frames as network inputs (1 x 3 x H x W float32, 512 px)."""
    with (data / 'splits.csv').open(newline='') as f:
        ids = [row['id'] for row in csv.DictReader(f) if row['split'] == 'train']
    step = max(1, len(ids) // count)
    frames = []
    for image_id in ids[::step][:count]:
        bgr = cv2.imread(str(data / 'images' / f'{image_id}.jpg'), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f'quantize: cannot read {image_id}.jpg in {data}')
        h, w = bgr.shape[:2]
        scale = 512 / max(h, w)
        size = (round(w * scale / 16) * 16, round(h * scale / 16) * 16)
        rgb = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[:, :, ::-1]
        frames.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32))
    return frames


def head_and_after(model: Any) -> list[str]:
    """Return the names of the last Conv (the class head) and every node after it."""
    nodes = list(model.graph.node)
    last_conv = max(i for i, node in enumerate(nodes) if node.op_type == 'Conv')
    return [node.name for node in nodes[last_conv:] if node.name]


def quantize(model: Path, out: Path, data: Path, count: int, method: str) -> None:
    """Write the INT8 model of `model` to `out`."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        quantize_static,
        QuantType,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    frames = train_frames(data, count)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = iter(frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            frame = next(self.left, None)
            return None if frame is None else {'image': frame}

    methods = {
        'percentile': CalibrationMethod.Percentile,
        'minmax': CalibrationMethod.MinMax,
        'entropy': CalibrationMethod.Entropy,
    }
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / 'pre.onnx'
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        exclude = head_and_after(onnx.load(str(pre)))
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QOperator,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=methods[method],
            nodes_to_exclude=exclude,
            extra_options={'CalibPercentile': 99.99} if method == 'percentile' else {},
        )


def val_iou(model: Path, data: Path) -> float:
    """Water IoU on the val split through the stack's wrapper."""
    segmenter = FloodSegmenter(SegmenterConfig(model_path=str(model), threads=2))
    return ev.water_metrics(segmenter, data, ev.split_ids(data, 'val'))['iou']


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--model', type=Path, default=DEFAULT_MODEL, help='the float model')
    parser.add_argument('--out', type=Path, help='INT8 model (default: <model>_int8.onnx)')
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA, help='FloodNet data set')
    parser.add_argument('--calibration', type=int, default=64, help='train images (64)')
    parser.add_argument('--method', choices=METHODS, default='percentile')
    args = parser.parse_args(argv)
    try:
        import onnx  # noqa: F401
    except ImportError:
        print(
            'error: onnx is not installed; run `python3 tools/install.py --train`', file=sys.stderr
        )
        return 2
    if not args.model.is_file():
        print(f'error: no model at {args.model}', file=sys.stderr)
        return 2
    if not (args.data / 'splits.csv').is_file():
        print(f'error: no FloodNet data at {args.data} (use --data)', file=sys.stderr)
        return 2
    out = args.out or args.model.with_name(f'{args.model.stem}_int8.onnx')
    start = time.monotonic()
    say(f'calibrating on {args.calibration} train images ({args.method})')
    quantize(args.model, out, args.data, args.calibration, args.method)
    say(f'wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.monotonic() - start:.0f} s')
    report = {
        'model': out.name,
        'from': args.model.name,
        'calibration_images': args.calibration,
        'method': args.method,
        'val_iou_float': val_iou(args.model, args.data),
        'val_iou_int8': val_iou(out, args.data),
        'latency_ms_512_1_thread_float': ev.latency(args.model, 1),
        'latency_ms_512_1_thread_int8': ev.latency(out, 1),
        'command': ' '.join(['tools/quantize_segmentation.py', *(argv or sys.argv[1:])]),
    }
    out.with_suffix('.json').write_text(json.dumps(report, indent=2) + '\n')
    say(
        f'val water IoU float {report["val_iou_float"]:.3f}, INT8 {report["val_iou_int8"]:.3f}; '
        f'512 x 512 on 1 thread: float {report["latency_ms_512_1_thread_float"]:.1f} ms, INT8 '
        f'{report["latency_ms_512_1_thread_int8"]:.1f} ms'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
