"""segmentation under real rclpy, in process: a straight flight, newest-frame-only, bad input."""

import math

import numpy as np
import pytest
import shapely

from uav_flood.core.errors import ConfigError
from uav_flood.core.evaluation import score_map
from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.core.georef import (
    CameraMount,
    GridSpec,
    project_to_ground,
    UNSEEN,
    VehiclePose,
)
from uav_flood.core.segmentation import binary_metrics
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene
from uav_flood.testing import spin_until

#: Fused IoU of the straight flight against the scene truth must exceed this. Measured with the
#: node's default model (the INT8 one): 0.778 (0.597 with the earlier from-scratch model; the
#: scene is built from FloodNet test tiles, where the model scores 0.666). The run is
#: deterministic up to onnxruntime's float rounding, so the floor sits about 0.05 below the
#: measurement: it fails on a worse model, a pre-processing slip (channel order,
#: normalisation, resize) or georeferencing that puts the mask in the wrong cells.
IOU_FLOOR = 0.72
RES_M = 0.5
ALTITUDE_M = 60.0
HFOV_DEG = 70.0


@pytest.fixture(scope='module')
def scene():
    return FloodScene.load()


def make_nodes(ros_context, executor, overrides=()):
    import rclpy
    from rclpy.parameter import Parameter

    from uav_flood.nodes.segmentation import SegmentationNode

    # One inference thread: the suite runs on 2 cores. Nothing acknowledges the observations
    # here: no re-sends within a test (test_observation_delivery.py tests them).
    params = [
        Parameter('threads', value=1),
        Parameter('outbox_ack_timeout_s', value=3600.0),
        Parameter('outbox_max_backoff_s', value=3600.0),
        *overrides,
    ]
    node = SegmentationNode(context=ros_context, namespace='/uav0', parameter_overrides=params)
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    return node, probe


class Probe:
    """Publishes poses, frames and camera info to /uav0 and collects what segmentation sends."""

    def __init__(self, probe, executor):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PolygonStamped, PoseStamped
        from nav_msgs.msg import OccupancyGrid
        from sensor_msgs.msg import CameraInfo, Image

        from uav_flood.nodes import names

        self.node, self.executor = probe, executor
        self.masks, self.observations, self.status, self.footprints = [], [], [], []
        self.classes = []
        self.pose_pub = probe.create_publisher(PoseStamped, '/uav0/pose', names.POSE.qos)
        self.image_pub = probe.create_publisher(
            Image, '/uav0/camera/image_raw', names.CAMERA_IMAGE.qos
        )
        self.info_pub = probe.create_publisher(
            CameraInfo, '/uav0/camera/camera_info', names.CAMERA_INFO.qos
        )
        probe.create_subscription(
            Image, '/uav0/segmentation/mask', self.masks.append, names.MASK.qos
        )
        probe.create_subscription(
            OccupancyGrid,
            '/uav0/flood_observation',
            self.observations.append,
            names.FLOOD_OBSERVATION.qos,
        )
        probe.create_subscription(
            Image,
            '/uav0/flood_observation/classes',
            self.classes.append,
            names.FLOOD_OBSERVATION_CLASSES.qos,
        )
        probe.create_subscription(
            DiagnosticArray, '/uav0/segmentation/status', self.status.append, 10
        )
        probe.create_subscription(
            PolygonStamped,
            '/uav0/camera/footprint',
            self.footprints.append,
            names.CAMERA_FOOTPRINT.qos,
        )
        assert spin_until(
            executor,
            lambda: (
                all(
                    p.get_subscription_count() > 0
                    for p in (self.pose_pub, self.image_pub, self.info_pub)
                )
                and probe.count_publishers('/uav0/flood_observation') > 0
            ),
            5.0,
        )

    def stamp(self, t_s):
        from builtin_interfaces.msg import Time

        ns = round(t_s * 1e9)
        return Time(sec=ns // 10**9, nanosec=ns % 10**9)

    def pose(self, t_s, pose: VehiclePose):
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.frame_id = 'map'
        msg.header.stamp = self.stamp(t_s)
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = pose.position_enu_m
        q.w, q.x, q.y, q.z = pose.orientation_wxyz
        self.pose_pub.publish(msg)

    def nan_pose(self, t_s):
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.stamp = self.stamp(t_s)
        msg.pose.position.x = math.nan
        msg.pose.orientation.w = 1.0
        self.pose_pub.publish(msg)

    def info(self, fields):
        from sensor_msgs.msg import CameraInfo

        msg = CameraInfo()
        msg.header.frame_id = 'uav0/camera_optical'
        msg.width, msg.height = fields['width'], fields['height']
        msg.distortion_model = fields['distortion_model']
        msg.d, msg.k, msg.r, msg.p = fields['d'], fields['k'], fields['r'], fields['p']
        self.info_pub.publish(msg)

    def image(self, t_s, pixels, encoding='rgb8', **override):
        from sensor_msgs.msg import Image

        msg = Image()
        msg.header.frame_id = 'uav0/camera_optical'
        msg.header.stamp = self.stamp(t_s)
        msg.height, msg.width = pixels.shape[:2]
        channels = pixels.shape[2] if pixels.ndim == 3 else 1
        msg.encoding = encoding
        msg.step = msg.width * channels
        msg.data = np.ascontiguousarray(pixels).tobytes()
        for key, value in override.items():
            setattr(msg, key, value)
        self.image_pub.publish(msg)
        return msg.header

    def values(self):
        return {kv.key: kv.value for kv in self.status[-1].status[0].values}


def stamp_s(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


def fuse(observations, canvas):
    """Average the 0/100 values of every observation on the canvas's grid; count views."""
    total = np.zeros(canvas.data.shape, np.float64)
    count = np.zeros(canvas.data.shape, np.int64)
    col0, row0 = canvas.origin_index
    for msg in observations:
        res = msg.info.resolution
        c = round(msg.info.origin.position.x / res) - col0
        r = round(msg.info.origin.position.y / res) - row0
        data = np.asarray(msg.data, dtype=np.int8).reshape(msg.info.height, msg.info.width)
        assert 0 <= c and c + msg.info.width <= canvas.width
        assert 0 <= r and r + msg.info.height <= canvas.height
        seen = data != UNSEEN
        window = (slice(r, r + msg.info.height), slice(c, c + msg.info.width))
        total[window] += np.where(seen, data, 0)
        count[window] += seen
    return total, count


def test_straight_flight_maps_the_flood(ros_context, executor, scene):
    node, probe_node = make_nodes(ros_context, executor)
    probe = Probe(probe_node, executor)
    camera = SimCamera.default(scene, 640, 480, HFOV_DEG)
    probe.info(camera.camera_info_fields())
    assert spin_until(executor, lambda: node.stats.camera_infos_received >= 1, 5.0)

    min_e, min_n, max_e, max_n = scene.bounds_enu
    north = (min_n + max_n) / 2.0
    easts = np.linspace(min_e + 40.0, max_e - 40.0, 8)  # ~31 m apart: footprints overlap
    t0 = 1000.0
    headers, poses, truths = [], [], []
    for i, east in enumerate(easts):
        t = t0 + 0.5 * i
        pose = VehiclePose.from_euler((float(east), north, ALTITUDE_M), yaw_deg=0.0)
        # Poses 50 ms either side of the frame: the node must interpolate to the frame's stamp.
        probe.pose(t - 0.05, VehiclePose.from_euler((east - 0.5, north, ALTITUDE_M)))
        probe.pose(t + 0.05, VehiclePose.from_euler((east + 0.5, north, ALTITUDE_M)))
        assert spin_until(executor, lambda i=i: node.stats.poses_received >= 2 * (i + 1), 5.0)
        rgb, truth, valid = camera.render(pose)
        truths.append((truth > 0, valid))
        headers.append(probe.image(t, rgb))
        poses.append(pose)
        assert spin_until(executor, lambda i=i: len(probe.observations) >= i + 1, 10.0)

    assert spin_until(executor, lambda: len(probe.masks) == len(easts), 2.0)
    assert [m.header for m in probe.masks] == headers
    for mask in probe.masks:
        assert (mask.encoding, mask.width, mask.height, mask.step) == ('mono8', 640, 480, 640)
        assert set(np.unique(np.frombuffer(bytes(mask.data), np.uint8))) <= {0, 255}
    for msg, header in zip(probe.observations, headers, strict=True):
        assert msg.header.frame_id == 'map'
        assert msg.header.stamp == header.stamp
        assert msg.info.resolution == pytest.approx(RES_M)
        assert msg.info.origin.orientation.w == 1.0
        for value in (msg.info.origin.position.x, msg.info.origin.position.y):
            assert value / RES_M == pytest.approx(round(value / RES_M), abs=1e-6)
        values = np.asarray(msg.data)
        # The calibrated probability in percent, moved towards 50 for slant views and borders.
        assert values.min() >= -1 and values.max() <= 100
    # Each observation's land-cover classes, on its cells, with its stamp.
    from uav_flood.core.class_map import NO_CLASS
    from uav_flood.nodes.conversions import class_observation_of

    assert spin_until(executor, lambda: len(probe.classes) == len(easts), 2.0)
    agree, cells = 0, 0
    for msg, water in zip(probe.classes, probe.observations, strict=True):
        assert msg.header.stamp == water.header.stamp and msg.header.frame_id == 'map'
        assert (msg.width, msg.height, msg.encoding) == (
            water.info.width,
            water.info.height,
            '8UC2',
        )
        cover = class_observation_of(msg)
        values = np.asarray(water.data, np.int8).reshape(water.info.height, water.info.width)
        np.testing.assert_array_equal(cover.labels == NO_CLASS, values == UNSEEN)
        seen = values != UNSEEN
        assert np.all(cover.confidence[seen] >= 255 // 10)  # the top class of ten
        # The water classes (road-flooded 3, water 5) where the water output says water.
        agree += np.count_nonzero(np.isin(cover.labels[seen], (3, 5)) == (values[seen] > 50))
        cells += np.count_nonzero(seen)
    assert agree / cells > 0.85, agree / cells
    soft = np.concatenate([np.asarray(m.data) for m in probe.observations])
    assert np.count_nonzero((soft > 0) & (soft < 100)) > 0.5 * np.count_nonzero(soft >= 0)

    grid = GridSpec(RES_M)
    canvas = scene.truth_patch(grid, (min_e - 60, min_n - 60, max_e + 60, max_n + 60))
    total, count = fuse(probe.observations, canvas)
    both = (count > 0) & (canvas.data != UNSEEN)
    predicted = total[both] / count[both] >= 50.0
    metrics = binary_metrics(predicted, canvas.data[both] == 100)
    print(
        f'straight flight: {len(easts)} frames, {int(both.sum())} cells compared, '
        f'IoU {metrics.iou:.3f}, F1 {metrics.f1:.3f}, accuracy {metrics.accuracy:.3f}'
    )
    assert metrics.pixels > 50_000
    assert metrics.iou >= IOU_FLOOR

    # The mapper's own fusion of the same observations beats the frames one by one.
    flood_map = FloodMap(FusionConfig(resolution_m=RES_M))
    for msg in probe.observations:
        flood_map.apply_arrays(
            msg.info.origin.position.x,
            msg.info.origin.position.y,
            msg.info.resolution,
            msg.info.width,
            msg.info.height,
            np.asarray(msg.data, np.int8),
        )
    fused = score_map(flood_map.to_occupancy(), canvas, both)  # the cells the frames saw
    frame_ious = []
    for mask, (wet, valid) in zip(probe.masks, truths, strict=True):
        called = np.frombuffer(bytes(mask.data), np.uint8).reshape(480, 640) > 127
        frame_ious.append(binary_metrics(called[valid], wet[valid]).iou)
    print(f'fused map IoU {fused.iou:.3f}, single frames mean {np.mean(frame_ious):.3f}')
    assert fused.iou >= np.mean(frame_ious)

    # Coverage: the cells whose centres lie under the union of the image footprints (corner
    # rays meet the ground) must be seen; and nothing is seen outside it (1 cell of slack).
    model = camera.camera
    corners = np.array([[-0.5, -0.5], [639.5, -0.5], [639.5, 479.5], [-0.5, 479.5]])
    swept = shapely.union_all(
        [shapely.Polygon(project_to_ground(model, CameraMount(), pose, corners)) for pose in poses]
    )
    east, north_c = canvas.cell_centres()
    inside = shapely.contains_xy(swept, east, north_c)
    covered = float(np.mean(count[inside] > 0))
    near = shapely.contains_xy(swept.buffer(RES_M), east, north_c)
    outside = int(np.count_nonzero((count > 0) & ~near))
    print(f'coverage of the swept footprints: {covered:.4f}, cells seen outside: {outside}')
    assert covered >= 0.9
    assert outside <= 0.01 * int(np.count_nonzero(count > 0))

    # camera/footprint: each frame's image outline on the ground, in map, with its stamp.
    assert spin_until(executor, lambda: len(probe.footprints) == len(easts), 2.0)
    for msg, header, pose in zip(probe.footprints, headers, poses, strict=True):
        assert (msg.header.frame_id, msg.header.stamp) == ('map', header.stamp)
        outline = shapely.Polygon([(p.x, p.y) for p in msg.polygon.points])
        assert {p.z for p in msg.polygon.points} == {0.0}
        truth = shapely.Polygon(project_to_ground(model, CameraMount(), pose, corners))
        # The pose is interpolated between poses 1 m apart: the same outline within cm.
        assert outline.is_valid
        assert outline.intersection(truth).area / outline.union(truth).area > 0.995

    assert spin_until(
        executor,
        lambda: probe.status and probe.values()['frames_processed'] == str(len(easts)),
        3.0,
    )
    values = probe.values()
    assert values['frames_dropped'] == '0'
    assert values['observations_published'] == str(len(easts))
    assert values['class_observations_published'] == str(len(easts))
    assert float(values['latency_ms_mean']) > 0.0
    assert values['providers'] == 'CPUExecutionProvider'


def test_the_camera_mount_is_published_once_latched(ros_context, executor):
    """segmentation's mount_* parameters are the mount: on camera/mount for late subscribers."""
    from geometry_msgs.msg import TransformStamped
    from rclpy.parameter import Parameter

    from uav_flood.nodes import names
    from uav_flood.nodes.conversions import camera_mount, tf_message_type

    mount = CameraMount(pitch_deg=-60.0, yaw_deg=15.0, roll_deg=-5.0)
    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('mount_pitch_deg', value=mount.pitch_deg),
            Parameter('mount_yaw_deg', value=mount.yaw_deg),
            Parameter('mount_roll_deg', value=mount.roll_deg),
        ],
    )
    got = []
    # Subscribed after the node published: transient local delivers it.
    probe.create_subscription(
        TransformStamped, '/uav0/camera/mount', got.append, names.CAMERA_MOUNT.qos
    )
    assert spin_until(executor, lambda: got, 5.0)
    msg = got[0]
    assert (msg.header.frame_id, msg.child_frame_id) == ('uav0/base_link', 'uav0/camera_optical')
    np.testing.assert_allclose(
        camera_mount(msg).body_from_optical(), mount.body_from_optical(), atol=1e-12
    )
    # /tf_static only where tf2_msgs is installed (not among the PyPI wheels used here).
    has_tf2 = tf_message_type() is not None
    assert node._tf_static.available == has_tf2
    assert (probe.count_publishers('/tf_static') > 0) == has_tf2


def accounted(node):
    """Return True when every frame received has an outcome (the node is idle)."""
    with node._lock:
        return (
            node.stats.frames_in
            == (
                node.stats.frames_processed
                + node.stats.frames_dropped
                + sum(node.stats.skipped.values())
                + node.stats.errors
            )
            and node._mailbox is None
        )


def test_only_the_newest_frame_is_segmented(ros_context, executor, scene):
    node, probe_node = make_nodes(ros_context, executor)
    probe = Probe(probe_node, executor)
    camera = SimCamera.default(scene, 320, 240, HFOV_DEG)
    probe.info(camera.camera_info_fields())
    assert spin_until(executor, lambda: node.stats.camera_infos_received >= 1, 5.0)
    east, north = scene.centre_enu
    pose = VehiclePose((east, north, ALTITUDE_M))
    rgb, _, _ = camera.render(pose)

    # Flood: 5 frames at once, 20 times a second, for 40 rounds (~100 frames/s; counted, not
    # timed: a loaded machine runs fewer rounds in 2 s), each frame with its pose; keep spinning,
    # so the status timer and pose callbacks must still get through.
    t = 2000.0
    status_before = len(probe.status)
    poses_before = node.stats.poses_received
    for _ in range(40):
        t += 0.05
        probe.pose(t, pose)
        for k in range(5):
            probe.image(t + 0.001 * k, rgb)
        spin_until(executor, lambda: False, 0.05)
    t += 0.05
    probe.pose(t, pose)
    assert spin_until(executor, lambda: node.stats.poses_received > poses_before + 30, 5.0)
    last = probe.image(t, rgb)
    assert spin_until(
        executor,
        lambda: (
            probe.masks
            and probe.masks[-1].header == last
            and probe.observations
            and probe.observations[-1].header.stamp == last.stamp
            and accounted(node)
        ),
        10.0,
    )
    assert node.stats.frames_dropped > 0
    assert node.stats.frames_processed < node.stats.frames_in
    # the status timer (1 Hz) kept firing during the 2 s flood
    assert len(probe.status) - status_before >= 1
    assert spin_until(
        executor,
        lambda: (
            int(probe.values()['frames_dropped']) == node.stats.frames_dropped
            and int(probe.values()['frames_in']) == node.stats.frames_in
        ),
        3.0,
    )
    values = probe.values()
    assert float(values['fps']) > 0.0
    assert float(values['inference_ms_last']) > 0.0


def test_bad_input_is_counted_and_skipped(ros_context, executor, scene):
    from diagnostic_msgs.msg import DiagnosticStatus

    node, probe_node = make_nodes(ros_context, executor)
    probe = Probe(probe_node, executor)
    camera = SimCamera.default(scene, 320, 240, HFOV_DEG)
    east, north = scene.centre_enu
    pose = VehiclePose((east, north, ALTITUDE_M))
    rgb, _, _ = camera.render(pose)

    def expect(reason, count=1):
        assert spin_until(executor, lambda: node.stats.skipped[reason] >= count, 5.0), reason

    probe.image(10.0, rgb)
    expect('no_camera_info')
    probe.info(camera.camera_info_fields())
    assert spin_until(executor, lambda: node.stats.camera_infos_received >= 1, 5.0)
    probe.image(10.0, rgb)
    expect('no_pose')
    probe.nan_pose(10.0)
    expect('bad_pose')
    probe.pose(10.0, pose)
    assert spin_until(executor, lambda: node.stats.poses_received >= 1, 5.0)
    probe.image(12.0, rgb)  # 2 s after the only pose
    expect('no_pose', 2)
    probe.image(10.0, rgb[..., 0], encoding='mono8')
    expect('encoding')
    probe.image(10.0, rgb, encoding='yuv422')
    expect('encoding', 2)
    probe.image(10.0, rgb, data=rgb.tobytes()[:-100])
    expect('size_mismatch')
    big, _, _ = SimCamera.default(scene, 160, 120, HFOV_DEG).render(pose)
    probe.image(10.0, big)
    expect('size_mismatch', 2)
    probe.image(10.0, rgb, width=0, height=0, data=b'')
    expect('empty')
    assert spin_until(executor, lambda: probe.status and probe.values()['skipped_empty'] == '1', 3)
    assert probe.status[-1].status[0].level == DiagnosticStatus.WARN
    assert node.stats.frames_processed == 0 and probe.masks == []

    # still working: rgb8 and the same pixels as bgr8 give the same mask
    first = probe.image(10.0, rgb)
    assert spin_until(executor, lambda: len(probe.masks) >= 1, 10.0)
    second = probe.image(10.0 + 0.01, np.ascontiguousarray(rgb[..., ::-1]), encoding='bgr8')
    assert spin_until(executor, lambda: len(probe.masks) >= 2, 10.0)
    assert [m.header for m in probe.masks] == [first, second]
    assert bytes(probe.masks[0].data) == bytes(probe.masks[1].data)
    # the mask is published before the counters move: wait for them
    assert spin_until(executor, lambda: node.stats.frames_processed == 2, 3.0)
    assert node.stats.errors == 0
    assert spin_until(
        executor,
        lambda: (
            probe.values()['frames_processed'] == '2'
            and probe.status[-1].status[0].level == DiagnosticStatus.OK
        ),
        3.0,
    )
    values = probe.values()
    expected = {
        'no_camera_info': 1,
        'no_pose': 2,
        'bad_pose': 1,
        'encoding': 2,
        'size_mismatch': 2,
        'empty': 1,
    }
    assert {r: int(values[f'skipped_{r}']) for r in expected} == expected
    assert values['frames_in'] == '10'  # the NaN pose is not a frame


@pytest.mark.parametrize(
    ('name', 'value', 'source'),
    [
        ('threshold', 2.0, 'threshold'),
        ('threshold', 0.0, 'threshold'),
        ('mode', 'crop', 'mode'),
        ('model_path', '/nonexistent/flood.onnx', 'model_path'),
        ('providers', ['gpu'], 'providers'),
        ('threads', -1, 'threads'),
        ('max_side', 8, 'max_side'),
        ('grid_resolution_m', 0.0, 'grid_resolution_m'),
        ('max_pose_gap_s', -0.1, 'max_pose_gap_s'),
        ('mount_pitch_deg', math.nan, 'mount_pitch_deg/mount_yaw_deg/mount_roll_deg'),
        ('max_side', 512.0, 'max_side'),
        ('outbox_max_observations', -1, 'outbox_max_observations'),
        ('outbox_ack_timeout_s', 0.0, 'outbox_ack_timeout_s'),
        ('outbox_max_backoff_s', 1.0, 'outbox_max_backoff_s'),
        ('outbox_resend_bytes_per_s', -1.0, 'outbox_resend_bytes_per_s'),
    ],
)
def test_bad_parameter_is_a_config_error(ros_context, name, value, source):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.segmentation import SegmentationNode

    with pytest.raises(ConfigError) as info:
        SegmentationNode(
            context=ros_context,
            namespace='/uav0',
            parameter_overrides=[Parameter(name, value=value)],
        )
    assert info.value.source == source


def test_unreadable_model_is_a_config_error(ros_context, tmp_path):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.segmentation import SegmentationNode

    bad = tmp_path / 'broken.onnx'
    bad.write_bytes(b'not a model')
    with pytest.raises(ConfigError, match='cannot load model'):
        SegmentationNode(
            context=ros_context,
            namespace='/uav0',
            parameter_overrides=[Parameter('model_path', value=str(bad))],
        )
