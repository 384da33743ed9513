"""`uav-flood sim`: runs on the given ports, answers, exits 0 on Ctrl-C; bad input exits 2."""

import os
import signal
import subprocess

from simtest import GroundStation


def test_sim_command_runs_answers_and_stops_on_sigint(bin_dir, udp_ports):
    base = udp_ports(4)
    env = dict(os.environ, PX4_SIM_SPEED_FACTOR='5')
    proc = subprocess.Popen(
        [
            str(bin_dir / 'uav-flood'),
            'sim',
            '--vehicles',
            '2',
            '--base-port',
            str(base),
            '--local-base-port',
            str(base + 2),
            '--no-gcs',
            '--param',
            'NAV_DLL_ACT=2',
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    station = None
    try:
        station = GroundStation(base + 1)
        heartbeat = station.wait('HEARTBEAT', 10.0)
        assert heartbeat.get_srcSystem() == 2 and heartbeat.autopilot == 12
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if station is not None:
            station.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert 'Traceback' not in err
    assert f'uav1: instance 1, sysid 2, listens on udp 127.0.0.1:{base + 3}, sends to udp' in out
    assert f'sends to udp {base + 1}, home 47.3977420,8.5456602,488.0' in out
    assert 'at 5x real time' in out  # PX4_SIM_SPEED_FACTOR, as PX4 reads it
    assert 'uav0: AUTO.LOITER, disarmed' in out
    assert 'Stopped after' in out


def test_sim_command_rejects_bad_input_with_one_line(bin_dir):
    for args, message in (
        (['--origin', '91,8,400'], '--origin: latitude 91.0 out of range'),
        (['--origin', 'here'], '--origin:'),
        (['--param', 'NO_SUCH=1'], '--param NO_SUCH'),
        (['--wind', '3'], '--wind'),
        (['--vehicles', '0'], 'vehicles must be 1..100'),
    ):
        result = subprocess.run(
            [str(bin_dir / 'uav-flood'), 'sim', *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert lines[0].startswith('uav-flood sim: error: ')


def test_default_origin_is_px4_sitl_home():
    from uav_flood.cli.sim import DEFAULT_ORIGIN
    from uav_flood.core.geo import GeoPoint
    from uav_flood.sim import PX4_DEFAULT_HOME

    assert GeoPoint.parse(DEFAULT_ORIGIN) == PX4_DEFAULT_HOME == GeoPoint(47.397742, 8.545594, 488)


def test_one_simulator_per_drone_host_takes_an_instance_and_a_gcs_host(bin_dir, udp_ports):
    """`--vehicles 1 --instance 2 --gcs-host ADDR`: vehicle uav2 alone, on instance 2's ports,
    sending its ground-station link to ADDR (a drone on its own network host)."""
    base = udp_ports(45)
    gcs_port = base + 44
    proc = subprocess.Popen(
        [
            str(bin_dir / 'uav-flood'),
            'sim',
            '--base-port',
            str(base),
            '--instance',
            '2',
            '--gcs-port',
            str(gcs_port),
            '--gcs-host',
            '127.0.0.1',
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stations = []
    try:
        stations = [GroundStation(base + 2), GroundStation(gcs_port)]
        for station in stations:
            heartbeat = station.wait('HEARTBEAT', 10.0)
            assert heartbeat.get_srcSystem() == 3
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        for station in stations:
            station.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f'uav2: instance 2, sysid 3, listens on udp 127.0.0.1:{base + 42}' in out
    assert 'home 47.3977420,8.54572' in out  # 10 m east: instance 2's spawn point
