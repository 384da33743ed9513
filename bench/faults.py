"""Fly the quick demo through every fault `--fail` offers; print what each did to the mission.

Run: .venv/bin/python bench/faults.py [--only NAME ...] (as root for the drone-host cases; about
12 minutes on 2 cores, the demos one after the other). Prints a Markdown table and the machine.

Each case is one `uav-flood demo --quick` run in a scratch folder with its own MAVLink ports; the
figures come from its report.json: how the mission ended, the coordinator's coverage (flown
swaths) and the map's (area cells observed), flood observations published by the drones, fused
by the mapper and re-sends recognised as duplicates, restarted processes, and the mission time
(simulated) against the same run without a fault.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchlib import cpu_model  # noqa: E402

BIN = Path(sys.executable).parent / 'uav-flood'


@dataclass(frozen=True)
class Case:
    """One fault scenario: a name, the --fail options, whether it needs drone hosts."""

    name: str
    fails: tuple[str, ...]
    hosts: bool = False


CASES = [
    Case('none (baseline)', ()),
    Case('battery failure of a drone at 40 %', ('uav2@40%:battery',)),
    Case('a drone killed in the air at 50 %', ('uav2@50%:kill',)),
    Case('30 % MAVLink packet loss on a drone from the start', ('uav1@start:packet-loss=30%',)),
    Case('MAVLink link drop of 2.5 s (sim) at 40 %', ('uav1@40%:link-drop=2.5s',)),
    Case('MAVLink link drop of 20 s (sim) at 40 %', ('uav1@40%:link-drop=20s',)),
    Case('flood_mapper killed at 40 %', ('flood_mapper@40%:kill',)),
    Case('swarm_coordinator killed at 50 %', ('swarm_coordinator@50%:kill',)),
    Case('a flight_control killed at 40 %', ('uav0/flight_control@40%:kill',)),
    Case('a segmentation node killed at 40 %', ('uav1/segmentation@40%:kill',)),
    Case('edge_server killed at 40 %', ('edge_server@40%:kill',)),
    Case('drone hosts, no fault', (), hosts=True),
    Case('drone hosts, radio outage of 30 s at 30 %', ('uav1@30%:radio-outage=30s',), True),
    Case('drone hosts, radio outage of 120 s at 30 %', ('uav1@30%:radio-outage=120s',), True),
]


def run_case(case: Case, folder: Path, base_port: int) -> dict[str, Any]:
    """Fly one case; return its figures."""
    out = folder / 'mission'
    command = [str(BIN), 'demo', '--quick', '--out', str(out), '--base-port', str(base_port)]
    command += ['--gcs-port', str(base_port + 60)]
    for fail in case.fails:
        command += ['--fail', fail]
    if case.hosts:
        command.append('--drone-hosts')
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    report_file = out / 'report.json'
    if not report_file.exists():
        return {'case': case, 'error': (result.stderr or result.stdout).strip()[-300:]}
    report = json.loads(report_file.read_text())
    obs = report.get('observations', {})
    restarted = {k: v['restarts'] for k, v in report['processes'].items() if v['restarts']}
    return {
        'case': case,
        'exit': result.returncode,
        'complete': report['complete'],
        'outcome': report['stop_reason'],
        'coordinator_pct': report['coordinator_coverage_pct'],
        'map_pct': report['coverage_pct'],
        'iou': report['map_iou'],
        'published': obs.get('published'),
        'fused': obs.get('fused'),
        'duplicates': obs.get('duplicates'),
        'resent': obs.get('resent'),
        'mission_s': report['mission_time_s'],
        'wall_s': wall,
        'replans': report['replans'],
        'restarted': ', '.join(f'{k} x{v}' for k, v in sorted(restarted.items())) or 'none',
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Return the Markdown table of the results."""
    base = {True: None, False: None}
    for row in rows:
        if 'error' not in row and not row['case'].fails:
            base[row['case'].hosts] = row['mission_s']
    lines = [
        '| fault | ended | coverage: coordinator / map | IoU | observations published / '
        'fused / duplicates (re-sent) | re-plans | restarted | mission time (sim), extra | wall |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        case = row['case']
        if 'error' in row:
            lines.append(f'| {case.name} | did not run: {row["error"]} |||||||')
            continue
        baseline = base[case.hosts]
        extra = f'{row["mission_s"] - baseline:+.0f} s' if baseline and case.fails else ''
        ended = ('complete' if row['complete'] else 'NOT complete') + f' (exit {row["exit"]})'
        lines.append(
            f'| {case.name} | {ended} | {row["coordinator_pct"]:.1f} / {row["map_pct"]:.1f} % '
            f'| {row["iou"]:.3f} | {row["published"]} / {row["fused"]} / {row["duplicates"]} '
            f'({row["resent"]}) | {row["replans"]} | {row["restarted"]} | '
            f'{row["mission_s"]:.0f} s {extra} | {row["wall_s"]:.0f} s |'
        )
    return '\n'.join(lines)


def main() -> int:
    """Run the cases (all, or --only those named) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', nargs='*', default=None, help='case names to run (substrings)')
    parser.add_argument('--base-port', type=int, default=24540, help='first MAVLink port')
    args = parser.parse_args()
    cases = [
        case for case in CASES if args.only is None or any(word in case.name for word in args.only)
    ]
    if os.geteuid() != 0:
        cases = [case for case in cases if not case.hosts]
        print('not root: the drone-host cases are left out', file=sys.stderr)
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix='uav-flood-faults-') as folder:
            print(f'[faults] {case.name} ...', file=sys.stderr, flush=True)
            row = run_case(case, Path(folder), args.base_port)
            rows.append(row)
            if 'error' in row:
                print(f'[faults]   did not run: {row["error"]}', file=sys.stderr, flush=True)
            else:
                print(f'[faults]   {row["outcome"]}', file=sys.stderr, flush=True)
    print(table(rows))
    print()
    print(f'Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}.')
    print('Command: .venv/bin/python bench/faults.py')
    return 0


if __name__ == '__main__':
    sys.exit(main())
