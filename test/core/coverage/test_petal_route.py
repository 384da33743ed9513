"""Petal routes: pieces that begin and end near a launch point inside the area (no rclpy)."""

import math
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig, planner
from uav_flood.core.coverage.sweep import build_route, Cell, petal_cells, Route, Router
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import TRANSIT_SPEED_M_S
from uav_flood.core.safety import EnergyModel

SCENE = Path(__file__).resolve().parents[3] / 'config' / 'areas' / 'flood_scene.geojson'


def test_legs_are_cut_at_the_launch_line_and_paired_into_petals():
    legs = tuple(((-125.0, y), (125.0, y)) for y in (-60.0, 0.0, 60.0))
    cells = petal_cells([Cell(legs)], 0.0, (5.0, 0.0))
    pairs = [c for c in cells if len(c.legs) == 2]
    singles = [c for c in cells if len(c.legs) == 1]
    assert len(pairs) == 2  # two legs on each side of x = 5
    for cell in pairs:
        near = [leg[0] for leg in cell.legs]
        assert all(x == pytest.approx(5.0) for x, _ in near)
        path = cell.variants()[0]  # out along one leg, back along the next
        assert path[0][0] == pytest.approx(5.0) and path[-1][0] == pytest.approx(5.0)
    # the halves of the leg left over on both sides are flown as the whole leg
    assert [c.legs for c in singles] == [(((-125.0, 60.0), (125.0, 60.0)),)]


def test_a_piece_starting_on_a_connection_starts_at_the_next_cell():
    points = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 30.0], [20.0, 30.0]])
    cumulative = np.array([0.0, 10.0, 40.0, 50.0])
    runs = np.array([[0.0, 10.0], [40.0, 50.0]])  # 10..40 only connects the two cells
    route = Route(points, cumulative, np.array([]), (0.0,), runs)
    assert route.trim(5.0, 45.0) == (5.0, 45.0)
    assert route.trim(15.0, 45.0) == (40.0, 45.0)
    assert route.trim(15.0, 35.0) == (15.0, 15.0)  # sweeps nothing
    assert route.trim(5.0, 25.0) == (5.0, 25.0)  # ends on the connection: kept
    plain = Route(points, cumulative, np.array([]), (0.0,))
    assert plain.trim(15.0, 45.0) == (15.0, 45.0)


def test_a_petal_route_passes_the_launch_point_between_petals():
    region = box(-150.0, -90.0, 150.0, 90.0)
    route = build_route(region, 67.2, Router(None, 5.0), None, (5.0, 0.0), 8.8, 25.2, True)
    at_launch = [k for k, p in enumerate(route.points) if math.dist(p, (5.0, 0.0)) < 1.0]
    assert at_launch[0] == 0 and len(at_launch) == 2  # out, and back past it after two petals
    assert route.sweeps_m is not None and len(route.sweeps_m) == 3


def test_the_demo_scene_from_its_centre_flies_petals_and_finishes_sooner():
    """Issue 19: the full demo's drones launch in the middle of the area.

    The standard route gave each drone a piece whose both ends lay 110-140 m from the launch
    point: 214.8 s planned, 200 s flown against a 151 s bound (1.33 x). Petals: 198.4 s planned.
    """
    frame = LocalFrame(GeoPoint(47.397742, 8.545594, 488.0))
    area = Area.from_geojson(SCENE, frame)
    drones = [Drone(f'uav{i}', (5.0 * i, 0.0), layer=i) for i in range(3)]
    energy = EnergyModel(
        climb_speed_m_s=2.0, descent_speed_m_s=1.0, transit_speed_m_s=TRANSIT_SPEED_M_S
    )
    config = PlanConfig(energy=energy, sorties=True, turn_penalty_s=2.0)
    plan = plan_coverage(area, drones, config)
    assert plan.metrics.coverage >= 0.995 and plan.metrics.imbalance <= 0.05
    assert plan.metrics.makespan_s < 205.0
    starts = sorted(math.dist(d.path[0][:2], (5.0, 0.0)) for d in plan.drones)
    assert starts[0] < 10.0  # one drone starts its sweep at the launch point
    # Not from outside the area: the launch point on the area's edge keeps the standard route.
    standard: list[bool] = []
    original = planner.build_route

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        standard.append(args[7] if len(args) > 7 else False)
        return original(*args, **kwargs)

    planner.build_route = spy
    try:
        corner = [Drone(f'uav{i}', (-150.0 - 5.0 * i, -100.0), layer=i) for i in range(3)]
        plan_coverage(area, corner, config)
    finally:
        planner.build_route = original
    assert standard == [False]
