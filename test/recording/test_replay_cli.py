"""`uav-flood replay` bad input: missing, corrupt, no observations -> exit 2 with one line."""

import random
import time

from nav_msgs.msg import OccupancyGrid
import numpy as np
import pytest
from rclpy.serialization import serialize_message

from uav_flood import cli
from uav_flood.core.flood_map import FloodMap
from uav_flood.recording.mcap_io import McapRecordingWriter
from uav_flood.recording.replay import compare_grid


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


# -- hostile and broken recordings: one line, exit 2, nothing written ---------------------------


def recording(path, observations=20, flood_map=None):
    """A closed recording with `observations` small patches (and a /flood_map if given)."""
    writer = McapRecordingWriter(path, chunk_size=2000)
    writer.add_channel('/uav0/flood_observation', 'nav_msgs/msg/OccupancyGrid')
    writer.add_channel('/flood_map', 'nav_msgs/msg/OccupancyGrid')
    for i in range(observations):
        msg = OccupancyGrid()
        msg.header.frame_id = 'map'
        msg.info.resolution = 0.5
        msg.info.width = msg.info.height = 20
        msg.info.origin.position.x = float(i)
        msg.data = [100 if (j + i) % 3 else 0 for j in range(400)]
        writer.write('/uav0/flood_observation', serialize_message(msg), 1000 + i, 1000 + i)
    if flood_map is not None:
        writer.write('/flood_map', serialize_message(flood_map), 5000, 5000)
    writer.close()
    return path


def refused(capsys, tmp_path, path, fragment):
    before = path.read_bytes() if path.exists() else None
    code, err = run(capsys, str(path), '--out', str(tmp_path / 'o'), '--origin', '47,8,0')
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith('uav-flood replay: error: ') and fragment in err[0], err
    assert not (tmp_path / 'o').exists()
    if before is not None:
        assert path.read_bytes() == before


def test_zero_length_and_garbage(capsys, tmp_path):
    empty = tmp_path / 'empty.mcap'
    empty.write_bytes(b'')
    refused(capsys, tmp_path, empty, 'not a readable MCAP recording (the file is empty)')
    garbage = tmp_path / 'garbage.mcap'
    garbage.write_bytes(bytes(range(256)) * 40)
    refused(capsys, tmp_path, garbage, 'not a readable MCAP recording')


def test_every_truncation_is_one_line(capsys, tmp_path):
    data = recording(tmp_path / 'good.mcap').read_bytes()
    cut = tmp_path / 'cut.mcap'
    for size in [8, 9, 50, 500, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1]:
        cut.write_bytes(data[:size])
        refused(capsys, tmp_path, cut, 'cut.mcap: not a readable MCAP recording')


@pytest.mark.parametrize('seed', range(12))
def test_flipped_bytes_are_one_line_or_a_replay(capsys, tmp_path, seed):
    """Bit rot anywhere: refused in one line, or (outside the messages) replayed as recorded."""
    good = recording(tmp_path / 'good.mcap')
    expected, _ = run(capsys, str(good), '--out', str(tmp_path / 'ref'), '--origin', '47,8,0')
    assert expected == 0
    data = bytearray(good.read_bytes())
    rng = random.Random(seed)
    for _ in range(rng.choice([1, 3, 10])):
        data[rng.randrange(len(data))] = rng.randrange(256)
    bad = tmp_path / 'bad.mcap'
    bad.write_bytes(bytes(data))
    code, err = run(capsys, str(bad), '--out', str(tmp_path / 'o'), '--origin', '47,8,0')
    if code == 0:
        # Chunk CRCs are checked: a flip that got through changed no message.
        rebuilt = FloodMap.load(tmp_path / 'o' / 'flood_map.npz')
        reference = FloodMap.load(tmp_path / 'ref' / 'flood_map.npz')
        assert np.array_equal(rebuilt.seen(), reference.seen())
        assert np.array_equal(rebuilt.water_mask(0.5), reference.water_mask(0.5))
    else:
        assert code == 2 and len(err) == 1 and 'not a readable MCAP' in err[0], err


def test_a_bad_schema_text_prints_nothing_but_the_error(capsys, tmp_path):
    data = recording(tmp_path / 'good.mcap').read_bytes()
    # The schema text is in the file uncompressed: break a field name of std_msgs/Header.
    broken = tmp_path / 'schema.mcap'
    broken.write_bytes(data.replace(b'string frame_id', b'string Frame~id', 1))
    refused(capsys, tmp_path, broken, 'not a readable MCAP recording (')


def test_a_recorded_map_header_larger_than_its_data(capsys, tmp_path):
    grid = OccupancyGrid()
    grid.header.frame_id = 'map'
    grid.info.resolution = 0.5
    grid.info.width = grid.info.height = 2**31  # 4.6e18 cells claimed, none stored
    path = recording(tmp_path / 'rec.mcap', flood_map=grid)
    refused(capsys, tmp_path, path, 'the last /flood_map holds 0 cells, its header says')


def test_out_never_replaces_the_recording(capsys, tmp_path):
    path = recording(tmp_path / 'flood_map.npz')  # an odd name, but a recording
    before = path.read_bytes()
    code, err = run(capsys, str(path), '--out', str(tmp_path))
    assert code == 2 and len(err) == 1 and 'would overwrite the input' in err[0]
    assert path.read_bytes() == before


def test_compare_grid_far_apart_grids_use_no_canvas():
    a = np.full(4, 100, np.int8)
    b = np.array([0, -1, 100], np.int8)
    # 1e7 m apart at 0.5 m: a union canvas would be 2e7 cells wide.
    assert compare_grid((0.0, 0.0), (2, 2), a, (1e7, 0.0), (1, 3), b, 0.5) == 6
    assert compare_grid((0.0, 0.0), (2, 2), a, (0.5, 0.0), (1, 3), b, 0.5) == 5
