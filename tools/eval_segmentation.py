#!/usr/bin/env python3
"""Evaluate a flood segmentation model: water and per-class IoU, robustness, latency.

    .venv/bin/python tools/eval_segmentation.py                         # the shipped model
    .venv/bin/python tools/eval_segmentation.py --model m.onnx --split val --robustness
    .venv/bin/python tools/eval_segmentation.py --latency-only

Needs only the stack's runtime (onnxruntime, OpenCV, numpy) and the FloodNet data set in
../shared/data/floodnet_harvey_uav (or --data).

- Water metrics: every pixel of the split's images at their staged resolution, the model run
  through the stack's own wrapper (uav_flood.core.segmentation.FloodSegmenter, resize mode).
- Per-class IoU (models with a 'classes' output): the 10 FloodNet classes, argmax of the class
  probabilities upsampled to the staged resolution, against masks_orig.
- Robustness (--robustness; use the val split: the test split is for the final figures only):
  the water IoU after transforms a field photo brings: other ground resolutions (a zoomed-in
  crop is a finer GSD; a 2 x 2 mosaic of four frames a coarser one), colour shifts, haze, blur,
  JPEG, and a synthetic horizon (sky over the top third: the share of sky called water).
- Latency: onnxruntime on a 512 x 512 frame with 1 and 2 intra-op threads, median of 30 runs.
- Errors (--worst N): missed and false water pixels by their labelled class, and the N images
  with the most wrong pixels (to look at, and to find label flaws).

Prints a table; --json writes every figure.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import csv
import json
from pathlib import Path
import statistics
import sys
import time
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))

from uav_flood.core.responder_layers import CLASSES  # noqa: E402  (FloodNet's, the model's order)
from uav_flood.core.segmentation import (  # noqa: E402
    binary_metrics,
    FloodSegmenter,
    resolve_model,
    SegmenterConfig,
)

DEFAULT_DATA = ROOT.parent / 'shared' / 'data' / 'floodnet_harvey_uav'
WATER_CLASSES = (3, 5)
#: Sky colours of the synthetic horizon (RGB, overhead and at the horizon).
SKY_TOP, SKY_HORIZON = (150, 175, 210), (205, 210, 215)


class EvalError(Exception):
    """A problem with the inputs; the message says what to fix."""


def split_ids(data: Path, split: str) -> list[str]:
    """Return the ids of `split` from the data set's splits.csv."""
    table = data / 'splits.csv'
    if not table.is_file():
        raise EvalError(f'{table} not found: point --data at the floodnet_harvey_uav data set')
    with table.open(newline='') as f:
        ids = [row['id'] for row in csv.DictReader(f) if row['split'] == split]
    if not ids:
        raise EvalError(f'{table} has no images in split {split!r}')
    return ids


def load(data: Path, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (RGB image, FloodNet class map) at the staged resolution."""
    bgr = cv2.imread(str(data / 'images' / f'{image_id}.jpg'), cv2.IMREAD_COLOR)
    classes = cv2.imread(str(data / 'masks_orig' / f'{image_id}.png'), cv2.IMREAD_UNCHANGED)
    if bgr is None or classes is None:
        raise EvalError(f'image or class mask of {image_id} missing or unreadable in {data}')
    return np.ascontiguousarray(bgr[:, :, ::-1]), np.asarray(classes)


def class_probabilities(session: Any, rgb: np.ndarray, max_side: int = 512) -> np.ndarray:
    """Run the model's 'classes' output at the stack's input size; return (H, W, 10) float32."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    size = (max(16, round(w * scale / 16) * 16), max(16, round(h * scale / 16) * 16))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    batch = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32)
    probs = session.run(['classes'], {session.get_inputs()[0].name: batch})[0][0]
    return np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) for p in probs], axis=2)


def per_class_iou(model: Path, data: Path, ids: list[str]) -> dict[str, float] | None:
    """Return IoU per FloodNet class on `ids`, or None if the model has no 'classes' output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=['CPUExecutionProvider'])
    if 'classes' not in [o.name for o in session.get_outputs()]:
        return None
    inter = np.zeros(len(CLASSES), np.int64)
    union = np.zeros(len(CLASSES), np.int64)
    for image_id in ids:
        rgb, truth = load(data, image_id)
        predicted = class_probabilities(session, rgb).argmax(axis=2)
        for k in range(len(CLASSES)):
            p, t = predicted == k, truth == k
            inter[k] += int(np.count_nonzero(p & t))
            union[k] += int(np.count_nonzero(p | t))
    return {
        name: float(inter[k] / union[k]) if union[k] else float('nan')
        for k, name in enumerate(CLASSES)
    }


def water_errors(
    segmenter: FloodSegmenter, data: Path, ids: list[str], worst: int
) -> dict[str, Any]:
    """Where the water errors are: by true FloodNet class, and the `worst` images.

    Missed water is split by its labelled class (road-flooded, water); false water by the class
    the label gives those pixels. Images are ranked by missed + false pixels.
    """
    missed = np.zeros(len(CLASSES), np.int64)
    false = np.zeros(len(CLASSES), np.int64)
    images: list[tuple[int, dict[str, Any]]] = []  # (wrong pixels, row)
    for image_id in ids:
        rgb, classes = load(data, image_id)
        predicted = segmenter.segment(rgb).mask
        truth = np.isin(classes, WATER_CLASSES)
        fn, fp = truth & ~predicted, predicted & ~truth
        missed += np.bincount(classes[fn], minlength=256)[: len(CLASSES)]
        false += np.bincount(classes[fp], minlength=256)[: len(CLASSES)]
        tp = int(np.count_nonzero(truth & predicted))
        n_fn, n_fp = int(np.count_nonzero(fn)), int(np.count_nonzero(fp))
        row = {
            'id': image_id,
            'water': int(np.count_nonzero(truth)),
            'missed': n_fn,
            'false': n_fp,
            'iou': tp / (tp + n_fn + n_fp) if tp + n_fn + n_fp else float('nan'),
        }
        images.append((n_fn + n_fp, row))
    images.sort(key=lambda pair: -pair[0])
    return {
        'missed_by_class': {name: int(missed[k]) for k, name in enumerate(CLASSES) if missed[k]},
        'false_by_class': {name: int(false[k]) for k, name in enumerate(CLASSES) if false[k]},
        'worst_images': [row for _, row in images[:worst]],
    }


def water_metrics(segmenter: FloodSegmenter, data: Path, ids: list[str]) -> dict[str, float]:
    """Water IoU, F1, precision, recall over every pixel of `ids`."""
    preds, truths = [], []
    for image_id in ids:
        rgb, classes = load(data, image_id)
        preds.append(segmenter.segment(rgb).mask.reshape(-1))
        truths.append(np.isin(classes, WATER_CLASSES).reshape(-1))
    m = binary_metrics(np.concatenate(preds), np.concatenate(truths))
    return {'iou': m.iou, 'f1': m.f1, 'precision': m.precision, 'recall': m.recall}


# --------------------------------------------------------------------------------------------
# Robustness transforms: (rgb, class map) -> (rgb, class map), the class map 255 where unknown.


def zoom(factor: float) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return a central crop 1/factor of each side: the frame of a camera `factor` times lower."""

    def transform(rgb: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = classes.shape
        ch, cw = round(h / factor), round(w / factor)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return rgb[y0 : y0 + ch, x0 : x0 + cw], classes[y0 : y0 + ch, x0 : x0 + cw]

    return transform


def photometric(
    fn: Callable[[np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return a transform of the colours only."""

    def transform(rgb: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(fn(rgb.astype(np.float32)), 0, 255).astype(np.uint8), classes

    return transform


def hue_shift(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    """Rotate the hue (OpenCV's hue unit is 2 degrees)."""

    def fn(rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int32) + round(degrees / 2)) % 180).astype(
            np.uint8
        )
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)

    return fn


def jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    """Re-encode as JPEG at `quality`."""

    def fn(rgb: np.ndarray) -> np.ndarray:
        ok, data = cv2.imencode('.jpg', rgb.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is None:
            raise EvalError('JPEG encoding failed')
        return np.asarray(decoded, np.float32)

    return fn


def horizon(rgb: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paint a sky over the top third (class 255 there: scored as 'sky called water')."""
    out, labels = rgb.copy(), classes.copy()
    h, w = labels.shape
    top = h // 3
    ramp = np.linspace(0.0, 1.0, top, dtype=np.float32)[:, None, None]
    sky = np.array(SKY_TOP, np.float32) * (1 - ramp) + np.array(SKY_HORIZON, np.float32) * ramp
    out[:top] = np.broadcast_to(sky, (top, w, 3)).astype(np.uint8)
    labels[:top] = 255
    return out, labels


TRANSFORMS: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    'as staged (about 15 cm/px at 512 px)': lambda rgb, classes: (rgb, classes),
    'zoom 2x (finer GSD, about 7.5 cm/px)': zoom(2.0),
    'zoom 4x (about 4 cm/px)': zoom(4.0),
    'hue +20 degrees': photometric(hue_shift(20)),
    'hue -20 degrees': photometric(hue_shift(-20)),
    'desaturated (x0.4)': photometric(
        lambda x: x.mean(axis=2, keepdims=True) * 0.6 + x * 0.4  # towards grey
    ),
    'dark (x0.55)': photometric(lambda x: x * 0.55),
    'haze (transmission 0.6)': photometric(lambda x: x * 0.6 + 215 * 0.4),
    'blur (sigma 2.5 px at 1000 px)': photometric(lambda x: cv2.GaussianBlur(x, (0, 0), 2.5)),
    'JPEG quality 15': photometric(jpeg(15)),
    'horizon (sky over the top third)': horizon,
}


def mosaic(data: Path, ids: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """2 x 2 mosaics of consecutive frames at the staged size: about 30 cm/px at 512 px."""
    out = []
    for i in range(0, len(ids) - 3, 4):
        tiles = [load(data, image_id) for image_id in ids[i : i + 4]]
        h, w = tiles[0][1].shape
        small = [
            (
                cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                cv2.resize(cls, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST),
            )
            for rgb, cls in tiles
        ]
        rgb = np.vstack(
            [np.hstack([small[0][0], small[1][0]]), np.hstack([small[2][0], small[3][0]])]
        )
        cls = np.vstack(
            [np.hstack([small[0][1], small[1][1]]), np.hstack([small[2][1], small[3][1]])]
        )
        out.append((rgb, cls))
    return out


def score(
    segmenter: FloodSegmenter, frames: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """Water IoU over known pixels, and the share of unknown (sky) pixels called water."""
    preds, truths, sky_called, sky_total = [], [], 0, 0
    for rgb, classes in frames:
        mask = segmenter.segment(np.ascontiguousarray(rgb)).mask
        known = classes != 255
        preds.append(mask[known])
        truths.append(np.isin(classes[known], WATER_CLASSES))
        sky_called += int(np.count_nonzero(mask[~known]))
        sky_total += int(np.count_nonzero(~known))
    m = binary_metrics(np.concatenate(preds), np.concatenate(truths))
    result = {'iou': m.iou, 'precision': m.precision, 'recall': m.recall}
    if sky_total:
        result['sky_called_water'] = sky_called / sky_total
    return result


def robustness(segmenter: FloodSegmenter, data: Path, ids: list[str]) -> dict[str, Any]:
    """Water IoU on `ids` under each transform, plus the coarse-GSD mosaics."""
    frames = [load(data, image_id) for image_id in ids]
    results: dict[str, Any] = {}
    for name, transform in TRANSFORMS.items():
        results[name] = score(segmenter, [transform(rgb, cls) for rgb, cls in frames])
        say(f'{name}: water IoU {results[name]["iou"]:.3f}')
    name = 'mosaic 2x2 (coarser GSD, about 30 cm/px)'
    mosaics = mosaic(data, ids)
    if mosaics:  # four frames or more
        results[name] = score(segmenter, mosaics)
        say(f'{name}: water IoU {results[name]["iou"]:.3f}')
    return results


def latency(model: Path, threads: int, side: int = 512, runs: int = 30) -> float:
    """Median onnxruntime time of one side x side frame with `threads` threads (ms)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=['CPUExecutionProvider'])
    frame = np.random.default_rng(0).uniform(0, 255, (1, 3, side, side)).astype(np.float32)
    name = session.get_inputs()[0].name
    output = 'water' if 'water' in [o.name for o in session.get_outputs()] else None
    for _ in range(5):
        session.run([output] if output else None, {name: frame})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run([output] if output else None, {name: frame})
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def say(message: str) -> None:
    """Print a progress line."""
    print(f'[eval] {message}', flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--model', default='', help='ONNX model, or a shipped one: accurate (default) or fast'
    )
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA, help='FloodNet data set folder')
    parser.add_argument('--split', choices=('train', 'val', 'test'), default='test')
    parser.add_argument('--robustness', action='store_true', help='the robustness checks too')
    parser.add_argument('--latency-only', action='store_true', help='only the latency')
    parser.add_argument('--threshold', type=float, default=0.5, help='water threshold')
    parser.add_argument(
        '--worst',
        type=int,
        default=0,
        metavar='N',
        help='also say where the water errors are: by true class, and the N worst images',
    )
    parser.add_argument('--json', type=Path, help='write every figure to this file')
    args = parser.parse_args(argv)
    model = resolve_model(args.model)
    if not Path(model).is_file():
        print(f'error: no model at {model}', file=sys.stderr)
        return 2
    report: dict[str, Any] = {'model': str(model)}
    try:
        report['latency_ms_512'] = {str(t): latency(model, t) for t in (1, 2)}
        say(
            'latency 512 x 512: '
            + ', '.join(f'{t} thread(s) {ms:.1f} ms' for t, ms in report['latency_ms_512'].items())
        )
        if not args.latency_only:
            ids = split_ids(args.data, args.split)
            segmenter = FloodSegmenter(
                SegmenterConfig(model_path=str(model), threads=2, threshold=args.threshold)
            )
            report['split'] = args.split
            report['water'] = water_metrics(segmenter, args.data, ids)
            say(
                f'{args.split} water: '
                + ', '.join(f'{k} {v:.3f}' for k, v in report['water'].items())
            )
            classes = per_class_iou(model, args.data, ids)
            if classes is not None:
                report['class_iou'] = classes
                say(
                    f'{args.split} class IoU: '
                    + ', '.join(f'{k} {v:.3f}' for k, v in classes.items())
                )
                say(f'mean IoU {np.nanmean(list(classes.values())):.3f}')
            if args.worst > 0:
                errors = water_errors(segmenter, args.data, ids, args.worst)
                report['errors'] = errors
                say(
                    f'missed water by labelled class (pixels): {errors["missed_by_class"]}; '
                    f'false water by labelled class: {errors["false_by_class"]}'
                )
                for row in errors['worst_images']:
                    say(
                        f'  {row["id"]}: water {row["water"]}, missed {row["missed"]}, '
                        f'false {row["false"]}, IoU {row["iou"]:.2f}'
                    )
            if args.robustness:
                report['robustness'] = robustness(segmenter, args.data, ids)
    except EvalError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + '\n')
        say(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
