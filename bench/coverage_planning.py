"""Benchmark the coverage planner: planning time against area and fleet size.

Run: .venv/bin/python bench/coverage_planning.py [scaling|testset|defaults] (prints Markdown
tables and the machine).

- scaling (the default): rotated 1.25:1 rectangles of 0.05 to 5 km2 with 1, 3 and 10 drones.
- testset: every polygon of test/data/aoi with 1, 4 and 10 drones, with the settings of
  test/core/coverage/test_coverage_planner.py (the issue's "Done when" set).
- defaults: every polygon of test/data/aoi with 1, 2, 4 and 10 drones at `uav-flood plan`'s
  defaults (60 m, 4.4 m/s, transits at 10 m/s, the battery checked, sorties where one battery
  is not enough, home at the area's first vertex), then 5 km2 with 10 drones from the area's
  centre; a plan that cannot be flown is a row with the planner's reason.

Each plan is timed as the best of a few runs (the first run of a process also pays imports).
"""

from __future__ import annotations

import math
from pathlib import Path
import platform
import sys
import time

from benchlib import cpu_model  # noqa: E402
from shapely import affinity
from shapely.geometry import box

from uav_flood.core.coverage import (
    Area,
    CoveragePlan,
    Drone,
    first_vertex,
    plan_coverage,
    PlanConfig,
    PlanningError,
)
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import TRANSIT_SPEED_M_S
from uav_flood.core.safety import EnergyModel

AOI = Path(__file__).resolve().parents[1] / 'test' / 'data' / 'aoi'
FRAME = LocalFrame(GeoPoint(29.76, -95.37, 0.0))
REPEATS = 3


def config_for(area_m2: float) -> PlanConfig:
    """Return the tests' options: a swath about 1/16 of the area's size, 2 m layers."""
    altitude = min(100.0, max(12.0, math.sqrt(area_m2) / 18.0))
    return PlanConfig(base_altitude_m=altitude, altitude_step_m=2.0, check_energy=False)


def fleet(count: int) -> list[Drone]:
    """Return the tests' fleet: `count` drones side by side, south-west of the origin."""
    return [Drone(f'uav{i}', (-40.0 - 6.0 * i, -40.0)) for i in range(count)]


def timed_plan(area: Area, drones: list[Drone], config: PlanConfig) -> tuple[CoveragePlan, float]:
    """Return the plan and the best planning time of REPEATS runs (s)."""
    best = math.inf
    plan = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        plan = plan_coverage(area, drones, config)
        best = min(best, time.perf_counter() - start)
    assert plan is not None
    return plan, best


def machine() -> str:
    """Return a line naming the CPU and Python."""
    return f'machine: {cpu_model()}, python {platform.python_version()}'


def scaling() -> None:
    """Time plan_coverage on rectangles of 0.05 to 5 km2 with 1 to 10 drones."""
    print(
        '| area km2 | drones | altitude m | plan time s | coverage % | length/bound | '
        'imbalance % |'
    )
    print('|---|---|---|---|---|---|---|')
    for km2 in (0.05, 0.5, 1.0, 5.0):
        side = math.sqrt(km2 * 1e6 / 1.25)
        area = Area(affinity.rotate(box(0, 0, 1.25 * side, side), 20.0, origin=(0, 0)))
        config = config_for(km2 * 1e6)
        for count in (1, 3, 10):
            plan, elapsed = timed_plan(area, fleet(count), config)
            m = plan.metrics
            print(
                f'| {km2:g} | {count} | {config.base_altitude_m:.0f} | {elapsed:.3f} | '
                f'{100 * m.coverage:.2f} | {m.length_ratio:.3f} | {100 * m.imbalance:.2f} |'
            )


def testset() -> None:
    """Plan every polygon of test/data/aoi for 1, 4 and 10 drones, as the tests do."""
    print(
        '| polygon | area km2 | drones | swath m | coverage % | imbalance % | '
        'length / bound | plan time s |'
    )
    print('|---|---|---|---|---|---|---|---|')
    for path in sorted(AOI.glob('*.geojson')):
        area = Area.from_geojson(path, FRAME)
        config = config_for(area.region.area)
        for count in (1, 4, 10):
            plan, elapsed = timed_plan(area, fleet(count), config)
            m = plan.metrics
            print(
                f'| {path.stem} | {area.region.area / 1e6:.3f} | {count} | {plan.swath_m:.1f} | '
                f'{100 * m.coverage:.2f} | {100 * m.imbalance:.2f} | {m.length_ratio:.3f} | '
                f'{elapsed:.3f} |'
            )


def defaults() -> None:
    """Plan every polygon at `uav-flood plan`'s defaults, with sorties where needed."""
    print(
        '| polygon | area km2 | drones | home | coverage % | imbalance % | length / bound | '
        'completion s | sorties | plan time s |'
    )
    print('|---|---|---|---|---|---|---|---|---|---|')
    config = PlanConfig(sorties=True, energy=EnergyModel(transit_speed_m_s=TRANSIT_SPEED_M_S))
    for path in sorted(AOI.glob('*.geojson')):
        corner = first_vertex(path)
        area = Area.from_geojson(path, LocalFrame(GeoPoint(corner.lat_deg, corner.lon_deg, 0.0)))
        homes = [('first vertex', (0.0, 0.0))]
        if path.stem == 'convex_large':
            centre = area.region.centroid
            homes.append(('centre', (centre.x, centre.y)))
        for where, home in homes:
            for count in (1, 2, 4, 10):
                if where == 'centre' and count != 10:
                    continue
                drones = [Drone(f'uav{i}', home) for i in range(count)]
                head = f'| {path.stem} | {area.region.area / 1e6:.3f} | {count} | {where} |'
                try:
                    plan, elapsed = timed_plan(area, drones, config)
                except PlanningError as exc:
                    print(f'{head} refused: {exc} | | | | | |')
                    continue
                m = plan.metrics
                sorties = sum(max(len(d.sorties), 1) for d in plan.drones if d.path)
                print(
                    f'{head} {100 * m.coverage:.2f} | {100 * m.imbalance:.1f} | '
                    f'{m.length_ratio:.3f} | {m.makespan_s:.0f} | {sorties} | {elapsed:.2f} |'
                )


def main() -> int:
    """Run the mode named on the command line (scaling, testset or defaults)."""
    mode = sys.argv[1] if len(sys.argv) > 1 else 'scaling'
    modes = {'scaling': scaling, 'testset': testset, 'defaults': defaults}
    if mode not in modes or len(sys.argv) > 2:
        print(f'usage: {sys.argv[0]} [scaling|testset|defaults]', file=sys.stderr)
        return 2
    print(machine())
    modes[mode]()
    return 0


if __name__ == '__main__':
    sys.exit(main())
