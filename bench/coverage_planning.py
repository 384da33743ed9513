"""Benchmark the coverage planner: planning time against area and fleet size.

Run: .venv/bin/python bench/coverage_planning.py  (prints a Markdown table and the machine).
"""

from __future__ import annotations

import math
import platform
import time

from shapely import affinity
from shapely.geometry import box

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig


def main() -> None:
    """Time plan_coverage on rectangles of 0.05 to 5 km2 with 1 to 10 drones."""
    print(
        f'machine: {platform.machine()} {platform.processor() or ""} python '
        f'{platform.python_version()}'
    )
    print('| area km2 | drones | altitude m | plan time s | coverage % | length/bound |')
    print('|---|---|---|---|---|---|')
    for km2 in (0.05, 0.5, 1.0, 5.0):
        side = math.sqrt(km2 * 1e6 / 1.25)
        area = Area(affinity.rotate(box(0, 0, 1.25 * side, side), 20.0, origin=(0, 0)))
        altitude = min(100.0, max(12.0, math.sqrt(km2 * 1e6) / 18.0))
        config = PlanConfig(base_altitude_m=altitude, altitude_step_m=2.0, check_energy=False)
        for count in (1, 3, 10):
            drones = [Drone(f'uav{i}', (-40.0 - 6.0 * i, -40.0)) for i in range(count)]
            start = time.perf_counter()
            plan = plan_coverage(area, drones, config)
            elapsed = time.perf_counter() - start
            m = plan.metrics
            print(
                f'| {km2:g} | {count} | {altitude:.0f} | {elapsed:.3f} | '
                f'{100 * m.coverage:.2f} | {m.length_ratio:.3f} |'
            )


if __name__ == '__main__':
    main()
