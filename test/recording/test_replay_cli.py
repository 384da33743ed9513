"""`uav-flood replay` bad input: missing, corrupt, no observations -> exit 2 with one line."""

import time

from nav_msgs.msg import OccupancyGrid
from rclpy.serialization import serialize_message

from uav_flood import cli
from uav_flood.recording.mcap_io import McapRecordingWriter


def run(capsys, *argv):
    code = cli.main(['replay', *argv])
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def test_missing_file(capsys, tmp_path):
    code, err = run(capsys, str(tmp_path / 'nope.mcap'), '--out', str(tmp_path / 'o'))
    assert code == 2 and len(err) == 1 and 'no such file' in err[0]


def test_corrupt_file(capsys, tmp_path):
    bad = tmp_path / 'bad.mcap'
    bad.write_bytes(b'\x89MCAP0\r\n' + b'\x00' * 64)
    code, err = run(capsys, str(bad), '--out', str(tmp_path / 'o'))
    assert code == 2 and len(err) == 1 and 'not a readable MCAP' in err[0]


def test_truncated_recording(capsys, tmp_path):
    path = tmp_path / 'cut.mcap'
    writer = McapRecordingWriter(path)
    writer.add_channel('/uav0/flood_observation', 'nav_msgs/msg/OccupancyGrid')
    writer.write('/uav0/flood_observation', serialize_message(OccupancyGrid()), 1, 1)
    writer.close()
    path.write_bytes(path.read_bytes()[:-40])
    code, err = run(capsys, str(path), '--out', str(tmp_path / 'o'))
    assert code == 2 and len(err) == 1 and str(path) in err[0]


def test_no_observations(capsys, tmp_path):
    path = tmp_path / 'empty.mcap'
    writer = McapRecordingWriter(path)
    writer.add_channel('/flood_map', 'nav_msgs/msg/OccupancyGrid')
    writer.write('/flood_map', serialize_message(OccupancyGrid()), time.time_ns(), 0)
    writer.close()
    code, err = run(capsys, str(path), '--out', str(tmp_path / 'o'))
    assert code == 2 and len(err) == 1 and 'no /uavN/flood_observation' in err[0]
    assert not (tmp_path / 'o').exists()


def test_bad_origin(capsys, tmp_path):
    code, err = run(capsys, str(tmp_path / 'x.mcap'), '--origin', '95,8,0')
    assert code == 2 and len(err) == 1
