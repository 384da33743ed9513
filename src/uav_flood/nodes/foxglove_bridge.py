"""foxglove_bridge: the live view for browsers (docs/recording.md).

Serves the mission's topics over the Foxglove SDK's WebSocket server as ROS 2 channels
(schema encoding 'ros2msg', message encoding 'cdr'): Foxglove (app.foxglove.dev or the desktop
app, "Open connection" ws://HOST:PORT) draws /flood_map, markers, paths, poses and camera
images with no plugin. Topics are discovered and subscribed like the recorder's, raw (no
decode); where tf2_msgs is not installed, /tf and /tf_static are made from the vehicles' pose and
camera/mount topics (recording.tf), so the 3D panel places drones and camera frustums. The last
message of each latched (transient local) topic and of /tf_static is sent again to a client
when it subscribes, as ROS delivers it to a late subscriber: a browser opened mid-mission still
gets the map, the plans and the camera mounts. Start it by running this node (or adding it to a
graph) when a live view is wanted.

The SDK server listens on loopback only; `host`:`port` is a small proxy in front of it
(uav_flood.recording.ws_subprotocol) that also accepts clients offering the older subprotocol
name ``foxglove.websocket.v1`` (Lichtblick before its late-2025 releases, @foxglove/ws-protocol),
not only the SDK's ``foxglove.sdk.v1``.
"""

from __future__ import annotations

import threading
from typing import Any

import foxglove
from foxglove.websocket import ChannelView, Client, ServerListener
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rclpy.topic_endpoint_info import TopicEndpointInfo

from uav_flood.core.errors import ConfigError
from uav_flood.nodes import names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.spin import spin_node
from uav_flood.recording.discovery import qos_for_publishers, TopicDiscovery
from uav_flood.recording.schema import message_definition
from uav_flood.recording.tf import TF_TYPE
from uav_flood.recording.ws_subprotocol import ProxyError, SubprotocolProxy

#: name: (default, description). Defaults equal config/foxglove_bridge.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'host': ('127.0.0.1', "WebSocket address; '0.0.0.0' serves other machines too."),
    'port': (8765, 'WebSocket port (0..65535; 0 = any free port).'),
    'topics': ([''], "Explicit topic names to serve; [''] = every discovered topic."),
    'topic_regex': ('', "Serve only topics matching this regular expression ('' = all)."),
    'exclude_regex': ('^/rosout$|^/parameter_events$', 'Never serve topics matching this.'),
    'discovery_period_s': (1.0, 'How often to look for new topics (s).'),
}


class _ReplayLatched(ServerListener):
    """Sends a latched topic's last message to a client when it subscribes (late joiners)."""

    def __init__(self) -> None:
        self.bridge: FoxgloveBridgeNode | None = None

    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        if self.bridge is not None:
            self.bridge.replay_latched(channel.topic)


class FoxgloveBridgeNode(Node):
    """Forwards discovered topics to a Foxglove WebSocket server as ros2msg/cdr channels."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters, start the WebSocket server and discover topics."""
        super().__init__('foxglove_bridge', **kwargs)
        declare_read_only(self, PARAMETERS)
        port = int(self.get_parameter('port').value)
        if not 0 <= port <= 65535:
            raise ConfigError(f'port must be 0..65535, got {port}')
        period = float(self.get_parameter('discovery_period_s').value)
        if not period > 0.0:
            raise ConfigError(f'discovery_period_s must be positive, got {period}')
        # One context per node: channels of two bridges in one process stay apart.
        self._foxglove_context = foxglove.Context()
        self._channels: dict[str, foxglove.Channel] = {}
        # Transient-local topics (maps, plans, /tf_static): the last message, sent again to each
        # client that subscribes later, as ROS would deliver it to a late subscriber.
        self._latched: dict[str, tuple[bytes, int] | None] = {names.TF_STATIC.name: None}
        self._latched_lock = threading.Lock()
        listener = _ReplayLatched()
        host = str(self.get_parameter('host').value)
        try:
            self.server = foxglove.start_server(
                name='uav_flood',
                host='127.0.0.1',
                port=0,
                context=self._foxglove_context,
                server_listener=listener,
            )
        except Exception as exc:  # the SDK raises its own error types for bind failures
            raise ConfigError(f'cannot start the Foxglove server: {exc}') from exc
        try:
            self.proxy = SubprotocolProxy(host, port, self.server.port)
        except ProxyError as exc:
            self.server.stop()
            raise ConfigError(f'cannot serve the Foxglove live view: {exc}') from None
        self.discovery = TopicDiscovery(
            self,
            list(self.get_parameter('topics').value),
            str(self.get_parameter('topic_regex').value),
            str(self.get_parameter('exclude_regex').value),
            self._new_topic,
            self._forward,
            self._forward_transforms,
        )
        self.get_logger().info(
            f'Foxglove live view on ws://{host}:{self.proxy.port} '
            '(subprotocols foxglove.sdk.v1 and foxglove.websocket.v1)'
        )
        listener.bridge = self
        self.discovery.poll()
        self.create_timer(period, self.discovery.poll)

    def _open_channel(self, topic: str, type_name: str, definition: str) -> None:
        schema = foxglove.Schema(name=type_name, encoding='ros2msg', data=definition.encode())
        self._channels[topic] = foxglove.Channel(
            topic, schema=schema, message_encoding='cdr', context=self._foxglove_context
        )

    def _new_topic(self, topic: str, type_name: str, infos: list[TopicEndpointInfo]) -> bool:
        self._open_channel(topic, type_name, message_definition(type_name))
        if qos_for_publishers(infos).durability == DurabilityPolicy.TRANSIENT_LOCAL:
            with self._latched_lock:
                self._latched.setdefault(topic, None)
        return True

    def _forward(self, topic: str, data: bytes, now_ns: int) -> None:
        with self._latched_lock:
            if topic in self._latched:
                self._latched[topic] = (data, now_ns)
        self._channels[topic].log(data, log_time=now_ns)

    def replay_latched(self, topic: str) -> None:
        """Send the last message of a latched topic again (a client has just subscribed)."""
        with self._latched_lock:
            last = self._latched.get(topic)
            channel = self._channels.get(topic)
        if last is not None and channel is not None:
            channel.log(last[0], log_time=last[1])

    def _forward_transforms(self, topic: str, data: bytes, now_ns: int) -> None:
        if topic not in self._channels:
            self._open_channel(topic, TF_TYPE, self.discovery.tf.definition)
        self._forward(topic, data, now_ns)

    def destroy_node(self) -> None:
        """Stop the proxy and the WebSocket server, then destroy the node."""
        self.proxy.stop()
        self.server.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the bridge until Ctrl-C or SIGTERM."""
    spin_node('foxglove_bridge', FoxgloveBridgeNode, args)
