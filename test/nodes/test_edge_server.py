"""edge_server under real rclpy, in process: masks for two drones, bad input, floods, status."""

import time

import cv2
import numpy as np
import pytest

from uav_flood.core.class_map import top_classes
from uav_flood.core.offload import parse_result_format, unpack_classes
from uav_flood.core.segmentation import FloodSegmenter, SegmenterConfig
from uav_flood.testing import spin_until


def frame(seed, width=640, height=480):
    """A frame with a dark-blue 'water' band and textured land, different per seed."""
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 160, (height, width, 3), dtype=np.uint8)
    image[:, :, 1] = np.clip(image[:, :, 1].astype(int) + 40, 0, 255)  # greenish land
    top = int(rng.integers(height // 4, height // 2))
    image[top : top + height // 3] = (120, 80, 40)  # BGR: brown-blue water band
    return image


def jpeg(image):
    ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def sof_only(width, height):
    """A JPEG that has a start-of-frame header of the given size and nothing decodable."""
    sof = bytes([0xFF, 0xC0, 0, 11, 8]) + height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
    return b'\xff\xd8' + sof + bytes([1, 1, 0x11, 0]) + b'\x00' * 20 + b'\xff\xd9'


class Probe:
    def __init__(self, node, vehicles):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CompressedImage

        from uav_flood.nodes import names

        self.node, self.results, self.status = node, {v: [] for v in vehicles}, []
        self.pubs = {}
        for v in vehicles:
            self.pubs[v] = node.create_publisher(
                CompressedImage, f'/{v}/edge/request', names.EDGE_REQUEST.qos
            )
            node.create_subscription(
                CompressedImage, f'/{v}/edge/result', self.results[v].append, names.EDGE_RESULT.qos
            )
        node.create_subscription(
            DiagnosticArray, '/edge/status', self.status.append, names.EDGE_STATUS.qos
        )

    def send(self, vehicle, data, stamp_ns=None, frame_id='cam'):
        from sensor_msgs.msg import CompressedImage

        msg = CompressedImage(format='jpeg', data=data)
        now = self.node.get_clock().now().nanoseconds if stamp_ns is None else stamp_ns
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 10**9)
        msg.header.frame_id = frame_id
        self.pubs[vehicle].publish(msg)
        return (msg.header.stamp.sec, msg.header.stamp.nanosec)

    def status_values(self):
        from uav_flood.nodes.conversions import diagnostic_values

        return diagnostic_values(self.status[-1]) if self.status else {}


def start(ros_context, executor, vehicles=('uav0', 'uav1'), probe_vehicles=None, **params):
    import rclpy
    from rclpy.parameter import Parameter

    from uav_flood.nodes.edge_server import EdgeServerNode

    values = {
        'vehicles': list(vehicles),
        'threads': 1,
        'status_period_s': 0.2,
        'discover_period_s': 0.2,
        **params,
    }
    server = EdgeServerNode(
        context=ros_context,
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
    )
    probe_node = rclpy.create_node('probe', context=ros_context)
    executor.add_node(server)
    executor.add_node(probe_node)
    probe = Probe(probe_node, probe_vehicles or vehicles)
    # Wait for discovery both ways before sending anything reliable.
    assert spin_until(
        executor,
        lambda: all(
            p.get_subscription_count() >= 1 and probe_node.count_publishers(f'/{v}/edge/result')
            for v, p in probe.pubs.items()
            if v in vehicles
        ),
        10.0,
    )
    return server, probe


def stamp_key(msg):
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def test_two_drones_get_their_masks_with_headers_echoed(ros_context, executor):
    # Not a deadline test: six frames of the float model (43 ms each) on a loaded machine can
    # exceed the default 500 ms.
    server, probe = start(ros_context, executor, batch_max=4, deadline_ms=5000.0)
    local = FloodSegmenter(SegmenterConfig(threads=1))
    sent = {}
    for i in range(3):
        for v in ('uav0', 'uav1'):
            data = jpeg(frame(i * 2 + (v == 'uav1')))
            sent[(v, probe.send(v, data, frame_id=f'{v}/camera_optical'))] = data
    assert spin_until(executor, lambda: sum(map(len, probe.results.values())) == 6, 30.0)
    for v, results in probe.results.items():
        assert len(results) == 3
        for msg in results:
            info = parse_result_format(msg.format)
            assert info.refused == '' and info.service_s > 0, msg.format
            assert msg.header.frame_id == f'{v}/camera_optical'
            data = sent[(v, stamp_key(msg))]
            mask = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            expected = local.segment(decoded, 'bgr8')
            assert mask.shape == (480, 640) and mask.dtype == np.uint8
            # The water probability in 16 levels; above 127 is P >= 0.5.
            assert set(np.unique(mask).tolist()) <= set(range(0, 256, 17))
            assert np.mean(mask == expected.probability_mono8()) > 0.999
            assert np.mean((mask > 127) == (expected.probability >= 0.5)) > 0.999
            # The land cover after the mask: the local model's classes, at its output's size.
            assert info.classes == (96, 128) and 0 < info.mask_bytes < len(msg.data)
            classes = unpack_classes(bytes(msg.data)[info.mask_bytes :], *info.classes)
            with_classes = FloodSegmenter(SegmenterConfig(threads=1, classes=True))
            labels, confidence = top_classes(with_classes.segment(decoded, 'bgr8').classes)
            assert np.mean(classes[0] == labels) > 0.99
            assert np.abs(classes[1].astype(int) - confidence).max() <= 1
    assert spin_until(executor, lambda: probe.status_values().get('answered') == '6', 5.0)
    values = probe.status_values()
    assert values['refused'] == '0' and values['queue_length'] == '0'
    assert float(values['service_ms_mean']) > 0 and float(values['frames_per_s']) > 0
    assert float(values['batch_size_mean']) >= 1.0


def test_bad_input_is_refused_with_a_reason_and_counted(ros_context, executor):
    server, probe = start(
        ros_context,
        executor,
        vehicles=('uav0',),
        probe_vehicles=('uav0', 'uav7'),
        max_pixels=1920 * 1080,
    )
    cases = {
        'garbage': (b'not a jpeg at all', 'bad jpeg'),
        'empty': (b'', 'bad jpeg'),
        'undecodable': (sof_only(64, 48), 'bad jpeg'),
        'zero': (sof_only(0, 0), 'bad size'),
        'huge': (sof_only(20000, 20000), 'bad size'),
    }
    expected = {}
    for i, (data, reason) in enumerate(cases.values()):
        expected[probe.send('uav0', data, stamp_ns=time.time_ns() + i)] = reason
    old = probe.send('uav0', jpeg(frame(1)), stamp_ns=time.time_ns() - 5 * 10**9)
    expected[old] = 'deadline'
    assert spin_until(executor, lambda: len(probe.results['uav0']) == len(expected), 15.0)
    got = {stamp_key(m): parse_result_format(m.format).refused for m in probe.results['uav0']}
    assert got == expected
    assert all(len(m.data) == 0 for m in probe.results['uav0'])
    # A drone the server does not serve: found by the topic scan, refused, not ignored.
    assert spin_until(executor, lambda: 'uav7' in server.unknown_vehicles, 5.0)
    assert spin_until(executor, lambda: server.count_publishers('/uav7/edge/result') == 1, 5.0)
    assert spin_until(executor, lambda: probe.pubs['uav7'].get_subscription_count() == 1, 5.0)
    probe.send('uav7', jpeg(frame(2)))
    assert spin_until(executor, lambda: probe.results['uav7'], 5.0)
    assert parse_result_format(probe.results['uav7'][0].format).refused == 'unknown drone'
    assert spin_until(
        executor, lambda: probe.status_values().get('refused_unknown_drone') == '1', 5.0
    )
    values = probe.status_values()
    assert (values['refused_bad_jpeg'], values['refused_bad_size']) == ('3', '2')
    assert values['refused_deadline'] == '1' and values['answered'] == '0'
    assert values['unknown_vehicles'] == 'uav7'


def test_a_flood_is_refused_beyond_the_queue_and_every_request_answered(ros_context, executor):
    # A deadline the queue, not the clock, decides: on 2 loaded cores (a demo beside it in the
    # suite) the first batch took 1 s, and a 500 ms deadline then refused all but one frame.
    server, probe = start(
        ros_context, executor, vehicles=('uav0',), queue_limit=3, batch_max=2, deadline_ms=20000.0
    )
    data = jpeg(frame(3))
    base = time.time_ns()
    stamps = []
    max_queue = 0
    # Bursts of 8 (within the reliable history depth of 10, so DDS delivers every one), each
    # published faster than the server segments.
    for burst in range(5):
        stamps += [probe.send('uav0', data, stamp_ns=base + burst * 8 + i) for i in range(8)]
        total = len(stamps)
        assert spin_until(executor, lambda: server.requests == total, 5.0)  # noqa: B023
        max_queue = max(max_queue, len(server._queue))

    def all_answered():
        nonlocal max_queue
        max_queue = max(max_queue, len(server._queue))
        return len(probe.results['uav0']) == len(stamps)

    assert spin_until(executor, all_answered, 30.0)
    assert max_queue <= 3
    reasons = [parse_result_format(m.format).refused for m in probe.results['uav0']]
    assert sorted(stamp_key(m) for m in probe.results['uav0']) == sorted(stamps)
    assert reasons.count('queue full') > 0
    assert set(reasons) <= {'', 'queue full', 'deadline'}
    answered = reasons.count('')
    assert answered >= 3
    assert spin_until(
        executor, lambda: probe.status_values().get('answered') == str(answered), 5.0
    )
    values = probe.status_values()
    assert int(values['refused_queue_full']) == reasons.count('queue full')
    assert int(values['refused']) + answered == 40 and values['errors'] == '0'


def test_a_slow_first_batch_does_not_lock_the_server_out(ros_context, executor):
    """A mean service time above the deadline (a cold first batch: 924 ms in a full demo on 2
    cores, against 500 ms) refused every later request, and with nothing served the mean never
    came down: the demo's drones segmented every frame on board. An idle server now takes the
    request and measures again."""
    server, probe = start(ros_context, executor, vehicles=('uav0',), deadline_ms=500.0)
    with server._lock:
        server._service_s.extend([2.0] * 5)  # as if the first batches had taken 2 s each
    data = jpeg(frame(5))
    for k in range(3):
        probe.send('uav0', data)
        assert spin_until(executor, lambda: len(probe.results['uav0']) == k + 1, 10.0)  # noqa: B023
        time.sleep(0.05)
    reasons = [parse_result_format(m.format).refused for m in probe.results['uav0']]
    assert reasons == ['', '', ''], reasons
    assert server._service_mean() < 2.0  # measured again


def test_bad_parameters_are_a_config_error(ros_context):
    from rclpy.parameter import Parameter

    from uav_flood.core.errors import ConfigError
    from uav_flood.nodes.edge_server import EdgeServerNode, jpeg_size

    with pytest.raises(ConfigError, match='queue_limit'):
        EdgeServerNode(
            context=ros_context, parameter_overrides=[Parameter('queue_limit', value=0)]
        )
    with pytest.raises(ConfigError, match='vehicles'):
        EdgeServerNode(
            context=ros_context, parameter_overrides=[Parameter('vehicles', value=['9bad'])]
        )
    assert jpeg_size(jpeg(frame(0, 320, 200))) == (320, 200)
    assert jpeg_size(b'\xff\xd8\xff') is None
