"""TF for recordings and the live view where tf2_msgs is not installed (no rclpy nodes).

The ROS 2 PyPI wheels have no tf2_msgs, so the nodes cannot publish /tf there. The transforms
still reach every recording and every Foxglove client: the recorder and the Foxglove bridge feed
each message they receive on a vehicle's `pose` (geometry_msgs/PoseStamped in map) and
`camera/mount` (the static base_link -> camera_optical transform, geometry_msgs/
TransformStamped) to a TfSynthesizer, which returns tf2_msgs/msg/TFMessage messages for /tf
(map -> uavN/base_link, one per pose, stamped as the pose) and /tf_static (every vehicle's camera
mount so far, as tf2_ros's static broadcaster sends them). They are serialised as CDR with
mcap_ros2's dynamic serializer from the message definition alone (recording/schema.py bundles
TFMessage's). Where tf2_msgs is installed, the nodes publish the real /tf and /tf_static
(conversions.TransformBroadcaster) and those topics are recorded like any other: nothing is
synthesised, so no transform is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from geometry_msgs.msg import PoseStamped, TransformStamped
from mcap_ros2._dynamic import serialize_dynamic
from rclpy.serialization import deserialize_message

from uav_flood.nodes import names
from uav_flood.nodes.conversions import pose_transform, tf_message_type
from uav_flood.recording.schema import message_definition

__all__ = ['TF_TYPE', 'TfSynthesizer', 'TransformsOut']

TF_TYPE = 'tf2_msgs/msg/TFMessage'
# A vehicle's pose and camera mount topics: /<namespace>/pose, /<namespace>/camera/mount.
_POSE = re.compile(rf'^(/[^/]+)/{re.escape(names.POSE.name)}$')
_MOUNT = re.compile(rf'^(/[^/]+)/{re.escape(names.CAMERA_MOUNT.name)}$')


@dataclass(frozen=True)
class TransformsOut:
    """One TFMessage to write: topic ('/tf' or '/tf_static'), CDR bytes, stamp (ns)."""

    topic: str
    data: bytes
    stamp_ns: int


class TfSynthesizer:
    """Turns raw pose and camera mount messages into /tf and /tf_static TFMessages (CDR).

    :param enabled: None (default): only where tf2_msgs is not installed (see the module text).
    """

    def __init__(self, enabled: bool | None = None) -> None:
        """Build the TFMessage encoder from its definition."""
        self.enabled = tf_message_type() is None if enabled is None else enabled
        self.definition = message_definition(TF_TYPE)
        self._encode = serialize_dynamic(TF_TYPE, self.definition)[TF_TYPE]
        self._static: dict[str, TransformStamped] = {}
        self.errors = 0

    def wants(self, topic: str) -> bool:
        """Return whether messages on `topic` make transforms (when enabled)."""
        return self.enabled and bool(_POSE.match(topic) or _MOUNT.match(topic))

    def encode(self, transforms: list[TransformStamped]) -> bytes:
        """Return the CDR bytes of a TFMessage holding `transforms`."""
        data: bytes = self._encode({'transforms': transforms})
        return data

    def feed(self, topic: str, data: bytes) -> TransformsOut | None:
        """Return the TFMessage that a message on `topic` (CDR bytes) makes, if any.

        A message that does not deserialise, or a mount between the wrong frames, is counted in
        `errors` and skipped.
        """
        if not self.enabled:
            return None
        pose = _POSE.match(topic)
        if pose:
            try:
                msg: Any = deserialize_message(data, PoseStamped)
            except Exception:  # noqa: BLE001  (rclpy raises bare exceptions for bad CDR)
                self.errors += 1
                return None
            child = names.frame_id(pose.group(1), names.BASE_FRAME)
            return TransformsOut(
                names.TF.name, self.encode([pose_transform(msg, child)]), _stamp_ns(msg)
            )
        mount = _MOUNT.match(topic)
        if mount:
            try:
                msg = deserialize_message(data, TransformStamped)
            except Exception:  # noqa: BLE001
                self.errors += 1
                return None
            namespace = mount.group(1)
            if msg.child_frame_id != names.frame_id(namespace, names.OPTICAL_FRAME):
                self.errors += 1
                return None
            self._static[msg.child_frame_id] = msg
            return TransformsOut(
                names.TF_STATIC.name, self.encode(list(self._static.values())), _stamp_ns(msg)
            )
        return None


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
