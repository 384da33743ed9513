"""foxglove_bridge under real rclpy: a raw WebSocket client sees /flood_map advertised and sent,
and the Foxglove app's own client library (Node.js) decodes it under both subprotocol names."""

import base64
import contextlib
import json
import os
import socket
import struct
import subprocess

from nav_msgs.msg import OccupancyGrid
import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message

import foxglove_parsers
from uav_flood.nodes.foxglove_bridge import FoxgloveBridgeNode
from uav_flood.nodes.names import LATCHED_QOS
from uav_flood.testing import spin_until


class WsClient:
    """A minimal RFC 6455 client: handshake, masked text frames out, frames in."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5.0)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f'GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n'
                f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: foxglove.sdk.v1\r\n\r\n'
            ).encode()
        )
        head = b''
        while b'\r\n\r\n' not in head:
            head += self.sock.recv(1)
        assert head.startswith(b'HTTP/1.1 101'), head
        self.sock.settimeout(0.05)
        self.buffer = b''

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack('!H', len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def poll(self) -> list[tuple[int, bytes]]:
        try:
            chunk = self.sock.recv(1 << 20)
            self.buffer += chunk
        except TimeoutError:
            pass
        frames = []
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                (length,) = struct.unpack('!H', self.buffer[2:4])
                offset = 4
            elif length == 127:
                (length,) = struct.unpack('!Q', self.buffer[2:10])
                offset = 10
            if len(self.buffer) < offset + length:
                break
            frames.append((opcode, self.buffer[offset : offset + length]))
            self.buffer = self.buffer[offset + length :]
        return frames


@contextlib.contextmanager
def bridge_serving_a_map(ros_context, executor, udp_ports, cells):
    """Yield (bridge, publisher, grid): a bridge that has discovered a latched /flood_map.

    The map is one row of `cells`; the bridge listens on a free port of the worker's block.
    """
    bridge = FoxgloveBridgeNode(
        context=ros_context,
        parameter_overrides=[
            Parameter('port', value=udp_ports(1)),  # a free port number (TCP here)
            Parameter('discovery_period_s', value=0.1),
        ],
    )
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(bridge)
    executor.add_node(probe)
    try:
        grid = OccupancyGrid()
        grid.header.frame_id = 'map'
        grid.info.width, grid.info.height, grid.info.resolution = len(cells), 1, 0.5
        grid.data = list(cells)
        pub = probe.create_publisher(OccupancyGrid, '/flood_map', LATCHED_QOS)
        pub.publish(grid)
        assert spin_until(executor, lambda: '/flood_map' in bridge.discovery.subscribed, 10.0)
        yield bridge, pub, grid
    finally:
        executor.remove_node(bridge)
        bridge.destroy_node()


def test_bridge_advertises_and_sends_flood_map(ros_context, executor, udp_ports):
    with bridge_serving_a_map(ros_context, executor, udp_ports, [0, 100]) as (bridge, pub, grid):
        client = WsClient(bridge.proxy.port)
        try:
            channel = {}
            received = []

            def step() -> bool:
                for opcode, payload in client.poll():
                    if opcode == 1:
                        message = json.loads(payload)
                        if message.get('op') == 'advertise':
                            for ch in message['channels']:
                                if ch['topic'] == '/flood_map':
                                    channel.update(ch)
                                    wanted = [{'id': 1, 'channelId': ch['id']}]
                                    client.send_text(
                                        json.dumps({'op': 'subscribe', 'subscriptions': wanted})
                                    )
                    elif opcode == 2 and payload[0] == 1:  # binary MessageData
                        received.append(payload)
                if channel and not received:
                    pub.publish(grid)
                return bool(received)

            assert spin_until(executor, step, 10.0)
            assert channel['encoding'] == 'cdr'
            assert channel['schemaName'] == 'nav_msgs/msg/OccupancyGrid'
            assert channel.get('schemaEncoding') == 'ros2msg'
            assert 'int8[] data' in channel['schema']
            # op 1, subscription id u32, log time u64, then the CDR bytes as published.
            (subscription,) = struct.unpack('<I', received[0][1:5])
            assert subscription == 1
            # (CDR padding bytes are not defined, so compare the decoded message.)
            got = deserialize_message(received[0][13:], OccupancyGrid)
            assert (got.header.frame_id, got.info.width, list(got.data)) == ('map', 2, [0, 100])
        finally:
            client.sock.close()


@pytest.mark.parametrize('subprotocol', ['foxglove.websocket.v1', 'foxglove.sdk.v1'])
def test_foxglove_clients_of_either_subprotocol_decode_the_map(
    ros_context, executor, udp_ports, subprotocol
):
    """@foxglove/ws-protocol's client (Lichtblick's) subscribes to /flood_map and decodes it."""
    script = foxglove_parsers.live_client()
    cells = [0, 100, -1]
    with bridge_serving_a_map(ros_context, executor, udp_ports, cells) as (bridge, pub, grid):
        url = f'ws://127.0.0.1:{bridge.proxy.port}'
        # the SDK forwards what arrives after the subscription: keep publishing
        got = run_live_client(
            executor, script, url, '/flood_map', lambda: pub.publish(grid), 30, subprotocol
        )
        assert got['protocol'] == subprotocol and got['server'] == 'uav_flood'
        assert got['channel'] == {
            'topic': '/flood_map',
            'encoding': 'cdr',
            'schemaName': 'nav_msgs/msg/OccupancyGrid',
            'schemaEncoding': 'ros2msg',
        }
        assert got['message']['frame_id'] == 'map'
        assert (got['message']['width'], got['message']['data']) == (3, [0, 100, -1])


def run_live_client(
    executor,
    script,
    url,
    topic,
    keep_publishing=None,
    timeout_s=30,
    subprotocol='foxglove.sdk.v1',
):
    """Run live_client.mjs until it exits (spinning, calling keep_publishing); return its JSON."""
    client = subprocess.Popen(
        ['node', str(script), url, topic, subprotocol, str(timeout_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def done() -> bool:
            if client.poll() is None:
                if keep_publishing is not None:
                    keep_publishing()
                return False
            return True

        assert spin_until(executor, done, timeout_s + 10.0)
        out, err = client.communicate()
        assert client.returncode == 0, err
        return json.loads(out)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def test_a_late_client_gets_the_camera_mounts_and_the_live_transforms(
    ros_context, executor, udp_ports
):
    """TF without tf2_msgs: /tf_static from camera/mount reaches a client that subscribes after
    it was sent (latched replay), /tf comes from the pose; both decode with Foxglove's parsers."""
    from geometry_msgs.msg import PoseStamped, TransformStamped

    from uav_flood.core.georef import CameraMount
    from uav_flood.nodes import names
    from uav_flood.nodes.conversions import mount_transform, pose_stamped, tf_message_type

    if tf_message_type() is not None:
        pytest.skip('tf2_msgs is installed: the nodes publish /tf themselves')
    script = foxglove_parsers.live_client()
    with bridge_serving_a_map(ros_context, executor, udp_ports, [0]) as (bridge, _, _grid):
        probe = rclpy.create_node('tf_probe', context=ros_context)
        executor.add_node(probe)
        stamp = probe.get_clock().now().to_msg()
        for ns in ('/uav0', '/uav1'):
            probe.create_publisher(
                TransformStamped, f'{ns}/camera/mount', names.CAMERA_MOUNT.qos
            ).publish(mount_transform(CameraMount(), ns, stamp))
        pose_pub = probe.create_publisher(PoseStamped, '/uav0/pose', names.POSE.qos)
        assert spin_until(
            executor,
            lambda: (
                bridge._latched['/tf_static'] is not None and len(bridge.discovery.tf._static) == 2
            ),
            10.0,
        )
        url = f'ws://127.0.0.1:{bridge.proxy.port}'
        # Nothing is published on the mount topics any more: the replay must bring them.
        got = run_live_client(executor, script, url, '/tf_static')
        assert got['channel']['schemaName'] == 'tf2_msgs/msg/TFMessage'
        transforms = {t['child']: t for t in got['message']['transforms']}
        assert set(transforms) == {'uav0/camera_optical', 'uav1/camera_optical'}
        assert transforms['uav1/camera_optical']['parent'] == 'uav1/base_link'
        half = 0.5**0.5
        assert transforms['uav0/camera_optical']['rotation'] == pytest.approx(
            [-half, half, 0.0, 0.0], abs=1e-12
        )

        # The latched map, published once before the client came, is replayed the same way.
        got = run_live_client(executor, script, url, '/flood_map')
        assert got['message']['data'] == [0]

        pose = pose_stamped((12.0, -3.0, 60.0), None, stamp)
        got = run_live_client(executor, script, url, '/tf', lambda: pose_pub.publish(pose))
        (transform,) = got['message']['transforms']
        assert (transform['parent'], transform['child']) == ('map', 'uav0/base_link')
        assert transform['translation'] == [12.0, -3.0, 60.0]
        assert transform['rotation'] == [0.0, 0.0, 0.0, 1.0]
        executor.remove_node(probe)
        probe.destroy_node()
