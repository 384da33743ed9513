"""recording.tf: TFMessages from pose and camera mount bytes; what it skips (no graph)."""

from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message

from uav_flood.core.georef import CameraMount
from uav_flood.nodes.conversions import mount_transform, pose_stamped
from uav_flood.recording.tf import TfSynthesizer


def test_bad_bytes_and_foreign_topics_make_no_transform():
    tf = TfSynthesizer(enabled=True)
    assert tf.feed('/uav0/pose', b'\x00\x01\x00\x00\x07') is None  # truncated CDR
    assert tf.feed('/uav0/camera/mount', b'') is None
    assert tf.errors == 2
    pose = serialize_message(pose_stamped((1.0, 2.0, 3.0), None, Time(sec=1)))
    assert tf.feed('/uav0/status', pose) is None  # not a pose or mount topic
    assert tf.feed('/a/b/pose', pose) is None  # not a vehicle's own pose
    assert not tf.wants('/uav0/status') and tf.wants('/uav0/pose')
    out = tf.feed('/uav0/pose', pose)
    assert out is not None and out.topic == '/tf' and out.stamp_ns == 1_000_000_000


def test_disabled_where_tf2_msgs_publishes_itself():
    tf = TfSynthesizer(enabled=False)
    mount = serialize_message(mount_transform(CameraMount(), '/uav0', Time()))
    assert not tf.wants('/uav0/camera/mount')
    assert tf.feed('/uav0/camera/mount', mount) is None and tf.errors == 0
