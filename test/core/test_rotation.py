"""core.rotation: the one quaternion type and the Euler conversion every layer shares."""

import math

import pytest

from uav_flood.core.georef import VehiclePose
from uav_flood.core.rotation import (
    euler_from_quaternion,
    multiply,
    normalized,
    Quaternion,
    quaternion_from_euler,
)


def test_yaw_about_z_and_its_round_trip():
    q = quaternion_from_euler(0.0, 0.0, math.pi / 2)
    assert q.wxyz == pytest.approx((math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)))
    for angles in [(0.1, -0.2, 0.3), (-0.5, 0.4, -3.0), (0.0, 0.0, 0.0)]:
        assert euler_from_quaternion(quaternion_from_euler(*angles)) == pytest.approx(angles)


def test_products_and_normalisation():
    yaw = quaternion_from_euler(0.0, 0.0, 0.3)
    assert euler_from_quaternion(multiply(yaw, yaw))[2] == pytest.approx(0.6)
    assert normalized(Quaternion(-2.0, 0.0, 0.0, 0.0)) == Quaternion(1.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match='not a rotation'):
        normalized(Quaternion(0.0, 0.0, 0.0, 0.0))


def test_the_georeferencing_pose_uses_the_same_convention():
    pose = VehiclePose.from_euler((1.0, 2.0, 3.0), roll_deg=5.0, pitch_deg=-10.0, yaw_deg=40.0)
    expected = quaternion_from_euler(*(math.radians(v) for v in (5.0, -10.0, 40.0)))
    assert pose.orientation_wxyz == pytest.approx(expected.wxyz)
