"""nodes/conversions.py: transforms, footprints and the TF broadcaster's rules (no graph)."""

from dataclasses import dataclass, field
from typing import Any

from builtin_interfaces.msg import Time
import numpy as np
import pytest

from uav_flood.core.georef import CameraMount, GeoreferenceError
from uav_flood.nodes import names
from uav_flood.nodes.conversions import (
    camera_mount,
    mount_transform,
    polygon_stamped,
    pose_stamped,
    pose_transform,
    TransformBroadcaster,
)


def test_mount_transform_names_the_vehicle_frames_and_round_trips():
    mount = CameraMount(pitch_deg=-30.0, yaw_deg=90.0, roll_deg=2.0, offset_flu_m=(0.2, 0, -0.1))
    msg = mount_transform(mount, '/uav3', Time(sec=4))
    assert (msg.header.frame_id, msg.child_frame_id) == ('uav3/base_link', 'uav3/camera_optical')
    assert msg.header.stamp.sec == 4
    back = camera_mount(msg)
    np.testing.assert_allclose(back.body_from_optical(), mount.body_from_optical(), atol=1e-12)
    assert back.offset_flu_m == (0.2, 0.0, -0.1)
    msg.transform.rotation.w = msg.transform.rotation.x = 0.0
    msg.transform.rotation.y = msg.transform.rotation.z = 0.0
    with pytest.raises(GeoreferenceError, match='zero'):
        camera_mount(msg)


def test_pose_transform_is_the_pose_in_map():
    pose = pose_stamped((1.0, -2.0, 30.0), None, Time(sec=9, nanosec=10))
    msg = pose_transform(pose, 'uav0/base_link')
    assert (msg.header.frame_id, msg.child_frame_id, msg.header.stamp.nanosec) == (
        names.MAP_FRAME,
        'uav0/base_link',
        10,
    )
    t = msg.transform.translation
    assert (t.x, t.y, t.z, msg.transform.rotation.w) == (1.0, -2.0, 30.0, 1.0)


def test_polygon_stamped_takes_2d_and_3d_points_and_none():
    msg = polygon_stamped([[1.0, 2.0], [3.0, 4.0], [5.0, 1.0]], 'map', Time(sec=1))
    assert [(p.x, p.y, p.z) for p in msg.polygon.points] == [(1, 2, 0), (3, 4, 0), (5, 1, 0)]
    msg = polygon_stamped(np.array([[1.0, 2.0, 7.0]]), 'map', Time())
    assert msg.polygon.points[0].z == 7.0
    assert polygon_stamped(np.zeros((0, 2)), 'map', Time()).polygon.points == []


@dataclass
class FakePublisher:
    sent: list[Any] = field(default_factory=list)

    def publish(self, msg: Any) -> None:
        self.sent.append(msg)


@dataclass
class FakeNode:
    """Stands in for a node where tf2_msgs exists: records create_publisher's arguments."""

    created: list[tuple[Any, str, Any]] = field(default_factory=list)
    publisher: FakePublisher = field(default_factory=FakePublisher)

    def create_publisher(self, kind: Any, topic: str, qos: Any) -> FakePublisher:
        self.created.append((kind, topic, qos))
        return self.publisher


@dataclass
class FakeTFMessage:
    transforms: list[Any]


def test_static_broadcaster_resends_every_child_as_tf2_ros_does():
    node = FakeNode()
    tf = TransformBroadcaster(node, static=True, message_type=FakeTFMessage)
    assert tf.available and node.created == [(FakeTFMessage, '/tf_static', names.TF_STATIC.qos)]
    first = mount_transform(CameraMount(), '/uav0', Time())
    second = mount_transform(CameraMount(pitch_deg=-45.0), '/uav1', Time())
    tf.send([first])
    tf.send([second])
    again = mount_transform(CameraMount(pitch_deg=-60.0), '/uav0', Time())
    tf.send([again])  # uav0's mount changed: replaced, not added
    children = [[t.child_frame_id for t in m.transforms] for m in node.publisher.sent]
    assert children == [
        ['uav0/camera_optical'],
        ['uav0/camera_optical', 'uav1/camera_optical'],
        ['uav0/camera_optical', 'uav1/camera_optical'],
    ]
    assert node.publisher.sent[-1].transforms[0] is again


def test_dynamic_broadcaster_sends_what_it_is_given():
    node = FakeNode()
    tf = TransformBroadcaster(node, message_type=FakeTFMessage)
    assert node.created[0][1:] == ('/tf', names.TF.qos)
    pose = pose_transform(pose_stamped((0.0, 0.0, 1.0), None, Time()), 'uav0/base_link')
    tf.send([pose])
    tf.send([pose])
    assert [len(m.transforms) for m in node.publisher.sent] == [1, 1]


def test_without_tf2_msgs_nothing_is_created_or_sent(monkeypatch):
    import uav_flood.nodes.conversions as conversions

    monkeypatch.setattr(conversions, 'tf_message_type', lambda: None)
    node = FakeNode()
    tf = conversions.TransformBroadcaster(node, static=True)
    assert not tf.available and node.created == []
    tf.send([mount_transform(CameraMount(), '/uav0', Time())])
    assert node.publisher.sent == []


def test_a_class_observation_round_trips_and_bad_messages_are_refused():
    from builtin_interfaces.msg import Time

    from uav_flood.core.class_map import ClassMapError, ClassObservation, NO_CLASS
    from uav_flood.nodes.conversions import class_observation_msg, class_observation_of

    labels = np.array([[0, 9, NO_CLASS], [5, NO_CLASS, 3]], np.int8)
    confidence = np.array([[255, 26, 0], [128, 0, 200]], np.uint8)
    msg = class_observation_msg(ClassObservation(labels, confidence), Time(sec=3, nanosec=7))
    assert (msg.width, msg.height, msg.step, msg.encoding) == (3, 2, 6, '8UC2')
    assert msg.header.frame_id == 'map' and msg.header.stamp == Time(sec=3, nanosec=7)
    assert bytes(msg.data)[:6] == bytes([0, 255, 9, 26, 255, 0])  # row 0: class, confidence
    back = class_observation_of(msg)
    np.testing.assert_array_equal(back.labels, labels)
    np.testing.assert_array_equal(back.confidence, confidence)
    for change, message in (
        ({'encoding': 'mono8'}, 'encoding'),
        ({'step': 5}, 'holds'),
        ({'data': bytes(msg.data)[:-2]}, 'holds'),
        ({'data': bytes([12]) + bytes(msg.data)[1:]}, 'labels must be'),
        ({'data': bytes([200]) + bytes(msg.data)[1:]}, 'class byte 200'),
    ):
        bad = class_observation_msg(ClassObservation(labels, confidence), Time())
        for key, value in change.items():
            setattr(bad, key, value)
        with pytest.raises(ClassMapError, match=message):
            class_observation_of(bad)
