"""swarm_coordinator under real rclpy, in process: plan, progress, losses and re-plans, bad input.

A probe plays three flight_control nodes (/uav0../uav2: status, pose, battery; it takes their
mission/path and reports reached waypoints as a mission that flies them).
"""

import itertools
import json
import math
import time

import pytest
from shapely.geometry import box

from uav_flood.core.coverage import PlanConfig
from uav_flood.core.coverage.progress import swath_geometry
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.testing import spin_until

VEHICLES = ['uav0', 'uav1', 'uav2']
ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
AREA = box(20.0, 20.0, 320.0, 220.0)  # map ENU (m)
ALTITUDE_M = 20.0
TIMEOUT_S = 1.0
#: How far the camera sees beyond a leg's ends at ALTITUDE_M: the coordinator's coverage model.
REACH_M = PlanConfig(base_altitude_m=ALTITUDE_M).reach_m


class FleetProbe:
    """Three fake flight_control nodes: publish status/pose/battery, take and fly paths."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PolygonStamped, PoseStamped
        from nav_msgs.msg import Path
        from sensor_msgs.msg import BatteryState
        from visualization_msgs.msg import MarkerArray

        from uav_flood.nodes import names

        self.node = node
        self.vehicles = {}
        for i, name in enumerate(VEHICLES):
            v = {
                'path': [],
                'paths': [],
                'reached': -1,
                'flown': [],
                'state': 'none',
                'mode': 'hold',
                'failsafe': 'none',
                'position': (0.0, -10.0 * i, 0.0),
                'silent': False,
                'battery': 0.8,
                'on_ground': False,
                'status_pub': node.create_publisher(DiagnosticArray, f'/{name}/status', 10),
                'pose_pub': node.create_publisher(PoseStamped, f'/{name}/pose', 10),
                'battery_pub': node.create_publisher(BatteryState, f'/{name}/battery', 10),
            }
            node.create_subscription(
                Path,
                f'/{name}/mission/path',
                lambda msg, n=name: self._on_path(n, msg),
                names.MISSION_PATH.qos,
            )
            self.vehicles[name] = v
        self.statuses = []
        self.markers = []
        node.create_subscription(DiagnosticArray, '/swarm/status', self.statuses.append, 10)
        node.create_subscription(MarkerArray, '/swarm/markers', self.markers.append, 10)
        self.aoi_pub = node.create_publisher(
            PolygonStamped, '/swarm/area_of_interest', names.AREA_OF_INTEREST.qos
        )
        node.create_timer(0.1, self.tick)

    def _on_path(self, name, msg):
        v = self.vehicles[name]
        stamp = str(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
        if stamp == v.get('path_stamp'):
            v['repeats'] = v.get('repeats', 0) + 1  # as flight_control: taken already
            return
        if v['reached'] >= 0:
            v['flown'].append(self._flown(v))
        v['path'] = [(p.pose.position.x, p.pose.position.y, p.pose.position.z) for p in msg.poses]
        v['paths'].append((time.monotonic(), v['path']))
        v['reached'] = -1
        v['state'] = 'uploaded'
        v['path_stamp'] = stamp
        v['on_ground'] = False  # it takes off for it

    def advance(self, name, metres):
        """Fly `metres` further along the path (waypoint 0 is reached on the first call)."""
        v = self.vehicles[name]
        if not v['path'] or v['state'] == 'completed':
            return
        v['mode'] = 'mission'
        v['state'] = 'active'
        if v['reached'] < 0:
            v['reached'], v['position'] = 0, v['path'][0]
        left = metres
        while left > 0.0 and v['reached'] < len(v['path']) - 1:
            target = v['path'][v['reached'] + 1]
            gap = math.dist(v['position'][:2], target[:2])
            if gap <= left:
                v['reached'] += 1
                v['position'] = target
                left -= gap
            else:
                f = left / gap
                v['position'] = tuple(
                    a + f * (b - a) for a, b in zip(v['position'], target, strict=True)
                )
                left = 0.0
        if v['reached'] == len(v['path']) - 1:
            v['state'] = 'completed'

    def _flown(self, v):
        line = [p[:2] for p in v['path'][: v['reached'] + 1]]
        if v['reached'] >= 0 and v['state'] != 'completed':
            line.append(v['position'][:2])
        return line

    def flown(self):
        lines = []
        for v in self.vehicles.values():
            lines += v['flown']
            if v['reached'] >= 0:
                lines.append(self._flown(v))
        return lines

    def tick(self):
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        from geometry_msgs.msg import PoseStamped
        from sensor_msgs.msg import BatteryState

        stamp = self.node.get_clock().now().to_msg()
        for name, v in self.vehicles.items():
            if v['silent']:
                continue
            values = {
                'connection': 'connected',
                'link_age_s': '0.05',
                'armed': 'false' if v['on_ground'] else 'true',
                'ready_to_arm': 'true',
                'flight_mode': v['mode'],
                'landed_state': 'on_ground' if v['on_ground'] else 'in_air',
                'battery_pct': f'{v["battery"] * 100:.1f}',
                'failsafe': v['failsafe'],
                'mission_state': v['state'],
                'mission_waypoint_current': str(v['reached'] + 1),
                'mission_waypoint_total': str(len(v['path'])),
                'mission_waypoints_reached': ','.join(str(w) for w in range(v['reached'] + 1)),
                'last_refusal': '',
                'path_stamp': v.get('path_stamp', ''),
            }
            status = DiagnosticStatus(
                name=f'/{name}/flight_control',
                values=[KeyValue(key=k, value=val) for k, val in values.items()],
            )
            array = DiagnosticArray(status=[status])
            array.header.stamp = stamp
            v['status_pub'].publish(array)
            pose = PoseStamped()
            pose.header.stamp = stamp
            pose.header.frame_id = 'map'
            pos = pose.pose.position
            pos.x, pos.y, pos.z = v['position']
            pose.pose.orientation.w = 1.0
            v['pose_pub'].publish(pose)
            battery = BatteryState(percentage=v['battery'])
            battery.header.stamp = stamp
            v['battery_pub'].publish(battery)

    def status(self):
        if not self.statuses:
            return {}
        s = self.statuses[-1].status[0]
        return {'level': s.level, 'message': s.message, **{kv.key: kv.value for kv in s.values}}


def area_file(tmp_path, polygon=AREA):
    frame = LocalFrame(ORIGIN)
    ring = []
    for x, y in polygon.exterior.coords:
        p = frame.enu_to_point(x, y)
        ring.append([p.lon_deg, p.lat_deg])
    path = tmp_path / 'area.geojson'
    path.write_text(json.dumps({'type': 'Polygon', 'coordinates': [ring]}))
    return path


def make_nodes(ros_context, executor, overrides=()):
    import rclpy
    from rclpy.parameter import Parameter

    from uav_flood.nodes.swarm_coordinator import SwarmCoordinatorNode

    params = [
        Parameter('vehicles', value=VEHICLES),
        Parameter('altitude_m', value=ALTITUDE_M),
        Parameter('status_timeout_s', value=TIMEOUT_S),
        Parameter('fleet_wait_s', value=5.0),
        *overrides,
    ]
    node = SwarmCoordinatorNode(context=ros_context, parameter_overrides=params)
    probe = FleetProbe(rclpy.create_node('fleet_probe', context=ros_context))
    executor.add_node(node)
    executor.add_node(probe.node)
    return node, probe


def coverage_of(lines, swath, extra=None):
    covered = swath_geometry(lines, swath, REACH_M)
    if extra is not None:
        covered = covered.union(extra)
    return covered.intersection(AREA).area / AREA.area


def planned(executor, probe, timeout=10.0):
    ok = spin_until(executor, lambda: all(v['paths'] for v in probe.vehicles.values()), timeout)
    assert ok, f'no paths for every vehicle; status {probe.status()}'
    assert spin_until(executor, lambda: 'swath_m' in probe.status(), 3.0)
    return float(probe.status()['swath_m'])


def wait_replan(executor, probe, survivors, since, timeout):
    def arrived():
        return all(probe.vehicles[n]['paths'][-1][0] > since for n in survivors)

    assert spin_until(executor, arrived, timeout), f'no new paths; status {probe.status()}'
    return max(probe.vehicles[n]['paths'][-1][0] for n in survivors) - since


def test_plan_progress_loss_and_replan(ros_context, executor, tmp_path):
    from rclpy.parameter import Parameter
    from visualization_msgs.msg import Marker

    node, probe = make_nodes(
        ros_context, executor, [Parameter('area_file', value=str(area_file(tmp_path)))]
    )
    swath = planned(executor, probe)
    paths = [v['path'] for v in probe.vehicles.values()]
    assert all(p[0][2] == pytest.approx(ALTITUDE_M + 5.0 * i) for i, p in enumerate(paths))
    assert coverage_of([[q[:2] for q in p] for p in paths], swath) >= 0.995

    checks = []
    for target in (0.2, 0.4):
        while coverage_of(probe.flown(), swath) < target:
            for name in VEHICLES:
                probe.advance(name, 10.0)
        expected = coverage_of(probe.flown(), swath) * 100.0

        def matches(expected=expected):
            value = probe.status().get('coverage_pct')
            return value is not None and abs(float(value) - expected) < 2.0

        assert spin_until(executor, matches, 3.0), (expected, probe.status())
        checks.append(float(probe.status()['coverage_pct']))
    assert checks[1] > checks[0] >= 15.0

    probe.vehicles['uav1']['silent'] = True
    silenced = time.monotonic()
    elapsed = wait_replan(executor, probe, ['uav0', 'uav2'], silenced, TIMEOUT_S + 1.5)
    assert elapsed <= TIMEOUT_S + 1.0
    assert len(probe.vehicles['uav1']['paths']) == 1
    assert node.core.last_replan_latency_ms < 1000.0

    new = swath_geometry([[q[:2] for q in probe.vehicles[n]['path']] for n in ('uav0', 'uav2')],
                         swath, REACH_M)  # fmt: skip
    assert coverage_of(probe.flown(), swath, new) >= 0.995

    def reported():
        s = probe.status()
        return s.get('replans') == '1' and s.get('uav1', '').startswith('lost: status silent')

    assert spin_until(executor, reported, 2.5), probe.status()
    assert probe.status()['last_replan_reason'].startswith('uav1 lost')

    def deleted():
        return {(m.ns, m.id) for m in probe.markers[-1].markers if m.action == Marker.DELETE}

    assert spin_until(executor, lambda: deleted() == {('path', 1), ('part', 1)}, 2.5)
    assert all(m.header.frame_id == 'map' for m in probe.markers[-1].markers)
    last = {(m.ns, m.id): m for m in probe.markers[-1].markers if m.action == Marker.ADD}
    assert {('area', 0), ('path', 0), ('path', 2), ('covered', 1)} <= set(last)
    assert ('path', 1) not in last
    assert last[('path', 0)].points[0].x == pytest.approx(probe.vehicles['uav0']['path'][0][0])


@pytest.mark.parametrize(
    ('victim', 'change', 'reason'),
    [
        ('uav2', {'mode': 'return', 'failsafe': 'energy reserve: returning to launch'}, 'energy'),
        ('uav0', {'state': 'failed'}, 'mission failed'),
    ],
)
def test_loss_by_battery_rtl_or_failure_replans(ros_context, executor, tmp_path, victim, change,
                                                reason):  # fmt: skip
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context, executor, [Parameter('area_file', value=str(area_file(tmp_path)))]
    )
    planned(executor, probe)
    for name in VEHICLES:
        probe.advance(name, 150.0)
    assert spin_until(executor, lambda: float(probe.status().get('coverage_pct', 0)) > 5.0, 3.0)
    probe.vehicles[victim].update(change)
    start = time.monotonic()
    survivors = [n for n in VEHICLES if n != victim]
    assert wait_replan(executor, probe, survivors, start, 1.5) < 1.0
    assert spin_until(executor, lambda: reason in probe.status().get(victim, ''), 2.5)
    assert probe.status()['level'] == b'\x01'  # WARN: a drone is lost


def test_area_on_the_topic_and_bad_areas(ros_context, executor):
    from geometry_msgs.msg import Point32, PolygonStamped

    node, probe = make_nodes(ros_context, executor)
    assert spin_until(executor, lambda: 'waiting for the area' in probe.status().get('state', ''),
                      3.0)  # fmt: skip

    def polygon(points):
        msg = PolygonStamped()
        msg.header.frame_id = 'map'
        msg.polygon.points = [Point32(x=float(x), y=float(y), z=0.0) for x, y in points]
        return msg

    probe.aoi_pub.publish(polygon([(0, 0), (100, 100), (100, 0), (0, 100)]))  # bow tie
    assert spin_until(executor, lambda: probe.status().get('level') == b'\x02', 3.0)
    assert 'area of interest refused' in probe.status()['message']
    assert not any(v['paths'] for v in probe.vehicles.values())
    probe.aoi_pub.publish(polygon(list(AREA.exterior.coords)[:-1]))
    swath = planned(executor, probe)
    assert spin_until(executor, lambda: probe.status().get('level') == b'\x00', 2.5)
    paths = [[q[:2] for q in v['path']] for v in probe.vehicles.values()]
    assert coverage_of(paths, swath) >= 0.995


def test_bad_area_file_is_an_error_status_not_a_crash(ros_context, executor, tmp_path):
    from rclpy.parameter import Parameter

    bad = tmp_path / 'bad.geojson'
    bad.write_text('{"type": "Polygon", "coordinates": [[[8.5, 47.3], [8.6, 47.3]')
    node, probe = make_nodes(ros_context, executor, [Parameter('area_file', value=str(bad))])
    assert spin_until(executor, lambda: len(probe.statuses) >= 2, 3.5)
    status = probe.status()
    assert status['level'] == b'\x02'
    assert 'area file unusable' in status['message'] and 'bad.geojson' in status['message']
    assert not any(v['paths'] for v in probe.vehicles.values())


@pytest.mark.parametrize(
    ('name', 'value', 'source'),
    [
        ('overlap', 0.95, 'planning parameters'),
        ('vehicles', ['uav0', 'uav0'], 'vehicles'),
        ('vehicles', ['uav 0'], 'vehicles'),
        ('status_timeout_s', 0.0, 'status_timeout_s'),
        ('altitude_m', 60, 'altitude_m'),
        ('origin_lat_deg', 95.0, 'origin'),
    ],
)
def test_bad_parameter_is_a_config_error(ros_context, name, value, source):
    from rclpy.parameter import Parameter

    from uav_flood.nodes.swarm_coordinator import SwarmCoordinatorNode

    with pytest.raises(ConfigError) as info:
        SwarmCoordinatorNode(
            context=ros_context, parameter_overrides=[Parameter(name, value=value)]
        )
    assert source in str(info.value)


def fly_until(executor, probe, names, predicate, timeout, step_m=5.0):
    """Advance drones `names` step_m every 50 ms until `predicate` holds; return whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        for name in names:
            probe.advance(name, step_m)
        spin_until(executor, lambda: False, 0.05)
    return predicate()


def _coverage_series(probe):
    return [
        float(kv.value)
        for msg in probe.statuses
        for kv in msg.status[0].values
        if kv.key == 'coverage_pct'
    ]


def test_a_status_saying_link_lost_is_not_enough_evidence(ros_context, executor, tmp_path):
    """Anyone can publish 'link lost' on /uavN/status: with the drone's telemetry still fresh
    it is not lost; with its telemetry silent too, it is."""
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context, executor, [Parameter('area_file', value=str(area_file(tmp_path)))]
    )
    planned(executor, probe)
    for name in VEHICLES:
        probe.advance(name, 100.0)
    fake = probe.node.create_publisher(
        __import__('diagnostic_msgs.msg', fromlist=['DiagnosticArray']).DiagnosticArray,
        '/uav1/status',
        10,
    )

    def spoof():
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        status = DiagnosticStatus(
            name='/uav1/flight_control',
            values=[KeyValue(key='connection', value='link lost')],
        )
        fake.publish(DiagnosticArray(status=[status]))

    timer = probe.node.create_timer(0.05, spoof)
    spin_until(executor, lambda: False, 3.0 * TIMEOUT_S)
    assert not probe.status().get('uav1', '').startswith('lost'), probe.status()
    assert len(probe.vehicles['uav1']['paths']) == 1
    # Now the drone's own telemetry stops as well (the spoofed status goes on): lost.
    probe.vehicles['uav1']['silent'] = True
    assert spin_until(
        executor,
        lambda: probe.status().get('uav1', '').startswith('lost: autopilot link lost'),
        3.0 * TIMEOUT_S + 1.0,
    ), probe.status()
    timer.cancel()


def test_a_drone_back_after_a_link_drop_is_taken_back_and_coverage_never_drops(
    ros_context, executor, tmp_path
):
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('readmit_after_s', value=1.0),
        ],
    )
    swath = planned(executor, probe)
    for name in VEHICLES:
        probe.advance(name, 150.0)
    assert spin_until(executor, lambda: float(probe.status().get('coverage_pct', 0)) > 5.0, 3.0)
    probe.vehicles['uav1']['silent'] = True  # the radio drops
    dropped = time.monotonic()
    wait_replan(executor, probe, ['uav0', 'uav2'], dropped, TIMEOUT_S + 1.5)
    assert spin_until(
        executor, lambda: probe.status().get('uav1', '').startswith('lost: status silent'), 2.5
    ), probe.status()
    # Meanwhile it flew on with its mission (PX4 does on a link loss), then the link is back.
    probe.advance('uav1', 60.0)
    probe.vehicles['uav1']['silent'] = False
    back = time.monotonic()
    assert spin_until(executor, lambda: len(probe.vehicles['uav1']['paths']) == 2, 5.0), (
        probe.status()
    )
    assert probe.vehicles['uav1']['paths'][-1][0] > back
    assert spin_until(executor, lambda: probe.status().get('uav1_readmissions') == '1', 2.0), (
        probe.status()
    )
    status = probe.status()
    assert 'uav1 taken back' in status['last_replan_reason']
    assert not status['uav1'].startswith('lost')
    # Fly everything to the end: the whole area, with the part uav1 flew while lost counted.
    assert fly_until(
        executor,
        probe,
        VEHICLES,
        lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()),
        30.0,
        step_m=20.0,
    )
    assert spin_until(executor, lambda: probe.status().get('state') == 'done', 3.0)
    assert float(probe.status()['coverage_pct']) >= 99.0
    series = _coverage_series(probe)
    assert all(b >= a for a, b in zip(series, series[1:], strict=False)), series
    assert coverage_of(probe.flown(), swath) >= 0.99


def test_a_drone_late_for_the_plan_is_taken_back_when_it_reports(ros_context, executor, tmp_path):
    """A drone that boots after the fleet wait is left out of the first plan, then gets work.

    The 10-drone demo on 2 cores planned after 9 s with 1 of 10 drones and never used the
    other 9: their loss ('not in the fleet when planning') had no time, so the readmission
    wait never ended.
    """
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('fleet_wait_s', value=1.0),
            Parameter('readmit_after_s', value=1.0),
        ],
    )
    probe.vehicles['uav2']['silent'] = True  # still booting
    assert spin_until(
        executor, lambda: probe.vehicles['uav0']['paths'] and probe.vehicles['uav1']['paths'], 10.0
    ), probe.status()
    assert spin_until(
        executor,
        lambda: probe.status().get('uav2', '') == 'lost: not in the fleet when planning',
        3.0,
    ), probe.status()
    assert probe.vehicles['uav2']['paths'] == []
    # the planner's prediction for each first path, for the demo report's planned / flown
    assert float(probe.status()['uav0_planned_s']) > 0.0
    assert 'uav2_planned_s' not in probe.status()
    probe.vehicles['uav2']['silent'] = False  # up at last
    assert spin_until(executor, lambda: probe.vehicles['uav2']['paths'], 8.0), probe.status()
    assert spin_until(executor, lambda: probe.status().get('uav2_readmissions') == '1', 2.0)
    # The three share the area now: the first plan's paths were replaced for the two others.
    assert spin_until(
        executor, lambda: all(len(probe.vehicles[n]['paths']) >= 2 for n in ('uav0', 'uav1')), 3.0
    ), probe.status()


def test_a_plan_that_keeps_the_coordinator_busy_loses_nobody(
    ros_context, executor, tmp_path, monkeypatch
):
    """Planning for 10 drones on 2 loaded cores took longer than status_timeout_s: the next
    check ran before the statuses queued meanwhile were read and lost 9 drones of 10 at once."""
    from rclpy.parameter import Parameter

    from uav_flood.core.coverage import coordinator as swarm_coordinator

    real = swarm_coordinator.plan_coverage

    def slow_plan(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(2.5 * TIMEOUT_S)  # nothing is read meanwhile (one executor)
        return real(*args, **kwargs)

    monkeypatch.setattr(swarm_coordinator, 'plan_coverage', slow_plan)
    node, probe = make_nodes(
        ros_context, executor, [Parameter('area_file', value=str(area_file(tmp_path)))]
    )
    planned(executor, probe, timeout=15.0)
    spin_until(executor, lambda: False, 3.0 * TIMEOUT_S)  # statuses keep coming
    status = probe.status()
    assert not any(status.get(n, '').startswith('lost') for n in VEHICLES), status
    assert status.get('replans') == '0', status
    assert all(len(probe.vehicles[n]['paths']) == 1 for n in VEHICLES)


def test_failed_upload_is_taken_back_then_a_drone_that_never_starts_is_lost_for_good(
    ros_context, executor, tmp_path
):
    """uav0's upload fails: lost, re-admitted once fit, and given work again. A drone that
    then never starts its mission is declared lost within start_timeout_s, and once its
    re-admissions are spent it stays lost: the mission ends."""
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('readmit_after_s', value=0.5),
            Parameter('max_readmissions', value=1),
            Parameter('start_timeout_s', value=2.0),
        ],
    )
    planned(executor, probe)
    others = ['uav1', 'uav2']
    probe.vehicles['uav0']['state'] = 'failed'
    assert fly_until(
        executor, probe, others, lambda: len(probe.vehicles['uav0']['paths']) == 2, 4.0
    ), probe.status()
    assert spin_until(executor, lambda: probe.status().get('uav0_readmissions') == '1', 2.0), (
        probe.status()
    )
    assert 'uav0 taken back' in probe.status()['last_replan_reason']
    # It took the new path ('uploaded') but never starts: lost after start_timeout_s.
    sent = probe.vehicles['uav0']['paths'][-1][0]
    assert fly_until(
        executor,
        probe,
        others,
        lambda: probe.status().get('uav0', '').startswith('lost: mission not started'),
        5.0,
    ), probe.status()
    assert time.monotonic() - sent < 2.0 + 1.5
    # Its one re-admission is spent: it stays lost, the others finish, the mission is done.
    assert fly_until(
        executor,
        probe,
        others,
        lambda: all(probe.vehicles[n]['state'] == 'completed' for n in others),
        30.0,
        step_m=20.0,
    )
    assert spin_until(executor, lambda: probe.status().get('state') == 'done', 5.0)
    assert probe.status()['uav0'].startswith('lost')


def test_a_restarted_coordinator_resumes_the_mission(ros_context, executor, tmp_path):
    """Killed at 30 %: the new one resumes from state_file (coverage, paths, re-plan count)
    instead of planning the whole area again, and re-plans only the remainder on a loss."""
    from rclpy.parameter import Parameter

    overrides = [
        Parameter('area_file', value=str(area_file(tmp_path))),
        Parameter('state_file', value=str(tmp_path / 'swarm_state.json')),
    ]
    node, probe = make_nodes(ros_context, executor, overrides)
    swath = planned(executor, probe)
    stamps = {n: v['path_stamp'] for n, v in probe.vehicles.items()}
    assert fly_until(
        executor, probe, VEHICLES, lambda: coverage_of(probe.flown(), swath) >= 0.3, 20.0
    )
    assert spin_until(executor, lambda: float(probe.status().get('coverage_pct', 0)) >= 28, 3.0)
    before = float(probe.status()['coverage_pct'])
    node.core._map_rounds = 1  # as after a round that flew map gaps: the budget is not renewed
    node.core.save(force=True)
    executor.remove_node(node)
    node.destroy_node()  # the coordinator process dies

    from uav_flood.nodes.swarm_coordinator import SwarmCoordinatorNode

    node = SwarmCoordinatorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter('vehicles', value=VEHICLES),
            Parameter('altitude_m', value=ALTITUDE_M),
            Parameter('status_timeout_s', value=TIMEOUT_S),
            *overrides,
        ],
    )
    executor.add_node(node)
    # The state saved up to SAVE_PERIOD_S before the kill; the drones' reports bring the rest.
    assert float(node.core.resumed.split(' ')[0]) >= 15.0, node.core.resumed
    assert node.core._map_rounds == 1
    assert spin_until(
        executor,
        lambda: (
            probe.status().get('resumed', '') != ''
            and float(probe.status()['coverage_pct']) >= before - 0.5
        ),
        3.0,
    ), probe.status()
    # Its paths came again with their stamps: taken already, nobody starts over.
    assert spin_until(
        executor, lambda: all(v.get('repeats') for v in probe.vehicles.values()), 3.0
    )
    assert {n: v['path_stamp'] for n, v in probe.vehicles.items()} == stamps
    assert all(len(v['paths']) == 1 for v in probe.vehicles.values())
    # A loss after the restart re-plans the remainder from the resumed progress.
    probe.vehicles['uav1']['silent'] = True
    since = time.monotonic()
    wait_replan(executor, probe, ['uav0', 'uav2'], since, TIMEOUT_S + 2.0)
    assert spin_until(executor, lambda: probe.status().get('replans') == '1', 2.5)
    new = swath_geometry(
        [[q[:2] for q in probe.vehicles[n]['path']] for n in ('uav0', 'uav2')], swath, REACH_M
    )
    assert new.intersection(AREA).area < 0.85 * AREA.area  # the remainder, not the whole area
    assert coverage_of(probe.flown(), swath, new) >= 0.99


def call_battery_swapped(executor, probe):
    from std_srvs.srv import Trigger

    client = probe.node.create_client(Trigger, '/swarm/battery_swapped')
    assert spin_until(executor, client.service_is_ready, 5.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 5.0)
    return future.result()


def test_sorties_wait_for_the_swap_and_the_operator_then_resume(ros_context, executor, tmp_path):
    """A battery for about half a part: two sorties or more each. After the first, a drone waits
    on the ground for a battery that holds the next sortie, then for the operator's word; the
    next sortie goes on where the first stopped, and the whole area gets covered."""
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('battery_drain_pct_per_s', value=0.2),
        ],
    )
    swath = planned(executor, probe)
    status = probe.status()
    counts = {n: int(status[f'{n}_sortie'].split('/')[1]) for n in VEHICLES}
    assert all(c >= 2 for c in counts.values()), status
    assert all(status[f'{n}_sortie'] == f'1/{counts[n]}' for n in VEHICLES)
    # Nobody has asked for a swap yet.
    assert not call_battery_swapped(executor, probe).success

    # Every drone flies its first sortie, lands and disarms with 30 % left.
    firsts = {n: list(v['path']) for n, v in probe.vehicles.items()}
    assert fly_until(
        executor, probe, VEHICLES,
        lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()), 20.0,
    )  # fmt: skip
    for v in probe.vehicles.values():
        v['on_ground'], v['battery'], v['position'] = True, 0.3, v['path'][-1]

    def waiting(what):
        s = probe.status()
        return all(s.get(n) == 'swap' and what in s.get(f'{n}_waiting', '') for n in VEHICLES)

    assert spin_until(executor, lambda: waiting('battery 30 %'), 3.0), probe.status()
    assert probe.status()['state'] == 'mapping'
    assert all(len(v['paths']) == 1 for v in probe.vehicles.values())
    # Swapped batteries: still the operator's word is awaited (auto_resume is off).
    for v in probe.vehicles.values():
        v['battery'] = 1.0
    assert spin_until(executor, lambda: waiting('waiting for the operator'), 3.0), probe.status()
    assert all(len(v['paths']) == 1 for v in probe.vehicles.values())
    answer = call_battery_swapped(executor, probe)
    assert answer.success and 'uav0: confirmed' in answer.message, answer.message
    assert spin_until(
        executor, lambda: all(len(v['paths']) == 2 for v in probe.vehicles.values()), 3.0
    ), probe.status()
    assert spin_until(
        executor, lambda: probe.status().get('uav0_sortie') == f'2/{counts["uav0"]}', 3.0
    )
    plans = {d.drone: d for d in node.core.plan.drones}
    for name, v in probe.vehicles.items():
        # Each sortie as planned; the second resumes where the first one's sweep stopped.
        sorties = plans[name].sorties
        assert firsts[name] == [tuple(q) for q in sorties[0].path]
        assert v['path'] == [tuple(q) for q in sorties[1].path]
        assert sorties[1].sweep[0] == sorties[0].sweep[-1]

    # The rest of the sorties: with auto_resume off, each swap is confirmed again.
    deadline = time.monotonic() + 60.0
    while probe.status().get('state') != 'done' and time.monotonic() < deadline:
        fly_until(
            executor, probe, VEHICLES,
            lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()), 20.0,
        )  # fmt: skip
        for v in probe.vehicles.values():
            v['on_ground'], v['battery'] = True, 1.0
        spin_until(
            executor, lambda: probe.status().get('state') == 'done' or waiting('operator'), 3.0
        )
        if probe.status().get('state') != 'done':
            call_battery_swapped(executor, probe)
            spin_until(executor, lambda: not waiting('operator'), 3.0)
    assert probe.status().get('state') == 'done', probe.status()
    assert all(len(v['paths']) == counts[n] for n, v in probe.vehicles.items())
    assert coverage_of(probe.flown(), swath) >= 0.995
    assert float(probe.status()['coverage_pct']) >= 99.5


def test_a_drone_lost_between_sorties_has_its_remaining_sorties_replanned(
    ros_context, executor, tmp_path
):
    """auto_resume on: a drone back on the ground with a full battery goes on by itself; one
    that goes silent while it waits for its swap is lost, and the others get what it had left."""
    from rclpy.parameter import Parameter

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('battery_drain_pct_per_s', value=0.2),
            Parameter('auto_resume', value=True),
        ],
    )
    swath = planned(executor, probe)
    assert all(int(probe.status()[f'{n}_sortie'].split('/')[1]) >= 2 for n in VEHICLES)
    assert fly_until(
        executor, probe, VEHICLES,
        lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()), 20.0,
    )  # fmt: skip
    for name, v in probe.vehicles.items():
        v['on_ground'], v['position'] = True, v['path'][-1]
        v['battery'] = 0.3 if name == 'uav1' else 1.0  # uav1 still waits for its swap
    # uav0 and uav2 need no operator: their second sorties come as soon as they are ready.
    assert spin_until(
        executor, lambda: all(len(probe.vehicles[n]['paths']) == 2 for n in ('uav0', 'uav2')), 3.0
    ), probe.status()
    assert probe.status().get('uav1') == 'swap' and len(probe.vehicles['uav1']['paths']) == 1
    before = {n: len(probe.vehicles[n]['paths']) for n in ('uav0', 'uav2')}
    probe.vehicles['uav1']['silent'] = True
    assert spin_until(
        executor,
        lambda: all(len(probe.vehicles[n]['paths']) > before[n] for n in ('uav0', 'uav2')),
        TIMEOUT_S + 3.0,
    ), probe.status()
    assert spin_until(executor, lambda: probe.status().get('replans') == '1', 2.5)
    status = probe.status()
    assert status['uav1'].startswith('lost: status silent'), status
    assert 'uav1 lost' in status['last_replan_reason']
    # What uav1 had left is in the others' new plans: with what was flown, the area is covered.
    new = [
        [q[:2] for s in plan.sorties for q in s.sweep] or [q[:2] for q in plan.path]
        for plan in node.core.plan.drones
        if plan.drone in ('uav0', 'uav2')
    ]
    assert coverage_of(probe.flown(), swath, swath_geometry(new, swath, REACH_M)) >= 0.99


def flood_map_msg(unseen, res=1.0, bounds=(0.0, 0.0, 340.0, 240.0)):
    """Return a /flood_map over `bounds` that has seen every cell but those centred in `unseen`."""
    from nav_msgs.msg import OccupancyGrid
    import numpy as np
    import shapely

    west, south, east, north = bounds
    width, height = round((east - west) / res), round((north - south) / res)
    grid_e, grid_n = np.meshgrid(
        west + (np.arange(width) + 0.5) * res, south + (np.arange(height) + 0.5) * res
    )
    data = np.zeros((height, width), np.int8)
    data[shapely.contains_xy(unseen, grid_e, grid_n)] = -1
    msg = OccupancyGrid()
    msg.header.frame_id = 'map'
    msg.info.resolution = res
    msg.info.width, msg.info.height = width, height
    msg.info.origin.position.x, msg.info.origin.position.y = west, south
    msg.info.origin.orientation.w = 1.0
    msg.data = data.reshape(-1).tolist()
    return msg


def test_what_the_map_has_not_seen_is_flown_again_for_at_most_map_gap_rounds(
    ros_context, executor, tmp_path
):
    """Every drone flew its path, but /flood_map has a 20 x 40 m hole at the area's east edge
    (frames dropped there): once the map is quiet, the hole is re-planned and flown; when the map
    still misses it after map_gap_rounds, the coordinator says done and flies no more."""
    from nav_msgs.msg import OccupancyGrid
    from rclpy.parameter import Parameter

    from uav_flood.nodes import names

    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('map_quiet_s', value=0.5),
            Parameter('map_gap_rounds', value=1),
        ],
    )
    swath = planned(executor, probe)
    map_pub = probe.node.create_publisher(OccupancyGrid, '/flood_map', names.FLOOD_MAP.qos)
    gap = box(300.0, 100.0, 320.0, 140.0)
    map_pub.publish(flood_map_msg(gap))
    states = []
    probe.node.create_timer(0.1, lambda: states.append(probe.status().get('state')))

    def land_all():
        for v in probe.vehicles.values():
            v['on_ground'], v['position'] = True, v['path'][-1]

    assert fly_until(
        executor, probe, VEHICLES,
        lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()), 20.0,
    )  # fmt: skip
    land_all()
    assert spin_until(executor, lambda: probe.status().get('map_gap_rounds') == '1', 5.0), (
        probe.status()
    )
    assert 'checking the map' in states  # the demo waits for it
    spin_until(executor, lambda: False, 0.3)  # every new path delivered
    again = [n for n, v in probe.vehicles.items() if len(v['paths']) == 2]
    new = [[q[:2] for q in probe.vehicles[n]['path']] for n in again]
    assert again and swath_geometry(new, swath, REACH_M).contains(gap)
    assert sum(math.dist(*pair) for line in new for pair in itertools.pairwise(line)) < 200.0
    status = probe.status()
    assert status['replans'] == '1', status
    assert status['last_replan_reason'] == 'map check 1/1: 1 gap(s) of 800 m2 unseen', status
    assert float(status['map_seen_pct']) == pytest.approx(
        100.0 * (1.0 - 800.0 / AREA.area), abs=0.05
    )
    assert status['state'] == 'mapping'

    # The cameras miss it again: with the rounds used, the coordinator is done.
    assert fly_until(
        executor, probe, again,
        lambda: all(probe.vehicles[n]['state'] == 'completed' for n in again), 20.0,
    )  # fmt: skip
    land_all()
    assert spin_until(executor, lambda: probe.status().get('state') == 'done', 5.0), probe.status()
    assert all(len(v['paths']) <= 2 for v in probe.vehicles.values())
    assert probe.status()['replans'] == '1'


def test_a_map_that_keeps_changing_is_checked_all_the_same(ros_context, executor, tmp_path):
    """A camera still sending from the ground keeps /flood_map changing: the map check comes
    MAP_WAIT_MAX_QUIET x map_quiet_s after the drones are done instead of never."""
    from nav_msgs.msg import OccupancyGrid
    from rclpy.parameter import Parameter

    from uav_flood.core.coverage.coordinator import MAP_WAIT_MAX_QUIET
    from uav_flood.nodes import names

    quiet_s = 0.4
    node, probe = make_nodes(
        ros_context,
        executor,
        [
            Parameter('area_file', value=str(area_file(tmp_path))),
            Parameter('map_quiet_s', value=quiet_s),
        ],
    )
    planned(executor, probe)
    map_pub = probe.node.create_publisher(OccupancyGrid, '/flood_map', names.FLOOD_MAP.qos)
    full = flood_map_msg(box(0.0, 0.0, 0.0, 0.0))
    probe.node.create_timer(0.1, lambda: map_pub.publish(full))  # every 0.1 s, < map_quiet_s
    assert fly_until(
        executor, probe, VEHICLES,
        lambda: all(v['state'] == 'completed' for v in probe.vehicles.values()), 20.0,
    )  # fmt: skip
    for v in probe.vehicles.values():
        v['on_ground'] = True
    done_at = time.monotonic()
    assert spin_until(executor, lambda: probe.status().get('state') == 'done', 10.0), (
        probe.status()
    )
    waited = time.monotonic() - done_at
    assert MAP_WAIT_MAX_QUIET * quiet_s - 0.5 <= waited <= MAP_WAIT_MAX_QUIET * quiet_s + 3.0
    status = probe.status()
    assert status['map_seen_pct'] == '100.00' and status['replans'] == '0', status
