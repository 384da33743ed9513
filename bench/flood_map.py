"""Benchmark the flood map: fusion cost per observation and publish cost against area.

Run: .venv/bin/python bench/flood_map.py [--sides 0.5,1,2,4] (prints Markdown tables and the
machine).

- fusion: realistic observation patches, the ground footprint of a 640x480 camera (60 deg HFOV)
  at 60 m on a 0.5 m grid (about 140 x 105 cells, yawed at random inside a 175 x 175 box), with
  10 % of cells flipped, flown in lanes over a 2 km x 2 km area; the mean time of apply().
- publish: square areas of 0.5, 1, 2 and 4 km a side at 0.5 m, filled by three noisy
  observations of a synthetic flood (rivers and ponds; 5 % flips, so noise specks survive);
  the time of to_occupancy(), flood_polygons() (all regions, and those of 10 m2 or more),
  save() compressed and not, and the memory of the grid arrays.
"""

from __future__ import annotations

import argparse
from functools import partial
import math
from pathlib import Path
import platform
import tempfile
import time

from benchlib import cpu_model  # noqa: E402
import cv2
import numpy as np

from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.core.georef import GridPatch

RES = 0.5


def machine() -> str:
    """Return a line naming the CPU and Python."""
    return f'machine: {cpu_model()}, python {platform.python_version()}, numpy {np.__version__}'


def flood_truth(cells: int, rng: np.random.Generator) -> np.ndarray:
    """Return a synthetic flood (bool, rows from the south): meandering rivers and ponds."""
    rows, cols = np.mgrid[0:cells, 0:cells].astype(np.float32)
    water = np.zeros((cells, cells), bool)
    for k in range(max(1, cells // 1500)):
        centre = (k + 0.5) * cells / max(1, cells // 1500)
        water |= np.abs(cols - (centre + 60 * np.sin(rows / 90.0 + k))) < 25
    for _ in range(max(4, cells**2 // 200_000)):
        r, c, radius = rng.integers(0, cells), rng.integers(0, cells), rng.integers(8, 60)
        cv2.circle(water.view(np.uint8), (int(c), int(r)), int(radius), 1, -1)
    return water


def camera_footprint(rng: np.random.Generator) -> np.ndarray:
    """Return the observed-cell mask of one yawed 640x480 / 60 deg camera frame at 60 m."""
    width_m = 2 * 60.0 * math.tan(math.radians(30.0))
    height_m = width_m * 480 / 640
    w, h = width_m / RES, height_m / RES
    size = math.ceil(math.hypot(w, h)) + 2
    centre = (size / 2.0, size / 2.0)
    box = cv2.boxPoints((centre, (w, h), float(rng.uniform(0, 180))))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.rint(box).astype(np.int32)], 1)
    return mask.astype(bool)


def observation(
    truth: np.ndarray, row0: int, col0: int, footprint: np.ndarray, flip: float, rng
) -> np.ndarray:
    """Return the int8 observation of truth[row0:, col0:] through footprint, with flips."""
    h, w = footprint.shape
    wet = truth[row0 : row0 + h, col0 : col0 + w] ^ (rng.random((h, w)) < flip)
    data = np.where(wet, 100, 0).astype(np.int8)
    data[~footprint] = -1
    return data


def bench_fusion(rng: np.random.Generator) -> None:
    """Print the mean cost of fusing one camera footprint, lanes over 2 km x 2 km."""
    cells = int(2000 / RES)
    truth = flood_truth(cells, rng)
    footprints = [camera_footprint(rng) for _ in range(16)]
    size = footprints[0].shape[0]
    lane = int(0.7 * size)
    positions = [
        (row, col) for row in range(0, cells - size, lane) for col in range(0, cells - size, 60)
    ]
    patches = []
    for k, (row, col) in enumerate(positions):
        data = observation(truth, row, col, footprints[k % 16], 0.10, rng)
        origin = ((col - cells // 2) * RES, (row - cells // 2) * RES)
        patches.append(GridPatch(origin[0], origin[1], RES, size, size, data))
    flood_map = FloodMap(FusionConfig(resolution_m=RES))
    start = time.perf_counter()
    for patch in patches:
        flood_map.apply(patch)
    total = time.perf_counter() - start
    # Steady state: the same patches again, the grid already grown.
    start = time.perf_counter()
    for patch in patches:
        flood_map.apply(patch)
    steady = time.perf_counter() - start
    observed = np.count_nonzero(footprints[0])
    print(
        '| patch cells (observed) | patches | first pass us/patch (grid grows) | '
        'steady us/patch | grid MB |'
    )
    print('|---|---|---|---|---|')
    print(
        f'| {size}x{size} ({observed}) | {len(patches)} | {1e6 * total / len(patches):.0f} | '
        f'{1e6 * steady / len(patches):.0f} | {flood_map.allocated_bytes / 1e6:.0f} |'
    )


def best_of(repeats: int, func) -> tuple[float, object]:
    """Return the best time of repeats calls (s) and the last result."""
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_publish(sides_km: list[float], rng: np.random.Generator) -> None:
    """Print publish, polygon and checkpoint costs and memory against the area's side."""
    print(
        '| side km | cells | grid MB | to_occupancy ms | polygons all ms (count) | '
        'polygons >= 10 m2 ms (count) | save zip ms (MB) | save raw ms (MB) | load ms |'
    )
    print('|---|---|---|---|---|---|---|---|---|')
    for side in sides_km:
        cells = int(side * 1000 / RES)
        truth = flood_truth(cells, rng)
        flood_map = FloodMap(FusionConfig(resolution_m=RES))
        full = np.ones((cells, cells), bool)
        for _ in range(3):
            data = observation(truth, 0, 0, full, 0.05, rng)
            origin = -cells // 2 * RES
            flood_map.apply_arrays(origin, origin, RES, cells, cells, data)
        del truth, full, data
        repeats = 3 if side <= 2 else 1
        t_occ, _ = best_of(repeats, flood_map.to_occupancy)
        t_all, polys = best_of(1, flood_map.flood_polygons)
        t_big, big = best_of(repeats, partial(flood_map.flood_polygons, min_area_m2=10.0))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / 'map.npz'
            t_zip, _ = best_of(1, partial(flood_map.save, path))
            zip_mb = path.stat().st_size / 1e6
            t_load, _ = best_of(1, partial(FloodMap.load, path))
            t_raw, _ = best_of(1, partial(flood_map.save, path, compress=False))
            raw_mb = path.stat().st_size / 1e6
        print(
            f'| {side:g} | {cells}x{cells} | {flood_map.allocated_bytes / 1e6:.0f} | '
            f'{1e3 * t_occ:.0f} | {1e3 * t_all:.0f} ({len(polys)}) | '
            f'{1e3 * t_big:.0f} ({len(big)}) | {1e3 * t_zip:.0f} ({zip_mb:.0f}) | '
            f'{1e3 * t_raw:.0f} ({raw_mb:.0f}) | {1e3 * t_load:.0f} |'
        )


def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sides', default='0.5,1,2,4', help='area sides to publish (km)')
    args = parser.parse_args()
    rng = np.random.default_rng(6)
    print(machine())
    print()
    bench_fusion(rng)
    print()
    bench_publish([float(v) for v in args.sides.split(',')], rng)


if __name__ == '__main__':
    main()
