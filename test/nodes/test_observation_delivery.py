"""Exactly-once delivery under real rclpy: a real segmentation node and a real flood_mapper.

The probe flies the drone (a pose stamped now, then a frame with that stamp), the segmentation
node segments each frame and publishes its observation, and the mapper fuses it. Every frame is
the same view, so every observation is the same patch: a cell's observation count in the map is
the number of times that patch was fused, and it must equal the number of distinct observations
(ids) the drone published, whatever was re-sent, lost or duplicated on the way. The map is also
compared with one fused from the distinct observations, once each.

Short ack timeouts (1 s, backoff up to 2 s) keep the re-sends within the test's time.
"""

import time

import numpy as np
import pytest

from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.core.georef import VehiclePose
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene

VEHICLE = 'uav0'
ALTITUDE_M = 60.0


@pytest.fixture(scope='module')
def scene():
    return FloodScene.load()


def make_segmentation(ros_context):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.segmentation import SegmentationNode

    overrides = {
        'threads': 1,
        'max_side': 160,
        'outbox_ack_timeout_s': 1.0,
        'outbox_max_backoff_s': 2.0,
    }
    return SegmentationNode(
        context=ros_context,
        namespace=f'/{VEHICLE}',
        parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
    )


def make_mapper(ros_context, checkpoint, interval_s=0.5):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.flood_mapper import FloodMapperNode

    overrides = {
        'vehicles': [VEHICLE],
        'checkpoint_file': str(checkpoint),
        'checkpoint_interval_s': interval_s,
        'publish_rate_hz': 5.0,
        'tracks': False,
    }
    return FloodMapperNode(
        context=ros_context,
        parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
    )


class Flight:
    """The probe: flies the drone, collects every observation message the drone publishes."""

    def __init__(self, ros_context, executor, scene, segmentation):
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import OccupancyGrid
        import rclpy
        from sensor_msgs.msg import CameraInfo, Image

        from uav_flood.nodes import names

        self.executor, self.segmentation = executor, segmentation
        self._last_pose = 0.0
        self.node = rclpy.create_node('delivery_probe', context=ros_context)
        executor.add_node(self.node)
        self.pose_pub = self.node.create_publisher(PoseStamped, f'/{VEHICLE}/pose', names.POSE.qos)
        self.image_pub = self.node.create_publisher(
            Image, f'/{VEHICLE}/camera/image_raw', names.CAMERA_IMAGE.qos
        )
        info_pub = self.node.create_publisher(
            CameraInfo, f'/{VEHICLE}/camera/camera_info', names.CAMERA_INFO.qos
        )
        self.messages = []
        self.node.create_subscription(
            OccupancyGrid,
            f'/{VEHICLE}/flood_observation',
            self.messages.append,
            names.FLOOD_OBSERVATION.qos,
        )
        east, north = scene.centre_enu
        self.position = (east, north, ALTITUDE_M)
        camera = SimCamera.default(scene, 160, 120, 70.0)
        self.pixels, _, _ = camera.render(VehiclePose(self.position))
        pubs = (self.pose_pub, self.image_pub, info_pub)
        assert self.spin(lambda: all(p.get_subscription_count() for p in pubs), 5.0)
        fields = camera.camera_info_fields()
        info = CameraInfo()
        info.width, info.height = fields['width'], fields['height']
        info.distortion_model = fields['distortion_model']
        info.d, info.k, info.r, info.p = fields['d'], fields['k'], fields['r'], fields['p']
        info_pub.publish(info)
        assert self.spin(lambda: segmentation.stats.camera_infos_received >= 1, 5.0)

    def pose(self, stamp_ns):
        from builtin_interfaces.msg import Time
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        msg.header.frame_id = 'map'
        msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        p = msg.pose.position
        p.x, p.y, p.z = self.position
        msg.pose.orientation.w = 1.0
        self.pose_pub.publish(msg)
        return msg.header.stamp

    def spin(self, predicate, timeout_s):
        """Spin until predicate() (reporting the drone's pose at 10 Hz); return predicate()."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return predicate()
            if time.monotonic() - self._last_pose >= 0.1:
                self.pose(time.time_ns())
                self._last_pose = time.monotonic()
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def frames(self, count):
        """Take `count` frames, each published only once the last one's observation is out."""
        from sensor_msgs.msg import Image

        for _ in range(count):
            published = self.segmentation.stats.observations_published
            msg = Image()
            msg.header.frame_id = f'{VEHICLE}/camera_optical'
            msg.header.stamp = self.pose(time.time_ns())
            msg.height, msg.width = self.pixels.shape[:2]
            msg.encoding, msg.step = 'rgb8', msg.width * 3
            msg.data = self.pixels.tobytes()
            self.image_pub.publish(msg)
            assert self.spin(
                lambda p=published: self.segmentation.stats.observations_published == p + 1, 20.0
            )

    def distinct(self):
        """Return the observations the drone published, one per id (stamp)."""
        unique = {}
        for msg in self.messages:
            unique.setdefault((msg.header.stamp.sec, msg.header.stamp.nanosec), msg)
        return list(unique.values())

    def pending(self):
        with self.segmentation._lock:
            return len(self.segmentation._outbox)


def fused_once(observations, resolution_m=0.5):
    """Return the map of each observation fused exactly once."""
    reference = FloodMap(FusionConfig(resolution_m=resolution_m))
    for msg in observations:
        info = msg.info
        reference.apply_arrays(
            info.origin.position.x,
            info.origin.position.y,
            info.resolution,
            int(info.width),
            int(info.height),
            np.asarray(msg.data, dtype=np.int8),
        )
    return reference


def assert_same_evidence(flood_map, reference):
    assert flood_map.bounds_cells == reference.bounds_cells
    for mine, theirs in zip(flood_map.evidence(), reference.evidence(), strict=True):
        assert np.array_equal(mine, theirs)


def stop(executor, node):
    executor.remove_node(node)
    node.destroy_node()


def test_mapper_absent_then_restarted_every_observation_fused_exactly_once(
    ros_context, executor, scene, tmp_path
):
    """The mapper not yet created, then destroyed and re-created from its checkpoint, while the
    drone keeps mapping: when it is back, every observation is fused exactly once."""
    checkpoint = tmp_path / 'map.npz'
    segmentation = make_segmentation(ros_context)
    executor.add_node(segmentation)
    flight = Flight(ros_context, executor, scene, segmentation)

    # No mapper yet: 4 observations go out into the void and are re-sent.
    flight.frames(4)
    assert flight.spin(lambda: segmentation._outbox.resent >= 4, 5.0)
    assert flight.pending() == 4

    mapper = make_mapper(ros_context, checkpoint)
    executor.add_node(mapper)
    assert flight.spin(
        lambda: mapper.map.observations_applied == 4 and flight.pending() == 0, 30.0
    ), (mapper.status_values(), flight.pending())

    # The mapper goes away (its final checkpoint is saved), 3 more observations are made.
    stop(executor, mapper)
    assert FloodMap.load(checkpoint).observations_applied == 4
    flight.frames(3)
    assert flight.pending() >= 3

    again = make_mapper(ros_context, checkpoint)
    assert again.map.observations_applied == 4 and again.ledger.remembered(VEHICLE) == 4
    executor.add_node(again)
    assert flight.spin(
        lambda: again.map.observations_applied == 7 and flight.pending() == 0, 30.0
    ), (again.status_values(), flight.pending())
    # Let any re-send still in flight arrive: it must be a duplicate, not a fusion.
    flight.spin(lambda: False, 1.5)

    distinct = flight.distinct()
    print(
        f'\nmapper away twice: {len(distinct)} observations, {len(flight.messages)} messages '
        f'(re-sends included); second mapper: {again.status_values()["duplicates"]} duplicates'
    )
    assert len(distinct) == 7 and len(flight.messages) > 7
    assert again.map.observations_applied == 7 and again.ledger.fused == 3
    assert int(again.map.observation_count().max()) == 7
    assert_same_evidence(again.map, fused_once(distinct))
    values = segmentation.status_values()
    assert values['outbox_acked'] == '7' and values['outbox_pending'] == '0'
    assert values['outbox_dropped_full'] == '0' and values['observations_published'] == '7'


def test_mapper_killed_after_fusing_before_its_checkpoint(ros_context, executor, scene, tmp_path):
    """Fused but not yet in a checkpoint: not acknowledged, so the drone re-sends it to the
    restarted mapper, which fuses it (its checkpoint lacks it), and nothing twice."""
    checkpoint = tmp_path / 'map.npz'
    segmentation = make_segmentation(ros_context)
    executor.add_node(segmentation)
    flight = Flight(ros_context, executor, scene, segmentation)
    mapper = make_mapper(ros_context, checkpoint, interval_s=3600.0)  # saves only when told
    executor.add_node(mapper)

    flight.frames(2)
    assert flight.spin(lambda: mapper.map.observations_applied == 2, 20.0)
    assert mapper.checkpoint()
    assert flight.spin(lambda: flight.pending() == 0, 10.0)
    flight.frames(3)
    assert flight.spin(lambda: mapper.map.observations_applied == 5, 20.0)
    flight.spin(lambda: False, 1.5)  # re-sends of the unsaved three: duplicates, not acked
    assert flight.pending() == 3 and mapper.ledger.duplicates >= 1

    # The crash: no checkpoint after the fusion (SIGKILL would not save either).
    mapper.checkpoint = lambda: False
    stop(executor, mapper)
    assert FloodMap.load(checkpoint).observations_applied == 2

    again = make_mapper(ros_context, checkpoint)
    assert again.ledger.remembered(VEHICLE) == 2
    executor.add_node(again)
    assert flight.spin(
        lambda: again.map.observations_applied == 5 and flight.pending() == 0, 30.0
    ), (again.status_values(), flight.pending())
    flight.spin(lambda: False, 1.5)
    distinct = flight.distinct()
    assert len(distinct) == 5
    assert again.map.observations_applied == 5 and again.ledger.fused == 3
    assert int(again.map.observation_count().max()) == 5
    assert_same_evidence(again.map, fused_once(distinct))
    reloaded = FloodMap.load(checkpoint)
    assert reloaded.observations_applied == 5
    assert_same_evidence(reloaded, fused_once(distinct))
