"""Coverage progress and drone loss (core.coverage.progress): flown parts, acks, losses, replan."""

import pytest
import shapely
from shapely.geometry import box

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig, replan_coverage
from uav_flood.core.coverage.progress import (
    CoverageTracker,
    flown_polyline,
    loss_reason,
    path_length_m,
    readmission_block,
    swap_block,
    swath_geometry,
)
from uav_flood.core.mission import Enu
from uav_flood.core.status_schema import parse_waypoints

PATH = (Enu(0.0, 0.0, 20.0), Enu(100.0, 0.0, 20.0), Enu(100.0, 20.0, 20.0), Enu(0.0, 20.0, 20.0))
HEALTHY = {
    'connection': 'connected',
    'flight_mode': 'mission',
    'failsafe': 'none',
    'mission_state': 'active',
    'last_refusal': '',
}


def test_flown_polyline_is_the_reached_prefix_plus_the_projected_position():
    assert flown_polyline(PATH, -1, (50.0, 0.0), 5.0) == []
    assert flown_polyline(PATH, 0, None, 5.0) == [(0.0, 0.0)]
    assert flown_polyline(PATH, 0, (40.0, 3.0), 5.0) == [(0.0, 0.0), (40.0, 0.0)]
    # Too far off the next leg: only the reached waypoints count.
    assert flown_polyline(PATH, 0, (40.0, 30.0), 5.0) == [(0.0, 0.0)]
    assert flown_polyline(PATH, 1, (100.0, 10.0), 5.0) == [(0.0, 0.0), (100.0, 0.0), (100.0, 10.0)]
    assert len(flown_polyline(PATH, 9, (0.0, 20.0), 5.0)) == 4


def test_swath_geometry_buffers_by_half_the_swath():
    geometry = swath_geometry([[(0.0, 0.0), (100.0, 0.0)]], 10.0)
    assert geometry.area == pytest.approx(100.0 * 10.0 + 3.1416 * 25.0, rel=0.01)
    # One point (a one-waypoint path reached): the swath-wide square under the camera.
    assert swath_geometry([[(0.0, 0.0)]], 10.0).area == pytest.approx(100.0)
    assert swath_geometry([[]], 10.0).is_empty
    assert path_length_m(PATH) == pytest.approx(220.0)


@pytest.mark.parametrize(
    ('text', 'expected'), [('', []), ('0,1,2', [0, 1, 2]), ('3, x, 4', [3, 4]), ('-1', [-1])]
)
def test_parse_waypoints(text, expected):
    assert parse_waypoints(text) == expected


@pytest.mark.parametrize(
    ('changes', 'age_s', 'acknowledged', 'expected'),
    [
        ({}, 0.1, True, None),
        ({}, 3.5, True, 'status silent'),
        ({'connection': 'link lost'}, 0.1, True, 'link lost'),
        ({'failsafe': 'energy reserve: returning to launch'}, 0.1, True, 'energy reserve'),
        ({'failsafe': 'energy reserve', 'mission_state': 'completed'}, 0.1, True, None),
        ({'flight_mode': 'return'}, 0.1, True, 'return before its mission'),
        ({'flight_mode': 'return', 'mission_state': 'completed'}, 0.1, True, None),
        ({'mission_state': 'failed'}, 0.1, True, 'mission failed'),
        ({'mission_state': 'refused', 'last_refusal': 'too far'}, 0.1, True, 'too far'),
        # The old mission's state does not count while a new path is on its way.
        ({'mission_state': 'refused'}, 0.1, False, None),
        ({'flight_mode': 'return'}, 0.1, False, None),
    ],
)
def test_loss_reason(changes, age_s, acknowledged, expected):
    reason = loss_reason({**HEALTHY, **changes}, age_s, 3.0, acknowledged)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def status(state, total, reached):
    return {
        **HEALTHY,
        'mission_state': state,
        'mission_waypoint_total': str(total),
        'mission_waypoints_reached': ','.join(str(w) for w in reached),
    }


def test_tracker_reads_reached_waypoints_only_once_the_path_is_taken():
    region = box(-10.0, -10.0, 110.0, 30.0)
    tracker = CoverageTracker(region, 20.0, ['uav0'])
    tracker.set_path('uav0', PATH, now_s=0.0)
    # The previous mission's status (same size, all reached) must not count for the new path.
    tracker.update_status('uav0', status('active', 4, [0, 1, 2, 3]), 0.5)
    assert tracker.tracks['uav0'].reached == -1
    assert tracker.coverage() == 0.0
    tracker.update_status('uav0', status('uploaded', 4, []), 0.6)
    assert tracker.tracks['uav0'].acknowledged
    tracker.update_status('uav0', status('active', 4, [0, 1]), 1.0)
    tracker.set_position('uav0', (100.0, 10.0))
    assert tracker.tracks['uav0'].state == 'flying'
    first = tracker.coverage()
    assert 0.3 < first < 0.7
    assert tracker.time_left_s({'uav0': 5.0}) == pytest.approx(110.0 / 5.0)
    tracker.update_status('uav0', status('completed', 4, [0, 1, 2, 3]), 2.0)
    assert tracker.tracks['uav0'].state == 'done'
    assert tracker.coverage() > first
    assert tracker.time_left_s({'uav0': 5.0}) == 0.0


def test_tracker_acknowledges_late_without_a_pending_state():
    tracker = CoverageTracker(box(0, 0, 100, 20), 20.0, ['uav0'])
    tracker.set_path('uav0', PATH, now_s=0.0)
    tracker.update_status('uav0', status('active', 4, [0, 1]), 1.0)
    assert not tracker.tracks['uav0'].acknowledged
    tracker.update_status('uav0', status('active', 4, [0, 1]), 2.5)
    assert tracker.tracks['uav0'].reached == 1


def test_a_replaced_path_keeps_what_was_flown():
    tracker = CoverageTracker(box(-10, -10, 110, 30), 20.0, ['uav0'])
    tracker.set_path('uav0', PATH, 0.0)
    tracker.update_status('uav0', status('uploaded', 4, []), 0.1)
    tracker.update_status('uav0', status('active', 4, [0, 1]), 0.2)
    before = tracker.covered().area
    tracker.set_path('uav0', (Enu(0.0, 20.0, 20.0), Enu(50.0, 20.0, 20.0)), 1.0)
    assert tracker.covered().area == pytest.approx(before)
    assert len(tracker.flown('uav0')) == 1


def fly(tracker, plan, name, fraction):
    """Advance a drone through `fraction` of its waypoints as flight_control would report."""
    path = plan.drone(name).path
    last = max(0, int(len(path) * fraction) - 1)
    tracker.update_status(name, status('uploaded', len(path), []), 0.1)
    tracker.update_status(name, status('active', len(path), range(last + 1)), 0.2)
    tracker.set_position(name, (path[last][0], path[last][1]))


def test_loss_at_40_percent_and_replan_covers_the_area():
    area = Area(shapely.union_all([box(0, 0, 400, 150), box(0, 150, 120, 300)]))
    drones = [Drone(f'uav{i}', (0.0, -20.0 * i)) for i in range(3)]
    config = PlanConfig(base_altitude_m=30.0)
    plan = plan_coverage(area, drones, config)
    tracker = CoverageTracker(plan.region, plan.swath_m, [d.name for d in drones])
    for d in plan.drones:
        tracker.set_path(d.drone, d.path, 0.0)
        fly(tracker, plan, d.drone, 0.4)
    assert 0.25 < tracker.coverage() < 0.6
    tracker.tracks['uav1'].lost = 'status silent'
    healthy = [
        Drone(n, tracker.tracks[n].position, 70.0, flying_altitude_m=30.0, layer=i)
        for i, n in ((0, 'uav0'), (2, 'uav2'))
    ]
    replan = replan_coverage(plan, tracker.covered(), healthy)
    assert replan.drone('uav0').path and replan.drone('uav2').path
    union = tracker.covered().union(replan.swaths())
    assert union.intersection(plan.region).area / plan.region.area >= 0.995
    assert time_left_positive(tracker)


def time_left_positive(tracker):
    return tracker.time_left_s(dict.fromkeys(tracker.tracks, 4.4)) > 0.0


@pytest.mark.parametrize(
    ('changes', 'telemetry_age_s', 'expected'),
    [
        ({'connection': 'link lost'}, 0.2, None),  # a status alone is no evidence
        ({'connection': 'link lost'}, 3.5, 'autopilot link lost (no telemetry'),
        ({}, 3.5, 'telemetry silent'),
        ({}, 0.2, None),
    ],
)
def test_loss_needs_the_coordinators_own_evidence(changes, telemetry_age_s, expected):
    reason = loss_reason({**HEALTHY, **changes}, 0.1, 3.0, True, telemetry_age_s=telemetry_age_s)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


@pytest.mark.parametrize('state', ['pending', 'uploading', 'uploaded', 'starting'])
def test_a_mission_not_started_in_time_is_a_loss_with_the_reason(state):
    values = {**HEALTHY, 'mission_state': state, 'retrying': 'auto_start attempt 9 after: denied'}
    assert loss_reason(values, 0.1, 3.0, True, 0.1, since_sent_s=59.0, start_timeout_s=60) is None
    reason = loss_reason(values, 0.1, 3.0, True, 0.1, since_sent_s=61.0, start_timeout_s=60)
    assert reason is not None
    assert reason.startswith(f'mission not started 61 s after its path was sent (still {state})')
    assert reason.endswith('auto_start attempt 9 after: denied')


@pytest.mark.parametrize(
    ('changes', 'battery', 'blocked'),
    [
        ({'landed_state': 'on_ground', 'armed': 'false', 'ready_to_arm': 'true'}, 90.0, None),
        ({'landed_state': 'in_air', 'flight_mode': 'mission'}, 60.0, None),
        ({'landed_state': 'in_air', 'flight_mode': 'return'}, 60.0, 'in_air, return'),
        (
            {'landed_state': 'on_ground', 'ready_to_arm': 'false', 'not_ready_reason': 'no GPS'},
            90.0,
            'not ready to arm: no GPS',
        ),  # fmt: skip
        ({'landed_state': 'on_ground', 'armed': 'true'}, 90.0, 'armed on the ground'),
        ({'landed_state': 'on_ground'}, 20.0, 'battery 20 % < 35 %'),
        ({'landed_state': 'on_ground', 'failsafe': 'autopilot failsafe: x'}, 90.0, 'failsafe'),
        ({'landed_state': 'on_ground', 'connection': 'link lost'}, 90.0, 'link lost'),
    ],
)
def test_readmission_only_for_a_drone_fit_to_fly(changes, battery, blocked):
    values = {**HEALTHY, **changes}
    block = readmission_block(values, 0.1, 0.1, 3.0, battery, 35.0)
    if blocked is None:
        assert block is None
    else:
        assert block is not None and blocked in block
    assert readmission_block(values, 5.0, 0.1, 3.0, battery, 35.0) is not None  # stale status


def test_covered_never_shrinks():
    tracker = CoverageTracker(box(-10, -10, 110, 30), 10.0, ['uav0'])
    tracker.set_path('uav0', PATH, 0.0)
    tracker.update_status('uav0', status('uploaded', 4, []), 0.05)
    tracker.update_status('uav0', status('active', 4, [0, 1, 2]), 0.1)
    before = tracker.coverage()
    assert before > 0.2
    # The progress report goes backwards (a restarted flight_control, a replaced mission):
    # what was flown stays covered.
    tracker.tracks['uav0'].reached = 0
    assert tracker.coverage() >= before
    tracker.set_path('uav0', (), 1.0)
    assert tracker.coverage() >= before


def test_a_lost_drones_progress_still_counts():
    tracker = CoverageTracker(box(-10, -10, 110, 30), 10.0, ['uav0'])
    tracker.set_path('uav0', PATH, 0.0)
    tracker.update_status('uav0', status('uploaded', 4, []), 0.05)
    tracker.update_status('uav0', status('active', 4, [0]), 0.1)
    tracker.tracks['uav0'].lost = 'status silent'
    tracker.update_status('uav0', status('active', 4, [0, 1, 2, 3]), 5.0)
    assert tracker.tracks['uav0'].reached == 3


def test_the_path_stamp_echo_decides_which_path_a_status_is_about():
    tracker = CoverageTracker(box(-10, -10, 110, 30), 10.0, ['uav0'])
    tracker.set_path('uav0', PATH, 0.0, stamp_ns=111)
    # A status of the previous path ('failed', another stamp) is not read against the new one.
    tracker.update_status('uav0', {**status('failed', 4, []), 'path_stamp': '99'}, 0.1)
    assert not tracker.tracks['uav0'].acknowledged
    tracker.update_status('uav0', {**status('uploaded', 4, []), 'path_stamp': '111'}, 0.2)
    assert tracker.tracks['uav0'].acknowledged


def test_a_one_waypoint_path_counts_its_swath_square_once_reached():
    """The planner flies a leftover smaller than a swath as one waypoint over its centre."""
    tracker = CoverageTracker(box(40, 40, 60, 60), 30.0, ['uav0'])
    tracker.set_path('uav0', (Enu(50.0, 50.0, 60.0),), 0.0)
    tracker.update_status('uav0', status('uploaded', 1, []), 0.05)
    assert tracker.coverage() == 0.0
    tracker.update_status('uav0', status('completed', 1, [0]), 10.0)
    assert tracker.coverage() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ('changes', 'battery', 'blocked'),
    [
        ({'landed_state': 'on_ground', 'armed': 'false', 'ready_to_arm': 'true'}, 100.0, None),
        ({'landed_state': 'on_ground'}, 30.0, 'waiting for a battery swap: battery 30 % < 65 %'),
        ({'landed_state': 'on_ground'}, None, 'waiting for a battery swap: battery unknown'),
        ({'landed_state': 'in_air', 'flight_mode': 'mission'}, 100.0, 'not landed (in_air)'),
        ({'landed_state': 'landing'}, 100.0, 'not landed (landing)'),
        ({'landed_state': 'on_ground', 'armed': 'true'}, 100.0, 'armed on the ground'),
        ({'landed_state': 'on_ground', 'ready_to_arm': 'false'}, 100.0, 'not ready to arm'),
    ],
)
def test_the_next_sortie_waits_for_a_landed_ready_drone_with_a_swapped_battery(
    changes, battery, blocked
):
    values = {**HEALTHY, **changes}
    block = swap_block(values, 0.1, 0.1, 3.0, battery, 65.0)
    if blocked is None:
        assert block is None
    else:
        assert block is not None and blocked in block, block
    assert swap_block(values, 0.1, 5.0, 3.0, battery, 65.0) is not None  # telemetry stale


def test_a_drone_between_sorties_is_unfinished_until_its_last_sortie_is_flown():
    tracker = CoverageTracker(box(0, -10, 100, 30), 20.0, ['uav0'])
    track = tracker.tracks['uav0']
    tracker.set_path('uav0', PATH, 0.0, stamp_ns=1, sortie=0, sorties=2)
    assert track.state == 'sent' and tracker.unfinished('uav0')
    done = {'mission_state': 'completed', 'mission_waypoint_total': '4', 'path_stamp': '1'}
    tracker.update_status('uav0', done, 1.0)
    assert track.between_sorties and track.state == 'swap' and tracker.unfinished('uav0')
    tracker.set_path('uav0', PATH, 2.0, stamp_ns=2, sortie=1, sorties=2)
    tracker.update_status('uav0', {**done, 'path_stamp': '2'}, 3.0)
    assert track.state == 'done' and not tracker.unfinished('uav0')
    assert not track.between_sorties
