"""flood_mapper under real rclpy: fusion, /flood_map, markers, refusals, checkpoints, SIGKILL,
duplicates and durable acknowledgements, implausible observations.

In-process tests put the node and a probe on one executor; the crash test runs the installed
console script as a child process, SIGKILLs it mid-stream and restarts it on the same file.
Observations carry their own stamps (the stamp is the observation's id: two with one stamp are one
observation) from the wall clock, and the probe reports the drones' poses first: the mapper refuses
stale stamps and judges a patch by the pose of its drone.
"""

import itertools
import os
from pathlib import Path
import signal
import subprocess
import time

import numpy as np
import pytest

from uav_flood.core.flood_map import FloodMap
from uav_flood.testing import spin_until

RES = 0.5
#: Vehicle names no other test uses, so that observations of a concurrent run never mix in.
VEHICLES = ('fmap0', 'fmap1')


_SEQUENCE = itertools.count()


def fresh_stamp_ns():
    """Return a wall-clock stamp (ns) no other call returned: a new observation id."""
    return time.time_ns() + next(_SEQUENCE)


def to_time(ns):
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


def grid_msg(col0, row0, data, frame='map', res=RES, stamp_ns=None):
    """Return an OccupancyGrid observation whose south-west cell is global (col0, row0).

    :param stamp_ns: its stamp, i.e. its id; default a fresh one.
    """
    from nav_msgs.msg import OccupancyGrid

    data = np.asarray(data, dtype=np.int8)
    msg = OccupancyGrid()
    msg.header.stamp = to_time(fresh_stamp_ns() if stamp_ns is None else stamp_ns)
    msg.header.frame_id = frame
    msg.info.resolution = float(res)
    msg.info.width, msg.info.height = int(data.shape[1]), int(data.shape[0])
    msg.info.origin.position.x = col0 * res
    msg.info.origin.position.y = row0 * res
    msg.info.origin.orientation.w = 1.0
    msg.data = data.reshape(-1).tolist()
    return msg


class Probe:
    """Publishes observations and poses for both vehicles; keeps the map, markers, status, acks."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import OccupancyGrid
        from std_msgs.msg import Int64MultiArray
        from visualization_msgs.msg import MarkerArray

        from uav_flood.nodes import names

        self.obs = {
            v: node.create_publisher(
                OccupancyGrid, f'/{v}/flood_observation', names.FLOOD_OBSERVATION.qos
            )
            for v in VEHICLES
        }
        self.poses = {
            v: node.create_publisher(PoseStamped, f'/{v}/pose', names.POSE.qos) for v in VEHICLES
        }
        self.pose = self.poses[VEHICLES[0]]
        self.acks = {v: [] for v in VEHICLES}
        for v in VEHICLES:
            node.create_subscription(
                Int64MultiArray,
                f'/{v}/flood_observation/ack',
                lambda msg, v=v: self.acks[v].extend(msg.data),
                names.FLOOD_OBSERVATION_ACK.qos,
            )
        self.maps, self.markers, self.statuses = [], [], []
        node.create_subscription(
            OccupancyGrid, '/flood_map', self.maps.append, names.FLOOD_MAP.qos
        )
        node.create_subscription(
            MarkerArray, '/flood_map/markers', self.markers.append, names.FLOOD_MAP_MARKERS.qos
        )
        node.create_subscription(
            DiagnosticArray, '/flood_map/status', self.statuses.append, names.STATE_QOS
        )

    def status(self):
        from uav_flood.nodes.conversions import diagnostic_values

        return diagnostic_values(self.statuses[-1]) if self.statuses else {}

    def report_pose(self, vehicle, x, y, z, stamp_ns=None):
        """Publish a pose of `vehicle` in map, stamped now unless given."""
        from geometry_msgs.msg import PoseStamped

        pose = PoseStamped()
        pose.header.frame_id = 'map'
        pose.header.stamp = to_time(time.time_ns() if stamp_ns is None else stamp_ns)
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x, y, z
        pose.pose.orientation.w = 1.0
        self.poses[vehicle].publish(pose)


def hover(executor, probe, mapper, at=(0.0, 0.0, 20.0), vehicles=VEHICLES):
    """Report every vehicle hovering at `at` until the mapper has a position of each."""
    for v in vehicles:
        probe.report_pose(v, *at)
    assert spin_until(executor, lambda: all(len(mapper.gate.traces[v]) for v in vehicles), 5.0)


def probe_for(ros_context, executor, mapper):
    """Spin `mapper` and a Probe; return the probe once its publishers reach the mapper."""
    from rclpy.node import Node

    probe_node = Node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe_node)
    probe = Probe(probe_node)
    assert wait_matched(executor, probe)
    return probe


def make_mapper(ros_context, tmp_path, **overrides):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.flood_mapper import FloodMapperNode

    values = {
        'vehicles': list(VEHICLES),
        'publish_rate_hz': 20.0,
        'markers_period_s': 0.2,
        'min_polygon_area_m2': 0.0,
        'track_step_m': 1.0,
        **overrides,
    }
    return FloodMapperNode(
        context=ros_context,
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
    )


def wait_matched(executor, probe, timeout=5.0):
    return spin_until(
        executor,
        lambda: all(p.get_subscription_count() > 0 for p in probe.obs.values()),
        timeout,
    )


def test_fuses_both_vehicles_publishes_map_markers_and_status(ros_context, executor, tmp_path):
    from visualization_msgs.msg import Marker

    mapper = make_mapper(ros_context, tmp_path)
    probe = probe_for(ros_context, executor, mapper)
    hover(executor, probe, mapper)
    water = np.full((10, 20), 100)
    for _ in range(3):
        probe.obs[VEHICLES[0]].publish(grid_msg(0, 0, water))
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 20, np.zeros((4, 4))))  # dry, elsewhere
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 0, water, frame='fmap1/base_link'))  # refused
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 0, water, res=1.0))  # refused
    for x in (5.0, 10.0):
        probe.report_pose(VEHICLES[0], x, 0.0, 20.0)

    def ready():
        s = probe.status()
        return s.get('observations_applied') == '4' and s.get('rejected_total') == '2'

    assert spin_until(executor, ready, 5.0), probe.status()
    status = probe.status()
    assert status['rejected_frame'] == '1' and status['rejected_resolution'] == '1'
    assert status[f'observations_{VEHICLES[0]}'] == '3'
    assert status[f'observations_{VEHICLES[1]}'] == '1'
    assert status['cells_known'] == str(200 + 16)
    assert float(status['water_area_m2']) == pytest.approx(200 * RES * RES)
    assert spin_until(executor, lambda: probe.maps and probe.maps[-1].info.height == 24, 3.0)
    grid = probe.maps[-1]
    assert grid.header.frame_id == 'map' and grid.info.width == 20
    data = np.asarray(grid.data, dtype=np.int8).reshape(24, 20)
    assert (data[:10] == 97).all() and (data[10:20] == -1).all()  # 3 x water: P = 0.9966
    assert (data[20:, :4] == 15).all() and (data[20:, 4:] == -1).all()  # 1 x dry: P = 0.15

    def has_outline():
        return any(
            any(m.ns == 'flood_outline' for m in a.markers)
            and any(m.ns == 'track' and len(m.points) == 3 for m in a.markers)
            for a in probe.markers
        )

    assert spin_until(executor, has_outline, 5.0)
    last = next(a for a in reversed(probe.markers) if any(m.ns == 'track' for m in a.markers))
    assert last.markers[0].action == Marker.DELETEALL
    outline = next(m for m in last.markers if m.ns == 'flood_outline')
    xs = [p.x for p in outline.points]
    ys = [p.y for p in outline.points]
    assert outline.type == Marker.LINE_STRIP and outline.header.frame_id == 'map'
    assert (min(xs), max(xs), min(ys), max(ys)) == (0.0, 10.0, 0.0, 5.0)
    text = next(m for m in last.markers if m.ns == 'flood_area')
    assert text.type == Marker.TEXT_VIEW_FACING and text.text.startswith('50 m2')


def test_checkpoints_and_reloads_and_sets_corrupt_file_aside(ros_context, executor, tmp_path):
    from rclpy.node import Node

    path = tmp_path / 'map.npz'
    path.write_bytes(b'garbage, not a checkpoint')
    mapper = make_mapper(ros_context, tmp_path, checkpoint_file=str(path))
    assert mapper.set_aside and Path(mapper.set_aside).read_bytes() == b'garbage, not a checkpoint'
    probe_node = Node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe_node)
    probe = Probe(probe_node)
    assert spin_until(executor, lambda: probe.status().get('set_aside') == mapper.set_aside, 3.0)
    assert probe.statuses[-1].status[0].level == b'\x01'  # WARN
    assert wait_matched(executor, probe)
    hover(executor, probe, mapper)
    probe.obs[VEHICLES[0]].publish(grid_msg(2, 3, np.full((2, 2), 100)))
    assert spin_until(executor, lambda: mapper.last_checkpoint == str(path), 5.0)
    loaded = FloodMap.load(path)
    assert loaded.observations_applied == 1 and loaded.bounds_cells == (2, 3, 4, 5)
    # The set-aside file is still there, untouched.
    assert Path(mapper.set_aside).read_bytes() == b'garbage, not a checkpoint'
    executor.remove_node(mapper)
    mapper.destroy_node()
    again = make_mapper(ros_context, tmp_path, checkpoint_file=str(path))
    try:
        assert again.set_aside == '' and again.map.observations_applied == 1
    finally:
        again.destroy_node()


def test_the_checkpoint_knows_its_origin_and_another_mission_never_mixes_in(
    ros_context, executor, tmp_path
):

    from uav_flood.core.geo import GeoPoint

    path = tmp_path / 'map.npz'
    here = {'origin_lat_deg': 29.76, 'origin_lon_deg': -95.37, 'origin_alt_m': 15.0}
    mapper = make_mapper(ros_context, tmp_path, checkpoint_file=str(path), **here)
    probe = probe_for(ros_context, executor, mapper)
    hover(executor, probe, mapper)
    probe.obs[VEHICLES[0]].publish(grid_msg(2, 3, np.full((2, 2), 100)))
    assert spin_until(executor, lambda: mapper.last_checkpoint == str(path), 5.0)
    assert FloodMap.load(path).origin == GeoPoint(29.76, -95.37, 15.0)
    executor.remove_node(mapper)
    mapper.destroy_node()
    # The same mission restarted: the map comes back.
    again = make_mapper(ros_context, tmp_path, checkpoint_file=str(path), **here)
    assert again.set_aside == '' and again.map.observations_applied == 1
    assert any(again.tracks.values())  # the drone's track came back with it
    again.destroy_node()
    # A mistyped origin (another continent): its cells are about another point of the Earth,
    # so the checkpoint is set aside, not mixed in.
    swapped = {**here, 'origin_lat_deg': -95.37 + 180 - 90, 'origin_lon_deg': 29.76}
    other = make_mapper(ros_context, tmp_path, checkpoint_file=str(path), **swapped)
    try:
        assert other.set_aside and other.map.observations_applied == 0
        assert not any(other.tracks.values())  # nor the old mission's tracks
        assert FloodMap.load(other.set_aside).origin == GeoPoint(29.76, -95.37, 15.0)
    finally:
        other.destroy_node()


def test_a_partial_origin_is_a_config_error(ros_context, tmp_path):
    from uav_flood.core.errors import ConfigError

    with pytest.raises(ConfigError, match='all three, or none'):
        make_mapper(ros_context, tmp_path, origin_lat_deg=29.76)


def test_sigkill_mid_stream_loses_at_most_one_checkpoint_interval(
    ros_context, executor, tmp_path, bin_dir, child_env
):
    from nav_msgs.msg import OccupancyGrid
    from rclpy.node import Node

    from uav_flood.nodes import names

    interval = 1.0
    path = tmp_path / 'crash.npz'
    cmd = [
        str(bin_dir / 'flood_mapper'),
        '--ros-args',
        '-p',
        f'vehicles:=[{VEHICLES[0]}]',
        '-p',
        f'checkpoint_file:={path}',
        '-p',
        f'checkpoint_interval_s:={interval}',
        '-p',
        'tracks:=false',
        # The probe reports no pose: stamps and sizes are still checked.
        '-p',
        'check_pose:=false',
    ]
    probe = Node('crash_probe', context=ros_context)
    executor.add_node(probe)
    pub = probe.create_publisher(
        OccupancyGrid, f'/{VEHICLES[0]}/flood_observation', names.FLOOD_OBSERVATION.qos
    )
    width = 100
    sent: list[float] = []  # publish time of observation k (monotonic)
    child = subprocess.Popen(
        cmd, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 20.0)
        # Observation k: a 1 x 1 water cell of its own at (k % width, k // width), 50 a second.
        start = time.monotonic()
        kill_at = start + 2.6
        while time.monotonic() < kill_at:
            k = len(sent)
            pub.publish(grid_msg(k % width, k // width, [[100]]))
            sent.append(time.monotonic())
            executor.spin_once(timeout_sec=0.02)
        killed = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    # Restart on the same file and read the map back from /flood_map (latched).
    maps = []
    probe.create_subscription(OccupancyGrid, '/flood_map', maps.append, names.FLOOD_MAP.qos)
    child = subprocess.Popen(
        cmd, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert spin_until(executor, lambda: bool(maps), 20.0)
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
    grid = maps[-1]
    data = np.asarray(grid.data, dtype=np.int8).reshape(grid.info.height, grid.info.width)
    col0 = round(grid.info.origin.position.x / RES)
    row0 = round(grid.info.origin.position.y / RES)
    kept = []
    for k in range(len(sent)):
        r, c = k // width - row0, k % width - col0
        inside = 0 <= r < data.shape[0] and 0 <= c < data.shape[1]
        kept.append(inside and data[r, c] > 50)
    missing = [k for k, ok in enumerate(kept) if not ok]
    loss_window = killed - sent[missing[0]] if missing else 0.0
    print(
        f'\nSIGKILL after {len(sent)} observations: {len(sent) - len(missing)} kept, '
        f'{len(missing)} lost; loss window {loss_window:.2f} s (interval {interval} s)'
    )
    old = [k for k, t in enumerate(sent) if t <= killed - interval]
    assert old, 'the stream was too short to test anything'
    assert all(kept[k] for k in old), f'lost old observations {[k for k in old if not kept[k]]}'
    assert loss_window <= interval
    assert os.path.exists(path)


def test_duplicates_are_fused_once_and_acked_only_once_durable(ros_context, executor, tmp_path):
    """The same observation twice is fused once and counted; with a checkpoint file the ack
    waits until a checkpoint holding it is on disk, and a re-send after that is acked again."""

    path = tmp_path / 'dup.npz'
    mapper = make_mapper(
        ros_context, tmp_path, checkpoint_file=str(path), checkpoint_interval_s=3600.0
    )
    probe = probe_for(ros_context, executor, mapper)
    hover(executor, probe, mapper)
    stamp = fresh_stamp_ns()
    msg = grid_msg(0, 0, np.full((4, 4), 100), stamp_ns=stamp)
    other = grid_msg(0, 0, np.full((4, 4), 100), stamp_ns=stamp)  # the same id, from uav1
    probe.obs[VEHICLES[0]].publish(msg)
    probe.obs[VEHICLES[0]].publish(msg)
    probe.obs[VEHICLES[1]].publish(other)

    def counted():
        s = probe.status()
        return s.get('fused') == '2' and s.get('duplicates') == '1'

    assert spin_until(executor, counted, 5.0), probe.status()
    assert int(mapper.map.observation_count().max()) == 2  # once per vehicle, not three times
    # Not durable yet: no acknowledgement, however long.
    spin_until(executor, lambda: False, 0.5)
    assert probe.acks == {v: [] for v in VEHICLES}
    assert probe.status()['awaiting_checkpoint'] == '2'
    assert mapper.checkpoint()
    assert spin_until(executor, lambda: all(probe.acks[v] == [stamp] for v in VEHICLES), 5.0)
    # A re-send after the ack (its ack was lost, say) is a duplicate, acknowledged again.
    probe.obs[VEHICLES[0]].publish(msg)
    assert spin_until(executor, lambda: probe.acks[VEHICLES[0]] == [stamp, stamp], 5.0)
    assert spin_until(executor, lambda: probe.status().get('duplicates') == '2', 3.0)
    assert mapper.map.observations_applied == 2


def test_thirty_fake_patches_far_from_the_drone_are_refused_and_counted(
    ros_context, executor, tmp_path
):
    """Issue 16: 30 all-water patches published as /<vehicle>/flood_observation 1 km from where
    that vehicle reports itself leave the map unchanged, each refused as `footprint`."""

    mapper = make_mapper(ros_context, tmp_path)
    probe = probe_for(ros_context, executor, mapper)
    hover(executor, probe, mapper, at=(0.0, 0.0, 40.0))
    genuine = np.zeros((40, 40))  # dry, under the drone
    probe.obs[VEHICLES[0]].publish(grid_msg(-20, -20, genuine))
    assert spin_until(executor, lambda: mapper.map.observations_applied == 1, 5.0)
    before = [a.copy() for a in mapper.map.evidence()]
    fakes = []
    for k in range(30):
        fake = grid_msg(2000 + 40 * k, 2000, np.full((40, 40), 100))  # about 1 km north-east
        fakes.append(fake)
        probe.obs[VEHICLES[0]].publish(fake)
        # One at a time: a burst beyond the topic's depth (20) is the outbox's business.
        assert spin_until(executor, lambda k=k: mapper.map.rejected['footprint'] == k + 1, 3.0)
        if k % 10 == 9:
            probe.report_pose(VEHICLES[0], 0.0, 0.0, 40.0)  # still hovering there
    assert spin_until(executor, lambda: probe.status().get('rejected_footprint') == '30', 3.0)
    status = probe.status()
    assert status['fused'] == '1' and status['rejected_total'] == '30'
    assert mapper.map.observations_applied == 1
    after = mapper.map.evidence()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # A refusal is final: acknowledged (with the genuine one), so an honest drone stops re-sending.
    ids = {f.header.stamp.sec * 10**9 + f.header.stamp.nanosec for f in fakes}
    assert spin_until(executor, lambda: ids <= set(probe.acks[VEHICLES[0]]), 3.0)


def test_stale_future_oversized_and_poseless_observations(ros_context, executor, tmp_path):

    mapper = make_mapper(ros_context, tmp_path, max_patch_cells=10_000)
    probe = probe_for(ros_context, executor, mapper)
    hover(executor, probe, mapper, vehicles=VEHICLES[:1])
    pub = probe.obs[VEHICLES[0]]
    pub.publish(grid_msg(0, 0, [[100]], stamp_ns=10**9))  # 1970
    pub.publish(grid_msg(0, 0, [[100]], stamp_ns=time.time_ns() + 60 * 10**9))
    pub.publish(grid_msg(0, 0, np.zeros((101, 100))))
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 0, [[100]]))  # no pose of fmap1 yet: deferred

    def counted():
        s = probe.status()
        return (
            s.get('rejected_stamp_old') == '1'
            and s.get('rejected_stamp_future') == '1'
            and s.get('rejected_too_large') == '1'
            and s.get('deferred') == '1'
        )

    assert spin_until(executor, counted, 5.0), probe.status()
    assert mapper.map.observations_applied == 0
    spin_until(executor, lambda: False, 0.3)
    assert probe.acks[VEHICLES[1]] == []  # deferred: not acknowledged, so the drone re-sends


def test_bad_delivery_and_plausibility_parameters_are_config_errors(ros_context, tmp_path):
    from uav_flood.core.errors import ConfigError

    for name, value in (
        ('dedupe_window', 0),
        ('max_view_angle_deg', 95.0),
        ('footprint_margin_m', -1.0),
        ('max_patch_cells', 0),
    ):
        with pytest.raises(ConfigError) as info:
            make_mapper(ros_context, tmp_path, **{name: value})
        assert info.value.source == name


def test_land_cover_is_fused_with_its_water_once_published_and_checkpointed(
    ros_context, executor, tmp_path
):
    """Classes before and after their water observation are fused once each; a re-send of both
    counts once; /flood_map/classes shows the classes; a restart reloads them; a broken class
    message is refused and counted."""
    from nav_msgs.msg import OccupancyGrid
    from sensor_msgs.msg import Image

    from uav_flood.core.class_map import ClassMap, ClassObservation
    from uav_flood.core.map_checkpoint import classes_path
    from uav_flood.core.responder_layers import CLASSES
    from uav_flood.nodes import names
    from uav_flood.nodes.conversions import class_observation_msg

    water, road = CLASSES.index('water'), CLASSES.index('road-non-flooded')
    path = tmp_path / 'map.npz'
    mapper = make_mapper(ros_context, tmp_path, checkpoint_file=str(path))
    probe = probe_for(ros_context, executor, mapper)
    probe_node = next(n for n in executor.get_nodes() if n.get_name() == 'probe')
    class_pubs = {
        v: probe_node.create_publisher(
            Image, f'/{v}/flood_observation/classes', names.FLOOD_OBSERVATION_CLASSES.qos
        )
        for v in VEHICLES
    }
    covers = []
    probe_node.create_subscription(
        OccupancyGrid, '/flood_map/classes', covers.append, names.FLOOD_MAP_CLASSES.qos
    )
    assert spin_until(
        executor, lambda: all(p.get_subscription_count() for p in class_pubs.values()), 5.0
    )
    hover(executor, probe, mapper)

    def cover_of(label, shape=(4, 6)):
        conf = np.full(shape, 230, np.uint8)
        return ClassObservation(np.full(shape, label, np.int8), conf)

    # fmap0: water first, then its classes (road); fmap1: classes first (water), then water.
    first, second = fresh_stamp_ns(), fresh_stamp_ns()
    probe.obs[VEHICLES[0]].publish(grid_msg(0, 0, np.zeros((4, 6)), stamp_ns=first))
    assert spin_until(executor, lambda: mapper.map.observations_applied == 1, 3.0)
    class_pubs[VEHICLES[0]].publish(class_observation_msg(cover_of(road), to_time(first)))
    class_pubs[VEHICLES[1]].publish(class_observation_msg(cover_of(water), to_time(second)))
    assert spin_until(executor, lambda: mapper.class_fusion.unpaired == 1, 3.0)
    probe.obs[VEHICLES[1]].publish(grid_msg(10, 0, np.full((4, 6), 100), stamp_ns=second))
    assert spin_until(executor, lambda: probe.status().get('classes_fused') == '2', 5.0), (
        probe.status()
    )
    # Re-sends of both: the water is a duplicate, the classes are dropped, nothing counts twice.
    probe.obs[VEHICLES[0]].publish(grid_msg(0, 0, np.zeros((4, 6)), stamp_ns=first))
    class_pubs[VEHICLES[0]].publish(class_observation_msg(cover_of(road), to_time(first)))
    bad = class_observation_msg(cover_of(road), to_time(fresh_stamp_ns()))
    bad.encoding = 'mono8'
    class_pubs[VEHICLES[1]].publish(bad)

    def settled():
        s = probe.status()
        return s.get('classes_dropped') == '1' and s.get('classes_refused') == '1'

    assert spin_until(executor, settled, 5.0), probe.status()
    status = probe.status()
    assert (status['classes_fused'], status['classes_unpaired']) == ('2', '0')
    assert status['class_cells_known'] == str(2 * 24)
    assert spin_until(executor, lambda: covers and covers[-1].info.width == 16, 3.0)
    grid = covers[-1]
    assert grid.header.frame_id == 'map' and grid.info.resolution == RES
    labels = np.asarray(grid.data, np.int8).reshape(grid.info.height, grid.info.width)
    assert (labels[:, :6] == road).all() and (labels[:, 10:] == water).all()
    assert (labels[:, 6:10] == -1).all()

    assert spin_until(executor, lambda: mapper.last_checkpoint == str(path), 5.0)
    saved = ClassMap.load(classes_path(path))
    assert saved.observations_applied == 2
    executor.remove_node(mapper)
    mapper.destroy_node()
    again = make_mapper(ros_context, tmp_path, checkpoint_file=str(path))
    try:
        assert again.class_fusion.map.observations_applied == 2
        assert int(again.class_fusion.map.land_cover().labels[0, 0]) == road
    finally:
        again.destroy_node()
    # A broken land-cover file is set aside; the water map is kept.
    classes_path(path).write_bytes(b'not a class map')
    third = make_mapper(ros_context, tmp_path, checkpoint_file=str(path))
    try:
        assert third.class_fusion.map.observations_applied == 0
        assert third.map.observations_applied == 2
        assert list(tmp_path.glob('map.npz.classes.npz.corrupt*'))
    finally:
        third.destroy_node()


def test_the_route_service_finds_passable_roads_and_refuses_flooded_ones(
    ros_context, executor, tmp_path
):
    """/flood_map/route (nav_msgs/GetPlan) on the land cover: a road 5 m wide and 100 m long,
    flooded over its middle 20 m: a route along the dry west part, none across the flood."""
    from nav_msgs.srv import GetPlan
    from rclpy.node import Node

    from uav_flood.core.class_map import ClassObservation, top_evidence
    from uav_flood.core.responder_layers import CLASSES
    from uav_flood.nodes import names

    mapper = make_mapper(ros_context, tmp_path)
    labels = np.full((30, 200), CLASSES.index('grass'), np.int8)
    labels[10:20, :] = CLASSES.index('road-non-flooded')  # north 5..10 m, east 0..100 m
    labels[10:20, 100:140] = CLASSES.index('road-flooded')  # east 50..70 m
    cover = ClassObservation(labels, np.full(labels.shape, 230, np.uint8))
    mapper.class_fusion.map.fuse(0, 0, top_evidence(cover), cover.seen)
    probe_node = Node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe_node)
    client = probe_node.create_client(GetPlan, names.ROUTE_SERVICE.name)
    assert spin_until(executor, client.service_is_ready, 5.0)

    def ask(start, goal, frame='map', tolerance=0.0):
        request = GetPlan.Request(tolerance=tolerance)
        for end, (x, y) in ((request.start, start), (request.goal, goal)):
            end.header.frame_id = frame
            end.pose.position.x, end.pose.position.y = x, y
        future = client.call_async(request)
        assert spin_until(executor, future.done, 5.0)
        return future.result().plan

    plan = ask((5.0, 7.5), (40.0, 7.5))
    assert plan.header.frame_id == 'map' and len(plan.poses) >= 2
    xs = [p.pose.position.x for p in plan.poses]
    assert min(xs) < 8.0 and max(xs) > 37.0 and all(x < 50.0 for x in xs)
    assert mapper.last_route.startswith('found: 3')  # about 35 m along the centre line
    assert ask((5.0, 7.5), (90.0, 7.5)).poses == []  # across the flood
    assert mapper.last_route.startswith('none: no passable road connects them')
    assert ask((5.0, 7.5), (5.0, 100.0)).poses == []  # far from any road
    assert 'no road within 30 m of the goal' in mapper.last_route
    assert ask((5.0, 7.5), (5.0, 100.0), tolerance=100.0).poses  # a wider snap reaches it
    assert ask((5.0, 7.5), (40.0, 7.5), frame='fmap0/base_link').poses == []
    assert mapper.last_route.startswith("refused: points must be in 'map'")


def test_the_layers_are_markers_with_a_legend(ros_context, executor, tmp_path):
    """A class observation with a flooded building and a road flooded in its middle: the
    markers show the building's outline, both kinds of road and a legend with their totals."""
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import Marker

    from uav_flood.core.class_map import ClassObservation
    from uav_flood.core.responder_layers import CLASSES
    from uav_flood.nodes import names
    from uav_flood.nodes.conversions import class_observation_msg

    mapper = make_mapper(ros_context, tmp_path)
    probe = probe_for(ros_context, executor, mapper)
    probe_node = next(n for n in executor.get_nodes() if n.get_name() == 'probe')
    pub = probe_node.create_publisher(
        Image, f'/{VEHICLES[0]}/flood_observation/classes', names.FLOOD_OBSERVATION_CLASSES.qos
    )
    assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 5.0)
    hover(executor, probe, mapper)
    labels = np.full((40, 120), CLASSES.index('grass'), np.int8)
    labels[2:10, 2:12] = CLASSES.index('building-flooded')  # 4 m x 5 m
    labels[20:28, :] = CLASSES.index('road-non-flooded')  # 60 m of road, 4 m wide
    labels[20:28, 50:70] = CLASSES.index('road-flooded')
    stamp = fresh_stamp_ns()
    cover = ClassObservation(labels, np.full(labels.shape, 230, np.uint8))
    pub.publish(class_observation_msg(cover, to_time(stamp)))
    probe.obs[VEHICLES[0]].publish(grid_msg(0, 0, np.zeros((40, 120)), stamp_ns=stamp))

    def layered():
        return any(
            {'flooded_building', 'flooded_road', 'passable_road', 'legend'}
            <= {m.ns for m in a.markers}
            for a in probe.markers
        )

    assert spin_until(executor, layered, 5.0)
    last = next(a for a in reversed(probe.markers) if any(m.ns == 'legend' for m in a.markers))
    by_ns = {}
    for marker in last.markers:
        by_ns.setdefault(marker.ns, []).append(marker)
    (building,) = by_ns['flooded_building']
    xs = [p.x for p in building.points]
    assert building.type == Marker.LINE_STRIP and (min(xs), max(xs)) == (1.0, 6.0)
    assert len(by_ns['flooded_road']) >= 1 and len(by_ns['passable_road']) >= 2
    legend = [m.text for m in by_ns['legend']]
    assert legend[0] == 'water outline' and legend[1] == '1 flooded buildings'
    assert legend[2].endswith('km flooded road') and legend[3].endswith('km passable road')
