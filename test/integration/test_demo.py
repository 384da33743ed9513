"""`uav-flood demo --quick` end to end: every node its own process, the built-in simulator.

The quick variant flies 3 drones over the middle 150 m x 90 m of the labelled flood scene at 5x.
Asserted on its report and its mission folder: every drone landed and disarmed, coverage of the
area >= 99 %, map IoU against the scene's ground truth above MAP_IOU_FLOOR, a recording that
decodes (with mcap_ros2 and with the Foxglove app's own npm parsers), no node failed or was
restarted, no process left behind; and the same with a drone failed mid-mission.
"""

import json
import os
from pathlib import Path
import re
import shutil
import subprocess

import pytest

import foxglove_parsers
from uav_flood.deploy.graphs import RECORD_EXCLUDE
from uav_flood.recording.mcap_io import read_messages
import viewer_configs

#: Floor of the quick demo's map IoU. Measured: 0.861 on a clean quick run with the MobileNetV2
#: models (0.551 to 0.567 over 7 runs with the earlier from-scratch model, docs/BENCHMARKS.md);
#: the straight-flight node test gets 0.778. Faulted runs may leave up to 10 % of the area
#: unseen, which counts against IoU, so the floor sits well below: a broken georeference, pose
#: pairing or fusion still drops IoU far below it (all-dry scores 0, all-water 0.21 here).
MAP_IOU_FLOOR = 0.65

#: Not beside the other timing-sensitive tests (setup.cfg: --dist loadgroup).
TIMING = pytest.mark.xdist_group('timing')


def left_behind(marker: str) -> list[str]:
    """Return the command lines of processes that mention `marker` (the mission folder)."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f'{entry.name}: {cmdline}')
    return found


TEST_FRAME_SPACING_M = 10.0


def run_demo(bin_dir, child_env, udp_ports, out, *extra, timeout_s=190):
    """Run the quick demo; its own --timeout ends it well before pytest's, with a report."""
    first = udp_ports(50)
    command = [
        str(bin_dir / 'uav-flood'),
        'demo',
        '--quick',
        '--out',
        str(out),
        '--base-port',
        str(first),
        '--gcs-port',
        str(first + 49),
        '--timeout',
        str(timeout_s),
        # CI runs two demos side by side on its 2 cores, and the drones' segmentation falls
        # behind the camera: legs that end where the camera just sees the edge then left up to
        # 12 % of the area unseen. The coordinator's map check flies that again, but a round
        # costs about a minute here; legs that end 10 m later leave little to re-fly.
        '--frame-spacing',
        str(TEST_FRAME_SPACING_M),
        *extra,
    ]
    result = subprocess.run(
        command,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout_s + 40,
        check=False,
    )
    print(result.stdout[-6000:])
    print(result.stderr[-3000:])
    return result


def check_mission(out, result, processes=15):
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / 'report.json').read_text())
    assert report['complete'], report['stop_reason']
    for drone in report['drones']:
        assert drone['landed'] and drone['disarmed'], drone
    assert report['coverage_pct'] >= 99.0
    assert report['map_iou'] >= MAP_IOU_FLOOR
    assert report['nodes_failed'] == []
    assert len(report['processes']) == processes
    # memory and CPU of every process were sampled, and a drone's add up from its own
    resources = report['resources']
    assert resources['samples'] >= 3 and resources['peak_pss_mb'] > 100.0
    drones = resources['per_drone']
    assert sorted(drones) == ['uav0', 'uav1', 'uav2']
    assert all(d['processes'] == (1 if processes == 9 else 3) for d in drones.values()), drones
    assert all(d['peak_pss_mb'] > 50.0 and d['cpu_s'] > 0.5 for d in drones.values()), drones
    assert all(p == {'exit_code': 0, 'restarts': 0} for p in report['processes'].values())
    # the recording decodes, message by message, and holds the mission
    topics = {}
    statuses: dict[str, set[str]] = {}  # DiagnosticArray topic -> the status names on it
    for message in read_messages(out / 'mission.mcap'):
        topics[message.topic] = topics.get(message.topic, 0) + 1
        if message.type_name == 'diagnostic_msgs/msg/DiagnosticArray':
            names = statuses.setdefault(message.topic, set())
            names.update(status.name for status in message.message.status)
    assert report['recording']['decoded'] and report['recording']['topics'] == topics
    for topic in ('/flood_map', '/uav0/flood_observation', '/swarm/status', '/uav2/pose'):
        assert topics.get(topic, 0) > 0, topic
    # every node's status is also on /diagnostics, where ROS tools look
    diagnostics = statuses.pop('/diagnostics', set())
    assert len(statuses) >= 13, sorted(statuses)  # 3 x (status, camera, segmentation) + 4
    for topic, names in statuses.items():
        assert names <= diagnostics, (topic, names - diagnostics)
    # ... and Foxglove's and Lichtblick's own parsers read every message of it
    foxglove = foxglove_parsers.decode(out / 'mission.mcap')
    assert foxglove_parsers.undecoded(foxglove) == {}
    assert foxglove['decoded'] == foxglove['messages'] == sum(topics.values())
    # ... including the TF tree map -> uavN/base_link -> uavN/camera_optical (from the poses
    # and segmentation's camera mounts where tf2_msgs is missing, from the nodes' /tf elsewhere)
    transforms = set(foxglove['topics']['/tf']['sample']['transforms'])
    for message in read_messages(out / 'mission.mcap'):
        if message.topic in ('/tf', '/tf_static'):
            transforms.update(
                f'{t.header.frame_id}->{t.child_frame_id}' for t in message.message.transforms
            )
    for n in range(3):
        assert f'map->uav{n}/base_link' in transforms
        assert f'uav{n}/base_link->uav{n}/camera_optical' in transforms
    assert topics['/tf'] >= topics['/uav0/pose'] and topics.get('/uav0/camera/footprint', 0) > 0
    # the shipped RViz config and Foxglove layout show only topics a mission really has (images
    # are left out of the demo's recording by design: live view only)
    shown = viewer_configs.rviz_topics() | viewer_configs.foxglove_topics()
    recordable = {t for t in shown if not re.search(RECORD_EXCLUDE, t)}
    assert not recordable - set(topics), recordable - set(topics)
    assert len(shown - recordable) == 4  # 3 camera images, uav0's mask
    # real figures of this run
    assert report['mission_time_s'] > report['lower_bound_time_s'] > 0
    assert report['frames']['local'] + report['frames']['edge'] > 30
    assert report['latency_ms']['edge_p50'] is not None or report['latency_ms']['local_p50']
    for name in ('flood_map.png', 'flood.geojson', 'flood_grid.tif', 'flood_grid.png', 'map.html'):
        assert (out / 'map' / name).stat().st_size > 0
    # The responder layers: the land cover came with the observations (on board and from the
    # edge), was fused and scored against the scene's class truth, and is in the GeoJSON.
    layers = report['layers']
    assert sorted(layers) == ['flooded_building', 'flooded_road', 'passable_road', 'water']
    assert layers['water']['iou'] == report['map_iou']
    assert layers['flooded_building']['truth_count'] > 0
    assert layers['passable_road']['iou'] > 0.3 and layers['passable_road']['length_km'] > 0
    features = json.loads((out / 'map' / 'flood.geojson').read_text())['features']
    kinds = {f['properties']['layer'] for f in features}
    assert {'water', 'passable_road'} <= kinds <= set(layers)
    assert '# Flood mapping mission report' in (out / 'report.md').read_text()
    assert left_behind(str(out)) == []
    print(
        f'demo: IoU {report["map_iou"]}, coverage {report["coverage_pct"]} %, mission '
        f'{report["mission_time_s"]} s (bound {report["lower_bound_time_s"]} s), wall '
        f'{report["wall_time_s"]} s, offload {report["offload_ratio"]}'
    )
    return report


@TIMING
def test_quick_demo_maps_the_flood_and_lands_everyone(bin_dir, child_env, udp_ports, tmp_path):
    out = tmp_path / 'mission'
    result = run_demo(bin_dir, child_env, udp_ports, out)
    report = check_mission(out, result)
    # No drone lost; a re-plan only to fly what the map had not seen (frames dropped under load).
    assert report['replans'] == report['map_gap_rounds'] <= 2
    assert not any(d['failed'] for d in report['drones'])
    assert '[demo] mission complete' in result.stdout
    assert 'coverage' in result.stdout and 'uav2' in result.stdout  # the progress table


@TIMING
def test_quick_demo_with_a_failed_drone_still_covers_the_area(
    bin_dir, child_env, udp_ports, tmp_path
):
    # Each drone's three nodes in one process (a node group): the loss and the re-plan work
    # the same.
    out = tmp_path / 'mission'
    result = run_demo(
        bin_dir, child_env, udp_ports, out, '--fail', 'uav2@40%', '--group-drone-nodes'
    )
    report = check_mission(out, result, processes=9)
    assert {'uav0', 'uav1', 'uav2'} <= set(report['processes'])
    failed = [d for d in report['drones'] if d['failed']]
    assert [d['name'] for d in failed] == ['uav2']
    assert failed[0]['failsafes']  # PX4's battery failsafe, seen through flight_control
    assert report['replans'] >= 1
    assert 'battery failure injected' in report['fault_injected']


@TIMING
def test_quick_demo_with_small_batteries_flies_two_sorties_with_a_swap(
    bin_dir, child_env, udp_ports, tmp_path
):
    """A battery for 180 s of hover (144 s with the reserve): each drone's part takes two
    sorties; the simulated crew swaps the battery 20 s after landing and the coordinator sends
    the second sortie on its own (auto_resume)."""
    out = tmp_path / 'mission'
    result = run_demo(
        bin_dir, child_env, udp_ports, out, '--drones', '2', '--battery', '180',
        '--swap-time', '20',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / 'report.json').read_text())
    assert report['complete'], report['stop_reason']
    assert report['coverage_pct'] >= 99.0 and report['map_iou'] >= MAP_IOU_FLOOR
    assert report['replans'] == report['map_gap_rounds'] and report['nodes_failed'] == []
    for drone in report['drones']:
        assert drone['landed'] and drone['disarmed'] and not drone['failed'], drone
        assert drone['energy_used_pct'] > 100.0, drone  # more than one battery's worth
        assert not drone['failsafes'], drone  # each sortie ended with its reserve kept
        if report['map_gap_rounds']:
            # Frames dropped under load, re-flown afterwards: one more flight, maybe a swap.
            assert drone['sorties'] >= 2 and drone['swaps'] >= 1, drone
            continue
        assert (drone['sorties'], drone['swaps']) == (2, 1), drone
        # the prediction, swap included, against the flight: take-off to the last landing
        assert abs(drone['flown_s'] - drone['planned_s']) <= 0.15 * drone['planned_s'], drone
    assert '| 2 |' in (out / 'report.md').read_text()  # the sorties column


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--drones', '0'], '1 to 10'),
        (['--fail', 'uav9@40%'], 'no drone uav9'),
        (['--link', 'no-such-profile'], 'no-such-profile'),
        (['--area', 'missing.geojson'], 'cannot read'),
        (['--battery', '5'], 'must be in [30, 100000] s'),
        (['--frame-spacing', '-3'], 'must be in [0, 1000] m'),
    ],
)
def test_bad_options_exit_2_with_one_line(bin_dir, child_env, tmp_path, args, message):
    result = subprocess.run(
        [str(bin_dir / 'uav-flood'), 'demo', '--out', str(tmp_path / 'm'), *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('uav-flood demo: error:'), result.stderr
    assert message in lines[0]
    assert not (tmp_path / 'm').exists()  # nothing started, nothing written


def test_an_existing_mission_is_never_overwritten(bin_dir, child_env, tmp_path):
    out = tmp_path / 'm'
    out.mkdir()
    (out / 'report.json').write_text('{}')
    result = subprocess.run(
        [str(bin_dir / 'uav-flood'), 'demo', '--out', str(out)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and 'is not empty' in result.stderr
    assert (out / 'report.json').read_text() == '{}'


@pytest.mark.parametrize('how', ['deep_area', 'graph_over_area'])
def test_hostile_area_and_graph_files_exit_2_untouched(bin_dir, child_env, tmp_path, how):
    area = tmp_path / 'area.geojson'
    if how == 'deep_area':
        area.write_text('[' * 100_000 + ']' * 100_000)
        args, message = ['--area', str(area)], 'is not usable JSON: it is nested too deeply'
    else:
        area.write_text((Path(__file__).parents[1] / 'data/aoi/convex_small.geojson').read_text())
        args = ['--area', str(area), '--write-graph', str(tmp_path / '.' / 'area.geojson')]
        message = 'is the --area file: writing the graph there would destroy it'
    before = area.read_bytes()
    result = subprocess.run(
        [str(bin_dir / 'uav-flood'), 'demo', '--out', str(tmp_path / 'm'), *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('uav-flood demo: error:'), result.stderr
    assert message in lines[0]
    assert area.read_bytes() == before and not (tmp_path / 'm').exists()


def check_faulted(out, result, restarted=(), flown_floor_pct=95.0):
    """Check a mission flown through faults: it ended by itself, completely and truthfully."""
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / 'report.json').read_text())
    assert report['complete'], report['stop_reason']
    assert report['stop_reason'].startswith('every drone at rest: ')
    obs = report['observations']
    # Every observation a drone made is in the map, exactly once.
    assert obs['published'] > 30
    assert obs['fused'] == obs['published'], obs
    assert obs['pending'] == 0 and obs['dropped_full'] == 0, obs
    # The coordinator's flown swaths: each re-plan leaves slivers under 0.2 swath unflown (98.9,
    # 98.2 and 96.5 % seen after 3 re-plans, the map at 100 %); the map's own coverage is
    # checked per fault.
    assert report['coordinator_coverage_pct'] >= flown_floor_pct
    # Only the processes killed on purpose were restarted, once, and came back.
    restarts = {label: p['restarts'] for label, p in report['processes'].items() if p['restarts']}
    assert restarts == dict.fromkeys(restarted, 1), report['processes']
    assert all(p['exit_code'] == 0 for p in report['processes'].values()), report['processes']
    assert left_behind(str(out)) == []
    print(
        f'faulted demo: {report["observations"]}, coverage {report["coverage_pct"]} %, '
        f'IoU {report["map_iou"]}, wall {report["wall_time_s"]} s, replans {report["replans"]}'
    )
    return report


@TIMING
def test_node_kills_and_packet_loss_do_not_lose_the_mission(
    bin_dir, child_env, udp_ports, tmp_path
):
    """30 % MAVLink loss on uav1 from the start (its uploads must be retried), the mapper and
    the coordinator killed mid-mission: both restart and resume; nothing is lost."""
    out = tmp_path / 'mission'
    result = run_demo(
        bin_dir, child_env, udp_ports, out,
        '--fail', 'uav1@start:packet-loss=30%',
        '--fail', 'flood_mapper@40%:kill',
        '--fail', 'swarm_coordinator@60%:kill',
    )  # fmt: skip
    report = check_faulted(out, result, restarted=('flood_mapper', 'swarm_coordinator'))
    assert report['coverage_pct'] >= 99.0 and report['map_iou'] >= MAP_IOU_FLOOR
    # Under 30 % loss PX4 may also report its ground link lost for a moment (a failsafe text).
    drones = {d['name']: d for d in report['drones']}
    assert drones['uav0']['outcome'].startswith('landed and disarmed'), drones['uav0']
    assert drones['uav2']['outcome'].startswith('landed and disarmed'), drones['uav2']
    # uav1's upload is retried (4 attempts of MAVSDK's own per-item retries); when all of them
    # fail (CI saw it once), it is lost, its part flown by the others, and taken back on the
    # ground: by then the others may have flown the rest, so it truthfully never flew.
    uav1 = drones['uav1']
    assert uav1['outcome'].startswith('landed and disarmed') or (
        uav1['outcome'] == 'never flew' and uav1['readmissions'] >= 1
    ), uav1
    faults = report['fault_injected']
    assert '30 % of MAVLink packets lost both ways' in faults
    assert 'killed flood_mapper (SIGKILL' in faults and 'killed swarm_coordinator' in faults
    log = (out / 'logs' / 'swarm_coordinator.log').read_text()
    assert 'resumed the mission from' in log  # not planned again from scratch


@TIMING
def test_a_killed_flight_control_and_a_killed_drone_are_reported_as_they_are(
    bin_dir, child_env, udp_ports, tmp_path
):
    """uav0's flight_control dies in flight and takes up its mission again; uav1's MAVLink
    links are silent for 20 s (simulated) and it is taken back; uav2's autopilot dies in the air
    for good: the report says so (not 'every drone landed')."""
    out = tmp_path / 'mission'
    result = run_demo(
        bin_dir, child_env, udp_ports, out,
        '--fail', 'uav0/flight_control@40%:kill',
        '--fail', 'uav1@30%:link-drop=20s',
        '--fail', 'uav2@50%:kill',
    )  # fmt: skip
    # Two or three re-plans here each leave slivers, and uav0 flies on with no flight_control to
    # report where: CI once counted 91.1 % flown while the map saw 99.99 % (so no map round was
    # due). The map's coverage, asserted below, is what the mission is judged on.
    report = check_faulted(out, result, restarted=('uav0/flight_control',), flown_floor_pct=85.0)
    outcomes = {d['name']: d['outcome'] for d in report['drones']}
    assert outcomes['uav0'] == 'landed and disarmed'
    assert outcomes['uav1'] == 'landed and disarmed'
    assert 'MAVLink links silent for 20 s' in report['fault_injected']
    assert outcomes['uav2'].startswith('killed in flight')
    assert 'uav2 killed in flight' in report['stop_reason']
    assert report['drones'][2]['coordinator'].startswith('lost')
    log = (out / 'logs' / 'uav0' / 'flight_control.log').read_text()
    assert 'took up the mission the vehicle is flying' in log
    # Frames taken while uav0 had no flight_control (no pose) cannot be placed on the map; the
    # coordinator's map check flies those strips again once the drones are done.
    assert report['coverage_pct'] >= 99.0


DRONE_HOSTS = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which('ip') is None,
    reason='drone hosts need root and iproute2 (CI runs as root)',
)


@TIMING
@DRONE_HOSTS
@pytest.mark.timeout(480)  # the 120 s outage: about 3 minutes of demo
@pytest.mark.parametrize('seconds', [30, 120])
def test_a_radio_outage_between_a_drone_host_and_the_ground_loses_nothing(
    bin_dir, child_env, udp_ports, tmp_path, seconds
):
    """Each drone on its own network host; uav1's link to the ground cut (ip link set down)
    mid-mission: its observations wait in its outbox and all reach the map, once."""
    out = tmp_path / 'mission'
    result = run_demo(
        bin_dir, child_env, udp_ports, out,
        '--drone-hosts', '--fail', f'uav1@30%:radio-outage={seconds}s', timeout_s=400,
    )  # fmt: skip
    report = check_faulted(out, result)
    # While its link is down, uav1 cannot offload: its slow on-board computer (emulated 6x)
    # segments only the newest frame, so the map may miss strips the coordinator counts flown.
    assert report['coverage_pct'] >= 90.0 and report['map_iou'] >= MAP_IOU_FLOOR
    assert f'radio link to the ground cut for {seconds} s' in report['fault_injected']
    assert report['observations']['resent'] > 0  # what the outage held back came later
    assert report['wall_time_s'] > seconds
    assert 'uav1: radio link back' in result.stdout


def test_write_graph_writes_the_area_it_points_at(bin_dir, child_env, tmp_path):
    out = tmp_path / 'mission'
    graph = tmp_path / 'graph.yaml'

    def demo(*args):
        return subprocess.run(
            [str(bin_dir / 'uav-flood'), 'demo', '--quick', '--out', str(out), *args],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    result = demo('--write-graph', str(graph))
    assert result.returncode == 0, result.stderr
    area = out / 'area.geojson'
    assert f'wrote {graph} and {area}' in result.stdout
    assert str(area) in graph.read_text()  # the area the graph's nodes read ...
    assert json.loads(area.read_text())['features']  # ... exists and is the demo's
    assert sorted(p.name for p in out.iterdir()) == ['area.geojson']
    # Again with the same area: fine. With another, the graph would fly that one: refused.
    assert demo('--write-graph', str(graph)).returncode == 0
    other = tmp_path / 'other.geojson'
    other.write_text((Path(__file__).parents[1] / 'data/aoi/convex_small.geojson').read_text())
    before = area.read_bytes(), graph.read_bytes()
    refused = demo('--area', str(other), '--write-graph', str(graph))
    assert refused.returncode == 2 and 'exists with another area' in refused.stderr
    assert (area.read_bytes(), graph.read_bytes()) == before
