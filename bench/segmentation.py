#!/usr/bin/env python3
"""Measure flood segmentation inference: latency per frame, one thread and all cores.

For the shipped model (or --model), through uav_flood.core.segmentation.FloodSegmenter exactly as
the nodes run it, on real imagery (crops of the shipped FloodNet scene):

- network: a 512 x 512 frame already at the network's size (no resize), time inside
  onnxruntime only; the issue's target is 30 ms or less on one CPU thread;
- camera frame: a 640 x 480 rgb8 frame through the whole call (channel handling, resize to
  512 x 384, inference, probability resized back, threshold);
- photo: a 4000 x 3000 photo (the FloodNet originals' size) in resize mode.

Each case runs --warmup untimed then --repeat timed calls; the table gives mean, p50 and p95 ms.

    .venv/bin/python bench/segmentation.py
    .venv/bin/python bench/segmentation.py --threads 1 --repeat 200

Prints a Markdown table (copy into docs/BENCHMARKS.md) and the machine it ran on.
"""

import argparse
from pathlib import Path
import platform
import statistics
import sys
import time

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'src'))

from benchlib import cpu_model, pct  # noqa: E402

from uav_flood.core.segmentation import cpu_count, FloodSegmenter, SegmenterConfig  # noqa: E402
from uav_flood.sim.scene import FloodScene  # noqa: E402


def measure(segmenter: FloodSegmenter, image: np.ndarray, warmup: int, repeat: int, inner: bool):
    """Time `repeat` calls; return the list of ms (inference only if `inner`, else the call)."""
    for _ in range(warmup):
        segmenter.segment(image)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = segmenter.segment(image)
        total = (time.perf_counter() - start) * 1e3
        times.append(result.inference_ms if inner else total)
    return times


def main() -> int:
    """Run the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='', help='ONNX model (default: the shipped one)')
    parser.add_argument(
        '--threads', type=int, nargs='+', help='thread counts (default: 1 and all cores)'
    )
    parser.add_argument('--repeat', type=int, default=100)
    parser.add_argument('--warmup', type=int, default=10)
    args = parser.parse_args()
    threads = args.threads or sorted({1, cpu_count()})
    scene = FloodScene.load()
    rgb = scene.rgb
    cases = [
        ('network 512 x 512 (inference only)', np.ascontiguousarray(rgb[:512, :512]), 512, True),
        ('camera frame 640 x 480 (whole call)', np.ascontiguousarray(rgb[:480, :640]), 512, False),
        (
            'photo 4000 x 3000, resize mode (whole call)',
            cv2.resize(np.ascontiguousarray(rgb[:900, :1200]), (4000, 3000)),
            512,
            False,
        ),
    ]
    print(f'machine: {cpu_model()}, {cpu_count()} cores available, {platform.system()}')
    print(f'model: {args.model or "shipped flood_seg.onnx"}; {args.repeat} timed calls per case\n')
    print('| case | threads | mean ms | p50 ms | p95 ms | frames/s |')
    print('|---|---|---|---|---|---|')
    for name, image, max_side, inner in cases:
        for n in threads:
            segmenter = FloodSegmenter(
                SegmenterConfig(model_path=args.model, threads=n, max_side=max_side)
            )
            times = measure(segmenter, image, args.warmup, args.repeat, inner)
            mean = statistics.fmean(times)
            print(
                f'| {name} | {n} | {mean:.1f} | {pct(times, 0.5):.1f} | {pct(times, 0.95):.1f} '
                f'| {1000 / mean:.0f} |',
                flush=True,
            )
    return 0


if __name__ == '__main__':
    sys.exit(main())
