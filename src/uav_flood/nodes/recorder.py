"""recorder: writes every topic of a mission to one MCAP file (ROS 2 encodings, docs/recording.md).

Topics are discovered while the mission runs (get_topic_names_and_types every
`discovery_period_s`), filtered by `topics` / `topic_regex` / `exclude_regex`, and subscribed
raw, so each message is written as the CDR bytes that arrived with no decode. Each subscription
takes the QoS its publishers offer, as rosbag2 does: best effort if any publisher is best effort
(sensor streams), transient local if every publisher is (latched maps and plans). Parameters of
the nodes in `parameter_nodes` (the flood_mapper's fusion configuration) are written as MCAP
metadata so `uav-flood replay` can rebuild the map with them. Where tf2_msgs is not installed,
/tf and /tf_static (tf2_msgs/msg/TFMessage) are written from the vehicles' pose and camera/mount
topics (recording.tf), so every recording carries the TF tree map -> uavN/base_link ->
uavN/camera_optical.
"""

from __future__ import annotations

from collections.abc import Callable
import datetime
import importlib
import json
import re
import time
from typing import Any

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.task import Future
from rclpy.topic_endpoint_info import TopicEndpointInfo

from uav_flood.core.errors import ConfigError
from uav_flood.nodes import names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.spin import spin_node
from uav_flood.recording.mcap_io import McapRecordingWriter
from uav_flood.recording.replay import PARAMETERS_PREFIX
from uav_flood.recording.schema import SchemaError
from uav_flood.recording.tf import TF_TYPE, TfSynthesizer

#: name: (default, description). Defaults equal config/recorder.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'output_file': ('', "The .mcap file; '' = recordings/mission-<UTC time>.mcap here."),
    'topics': ([''], "Explicit topic names to record; [''] = every discovered topic."),
    'topic_regex': ('', "Record only topics matching this regular expression ('' = all)."),
    'exclude_regex': ('^/rosout$', "Never record topics matching this ('' = none)."),
    'discovery_period_s': (1.0, 'How often to look for new topics and nodes (s).'),
    'parameter_nodes': (
        ['/flood_mapper'],
        'Nodes whose parameters are written as MCAP metadata (replay reads the mapper).',
    ),
}
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


def parameter_value(value: Any) -> Any:
    """Return the Python value of an rcl_interfaces/ParameterValue (None when not set)."""
    kind = value.type
    fields = {
        ParameterType.PARAMETER_BOOL: 'bool_value',
        ParameterType.PARAMETER_INTEGER: 'integer_value',
        ParameterType.PARAMETER_DOUBLE: 'double_value',
        ParameterType.PARAMETER_STRING: 'string_value',
        ParameterType.PARAMETER_BYTE_ARRAY: 'byte_array_value',
        ParameterType.PARAMETER_BOOL_ARRAY: 'bool_array_value',
        ParameterType.PARAMETER_INTEGER_ARRAY: 'integer_array_value',
        ParameterType.PARAMETER_DOUBLE_ARRAY: 'double_array_value',
        ParameterType.PARAMETER_STRING_ARRAY: 'string_array_value',
    }
    name = fields.get(kind)
    if name is None:
        return None
    result = getattr(value, name)
    return result if isinstance(result, bool | int | float | str) else list(result)


class RecorderNode(Node):
    """Records the mission's topics into one MCAP file until shut down."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters, open the MCAP file and start discovering topics."""
        super().__init__('recorder', **kwargs)
        declare_read_only(self, PARAMETERS)
        out = str(self.get_parameter('output_file').value)
        if not out:
            stamp = datetime.datetime.now(datetime.UTC).strftime('%Y%m%dT%H%M%SZ')
            out = f'recordings/mission-{stamp}.mcap'
        period = float(self.get_parameter('discovery_period_s').value)
        if not period > 0.0:
            raise ConfigError(f'discovery_period_s must be positive, got {period}')
        self._parameter_nodes = [
            n if n.startswith('/') else '/' + n
            for n in self.get_parameter('parameter_nodes').value
            if n
        ]
        self.discovery = TopicDiscovery(
            self,
            list(self.get_parameter('topics').value),
            str(self.get_parameter('topic_regex').value),
            str(self.get_parameter('exclude_regex').value),
            self._new_topic,
            self._record,
            self._record_transforms,
        )
        try:
            self.writer = McapRecordingWriter(out)
        except OSError as exc:
            raise ConfigError(f'cannot create the recording {out}: {exc}') from exc
        self.writer.add_metadata(
            'uav_flood', {'started_utc': datetime.datetime.now(datetime.UTC).isoformat()}
        )
        self._parameters_pending: dict[str, Future | None] = dict.fromkeys(self._parameter_nodes)
        self.parameters_recorded: list[str] = []
        self.get_logger().info(f'recording to {self.writer.path}')
        self.discovery.poll()
        self.create_timer(period, self._discover)

    def _new_topic(self, topic: str, type_name: str, infos: list[TopicEndpointInfo]) -> bool:
        self.writer.add_channel(
            topic, type_name, {'offered_qos_profiles': offered_qos_yaml(infos)}
        )
        return True

    def _record(self, topic: str, data: bytes, now_ns: int) -> None:
        self.writer.write(topic, data, now_ns, now_ns)

    def _record_transforms(self, topic: str, data: bytes, now_ns: int) -> None:
        if not self.writer.has_channel(topic):
            qos = names.TF_STATIC.qos if topic == names.TF_STATIC.name else names.TF.qos
            self.writer.add_channel(
                topic, TF_TYPE, {'offered_qos_profiles': offered_qos_yaml([qos])}
            )
            self.get_logger().info(
                f"writing {topic} ({TF_TYPE}) from the vehicles' pose and camera/mount topics "
                '(tf2_msgs is not installed)'
            )
        self.writer.write(topic, data, now_ns, now_ns)

    def _discover(self) -> None:
        self.discovery.poll()
        if any(future is None for future in self._parameters_pending.values()):
            names = {
                (ns.rstrip('/') + '/' + name) for name, ns in self.get_node_names_and_namespaces()
            }
            for target, future in list(self._parameters_pending.items()):
                if future is None and target in names:
                    self._request_parameters(target)

    def _request_parameters(self, target: str) -> None:
        lister: Any = self.create_client(ListParameters, f'{target}/list_parameters')
        getter: Any = self.create_client(GetParameters, f'{target}/get_parameters')
        if not (lister.service_is_ready() and getter.service_is_ready()):
            self.destroy_client(lister)
            self.destroy_client(getter)
            return  # try again at the next discovery
        listed = lister.call_async(ListParameters.Request())
        self._parameters_pending[target] = listed

        def on_list(done: Future) -> None:
            names = list(done.result().result.names)  # type: ignore[union-attr]
            got = getter.call_async(GetParameters.Request(names=names))
            got.add_done_callback(lambda g: self._write_parameters(target, names, g))

        listed.add_done_callback(on_list)

    def _write_parameters(self, target: str, names: list[str], done: Future) -> None:
        values = done.result().values  # type: ignore[union-attr]
        record = {n: json.dumps(parameter_value(v)) for n, v in zip(names, values, strict=False)}
        self.writer.add_metadata(PARAMETERS_PREFIX + target, record)
        self.parameters_recorded.append(target)
        self.get_logger().info(f'recorded {len(record)} parameters of {target}')

    def destroy_node(self) -> None:
        """Close the recording (summary and footer), then destroy the node."""
        self.writer.close()
        self.get_logger().info(
            f'closed {self.writer.path}: {self.writer.message_count} messages on '
            f'{len(self.discovery.subscribed)} topics'
        )
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the recorder until Ctrl-C or SIGTERM; the file is closed on the way out."""
    spin_node('recorder', RecorderNode, args)
