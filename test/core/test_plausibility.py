"""Observation plausibility: stamp, size, the drone's reach at the stamp, deferral (no ROS)."""

import math

import numpy as np
import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.core.plausibility import (
    footprint_reach_m,
    ObservationGate,
    PlausibilityConfig,
    PositionTrace,
    RefuseReason,
    Verdict,
)

NOW = 1_700_000_000.0
RES = 0.5


def gate(**overrides):
    return ObservationGate(PlausibilityConfig(**overrides), ['uav0', 'uav1'], started_s=NOW - 60)


def check(g, centre, stamp=NOW, vehicle='uav0', size=(40, 40), now=NOW, res=RES):
    """Judge a width x height patch centred at `centre` (m, map ENU)."""
    width, height = size
    return g.check(
        vehicle,
        stamp,
        now,
        centre[0] - 0.5 * width * res,
        centre[1] - 0.5 * height * res,
        res,
        width,
        height,
    )


def flying(g, vehicle='uav0', at=(100.0, 50.0, 60.0), t0=NOW - 10, t1=NOW + 1, rate_hz=20):
    """Report a hovering drone at 20 Hz from t0 to t1."""
    for t in np.arange(t0, t1, 1.0 / rate_hz):
        g.add_pose(vehicle, float(t), *at, now_s=NOW + 1)


def test_reach_is_twice_height_tan60_plus_margin():
    config = PlausibilityConfig()
    assert footprint_reach_m(60.0, config) == pytest.approx(2 * 60 * math.tan(math.pi / 3) + 25)
    assert footprint_reach_m(-5.0, config) == pytest.approx(25.0)


def test_a_patch_under_the_drone_is_accepted_one_far_away_refused():
    g = gate()
    flying(g)
    assert check(g, (100.0, 50.0)).verdict == Verdict.ACCEPT
    assert check(g, (100.0 + 200.0, 50.0)).verdict == Verdict.ACCEPT  # 3.46 x 60 + 25 = 233
    refused = check(g, (100.0 + 260.0, 50.0))
    assert refused.verdict == Verdict.REFUSE and refused.reason == RefuseReason.FOOTPRINT
    assert '260 m from uav0' in refused.text
    # The other drone's patch is judged by the other drone's pose.
    assert check(g, (100.0, 50.0), vehicle='uav1').verdict == Verdict.DEFER


def test_the_pose_at_the_stamp_counts_not_the_latest():
    g = gate()
    for k in range(200):  # flying east at 10 m/s from x = 0 at 10 m, 20 Hz, over 10 s
        t = NOW - 10 + k * 0.05
        g.add_pose('uav0', t, 10.0 * k * 0.05, 0.0, 10.0, now_s=NOW)
    # Reach at 10 m: 2 x 10 x 1.73 + 25 = 59.6 m.
    assert check(g, (0.0, 0.0), stamp=NOW - 10).verdict == Verdict.ACCEPT
    assert check(g, (0.0, 0.0), stamp=NOW - 0.5).reason == RefuseReason.FOOTPRINT  # at 95 m
    assert check(g, (95.0, 0.0), stamp=NOW - 0.5).verdict == Verdict.ACCEPT
    # Between kept poses (x = 45 and 50): judged against both.
    assert check(g, (48.0, 0.0), stamp=NOW - 5.2).verdict == Verdict.ACCEPT
    assert check(g, (-60.0, 0.0), stamp=NOW - 5.2).reason == RefuseReason.FOOTPRINT


def test_across_a_pose_gap_the_bound_grows_with_max_speed():
    g = gate(max_speed_m_s=20.0, max_climb_m_s=0.0)
    g.add_pose('uav0', NOW - 100, 0.0, 0.0, 10.0, now_s=NOW)
    g.add_pose('uav0', NOW, 0.0, 0.0, 10.0, now_s=NOW)
    # 50 s from both poses: reach 2 x 10 x 1.73 + 25 + 20 x 50 = 1059.6 m.
    assert check(g, (1000.0, 0.0), stamp=NOW - 50).verdict == Verdict.ACCEPT
    assert check(g, (1100.0, 0.0), stamp=NOW - 50).reason == RefuseReason.FOOTPRINT
    # 1 s after the first pose: only 20 m more than the footprint, whatever the other side says.
    assert check(g, (100.0, 0.0), stamp=NOW - 99).reason == RefuseReason.FOOTPRINT


def test_no_pose_yet_defers_no_pose_ever_refuses():
    g = gate(max_pose_gap_s=30.0)
    assert check(g, (0.0, 0.0)).verdict == Verdict.DEFER
    g.add_pose('uav0', NOW - 200, 0.0, 0.0, 50.0, now_s=NOW)
    # The only pose is 200 s before the stamp (more than the 30 s gap): a newer one may come.
    assert check(g, (0.0, 0.0)).verdict == Verdict.DEFER
    g.add_pose('uav0', NOW + 0.5, 0.0, 0.0, 50.0, now_s=NOW)
    assert check(g, (0.0, 0.0)).verdict == Verdict.ACCEPT
    # A stamp between the two poses, 100 s from each: no pose near it can come any more.
    refused = check(g, (0.0, 0.0), stamp=NOW - 100)
    assert refused.verdict == Verdict.REFUSE and refused.reason == RefuseReason.NO_POSE


@pytest.mark.parametrize(
    'stamp, reason',
    [
        (NOW + 2.5, RefuseReason.STAMP_FUTURE),
        (math.nan, RefuseReason.STAMP_FUTURE),
        (NOW - 60 - 1800 - 1, RefuseReason.STAMP_OLD),
        (0.0, RefuseReason.STAMP_OLD),
    ],
)
def test_insane_stamps_are_refused(stamp, reason):
    g = gate(check_pose=False)
    result = check(g, (0.0, 0.0), stamp=stamp)
    assert result.verdict == Verdict.REFUSE and result.reason == reason


def test_stamps_within_the_tolerances_pass():
    g = gate(check_pose=False)
    assert check(g, (0.0, 0.0), stamp=NOW + 1.9).verdict == Verdict.ACCEPT
    assert check(g, (0.0, 0.0), stamp=NOW - 60 - 1799).verdict == Verdict.ACCEPT


@pytest.mark.parametrize('size', [(2001, 2000), (2100, 10), (10, 2001)])
def test_oversized_patches_are_refused(size):
    g = gate(check_pose=False)
    result = check(g, (0.0, 0.0), size=size)
    assert result.verdict == Verdict.REFUSE and result.reason == RefuseReason.TOO_LARGE


def test_unknown_vehicle_and_unusable_resolution():
    g = gate()
    assert check(g, (0.0, 0.0), vehicle='intruder').reason == RefuseReason.VEHICLE
    flying(g)
    # A patch whose resolution is garbage is left to FloodMap (refused there as `resolution`).
    assert check(g, (5000.0, 0.0), res=math.nan).verdict == Verdict.ACCEPT


def test_poses_from_the_future_are_ignored():
    g = gate()
    g.add_pose('uav0', NOW + 100, 5000.0, 0.0, 50.0, now_s=NOW)
    assert g.poses_ignored == 1 and len(g.traces['uav0']) == 0


def test_trace_keeps_one_position_per_step_and_the_span():
    trace = PositionTrace(step_s=0.5, span_s=10.0)
    for k in range(400):  # 20 s at 20 Hz
        trace.add(k * 0.05, float(k), 0.0, 0.0)
    assert len(trace) == 21 and trace.newest_stamp == pytest.approx(19.5)
    assert trace.bracket(12.2)[0][0] == pytest.approx(12.0)
    assert trace.bracket(12.2)[1][0] == pytest.approx(12.5)
    assert trace.bracket(100.0)[1] is None and trace.bracket(0.0)[0] is None
    assert not trace.add(15.0, 0.0, 0.0, 0.0)  # out of order inside the trace: ignored
    assert not trace.add(math.nan, 0.0, 0.0, 0.0)
    assert not trace.add(9.0, -1.0, 0.0, 0.0)  # older than the span before the newest
    short = PositionTrace(step_s=0.5, span_s=30.0)
    short.add(10.0, 0.0, 0.0, 0.0)
    short.add(20.0, 0.0, 0.0, 0.0)
    assert short.add(5.0, 1.0, 0.0, 0.0)  # older than everything, within the span: kept
    assert short.bracket(7.0)[0] == (5.0, (1.0, 0.0, 0.0))


def test_gate_state_round_trip():
    g = gate()
    flying(g)
    header, arrays = g.state()
    again = ObservationGate(PlausibilityConfig(), ['uav0', 'uav1'], started_s=NOW)
    again.restore(header, arrays)
    assert again.started_s == NOW - 60
    assert len(again.traces['uav0']) == len(g.traces['uav0']) > 0
    assert check(again, (100.0 + 260.0, 50.0)).reason == RefuseReason.FOOTPRINT


@pytest.mark.parametrize(
    'field, value',
    [
        ('max_future_s', -1.0),
        ('max_patch_cells', 0),
        ('max_patch_m', 0.0),
        ('max_view_angle_deg', 90.0),
        ('trace_span_s', math.inf),
        ('margin_m', math.nan),
    ],
)
def test_config_refuses_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        PlausibilityConfig(**{field: value})
