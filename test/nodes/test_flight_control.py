"""flight_control under real rclpy, in process, against the built-in simulator (in process too).

Each test runs the node under test and a probe node on one MultiThreadedExecutor (as main()
does: a service waits for the autopilot on its own callback group) on the test's own ROS domain,
and the simulator on UDP ports from the `udp_ports` fixture, at SPEED x real time.
"""

from dataclasses import dataclass, field
import math
from pathlib import Path
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path as PathMsg
import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from sensor_msgs.msg import BatteryState, NavSatFix
from std_srvs.srv import Trigger

from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.nodes import names
from uav_flood.nodes.conversions import diagnostic_values
from uav_flood.nodes.flight_control import FlightControlNode, FlightParams, PARAMETERS
from uav_flood.testing import spin_until

REPO = Path(__file__).resolve().parents[2]
ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
FRAME = LocalFrame(ORIGIN)
NS = '/uav0'
SPEED = 8.0
#: Four corners of a 40 m square at 15-20 m above the origin (map ENU, m).
SQUARE = [(30.0, 0.0, 15.0), (30.0, 30.0, 15.0), (0.0, 30.0, 20.0), (-10.0, 10.0, 20.0)]
MAV_LANDED_STATE_ON_GROUND = 1


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def node_runner(ros_context):
    """Return run(node): spin `node` on a MultiThreadedExecutor in a thread, as main() does.

    The probe stays on the test's SingleThreadedExecutor (the `executor` fixture), like another
    process would: the node under test gets the executor it runs on in production.
    """
    executor = MultiThreadedExecutor(num_threads=3, context=ros_context)
    thread = threading.Thread(target=executor.spin, name='node-under-test', daemon=True)

    def run(node):
        executor.add_node(node)
        if not thread.is_alive():
            thread.start()
        return node

    try:
        yield run
    finally:
        executor.shutdown(timeout_sec=2.0)
        if thread.is_alive():
            thread.join(timeout=5.0)
        for node in list(executor.get_nodes()):
            executor.remove_node(node)
            node.destroy_node()


@pytest.fixture
def simulator(udp_ports):
    """Return start(params=None) -> a running one-vehicle Simulator, stopped after the test."""
    sim_module = pytest.importorskip('uav_flood.sim')
    started = []

    def start(params=None):
        cfg = sim_module.SimConfig(
            vehicles=1,
            origin=ORIGIN,
            base_port=udp_ports(41),
            speed_factor=SPEED,
            params=dict(params or {}),
        )
        sim = sim_module.Simulator(cfg)
        sim.start()
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in started:
            sim.stop()


@dataclass
class Probe:
    """A node that records what flight_control publishes, with wall-clock receive times."""

    node: object
    statuses: list = field(default_factory=list)
    poses: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    batteries: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self):
        """Return the latest status values (or {})."""
        with self.lock:
            return diagnostic_values(self.statuses[-1][1]) if self.statuses else {}

    def level(self):
        with self.lock:
            return self.statuses[-1][1].status[0].level if self.statuses else None

    def message(self):
        with self.lock:
            return self.statuses[-1][1].status[0].message if self.statuses else ''

    def pose_enu(self):
        with self.lock:
            p = self.poses[-1][1].pose.position
        return (p.x, p.y, p.z)


def start_node(
    ros_context, executor, node_runner, port=None, url=None, autopilot_factory=None, **params
):
    overrides = [Parameter('publish_rate_hz', value=25.0)]
    overrides.append(Parameter('connection_url', value=url or f'udpin://127.0.0.1:{port}'))
    overrides += [Parameter(name, value=value) for name, value in params.items()]
    node = FlightControlNode(
        autopilot_factory,
        context=ros_context,
        namespace=NS,
        parameter_overrides=overrides,
    )
    probe_node = rclpy.create_node('probe', context=ros_context)
    probe = Probe(probe_node)

    def record(into):
        def callback(msg):
            with probe.lock:
                into.append((time.monotonic(), msg))

        return callback

    probe_node.create_subscription(DiagnosticArray, f'{NS}/status', record(probe.statuses), 50)
    probe_node.create_subscription(PoseStamped, f'{NS}/pose', record(probe.poses), 50)
    probe_node.create_subscription(NavSatFix, f'{NS}/global_position', record(probe.fixes), 50)
    probe_node.create_subscription(BatteryState, f'{NS}/battery', record(probe.batteries), 50)
    node_runner(node)
    executor.add_node(probe_node)
    return node, probe


def call(executor, probe, service, timeout=20.0):
    client = probe.node.create_client(Trigger, f'{NS}/{service}')
    assert spin_until(executor, client.service_is_ready, 5.0), f'{service} not offered'
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, timeout), f'{service} did not answer'
    return future.result()


def path_msg(points, frame_id='map'):
    msg = PathMsg()
    msg.header.frame_id = frame_id
    for x, y, z in points:
        pose = PoseStamped()
        pose.header.frame_id = frame_id
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x, y, z
        pose.pose.orientation.w = 1.0
        msg.poses.append(pose)
    return msg


def publish_path(executor, probe, points, frame_id='map'):
    publisher = probe.node.create_publisher(
        PathMsg, f'{NS}/{names.MISSION_PATH.name}', names.MISSION_PATH.qos
    )
    publisher.publish(path_msg(points, frame_id))
    return publisher


def wait_ready(executor, probe, timeout=20.0):
    """Wait until the node is connected and the vehicle has a home (GPS fix)."""
    assert spin_until(
        executor,
        lambda: (
            probe.status().get('connection') == 'connected'
            and probe.status().get('home_set') == 'true'
            and probe.status().get('battery_pct') not in (None, 'unknown')
        ),
        timeout,
    ), f'not ready: {probe.status()}'


def wait_status(executor, probe, predicate, timeout, what):
    def check():
        status = probe.status()
        return bool(status) and predicate(status)

    assert spin_until(executor, check, timeout), (
        f'timed out waiting for {what}; last status: {probe.status()}'
    )


# -- configuration ------------------------------------------------------------------------------


def test_sim_fleet_graph_runs_one_node_per_vehicle():
    from uav_flood.runner.spec import load_graph

    graph = load_graph(REPO / 'config' / 'graphs' / 'sim_fleet.yaml')
    labels = [node.label for node in graph.nodes]
    assert labels == ['sim', 'uav0/flight_control', 'uav1/flight_control', 'uav2/flight_control']
    for node in graph.nodes[1:]:
        assert [p.path.name for p in node.parameters] == ['flight_control.yaml']


def test_connection_url_is_derived_from_the_namespace():
    values = {name: default for name, (default, _d) in PARAMETERS.items()}
    assert FlightParams.from_values(values, '/uav0').connection_url == 'udpin://0.0.0.0:14540'
    assert FlightParams.from_values(values, '/uav3').connection_url == 'udpin://0.0.0.0:14543'
    with pytest.raises(ConfigError, match="namespace '/drone' is not /uavN"):
        FlightParams.from_values(values, '/drone')
    explicit = dict(values, connection_url='serial:///dev/ttyTHS1:921600')
    assert FlightParams.from_values(explicit, '/x').connection_url == explicit['connection_url']
    for name, bad in (('origin_lat_deg', 95.0), ('publish_rate_hz', 0.0), ('min_altitude_m', -1)):
        with pytest.raises(ConfigError):
            FlightParams.from_values(dict(values, **{name: bad}), '/uav0')


def test_bad_geofence_parameter_is_a_config_error(ros_context):
    with pytest.raises(ConfigError, match='geofence_enu'):
        FlightControlNode(
            context=ros_context,
            namespace=NS,
            parameter_overrides=[Parameter('geofence_enu', value='1,2; 3,4')],
        )


# -- without an autopilot -----------------------------------------------------------------------


def test_services_before_connection_are_refused(ros_context, executor, node_runner, udp_ports):
    node, probe = start_node(ros_context, executor, node_runner, port=udp_ports(1))
    assert spin_until(executor, lambda: probe.statuses, 5.0)
    assert probe.level() == DiagnosticStatus.WARN
    assert probe.status()['connection'] == 'waiting for autopilot'
    assert probe.message().startswith('waiting for the autopilot on udpin://127.0.0.1:')
    for service in ('arm', 'takeoff', 'land', 'return_to_launch', 'start_mission'):
        response = call(executor, probe, service)
        assert not response.success
        assert response.message == 'refused: not connected to the autopilot'
    wait_status(
        executor,
        probe,
        lambda s: s['last_refusal'] == 'start_mission: refused: not connected to the autopilot',
        2.0,
        'the refusal in status',
    )
    assert not probe.poses and not probe.fixes  # nothing invented without an autopilot

    # Names, types and QoS as the topic catalogue says.
    topics = dict(probe.node.get_topic_names_and_types())
    assert topics[f'{NS}/pose'] == ['geometry_msgs/msg/PoseStamped']
    assert topics[f'{NS}/status'] == ['diagnostic_msgs/msg/DiagnosticArray']
    assert topics[f'{NS}/battery'] == ['sensor_msgs/msg/BatteryState']
    assert topics[f'{NS}/global_position'] == ['sensor_msgs/msg/NavSatFix']
    (sub,) = probe.node.get_subscriptions_info_by_topic(f'{NS}/mission/path')
    assert sub.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    services = dict(probe.node.get_service_names_and_types())
    for service in ('arm', 'takeoff', 'land', 'return_to_launch', 'start_mission'):
        assert services[f'{NS}/{service}'] == ['std_srvs/srv/Trigger']


def test_every_parameter_is_read_only_at_run_time(ros_context, executor, node_runner, udp_ports):
    """Anyone on the ROS domain could otherwise switch off the energy RTL of a flying drone."""
    node, probe = start_node(ros_context, executor, node_runner, port=udp_ports(1))
    for name, value in (
        ('energy_rtl', False),
        ('auto_start', True),
        ('origin_lat_deg', 10.0),
        ('geofence_margin_m', 1.0),
        ('max_altitude_m', 1e9),
    ):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful, name
    assert node._params.energy_rtl and not node._params.auto_start
    assert node._params.origin.lat_deg == ORIGIN.lat_deg


@pytest.mark.parametrize(
    ('name', 'value'),
    [
        ('max_altitude_m', 1e9),
        ('max_altitude_m', float('nan')),
        ('min_altitude_m', -1.0),
        ('battery_reserve_pct', 150.0),
        ('cruise_speed_m_s', 0.0),
        ('mavlink_base_port', 70000),
    ],
)
def test_out_of_range_parameters_stop_the_node_naming_them(name, value):
    values = {n: default for n, (default, _d) in PARAMETERS.items()}
    values[name] = value
    with pytest.raises(ConfigError, match=rf'^{name}: must be within .*, got '):
        FlightParams.from_values(values, '/uav0')


def test_bad_paths_are_refused_before_any_autopilot(ros_context, executor, node_runner, udp_ports):
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        port=udp_ports(1),
        geofence_enu='-50,-50; 50,-50; 50,50; -50,50',
    )
    cases = [
        ([], 'empty path'),
        ([(0.0, 0.0, 20.0), (math.nan, 1.0, 20.0)], 'waypoint 1 is not a finite number'),
        ([(0.0, 0.0, 20.0), (10.0, 0.0, 900.0)], 'waypoint 1 altitude 900.0 m'),
        ([(0.0, 0.0, 20.0), (200.0, 0.0, 20.0)], 'waypoint 1 (200.0, 0.0) is 140.0 m outside'),
    ]
    publisher = None
    for points, words in cases:
        msg = path_msg(points)
        if publisher is None:
            publisher = publish_path(executor, probe, points)
        else:
            publisher.publish(msg)
        wait_status(executor, probe, lambda s, w=words: w in s.get('last_refusal', ''), 5.0, words)
        assert probe.status()['mission_state'] == 'refused'
    publisher.publish(path_msg([(0.0, 0.0, 20.0)], frame_id='uav0/base_link'))
    wait_status(executor, probe, lambda s: "frame_id must be 'map'" in s['last_refusal'], 5, '')


# -- against the simulator ----------------------------------------------------------------------


def test_mission_from_path_is_flown_waypoint_by_waypoint(
    ros_context, executor, simulator, node_runner, udp_ports
):
    """THE acceptance test: path in, every waypoint reached in order, landed at home."""
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        port=vehicle.port,
        auto_start=True,
        geofence_enu='-20,-10; 40,-10; 40,40; -20,40',
        geofence_margin_m=5.0,
    )
    wait_ready(executor, probe)
    publish_path(executor, probe, SQUARE)

    # Record, for each newly reached waypoint, the poses around the moment it was reported.
    reached_at = {}

    def progress():
        values = probe.status()
        reached = [int(w) for w in values.get('mission_waypoints_reached', '').split(',') if w]
        for waypoint in reached:
            if waypoint not in reached_at:
                reached_at[waypoint] = time.monotonic()
        return values.get('mission_state') == 'completed'

    assert spin_until(executor, progress, 60.0), f'mission not completed: {probe.status()}'
    # Then RTL: landed and disarmed at home.
    wait_status(
        executor,
        probe,
        lambda s: s['landed_state'] == 'on_ground' and s['armed'] == 'false',
        60.0,
        'landed and disarmed',
    )
    assert list(reached_at) == [0, 1, 2, 3]  # every waypoint, in order
    assert vehicle.state().failsafe is None  # PX4's fence (uploaded first) was not breached
    times = list(reached_at.values())
    assert all(a < b for a, b in zip(times, times[1:], strict=False)), times
    radius = float(PARAMETERS['acceptance_radius_m'][0])
    with probe.lock:
        poses = list(probe.poses)
    for waypoint, stamp in reached_at.items():
        # PX4 counts a waypoint reached within the acceptance radius horizontally (and within
        # NAV_MC_ALT_RAD vertically): check the poses published from 0.3 s before to 0.2 s
        # after the status that reported it (telemetry at 20 Hz and the 25 Hz status tick each
        # add up to one period of latency).
        wx, wy, wz = SQUARE[waypoint]
        nearby = [
            (math.hypot(m.pose.position.x - wx, m.pose.position.y - wy), m.pose.position.z - wz)
            for t, m in poses
            if stamp - 0.3 <= t <= stamp + 0.2
        ]
        assert nearby, f'no pose published around waypoint {waypoint}'
        closest = min(nearby)
        assert closest[0] <= radius + 0.3 and abs(closest[1]) < 1.5, (waypoint, nearby)

    state = vehicle.state()
    assert not state.armed and state.landed_state == MAV_LANDED_STATE_ON_GROUND
    east, north, up = probe.pose_enu()
    home_e, home_n, _ = FRAME.point_to_enu(state.home)
    assert math.hypot(east - home_e, north - home_n) < 2.0
    assert abs(up - (state.home.alt_m - ORIGIN.alt_m)) < 0.5
    # Pose, fix and battery kept flowing at the configured rate, in the right frames.
    assert probe.poses[-1][1].header.frame_id == 'map'
    assert probe.fixes[-1][1].header.frame_id == 'uav0/base_link'
    assert 0.0 < probe.batteries[-1][1].percentage < 1.0
    duration = probe.poses[-1][0] - probe.poses[0][0]
    assert len(probe.poses) / duration > 15.0


def test_arming_while_flying_is_refused_and_commands_work(
    ros_context, executor, simulator, node_runner
):
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, takeoff_altitude_m=8.0
    )
    wait_ready(executor, probe)
    for service in ('land', 'return_to_launch'):
        response = call(executor, probe, service)
        assert not response.success and response.message.startswith('refused: '), service
    response = call(executor, probe, 'start_mission')
    assert not response.success
    assert response.message == 'refused: no mission uploaded (publish a path on mission/path)'

    response = call(executor, probe, 'takeoff')
    assert response.success, response.message
    assert response.message == 'taking off to 8 m above home'
    wait_status(executor, probe, lambda s: s['landed_state'] == 'in_air', 20.0, 'in the air')

    for service in ('arm', 'takeoff'):
        response = call(executor, probe, service)
        assert (response.success, response.message) == (False, 'refused: already flying')
    wait_status(
        executor,
        probe,
        lambda s: s['last_refusal'] == 'takeoff: refused: already flying',
        2.0,
        'the refusal in status',
    )

    # The vehicle climbed to 8 m above home, under the pose in map ENU.
    wait_status(executor, probe, lambda s: probe.pose_enu()[2] > 7.0, 20.0, 'climb to about 8 m')
    pose = probe.pose_enu()
    state = vehicle.state()
    east, north, _ = FRAME.point_to_enu(state.home)
    assert math.hypot(pose[0] - east, pose[1] - north) < 1.0
    # Orientation: PX4's heading (NED, clockwise from north) as an ENU yaw (from east, CCW).
    with probe.lock:
        q = probe.poses[-1][1].pose.orientation
    yaw_enu = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    expected = math.pi / 2 - state.yaw_rad
    assert abs(math.remainder(yaw_enu - expected, 2 * math.pi)) < 0.05

    response = call(executor, probe, 'land')
    assert (response.success, response.message) == (True, 'landing')
    wait_status(
        executor,
        probe,
        lambda s: s['landed_state'] == 'on_ground' and s['armed'] == 'false',
        40.0,
        'landed',
    )


def test_px4_denial_reason_reaches_the_service_answer(
    ros_context, executor, simulator, node_runner
):
    sim = simulator()
    vehicle = sim.vehicles[0]
    vehicle.set_gps(False)  # no GPS, no home: PX4 refuses to arm
    node, probe = start_node(ros_context, executor, node_runner, port=vehicle.port)
    wait_status(executor, probe, lambda s: s['connection'] == 'connected', 10.0, 'connected')
    response = call(executor, probe, 'arm')
    assert not response.success
    assert response.message.startswith('denied by the autopilot: arming refused: ')
    assert '(Arming denied: ' in response.message  # PX4's own STATUSTEXT
    assert not vehicle.state().armed


def test_paths_beyond_reach_or_fence_are_refused_and_nothing_uploaded(
    ros_context, executor, simulator, node_runner
):
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        port=vehicle.port,
        auto_start=True,
        max_distance_m=20000.0,
        geofence_enu='-100,-100; 10000,-100; 10000,100; -100,100',
        battery_drain_pct_per_s=0.07,
    )
    wait_ready(executor, probe)
    # 2 x 9 km out and back at the 10 m/s transit speed: 1,840 s of flight, 129 % of a battery.
    publisher = publish_path(executor, probe, [(9000.0, 0.0, 30.0), (9000.0, 50.0, 30.0)])
    wait_status(
        executor,
        probe,
        lambda s: 'beyond battery reach' in s['last_refusal'],
        10.0,
        'battery refusal',
    )
    assert probe.status()['mission_state'] == 'refused'
    assert probe.level() == DiagnosticStatus.OK  # a refusal is not a vehicle fault
    publisher.publish(path_msg([(0.0, 0.0, 20.0), (300.0, 300.0, 20.0)]))
    wait_status(
        executor, probe, lambda s: 'outside the geofence' in s['last_refusal'], 5.0, 'fence'
    )
    publisher.publish(path_msg([(0.0, 0.0, 20.0), (float('inf'), 0.0, 20.0)]))
    wait_status(executor, probe, lambda s: 'not a finite number' in s['last_refusal'], 5.0, 'inf')
    state = vehicle.state()
    assert state.mission_count == 0 and not state.armed  # nothing uploaded, nothing started


def fly_mission(executor, probe, points, timeout=30.0):
    """Publish `points`, wait for the mission to be flying, return the path publisher."""
    publisher = publish_path(executor, probe, points)
    wait_status(
        executor,
        probe,
        lambda s: s['mission_state'] == 'active' and s['landed_state'] == 'in_air',
        timeout,
        'the mission flying',
    )
    return publisher


#: Out and back along a 150 m line, long enough for the failsafe tests to act in flight.
LONG_LINE = [(150.0, 0.0, 20.0), (150.0, 20.0, 20.0), (0.0, 20.0, 20.0), (150.0, 40.0, 20.0)]


def test_link_loss_reported_then_recovered_and_px4_returns(
    ros_context, executor, simulator, node_runner
):
    sim = simulator({'NAV_DLL_ACT': 2})  # PX4: return to launch on data link loss
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True
    )
    wait_ready(executor, probe)
    fly_mission(executor, probe, LONG_LINE)

    dropped_at = time.monotonic()
    # Simulated seconds: 3 s of wall time at SPEED, longer than PX4's COM_DL_LOSS_T (10 s).
    vehicle.drop_link(3.0 * SPEED)
    wait_status(executor, probe, lambda s: s['connection'] == 'link lost', 3.0, 'link lost')
    assert probe.level() == DiagnosticStatus.ERROR and probe.message() == 'link lost'
    lost_after = time.monotonic() - dropped_at
    assert lost_after < 3.0
    response = call(executor, probe, 'return_to_launch')
    assert (response.success, response.message) == (
        False,
        'refused: link to the autopilot lost',
    )
    n_poses = len(probe.poses)
    wait_status(executor, probe, lambda s: s['connection'] == 'connected', 10.0, 'link recovered')
    assert len(probe.poses) >= n_poses  # poses resume once the link is back
    # PX4 (the simulator) returned home on its own during the outage.
    wait_status(executor, probe, lambda s: s['flight_mode'] == 'return', 5.0, 'RTL')
    assert spin_until(executor, lambda: len(probe.poses) > n_poses + 5, 5.0)


def test_killed_vehicle_is_reported_lost_within_3_s(ros_context, executor, simulator, node_runner):
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(ros_context, executor, node_runner, port=vehicle.port)
    wait_ready(executor, probe)
    killed_at = time.monotonic()
    vehicle.kill()
    wait_status(executor, probe, lambda s: s['connection'] == 'link lost', 3.0, 'link lost')
    assert time.monotonic() - killed_at < 3.0
    assert probe.level() == DiagnosticStatus.ERROR
    response = call(executor, probe, 'arm')
    assert not response.success and response.message.startswith('refused: link')


def test_px4_low_battery_failsafe_shows_as_return_in_status(
    ros_context, executor, simulator, node_runner
):
    # PX4's own failsafe: a battery that empties in 60 s of hover and stops at 6 %, below
    # BAT_CRIT_THR (7 %) but above BAT_EMERGEN_THR (5 %): "Critical battery", Hold, then RTL.
    sim = simulator({'SIM_BAT_DRAIN': 60.0, 'SIM_BAT_MIN_PCT': 6.0})
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True, energy_rtl=False
    )
    wait_ready(executor, probe)
    fly_mission(executor, probe, LONG_LINE)
    wait_status(
        executor,
        probe,
        lambda s: s['flight_mode'] == 'return' and s['failsafe'].startswith('autopilot failsafe'),
        30.0,
        "PX4's low-battery return",
    )
    assert probe.level() == DiagnosticStatus.WARN
    assert float(probe.status()['battery_pct']) < 8.0
    assert vehicle.state().failsafe == 'battery_critical'


def test_energy_reserve_sends_the_vehicle_home(ros_context, executor, simulator, node_runner):
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True
    )
    wait_ready(executor, probe)
    fly_mission(executor, probe, LONG_LINE)
    # The battery now drains 15 x faster than the model planned for (cold pack, headwind).
    vehicle.set_battery_drain(15.0)
    wait_status(
        executor,
        probe,
        lambda s: s['failsafe'].startswith('energy reserve: returning to launch'),
        30.0,
        'the energy return',
    )
    values = probe.status()
    assert probe.level() == DiagnosticStatus.WARN
    assert float(values['energy_margin_pct']) < 0.0
    # flight_control acted first: PX4's own low-battery warning (15 %) has not come yet.
    assert float(values['battery_pct']) > 15.0
    wait_status(executor, probe, lambda s: s['flight_mode'] == 'return', 5.0, 'RTL mode')
    assert vehicle.state().mode.name == 'AUTO.RTL' and vehicle.state().failsafe is None


def test_auto_start_waits_for_a_vehicle_not_ready_and_retries_until_it_is(
    ros_context, executor, simulator, node_runner
):
    """PX4 refuses to arm while its health checks fail: say so, retry, fly once it is ready.

    The GPS goes off after boot, so PX4 (and the simulator) answer arming with
    TEMPORARILY_REJECTED, as a real PX4 does for its first 4 s (boot-autopilot.tlog). Status
    says ready_to_arm false with the reason; auto_start keeps trying with backoff, and flies the
    mission once the GPS is back, instead of giving up after the first refusal.
    """
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        port=vehicle.port,
        auto_start=True,
        geofence_enu='-20,-10; 40,-10; 40,40; -20,40',
        geofence_margin_m=5.0,
    )
    wait_ready(executor, probe)
    wait_status(executor, probe, lambda s: s['ready_to_arm'] == 'true', 10.0, 'ready to arm')
    assert probe.status()['not_ready_reason'] == ''
    vehicle.set_gps(False)
    wait_status(
        executor,
        probe,
        lambda s: s['ready_to_arm'] == 'false' and 'global position' in s['not_ready_reason'],
        15.0,
        'not ready: no global position',
    )
    publish_path(executor, probe, SQUARE)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'starting', 20.0, 'starting')
    # Refused for a while: PX4's own words become the reason, the state stays 'starting'.
    wait_status(
        executor,
        probe,
        lambda s: 'Arming denied' in s['not_ready_reason'],
        10.0,
        "PX4's arming refusal as the reason",
    )
    spin_until(executor, lambda: False, 1.5)
    assert probe.status()['mission_state'] == 'starting', probe.status()
    assert not vehicle.state().armed
    vehicle.set_gps(True)
    wait_status(
        executor,
        probe,
        lambda s: s['mission_state'] in ('active', 'completed') and s['armed'] == 'true',
        20.0,
        'the mission flown after the GPS came back',
    )
    assert probe.status()['ready_to_arm'] == 'true'
    assert probe.status()['not_ready_reason'] == ''  # armed: nothing to explain


def test_start_refused_for_good_ends_in_failed_with_the_reason(
    ros_context, executor, simulator, node_runner, monkeypatch
):
    """A vehicle that never becomes ready: 'failed' with PX4's reason, never 'starting' forever."""
    from uav_flood.autopilot import pilot
    from uav_flood.core import mission_supervisor

    # A short retry budget keeps the test short; the rule is the same as the default's.
    monkeypatch.setattr(
        pilot,
        'START_RETRY',
        mission_supervisor.RetryPolicy(attempts=4, first_delay_s=0.2, deadline_s=2.0),
    )
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True
    )
    wait_ready(executor, probe)
    vehicle.set_gps(False)
    wait_status(executor, probe, lambda s: s['ready_to_arm'] == 'false', 15.0, 'not ready')
    publish_path(executor, probe, SQUARE)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'failed', 20.0, 'failed')
    status = probe.status()
    assert status['last_refusal'].startswith('auto_start failed: arming refused'), status
    assert '(after 4 attempts)' in status['last_refusal']
    assert 'Arming denied' in status['last_refusal']
    assert not vehicle.state().armed


def test_upload_failing_on_a_lossy_link_is_retried_and_flown(
    ros_context, executor, simulator, node_runner
):
    """Most packets lost: the upload fails on the protocol, is retried, and flies once it gets
    through, instead of evicting the drone after one try."""
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        port=vehicle.port,
        auto_start=True,
        geofence_enu='-20,-10; 40,-10; 40,40; -20,40',
        geofence_margin_m=5.0,
    )
    wait_ready(executor, probe)
    vehicle.set_packet_loss(0.9)
    publish_path(executor, probe, SQUARE)
    wait_status(
        executor,
        probe,
        lambda s: 'upload attempt 2' in s['retrying'],
        40.0,
        'a failed upload attempt and a retry',
    )
    assert probe.status()['mission_state'] == 'uploading'
    vehicle.set_packet_loss(0.0)
    wait_status(
        executor, probe, lambda s: s['mission_state'] == 'active', 30.0, 'the mission flown'
    )
    assert probe.status()['retrying'] == ''


def test_the_same_path_again_is_ignored_a_new_one_is_taken(
    ros_context, executor, simulator, node_runner
):
    """A restarted coordinator publishes its paths again with their stamps: not re-uploaded."""
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(ros_context, executor, node_runner, port=vehicle.port)
    wait_ready(executor, probe)
    publisher = probe.node.create_publisher(
        PathMsg, f'{NS}/{names.MISSION_PATH.name}', names.MISSION_PATH.qos
    )
    msg = path_msg(SQUARE)
    msg.header.stamp.sec = 5
    publisher.publish(msg)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'uploaded', 20.0, 'uploaded')
    assert probe.status()['path_stamp'] == '5000000000'
    with probe.lock:
        seen = len(probe.statuses)
    publisher.publish(msg)
    spin_until(executor, lambda: False, 1.0)
    with probe.lock:
        states = {diagnostic_values(m)['mission_state'] for _, m in probe.statuses[seen:]}
    assert states == {'uploaded'}
    msg.header.stamp.sec = 6
    publisher.publish(msg)
    wait_status(
        executor, probe, lambda s: s['path_stamp'] == '6000000000', 5.0, 'the new path taken'
    )


def test_a_restarted_flight_control_takes_up_the_mission_in_flight(
    ros_context, executor, simulator, node_runner
):
    """flight_control dies in flight and is started again (the runner's respawn): it gets its
    path again (latched) and takes up the mission PX4 is flying instead of restarting it."""
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True
    )
    wait_ready(executor, probe)
    publisher = probe.node.create_publisher(
        PathMsg, f'{NS}/{names.MISSION_PATH.name}', names.MISSION_PATH.qos
    )
    msg = path_msg(SQUARE)
    msg.header.stamp.sec = 7
    publisher.publish(msg)
    wait_status(
        executor,
        probe,
        lambda s: s['mission_state'] == 'active' and s['mission_waypoints_reached'] == '0',
        30.0,
        'first waypoint reached',
    )
    node.destroy_node()  # the process dies: no status, MAVSDK gone; PX4 flies on
    item = vehicle.state().mission_current
    assert item >= 2
    restarted = FlightControlNode(
        context=ros_context,
        namespace=NS,
        parameter_overrides=[
            Parameter('publish_rate_hz', value=25.0),
            Parameter('connection_url', value=f'udpin://127.0.0.1:{vehicle.port}'),
            Parameter('auto_start', value=True),
        ],
    )
    node_runner(restarted)
    wait_status(
        executor,
        probe,
        lambda s: s['mission_state'] == 'active' and s['path_stamp'] == '7000000000',
        20.0,
        'the mission taken up',
    )
    # Not uploaded again: PX4 went on from where it was, never back to the first items.
    assert vehicle.state().mission_current >= item
    wait_status(executor, probe, lambda s: s['mission_state'] == 'completed', 60.0, 'completed')
    assert probe.status()['mission_waypoints_reached'] == '0,1,2,3'


def test_start_hold_keeps_a_vehicle_on_the_ground_until_the_plans_moment(
    ros_context, executor, simulator, node_runner
):
    """start_hold_s: uploaded at once, but armed no sooner than the hold after the path's stamp
    (the coordinator stamps every path of a plan alike, so the fleet takes off together)."""
    sim = simulator()
    vehicle = sim.vehicles[0]
    node, probe = start_node(
        ros_context, executor, node_runner, port=vehicle.port, auto_start=True, start_hold_s=2.5
    )
    wait_ready(executor, probe)
    wait_status(executor, probe, lambda s: s['ready_to_arm'] == 'true', 10.0, 'ready to arm')
    msg = path_msg(SQUARE)
    msg.header.stamp = node.get_clock().now().to_msg()
    stamped = time.monotonic()
    publisher = probe.node.create_publisher(
        PathMsg, f'{NS}/{names.MISSION_PATH.name}', names.MISSION_PATH.qos
    )
    publisher.publish(msg)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'uploaded', 10.0, 'uploaded')
    held_at = time.monotonic() - stamped
    assert held_at < 2.0 and not vehicle.state().armed  # uploaded, waiting on the ground
    spin_until(executor, lambda: False, 2.0 - held_at)
    assert probe.status()['mission_state'] == 'uploaded' and not vehicle.state().armed
    wait_status(
        executor,
        probe,
        lambda s: s['mission_state'] in ('starting', 'active', 'completed'),
        10.0,
        'started after the hold',
    )
    assert time.monotonic() - stamped >= 2.5 - 0.1  # the status comes every 40 ms
