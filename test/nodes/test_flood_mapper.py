"""flood_mapper under real rclpy: fusion, /flood_map, markers, refusals, checkpoints, SIGKILL.

In-process tests put the node and a probe on one executor; the crash test runs the installed
console script as a child process, SIGKILLs it mid-stream and restarts it on the same file.
"""

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


def grid_msg(col0, row0, data, frame='map', res=RES):
    """Return an OccupancyGrid observation whose south-west cell is global (col0, row0)."""
    from nav_msgs.msg import OccupancyGrid

    data = np.asarray(data, dtype=np.int8)
    msg = OccupancyGrid()
    msg.header.frame_id = frame
    msg.info.resolution = float(res)
    msg.info.width, msg.info.height = int(data.shape[1]), int(data.shape[0])
    msg.info.origin.position.x = col0 * res
    msg.info.origin.position.y = row0 * res
    msg.info.origin.orientation.w = 1.0
    msg.data = data.reshape(-1).tolist()
    return msg


class Probe:
    """Publishes observations and poses for uav0/uav1; keeps /flood_map, markers and status."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import OccupancyGrid
        from visualization_msgs.msg import MarkerArray

        from uav_flood.nodes import names

        self.obs = {
            v: node.create_publisher(
                OccupancyGrid, f'/{v}/flood_observation', names.FLOOD_OBSERVATION.qos
            )
            for v in VEHICLES
        }
        self.pose = node.create_publisher(PoseStamped, f'/{VEHICLES[0]}/pose', names.POSE.qos)
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
    from rclpy.node import Node
    from visualization_msgs.msg import Marker

    mapper = make_mapper(ros_context, tmp_path)
    probe_node = Node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe_node)
    probe = Probe(probe_node)
    assert wait_matched(executor, probe)
    water = np.full((10, 20), 100)
    for _ in range(3):
        probe.obs[VEHICLES[0]].publish(grid_msg(0, 0, water))
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 20, np.zeros((4, 4))))  # dry, elsewhere
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 0, water, frame='fmap1/base_link'))  # refused
    probe.obs[VEHICLES[1]].publish(grid_msg(0, 0, water, res=1.0))  # refused
    from geometry_msgs.msg import PoseStamped

    for x in (0.0, 5.0, 10.0):
        pose = PoseStamped()
        pose.header.frame_id = 'map'
        pose.pose.position.x, pose.pose.position.z = x, 20.0
        probe.pose.publish(pose)

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


def test_bad_parameter_exits_2_with_one_line(bin_dir, child_env):
    result = subprocess.run(
        [str(bin_dir / 'flood_mapper'), '--ros-args', '-p', 'p_hit:=0.1'],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert 'bad configuration' in result.stderr + result.stdout
    assert 'Traceback' not in result.stderr


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


def test_rviz_config_is_yaml_and_names_only_catalogued_topics():
    import yaml

    from uav_flood.nodes import names

    config = yaml.safe_load(
        (Path(__file__).parents[2] / 'config' / 'uav_flood.rviz').read_text(encoding='utf-8')
    )
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == names.MAP_FRAME
    catalogue = set()
    for value in vars(names).values():
        if isinstance(value, names.Topic):
            if value.name.startswith('/'):
                catalogue.add(value.name)
            else:
                catalogue |= {f'/uav{i}/{value.name}' for i in range(3)}
    topics = [d['Topic']['Value'] for d in manager['Displays'] if 'Topic' in d]
    assert not set(topics) - catalogue, set(topics) - catalogue
    for topic in ('/flood_map', '/flood_map/markers', '/swarm/markers'):
        assert topic in topics
    for i in range(3):
        assert f'/uav{i}/mission/path' in topics and f'/uav{i}/camera/image_raw' in topics
