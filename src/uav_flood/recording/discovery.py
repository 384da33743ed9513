"""Topic discovery for the nodes that follow every topic raw (recorder, foxglove_bridge).

Finds the topics a node should follow (filters by name and regular expression), subscribes to
each once with the QoS its publishers offer (rosbag2's rule), and passes the CDR bytes on.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
import re
import time
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.topic_endpoint_info import TopicEndpointInfo

from uav_flood.core.errors import ConfigError
from uav_flood.nodes import names
from uav_flood.recording.schema import SchemaError
from uav_flood.recording.tf import TfSynthesizer

#: Queue depth of every recording subscription: a recorder should not drop a burst.
RECORD_DEPTH = 100


def import_message_type(type_name: str) -> Any:
    """Return the Python class of 'pkg/msg/Type'.

    :raises ImportError: when the package is not installed.
    """
    package, kind, name = type_name.split('/')
    module = importlib.import_module(f'{package}.{kind}')
    return getattr(module, name)


def qos_for_publishers(infos: list[TopicEndpointInfo]) -> QoSProfile:
    """Return the subscription QoS that matches every publisher of a topic (rosbag2's rule).

    :param infos: the publishers, from get_publishers_info_by_topic.
    """
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    latched = bool(infos) and all(
        i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=RECORD_DEPTH,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def offered_qos_yaml(infos: list[TopicEndpointInfo] | list[QoSProfile]) -> str:
    """Return the publishers' QoS as rosbag2's 'offered_qos_profiles' channel metadata (YAML).

    :param infos: the publishers (get_publishers_info_by_topic) or their QoS profiles.
    """
    lines = []
    for info in infos:
        qos = info if isinstance(info, QoSProfile) else info.qos_profile
        lines += [
            f'- history: {int(qos.history)}',
            f'  depth: {int(qos.depth)}',
            f'  reliability: {int(qos.reliability)}',
            f'  durability: {int(qos.durability)}',
            f'  liveliness: {int(qos.liveliness)}',
            '  avoid_ros_namespace_conventions: false',
        ]
    return '\n'.join(lines) + '\n' if lines else '[]\n'


class TopicDiscovery:
    """Finds the topics a node should follow and subscribes to each once, raw (CDR bytes).

    Shared by the recorder and the Foxglove bridge.

    :param node: the node that subscribes.
    :param topics: explicit topic names (empty: every discovered topic).
    :param topic_regex: only topics matching this (empty: all).
    :param exclude_regex: never topics matching this (empty: none).
    :param on_new_topic: called with (topic, type name, publisher infos) before subscribing;
        returns False to skip the topic.
    :param on_message: called with (topic, CDR bytes, receive time ns since the epoch).

    Where tf2_msgs is missing, the messages of vehicles' pose and camera/mount topics also make
    /tf and /tf_static TFMessages (recording.tf.TfSynthesizer), passed to `on_transforms` with
    the same arguments when those topics pass the filters.
    """

    def __init__(
        self,
        node: Node,
        topics: list[str],
        topic_regex: str,
        exclude_regex: str,
        on_new_topic: Callable[[str, str, list[TopicEndpointInfo]], bool],
        on_message: Callable[[str, bytes, int], None],
        on_transforms: Callable[[str, bytes, int], None] | None = None,
    ) -> None:
        """Compile the filters; raise ConfigError for a bad regular expression."""
        self._node = node
        self._explicit = {t for t in topics if t}
        try:
            self._include = re.compile(topic_regex) if topic_regex else None
            self._exclude = re.compile(exclude_regex) if exclude_regex else None
        except re.error as exc:
            raise ConfigError(f'bad topic regular expression: {exc}') from exc
        self._on_new_topic = on_new_topic
        self._on_message = on_message
        self._on_transforms = on_transforms
        self.tf = TfSynthesizer()
        self.tf_topics = {
            t.name for t in (names.TF, names.TF_STATIC) if self.tf.enabled and self.wanted(t.name)
        }
        self.subscribed: dict[str, str] = {}
        self._skipped: set[str] = set()

    def wanted(self, topic: str) -> bool:
        """Return whether `topic` passes the filters."""
        if self._explicit and topic not in self._explicit:
            return False
        if self._include is not None and not self._include.search(topic):
            return False
        return not (self._exclude is not None and self._exclude.search(topic))

    def poll(self) -> None:
        """Subscribe to every new wanted topic that has a publisher."""
        for topic, types in self._node.get_topic_names_and_types():
            if topic in self.subscribed or topic in self._skipped or not self.wanted(topic):
                continue
            infos = [
                i
                for i in self._node.get_publishers_info_by_topic(topic)
                if i.node_name != self._node.get_name()
                or i.node_namespace != self._node.get_namespace()
            ]
            if not infos:
                continue  # only subscribers so far: its QoS is unknown until a publisher comes
            type_name = types[0]
            try:
                msg_type = import_message_type(type_name)
                if not self._on_new_topic(topic, type_name, infos):
                    raise SchemaError('refused')
            except (ImportError, AttributeError, ValueError, SchemaError) as exc:
                self._skipped.add(topic)
                self._node.get_logger().warning(f'not following {topic} ({type_name}): {exc}')
                continue
            self._node.create_subscription(
                msg_type,
                topic,
                lambda data, t=topic: self._receive(t, data),
                qos_for_publishers(infos),
                raw=True,
            )
            self.subscribed[topic] = type_name
            self._node.get_logger().info(f'following {topic} ({type_name})')

    def _receive(self, topic: str, data: bytes) -> None:
        now_ns = time.time_ns()
        self._on_message(topic, data, now_ns)
        if self._on_transforms is None or not self.tf.wants(topic):
            return
        out = self.tf.feed(topic, data)
        if out is not None and out.topic in self.tf_topics:
            self._on_transforms(out.topic, out.data, now_ns)
