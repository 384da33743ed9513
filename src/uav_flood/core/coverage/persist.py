"""Save and restore the swarm coordinator's mission state, so a restarted coordinator resumes.

What is saved is what the coordinator cannot learn again from the drones: the plan (who flies
which path, the parts, the metrics), each drone's progress on its path and what it flew before,
who is lost and why, how often each was taken back, the covered geometry and the re-plan count.
The area is not saved: it comes from the same area file (or topic) on restart, and a saved state
is only used for the area it was made for (the fingerprint of its region must match).

The file is JSON, written atomically (a temporary file renamed over the old one), so a crash
while saving leaves the previous state. Geometry is stored as hex WKB (exact); times on the
caller's clock (the ROS clock, which survives a process restart).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import shapely

from uav_flood.core.atomic_file import write_atomic
from uav_flood.core.coverage.area import Area
from uav_flood.core.coverage.planner import CoveragePlan, DronePlan, PlanConfig, PlanMetrics
from uav_flood.core.coverage.progress import CoverageTracker, DroneTrack
from uav_flood.core.coverage.sorties import Sortie
from uav_flood.core.errors import UavFloodError
from uav_flood.core.mission import Enu

#: Format version of the state file.
VERSION = 1
#: Largest state file read back (bytes): a real mission's state is tens of kilobytes.
MAX_BYTES = 50_000_000


class StateError(UavFloodError):
    """A saved coordinator state cannot be used (unreadable, another area, another version)."""


def area_key(area: Area) -> str:
    """Return a short fingerprint of an area (its region and no-fly zones)."""
    text = _dump(area.region) + '|' + (_dump(area.no_fly) if area.no_fly is not None else '')
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(points: Any) -> tuple[Enu, ...]:
    return tuple(Enu(float(p[0]), float(p[1]), float(p[2])) for p in points)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def state_dict(
    area: Area, plan: CoveragePlan, tracker: CoverageTracker, extra: dict[str, Any]
) -> dict[str, Any]:
    """Return the JSON-ready state of a mission.

    :param area: the area the plan is for.
    :param plan: the current plan (the latest re-plan).
    :param tracker: the progress of every drone.
    :param extra: the coordinator's own counters (re-plans, last reason), stored as given.
    """
    return {
        'version': VERSION,
        'area_key': area_key(area),
        'plan': {
            'region': _dump(plan.region),
            'swath_m': plan.swath_m,
            'sweep_angles_deg': list(plan.sweep_angles_deg),
            'metrics': {k: _number(v) for k, v in dataclasses.asdict(plan.metrics).items()},
            'drones': [
                {
                    'drone': d.drone,
                    'altitude_m': d.altitude_m,
                    'path': [list(p) for p in d.path],
                    'part': _dump(d.part),
                    'length_m': d.length_m,
                    'expected_time_s': _number(d.expected_time_s),
                    'energy_pct': _number(d.energy_pct),
                    'turns': d.turns,
                    'sorties': [
                        {
                            'path': [list(p) for p in s.path],
                            'sweep': [list(p) for p in s.sweep],
                            'resume_index': s.resume_index,
                            'time_s': s.time_s,
                            'energy_pct': s.energy_pct,
                        }
                        for s in d.sorties
                    ],
                }
                for d in plan.drones
            ],
        },
        'tracks': {
            name: {
                'path': [list(p) for p in t.path],
                'reached': t.reached,
                'position': list(t.position) if t.position is not None else None,
                'flown_before': [[list(p) for p in line] for line in t.flown_before],
                'acknowledged': t.acknowledged,
                'sent_at_s': t.sent_at_s,
                'completed': t.completed,
                'lost': t.lost,
                'path_stamp_ns': t.path_stamp_ns,
                'lost_at_s': _number(t.lost_at_s),
                'readmissions': t.readmissions,
                'sortie': t.sortie,
                'sorties': t.sorties,
            }
            for name, t in tracker.tracks.items()
        },
        'covered': _dump(tracker.covered()),
        'tracker': {
            'region': _dump(tracker.region),
            'swath_m': tracker.swath_m,
            'reach_m': tracker.reach_m,
        },
        'extra': extra,
    }


def save_state(
    path: str | os.PathLike[str],
    area: Area,
    plan: CoveragePlan,
    tracker: CoverageTracker,
    extra: dict[str, Any],
) -> Path:
    """Write the mission state to `path` atomically; return the path.

    :raises OSError: the file cannot be written.
    """
    data = json.dumps(state_dict(area, plan, tracker, extra)).encode('utf-8')
    return write_atomic(path, data)


def load_state(
    path: str | os.PathLike[str], area: Area, config: PlanConfig, drones: list[str]
) -> tuple[CoveragePlan, CoverageTracker, dict[str, Any]]:
    """Read a saved mission state for `area`; return (plan, tracker, extra).

    :param path: the state file.
    :param area: the area now (the state must be for the same one).
    :param config: the planning options now (as the coordinator's parameters say).
    :param drones: the fleet now; drones not in the file start with no path.
    :raises FileNotFoundError: there is no state file.
    :raises StateError: the file is unreadable, too big, of another version or another area.
    """
    source = Path(path)
    size = source.stat().st_size
    if size > MAX_BYTES:
        raise StateError(f'{source}: {size} bytes, more than a state file can be ({MAX_BYTES})')
    try:
        data = json.loads(source.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateError(f'{source}: unreadable: {exc}') from None
    if not isinstance(data, dict) or data.get('version') != VERSION:
        raise StateError(f'{source}: not a version {VERSION} coordinator state')
    if data.get('area_key') != area_key(area):
        raise StateError(f'{source}: saved for another area of interest')
    try:
        saved = data['plan']
        plan = CoveragePlan(
            area=area,
            region=_load(saved['region']),
            drones=tuple(
                DronePlan(
                    drone=str(d['drone']),
                    altitude_m=float(d['altitude_m']),
                    path=_path(d['path']),
                    part=_load(d['part']),
                    length_m=float(d['length_m']),
                    expected_time_s=_nan(d['expected_time_s']),
                    energy_pct=_nan(d['energy_pct']),
                    turns=int(d['turns']),
                    sorties=tuple(
                        Sortie(
                            path=_path(s['path']),
                            sweep=_path(s['sweep']),
                            resume_index=int(s['resume_index']),
                            time_s=float(s['time_s']),
                            energy_pct=float(s['energy_pct']),
                        )
                        for s in d.get('sorties', ())
                    ),
                )
                for d in saved['drones']
            ),
            swath_m=float(saved['swath_m']),
            sweep_angles_deg=tuple(float(a) for a in saved['sweep_angles_deg']),
            metrics=PlanMetrics(**{k: _nan(v) for k, v in saved['metrics'].items()}),
            config=config,
        )
        # The tracker measures against the first plan's region; a re-plan's region is the rest.
        reach = data['tracker'].get('reach_m')
        tracker = CoverageTracker(
            _load(data['tracker']['region']),
            float(data['tracker']['swath_m']),
            drones,
            float(reach) if reach is not None else None,
        )
        for name, t in data['tracks'].items():
            if name not in tracker.tracks:
                continue
            position = t['position']
            tracker.tracks[name] = DroneTrack(
                name=name,
                path=_path(t['path']),
                reached=int(t['reached']),
                position=(float(position[0]), float(position[1])) if position else None,
                flown_before=[
                    [(float(p[0]), float(p[1])) for p in line] for line in t['flown_before']
                ],
                acknowledged=bool(t['acknowledged']),
                sent_at_s=float(t['sent_at_s']),
                completed=bool(t['completed']),
                lost=str(t['lost']),
                path_stamp_ns=int(t['path_stamp_ns']) if t['path_stamp_ns'] is not None else None,
                lost_at_s=_nan(t['lost_at_s']),
                readmissions=int(t['readmissions']),
                sortie=int(t.get('sortie', 0)),
                sorties=int(t.get('sorties', 1)),
            )
        tracker.add_covered(_load(data['covered']))
        extra = dict(data.get('extra', {}))
    except (KeyError, TypeError, ValueError, IndexError, shapely.errors.ShapelyError) as exc:
        raise StateError(f'{source}: malformed coordinator state: {exc}') from None
    return plan, tracker, extra


def _dump(geometry: Any) -> str:
    """Return a geometry as hex WKB (exact, unlike WKT's decimal digits)."""
    return str(shapely.to_wkb(geometry, hex=True))


def _load(text: str) -> Any:
    return shapely.from_wkb(text)


def _nan(value: Any) -> float:
    return float(value) if value is not None else math.nan
