"""Fault injection: kill, link drop, packet loss, from Python and over MAVLink parameters."""

import time

import pytest
from simtest import fly_to, param_set

from uav_flood.core.errors import ConfigError


def silence(station, seconds: float) -> int:
    """Return how many packets arrived in `seconds` of wall time."""
    return len(station.pump(seconds))


def test_killed_vehicle_goes_silent_and_falls(make_sim, gcs):
    sim = make_sim(vehicles=2)
    python_killed, mavlink_killed = sim.vehicles
    station0, station1 = gcs(sim, 0), gcs(sim, 1)
    fly_to(station0, sim, 10.0, 0)
    python_killed.kill()
    # UFS_KILL over MAVLink: the echo still comes, then nothing.
    assert param_set(station1, 'UFS_KILL', 1, int32=True, target=2) == 1
    station0.pump(0.1)  # what was already on its way
    station1.pump(0.1)
    assert silence(station0, 1.5) == 0
    assert silence(station1, 0.1) == 0
    station0.conn.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
    assert silence(station0, 0.5) == 0  # nothing is answered either
    state = python_killed.state()
    assert state.killed and not state.link_up and not state.armed
    assert state.position_ned[2] == 0.0  # it fell from 10 m in the 15 simulated seconds
    assert mavlink_killed.state().killed


def test_dropped_link_is_silent_for_its_time_then_back(make_sim, gcs):
    sim = make_sim(vehicles=2, speed=5.0)
    python_dropped, mavlink_dropped = sim.vehicles
    station0, station1 = gcs(sim, 0), gcs(sim, 1)
    python_dropped.drop_link(5.0)  # simulated seconds: 1 s of wall time at 5x
    assert param_set(station1, 'UFS_LINK_DROP', 5.0, int32=False, target=2) == 5.0
    station0.pump(0.1)
    station1.pump(0.1)
    began = time.monotonic()
    assert not python_dropped.state().link_up
    assert silence(station1, 0.3) == 0
    assert silence(station0, 0.4) == 0
    station0.wait('HEARTBEAT', 2.0)
    assert 0.8 < time.monotonic() - began < 2.5
    station1.wait('HEARTBEAT', 2.0)
    assert python_dropped.state().link_up
    assert python_dropped.get_param('UFS_LINK_DROP') == 0.0  # the drop is over


@pytest.mark.parametrize('loss', [0.3])
def test_packet_loss_rate_is_close_to_the_setting(make_sim, gcs, loss):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    for msg_id in (30, 31, 32, 33):  # attitude, quaternion, local and global position at 50 Hz
        assert station.command(511, msg_id, 20000) == 0
    vehicle.set_packet_loss(loss)
    assert vehicle.get_param('UFS_PKT_LOSS') == pytest.approx(100.0 * loss)
    station.pump(0.2)
    seqs = [m.get_seq() for m in station.pump(2.0) if m.get_srcSystem() == 1]
    lost = sum((b - a - 1) % 256 for a, b in zip(seqs, seqs[1:], strict=False))
    measured = lost / (lost + len(seqs) - 1)
    assert len(seqs) > 250
    assert measured == pytest.approx(loss, abs=0.06)
    # SYS_STATUS reports it as PX4's drop_rate_comm (in 1/100 %).
    assert station.last['SYS_STATUS'].drop_rate_comm == int(loss * 10000)
    vehicle.set_packet_loss(0.0)
    station.pump(0.2)
    seqs = [m.get_seq() for m in station.pump(0.5) if m.get_srcSystem() == 1]
    assert all((b - a) % 256 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    with pytest.raises(ConfigError):
        vehicle.set_packet_loss(1.5)
