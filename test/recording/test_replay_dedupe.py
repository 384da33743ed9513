"""`uav-flood replay` of a recording with re-sent observations: each id (vehicle, stamp) once."""

import json

from builtin_interfaces.msg import Time
from nav_msgs.msg import OccupancyGrid
import numpy as np
from rclpy.serialization import serialize_message

from uav_flood import cli
from uav_flood.core.flood_map import FloodMap
from uav_flood.recording.mcap_io import McapRecordingWriter
from uav_flood.recording.replay import replay

RES = 0.5
T0 = 1_700_000_000 * 10**9


def grid(col0, row0, data, stamp_ns):
    data = np.asarray(data, dtype=np.int8)
    msg = OccupancyGrid()
    msg.header.frame_id = 'map'
    msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    msg.info.resolution = RES
    msg.info.height, msg.info.width = data.shape
    msg.info.origin.position.x, msg.info.origin.position.y = col0 * RES, row0 * RES
    msg.info.origin.orientation.w = 1.0
    msg.data = data.reshape(-1).tolist()
    return msg


def test_resent_observations_are_fused_once(tmp_path, capsys):
    """The recording holds each drone's re-sends (the outbox re-publishes until acknowledged);
    the live mapper fused each id once, so the replay must too to rebuild its map."""
    water, dry = np.full((4, 4), 100), np.zeros((4, 4))
    first = grid(0, 0, water, T0 + 1)
    second = grid(2, 2, dry, T0 + 2)
    same_stamp_other_drone = grid(0, 0, dry, T0 + 1)
    sequence = [
        ('/uav0/flood_observation', first),
        ('/uav0/flood_observation', first),  # re-sent: its ack was late
        ('/uav0/flood_observation', second),
        ('/uav1/flood_observation', same_stamp_other_drone),  # another id: another vehicle
        ('/uav0/flood_observation', first),  # re-sent again, after an outage
        ('/uav1/flood_observation', same_stamp_other_drone),
    ]
    live = FloodMap()
    for msg in (first, second, same_stamp_other_drone):
        info = msg.info
        live.apply_arrays(
            info.origin.position.x, info.origin.position.y, RES, 4, 4, np.asarray(msg.data)
        )
    occupancy = live.to_occupancy()
    path = tmp_path / 'resent.mcap'
    writer = McapRecordingWriter(path)
    for topic in ('/uav0/flood_observation', '/uav1/flood_observation', '/flood_map'):
        writer.add_channel(topic, 'nav_msgs/msg/OccupancyGrid')
    for k, (topic, msg) in enumerate(sequence):
        writer.write(topic, serialize_message(msg), T0 + 10 + k, T0 + 10 + k)
    final = grid(0, 0, np.zeros((1, 1)), T0 + 100)
    final.info.width, final.info.height = occupancy.width, occupancy.height
    final.info.origin.position.x = occupancy.origin_east
    final.info.origin.position.y = occupancy.origin_north
    final.data = np.asarray(occupancy.data, dtype=np.int8).reshape(-1).tolist()
    writer.write('/flood_map', serialize_message(final), T0 + 100, T0 + 100)
    writer.close()

    calls = []
    result = replay(path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 6) for k in range(7)]  # every message counts, re-sends too
    assert result.observations == 3 and result.duplicates == 3
    assert result.compared and result.cells_differing == 0
    # Each id once: where all three overlap a cell was seen 3 times, not 6.
    assert np.array_equal(result.flood_map.observation_count(), live.observation_count())
    assert int(result.flood_map.observation_count().max()) == 3
    assert np.array_equal(result.flood_map.to_occupancy().data, occupancy.data)

    code = cli.main(['replay', str(path), '--out', str(tmp_path / 'out'), '--check'])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert 'fused 3 observations' in printed
    # progress: what it reads first, then how far (here at once: the end)
    lines = printed.splitlines()
    assert lines[0] == f'replaying 6 observations from {path}'
    assert '[replay] 6/6 observations (100 %)' in lines
    assert 'identical to the last recorded /flood_map' in printed
    saved = json.loads((tmp_path / 'out' / 'replay.json').read_text())
    assert saved['observations'] == 3
