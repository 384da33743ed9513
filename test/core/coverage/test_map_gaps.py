"""What a flood map has not seen (core.coverage.gaps), and that a re-plan flies those gaps."""

import numpy as np
import pytest
from shapely.geometry import box, Point

from uav_flood.core.coverage import Area, Drone, PlanConfig, PlanningError, replan_coverage
from uav_flood.core.coverage.footprint import swath_geometry
from uav_flood.core.coverage.gaps import map_gaps
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.georef import GridPatch

RES = 0.5
REGION = box(0.0, 0.0, 100.0, 60.0)


def seen_map(bounds=(-10.0, -10.0, 110.0, 70.0), res=RES):
    """Return a map patch over `bounds` that has seen every cell (value 0: dry)."""
    west, south, east, north = bounds
    width, height = round((east - west) / res), round((north - south) / res)
    return GridPatch(west, south, res, width, height, np.zeros((height, width), np.int8))


def unsee(patch, east0, north0, east1, north1):
    """Mark the cells whose centres lie in the box as never observed (-1)."""
    grid_e, grid_n = patch.cell_centres()
    inside = (grid_e > east0) & (grid_e < east1) & (grid_n > north0) & (grid_n < north1)
    patch.data[inside] = -1


def test_a_map_that_saw_everything_has_no_gap():
    gaps = map_gaps(seen_map(), REGION, 25.0, 5.0)
    assert gaps.count == 0 and gaps.geometry.is_empty
    assert gaps.unseen_m2 == 0.0 and gaps.seen_fraction == 1.0
    assert gaps.region_m2 == pytest.approx(REGION.area)


def test_an_unseen_strip_at_a_leg_end_is_one_gap_grown_by_the_margin_inside_the_region():
    patch = seen_map()
    unsee(patch, 90.0, 20.0, 120.0, 36.0)  # the last 10 m of a 16 m wide band, and beyond
    gaps = map_gaps(patch, REGION, 25.0, 0.0)
    assert gaps.count == 1
    assert gaps.gaps_m2 == pytest.approx(10.0 * 16.0)
    assert gaps.unseen_m2 == pytest.approx(160.0)
    assert gaps.seen_fraction == pytest.approx(1.0 - 160.0 / 6000.0)
    assert gaps.geometry.symmetric_difference(box(90.0, 20.0, 100.0, 36.0)).area < 1.0
    grown = map_gaps(patch, REGION, 25.0, 4.0).geometry
    assert grown.within(REGION.buffer(1e-6))
    assert grown.contains(box(90.0, 20.0, 100.0, 36.0))
    assert grown.bounds == pytest.approx((86.0, 16.0, 100.0, 40.0))


def test_specks_and_gaps_below_the_minimum_are_not_worth_a_flight():
    patch = seen_map()
    unsee(patch, 10.0, 10.0, 10.5, 10.5)  # one cell
    unsee(patch, 20.0, 0.0, 21.0, 60.0)  # a line two cells wide across the region
    unsee(patch, 50.0, 30.0, 54.0, 34.0)  # 16 m2
    gaps = map_gaps(patch, REGION, 25.0, 0.0)
    assert gaps.count == 0
    assert gaps.unseen_m2 == pytest.approx(0.25 + 60.0 + 16.0)
    small = map_gaps(patch, REGION, 10.0, 0.0)
    assert small.count == 1 and small.gaps_m2 == pytest.approx(16.0)


def test_a_map_that_does_not_reach_the_whole_region_leaves_the_rest_unseen():
    patch = seen_map(bounds=(-10.0, -10.0, 60.0, 70.0))
    gaps = map_gaps(patch, REGION, 25.0, 0.0)
    assert gaps.count == 1
    assert gaps.gaps_m2 == pytest.approx(40.0 * 60.0)
    assert gaps.geometry.symmetric_difference(box(60.0, 0.0, 100.0, 60.0)).area < 1.0
    empty = GridPatch(0.0, 0.0, RES, 0, 0, np.zeros((0, 0), np.int8))
    assert map_gaps(empty, REGION, 25.0, 0.0).seen_fraction == 0.0


def test_cells_outside_the_region_such_as_a_no_fly_hole_do_not_count():
    region = REGION.difference(Point(50.0, 30.0).buffer(10.0))
    patch = seen_map()
    unsee(patch, 38.0, 18.0, 62.0, 42.0)  # the hole and a ring around it
    gaps = map_gaps(patch, region, 25.0, 0.0)
    assert gaps.count == 1
    # Within the cells along the hole's edge (cv2 fills a polygon's edge cells too).
    assert gaps.unseen_m2 == pytest.approx(24.0 * 24.0 - np.pi * 100.0, abs=20 * np.pi * RES)
    # The opening trims the cells of the circle's stair-stepped edge from the gap.
    assert 0.9 * gaps.unseen_m2 < gaps.gaps_m2 <= gaps.unseen_m2
    assert gaps.geometry.intersection(Point(50.0, 30.0).buffer(9.0)).area < 1.0


@pytest.mark.parametrize(
    ('min_gap', 'margin', 'region'),
    [
        (-1.0, 0.0, REGION),
        (0.0, -1.0, REGION),
        (float('nan'), 0.0, REGION),
        (0.0, 0.0, box(0, 0, 0, 0)),
    ],
)
def test_bad_arguments_are_planning_errors(min_gap, margin, region):
    with pytest.raises(PlanningError, match='map gaps'):
        map_gaps(seen_map(), region, min_gap, margin)


def test_a_replan_of_the_gaps_flies_over_a_strip_a_few_metres_deep():
    """The margin keeps a shallow gap wider than the re-plan's sliver width: it is flown."""
    config = PlanConfig(base_altitude_m=40.0)
    frame = LocalFrame(GeoPoint(47.397742, 8.545594, 488.0))
    area = Area(REGION, None, frame)
    patch = seen_map()
    unsee(patch, 97.0, 10.0, 110.0, 40.0)  # 3 m deep at the east edge
    width = config.sliver_fraction * config.swath_m
    assert width > 3.0  # without the margin, the re-plan's opening would drop the strip
    bare = map_gaps(patch, REGION, 25.0, 0.0)
    assert (
        replan_coverage(area, REGION.difference(bare.geometry), [drone()], config).metrics.area_m2
        == 0.0
    )
    gaps = map_gaps(patch, REGION, 25.0, width + RES)
    plan = replan_coverage(area, REGION.difference(gaps.geometry), [drone()], config)
    seen = swath_geometry([plan.drones[0].path], plan.swath_m, config.reach_m)
    assert seen.contains(box(97.0, 10.0, 100.0, 40.0))
    assert plan.drones[0].length_m < 200.0  # the gap, not the area


def drone():
    return Drone('uav0', (0.0, 0.0), 100.0, 4.4)
