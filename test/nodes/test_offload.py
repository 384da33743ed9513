"""Edge offloading from the segmentation node, with real nodes in process.

edge_server + link_emulator + segmentation (offload on) + a probe that feeds rendered 640x480
frames at a steady rate, each with its pose, stamped on the ROS clock (the edge server judges
deadlines by stamp).
"""

import time

import cv2
import numpy as np
import pytest

from uav_flood.core.georef import VehiclePose
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene
from uav_flood.testing import spin_until

#: Camera rate: its period (500 ms) stays above one emulated on-board inference (150 ms, up to
#: 300-500 ms on a loaded machine), so that on board alone keeps up and no frame is dropped.
#: Deadlines: never beside the demo end to end (setup.cfg: --dist loadgroup).
pytestmark = pytest.mark.xdist_group('timing')

RATE_HZ = 2.0
#: Emulates an on-board computer this many times slower than the test machine, so that the
#: edge (in process, 1 thread) is clearly faster than local inference (about 150 ms here, against
#: about 100 ms through the emulated good link), also on a loaded CI machine.
SCALE = 12.0
#: Slack of the gap bound over one camera period plus one on-board inference: the hedge margin
#: (offload_hedge_margin_ms, 50 ms: a frame is hedged that long past its expected edge latency)
#: plus 100 ms for the rest: georeferencing and publishing the on-board result (~15 ms), the
#: error of the expected edge latency (~20 ms), and scheduling (the worker, the executor and the
#: edge server share the GIL and a loaded 2-core machine). Measured unloaded: 40-60 ms of it.
GAP_SLACK_S = 0.05 + 0.1


@pytest.fixture(scope='module')
def frames():
    scene = FloodScene.load()
    camera = SimCamera.default(scene, 640, 480, 70.0)
    east, north = scene.centre_enu
    pose = VehiclePose((east, north, 60.0))
    rgb = [camera.render(VehiclePose((east + 20.0 * k, north, 60.0)))[0] for k in range(3)]
    return camera.camera_info_fields(), pose, rgb


class Rig:
    """The nodes under test and a probe: publishes frames, collects masks with arrival times."""

    def __init__(self, ctx, executor, tmp_path, profile=None, direct=False, edge=True, **seg):
        import rclpy
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image

        from uav_flood.nodes import names
        from uav_flood.nodes.link_emulator import LinkEmulatorNode
        from uav_flood.nodes.segmentation import SegmentationNode

        self.ctx, self.executor = ctx, executor
        self.edge = self.link = None
        if edge:
            self.edge = self.start_edge()
        if profile is not None:
            self.link = LinkEmulatorNode(
                context=ctx,
                parameter_overrides=[
                    Parameter('vehicles', value=['uav0']),
                    Parameter('profile', value=profile),
                ],
            )
            executor.add_node(self.link)
        values = {
            'threads': 1,
            'offload_mode': 'adaptive',
            'offload_direct': direct,
            'local_compute_scale': SCALE,
            'offload_probe_interval_s': 0.5,
            **seg,
        }
        self.node = SegmentationNode(
            context=ctx,
            namespace='/uav0',
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
        )
        executor.add_node(self.node)
        self.probe = rclpy.create_node('offload_probe', context=ctx)
        executor.add_node(self.probe)
        from geometry_msgs.msg import PoseStamped

        self.pose_pub = self.probe.create_publisher(PoseStamped, '/uav0/pose', names.POSE.qos)
        self.image_pub = self.probe.create_publisher(
            Image, '/uav0/camera/image_raw', names.CAMERA_IMAGE.qos
        )
        self.info_pub = self.probe.create_publisher(
            CameraInfo, '/uav0/camera/camera_info', names.CAMERA_INFO.qos
        )
        self.masks = []  # (stamp ns, arrival monotonic)
        self.sent = {}  # stamp ns -> publish monotonic
        self.probe.create_subscription(
            Image,
            '/uav0/segmentation/mask',
            lambda m: self.masks.append((stamp_ns(m.header.stamp), time.monotonic())),
            names.MASK.qos,
        )
        self.requests = []
        self.probe.create_subscription(
            CompressedImage, '/uav0/edge/request', self.requests.append, names.EDGE_REQUEST.qos
        )
        self.result_pub = self.probe.create_publisher(
            CompressedImage, '/uav0/edge/result', names.EDGE_RESULT.qos
        )
        assert spin_until(
            executor,
            lambda: (
                self.image_pub.get_subscription_count() > 0
                and self.info_pub.get_subscription_count() > 0
                and self.pose_pub.get_subscription_count() > 0
            ),
            5.0,
        )

    def start_edge(self):
        from rclpy.parameter import Parameter

        from uav_flood.nodes.edge_server import EdgeServerNode

        edge = EdgeServerNode(
            context=self.ctx,
            parameter_overrides=[
                Parameter('vehicles', value=['uav0']),
                Parameter('threads', value=1),
                Parameter('status_period_s', value=0.25),
            ],
        )
        self.executor.add_node(edge)
        return edge

    def publish_frame(self, info, pose, rgb):
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import CameraInfo, Image

        stamp = self.probe.get_clock().now().to_msg()
        p = PoseStamped()
        p.header.frame_id, p.header.stamp = 'map', stamp
        p.pose.position.x, p.pose.position.y, p.pose.position.z = pose.position_enu_m
        q = p.pose.orientation
        q.w, q.x, q.y, q.z = pose.orientation_wxyz
        self.pose_pub.publish(p)
        ci = CameraInfo()
        ci.width, ci.height = info['width'], info['height']
        ci.distortion_model, ci.d, ci.k, ci.r, ci.p = (
            info['distortion_model'],
            info['d'],
            info['k'],
            info['r'],
            info['p'],
        )
        self.info_pub.publish(ci)
        msg = Image(encoding='rgb8', height=rgb.shape[0], width=rgb.shape[1])
        msg.header.stamp, msg.header.frame_id = stamp, 'uav0/camera_optical'
        msg.step = msg.width * 3
        msg.data = rgb.tobytes()
        self.image_pub.publish(msg)
        self.sent[stamp_ns(stamp)] = time.monotonic()

    def run(self, frames, seconds, events=()):
        """Publish frames at RATE_HZ for `seconds`; call each (at_s, fn) once at its time."""
        info, pose, rgb = frames
        events = sorted(events, key=lambda e: e[0])
        start = time.monotonic()
        k = 0
        while (now := time.monotonic() - start) < seconds:
            while events and events[0][0] <= now:
                events.pop(0)[1]()
            self.publish_frame(info, pose, rgb[k % len(rgb)])
            k += 1
            spin_until(self.executor, lambda k=k: time.monotonic() - start >= k / RATE_HZ, 1.0)

        # Every frame gets a result, or is counted as dropped by newest-frame-only (when the
        # shared 2-core machine slows local inference below the camera rate): wait, bounded.
        def done():
            return len(self.masks) + self.node.stats.frames_dropped >= len(self.sent)

        assert spin_until(self.executor, done, 10.0), (
            f'{len(self.sent) - len(self.masks)} frames without a result'
        )
        assert self.node.stats.frames_dropped <= 0.1 * len(self.sent)
        return start

    def values(self):
        return self.node.status_values()

    def local_ms(self):
        return float(self.values()['local_inference_ms'])

    def check_gaps(self, what):
        """Assert no gap between results longer than a camera period + one on-board inference."""
        values = self.values()
        # One emulated on-board inference: the longest model run seen, times the emulation
        # factor (the emulation waits (SCALE - 1) x the model's measured time after it).
        local_s = float(values['inference_ms_max']) * SCALE / 1e3
        worst = max(gaps_s(self.masks))
        bound = 1.0 / RATE_HZ + local_s + GAP_SLACK_S
        print(
            f'{what}: worst gap {worst * 1e3:.0f} ms, bound {bound * 1e3:.0f} ms (period '
            f'{1e3 / RATE_HZ:.0f} + local {local_s * 1e3:.0f} (mean '
            f'{values["local_inference_ms"]}) + slack {GAP_SLACK_S * 1e3:.0f}); '
            f'hedges {values["hedges"]}, won on board {values["hedges_won_local"]}, won at the '
            f'edge {values["hedges_won_edge"]}, fallbacks {values["fallbacks"]}'
        )
        assert worst <= bound


def stamp_ns(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def check_one_result_each(rig):
    """Assert every frame got exactly one result (or was dropped by newest-frame-only)."""
    stamps = [s for s, _ in rig.masks]
    assert len(stamps) == len(set(stamps)), 'a frame got two results'
    assert set(stamps) <= set(rig.sent)
    assert len(stamps) + rig.node.stats.frames_dropped == len(rig.sent)


def gaps_s(masks, after=0.0):
    times = sorted(t for _, t in masks if t >= after)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_good_link_offloads_most_frames_in_time(ros_context, executor, tmp_path, frames):
    rig = Rig(ros_context, executor, tmp_path, profile='good')
    rig.run(frames, 5.0)
    values = rig.values()
    latency = [t - rig.sent[s] for s, t in rig.masks]
    hits = int(values['edge_hits'])
    print(f'good link: {len(rig.sent)} frames, {hits} edge hits, status {values}')
    assert sorted(s for s, _ in rig.masks) == sorted(rig.sent)  # one result per frame
    assert hits >= 0.7 * len(rig.sent)
    assert float(values['offload_ratio']) >= 0.7
    assert sum(x <= 0.5 for x in latency) >= 0.9 * len(latency)
    assert float(values['latency_edge_ms_p95']) < 500.0
    assert float(values['latency_edge_ms_p50']) < float(values['local_inference_ms'])
    assert int(values['bytes_sent']) > 10_000 * hits
    assert values['results_malformed'] == '0' and values['errors'] == '0'
    # Edge results bring the land cover too: every observation has its classes.
    published = int(values['observations_published'])
    assert published > 0 and values['class_observations_published'] == str(published)


def test_outage_every_frame_gets_a_local_result_then_recovers(
    ros_context, executor, tmp_path, frames
):
    profile = tmp_path / 'outage.yaml'
    profile.write_text(
        'name: outage\nbandwidth_mbit_s: 20.0\ndelay_ms: 30.0\njitter_ms: 3.0\n'
        'outages: [[2.0, 4.5]]\n'
    )
    rig = Rig(ros_context, executor, tmp_path, profile=str(profile))
    hits = {}
    start = rig.run(
        frames, 8.0, events=[(1.9, lambda: hits.update(before=rig.node.edge['edge_hits']))]
    )
    values = rig.values()
    print(f'outage: {len(rig.sent)} frames, status {values}')
    check_one_result_each(rig)
    if hits['before'] > 0:  # it was offloading when the link went down: done on board
        assert int(values['hedges_won_local']) + int(values['fallbacks']) >= 1
    assert values['fallbacks_dropped'] == '0'
    # No gap longer than one camera period plus one on-board inference (plus slack): the frame
    # in flight when the link dies is hedged on board soon after its expected edge latency.
    rig.check_gaps('outage')
    # recovery: edge results again after the link is back
    back = [s for s, t in rig.masks if t > start + 5.5]
    assert back
    assert int(values['edge_hits']) > 0
    hits_after = rig.node.edge['edge_hits']
    assert hits_after >= 0.5 * len([s for s in rig.sent if rig.sent[s] > start + 5.5])


def test_edge_server_killed_mid_run_falls_back_locally(ros_context, executor, tmp_path, frames):
    rig = Rig(ros_context, executor, tmp_path, direct=True)

    def kill():
        executor.remove_node(rig.edge)
        rig.edge.destroy_node()
        rig.hits_at_kill = rig.node.edge['edge_hits']

    start = rig.run(frames, 6.0, events=[(2.5, kill)])
    values = rig.values()
    print(f'edge killed: {len(rig.sent)} frames, status {values}')
    assert rig.hits_at_kill >= 3  # it was offloading before
    check_one_result_each(rig)
    # The frame in flight at the kill: hedged on board (or, if the worker was late, after its
    # timeout).
    assert int(values['hedges_won_local']) + int(values['fallbacks']) >= 1
    rig.check_gaps('edge killed')
    late = [t for s, t in rig.masks if t > start + 3.5]
    assert late  # frames after the kill got (local) results
    assert int(values['edge_hits']) <= rig.hits_at_kill + 1


def test_bad_results_are_counted_and_ignored(ros_context, executor, tmp_path, frames):
    from sensor_msgs.msg import CompressedImage

    from uav_flood.core.offload import result_format

    rig = Rig(
        ros_context,
        executor,
        tmp_path,
        direct=True,
        edge=False,
        offload_mode='edge',
        local_compute_scale=1.0,
        offload_hedge=False,  # this test checks the timeout path
    )
    info, pose, rgb = frames
    node = rig.node

    def reply(request, data, fmt=None, stamp=None):
        fmt = result_format(0.0, 0.01) if fmt is None else fmt
        msg = CompressedImage(header=request.header, format=fmt, data=data)
        if stamp is not None:
            msg.header.stamp = stamp
        rig.result_pub.publish(msg)

    good = cv2.imencode('.png', np.full((480, 640), 255, np.uint8))[1].tobytes()
    rig.publish_frame(info, pose, rgb[0])
    assert spin_until(executor, lambda: len(rig.requests) == 1, 5.0)
    request = rig.requests[0]
    reply(request, b'not a png')
    reply(request, cv2.imencode('.png', np.zeros((10, 10), np.uint8))[1].tobytes())
    reply(request, b'\x89PNG' + bytes(640 * 480 + 70_000))  # oversized
    assert spin_until(executor, lambda: node.edge['results_malformed'] == 3, 3.0)
    assert rig.masks == []
    reply(request, good)
    assert spin_until(executor, lambda: len(rig.masks) == 1, 3.0)
    reply(request, good)  # duplicate
    from builtin_interfaces.msg import Time

    reply(request, good, stamp=Time(sec=1, nanosec=5))  # unknown stamp
    assert spin_until(
        executor,
        lambda: node.edge['results_duplicate'] == 1 and node.edge['results_unknown'] == 1,
        3.0,
    )
    assert node.edge['edge_hits'] == 1 and len(rig.masks) == 1
    # a refused frame is segmented on board
    rig.publish_frame(info, pose, rgb[1])
    assert spin_until(executor, lambda: len(rig.requests) == 2, 5.0)
    reply(rig.requests[1], b'', fmt='refused: queue full')
    assert spin_until(executor, lambda: len(rig.masks) == 2, 5.0)
    assert node.edge['fallbacks'] == 1
    # no answer at all: the timeout sends it on board
    rig.publish_frame(info, pose, rgb[2])
    assert spin_until(executor, lambda: len(rig.masks) == 3, 5.0)
    values = rig.values()
    assert values['misses_timeout'] == '1' and values['misses_refused_queue_full'] == '1'
    assert values['fallbacks'] == '2' and values['errors'] == '0'


def test_an_edge_result_with_unreadable_classes_keeps_its_water_mask(
    ros_context, executor, tmp_path, frames
):
    """Classes announced after the mask but not a PNG of that size: the water is published, the
    result counted malformed, no class observation sent; readable classes go out with it."""
    from sensor_msgs.msg import CompressedImage

    from uav_flood.core.offload import pack_classes, result_format

    rig = Rig(
        ros_context,
        executor,
        tmp_path,
        direct=True,
        edge=False,
        offload_mode='edge',
        local_compute_scale=1.0,
        offload_hedge=False,
    )
    info, pose, rgb = frames
    node = rig.node
    mask = cv2.imencode('.png', np.full((480, 640), 255, np.uint8))[1].tobytes()

    def answer(index, classes, shape):
        fmt = result_format(0.0, 0.01, len(mask), shape)
        request = rig.requests[index]
        rig.result_pub.publish(
            CompressedImage(header=request.header, format=fmt, data=mask + classes)
        )

    rig.publish_frame(info, pose, rgb[0])
    assert spin_until(executor, lambda: len(rig.requests) == 1, 5.0)
    answer(0, b'not a png', (96, 128))
    assert spin_until(executor, lambda: len(rig.masks) == 1, 3.0)
    assert node.edge['results_malformed'] == 1 and node.edge['edge_hits'] == 1
    assert node.stats.class_observations_published == 0
    labels = np.full((96, 128), 5, np.uint8)
    rig.publish_frame(info, pose, rgb[1])
    assert spin_until(executor, lambda: len(rig.requests) == 2, 5.0)
    answer(1, pack_classes(labels, np.full((96, 128), 200, np.uint8)), (96, 128))
    assert spin_until(executor, lambda: len(rig.masks) == 2, 3.0)
    assert node.edge['results_malformed'] == 1
    assert spin_until(executor, lambda: node.stats.class_observations_published == 1, 3.0)


@pytest.mark.parametrize(
    ('name', 'value'),
    [
        ('offload_mode', 'cloud'),
        ('local_compute_scale', 0.5),
        ('jpeg_quality', 0),
        ('deadline_ms', 0.0),
        ('offload_alpha', 2.0),
        ('offload_hedge_margin_ms', -1.0),
    ],
)
def test_bad_offload_parameter_is_a_config_error(ros_context, name, value):
    from rclpy.parameter import Parameter

    from uav_flood.core.errors import ConfigError
    from uav_flood.nodes.segmentation import SegmentationNode

    overrides = [Parameter(name, value=value)]
    if name != 'offload_mode':
        overrides.append(Parameter('offload_mode', value='adaptive'))
    with pytest.raises(ConfigError) as info:
        SegmentationNode(context=ros_context, namespace='/uav0', parameter_overrides=overrides)
    assert info.value.source == name


def good_mask():
    return cv2.imencode('.png', np.full((480, 640), 255, np.uint8))[1].tobytes()


def hand_answered_rig(ros_context, executor, tmp_path, scale, **seg):
    """Return a rig without an edge server (the test answers), always-edge, deadline 2 s."""
    return Rig(
        ros_context,
        executor,
        tmp_path,
        direct=True,
        edge=False,
        offload_mode='edge',
        local_compute_scale=scale,
        deadline_ms=2000.0,
        offload_timeout_factor=3.0,
        **seg,
    )


def answer(rig, request, data):
    from sensor_msgs.msg import CompressedImage

    from uav_flood.core.offload import result_format

    rig.result_pub.publish(
        CompressedImage(header=request.header, format=result_format(0.0, 0.01), data=data)
    )


def test_hedge_on_board_result_first_edge_answer_only_measures(
    ros_context, executor, tmp_path, frames
):
    # No edge server: the test answers by hand. Expected edge latency from the priors ~0.25 s:
    # the frame is hedged ~0.3 s after it is sent; the timeout (deadline 2 s) is ~1 s.
    rig = hand_answered_rig(ros_context, executor, tmp_path, 1.0)
    info, pose, rgb = frames
    node = rig.node
    rig.publish_frame(info, pose, rgb[0])
    assert spin_until(executor, lambda: len(rig.requests) == 1, 5.0)
    assert spin_until(executor, lambda: len(rig.masks) == 1, 3.0)  # the on-board result
    sent = next(iter(rig.sent.values()))
    assert rig.masks[0][1] - sent < 0.9  # well before the timeout
    assert node.edge['hedges_won_local'] == 1 and node._offload.policy.hedges == 1
    answer(rig, rig.requests[0], good_mask())  # in time: measures the edge, not published
    assert spin_until(executor, lambda: node._offload.policy.hedges_answered == 1, 3.0)
    values = rig.values()
    assert len(rig.masks) == 1 and values['edge_hits'] == '0'
    assert values['hits'] == '1' and values['edge_down'] == 'false'
    assert values['misses'] == '0' and values['fallbacks'] == '0'
    assert values['results_duplicate'] == '0' and values['results_unknown'] == '0'


def test_hedge_edge_result_first_on_board_result_discarded(
    ros_context, executor, tmp_path, frames
):
    # A slow on-board computer (~40 x 13 ms): the edge answers while the hedge runs.
    rig = hand_answered_rig(ros_context, executor, tmp_path, 40.0)
    info, pose, rgb = frames
    node = rig.node
    rig.publish_frame(info, pose, rgb[0])
    assert spin_until(executor, lambda: len(rig.requests) == 1, 5.0)
    assert spin_until(executor, lambda: node._offload.policy.hedges == 1, 3.0)
    answer(rig, rig.requests[0], good_mask())
    assert spin_until(executor, lambda: len(rig.masks) == 1, 3.0)  # the edge's, at once
    assert node.edge['edge_hits'] == 1
    # The hedge finishes (the model's time is recorded) and its result is discarded.
    assert spin_until(executor, lambda: node._offload.policy.local_s.count == 1, 5.0)
    spin_until(executor, lambda: len(rig.masks) > 1, 0.2)  # a second mask would come now
    values = rig.values()
    assert len(rig.masks) == 1
    assert values['hedges_won_edge'] == '1' and values['hedges_won_local'] == '0'
    assert values['hits'] == '1' and values['hedges_answered'] == '1'


def test_hedge_off_waits_for_the_timeout(ros_context, executor, tmp_path, frames):
    rig = hand_answered_rig(ros_context, executor, tmp_path, 1.0, offload_hedge=False)
    info, pose, rgb = frames
    rig.publish_frame(info, pose, rgb[0])
    assert spin_until(executor, lambda: len(rig.masks) == 1, 5.0)
    sent = next(iter(rig.sent.values()))
    assert rig.masks[0][1] - sent > 0.9  # after the ~1 s timeout, not at ~0.3 s
    values = rig.values()
    assert values['hedges'] == '0' and values['fallbacks'] == '1'
    assert values['misses_timeout'] == '1'
