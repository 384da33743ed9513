"""Responder layers on synthetic land-cover grids with known answers (no rclpy)."""

import math

import numpy as np
import pytest

from uav_flood.core.responder_layers import (
    CLASSES,
    find_route,
    flooded_buildings,
    LandCoverGrid,
    ResponderLayerError,
    road_network,
    thin,
)

GRASS = CLASSES.index('grass')
ROAD = CLASSES.index('road-non-flooded')
FLOODED_ROAD = CLASSES.index('road-flooded')
FLOODED_BUILDING = CLASSES.index('building-flooded')
DRY_BUILDING = CLASSES.index('building-non-flooded')


def grid_of(labels: np.ndarray, res: float = 1.0) -> LandCoverGrid:
    confidence = np.full(labels.shape, 0.9, np.float32)
    return LandCoverGrid(labels.astype(np.int8), confidence, -50.0, -50.0, res)


def cross(flood_cols: tuple[int, int] | None = (70, 80)) -> np.ndarray:
    """A 100 x 100 m cross of 5 m roads at 1 m cells; the east arm flooded over flood_cols."""
    labels = np.full((100, 100), GRASS, np.int8)
    labels[48:53, :] = ROAD
    labels[:, 48:53] = ROAD
    if flood_cols is not None:
        labels[48:53, flood_cols[0] : flood_cols[1]] = FLOODED_ROAD
    return labels


def test_thinning_leaves_one_cell_wide_centre_lines():
    skeleton = thin(cross(None) != GRASS)
    assert skeleton[50, 5:95].all()  # the centre row of the east-west road
    assert skeleton[5:95, 50].all()
    # one cell wide: away from the junction, one skeleton cell per column of the road
    assert skeleton[40:60, 20].sum() == 1 and skeleton[20, 40:60].sum() == 1


def test_the_road_network_is_split_where_flooding_starts_and_ends():
    grid = grid_of(cross())
    segments = road_network(grid)
    flooded = [s for s in segments if not s.passable]
    passable = [s for s in segments if s.passable]
    assert len(flooded) == 1
    (wet,) = flooded
    assert wet.length_m == pytest.approx(10.0, abs=1.5)
    xs = [x for x, _ in wet.line.coords]
    assert min(xs) == pytest.approx(-50 + 70.5, abs=1.5)
    assert max(xs) == pytest.approx(-50 + 80.5, abs=1.5)
    # four arms from the junction; the east one in three stretches: 6 segments
    assert len(passable) == 5
    total = sum(s.length_m for s in segments)
    assert total == pytest.approx(2 * 97.0, abs=6.0)  # thinning shortens the ends a little
    assert all(s.confidence == pytest.approx(0.9) for s in segments)


def test_the_route_check_finds_the_known_path_and_refuses_a_flooded_one():
    grid = grid_of(cross())
    segments = road_network(grid)
    west, north, east = (-45.0, 0.5), (0.5, 45.0), (45.0, 0.5)
    ok = find_route(segments, grid, west, north)
    assert ok.found and ok.reason == ''
    assert ok.length_m == pytest.approx(90.0, abs=3.0)  # 45 m east, then 45 m north
    assert ok.line is not None and ok.line.length == pytest.approx(ok.length_m, rel=1e-6)
    blocked = find_route(segments, grid, west, east)
    assert not blocked.found and math.isnan(blocked.length_m)
    assert 'flooded' in blocked.reason
    # A detour around the flood (north of it) opens the way again, longer than straight.
    labels = cross()
    labels[48:75, 60:63] = ROAD
    labels[72:75, 60:90] = ROAD
    labels[48:75, 87:90] = ROAD
    grid = grid_of(labels)
    detour = find_route(road_network(grid, min_length_m=3.0), grid, west, east)
    assert detour.found, detour.reason
    assert 90.0 + 2 * 22.0 - 6.0 <= detour.length_m <= 90.0 + 2 * 22.0 + 6.0


def test_a_point_on_a_flooded_road_or_far_from_any_road_is_cut_off():
    grid = grid_of(cross())
    segments = road_network(grid)
    on_flood = find_route(segments, grid, (25.0, 0.5), (-45.0, 0.5))
    assert not on_flood.found and 'nearest the start is flooded' in on_flood.reason
    far = find_route(segments, grid, (-40.0, -40.0), (-45.0, 0.5), snap_m=10.0)
    assert not far.found and 'no road within 10 m of the start' in far.reason
    with pytest.raises(ResponderLayerError, match='finite'):
        find_route(segments, grid, (math.nan, 0.0), (0.0, 0.0))
    assert find_route([], grid, (0.0, 0.0), (1.0, 1.0)).reason == 'the map has no road'


def test_flooded_buildings_are_polygons_with_their_area():
    labels = np.full((60, 60), GRASS, np.int8)
    labels[10:18, 5:15] = FLOODED_BUILDING  # 10 x 8 m
    labels[30:35, 30:35] = FLOODED_BUILDING  # 5 x 5 m
    labels[50, 50] = FLOODED_BUILDING  # one stray cell: below the 4 m2 floor
    labels[40:50, 5:15] = DRY_BUILDING
    grid = grid_of(labels, res=1.0)
    buildings = flooded_buildings(grid)
    assert [b.area_m2 for b in buildings] == [80.0, 25.0]
    big = buildings[0]
    assert big.outline.area == pytest.approx(80.0, rel=0.01)
    minx, miny, maxx, maxy = big.outline.bounds
    assert (minx, miny, maxx, maxy) == pytest.approx((-45.0, -40.0, -35.0, -32.0))
    assert big.confidence == pytest.approx(0.9)


def test_invalid_grids_are_refused_with_what_is_wrong():
    with pytest.raises(ResponderLayerError, match='one shape'):
        LandCoverGrid(np.zeros((3, 3), np.int8), np.zeros((3, 4), np.float32), 0.0, 0.0, 1.0)
    with pytest.raises(ResponderLayerError, match='-1 .not seen. or 0..9'):
        LandCoverGrid(np.full((3, 3), 12, np.int8), np.zeros((3, 3), np.float32), 0.0, 0.0, 1.0)
    with pytest.raises(ResponderLayerError, match='resolution'):
        LandCoverGrid(np.zeros((3, 3), np.int8), np.zeros((3, 3), np.float32), 0.0, 0.0, 0.0)
