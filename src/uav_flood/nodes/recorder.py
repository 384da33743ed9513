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

import datetime
import json
from typing import Any

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.node import Node
from rclpy.task import Future
from rclpy.topic_endpoint_info import TopicEndpointInfo

from uav_flood.core.errors import ConfigError
from uav_flood.nodes import names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.spin import spin_node
from uav_flood.recording.discovery import offered_qos_yaml, TopicDiscovery
from uav_flood.recording.mcap_io import McapRecordingWriter
from uav_flood.recording.replay import PARAMETERS_PREFIX
from uav_flood.recording.tf import TF_TYPE

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
