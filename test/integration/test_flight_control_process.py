"""flight_control as a real process (its console script) against the in-process simulator."""

from pathlib import Path
import signal
import subprocess

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
import pytest
import rclpy
from sensor_msgs.msg import BatteryState, NavSatFix, NavSatStatus
from std_srvs.srv import Trigger

from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.nodes.conversions import diagnostic_values
from uav_flood.testing import spin_until

REPO = Path(__file__).resolve().parents[2]
ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
NS = '/uav0'


def stop(child, log):
    child.send_signal(signal.SIGINT)
    try:
        code = child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    log.seek(0)
    output = log.read()
    log.close()
    return code, output


def test_node_process_publishes_vehicle_state(
    ros_context, executor, child_env, bin_dir, tmp_path, udp_ports
):
    sim_module = pytest.importorskip('uav_flood.sim')
    cfg = sim_module.SimConfig(
        vehicles=1, origin=ORIGIN, base_port=udp_ports(41), speed_factor=5.0
    )
    with sim_module.Simulator(cfg) as sim:
        port = sim.vehicles[0].port
        log = (tmp_path / 'flight_control.log').open('w+')
        child = subprocess.Popen(
            [
                str(bin_dir / 'flight_control'),
                '--ros-args',
                '-r',
                f'__ns:={NS}',
                '--params-file',
                str(REPO / 'config' / 'flight_control.yaml'),
                '-p',
                f'connection_url:=udpin://127.0.0.1:{port}',
            ],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            probe = rclpy.create_node('probe', context=ros_context)
            executor.add_node(probe)
            got = {'pose': [], 'fix': [], 'battery': [], 'status': []}
            probe.create_subscription(PoseStamped, f'{NS}/pose', got['pose'].append, 10)
            probe.create_subscription(NavSatFix, f'{NS}/global_position', got['fix'].append, 10)
            probe.create_subscription(BatteryState, f'{NS}/battery', got['battery'].append, 10)
            probe.create_subscription(DiagnosticArray, f'{NS}/status', got['status'].append, 10)

            def connected():
                return (
                    got['status']
                    and diagnostic_values(got['status'][-1]).get('connection') == 'connected'
                    and got['pose']
                    and got['fix']
                    and got['fix'][-1].status.status == NavSatStatus.STATUS_FIX
                    and got['battery']
                    and got['battery'][-1].present
                )

            assert spin_until(executor, connected, 30.0), f'no state from the node: {got}'
            fix = got['fix'][-1]
            home = sim.vehicles[0].state().home or ORIGIN
            east, north, up = LocalFrame(ORIGIN).point_to_enu(
                GeoPoint(fix.latitude, fix.longitude, fix.altitude)
            )
            pose = got['pose'][-1].pose.position
            assert abs(pose.x - east) < 0.5 and abs(pose.y - north) < 0.5
            assert abs(fix.latitude - home.lat_deg) < 1e-4
            assert got['pose'][-1].header.frame_id == 'map'
            assert 0.5 < got['battery'][-1].percentage <= 1.0

            # A service answered across processes: landing on the ground is refused.
            client = probe.create_client(Trigger, f'{NS}/land')
            assert spin_until(executor, client.service_is_ready, 10.0)
            future = client.call_async(Trigger.Request())
            assert spin_until(executor, future.done, 10.0)
            assert future.result().message == 'refused: already on the ground'
        finally:
            code, output = stop(child, log)
    assert code == 0, f'flight_control did not exit cleanly on SIGINT ({code}):\n{output}'
    assert 'autopilot connected' in output
    assert 'Traceback' not in output


@pytest.mark.parametrize(
    ('arguments', 'line'),
    [
        (
            ['-r', '__ns:=/drone'],
            "bad configuration: connection_url: namespace '/drone' is not /uavN",
        ),
        (
            ['-r', '__ns:=/uav0', '-p', 'publish_rate_hz:=20'],
            'bad configuration: publish_rate_hz: must be a number with a decimal point',
        ),
        (
            ['-r', '__ns:=/uav0', '-p', 'max_altitude_m:=1000000000.0'],
            'bad configuration: max_altitude_m: must be within 1..500, got 1e+09',
        ),
        (
            ['-r', '__ns:=/uav0', '-p', 'energy_rt:=false'],
            'bad configuration: energy_rt: unknown parameter of flight_control',
        ),
    ],
)
def test_bad_configuration_exits_with_one_clear_line(child_env, bin_dir, arguments, line):
    result = subprocess.run(
        [str(bin_dir / 'flight_control'), '--ros-args', *arguments],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert line in output
    assert 'Traceback' not in output
