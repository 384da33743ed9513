"""The demo's mission report: report.json and report.md, from measurements of the run.

Everything here is computed from what the run left behind (the mapper's final checkpoint, the
MCAP recording) and what the demo observed while it ran (statuses, the ground station's clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.evaluation import MapScore, score_classes
from uav_flood.core.georef import GridPatch
from uav_flood.core.responder_layers import CLASSES, LandCoverGrid, responder_layers
from uav_flood.demo.progress import Fleet
from uav_flood.recording.mcap_io import read_messages, RecordingError
from uav_flood.runner.resources import UsageLog


@dataclass
class RunFacts:
    """What the demo measured besides the map (see build_report).

    :param settings: the options of the run (drones, area, speed factor ...).
    :param complete: the fleet finished (every drone at rest) before the timeout.
    :param stop_reason: why the demo stopped.
    :param wall_time_s: from the start of the first node to the end of the shutdown (s).
    :param mission_time_s: simulated time from the first arming to the whole fleet at rest.
    :param lower_bound_time_s: climb + area / swath / (drones x cruise speed) + descent (s).
    :param processes: label -> (exit code or None, restarts).
    :param forced_at_shutdown: label -> the signal the final shutdown had to escalate to
        (SIGTERM or SIGKILL) for nodes that did not stop on SIGINT.
    :param resources: the node processes' memory and CPU (runner.resources.UsageLog), or None.
    :param layers: report.json's `layers` (layers_report), None without a land cover.
    """

    settings: dict[str, Any]
    complete: bool
    stop_reason: str
    wall_time_s: float
    mission_time_s: float
    lower_bound_time_s: float
    processes: dict[str, tuple[int | None, int]]
    notes: list[str] = field(default_factory=list)
    forced_at_shutdown: dict[str, str] = field(default_factory=dict)
    resources: UsageLog | None = None
    layers: dict[str, Any] | None = None


#: The responder layers of the report, their FloodNet classes, and how each is measured.
LAYER_CLASSES = {
    'flooded_building': (CLASSES.index('building-flooded'),),
    'flooded_road': (CLASSES.index('road-flooded'),),
    'passable_road': (CLASSES.index('road-non-flooded'),),
}


def layers_report(
    cover: LandCoverGrid,
    truth: GridPatch,
    inside: NDArray[np.bool_],
    water: MapScore,
    water_area_m2: float,
) -> dict[str, Any]:
    """Return report.json's `layers`: each responder layer's size and IoU against the truth.

    IoU per layer is over the area's cells, a cell the map never observed counting as not of
    the layer (as the water IoU); buildings are also counted (core.responder_layers, found in
    the map and in the truth the same way) and roads measured along their centre lines.

    :param cover: the fused land cover inside the area (-1 elsewhere).
    :param truth: the scene's class truth over the area's bounds (FloodScene.truth_patch).
    :param inside: the area's cells of `truth`.
    :param water: the water map's score; water_area_m2: its water inside the area.
    """
    labels = np.asarray(cover.labels)
    estimate = GridPatch(
        cover.origin_east,
        cover.origin_north,
        cover.resolution_m,
        labels.shape[1],
        labels.shape[0],
        labels,
    )
    truth_labels = np.asarray(truth.data, np.int8).reshape(truth.height, truth.width)
    truth_cover = LandCoverGrid(
        np.where(inside, truth_labels, -1).astype(np.int8),
        np.ones(truth_labels.shape, np.float32),
        truth.origin_east,
        truth.origin_north,
        truth.resolution_m,
    )
    found, real = responder_layers(cover), responder_layers(truth_cover)
    scores = {
        name: score_classes(estimate, truth, inside, classes)
        for name, classes in LAYER_CLASSES.items()
    }
    cell_m2 = cover.resolution_m**2
    return {
        'water': {'area_m2': _num(water_area_m2, 1), 'iou': _num(water.iou)},
        'flooded_building': {
            'count': len(found.buildings),
            'truth_count': len(real.buildings),
            'area_m2': _num(found.building_area_m2, 1),
            'truth_area_m2': _num(real.building_area_m2, 1),
            'iou': _num(scores['flooded_building'].iou),
        },
        **{
            name: {
                'length_km': _num(found.road_km(passable), 3),
                'truth_length_km': _num(real.road_km(passable), 3),
                'area_m2': _num(
                    (scores[name].true_positive + scores[name].false_positive) * cell_m2, 1
                ),
                'iou': _num(scores[name].iou),
            }
            for name, passable in (('flooded_road', False), ('passable_road', True))
        },
    }


def resources_report(log: UsageLog | None, vehicles: list[str]) -> dict[str, Any]:
    """Return report.json's `resources`: peak memory (PSS) and CPU per process and per drone.

    A drone's figures are those of its own processes (uavN/... or its node group uavN); the
    simulator, one process for every vehicle, and the ground nodes are not in them.
    """
    if log is None or not log.samples:
        return {'samples': 0}
    per_label = log.per_label()
    per_drone = {}
    for name in vehicles:
        mine = [v for k, v in per_label.items() if k == name or k.startswith(f'{name}/')]
        per_drone[name] = {
            'processes': len(mine),
            'peak_pss_mb': round(sum(v['peak_pss_mb'] for v in mine), 1),
            'cpu_s': round(sum(v['cpu_s'] for v in mine), 1),
        }
    return {
        'samples': log.samples,
        'peak_pss_mb': round(log.peak_total_mb, 1),
        'per_process': per_label,
        'per_drone': per_drone,
    }


def recording_summary(path: Path) -> dict[str, Any]:
    """Decode every message of the recording; return counts per topic, or the error."""
    if not path.is_file():
        return {'file': str(path), 'decoded': False, 'error': 'no recording'}
    topics: dict[str, int] = {}
    try:
        for record in read_messages(path):
            topics[record.topic] = topics.get(record.topic, 0) + 1
    except RecordingError as exc:
        return {'file': str(path), 'decoded': False, 'error': str(exc)}
    return {
        'file': str(path),
        'decoded': True,
        'messages': sum(topics.values()),
        'topics': dict(sorted(topics.items())),
        'size_mb': round(path.stat().st_size / 1e6, 2),
    }


def observation_counts(fleet: Fleet) -> dict[str, int]:
    """Return the flood observations' delivery counts as the nodes last reported them.

    published: distinct observations the drones published (first sends); fused: in the map;
    duplicates: re-sends the mapper had fused already; refused: implausible or malformed;
    pending: still awaiting an acknowledgement on the drones; resent, dropped_full: the drones'
    outboxes (docs/flood_map.md "Delivery guarantees").
    """

    def drones(key: str) -> int:
        return sum(_int(d.segmentation.get(key)) for d in fleet.drones.values())

    return {
        'published': drones('observations_published'),
        'fused': _int(fleet.mapper.get('fused')),
        'duplicates': _int(fleet.mapper.get('duplicates')),
        'refused': _int(fleet.mapper.get('rejected_total')),
        'pending': drones('outbox_pending'),
        'resent': drones('outbox_resent'),
        'dropped_full': drones('outbox_dropped_full'),
    }


def _layer_lines(layers: dict[str, Any] | None) -> list[str]:
    """Return report.md's responder-layer table (none without a land cover)."""
    if not layers:
        return []
    water, building = layers['water'], layers['flooded_building']
    rows = [
        f'| water | {_fmt(water["area_m2"], " m2", 0)} | | {_fmt(water["iou"], "", 3)} |',
        f'| flooded buildings | {building["count"]} ({_fmt(building["area_m2"], " m2", 0)}) | '
        f'{building["truth_count"]} ({_fmt(building["truth_area_m2"], " m2", 0)}) | '
        f'{_fmt(building["iou"], "", 3)} |',
    ]
    for name, words in (('flooded_road', 'flooded roads'), ('passable_road', 'passable roads')):
        road = layers[name]
        rows.append(
            f'| {words} | {_fmt(road["length_km"], " km", 3)} | '
            f'{_fmt(road["truth_length_km"], " km", 3)} | {_fmt(road["iou"], "", 3)} |'
        )
    return [
        '## Responder layers',
        '',
        '| layer | in the map | in the truth | IoU (cells) |',
        '|---|---|---|---|',
        *rows,
        '',
        'Buildings are counted as connected patches of 4 m2 or more, roads measured along their '
        'centre lines, in the map and in the scene truth alike.',
        '',
    ]


def _num(value: float, digits: int = 3) -> float | None:
    """Return a JSON-safe rounded number (None for nan/inf)."""
    return round(value, digits) if math.isfinite(value) else None


def build_report(
    facts: RunFacts, fleet: Fleet, score: MapScore | None, recording: dict[str, Any]
) -> dict[str, Any]:
    """Return report.json's content.

    :param facts: timings, settings and process outcomes.
    :param fleet: the statuses collected during the run.
    :param score: the final map against the truth inside the area (None: no map).
    :param recording: recording_summary() of the MCAP file.
    """
    local_hist, edge_hist = fleet.histogram('local'), fleet.histogram('edge')
    local, edge = fleet.frames()
    drones = []
    for drone in fleet.drones.values():
        drones.append(
            {
                'name': drone.name,
                'landed': drone.landed,
                'disarmed': drone.status.armed is False,
                'energy_used_pct': _num(drone.energy_used_pct, 1),
                'battery_start_pct': _num(drone.first_battery_pct, 1),
                'battery_end_pct': _num(drone.last_battery_pct, 1),
                'failed': bool(drone.failed),
                'fault': drone.failed,
                'outcome': drone.outcome(fleet.swarm.drone(drone.name).state),
                'coordinator': fleet.swarm.drone(drone.name).state,
                'readmissions': fleet.swarm.drone(drone.name).readmissions or 0,
                # The planner's prediction for its first path against what it flew (arming to
                # touch-down, simulated s); a re-plan or a fault changes what it flies.
                'planned_s': _num(fleet.planned_s(drone.name), 1),
                'flown_s': _num(drone.flown_s, 1),
                # Sorties flown (the highest sent; 0: its plan was one flight) and swaps between.
                'sorties': drone.sortie,
                'swaps': drone.swaps,
                'failsafes': list(drone.failsafes),
                'flight_mode': drone.status.flight_mode or 'unknown',
                'mission_state': drone.status.state_word or 'none',
                'frames_local': _int(drone.segmentation.get('frames_processed'))
                - _int(drone.segmentation.get('edge_hits')),
                'frames_edge': _int(drone.segmentation.get('edge_hits')),
            }
        )
    # A node that only failed to stop in time after a complete mission lost nothing: the fleet
    # is complete only once every observation is acknowledged, and the mapper acknowledges an
    # observation once a checkpoint on disk holds it. It is reported apart, not as a failure.
    stuck = {
        label: signal_name
        for label, signal_name in facts.forced_at_shutdown.items()
        if facts.complete and not facts.processes.get(label, (None, 0))[1]
    }
    crashed = sorted(
        label
        for label, (code, restarts) in facts.processes.items()
        if ((code is not None and code != 0) and label not in stuck) or restarts
    )
    return {
        'complete': facts.complete,
        'stop_reason': facts.stop_reason,
        'settings': facts.settings,
        'coverage_pct': _num(score.coverage_pct, 2) if score else 0.0,
        'coordinator_coverage_pct': _num(fleet.coverage_pct, 2),
        'map_iou': _num(score.iou) if score else None,
        'map_precision': _num(score.precision) if score else None,
        'map_recall': _num(score.recall) if score else None,
        'map_cells': (
            {
                'area': score.area_cells,
                'observed': score.observed_cells,
                'labelled': score.truth_cells,
                'true_positive': score.true_positive,
                'false_positive': score.false_positive,
                'false_negative': score.false_negative,
            }
            if score
            else None
        ),
        'mission_time_s': _num(facts.mission_time_s, 1),
        'lower_bound_time_s': _num(facts.lower_bound_time_s, 1),
        'mission_time_over_bound': _num(
            facts.mission_time_s / facts.lower_bound_time_s
            if facts.lower_bound_time_s > 0.0
            else math.nan,
            3,
        ),
        'wall_time_s': _num(facts.wall_time_s, 1),
        'latency_ms': {
            'local_p50': _num(local_hist.quantile(0.5), 0),
            'local_p95': _num(local_hist.quantile(0.95), 0),
            'edge_p50': _num(edge_hist.quantile(0.5), 0),
            'edge_p95': _num(edge_hist.quantile(0.95), 0),
        },
        'frames': {'local': local, 'edge': edge},
        'observations': observation_counts(fleet),
        'offload_ratio': _num(edge / (local + edge)) if local + edge else 0.0,
        'layers': facts.layers,
        'replans': fleet.swarm.replans,
        # Of those, the rounds that flew what the map had not seen (the coordinator's map check).
        'map_gap_rounds': fleet.swarm.map_gap_rounds,
        'last_replan_reason': fleet.swarm.last_replan_reason,
        'fault_injected': fleet.fail_result,
        'drones': drones,
        'recording': recording,
        'processes': {
            label: {'exit_code': code, 'restarts': restarts}
            for label, (code, restarts) in sorted(facts.processes.items())
        },
        'nodes_failed': crashed,
        'nodes_stopped_by_force': dict(sorted(stuck.items())),
        'resources': resources_report(facts.resources, list(fleet.drones)),
        'notes': facts.notes,
    }


def _resource_lines(resources: dict[str, Any]) -> list[str]:
    """Return the report.md lines on memory and CPU (none when nothing was sampled)."""
    drones = resources.get('per_drone') or {}
    if not resources.get('samples') or not drones:
        return []
    mean = sum(d['peak_pss_mb'] for d in drones.values()) / len(drones)
    cpu = sum(d['cpu_s'] for d in drones.values()) / len(drones)
    count = max(d['processes'] for d in drones.values())
    return [
        f'- Memory: {resources["peak_pss_mb"]:.0f} MiB at the peak for every node process '
        f'(PSS); a drone {mean:.0f} MiB in {count} process(es), {cpu:.0f} CPU s on average.'
    ]


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _fmt(value: Any, unit: str = '', digits: int = 1) -> str:
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        return f'{value:.{digits}f}{unit}'
    return f'{value}{unit}'


def _process_words(process: dict[str, Any]) -> str:
    restarts, code = process['restarts'], process['exit_code']
    words = [f'restarted {restarts} time{"s" if restarts != 1 else ""}'] if restarts else []
    if code is None:
        words.append('still running at the end')
    elif code != 0:
        words.append(f'last exit code {code}')
    else:
        words.append('last exit clean')
    return ', '.join(words)


def report_markdown(report: dict[str, Any]) -> str:
    """Return report.md: the same figures as report.json, for people."""
    s = report['settings']
    lat = report['latency_ms']
    obs = report['observations']
    verdict = 'complete' if report['complete'] else f'NOT complete ({report["stop_reason"]})'
    lines = [
        '# Flood mapping mission report',
        '',
        f'Mission {verdict}. {s["drones"]} drones over {s["area"]} '
        f'({_fmt(s["area_m2"], " m²", 0)}), '
        f'built-in simulator at {s["speed_factor"]}x, link profile `{s["link_profile"]}`, '
        f'on-board computer emulated {s["onboard_slowdown"]}x slower than this machine.',
        '',
        '![flood map](map/flood_map.png)',
        '',
        '| figure | value |',
        '|---|---|',
        f'| area covered by camera footprints (map) | {_fmt(report["coverage_pct"], " %", 2)} |',
        f'| coverage by the coordinator (flown swaths) | '
        f'{_fmt(report["coordinator_coverage_pct"], " %", 1)} |',
        f'| map IoU / precision / recall vs ground truth | {_fmt(report["map_iou"], "", 3)} / '
        f'{_fmt(report["map_precision"], "", 3)} / {_fmt(report["map_recall"], "", 3)} |',
        f'| mission time (simulated) | {_fmt(report["mission_time_s"], " s")} |',
        f'| lower bound: climb + area / swath / (drones x speed) + descent | '
        f'{_fmt(report["lower_bound_time_s"], " s")} |',
        f'| mission time / lower bound | {_fmt(report["mission_time_over_bound"], " x", 2)} |',
        f'| wall time of the run | {_fmt(report["wall_time_s"], " s")} |',
        f'| frames segmented on board / at the edge | {report["frames"]["local"]} / '
        f'{report["frames"]["edge"]} (offload ratio {_fmt(report["offload_ratio"], "", 2)}) |',
        f'| latency on board p50 / p95 | {_fmt(lat["local_p50"], " ms", 0)} / '
        f'{_fmt(lat["local_p95"], " ms", 0)} |',
        f'| latency at the edge p50 / p95 | {_fmt(lat["edge_p50"], " ms", 0)} / '
        f'{_fmt(lat["edge_p95"], " ms", 0)} |',
        f'| flood observations published / fused / duplicates | '
        f'{obs["published"]} / {obs["fused"]} / {obs["duplicates"]} |',
        f'| re-plans | {report["replans"]}'
        + (
            f', {report["map_gap_rounds"]} of them to fly what the map had not seen'
            if report['map_gap_rounds']
            else ''
        )
        + (f' ({report["last_replan_reason"]})' if report['last_replan_reason'] else '')
        + ' |',
        f'| fault injected | {report["fault_injected"] or "none"} |',
        '',
        *_layer_lines(report.get('layers')),
        '## Drones',
        '',
        '| drone | outcome | energy used | battery end | planned / flown s | sorties | fault '
        '| taken back | failsafes |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for d in report['drones']:
        lines.append(
            f'| {d["name"]} | {d["outcome"]} | {_fmt(d["energy_used_pct"], " %")} | '
            f'{_fmt(d["battery_end_pct"], " %")} | {_fmt(d["planned_s"], digits=0)} / '
            f'{_fmt(d["flown_s"], digits=0)} | {d["sorties"] or 1} | {d["fault"] or "no"} | '
            f'{d["readmissions"]} | {"; ".join(d["failsafes"]) or "none"} |'
        )
    rec = report['recording']
    lines += [
        '',
        '## Recording and processes',
        '',
        (
            f'- `{Path(rec["file"]).name}`: {rec["messages"]} messages on {len(rec["topics"])} '
            f'topics, {rec["size_mb"]} MB, every message decoded.'
            if rec.get('decoded')
            else f'- recording: {rec.get("error", "none")}'
        ),
        *_resource_lines(report.get('resources', {})),
        f'- {len(report["processes"])} node processes; '
        + (
            'every one exited cleanly and none was restarted.'
            if not report['nodes_failed']
            else 'failed or restarted: '
            + ', '.join(
                f'{label} ({_process_words(report["processes"][label])})'
                for label in report['nodes_failed']
            )
            + '.'
        ),
    ]
    forced = report.get('nodes_stopped_by_force') or {}
    if forced:
        lines.append(
            '- did not stop when asked after the mission and were stopped by force ('
            + ', '.join(f'{label}: {sig}' for label, sig in forced.items())
            + '); every observation was saved before, so nothing was lost. Their thread '
            'stacks are in the log.'
        )
    lines += [f'- {note}' for note in report['notes']]
    lines += [
        '',
        'Latencies are from a frame reaching the segmentation node to its result (5 ms bins, '
        "every frame of the run). Mission time is read from the autopilots' clock.",
        '',
    ]
    return '\n'.join(lines)


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write report.json and report.md into `out`; return their paths."""
    json_path, md_path = out / 'report.json', out / 'report.md'
    json_path.write_text(json.dumps(report, indent=2) + '\n', encoding='utf-8')
    md_path.write_text(report_markdown(report), encoding='utf-8')
    return [json_path, md_path]
