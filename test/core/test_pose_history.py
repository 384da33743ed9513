"""PoseHistory: exact, interpolated and refused look-ups, ordering, eviction, slerp."""

import math

import numpy as np
import pytest

from uav_flood.core.georef import GeoreferenceError, VehiclePose
from uav_flood.core.pose_history import PoseHistory, PoseHistoryError, slerp


def yaw_of(pose: VehiclePose) -> float:
    """Return the yaw (deg, ENU, CCW from east) of a pose."""
    r = pose.map_from_body()
    return math.degrees(math.atan2(r[1, 0], r[0, 0]))


def test_exact_stamp_returns_that_pose():
    history = PoseHistory()
    first = VehiclePose((1.0, 2.0, 3.0))
    second = VehiclePose.from_euler((4.0, 5.0, 6.0), yaw_deg=30.0)
    history.add(10.0, first)
    history.add(10.1, second)
    assert history.at(10.0) == first
    assert history.at(10.1) == second
    assert history.why(10.1) == ''


def test_position_is_linear_and_yaw_is_slerped():
    history = PoseHistory()
    history.add(0.0, VehiclePose.from_euler((0.0, 0.0, 50.0), yaw_deg=0.0))
    history.add(0.2, VehiclePose.from_euler((10.0, -4.0, 60.0), yaw_deg=90.0))
    middle = history.at(0.1)
    assert middle is not None
    assert middle.position_enu_m == pytest.approx((5.0, -2.0, 55.0))
    assert yaw_of(middle) == pytest.approx(45.0, abs=1e-9)
    quarter = history.at(0.05)
    assert quarter is not None
    assert quarter.position_enu_m == pytest.approx((2.5, -1.0, 52.5))
    assert yaw_of(quarter) == pytest.approx(22.5, abs=1e-9)


def test_slerp_takes_the_short_way_and_stays_unit():
    # yaw 170 -> -170 deg: the short way passes 180, not 0
    q0 = VehiclePose.from_euler((0, 0, 0), yaw_deg=170.0).orientation_wxyz
    q1 = VehiclePose.from_euler((0, 0, 0), yaw_deg=-170.0).orientation_wxyz
    mid = slerp(q0, q1, 0.5)
    assert abs(yaw_of(VehiclePose((0, 0, 0), mid))) == pytest.approx(180.0, abs=1e-9)
    assert float(np.linalg.norm(mid)) == pytest.approx(1.0)
    # the negated quaternion is the same rotation and must not flip the result
    neg = tuple(-v for v in q1)
    assert yaw_of(VehiclePose((0, 0, 0), slerp(q0, neg, 0.5))) == pytest.approx(
        yaw_of(VehiclePose((0, 0, 0), mid)), abs=1e-9
    )
    # nearly equal quaternions: the end points come back
    assert slerp(q0, q0, 0.3) == pytest.approx(q0)


def test_roll_and_pitch_are_slerped_too():
    history = PoseHistory()
    history.add(1.0, VehiclePose.from_euler((0, 0, 10), roll_deg=0.0))
    history.add(1.1, VehiclePose.from_euler((0, 0, 10), roll_deg=20.0))
    middle = history.at(1.05)
    expected = VehiclePose.from_euler((0, 0, 10), roll_deg=10.0)
    assert middle is not None
    assert np.allclose(middle.map_from_body(), expected.map_from_body(), atol=1e-9)


def test_out_of_order_poses_are_inserted_in_time_order():
    history = PoseHistory()
    history.add(0.2, VehiclePose((20.0, 0.0, 10.0)))
    history.add(0.0, VehiclePose((0.0, 0.0, 10.0)))
    history.add(0.1, VehiclePose((10.0, 0.0, 10.0)))
    assert len(history) == 3
    assert history.oldest_stamp == 0.0 and history.newest_stamp == 0.2
    pose = history.at(0.15)
    assert pose is not None and pose.position_enu_m == pytest.approx((15.0, 0.0, 10.0))


def test_duplicate_stamp_replaces_the_pose():
    history = PoseHistory()
    history.add(5.0, VehiclePose((1.0, 1.0, 1.0)))
    history.add(5.0, VehiclePose((2.0, 2.0, 2.0)))
    assert len(history) == 1
    assert history.at(5.0) == VehiclePose((2.0, 2.0, 2.0))


def test_refusals_say_why():
    history = PoseHistory(span_s=2.0, max_gap_s=0.25, newest_tolerance_s=0.05)
    assert history.at(1.0) is None
    assert 'no pose' in history.why(1.0)
    history.add(1.0, VehiclePose((0.0, 0.0, 10.0)))
    history.add(1.5, VehiclePose((5.0, 0.0, 10.0)))  # 0.5 s gap > max_gap_s
    assert history.at(0.9) is None and 'older' in history.why(0.9)
    assert history.at(1.25) is None and 'gap' in history.why(1.25)
    assert history.at(1.6) is None and 'newer' in history.why(1.6)
    # within the tolerance after the newest pose: the newest pose, unchanged
    assert history.at(1.54) == VehiclePose((5.0, 0.0, 10.0))
    assert history.at(math.nan) is None and 'finite' in history.why(math.nan)


def test_old_poses_are_evicted_by_span():
    history = PoseHistory(span_s=1.0)
    for i in range(30):
        history.add(i * 0.1, VehiclePose((float(i), 0.0, 10.0)))
    newest = history.newest_stamp
    oldest = history.oldest_stamp
    assert newest == pytest.approx(2.9)
    assert oldest is not None and newest - oldest <= 1.0 + 1e-9
    assert len(history) in (10, 11)
    assert history.at(1.0) is None and 'older' in history.why(1.0)
    # a pose far older than the span is dropped at once
    history.add(-100.0, VehiclePose((0.0, 0.0, 10.0)))
    assert history.oldest_stamp == oldest


def test_nan_is_rejected():
    history = PoseHistory()
    with pytest.raises(PoseHistoryError, match='finite'):
        history.add(math.nan, VehiclePose((0.0, 0.0, 1.0)))
    with pytest.raises(GeoreferenceError):
        VehiclePose((math.nan, 0.0, 1.0))
    with pytest.raises(GeoreferenceError):
        VehiclePose((0.0, 0.0, 1.0), (math.nan, 0.0, 0.0, 1.0))
    assert len(history) == 0


@pytest.mark.parametrize(
    'kwargs',
    [{'span_s': 0.0}, {'span_s': -1.0}, {'max_gap_s': math.inf}, {'newest_tolerance_s': -0.1}],
)
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(PoseHistoryError):
        PoseHistory(**kwargs)
