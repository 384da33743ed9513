"""Drone hosts (demo/hosts.py): one network namespace per drone, a veth link to the ground."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from uav_flood.core.geo import GeoPoint
from uav_flood.demo.graph import demo_graph, DemoGraphConfig
from uav_flood.demo.hosts import check_available, DroneHosts, HostsError

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which('ip') is None,
    reason='network namespaces need root and iproute2 (CI runs as root)',
)


def test_names_addresses_and_the_commands_that_make_and_remove_them(tmp_path):
    ran = []
    hosts = DroneHosts(['uav0', 'uav2'], tag='ab12', run=ran.append, profile_dir=tmp_path)
    uav2 = hosts.hosts['uav2']
    assert (uav2.netns, uav2.ground_if, uav2.drone_if) == (
        'uavflood-ab12-uav2',
        'uf2gab12',
        'uf2dab12',
    )
    assert (uav2.ground_ip, uav2.drone_ip) == ('10.213.2.1', '10.213.2.2')
    assert all(len(h.ground_if) <= 15 for h in hosts.hosts.values())  # Linux IFNAMSIZ
    assert uav2.wrap(['flight_control', '--ros-args']) == [
        'ip', 'netns', 'exec', 'uavflood-ab12-uav2', 'flight_control', '--ros-args',
    ]  # fmt: skip
    assert uav2.env() == {
        'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4',
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'FASTDDS_DEFAULT_PROFILES_FILE': str(hosts.profile),
        'ROS_STATIC_PEERS': '10.213.2.1',
    }
    assert hosts.ground_env()['ROS_STATIC_PEERS'] == '10.213.0.2;10.213.2.2'
    with hosts:
        assert '<max_unicast_locators>64' in hosts.profile.read_text()
        assert ['ip', 'netns', 'add', 'uavflood-ab12-uav0'] in ran
        assert ['ip', 'link', 'set', 'uf2dab12', 'netns', 'uavflood-ab12-uav2'] in ran
        hosts.cut('uav2')
        assert ran[-1] == ['ip', 'link', 'set', 'uf2gab12', 'down']
        hosts.restore('uav2')
        assert ran[-1] == ['ip', 'link', 'set', 'uf2gab12', 'up']
    assert ran[-1] == ['ip', 'netns', 'del', 'uavflood-ab12-uav0']
    assert not hosts.profile.exists()


def test_a_failure_half_way_removes_what_was_made(tmp_path):
    ran = []

    def run(argv):
        ran.append(argv)
        if argv[:3] == ['ip', 'link', 'set'] and argv[-1] == 'uavflood-cd34-uav1':
            raise HostsError('no such device')

    with pytest.raises(HostsError, match='no such device'):
        DroneHosts(['uav0', 'uav1'], tag='cd34', run=run, profile_dir=tmp_path).create()
    assert ['ip', 'netns', 'del', 'uavflood-cd34-uav1'] in ran
    assert ['ip', 'netns', 'del', 'uavflood-cd34-uav0'] in ran


def test_the_demo_graph_puts_each_drone_and_its_autopilot_on_its_host(tmp_path):
    hosts = DroneHosts(['uav0', 'uav1'], tag='ef56', run=lambda argv: None, profile_dir=tmp_path)
    config = DemoGraphConfig(
        drones=2,
        area_file=tmp_path / 'area.geojson',
        out_dir=tmp_path,
        origin=GeoPoint(47.397742, 8.545594, 488.0),
        speed_factor=5.0,
        base_port=24540,
        gcs_port=24550,
        link_profile='good',
        onboard_slowdown=6.0,
        camera_rate_hz=3.0,
        altitude_m=60.0,
        config_dir=tmp_path,
        drone_hosts=hosts.hosts,
    )
    nodes = {node.get('label', node['executable']): node for node in demo_graph(config)['nodes']}
    assert 'sim' not in nodes  # one autopilot per drone host instead
    sim = nodes['uav1/sim']
    assert sim['executable'] == 'ip' and sim['required']
    assert sim['arguments'][:3] == ['netns', 'exec', 'uavflood-ef56-uav1']
    assert sim['arguments'][-6:] == [
        '--vehicles',
        '1',
        '--instance',
        '1',
        '--gcs-host',
        '10.213.1.1',
    ]
    control = nodes['uav1/flight_control']
    assert control['arguments'][:3] == ['netns', 'exec', 'uavflood-ef56-uav1']
    assert control['arguments'][3].endswith('flight_control')
    assert control['name'] == 'flight_control' and control['namespace'] == '/uav1'
    assert control['env']['ROS_STATIC_PEERS'] == '10.213.1.1'
    assert control['respawn']
    for label in ('swarm_coordinator', 'flood_mapper', 'edge_server', 'link_emulator'):
        label = next(k for k in nodes if k.endswith(label))
        assert nodes[label]['env']['ROS_STATIC_PEERS'] == '10.213.0.2;10.213.1.2'
        assert nodes[label]['env']['FASTDDS_BUILTIN_TRANSPORTS'] == 'UDPv4'


PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'hello', (sys.argv[1], int(sys.argv[2])))
"""


@ROOT_ONLY
@pytest.mark.xdist_group('timing')  # its network would refuse a --drone-hosts demo meanwhile
def test_a_real_host_reaches_the_ground_until_its_link_is_cut():
    check_available()
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(('0.0.0.0', 0))
    listener.settimeout(1.0)
    port = listener.getsockname()[1]
    hosts = DroneHosts(['uav3'])
    host = hosts.hosts['uav3']
    try:
        with hosts:
            listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True)
            assert host.netns in listed.stdout

            def send():
                subprocess.run(
                    host.wrap([sys.executable, '-c', PROBE, host.ground_ip, str(port)]),
                    check=True,
                    timeout=10,
                )
                try:
                    return listener.recvfrom(64)
                except TimeoutError:
                    return None

            data, (source, _) = send()
            assert data == b'hello' and source == host.drone_ip  # it came over the link
            hosts.cut('uav3')
            assert send() is None
            hosts.restore('uav3')
            assert send()[0] == b'hello'
        listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True)
        assert host.netns not in listed.stdout
    finally:
        listener.close()
        hosts.close()


@ROOT_ONLY
# With the --drone-hosts demos (the timing group, one worker): its stale 10.213.7.0/24 network
# would refuse a demo starting meanwhile, and a running demo's networks refuse this test.
@pytest.mark.xdist_group('timing')
def test_hosts_a_killed_demo_left_behind_are_removed_and_a_running_ones_kept():
    """A demo SIGKILLed cannot remove its hosts: their networks would refuse every later
    --drone-hosts demo. Namespaces with no process are removed; one with a process stays."""
    check_available()

    def ip(*argv):
        subprocess.run(['ip', *argv], check=True, capture_output=True, timeout=10)

    # What a killed demo leaves: a namespace whose veth holds a drone network on the ground.
    ip('netns', 'add', 'uavflood-dead-uav7')
    ip('link', 'add', 'uf7gdead', 'type', 'veth', 'peer', 'name', 'uf7ddead')
    ip('link', 'set', 'uf7ddead', 'netns', 'uavflood-dead-uav7')
    ip('addr', 'add', '10.213.7.1/24', 'dev', 'uf7gdead')
    # A namespace a running demo uses: a process in it.
    ip('netns', 'add', 'uavflood-live-uav8')
    sleeper = subprocess.Popen(['ip', 'netns', 'exec', 'uavflood-live-uav8', 'sleep', '60'])
    hosts = DroneHosts(['uav3'])
    try:
        assert spin_until_pid(sleeper)
        hosts.create()
        assert hosts.stale_removed == ['uavflood-dead-uav7']
        listed = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
        assert 'uavflood-dead-uav7' not in listed and 'uavflood-live-uav8' in listed
        shown = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout
        assert 'uf7gdead' not in shown  # its veth went with it
    finally:
        hosts.close()
        sleeper.kill()
        sleeper.wait()
        subprocess.run(['ip', 'netns', 'del', 'uavflood-live-uav8'], capture_output=True)
        subprocess.run(['ip', 'netns', 'del', 'uavflood-dead-uav7'], capture_output=True)


def spin_until_pid(process, timeout_s=5.0):
    """Wait until `process` runs inside its namespace (ip netns exec has exec'd sleep)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = subprocess.run(
            ['ip', 'netns', 'pids', 'uavflood-live-uav8'], capture_output=True, text=True
        ).stdout
        if str(process.pid) in pids.split():
            return True
        time.sleep(0.05)
    return False
