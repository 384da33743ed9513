"""gz_camera_bridge under real rclpy with an injected gz subscription (no Gazebo needed)."""

import importlib.util
import os
from pathlib import Path
import subprocess
import sys
import threading
import time
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.nodes import conversions
from uav_flood.testing import spin_until

TOPIC = '/world/flood_world/model/uav_flood_x500_0/link/camera_link/sensor/camera/image'
WIDTH, HEIGHT, HFOV_DEG = 64, 48, 70.0
# gz.msgs.PixelFormatType values used here (gz-msgs proto/gz/msgs/image.proto).
L_INT8, RGB_INT8, BGR_INT8, R_FLOAT32 = 1, 3, 8, 13


class FakeGz:
    """Stands in for gz-transport: records the subscription, delivers frames on its own thread."""

    def __init__(self):
        self.topic = None
        self.callback = None
        self.unsubscribed = 0

    def subscribe(self, topic, callback):
        self.topic, self.callback = topic, callback
        return self.unsubscribe

    def unsubscribe(self):
        self.unsubscribed += 1

    def deliver(self, *msgs):
        """Call the callback with each message on another thread, as gz-transport does."""
        thread = threading.Thread(target=lambda: [self.callback(m) for m in msgs])
        thread.start()
        thread.join(5.0)
        assert not thread.is_alive()


def gz_image(pixels, fmt, pad=0, sec=3, nsec=500):
    """Build a duck-typed gz.msgs.Image of 8-bit `pixels` (H x W [x C]), rows padded by `pad`."""
    rows = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1).view(np.uint8)
    if pad:
        rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    header = SimpleNamespace(
        stamp=SimpleNamespace(sec=sec, nsec=nsec),
        data=[SimpleNamespace(key='frame_id', value=['uav_flood_x500_0::camera_link'])],
    )
    return SimpleNamespace(
        header=header,
        width=pixels.shape[1],
        height=pixels.shape[0],
        step=rows.shape[1],
        pixel_format_type=fmt,
        data=np.ascontiguousarray(rows).tobytes(),
    )


def rgb_frame(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (HEIGHT, WIDTH, 3), endpoint=True).astype(np.uint8)


def make_nodes(ros_context, executor, overrides=(), gz=None):
    import rclpy
    from rclpy.parameter import Parameter

    from uav_flood.nodes.gz_camera_bridge import GzCameraBridgeNode

    gz = gz or FakeGz()
    params = [
        Parameter('gz_topic', value=TOPIC),
        Parameter('hfov_deg', value=HFOV_DEG),
        *overrides,
    ]
    node = GzCameraBridgeNode(
        gz.subscribe, 'fake gz', context=ros_context, namespace='/uav0', parameter_overrides=params
    )
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    return node, probe, gz


def subscribe_all(probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    got = {'image': [], 'info': [], 'status': []}
    probe.create_subscription(
        Image, '/uav0/camera/image_raw', got['image'].append, qos_profile_sensor_data
    )
    probe.create_subscription(
        CameraInfo, '/uav0/camera/camera_info', got['info'].append, qos_profile_sensor_data
    )
    probe.create_subscription(DiagnosticArray, '/uav0/camera/status', got['status'].append, 10)
    return got


def wait_matched(executor, probe):
    return spin_until(
        executor,
        lambda: (
            probe.count_publishers('/uav0/camera/image_raw') == 1
            and probe.count_publishers('/uav0/camera/camera_info') == 1
        ),
        5.0,
    )


def status(got):
    return got['status'][-1].status[0]


def status_values(got):
    return {kv.key: kv.value for kv in status(got).values}


def test_injected_frames_arrive_as_image_and_camera_info_like_sim_camera(ros_context, executor):
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.parameter import Parameter
    from rclpy.qos import ReliabilityPolicy
    from std_msgs.msg import Header

    from uav_flood.nodes.sim_camera import SimCameraNode

    node, probe, gz = make_nodes(ros_context, executor)
    assert gz.topic == TOPIC
    got = subscribe_all(probe)
    assert wait_matched(executor, probe)
    pixels = rgb_frame()
    before = probe.get_clock().now()
    gz.deliver(gz_image(pixels, RGB_INT8, pad=4))  # padded rows in, packed rows out
    after = probe.get_clock().now()
    assert spin_until(executor, lambda: got['image'] and got['info'], 5.0)
    image, info = got['image'][0], got['info'][0]

    assert image.encoding == 'rgb8'
    assert (image.width, image.height, image.step) == (WIDTH, HEIGHT, WIDTH * 3)
    assert image.is_bigendian == 0
    out = np.frombuffer(bytes(image.data), np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert np.array_equal(out, pixels)
    assert image.header.frame_id == 'uav0/camera_optical'
    stamp_ns = image.header.stamp.sec * 10**9 + image.header.stamp.nanosec
    assert before.nanoseconds <= stamp_ns <= after.nanoseconds  # stamp = receipt (ROS clock)
    assert info.header == image.header

    # The CameraInfo sim_camera builds for the same size and field of view, field for field.
    sim = SimCameraNode(
        context=ros_context,
        namespace='/uav0',
        parameter_overrides=[
            Parameter('width', value=WIDTH),
            Parameter('height', value=HEIGHT),
            Parameter('hfov_deg', value=HFOV_DEG),
        ],
    )
    try:
        header = Header(stamp=image.header.stamp, frame_id=sim._frame_id)
        expected = conversions.camera_info(sim._info_camera, header)
    finally:
        sim.destroy_node()
    assert info == expected
    assert info.k[0] == pytest.approx((WIDTH / 2) / np.tan(np.radians(HFOV_DEG) / 2))

    # Same QoS as sim_camera publishes with (test_sim_camera checks the same).
    for topic in ('/uav0/camera/image_raw', '/uav0/camera/camera_info'):
        infos = probe.get_publishers_info_by_topic(topic)
        assert [i.qos_profile.reliability for i in infos] == [ReliabilityPolicy.RELIABLE]

    assert spin_until(
        executor, lambda: got['status'] and status_values(got)['frames_out'] == '1', 3.0
    )
    assert status(got).level == DiagnosticStatus.OK
    values = status_values(got)
    assert values['frames_in'] == '1' and values['frames_refused'] == '0'
    assert values['gz_topic'] == TOPIC and values['bindings'] == 'fake gz'
    assert values['last_format'] == 'RGB_INT8 -> rgb8' and values['last_size'] == '64x48'


def test_bgr8_output_and_gz_stamps(ros_context, executor):
    from rclpy.parameter import Parameter

    node, probe, gz = make_nodes(
        ros_context,
        executor,
        overrides=[Parameter('encoding', value='bgr8'), Parameter('stamp', value='gz')],
    )
    got = subscribe_all(probe)
    assert wait_matched(executor, probe)
    pixels = rgb_frame(1)
    gz.deliver(gz_image(pixels[:, :, ::-1], BGR_INT8, sec=41, nsec=250_000_000))
    grey = pixels[:, :, 0]
    gz.deliver(gz_image(grey, L_INT8, sec=42, nsec=0))
    assert spin_until(executor, lambda: len(got['image']) == 2 and len(got['info']) == 2, 5.0)
    first, second = got['image']
    assert first.encoding == second.encoding == 'bgr8'
    assert (first.header.stamp.sec, first.header.stamp.nanosec) == (41, 250_000_000)
    assert (second.header.stamp.sec, second.header.stamp.nanosec) == (42, 0)
    out = np.frombuffer(bytes(first.data), np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert np.array_equal(out, pixels[:, :, ::-1])
    out = np.frombuffer(bytes(second.data), np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert np.array_equal(out, np.stack([grey] * 3, axis=2))
    assert [i.header.stamp.sec for i in got['info']] == [41, 42]


class Exploding:
    """A message whose every field access fails in an unexpected way."""

    @property
    def header(self):
        raise RuntimeError('boom')


def test_bad_frames_are_counted_and_logged_not_fatal(ros_context, executor):
    from diagnostic_msgs.msg import DiagnosticStatus

    node, probe, gz = make_nodes(ros_context, executor)
    got = subscribe_all(probe)
    assert wait_matched(executor, probe)
    unknown = gz_image(rgb_frame(), RGB_INT8)
    unknown.pixel_format_type = 99
    short = gz_image(rgb_frame(), RGB_INT8)
    short.data = short.data[:-1]
    depth = gz_image(np.zeros((HEIGHT, WIDTH), '<f4'), R_FLOAT32)
    gz.deliver(unknown, short, depth, Exploding())
    assert spin_until(
        executor, lambda: got['status'] and status_values(got)['frames_refused'] == '4', 3.0
    )
    assert got['image'] == []
    assert node.refused == {'format': 1, 'data': 1, 'colour': 1, 'internal': 1}
    assert status(got).level == DiagnosticStatus.WARN
    assert 'frame refused: RuntimeError: boom' in status(got).message
    values = status_values(got)
    assert values['refused_format'] == '1' and values['refused_colour'] == '1'
    assert values['frames_in'] == '4' and values['frames_out'] == '0'

    gz.deliver(gz_image(rgb_frame(), RGB_INT8))  # the node still works
    assert spin_until(executor, lambda: got['image'], 5.0)
    assert spin_until(executor, lambda: status(got).level == DiagnosticStatus.OK, 3.0)
    assert status_values(got)['last_refusal'] == 'RuntimeError: boom'


def test_no_frame_yet_is_a_warning(ros_context, executor):
    from diagnostic_msgs.msg import DiagnosticStatus

    node, probe, gz = make_nodes(ros_context, executor)
    got = subscribe_all(probe)
    assert spin_until(executor, lambda: got['status'], 3.0)
    assert status(got).level == DiagnosticStatus.WARN
    assert f'no frame from gz topic {TOPIC} yet' == status(got).message


def test_max_rate_drops_frames_that_come_too_soon(ros_context, executor):
    from rclpy.parameter import Parameter

    node, probe, gz = make_nodes(
        ros_context, executor, overrides=[Parameter('max_rate_hz', value=4.0)]
    )
    got = subscribe_all(probe)
    assert wait_matched(executor, probe)
    frame = gz_image(rgb_frame(), RGB_INT8)
    gz.deliver(*[frame] * 10)
    assert node.frames_out == 1 and node.frames_dropped_rate == 9
    published = [time.monotonic()]

    def feed():
        # A fast camera: keep delivering until the second frame goes out.
        gz.deliver(frame)
        if node.frames_out == 2 and len(published) == 1:
            published.append(time.monotonic())
        return node.frames_out == 2

    assert spin_until(executor, feed, 3.0)
    assert published[1] - published[0] >= 0.2  # 1 / max_rate_hz = 0.25 s, minus the first
    assert spin_until(executor, lambda: len(got['image']) == 2, 3.0)


def test_destroy_unsubscribes_and_late_frames_are_ignored(ros_context, executor):
    node, probe, gz = make_nodes(ros_context, executor)
    executor.remove_node(node)
    node.destroy_node()
    assert gz.unsubscribed == 1
    gz.deliver(gz_image(rgb_frame(), RGB_INT8))  # gz delivering one last frame: no error
    assert node.frames_in == 0 and node.refused == {}


@pytest.mark.parametrize(
    ('name', 'value', 'words'),
    [
        ('gz_topic', '', 'is required'),
        ('gz_topic', '   ', 'is required'),
        ('hfov_deg', 179.5, 'must be in (1, 179)'),
        ('encoding', 'mono8', 'rgb8, bgr8'),
        ('stamp', 'sim', 'receipt, gz'),
        ('max_rate_hz', -1.0, 'must be >= 0'),
        ('max_rate_hz', 2, 'a number with a decimal point'),
    ],
)
def test_bad_parameter_is_a_config_error(ros_context, name, value, words):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.gz_camera_bridge import GzCameraBridgeNode

    params = [Parameter('gz_topic', value=TOPIC), Parameter(name, value=value)]
    with pytest.raises(ConfigError) as info:
        GzCameraBridgeNode(
            FakeGz().subscribe, context=ros_context, namespace='/uav0', parameter_overrides=params
        )
    assert info.value.source == name
    assert words in str(info.value)


def test_a_failing_subscription_is_a_config_error(ros_context):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.gz_camera_bridge import GzCameraBridgeNode

    def refuse(topic, callback):
        raise RuntimeError(f'no route to {topic}')

    with pytest.raises(ConfigError, match='cannot subscribe with gz-x: no route to /t'):
        GzCameraBridgeNode(
            refuse,
            'gz-x',
            context=ros_context,
            parameter_overrides=[Parameter('gz_topic', value='/t')],
        )


def fake_bindings(monkeypatch, transport_name, msgs_name, accept=True):
    """Put a fake gz-transport + gz-msgs pair into sys.modules; return the Node's call log."""
    calls = []

    class Node:
        def subscribe(self, msg_type, topic, callback):
            calls.append(('subscribe', msg_type, topic, callback))
            return accept

        def unsubscribe(self, topic):
            calls.append(('unsubscribe', topic))
            return True

    transport = ModuleType(transport_name)
    transport.Node = Node
    image_pb2 = ModuleType(f'{msgs_name}.image_pb2')
    image_pb2.Image = type('Image', (), {})
    monkeypatch.setitem(sys.modules, transport_name, transport)
    monkeypatch.setitem(sys.modules, f'{msgs_name}.image_pb2', image_pb2)
    return calls, image_pb2.Image


def test_load_gz_bindings_takes_the_first_pair_that_imports(monkeypatch):
    from uav_flood.nodes.gz_camera_bridge import load_gz_bindings

    calls, image_type = fake_bindings(monkeypatch, 'fakegz_transport14', 'fakegz_msgs11')
    candidates = (
        ('fakegz_missing13', 'fakegz_missing10', 'Harmonic', 'pkg13'),
        ('fakegz_transport14', 'fakegz_msgs11', 'Ionic', 'pkg14'),
    )
    gz = load_gz_bindings(candidates)
    assert gz.name == 'fakegz_transport14 + fakegz_msgs11 (Ionic)'
    assert gz.image_type is image_type

    def callback(msg):
        pass

    unsubscribe = gz.subscribe('/camera', callback)
    assert calls == [('subscribe', image_type, '/camera', callback)]
    unsubscribe()
    assert calls[-1] == ('unsubscribe', '/camera')


def test_gz_transport_refusing_the_topic_is_a_config_error(monkeypatch):
    from uav_flood.nodes.gz_camera_bridge import load_gz_bindings

    fake_bindings(monkeypatch, 'fakegz_transport13', 'fakegz_msgs10', accept=False)
    gz = load_gz_bindings((('fakegz_transport13', 'fakegz_msgs10', 'Harmonic', 'pkg'),))
    with pytest.raises(ConfigError, match="refused to subscribe to 'bad topic'"):
        gz.subscribe('bad topic', print)


def test_missing_bindings_say_what_to_install():
    from uav_flood.nodes.gz_camera_bridge import GzBindingsMissing, load_gz_bindings

    with pytest.raises(GzBindingsMissing) as info:
        load_gz_bindings((('fakegz_none13', 'fakegz_none10', 'Harmonic', 'python3-gz-x13'),))
    text = str(info.value)
    assert 'fakegz_none13 + fakegz_none10 (Harmonic)' in text
    assert "No module named 'fakegz_none13'" in text
    assert 'sudo apt install python3-gz-x13' in text
    assert '\n' not in text


@pytest.mark.skipif(
    importlib.util.find_spec('gz') is not None, reason='gz Python bindings are installed here'
)
def test_main_without_gz_bindings_exits_2_with_one_line(child_env):
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'uav_flood.nodes.gz_camera_bridge',
            '--ros-args',
            '-r',
            '__ns:=/uav0',
            '-p',
            f'gz_topic:={TOPIC}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env,
    )
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    output = (result.stdout + result.stderr).strip().splitlines()
    assert len(output) == 1, output
    assert 'gz-transport Python bindings not found' in output[0]
    assert 'gz.transport13 + gz.msgs10 (Harmonic)' in output[0]
    assert 'sudo apt install python3-gz-transport13 python3-gz-msgs10' in output[0]


# A stand-in for the Debian gz-transport13 / gz-msgs10 packages: the same module names and
# calls as the real bindings; its Node plays a 20 Hz camera on its own thread.
FAKE_TRANSPORT = """
import threading
import time


class Node:
    def subscribe(self, msg_type, topic, callback):
        self.running = True

        def camera():
            while self.running:
                callback(msg_type())
                time.sleep(0.05)  # the fake camera's frame period

        threading.Thread(target=camera, daemon=True).start()
        return True

    def unsubscribe(self, topic):
        self.running = False
        return True
"""
FAKE_IMAGE_PB2 = """
from types import SimpleNamespace


class Image:
    def __init__(self):
        self.header = SimpleNamespace(stamp=SimpleNamespace(sec=7, nsec=0), data=[])
        self.width, self.height, self.step = 4, 2, 12
        self.pixel_format_type = 3  # RGB_INT8
        self.data = bytes(range(24))
"""


def test_main_with_gz_bindings_bridges_frames_and_stops_cleanly(
    tmp_path, child_env, ros_context, executor
):
    import signal

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    for package, files in (
        ('gz/transport13', {'__init__.py': FAKE_TRANSPORT}),
        ('gz/msgs10', {'__init__.py': '', 'image_pb2.py': FAKE_IMAGE_PB2}),
    ):
        (tmp_path / package).mkdir(parents=True)
        for name, text in files.items():
            (tmp_path / package / name).write_text(text, encoding='utf-8')
    env = dict(child_env)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(tmp_path), env.get('PYTHONPATH')]))
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(probe)
    got = []
    probe.create_subscription(Image, '/uav0/camera/image_raw', got.append, qos_profile_sensor_data)
    command = [sys.executable, '-m', 'uav_flood.nodes.gz_camera_bridge', '--ros-args']
    command += ['-r', '__ns:=/uav0', '-p', 'gz_topic:=/camera', '-p', 'stamp:=gz']
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert spin_until(executor, lambda: len(got) >= 2, 15.0)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert 'using gz.transport13 + gz.msgs10 (Harmonic)' in output
    assert 'first frame: 4x2 RGB_INT8' in output
    assert 'Traceback' not in output
    image = got[0]
    assert (image.width, image.height, image.encoding) == (4, 2, 'rgb8')
    assert bytes(image.data) == bytes(range(24))
    assert image.header.stamp.sec == 7 and image.header.frame_id == 'uav0/camera_optical'


def test_its_field_of_view_is_sim_cameras():
    import yaml

    path = Path(__file__).resolve().parents[2] / 'config' / 'gz_camera_bridge.yaml'
    values = yaml.safe_load(path.read_text(encoding='utf-8'))['/**']['ros__parameters']
    sim = yaml.safe_load((path.parent / 'sim_camera.yaml').read_text(encoding='utf-8'))
    assert values['hfov_deg'] == sim['/**']['ros__parameters']['hfov_deg']
