"""The coordinator's saved mission state (core.coverage.persist): round trip and refusals."""

import json

import pytest
import shapely
from shapely.geometry import box

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig, replan_coverage
from uav_flood.core.coverage.persist import load_state, save_state, StateError
from uav_flood.core.coverage.progress import CoverageTracker

AREA = Area(shapely.union_all([box(0, 0, 400, 150), box(0, 150, 120, 300)]))
CONFIG = PlanConfig(base_altitude_m=30.0)
NAMES = ['uav0', 'uav1', 'uav2']


def mission():
    drones = [Drone(name, (0.0, -20.0 * i)) for i, name in enumerate(NAMES)]
    plan = plan_coverage(AREA, drones, CONFIG)
    tracker = CoverageTracker(plan.region, plan.swath_m, NAMES)
    for i, d in enumerate(plan.drones):
        tracker.set_path(d.drone, d.path, 10.0, stamp_ns=1000 + i)
        track = tracker.tracks[d.drone]
        track.acknowledged = True
        track.reached = len(d.path) // 2
        track.position = d.path[track.reached][:2]
    tracker.tracks['uav1'].lost = 'status silent for 3.1 s'
    tracker.tracks['uav1'].lost_at_s = 42.0
    tracker.tracks['uav2'].readmissions = 2
    healthy = [Drone(n, tracker.tracks[n].position, 70.0, layer=i) for i, n in ((0, 'uav0'),)]
    plan = replan_coverage(plan, tracker.covered(), healthy)
    tracker.set_path('uav0', plan.drone('uav0').path, 50.0, stamp_ns=5000)
    return plan, tracker


def test_round_trip_keeps_plan_progress_losses_and_coverage(tmp_path):
    plan, tracker = mission()
    coverage = tracker.coverage()
    assert 0.3 < coverage < 0.9
    path = save_state(tmp_path / 'state.json', AREA, plan, tracker, {'replans': 1})
    plan2, tracker2, extra = load_state(path, AREA, CONFIG, NAMES)
    assert extra == {'replans': 1}
    assert tracker2.coverage() == pytest.approx(coverage)
    assert plan2.region.equals(plan.region) and plan2.swath_m == plan.swath_m
    assert [d.path for d in plan2.drones] == [d.path for d in plan.drones]
    assert plan2.metrics == plan.metrics
    for name in NAMES:
        a, b = tracker.tracks[name], tracker2.tracks[name]
        assert (b.path, b.reached, b.lost, b.readmissions, b.path_stamp_ns, b.acknowledged) == (
            a.path,
            a.reached,
            a.lost,
            a.readmissions,
            a.path_stamp_ns,
            a.acknowledged,
        )
    assert tracker2.tracks['uav1'].lost_at_s == 42.0
    # The re-plan after a restart plans the remainder, not the whole area.
    again = replan_coverage(plan2, tracker2.covered(), [Drone('uav0', (0.0, 0.0), 90.0)])
    assert (
        again.metrics.area_m2
        < 0.7 * plan_coverage(AREA, [Drone('uav0', (0, 0))], CONFIG).metrics.area_m2
    )


def test_a_fleet_grown_since_the_save_starts_the_new_drone_empty(tmp_path):
    plan, tracker = mission()
    path = save_state(tmp_path / 'state.json', AREA, plan, tracker, {})
    _, tracker2, _ = load_state(path, AREA, CONFIG, [*NAMES, 'uav3'])
    assert tracker2.tracks['uav3'].path == () and not tracker2.tracks['uav3'].lost


def test_a_state_for_another_area_or_a_broken_file_is_refused(tmp_path):
    plan, tracker = mission()
    path = save_state(tmp_path / 'state.json', AREA, plan, tracker, {})
    with pytest.raises(StateError, match='another area'):
        load_state(path, Area(box(0, 0, 100, 100)), CONFIG, NAMES)
    text = path.read_text()
    for bad in (text[: len(text) // 2], '[]', json.dumps({'version': 99}), '[' * 100_000):
        path.write_text(bad)
        with pytest.raises(StateError):
            load_state(path, AREA, CONFIG, NAMES)
    data = json.loads(text)
    del data['plan']['drones'][0]['path']
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match='malformed'):
        load_state(path, AREA, CONFIG, NAMES)
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / 'none.json', AREA, CONFIG, NAMES)


def test_saving_is_atomic(tmp_path, monkeypatch):
    plan, tracker = mission()
    path = save_state(tmp_path / 'state.json', AREA, plan, tracker, {'replans': 1})
    before = path.read_text()

    def fail(*_args, **_kwargs):
        raise OSError('disk full')

    monkeypatch.setattr('uav_flood.core.atomic_file.os.replace', fail)
    with pytest.raises(OSError):
        save_state(path, AREA, plan, tracker, {'replans': 2})
    assert path.read_text() == before


def test_sorties_and_the_sortie_in_flight_survive_a_round_trip(tmp_path):
    # Small batteries: every drone flies its part in several sorties.
    config = PlanConfig(base_altitude_m=30.0, sorties=True)
    drones = [Drone(name, (0.0, -20.0 * i), 40.0) for i, name in enumerate(NAMES)]
    plan = plan_coverage(AREA, drones, config)
    assert all(len(d.sorties) >= 2 for d in plan.drones)
    tracker = CoverageTracker(plan.region, plan.swath_m, NAMES)
    first = plan.drones[0]
    tracker.set_path(first.drone, first.sorties[1].path, 5.0, 77, sortie=1, sorties=3)
    path = save_state(tmp_path / 'state.json', AREA, plan, tracker, {'due': {'uav1': 0}})
    plan2, tracker2, extra = load_state(path, AREA, config, NAMES)
    assert [d.sorties for d in plan2.drones] == [d.sorties for d in plan.drones]
    track = tracker2.tracks[first.drone]
    assert (track.sortie, track.sorties, track.path) == (1, 3, first.sorties[1].path)
    assert extra == {'due': {'uav1': 0}}
