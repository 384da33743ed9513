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
    .venv/bin/python bench/fusion.py --split val      # a scene of 20 val tiles: choose here

The shipped scene is made of test-split tiles (tools/build_scene.py); settings are chosen on
`--split val`, a scene built the same way (400 x 300 px tiles at 0.15 m/px, 5 x 4) from the
first 20 validation images of ../shared/data/floodnet_harvey_uav, in a temporary folder.
"""

import argparse
import csv
from pathlib import Path
import sys
import tempfile
import time

import cv2
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'src'))

from benchlib import cpu_model  # noqa: E402

sys.path.insert(0, str(REPO / 'tools'))
from build_scene import build_tile, DEFAULT_DATA, TILE_PX  # noqa: E402

from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig  # noqa: E402
from uav_flood.sim.scene import FloodScene  # noqa: E402
from uav_flood.sim.survey import survey  # noqa: E402


def build_split_scene(data: Path, split: str, folder: Path) -> Path:
    """Write a 5 x 4 scene of the first 20 images of `split` into `folder`; return its YAML."""
    with (data / 'splits.csv').open(newline='') as f:
        ids = [row['id'] for row in csv.DictReader(f) if row['split'] == split][:20]
    if len(ids) < 20:
        raise SystemExit(f'fusion: {data} has {len(ids)} {split} images; 20 are needed')
    width_m, height_m = TILE_PX[0] * 0.15, TILE_PX[1] * 0.15
    tiles = []
    for k, tile_id in enumerate(ids):
        image, mask = build_tile(data, tile_id)
        cv2.imwrite(str(folder / f'{tile_id}.jpg'), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(folder / f'{tile_id}_mask.png'), mask)
        col, row = k % 5, k // 5
        sw = [(col - 2.5) * width_m, (1 - row) * height_m]
        tiles.append(
            {
                'id': tile_id,
                'image': f'{tile_id}.jpg',
                'mask': f'{tile_id}_mask.png',
                'sw_enu_m': sw,
            }
        )
    path = folder / 'scene.yaml'
    path.write_text(
        yaml.safe_dump({'name': f'floodnet_{split}_5x4', 'resolution_m': 0.15, 'tiles': tiles})
    )
    return path


def main() -> int:
    """Run the survey and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='', help='ONNX model (default: the shipped one)')
    parser.add_argument('--altitude', type=float, default=60.0, help='m above ground (60)')
    parser.add_argument('--spacing', type=float, default=50.0, help='m between sweeps (50)')
    parser.add_argument('--step', type=float, default=10.0, help='m between frames (10)')
    parser.add_argument('--threads', type=int, default=0, help='onnxruntime threads (0: all)')
    parser.add_argument(
        '--split',
        choices=('test', 'val'),
        default='test',
        help='test: the shipped demo scene; val: a scene of validation tiles (for choosing)',
    )
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA, help='FloodNet data set')
    parser.add_argument(
        '--hard', action='store_true', help='send thresholded masks, not probabilities'
    )
    parser.add_argument(
        '--no-view-weight', action='store_true', help='do not weigh by the viewing geometry'
    )
    args = parser.parse_args()
    segmenter = FloodSegmenter(SegmenterConfig(model_path=args.model, threads=args.threads))
    start = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            print(f'[fusion] {done}/{total} frames', file=sys.stderr, flush=True)

    folder = tempfile.TemporaryDirectory()
    scene_file = (
        None
        if args.split == 'test'
        else build_split_scene(args.data, args.split, Path(folder.name))
    )
    result = survey(
        FloodScene.load(scene_file),
        segmenter,
        altitude_m=args.altitude,
        spacing_m=args.spacing,
        step_m=args.step,
        progress=progress,
        soft=not args.hard,
        view_weight=not args.no_view_weight,
    )
    folder.cleanup()
    print(result.table())
    fusion = 'thresholded masks' if args.hard else 'probabilities'
    weighting = '' if args.no_view_weight else ', weighted by the view'
    print(
        f'\nmodel {segmenter.model_path.name}, {fusion}{weighting}; '
        f'{time.monotonic() - start:.0f} s on {cpu_model()}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
