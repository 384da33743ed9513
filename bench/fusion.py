#!/usr/bin/env python3
"""Measure what fusion adds: single-frame water IoU against the fused map's, per scene tile.

Flies the simulated 640 x 480, 70 degree camera over the shipped FloodNet scene without ROS
(uav_flood.sim.survey: sim_camera's renderer, the segmentation node's model wrapper, georef's
projection and the mapper's fusion), a nadir lawnmower at --altitude with sweeps --spacing
apart and a frame every --step metres, and prints a Markdown table: per tile the truth's water
share, what the frames called water, what the map called water and the map's IoU; then the
mean and pooled single-frame IoU beside the fused map's IoU, precision and recall.

    .venv/bin/python bench/fusion.py
    .venv/bin/python bench/fusion.py --model other.onnx --step 5
"""

import argparse
from pathlib import Path
import sys
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'src'))

from benchlib import cpu_model  # noqa: E402

from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig  # noqa: E402
from uav_flood.sim.scene import FloodScene  # noqa: E402
from uav_flood.sim.survey import survey  # noqa: E402


def main() -> int:
    """Run the survey and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='', help='ONNX model (default: the shipped one)')
    parser.add_argument('--altitude', type=float, default=60.0, help='m above ground (60)')
    parser.add_argument('--spacing', type=float, default=50.0, help='m between sweeps (50)')
    parser.add_argument('--step', type=float, default=10.0, help='m between frames (10)')
    parser.add_argument('--threads', type=int, default=0, help='onnxruntime threads (0: all)')
    args = parser.parse_args()
    segmenter = FloodSegmenter(SegmenterConfig(model_path=args.model, threads=args.threads))
    start = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            print(f'[fusion] {done}/{total} frames', file=sys.stderr, flush=True)

    result = survey(
        FloodScene.load(),
        segmenter,
        altitude_m=args.altitude,
        spacing_m=args.spacing,
        step_m=args.step,
        progress=progress,
    )
    print(result.table())
    print(
        f'\nmodel {segmenter.model_path.name}, {time.monotonic() - start:.0f} s on {cpu_model()}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
