"""core.coverage.sorties: a path split into flights that each fit a battery (no rclpy)."""

import math

import pytest

from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.coverage.sorties import split_sorties, total_time_s
from uav_flood.core.mission import Enu
from uav_flood.core.safety import EnergyModel

MODEL = EnergyModel(cruise_speed_m_s=5.0)
HOME = Enu(0.0, 0.0, 0.0)
ALT = 50.0


def lawnmower(legs: int, length: float, spacing: float, x0: float = 100.0) -> list[Enu]:
    points = []
    for k in range(legs):
        ys = (0.0, length) if k % 2 == 0 else (length, 0.0)
        points += [Enu(x0 + k * spacing, y, ALT) for y in ys]
    return points


def test_a_path_that_fits_is_one_sortie_with_the_planners_time():
    path = lawnmower(3, 200.0, 40.0)
    (sortie,) = split_sorties(path, HOME, MODEL, capacity_s=10_000.0)
    assert sortie.sweep == tuple(path) and sortie.resume_index == 0
    assert sortie.path == tuple(path)  # straight transits: no turning points
    assert sortie.time_s == pytest.approx(MODEL.mission_time_s(HOME, sortie.path))
    assert sortie.energy_pct == pytest.approx(MODEL.energy_pct(sortie.time_s))


def test_a_long_path_is_split_into_full_sorties_that_resume_where_the_last_stopped():
    path = lawnmower(20, 600.0, 40.0)
    capacity = 600.0
    sorties = split_sorties(path, HOME, MODEL, capacity_s=capacity, turn_penalty_s=2.0)
    assert len(sorties) > 2
    for s in sorties:
        assert s.time_s <= capacity + 1e-6
    # Greedy: every sortie but the last could not have taken one more waypoint.
    for s, nxt in zip(sorties, sorties[1:], strict=False):
        assert s.sweep[-1] == nxt.sweep[0]  # the next resumes where this one stopped
    # The sweeps, joined, are the path (cut points inserted on legs where a sortie ran out).
    joined = [sorties[0].sweep[0]]
    for s in sorties:
        joined += s.sweep[1:]
    assert [p for p in joined if p in path] == path
    for p in joined:
        if p not in path:  # a cut lies on the leg between its neighbours
            assert p.up_m == ALT
    assert total_time_s(sorties, 90.0) == pytest.approx(
        sum(s.time_s for s in sorties) + 90.0 * (len(sorties) - 1)
    )
    # The distance swept is the path's: nothing flown twice, nothing skipped.
    swept = sum(
        math.dist(a[:2], b[:2])
        for s in sorties
        for a, b in zip(s.sweep, s.sweep[1:], strict=False)
    )
    length = sum(math.dist(a[:2], b[:2]) for a, b in zip(path, path[1:], strict=False))
    assert swept == pytest.approx(length)


def test_a_leg_longer_than_a_battery_is_cut_where_the_battery_runs_out():
    # One 3 km leg passing 500 m from home: too long for one 800 s battery, not for two.
    path = [Enu(500.0, -1500.0, ALT), Enu(500.0, 1500.0, ALT)]
    capacity = 800.0
    first, second = split_sorties(path, HOME, MODEL, capacity_s=capacity)
    assert first.time_s == pytest.approx(capacity, abs=0.01)  # filled to the last second
    assert second.time_s <= capacity
    cut = first.sweep[-1]
    assert cut.east_m == 500.0 and -1500.0 < cut.north_m < 1500.0
    assert second.sweep == (cut, path[1]) and second.resume_index == 0


def test_a_radial_leg_beyond_half_the_reach_cannot_be_finished():
    # Flying away from home, each sortie spends more on the way out: progress stops.
    path = [Enu(100.0, 0.0, ALT), Enu(100.0, 20_000.0, ALT)]
    with pytest.raises(PlanningError, match='cannot be flown at all on one battery'):
        split_sorties(path, HOME, MODEL, capacity_s=900.0)


def test_a_point_out_of_reach_is_refused_with_its_position():
    path = [Enu(3000.0, 0.0, ALT), Enu(3000.0, 100.0, ALT)]
    with pytest.raises(PlanningError, match=r'\(3000, 0\) m is beyond reach from home'):
        split_sorties(path, HOME, MODEL, capacity_s=300.0)
    assert split_sorties([], HOME, MODEL, 300.0) == []
    with pytest.raises(PlanningError, match='must allow some flight'):
        split_sorties(path, HOME, MODEL, capacity_s=0.0)


def test_transits_follow_the_router():
    detour = (50.0, -80.0)

    def route(a, b):
        return [a, detour, b]

    path = lawnmower(4, 300.0, 40.0)
    sorties = split_sorties(path, HOME, MODEL, capacity_s=400.0, route=route)
    assert len(sorties) >= 2
    for s in sorties:
        assert (s.path[0].east_m, s.path[0].north_m) == detour  # out through the detour
        assert (s.path[-1].east_m, s.path[-1].north_m) == detour  # and back
        assert s.path[1:-1] == s.sweep
        assert s.time_s <= 400.0 + 1e-6
        assert s.time_s == pytest.approx(MODEL.mission_time_s(HOME, s.path))
