"""sim_camera under real rclpy, in process: frames and their pose, skips, QoS, bad config."""

import math

import numpy as np
import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import CameraMount, VehiclePose
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene
from uav_flood.testing import spin_until

WIDTH, HEIGHT, HFOV_DEG = 320, 240, 70.0


@pytest.fixture(scope='module')
def scene():
    return FloodScene.load()


NADIR = CameraMount()


def make_nodes(ros_context, executor, overrides=(), mount=NADIR):
    """Start sim_camera on /uav0 and a probe that publishes the camera mount (None: no mount),
    as segmentation does (latched)."""
    import rclpy
    from rclpy.parameter import Parameter

    from uav_flood.nodes.conversions import mount_transform
    from uav_flood.nodes.sim_camera import SimCameraNode

    params = [
        Parameter('rate_hz', value=5.0),
        Parameter('width', value=WIDTH),
        Parameter('height', value=HEIGHT),
        Parameter('hfov_deg', value=HFOV_DEG),
        Parameter('publish_ground_truth', value=True),
        *overrides,
    ]
    node = SimCameraNode(context=ros_context, namespace='/uav0', parameter_overrides=params)
    probe = rclpy.create_node('probe', context=ros_context)
    if mount is not None:
        publish_mount(probe, mount_transform(mount, '/uav0', probe.get_clock().now().to_msg()))
    executor.add_node(node)
    executor.add_node(probe)
    return node, probe


def publish_mount(probe, msg):
    from geometry_msgs.msg import TransformStamped

    from uav_flood.nodes import names

    probe.create_publisher(TransformStamped, '/uav0/camera/mount', names.CAMERA_MOUNT.qos).publish(
        msg
    )


def subscribe_all(probe):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    got = {'image': [], 'info': [], 'truth': [], 'status': []}
    probe.create_subscription(
        Image, '/uav0/camera/image_raw', got['image'].append, qos_profile_sensor_data
    )
    probe.create_subscription(
        CameraInfo, '/uav0/camera/camera_info', got['info'].append, qos_profile_sensor_data
    )
    probe.create_subscription(
        Image, '/uav0/camera/ground_truth', got['truth'].append, qos_profile_sensor_data
    )
    probe.create_subscription(DiagnosticArray, '/uav0/camera/status', got['status'].append, 10)
    got['diagnostics'] = []
    probe.create_subscription(DiagnosticArray, '/diagnostics', got['diagnostics'].append, 10)
    return got


def pose_msg(probe, east, north, up):
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header.frame_id = 'map'
    msg.header.stamp = probe.get_clock().now().to_msg()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = east, north, up
    msg.pose.orientation.w = 1.0
    return msg


def hover_over_the_centre(executor, probe, scene, done):
    """Publish uav0's pose 100 m over the scene's centre until done(); return the pose sent.

    The pose is kept fresh (as flight_control's 20 Hz would), with the same stamp.
    """
    from uav_flood.nodes import names

    pose_pub = probe.create_publisher(type(pose_msg(probe, 0, 0, 0)), '/uav0/pose', names.POSE.qos)
    assert spin_until(executor, lambda: pose_pub.get_subscription_count() > 0, 5.0)
    east, north = scene.centre_enu
    sent = pose_msg(probe, east, north, 100.0)

    def publish_and_check():
        pose_pub.publish(sent)
        return done()

    assert spin_until(executor, publish_and_check, 8.0)
    return sent


def status_values(got):
    return {kv.key: kv.value for kv in got['status'][-1].status[0].values}


def test_frames_match_the_pose_and_the_renderer(ros_context, executor, scene):
    from rclpy.qos import ReliabilityPolicy

    node, probe = make_nodes(ros_context, executor)
    got = subscribe_all(probe)
    sent = hover_over_the_centre(
        executor, probe, scene, lambda: got['image'] and got['info'] and got['truth']
    )
    east, north = scene.centre_enu
    image, info, truth = got['image'][0], got['info'][0], got['truth'][0]

    assert image.encoding == 'rgb8'
    assert (image.width, image.height, image.step) == (WIDTH, HEIGHT, WIDTH * 3)
    assert image.header.stamp == sent.header.stamp
    assert image.header.frame_id == 'uav0/camera_optical'
    assert info.header == image.header
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    fx = (WIDTH / 2.0) / math.tan(math.radians(HFOV_DEG) / 2.0)
    assert info.k[0] == pytest.approx(fx, rel=1e-3)
    assert info.k[4] == pytest.approx(fx, rel=1e-3)
    assert info.k[2] == pytest.approx((WIDTH - 1) / 2.0, abs=0.6)
    assert info.p[0] == pytest.approx(fx, rel=1e-3)
    assert list(info.r) == pytest.approx([1, 0, 0, 0, 1, 0, 0, 0, 1])

    expected_rgb, expected_truth, _ = SimCamera.default(scene, WIDTH, HEIGHT, HFOV_DEG).render(
        VehiclePose((east, north, 100.0))
    )
    rgb = np.frombuffer(bytes(image.data), dtype=np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert int(np.abs(rgb.astype(int) - expected_rgb.astype(int)).max()) <= 1
    assert truth.encoding == 'mono8' and truth.step == WIDTH
    mask = np.frombuffer(bytes(truth.data), dtype=np.uint8).reshape(HEIGHT, WIDTH)
    assert np.array_equal(mask, expected_truth)
    assert set(np.unique(mask)) <= {0, 255}
    assert 0.02 < float(np.mean(mask == 255)) < 0.98

    assert spin_until(
        executor,
        lambda: (
            got['diagnostics']
            and got['status']
            and int(status_values(got)['frames_published']) >= 1
        ),
        3.0,
    )
    # The same status on /diagnostics, where rqt_robot_monitor looks.
    assert got['diagnostics'][0].status[0].name == got['status'][0].status[0].name
    assert got['diagnostics'][0].status[0].name.startswith('/uav0/sim_camera')
    assert node.frames_published >= 1

    for topic in ('/uav0/camera/image_raw', '/uav0/camera/camera_info'):
        # names.CAMERA_IMAGE and CAMERA_INFO say why
        infos = probe.get_publishers_info_by_topic(topic)
        assert [i.qos_profile.reliability for i in infos] == [ReliabilityPolicy.RELIABLE]


def test_a_default_qos_subscriber_gets_the_image_and_its_camera_info(ros_context, executor, scene):
    """What a subscriber with rclpy's defaults (reliable, depth 10) sees: both streams."""
    from sensor_msgs.msg import CameraInfo, Image

    node, probe = make_nodes(ros_context, executor)
    got = {'image': [], 'info': []}
    probe.create_subscription(Image, '/uav0/camera/image_raw', got['image'].append, 10)
    probe.create_subscription(CameraInfo, '/uav0/camera/camera_info', got['info'].append, 10)
    hover_over_the_centre(executor, probe, scene, lambda: got['image'] and got['info'])
    assert got['info'][0].header == got['image'][0].header


def test_no_pose_and_stale_pose_skip_frames(ros_context, executor, scene):
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.parameter import Parameter

    from uav_flood.nodes import names

    node, probe = make_nodes(
        ros_context, executor, overrides=[Parameter('max_pose_age_s', value=0.3)]
    )
    got = subscribe_all(probe)
    assert spin_until(
        executor,
        lambda: got['status'] and int(status_values(got)['frames_skipped_no_pose']) >= 2,
        5.0,
    )
    assert got['image'] == [] and node.frames_published == 0
    assert got['status'][-1].status[0].level == DiagnosticStatus.WARN
    assert 'no pose' in got['status'][-1].status[0].message

    pose_pub = probe.create_publisher(type(pose_msg(probe, 0, 0, 0)), '/uav0/pose', names.POSE.qos)
    assert spin_until(executor, lambda: pose_pub.get_subscription_count() > 0, 5.0)
    east, north = scene.centre_enu
    pose_pub.publish(pose_msg(probe, east, north, 80.0))
    # One pose, never refreshed: at most a frame or two, then every tick is skipped as stale.
    assert spin_until(executor, lambda: node.skipped_stale_pose >= 2, 5.0)
    published = node.frames_published
    assert published <= 2
    assert spin_until(
        executor,
        lambda: int(status_values(got)['frames_skipped_stale_pose']) >= 2,
        3.0,
    )
    assert node.frames_published == published


def test_nan_pose_is_skipped(ros_context, executor):
    from uav_flood.nodes import names

    node, probe = make_nodes(ros_context, executor)
    pose_pub = probe.create_publisher(type(pose_msg(probe, 0, 0, 0)), '/uav0/pose', names.POSE.qos)
    assert spin_until(executor, lambda: pose_pub.get_subscription_count() > 0, 5.0)

    def publish_nan():
        pose_pub.publish(pose_msg(probe, math.nan, 0.0, 50.0))
        return node.skipped_bad_pose >= 1

    assert spin_until(executor, publish_nan, 5.0)
    assert node.frames_published == 0


def test_frames_wait_for_the_camera_mount_and_use_it(ros_context, executor, scene):
    """The mount comes from camera/mount (segmentation's): none, a wrong one, an oblique one."""
    from diagnostic_msgs.msg import DiagnosticStatus

    from uav_flood.nodes.conversions import mount_transform

    node, probe = make_nodes(ros_context, executor, mount=None)
    got = subscribe_all(probe)
    east, north = scene.centre_enu
    stamp = probe.get_clock().now().to_msg()
    pose_pub = probe.create_publisher(type(pose_msg(probe, 0, 0, 0)), '/uav0/pose', 10)
    assert spin_until(executor, lambda: pose_pub.get_subscription_count() > 0, 5.0)

    def publish_pose_until(done):
        def step():
            pose_pub.publish(pose_msg(probe, east, north, 100.0))
            return done()

        return step

    assert spin_until(executor, publish_pose_until(lambda: node.skipped_no_mount >= 2), 5.0)
    assert got['image'] == [] and node.frames_published == 0
    assert spin_until(
        executor,
        lambda: (
            got['status']
            and 'no camera mount on /uav0/camera/mount' in (got['status'][-1].status[0].message)
        ),
        3.0,
    )
    assert got['status'][-1].status[0].level == DiagnosticStatus.WARN

    # Another vehicle's mount (wrong frames) is refused and keeps the node waiting.
    oblique = CameraMount(pitch_deg=-40.0, yaw_deg=20.0, roll_deg=5.0)
    publish_mount(probe, mount_transform(oblique, '/uav1', stamp))
    assert spin_until(executor, lambda: 'ignored' in node._last_problem, 5.0)
    assert node.mount is None and node.frames_published == 0

    # A zero rotation (no mount at all) is refused too.
    broken = mount_transform(oblique, '/uav0', stamp)
    broken.transform.rotation.w = broken.transform.rotation.x = 0.0
    broken.transform.rotation.y = broken.transform.rotation.z = 0.0
    publish_mount(probe, broken)
    assert spin_until(executor, lambda: 'camera mount ignored' in node._last_problem, 5.0)
    assert node.mount is None and node.frames_published == 0

    publish_mount(probe, mount_transform(oblique, '/uav0', stamp))
    assert spin_until(executor, publish_pose_until(lambda: got['image']), 8.0)
    np.testing.assert_allclose(
        node.mount.body_from_optical(), oblique.body_from_optical(), atol=1e-12
    )
    image = got['image'][0]
    expected, _, _ = SimCamera.default(scene, WIDTH, HEIGHT, HFOV_DEG, oblique).render(
        VehiclePose((east, north, 100.0))
    )
    rgb = np.frombuffer(bytes(image.data), dtype=np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert int(np.abs(rgb.astype(int) - expected.astype(int)).max()) <= 1
    nadir, _, _ = SimCamera.default(scene, WIDTH, HEIGHT, HFOV_DEG).render(
        VehiclePose((east, north, 100.0))
    )
    assert not np.array_equal(nadir, expected)


@pytest.mark.parametrize(
    ('name', 'value', 'source'),
    [
        ('rate_hz', 0.0, 'rate_hz'),
        ('width', 0, 'width'),
        ('height', -5, 'height'),
        ('hfov_deg', 179.5, 'hfov_deg'),
        ('hfov_deg', 1.0, 'hfov_deg'),
        ('encoding', 'yuv422', 'encoding'),
        ('scene_file', '/nonexistent/scene.yaml', '/nonexistent/scene.yaml'),
        ('width', 320.0, 'width'),
    ],
)
def test_bad_parameter_is_a_config_error(ros_context, name, value, source):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.sim_camera import SimCameraNode

    with pytest.raises(ConfigError) as info:
        SimCameraNode(
            context=ros_context,
            namespace='/uav0',
            parameter_overrides=[Parameter(name, value=value)],
        )
    assert info.value.source == source
