"""recorder under real rclpy: several topic types to MCAP, decoded back; replay of a mission."""

from pathlib import Path
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PoseStamped
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from nav_msgs.msg import OccupancyGrid
from nav_msgs.msg import Path as PathMsg
import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from uav_flood import cli
from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.nodes.names import LATCHED_QOS, SENSOR_QOS, STATE_QOS
from uav_flood.nodes.recorder import RecorderNode
from uav_flood.recording.mcap_io import topic_summary
from uav_flood.testing import spin_until


def start_recorder(ros_context, executor, out: Path, **params):
    overrides = [
        Parameter('output_file', value=str(out)),
        Parameter('discovery_period_s', value=0.1),
    ]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    recorder = RecorderNode(context=ros_context, parameter_overrides=overrides)
    executor.add_node(recorder)
    return recorder


def stop_recorder(executor, recorder):
    executor.remove_node(recorder)
    recorder.destroy_node()


def grid(origin_xy, width, height, data, stamp_s=1, stamp_ns=None):
    msg = OccupancyGrid()
    msg.header.frame_id = 'map'
    msg.header.stamp = Time(sec=stamp_s)
    if stamp_ns is not None:
        msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    msg.info.resolution = 0.5
    msg.info.width, msg.info.height = width, height
    msg.info.origin.position.x, msg.info.origin.position.y = origin_xy
    msg.info.origin.orientation.w = 1.0
    msg.data = [int(v) for v in np.asarray(data).ravel()]
    return msg


def test_every_topic_type_is_recorded_and_decoded(ros_context, executor, tmp_path):
    out = tmp_path / 'mission.mcap'
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(probe)
    image = Image(height=2, width=3, encoding='mono8', step=3, data=bytes(range(6)))
    image.header.frame_id = 'uav0/camera'
    pose = PoseStamped()
    pose.header.frame_id = 'map'
    pose.pose.position.x, pose.pose.position.z = 12.5, 40.0
    pose.pose.orientation.w = 1.0
    status = DiagnosticArray(
        status=[
            DiagnosticStatus(
                level=DiagnosticStatus.WARN,
                name='fc',
                message='low',
                values=[KeyValue(key='battery', value='0.2')],
            )
        ]
    )
    markers = MarkerArray(
        markers=[
            Marker(ns='flood', id=7, type=Marker.LINE_STRIP, points=[Point(x=1.0), Point(y=2.0)])
        ]
    )
    path = PathMsg()
    path.header.frame_id = 'map'
    path.poses = [pose, pose]
    flood_map = grid((-1.0, 2.0), 2, 2, [0, 100, -1, 50])
    sent = {
        '/uav0/camera/image_raw': (Image, SENSOR_QOS, image),
        '/uav0/pose': (PoseStamped, STATE_QOS, pose),
        '/uav0/status': (DiagnosticArray, STATE_QOS, status),
        '/flood_map/markers': (MarkerArray, STATE_QOS, markers),
        '/uav0/mission/path': (PathMsg, LATCHED_QOS, path),
        '/flood_map': (OccupancyGrid, LATCHED_QOS, flood_map),
    }
    pubs = {t: probe.create_publisher(k, t, q) for t, (k, q, _) in sent.items()}
    # The latched map is published before the recorder exists: transient local must bring it.
    pubs['/flood_map'].publish(flood_map)
    recorder = start_recorder(
        ros_context, executor, out, exclude_regex='^/rosout$|^/parameter_events$'
    )
    try:
        assert spin_until(executor, lambda: set(sent) <= set(recorder.discovery.subscribed), 10.0)
        assert spin_until(
            executor, lambda: all(p.get_subscription_count() for p in pubs.values()), 5.0
        )

        # Best effort frames may be lost: publish until the recorder has had every topic.
        def have_all():
            for topic, (_, _, msg) in sent.items():
                if topic != '/flood_map':
                    pubs[topic].publish(msg)
            # The latched map arrives once, maybe after the streamed topics: wait for it too.
            latched = recorder.writer._sequence.get('/flood_map', 0) >= 1
            return latched and recorder.writer.message_count >= 2 * len(sent)

        assert spin_until(executor, have_all, 10.0)
    finally:
        stop_recorder(executor, recorder)

    summary = topic_summary(out)
    for topic, (kind, _, _) in sent.items():
        assert summary[topic][0] == f'{kind.__module__.split(".")[0]}/msg/{kind.__name__}'
    decoded = {}
    with open(out, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        for schema, channel, _, msg in reader.iter_decoded_messages():
            assert schema.encoding == 'ros2msg' and channel.message_encoding == 'cdr'
            assert 'reliability' in channel.metadata['offered_qos_profiles']
            decoded.setdefault(channel.topic, msg)
    assert set(decoded) >= set(sent)
    got = decoded['/uav0/camera/image_raw']
    assert (got.height, got.width, got.encoding, bytes(got.data)) == (
        2,
        3,
        'mono8',
        bytes(range(6)),
    )
    assert got.header.frame_id == 'uav0/camera'
    got = decoded['/uav0/pose']
    assert (got.pose.position.x, got.pose.position.z, got.header.frame_id) == (12.5, 40.0, 'map')
    got = decoded['/uav0/status'].status[0]
    assert got.level in (1, b'\x01')  # byte fields decode as bytes in some mcap_ros2 versions
    assert (got.name, got.message, got.values[0].key, got.values[0].value) == (
        'fc',
        'low',
        'battery',
        '0.2',
    )
    got = decoded['/flood_map/markers'].markers[0]
    assert (got.ns, got.id, got.type, got.points[1].y) == ('flood', 7, Marker.LINE_STRIP, 2.0)
    assert [p.pose.position.x for p in decoded['/uav0/mission/path'].poses] == [12.5, 12.5]
    got = decoded['/flood_map']
    assert list(got.data) == [0, 100, -1, 50] and got.info.origin.position.x == -1.0


def test_transforms_are_recorded_from_poses_and_camera_mounts(ros_context, executor, tmp_path):
    """Without tf2_msgs, /tf and /tf_static are written from pose and camera/mount, and the
    parsers of the Foxglove app read them; a mount between the wrong frames is skipped."""
    from geometry_msgs.msg import TransformStamped

    import foxglove_parsers
    from uav_flood.core.georef import CameraMount
    from uav_flood.nodes import names
    from uav_flood.nodes.conversions import mount_transform, pose_stamped, tf_message_type

    if tf_message_type() is not None:
        pytest.skip('tf2_msgs is installed: the nodes publish /tf themselves')
    out = tmp_path / 'mission.mcap'
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(probe)
    stamp = Time(sec=100, nanosec=5)
    oblique = CameraMount(pitch_deg=-45.0, yaw_deg=10.0, offset_flu_m=(0.1, 0.0, -0.05))
    mounts = {
        '/uav0/camera/mount': mount_transform(CameraMount(), '/uav0', stamp),
        '/uav1/camera/mount': mount_transform(oblique, '/uav1', stamp),
        # uav2 publishes uav0's frames: refused, never in /tf_static
        '/uav2/camera/mount': mount_transform(CameraMount(), '/uav0', stamp),
    }
    for topic, msg in mounts.items():
        probe.create_publisher(TransformStamped, topic, names.CAMERA_MOUNT.qos).publish(msg)
    poses = {
        ns: probe.create_publisher(PoseStamped, f'{ns}/pose', STATE_QOS)
        for ns in ('/uav0', '/uav1')
    }
    recorder = start_recorder(ros_context, executor, out, exclude_regex='^/rosout$')
    try:
        assert spin_until(
            executor, lambda: set(mounts) <= set(recorder.discovery.subscribed), 10.0
        )
        assert spin_until(executor, lambda: recorder.discovery.tf.errors >= 1, 5.0)

        def have_all():
            for i, pub in enumerate(poses.values()):
                pub.publish(pose_stamped((10.0 * i, 5.0, 50.0), None, stamp))
            return (
                recorder.writer.topic_count('/tf') >= 6 and len(recorder.discovery.tf._static) == 2
            )

        assert spin_until(executor, have_all, 10.0)
    finally:
        stop_recorder(executor, recorder)

    summary = topic_summary(out)
    assert summary['/tf'][0] == summary['/tf_static'][0] == 'tf2_msgs/msg/TFMessage'
    static, dynamic = [], set()
    with open(out, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, _, msg in reader.iter_decoded_messages(topics=['/tf', '/tf_static']):
            if channel.topic == '/tf_static':
                assert 'durability: 1' in channel.metadata['offered_qos_profiles']
                static.append({t.child_frame_id: t for t in msg.transforms})
            else:
                (t,) = msg.transforms
                dynamic.add((t.header.frame_id, t.child_frame_id, t.transform.translation.x))
                assert (t.header.stamp.sec, t.header.stamp.nanosec) == (100, 5)
    assert dynamic == {('map', 'uav0/base_link', 0.0), ('map', 'uav1/base_link', 10.0)}
    # Each /tf_static message holds every mount so far; the last has both, uav2's refused.
    last = static[-1]
    assert set(last) == {'uav0/camera_optical', 'uav1/camera_optical'}
    got = last['uav1/camera_optical']
    assert got.header.frame_id == 'uav1/base_link'
    assert (got.transform.translation.x, got.transform.translation.z) == (0.1, -0.05)
    r = got.transform.rotation
    assert CameraMount.from_transform((0.1, 0.0, -0.05), (r.w, r.x, r.y, r.z)).pitch_deg == (
        pytest.approx(-45.0)
    )

    decoded = foxglove_parsers.decode(out)
    assert foxglove_parsers.undecoded(decoded) == {}
    assert decoded['topics']['/tf']['sample']['transforms'] in (
        ['map->uav0/base_link'],
        ['map->uav1/base_link'],
    )


def test_transforms_follow_the_topic_filters(ros_context, executor, tmp_path):
    """exclude_regex '^/tf' keeps /tf and /tf_static out; the pose itself is still recorded."""
    out = tmp_path / 'mission.mcap'
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(probe)
    pub = probe.create_publisher(PoseStamped, '/uav0/pose', STATE_QOS)
    pose = PoseStamped()
    pose.header.frame_id = 'map'
    pose.pose.orientation.w = 1.0
    recorder = start_recorder(ros_context, executor, out, exclude_regex='^/rosout$|^/tf')
    try:
        assert spin_until(executor, lambda: '/uav0/pose' in recorder.discovery.subscribed, 10.0)

        def recorded():
            pub.publish(pose)
            return recorder.writer.topic_count('/uav0/pose') >= 3

        assert spin_until(executor, recorded, 10.0)
    finally:
        stop_recorder(executor, recorder)
    summary = topic_summary(out)
    assert '/uav0/pose' in summary and '/tf' not in summary and '/tf_static' not in summary


def test_replay_reproduces_the_live_map(ros_context, executor, tmp_path, capsys):
    """Stand-in mapper: a node named flood_mapper with the fusion parameters publishes /flood_map
    computed by FloodMap from the same observations the recorder sees."""
    out = tmp_path / 'mission.mcap'
    config = FusionConfig(resolution_m=0.5, p_hit=0.8, p_false=0.1)
    mapper = rclpy.create_node(
        'flood_mapper',
        context=ros_context,
        parameter_overrides=[
            Parameter('resolution_m', value=0.5),
            Parameter('p_hit', value=0.8),
            Parameter('p_false', value=0.1),
            Parameter('origin_lat_deg', value=47.0),
            Parameter('origin_lon_deg', value=8.0),
            Parameter('origin_alt_m', value=400.0),
        ],
        automatically_declare_parameters_from_overrides=True,
    )
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe)
    obs_qos = STATE_QOS
    pubs = [
        probe.create_publisher(OccupancyGrid, f'/uav{i}/flood_observation', obs_qos)
        for i in range(2)
    ]
    map_pub = mapper.create_publisher(OccupancyGrid, '/flood_map', LATCHED_QOS)
    recorder = start_recorder(ros_context, executor, out)
    rng = np.random.default_rng(3)
    live = FloodMap(config)
    try:
        assert spin_until(executor, lambda: all(p.get_subscription_count() for p in pubs), 10.0)
        assert spin_until(
            executor, lambda: recorder.parameters_recorded == ['/flood_mapper'], 10.0
        )
        for k in range(12):
            data = rng.choice([0, 100, -1], size=(6, 8), p=[0.4, 0.4, 0.2]).astype(np.int8)
            origin = (0.5 * int(rng.integers(-6, 6)), 0.5 * int(rng.integers(-6, 6)))
            msg = grid(origin, 8, 6, data, stamp_s=k)
            pubs[k % 2].publish(msg)
            live.apply_arrays(origin[0], origin[1], 0.5, 8, 6, data)
        bad = grid((0.0, 0.0), 2, 1, [0, 100])
        bad.header.frame_id = 'uav0/base_link'
        pubs[0].publish(bad)
        assert spin_until(executor, lambda: recorder.writer.message_count >= 13, 10.0)
        occ = live.to_occupancy()
        map_pub.publish(grid((occ.origin_east, occ.origin_north), occ.width, occ.height, occ.data))
        assert spin_until(executor, lambda: recorder.writer.message_count >= 14, 10.0)
    finally:
        stop_recorder(executor, recorder)

    capsys.readouterr()
    code = cli.main(['replay', str(out), '--out', str(tmp_path / 'replay'), '--check'])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert 'fused 12 observations (1 refused' in printed
    assert 'recorded /flood_mapper parameters' in printed
    assert 'identical to the last recorded /flood_map' in printed
    rebuilt = FloodMap.load(tmp_path / 'replay' / 'flood_map.npz')
    assert rebuilt.config.p_hit == 0.8 and rebuilt.config.p_false == 0.1
    assert np.array_equal(rebuilt.to_occupancy().data, live.to_occupancy().data)
    assert '"origin": [\n    47.0' in (tmp_path / 'replay' / 'replay.json').read_text()
    # The replayed checkpoint stores the origin, so export needs no --origin.
    assert (rebuilt.origin.lat_deg, rebuilt.origin.lon_deg) == (47.0, 8.0)
    assert 'the checkpoint stores the origin' in printed
    checkpoint = tmp_path / 'replay' / 'flood_map.npz'
    assert cli.main(['export', str(checkpoint), '--out', str(tmp_path / 'export')]) == 0
    assert (tmp_path / 'export' / 'flood_grid.tif').is_file()

    # Another fusion configuration gives another map: the comparison can fail.
    code = cli.main(
        ['replay', str(out), '--out', str(tmp_path / 'r2'), '--p-hit', '0.95', '--check']
    )
    printed = capsys.readouterr().out
    assert code == 1 and 'cells differ from the last recorded /flood_map' in printed


def test_replay_reproduces_the_real_flood_mappers_map(ros_context, executor, tmp_path, capsys):
    """The real flood_mapper node and the recorder hear the same observations from two vehicles;
    the replay of the recording equals the mapper's last /flood_map cell for cell."""
    from uav_flood.nodes.flood_mapper import FloodMapperNode

    out = tmp_path / 'mission.mcap'
    mapper = FloodMapperNode(
        context=ros_context,
        parameter_overrides=[
            Parameter('vehicles', value=['rec0', 'rec1']),
            Parameter('p_hit', value=0.8),
            Parameter('publish_rate_hz', value=20.0),
            Parameter('tracks', value=False),
            # No poses here: the stamps (now, one per observation: they are the ids) and sizes
            # are still checked.
            Parameter('check_pose', value=False),
        ],
    )
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(mapper)
    executor.add_node(probe)
    pubs = [
        probe.create_publisher(OccupancyGrid, f'/rec{i}/flood_observation', STATE_QOS)
        for i in range(2)
    ]
    maps = []
    probe.create_subscription(OccupancyGrid, '/flood_map', maps.append, LATCHED_QOS)
    recorder = start_recorder(ros_context, executor, out)
    rng = np.random.default_rng(5)
    try:
        assert spin_until(executor, lambda: all(p.get_subscription_count() >= 2 for p in pubs), 10)
        assert spin_until(
            executor, lambda: recorder.parameters_recorded == ['/flood_mapper'], 10.0
        )
        start_ns = time.time_ns()
        for k in range(20):
            data = rng.choice([0, 100, -1], size=(6, 8), p=[0.4, 0.4, 0.2]).astype(np.int8)
            origin = (0.5 * int(rng.integers(-6, 6)), 0.5 * int(rng.integers(-6, 6)))
            pubs[k % 2].publish(grid(origin, 8, 6, data, stamp_ns=start_ns + k))
        writer = recorder.writer
        assert spin_until(executor, lambda: mapper.map.observations_applied == 20, 10.0)
        assert spin_until(
            executor,
            lambda: sum(writer.topic_count(f'/rec{i}/flood_observation') for i in range(2)) == 20,
            10.0,
        )
        # A map published after the last observation, and recorded. Maps published before the
        # last fusion can still be on their way to the recorder (seen once on a loaded machine:
        # the last recorded map lagged), and the mapper publishes only on change: wait until
        # the recorder has had no new map for 0.5 s.
        maps_seen, recorded = len(maps), writer.topic_count('/flood_map')
        assert spin_until(executor, lambda: len(maps) > maps_seen, 5.0)
        assert spin_until(executor, lambda: writer.topic_count('/flood_map') > recorded, 5.0)
        quiet = {'count': -1, 'since': 0.0}

        def recorder_quiet() -> bool:
            count, now = writer.topic_count('/flood_map'), time.monotonic()
            if count != quiet['count']:
                quiet.update(count=count, since=now)
            return now - quiet['since'] >= 0.5

        assert spin_until(executor, recorder_quiet, 5.0)
    finally:
        stop_recorder(executor, recorder)
    capsys.readouterr()
    code = cli.main(['replay', str(out), '--out', str(tmp_path / 'replay'), '--check'])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, printed + captured.err
    assert 'fused 20 observations' in printed
    assert 'identical to the last recorded /flood_map' in printed
    rebuilt = FloodMap.load(tmp_path / 'replay' / 'flood_map.npz')
    assert list(rebuilt.to_occupancy().data.ravel()) == list(maps[-1].data)
