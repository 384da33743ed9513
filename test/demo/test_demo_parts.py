"""The demo's parts without ROS: fail plans, fleet rules, the table, map scores, latency
histograms, the shipped graph, the report, and the ground-station link against the simulator."""

import json
import math
from pathlib import Path
import time

import numpy as np
import pytest
from shapely.geometry import box

from uav_flood.cli import demo as demo_cli
from uav_flood.core.errors import ConfigError
from uav_flood.core.evaluation import area_cells, score_classes, score_map
from uav_flood.core.geo import GeoPoint
from uav_flood.core.georef import GridPatch
from uav_flood.core.latency import BIN_MS, LatencyHistogram
from uav_flood.demo.gcs import GroundStation
from uav_flood.demo.graph import (
    demo_graph,
    graph_yaml,
    SHIPPED_AREA,
    shipped_config,
    SHIPPED_HEADER,
)
from uav_flood.demo.progress import FailPlan, Fleet, SETTLE_S
from uav_flood.demo.report import build_report, report_markdown, RunFacts
from uav_flood.sim import SimConfig, Simulator

ROOT = Path(__file__).resolve().parents[2]
VEHICLES = ['uav0', 'uav1', 'uav2']
NODES = ['sim', 'flood_mapper', 'swarm_coordinator', 'uav1/segmentation']


@pytest.mark.parametrize(
    ('text', 'expected'),
    [
        ('uav2@40%', FailPlan('uav2', 40.0, 'battery')),
        ('uav0@12.5', FailPlan('uav0', 12.5, 'battery')),
        ('uav1@60%:kill', FailPlan('uav1', 60.0, 'kill')),
        ('uav1@start:packet-loss=30%', FailPlan('uav1', 0.0, 'packet-loss', 30.0)),
        ('uav1@20%:packet-loss=5', FailPlan('uav1', 20.0, 'packet-loss', 5.0)),
        ('uav0@30%:link-drop=2.5s', FailPlan('uav0', 30.0, 'link-drop', 2.5)),
        ('uav2@30%:radio-outage=30s', FailPlan('uav2', 30.0, 'radio-outage', 30.0)),
        ('flood_mapper@50%:kill', FailPlan('flood_mapper', 50.0, 'kill', node=True)),
        ('uav1/segmentation@10%', FailPlan('uav1/segmentation', 10.0, 'kill', node=True)),
    ],
)
def test_fail_plan_parses(text, expected):
    plan = FailPlan.parse(text, VEHICLES, NODES)
    assert plan == expected
    assert FailPlan.parse(plan.describe(), VEHICLES, NODES) == plan


@pytest.mark.parametrize(
    ('text', 'why'),
    [
        ('uav7@40%', 'no drone uav7'),
        ('uav2', 'expected TARGET@PCT%'),
        ('uav2@0%', 'must be in (0, 100)'),
        ('uav2@100%', 'must be in (0, 100)'),
        ('uav2@40%:melt', "unknown fault 'melt'"),
        ('uav2@4.0.0%', 'is not a number'),
        ('uav1@start:packet-loss', 'packet-loss needs a size'),
        ('uav1@start:packet-loss=130%', 'packet-loss must be in (0, 100]%'),
        ('uav1@start:link-drop=3%', 'the size of link-drop is in s'),
        ('uav1@40%:kill=3s', 'kill takes no size'),
        ('flood_mapper@50%:battery', "unknown fault 'battery' for a node"),
        ('recorderr@50%:kill', 'no drone recorderr (drones: uav0, uav1, uav2; nodes: '),
    ],
)
def test_bad_fail_plan_is_a_config_error(text, why):
    with pytest.raises(
        ConfigError, match=why.replace('(', r'\(').replace(')', r'\)').replace(']', r'\]')
    ):
        FailPlan.parse(text, VEHICLES, NODES)


def test_several_faults_come_each_once_at_their_moment():
    plans = [
        FailPlan.parse(text, VEHICLES, NODES)
        for text in ('uav1@start:packet-loss=30%', 'flood_mapper@50%:kill', 'uav2@40%')
    ]
    fleet = Fleet(VEHICLES, plans)
    assert fleet.fault_due() is None  # nobody reports yet: not even the start fault
    fleet.on_drone_status('uav1', status())
    assert fleet.fault_due() == plans[0]
    fleet.mark_injected(plans[0], 1.0, '30 % of MAVLink packets lost')
    assert fleet.fault_due() is None
    fleet.on_swarm_status({'coverage_pct': '55.0'})
    assert [fleet.fault_due(), fleet.fault_due(), fleet.fault_due()] == [plans[1], plans[2], None]
    fleet.mark_injected(plans[1], 2.0, 'killed flood_mapper (SIGKILL, pid 7)')
    fleet.mark_injected(plans[2], 2.0, 'battery failure injected')
    assert fleet.drones['uav1'].failed == ''  # packet loss does not take it out
    assert fleet.drones['uav2'].failed == 'battery'
    assert fleet.fail_result == (
        'uav1@start:packet-loss=30%: 30 % of MAVLink packets lost; '
        'flood_mapper@50%:kill: killed flood_mapper (SIGKILL, pid 7); '
        'uav2@40%:battery: battery failure injected'
    )


def status(**values):
    base = {
        'armed': 'false',
        'landed_state': 'on_ground',
        'flight_mode': 'hold',
        'mission_state': 'none',
        'battery_pct': '100.0',
        'failsafe': 'none',
        'connection': 'connected',
    }
    return {**base, **{k: str(v) for k, v in values.items()}}


def test_fleet_finishes_only_after_every_drone_flew_and_settled():
    fleet = Fleet(['uav0', 'uav1'])
    for name in fleet.drones:
        fleet.on_drone_status(name, status())
    assert not fleet.finished(0.0)  # never flew: waiting for the plan, not done
    for name in fleet.drones:
        fleet.on_drone_status(
            name, status(armed='true', landed_state='in_air', mission_state='active')
        )
    fleet.on_drone_status('uav0', status(mission_state='completed', battery_pct=91.5))
    assert not fleet.finished(1.0)
    fleet.on_drone_status('uav1', status(mission_state='completed'))
    assert not fleet.finished(2.0)  # at rest, settling
    # a re-plan hands uav1 a new path: busy again, the settle clock restarts
    fleet.on_drone_status('uav1', status(mission_state='uploading'))
    assert not fleet.finished(2.0 + SETTLE_S)
    fleet.on_drone_status('uav1', status(mission_state='completed'))
    assert not fleet.finished(3.0 + SETTLE_S - 0.1)
    assert fleet.finished(3.0 + 2 * SETTLE_S)
    assert fleet.drones['uav0'].energy_used_pct == pytest.approx(8.5)


def test_sorties_keep_the_demo_open_and_count_every_batterys_energy():
    fleet = Fleet(['uav0'])
    fleet.on_swarm_status({'state': 'mapping', 'uav0': 'flying', 'uav0_sortie': '1/2'})
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air', battery_pct=95))
    fleet.on_drone_status('uav0', status(mission_state='completed', battery_pct=40))
    # Landed between sorties: the coordinator is still mapping, so the demo goes on.
    fleet.on_swarm_status({'state': 'mapping', 'uav0': 'swap', 'uav0_sortie': '2/2'})
    assert not fleet.finished(0.0) and not fleet.finished(10.0 + SETTLE_S)
    fleet.on_drone_status('uav0', status(battery_pct=100))  # swapped
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air', battery_pct=90))
    fleet.on_drone_status('uav0', status(mission_state='completed', battery_pct=70))
    # Every sortie flown: the coordinator waits for the map to settle and checks it for gaps.
    fleet.on_swarm_status({'state': 'checking the map', 'uav0': 'done', 'uav0_sortie': '2/2'})
    assert not fleet.finished(12.0) and not fleet.finished(12.0 + SETTLE_S)
    fleet.on_swarm_status({'state': 'done', 'uav0': 'done', 'uav0_sortie': '2/2'})
    drone = fleet.drones['uav0']
    assert (drone.sortie, drone.sorties, drone.swaps) == (2, 2, 1)
    assert drone.energy_used_pct == pytest.approx(100.0 - 40.0 + 100.0 - 70.0 - 5.0)
    assert not fleet.finished(20.0)
    assert fleet.finished(20.0 + SETTLE_S)


def test_failed_drone_counts_at_rest_on_the_ground_even_with_its_mission_active():
    fleet = Fleet(['uav0'], FailPlan('uav0', 40.0))
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air'))
    fleet.on_swarm_status({'coverage_pct': '39.9'})
    assert fleet.fault_due() is None
    fleet.on_swarm_status({'coverage_pct': '40.0'})
    assert fleet.fault_due() == FailPlan('uav0', 40.0)
    fleet.mark_failed('uav0', 'battery', 10.0, 'battery failure injected')
    assert fleet.fault_due() is None  # once
    fleet.on_drone_status('uav0', status(mission_state='active', failsafe='autopilot: land'))
    assert fleet.drones['uav0'].at_rest()
    assert fleet.drones['uav0'].failsafes == ['autopilot: land']


def test_a_drone_that_never_flew_ends_the_mission_once_the_coordinator_counts_it_lost():
    """Its upload failed for good: it never flies, and the demo must still end."""
    fleet = Fleet(['uav0', 'uav1'])
    fleet.on_drone_status('uav0', status(mission_state='failed'))
    fleet.on_drone_status('uav1', status(armed='true', landed_state='in_air'))
    fleet.on_drone_status('uav1', status(mission_state='completed'))
    fleet.on_swarm_status({'state': 'waiting for a lost drone', 'uav0': 'lost: mission failed'})
    assert not fleet.finished(0.0)
    assert not fleet.finished(SETTLE_S + 1.0)  # it may still be taken back
    fleet.on_swarm_status({'state': 'done', 'uav0': 'lost: mission failed'})
    assert not fleet.finished(SETTLE_S + 2.0)
    assert fleet.finished(2 * SETTLE_S + 2.0)
    # Without the coordinator's word, a drone that never flew is not at rest.
    assert not fleet.drones['uav0'].at_rest()


def test_a_drone_the_coordinator_leaves_idle_does_not_hold_the_mission_open():
    """10 drones re-planned over a small remainder: some get no part and never fly."""
    fleet = Fleet(['uav0', 'uav1'])
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air'))
    fleet.on_drone_status('uav0', status(mission_state='completed'))
    fleet.on_drone_status('uav1', status())  # on the ground, never armed
    fleet.on_swarm_status({'state': 'done', 'uav0': 'done', 'uav1': 'reporting'})
    assert not fleet.finished(0.0)
    assert not fleet.finished(2 * SETTLE_S)  # not the coordinator's word: it may get work
    fleet.on_swarm_status({'state': 'done', 'uav0': 'done', 'uav1': 'idle'})
    assert not fleet.finished(3 * SETTLE_S)
    assert fleet.finished(4 * SETTLE_S + 0.1)
    # An idle drone still in the air is not at rest.
    fleet.on_drone_status('uav1', status(armed='true', landed_state='in_air'))
    assert not fleet.finished(5 * SETTLE_S)


def test_each_drone_outcome_says_what_became_of_it():
    fleet = Fleet(['uav0', 'uav1', 'uav2', 'uav3'])
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air'))
    fleet.mark_failed('uav0', 'kill', 1.0, 'killed')
    fleet.on_drone_status(
        'uav0', status(connection='link lost', armed='true', landed_state='in_air')
    )
    fleet.on_drone_status('uav1', status(mission_state='failed'))
    fleet.on_drone_status('uav2', status(armed='true', landed_state='in_air'))
    fleet.on_drone_status('uav2', status(failsafe='autopilot failsafe: land'))
    fleet.on_drone_status('uav3', status(armed='true', landed_state='in_air'))
    fleet.on_swarm_status({'uav0': 'lost: status silent', 'uav1': 'lost: mission failed: timeout'})
    assert fleet.rest_summary() == (
        'uav0 killed in flight (autopilot silent); '
        'uav1 never flew (lost: mission failed: timeout); '
        'uav2 landed and disarmed after a failsafe (autopilot failsafe: land); '
        'uav3 not at rest: in_air, armed'
    )


def test_killed_drone_is_at_rest_once_its_link_is_lost():
    fleet = Fleet(['uav0'])
    fleet.on_drone_status('uav0', status(armed='true', landed_state='in_air'))
    fleet.mark_failed('uav0', 'kill', 1.0, 'killed')
    assert not fleet.drones['uav0'].at_rest()
    fleet.on_drone_status('uav0', status(connection='link lost', armed='true'))
    assert fleet.drones['uav0'].at_rest()


def test_table_has_a_line_per_drone_with_frames_and_notes():
    fleet = Fleet(VEHICLES)
    fleet.on_drone_status(
        'uav1',
        status(
            armed='true',
            landed_state='in_air',
            flight_mode='mission',
            mission_waypoints_reached='0,1',
            mission_waypoint_total=4,
            battery_pct=87.0,
        ),
    )
    fleet.on_segmentation_status(
        'uav1', {'frames_processed': '30', 'edge_hits': '21', 'latency_ms_mean': '118.4'}
    )
    fleet.on_swarm_status({'coverage_pct': '42.0', 'replans': '1'})
    fleet.map_score = (55.5, 0.512)
    fleet.mark_failed('uav2', 'battery', 0.0, 'x')
    lines = fleet.table(12.0, 60.0)
    assert len(lines) == 2 + len(VEHICLES)
    assert 'coverage  42.0 %' in lines[0] and 'frames local/edge 9/21' in lines[0]
    assert 'IoU 0.512' in lines[0] and '(sim 60 s)' in lines[0]
    uav1 = lines[3].split()
    assert uav1[:4] == ['uav1', 'mission', 'in_air', 'true']
    assert '87.0%' in uav1 and '2/4' in uav1 and '9/21' in uav1 and '118' in uav1
    assert lines[4].rstrip().endswith('FAILED (battery)')


def test_latency_histogram_quantiles_merge_and_text():
    a, b = LatencyHistogram(), LatencyHistogram()
    for ms in range(100):  # 0..99 ms
        a.add(float(ms))
    b.add(1e9)  # slower than the last bin: counted there
    b.add(float('nan'))  # ignored
    assert a.quantile(0.5) == pytest.approx(50.0)
    assert a.quantile(0.95) == pytest.approx(95.0)
    assert a.quantile(0.0) == BIN_MS
    back = LatencyHistogram.from_text(a.to_text())
    assert back.counts == a.counts and back.total == 100
    a.merge(b)
    assert a.total == 101 and a.quantile(1.0) == pytest.approx(5000.0)
    assert math.isnan(LatencyHistogram().quantile(0.5))
    with pytest.raises(ValueError):
        LatencyHistogram.from_text('12:x')
    with pytest.raises(ValueError):
        a.quantile(1.5)


def patch(east, north, rows, res=1.0):
    rows = np.asarray(rows, np.int8)
    return GridPatch(east, north, res, rows.shape[1], rows.shape[0], rows.ravel())


def test_map_score_counts_unobserved_area_cells_as_missed_water():
    # truth 4x4 over [0, 4) m: left half water; the area is the left 3 columns
    truth = patch(0.0, 0.0, [[100, 100, 0, 0]] * 4)
    inside = area_cells(truth, box(0.0, 0.0, 3.0, 4.0))
    assert inside.sum() == 12 and not inside[:, 3].any()
    # the map starts one cell east: column 0 unobserved; it calls column 2 water in one row
    estimate = patch(1.0, 0.0, [[90, 10, 0], [90, 10, 0], [90, 80, 0], [90, 10, -1]])
    score = score_map(estimate, truth, inside)
    assert (score.area_cells, score.observed_cells, score.truth_cells) == (12, 8, 12)
    assert (score.true_positive, score.false_positive, score.false_negative) == (4, 1, 4)
    assert score.coverage_pct == pytest.approx(100 * 8 / 12)
    assert score.iou == pytest.approx(4 / 9)
    assert score.precision == pytest.approx(4 / 5) and score.recall == pytest.approx(0.5)
    with pytest.raises(ValueError, match='truth at'):
        score_map(patch(0.0, 0.0, [[0]], res=0.5), truth, inside)


def test_land_cover_is_scored_per_layer_like_the_water():
    # Truth: buildings flooded (1) in column 0, flooded road (3) in column 1, dry road (4) in 2.
    truth = patch(0.0, 0.0, [[1, 3, 4], [1, 3, 4], [1, 3, 4], [1, 3, -1]])
    inside = np.ones((4, 3), bool)
    # The map: one building cell missed (unseen), a flooded road cell called passable.
    estimate = patch(0.0, 0.0, [[1, 3, 4], [-1, 3, 4], [1, 4, 4], [1, 3, 4]])
    building = score_classes(estimate, truth, inside, (1,))
    assert (building.true_positive, building.false_positive, building.false_negative) == (3, 0, 1)
    assert building.iou == pytest.approx(3 / 4) and building.observed_cells == 11
    passable = score_classes(estimate, truth, inside, (4,))
    # The unlabelled truth cell is left out; the miscalled road cell is a false positive.
    assert (passable.true_positive, passable.false_positive, passable.false_negative) == (3, 1, 0)
    roads = score_classes(estimate, truth, inside, (3, 4))
    assert roads.iou == pytest.approx(1.0)
    with pytest.raises(ValueError, match='area mask'):
        score_classes(estimate, truth, inside[:2], (1,))


def test_the_layers_report_counts_measures_and_scores_each_layer():
    from uav_flood.core.evaluation import MapScore
    from uav_flood.core.responder_layers import LandCoverGrid
    from uav_flood.demo.report import layers_report

    # Truth (0.5 m cells): two flooded buildings of 4 x 4 cells, a road 4 cells wide across,
    # flooded in its east half; grass elsewhere. The map finds one building and the whole road
    # but calls all of it passable.
    truth = np.full((40, 60), 9, np.int8)
    truth[5:9, 5:9] = truth[5:9, 20:24] = 1
    truth[20:24, :] = 4
    truth[20:24, 30:] = 3
    estimate = truth.copy()
    estimate[5:9, 20:24] = 9
    estimate[20:24, 30:] = 4
    cover = LandCoverGrid(estimate, np.ones(estimate.shape, np.float32), 0.0, 0.0, 0.5)
    truth_patch = GridPatch(0.0, 0.0, 0.5, 60, 40, truth)
    inside = np.ones((40, 60), bool)
    water = MapScore(2400, 2400, 2400, 10, 0, 0)
    layers = layers_report(cover, truth_patch, inside, water, 2.5)
    assert layers['water'] == {'area_m2': 2.5, 'iou': 1.0}
    building = layers['flooded_building']
    assert (building['count'], building['truth_count']) == (1, 2)
    assert (building['area_m2'], building['truth_area_m2']) == (4.0, 8.0)
    assert building['iou'] == pytest.approx(0.5)
    assert layers['flooded_road']['iou'] == 0.0 and layers['flooded_road']['length_km'] == 0.0
    assert layers['flooded_road']['truth_length_km'] == pytest.approx(0.015, abs=0.002)
    assert layers['passable_road']['iou'] == pytest.approx(0.5)
    assert layers['passable_road']['length_km'] == pytest.approx(0.03, abs=0.003)
    json.dumps(layers)


def test_shipped_graph_and_area_are_what_the_demo_generates():
    origin = GeoPoint.parse(demo_cli.DEFAULT_ORIGIN)
    expected = graph_yaml(demo_graph(shipped_config(origin)), SHIPPED_HEADER)
    assert (ROOT / 'config' / 'graphs' / 'demo.yaml').read_text() == expected
    area = json.loads((ROOT / SHIPPED_AREA).read_text())
    assert area == demo_cli._scene_area(origin, quick=False)
    # and the shipped defaults are the command's defaults
    import argparse

    parser = argparse.ArgumentParser()
    demo_cli.add_arguments(parser)
    args = parser.parse_args([])
    config = shipped_config(origin)
    assert (args.drones, args.link, args.onboard_slowdown, args.camera_rate) == (
        config.drones,
        config.link_profile,
        config.onboard_slowdown,
        config.camera_rate_hz,
    )
    assert (args.base_port, args.gcs_port) == (config.base_port, config.gcs_port)


def test_graph_has_every_node_per_drone_and_the_ground_side(tmp_path):
    config = shipped_config(GeoPoint.parse(demo_cli.DEFAULT_ORIGIN))
    labels = [
        n.get('label') or f'{n.get("namespace", "")}/{n["executable"]}'
        for n in demo_graph(config)['nodes']
    ]
    for name in VEHICLES:
        for exe in ('flight_control', 'sim_camera', 'segmentation'):
            assert f'/{name}/{exe}' in labels
    for exe in ('edge_server', 'link_emulator', 'swarm_coordinator', 'flood_mapper', 'recorder'):
        assert f'/{exe}' in labels
    assert labels[0] == 'sim'
    with pytest.raises(ConfigError, match='1 to 10'):
        demo_graph(type(config)(**{**vars(config), 'drones': 0}))


def test_a_crowded_demo_plans_legs_for_the_frames_its_segmentation_keeps_up_with():
    """10 drones' segmentation on 2 cores fell 4-5 s behind the camera: legs that ended where the
    camera just saw the edge left 5-8 % of the quick area unseen."""
    from uav_flood.demo.graph import CROWDED_FRAME_SPACING_M

    config = shipped_config(GeoPoint.parse(demo_cli.DEFAULT_ORIGIN))

    def coordinator_overrides(drones):  # type: ignore[no-untyped-def]
        graph = demo_graph(type(config)(**{**vars(config), 'drones': drones}))
        (node,) = [n for n in graph['nodes'] if n['executable'] == 'swarm_coordinator']
        return {k: v for p in node['parameters'] if isinstance(p, dict) for k, v in p.items()}

    assert 'frame_spacing_m' not in coordinator_overrides(3)
    assert coordinator_overrides(10)['frame_spacing_m'] == CROWDED_FRAME_SPACING_M > 0.0


def test_report_figures_and_markdown():
    fleet = Fleet(['uav0', 'uav1'])
    for name, end in (('uav0', 90.0), ('uav1', 88.0)):
        fleet.on_drone_status(name, status(battery_pct=100))
        fleet.note_sim_time(3.0)
        fleet.on_drone_status(name, status(armed='true', landed_state='on_ground'))
        fleet.note_sim_time(10.0)  # armed: the flight's clock starts
        fleet.on_drone_status(name, status(armed='true', landed_state='in_air'))
        fleet.note_sim_time(12.0)
        fleet.on_drone_status(name, status(armed='true', mission_state='completed'))
        fleet.note_sim_time(100.0 + end)  # touched down, still armed
        fleet.on_drone_status(name, status(battery_pct=end, mission_state='completed'))
        fleet.note_sim_time(200.0)  # disarmed later: the landing time stays
    hist = LatencyHistogram()
    for ms in (100.0, 120.0, 140.0):
        hist.add(ms)
    fleet.on_segmentation_status(
        'uav0',
        {'frames_processed': '10', 'edge_hits': '7', 'latency_edge_hist': hist.to_text()},
    )
    fleet.on_swarm_status(
        {
            'coverage_pct': '100.0',
            'replans': '2',
            'map_gap_rounds': '1',
            'last_replan_reason': 'map check 1/2: 1 gap(s) of 40 m2 unseen',
            'uav0': 'done',
            'uav0_planned_s': '175.25',
        }
    )
    facts = RunFacts(
        settings={
            'drones': 2,
            'area': 'the flood scene',
            'area_m2': 54000.0,
            'speed_factor': 5.0,
            'link_profile': 'good',
            'onboard_slowdown': 6.0,
        },
        complete=True,
        stop_reason='every drone landed and disarmed',
        wall_time_s=61.0,
        mission_time_s=180.0,
        lower_bound_time_s=110.0,
        processes={'sim': (0, 0), 'uav0/segmentation': (-9, 0), 'flood_mapper': (0, 1)},
    )
    facts.layers = {
        'water': {'area_m2': 1200.0, 'iou': 0.85},
        'flooded_building': {
            'count': 5, 'truth_count': 7, 'area_m2': 108.8, 'truth_area_m2': 183.2, 'iou': 0.563,
        },
        'flooded_road': {'length_km': 0.032, 'truth_length_km': 0.09, 'area_m2': 114.0,
                         'iou': 0.072},
        'passable_road': {'length_km': 0.136, 'truth_length_km': 0.134, 'area_m2': 472.5,
                          'iou': 0.693},
    }  # fmt: skip
    report = build_report(facts, fleet, None, {'file': 'x.mcap', 'decoded': False, 'error': 'e'})
    assert report['layers'] == facts.layers
    assert report['frames'] == {'local': 3, 'edge': 7}
    assert report['offload_ratio'] == pytest.approx(0.7)
    assert report['latency_ms']['edge_p50'] == 125.0 and report['latency_ms']['local_p50'] is None
    assert [d['energy_used_pct'] for d in report['drones']] == [10.0, 12.0]
    # planned (the coordinator's word) against flown: arming at 10 s to touch-down
    assert [(d['planned_s'], d['flown_s']) for d in report['drones']] == [
        (175.2, 180.0),
        (None, 178.0),
    ]
    assert all(d['landed'] and d['disarmed'] for d in report['drones'])
    assert report['nodes_failed'] == ['flood_mapper', 'uav0/segmentation']
    assert report['map_iou'] is None and report['coverage_pct'] == 0.0
    assert report['mission_time_over_bound'] == pytest.approx(180.0 / 110.0, abs=1e-3)
    text = report_markdown(report)
    assert 'Mission complete' in text and '| uav1 | landed and disarmed | 12.0 % |' in text
    assert '| mission time / lower bound | 1.64 x |' in text
    assert '| flooded buildings | 5 (109 m2) | 7 (183 m2) | 0.563 |' in text
    assert '| passable roads | 0.136 km | 0.134 km | 0.693 |' in text
    assert (report['replans'], report['map_gap_rounds']) == (2, 1)
    assert (
        '| re-plans | 2, 1 of them to fly what the map had not seen (map check 1/2: 1 gap(s) of '
        '40 m2 unseen) |'
    ) in text
    assert '| 175 / 180 |' in text and '| n/a / 178 |' in text
    assert [d['outcome'] for d in report['drones']] == ['landed and disarmed'] * 2
    assert (
        'failed or restarted: flood_mapper (restarted 1 time, last exit clean), '
        'uav0/segmentation (last exit code -9)'
    ) in text
    json.dumps(report)  # JSON-safe: no nan
    assert report['nodes_stopped_by_force'] == {}


def test_a_node_stopped_by_force_after_a_complete_mission_is_reported_apart():
    fleet = Fleet(['uav0'])

    def facts(complete):
        return RunFacts(
            settings={
                'drones': 1,
                'area': 'the flood scene',
                'area_m2': 54000.0,
                'speed_factor': 5.0,
                'link_profile': 'good',
                'onboard_slowdown': 6.0,
            },
            complete=complete,
            stop_reason='every drone at rest' if complete else 'timeout',
            wall_time_s=61.0,
            mission_time_s=180.0,
            lower_bound_time_s=110.0,
            processes={'sim': (0, 0), 'flood_mapper': (-9, 0), 'recorder': (-9, 1)},
            forced_at_shutdown={'flood_mapper': 'SIGKILL', 'recorder': 'SIGKILL'},
        )

    recording = {'file': 'x.mcap', 'decoded': False, 'error': 'e'}
    report = build_report(facts(True), fleet, None, recording)
    # Nothing was pending once the mission was complete: not a failure, but said.
    assert report['nodes_stopped_by_force'] == {'flood_mapper': 'SIGKILL'}
    # The recorder had also been restarted during the mission: that stays a failure.
    assert report['nodes_failed'] == ['recorder']
    assert 'stopped by force (flood_mapper: SIGKILL)' in report_markdown(report)
    # An incomplete mission may have lost what the node held: a failure as any other.
    report = build_report(facts(False), fleet, None, recording)
    assert report['nodes_stopped_by_force'] == {}
    assert report['nodes_failed'] == ['flood_mapper', 'recorder']


def test_ground_station_reads_sim_time_and_injects_faults(udp_ports):
    first = udp_ports(5)
    sim = Simulator(
        SimConfig(
            vehicles=2,
            base_port=first,
            local_base_port=first + 2,
            gcs_port=first + 4,
            speed_factor=5.0,
        )
    ).start()
    gcs = GroundStation(first + 4)
    try:
        deadline = time.monotonic() + 5.0
        while len(gcs.vehicles()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(gcs.vehicles()) == [1, 2]
        t0 = gcs.sim_time_s()
        time.sleep(0.4)
        assert gcs.sim_time_s() - t0 == pytest.approx(2.0, abs=1.0)  # 5x the wall clock
        assert gcs.vehicles()[1].landed_state == 'on_ground' and not gcs.vehicles()[1].armed
        assert 'battery failure injected' in gcs.inject(2, 'battery')
        assert sim.vehicles[1].autopilot.battery.failed
        assert not sim.vehicles[0].autopilot.battery.failed
        result = gcs.inject(2, 'packet-loss', 30.0)
        assert result == '30 % of MAVLink packets lost both ways (UFS_PKT_LOSS)'
        assert sim.vehicles[1].get_param('UFS_PKT_LOSS') == pytest.approx(30.0)
        gcs.inject(2, 'packet-loss', 0.0001)  # (almost) back to normal for the drop below
        assert 'silent for 2 s' in gcs.inject(2, 'link-drop', 2.0)
        assert sim.vehicles[1].get_param('UFS_LINK_DROP') == pytest.approx(2.0)
        with pytest.raises(ValueError, match='needs a size'):
            gcs.inject(2, 'link-drop')
        assert 'killed' in gcs.inject(1, 'kill')
        deadline = time.monotonic() + 3.0
        while not sim.vehicles[0].killed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.vehicles[0].killed and not sim.vehicles[1].killed
        with pytest.raises(ValueError, match='never heard'):
            gcs.inject(9, 'kill', timeout_s=0.2)
        with pytest.raises(ValueError, match='unknown fault'):
            gcs.inject(2, 'melt')
    finally:
        gcs.close()
        sim.stop()
    assert sim.errors == []


def test_a_restarted_segmentation_nodes_counters_add_up():
    fleet = Fleet(['uav0'])
    for published in (5, 40, 57):
        fleet.on_segmentation_status('uav0', {'observations_published': str(published)})
    fleet.on_segmentation_status('uav0', {'observations_published': '3'})  # a new process
    fleet.on_segmentation_status('uav0', {'observations_published': '20', 'outbox_pending': '1'})
    assert fleet.drones['uav0'].segmentation['observations_published'] == '77'
    assert fleet.drones['uav0'].segmentation['outbox_pending'] == '1'  # a level, not a count
