"""Areas and leftovers smaller than one swath: a one-waypoint plan or nothing, never an error."""

import json
import math
from pathlib import Path
import subprocess
import sys

import pytest
from shapely.geometry import box, Point

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig, replan_coverage
from uav_flood.core.geo import GeoPoint, LocalFrame

FLEET = [Drone('uav0', (-30.0, 0.0)), Drone('uav1', (15.0, 5.0)), Drone('uav2', (-60.0, 0.0))]


def test_an_area_smaller_than_the_swath_is_one_waypoint_over_its_centre() -> None:
    config = PlanConfig()
    assert config.swath_m > 30.0
    plan = plan_coverage(Area(box(0, 0, 10, 10)), FLEET, config)
    flying = [d for d in plan.drones if d.path]
    assert [d.drone for d in flying] == ['uav1']  # the nearest one is back soonest
    (only,) = flying
    assert len(only.path) == 1
    east, north, up = only.path[0]
    assert (east, north, up) == pytest.approx((5.0, 5.0, only.altitude_m))
    assert only.expected_time_s > 0.0 and only.length_m == 0.0
    assert only.part.area == pytest.approx(100.0)
    assert plan.metrics.coverage == pytest.approx(1.0)
    # One photo over the waypoint sees the area: it lies within swath / 2 of it.
    assert Point(5.0, 5.0).buffer(0.5 * plan.swath_m).contains(plan.region)
    assert all(not d.path and d.energy_pct == 0.0 for d in plan.drones if d.drone != 'uav1')


def test_a_tiny_leftover_replans_to_one_waypoint() -> None:
    config = PlanConfig()
    plan = plan_coverage(Area(box(0, 0, 300, 200)), FLEET, config)
    hole = box(100, 80, 120, 100)  # 20 m x 20 m: wider than the sliver, within one swath
    assert 20.0 > config.sliver_fraction * config.swath_m
    covered = plan.region.difference(hole)
    replan = replan_coverage(plan, covered, FLEET[:2])
    flying = [d for d in replan.drones if d.path]
    assert len(flying) == 1 and len(flying[0].path) == 1
    assert flying[0].path[0][:2] == pytest.approx((110.0, 90.0))
    assert replan.metrics.coverage == pytest.approx(1.0)
    assert 300.0 < replan.metrics.area_m2 <= 400.0  # the opening rounds the corners


def test_a_leftover_narrower_than_the_sliver_leaves_nothing_to_fly() -> None:
    config = PlanConfig()
    plan = plan_coverage(Area(box(0, 0, 300, 200)), FLEET, config)
    covered = plan.region.difference(box(100, 80, 105, 85))
    replan = replan_coverage(plan, covered, FLEET)
    assert all(not d.path for d in replan.drones)
    assert replan.metrics.coverage == 1.0 and replan.metrics.area_m2 == 0.0


def test_the_tiny_waypoint_goes_around_a_no_fly_zone() -> None:
    # uav0 at (-30, 0) must pass a wall between it and the area.
    area = Area(box(0, 0, 10, 10), no_fly=box(-20, -100, -15, 100))
    plan = plan_coverage(area, [Drone('uav0', (-30.0, 0.0))], PlanConfig())
    (only,) = plan.drones
    assert len(only.path) >= 2  # routed transits around the wall, then the waypoint
    assert (5.0, 5.0) in [pytest.approx(p[:2]) for p in only.path]


def test_plan_cli_on_a_10_m_square_writes_a_point(tmp_path: Path) -> None:
    origin = GeoPoint(47.4, 8.5, 0.0)
    frame = LocalFrame(origin)
    corners = [frame.to_geodetic(e, n) for e, n in ((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))]
    ring = [[float(lon), float(lat)] for lat, lon, _ in corners]
    area = tmp_path / 'tiny.geojson'
    area.write_text(json.dumps({'type': 'Polygon', 'coordinates': [ring]}))
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, '-m', 'uav_flood.cli', 'plan', str(area), '--drones', '2', '--out']
        + [str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr and 'coverage 100.00 %' in result.stdout
    features = json.loads((out / 'plan.geojson').read_text())['features']
    points = [f for f in features if f['geometry']['type'] == 'Point']
    assert len(points) == 1 and points[0]['properties']['drone'] == 'uav0'
    lon, lat = points[0]['geometry']['coordinates']
    east, north, _ = frame.to_enu(lat, lon)
    assert math.hypot(float(east) - 5.0, float(north) - 5.0) < 0.01
    assert (out / 'plan.png').read_bytes()[:4] == b'\x89PNG'
