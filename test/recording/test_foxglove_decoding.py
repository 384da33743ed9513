"""Recordings decode in the Foxglove app and Lichtblick: their own npm parsers read every message.

The Python reader the other tests use (mcap_ros2) accepts schema texts that Foxglove rejects, so
these tests decode with @foxglove/rosmsg + @foxglove/rosmsg2-serialization (test/js), the code
the Foxglove app and Lichtblick run on a ros2msg/cdr channel.
"""

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Path
from rclpy.serialization import serialize_message
from sensor_msgs.msg import BatteryState, CameraInfo, Image, NavSatFix
from visualization_msgs.msg import Marker, MarkerArray

from foxglove_parsers import decode, undecoded
from uav_flood.recording.mcap_io import McapRecordingWriter
from uav_flood.recording.schema import message_definition


def test_nested_types_are_named_as_rosbag2_names_them():
    text = message_definition('sensor_msgs/msg/BatteryState')
    assert '\nMSG: std_msgs/Header\n' in text
    assert '\nMSG: builtin_interfaces/Time\n' in text
    assert '/msg/' not in ''.join(line for line in text.splitlines() if line.startswith('MSG:'))


def samples():
    """One message of every type the stack publishes, with content in the nested types."""
    grid = OccupancyGrid()
    grid.header.frame_id = 'map'
    grid.info.width, grid.info.height, grid.info.resolution = 3, 2, 0.5
    grid.info.origin.position.x = -12.5
    grid.data = [0, 100, -1, 50, 0, 100]
    pose = PoseStamped()
    pose.header.frame_id = 'map'
    pose.pose.position.z = 60.0
    pose.pose.orientation.w = 1.0
    path = Path()
    path.header.frame_id = 'map'
    path.poses = [pose, pose]
    status = DiagnosticArray()
    status.status = [
        DiagnosticStatus(
            level=DiagnosticStatus.WARN,
            name='uav0',
            message='low battery',
            values=[KeyValue(key='remaining', value='0.2')],
        )
    ]
    battery = BatteryState(percentage=0.2, voltage=15.1)
    battery.header.frame_id = 'uav0/base_link'
    fix = NavSatFix(latitude=29.76, longitude=-95.37, altitude=60.0)
    fix.header.frame_id = 'uav0/base_link'
    info = CameraInfo(width=640, height=480, distortion_model='plumb_bob')
    info.header.frame_id = 'uav0/camera_optical'
    info.d = [0.0] * 5
    image = Image(width=4, height=2, encoding='rgb8', step=12, data=bytes(range(24)))
    image.header.frame_id = 'uav0/camera_optical'
    marker = Marker(ns='coverage', id=3, type=Marker.LINE_STRIP, action=Marker.ADD)
    marker.header.frame_id = 'map'
    marker.points = [pose.pose.position, pose.pose.position]
    marker.text = 'uav0'
    return {
        '/flood_map': ('nav_msgs/msg/OccupancyGrid', grid),
        '/uav0/pose': ('geometry_msgs/msg/PoseStamped', pose),
        '/uav0/mission/path': ('nav_msgs/msg/Path', path),
        '/uav0/status': ('diagnostic_msgs/msg/DiagnosticArray', status),
        '/uav0/battery': ('sensor_msgs/msg/BatteryState', battery),
        '/uav0/global_position': ('sensor_msgs/msg/NavSatFix', fix),
        '/uav0/camera/camera_info': ('sensor_msgs/msg/CameraInfo', info),
        '/uav0/camera/image_raw': ('sensor_msgs/msg/Image', image),
        '/swarm/markers': ('visualization_msgs/msg/MarkerArray', MarkerArray(markers=[marker])),
    }


def test_every_type_the_stack_records_decodes_in_foxglove(tmp_path):
    path = tmp_path / 'all.mcap'
    writer = McapRecordingWriter(path)
    for k, (topic, (type_name, message)) in enumerate(samples().items()):
        writer.add_channel(topic, type_name)
        writer.write(topic, serialize_message(message), 1_000 + k, 1_000 + k)
    writer.close()
    summary = decode(path)
    assert undecoded(summary) == {}
    assert summary['messages'] == summary['decoded'] == len(samples())
    topics = summary['topics']
    assert topics['/flood_map']['sample'] == {
        'fields': ['header', 'info', 'data'],
        'frame_id': 'map',
        'width': 3,
    }
    assert topics['/uav0/camera/camera_info']['sample']['frame_id'] == 'uav0/camera_optical'
    assert topics['/uav0/camera/image_raw']['schema'] == 'sensor_msgs/msg/Image'


def test_a_schema_foxglove_cannot_parse_is_reported_per_topic(tmp_path):
    """The decoder itself: the old 'MSG: pkg/msg/Type' text fails, as in the Foxglove app."""
    from mcap.writer import Writer

    path = tmp_path / 'old.mcap'
    text = message_definition('geometry_msgs/msg/PoseStamped')
    old = text.replace('MSG: std_msgs/Header', 'MSG: std_msgs/msg/Header')
    with path.open('wb') as f:
        writer = Writer(f)
        writer.start(profile='ros2')
        schema = writer.register_schema('geometry_msgs/msg/PoseStamped', 'ros2msg', old.encode())
        channel = writer.register_channel('/pose', 'cdr', schema)
        writer.add_message(channel, 1, serialize_message(PoseStamped()), 1)
        writer.finish()
    summary = decode(path)
    assert summary['decoded'] == 0
    assert 'std_msgs/Header' in undecoded(summary)['/pose']
