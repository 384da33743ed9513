#!/usr/bin/env python3
"""Rebuild the shipped demo scene tiles (src/uav_flood/sim/data/tiles) from the FloodNet data.

Reads the tile list from src/uav_flood/sim/data/scene.yaml and, for each tile id, the image and
binary mask of ../shared/data/floodnet_harvey_uav (or --data DIR): the image is resized to the
tile size with INTER_AREA and written as JPEG quality 90; the mask (255 = water or flooded road)
is resized with INTER_AREA and thresholded at 128, written as PNG; the class mask (FloodNet's
masks_orig, classes 0-9) is resized with INTER_NEAREST and written as PNG
(`tiles/<id>_classes.png`, the tile's `classes` entry). Every tile must come from the TEST split
(splits.csv), so that a model trained on train/val is evaluated honestly on the scene.

    python3 tools/build_scene.py [--data DIR] [--check]

--check rebuilds into memory and compares with the shipped files instead of writing them
(masks and class masks must be identical, their PNG files byte for byte; images within JPEG
re-encoding noise).
"""

import argparse
import csv
from pathlib import Path
import sys

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
SCENE_DIR = REPO / 'src' / 'uav_flood' / 'sim' / 'data'
DEFAULT_DATA = REPO.parent / 'shared' / 'data' / 'floodnet_harvey_uav'
TILE_PX = (400, 300)  # width, height: 60 m x 45 m at 0.15 m/px
JPEG_QUALITY = 90


def build_tile(data: Path, tile_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the (BGR image, uint8 mask 255/0, uint8 classes 0-9) of one tile at tile size."""
    image = cv2.imread(str(data / 'images' / f'{tile_id}.jpg'), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(data / 'masks' / f'{tile_id}.png'), cv2.IMREAD_GRAYSCALE)
    classes = cv2.imread(str(data / 'masks_orig' / f'{tile_id}.png'), cv2.IMREAD_UNCHANGED)
    if image is None or mask is None or classes is None or classes.ndim != 2:
        raise SystemExit(
            f'build_scene: cannot read the image or masks of tile {tile_id} in {data}'
        )
    image = cv2.resize(image, TILE_PX, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, TILE_PX, interpolation=cv2.INTER_AREA)
    classes = cv2.resize(classes, TILE_PX, interpolation=cv2.INTER_NEAREST)
    return image, np.where(mask >= 128, 255, 0).astype(np.uint8), classes.astype(np.uint8)


def main() -> int:
    """Rebuild (or check) every tile of scene.yaml; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA, help='floodnet_harvey_uav')
    parser.add_argument('--check', action='store_true', help='compare, do not write')
    args = parser.parse_args()
    if not (args.data / 'splits.csv').is_file():
        print(f'build_scene: no FloodNet data at {args.data} (use --data)', file=sys.stderr)
        return 2
    with (args.data / 'splits.csv').open(newline='') as f:
        split = {row['id']: row['split'] for row in csv.DictReader(f)}
    scene = yaml.safe_load((SCENE_DIR / 'scene.yaml').read_text())
    failures = 0
    for n, tile in enumerate(scene['tiles'], 1):
        tile_id = str(tile['id'])
        if split.get(tile_id) != 'test':
            print(f'tile {tile_id}: not in the test split', file=sys.stderr)
            failures += 1
            continue
        image, mask, classes = build_tile(args.data, tile_id)
        image_path, mask_path = SCENE_DIR / tile['image'], SCENE_DIR / tile['mask']
        classes_path = SCENE_DIR / tile.get('classes', f'tiles/{tile_id}_classes.png')
        if args.check:
            shipped_mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            shipped_image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            ok_jpeg, encoded = cv2.imencode(
                '.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
            )
            rebuilt = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
            if not ok_jpeg or rebuilt is None or shipped_image is None or shipped_mask is None:
                print(f'tile {tile_id}: cannot read {image_path} or {mask_path}', file=sys.stderr)
                failures += 1
                continue
            diff = float(np.abs(rebuilt.astype(int) - shipped_image.astype(int)).mean())
            same_mask = np.array_equal(shipped_mask, mask) and (
                mask_path.read_bytes() == cv2.imencode('.png', mask)[1].tobytes()
            )
            same_classes = classes_path.is_file() and (
                classes_path.read_bytes() == cv2.imencode('.png', classes)[1].tobytes()
            )
            print(
                f'[{n}/{len(scene["tiles"])}] {tile_id}: mask identical {same_mask}, class '
                f'mask identical {same_classes}, image mean abs diff {diff:.2f}'
            )
            failures += (not same_mask) or (not same_classes) or diff > 1.0
        else:
            cv2.imwrite(str(image_path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            cv2.imwrite(str(mask_path), mask)
            cv2.imwrite(str(classes_path), classes)
            print(
                f'[{n}/{len(scene["tiles"])}] {tile_id} -> {image_path.name}, {mask_path.name}, '
                f'{classes_path.name}'
            )
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
