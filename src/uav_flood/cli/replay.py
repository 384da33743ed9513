"""`uav-flood replay`: rebuild the flood map from an MCAP recording (see docs/recording.md).

Fuses every recorded /uavN/flood_observation with core.flood_map under the recorded
flood_mapper's fusion parameters (or the options), compares the result with the last recorded
/flood_map and writes, in --out:

- flood_map.npz: the map checkpoint (FloodMap.save), input for `uav-flood export`;
- replay.json: counts, the comparison, the fusion configuration and the origin, if known.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
import json
from pathlib import Path
import sys
import time

from uav_flood.core.errors import UavFloodError
from uav_flood.core.user_files import input_overwritten

CHECKPOINT_NAME = 'flood_map.npz'
SUMMARY_NAME = 'replay.json'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood replay` to `parser`."""
    parser.add_argument('recording', metavar='FILE.mcap', help='recording to replay')
    parser.add_argument(
        '--out', default='replay', metavar='DIR', help='output folder (default: %(default)s)'
    )
    parser.add_argument(
        '--origin',
        metavar='LAT,LON,ALT',
        help='mission origin (deg, deg, m AMSL), stored for `export`; default: the recorded '
        "nodes' origin_* parameters",
    )
    parser.add_argument('--resolution', type=float, metavar='M', help='cell size, m')
    parser.add_argument('--p-hit', type=float, metavar='P', help='P(observe water | water)')
    parser.add_argument('--p-false', type=float, metavar='P', help='P(observe water | dry)')
    parser.add_argument('--clamp', type=float, metavar='L', help='log-odds bound')
    parser.add_argument('--max-extent', type=float, metavar='M', help='max map side, m')
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 when the rebuilt map differs from the last recorded /flood_map',
    )


class _Progress:
    """Prints how far the replay is: at the start, every PERIOD_S, and at the end (stdout)."""

    PERIOD_S = 1.0

    def __init__(self, recording: str) -> None:
        self.recording = recording
        self.next_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        if done == 0:
            print(f'replaying {total} observations from {self.recording}', flush=True)
            self.next_at = time.monotonic() + self.PERIOD_S
            return
        now = time.monotonic()
        if done == total or now >= self.next_at:
            print(f'[replay] {done}/{total} observations ({100 * done / total:.0f} %)', flush=True)
            self.next_at = now + self.PERIOD_S


def run(args: argparse.Namespace) -> int:
    """Replay, print the comparison and write the checkpoint; return the exit code."""
    from uav_flood.core.geo import GeoPoint
    from uav_flood.recording.replay import replay

    options = {
        'resolution_m': args.resolution,
        'p_hit': args.p_hit,
        'p_false': args.p_false,
        'clamp_log_odds': args.clamp,
        'max_extent_m': args.max_extent,
    }
    overrides = {k: v for k, v in options.items() if v is not None}
    try:
        out = Path(args.out)
        clash = input_overwritten([out / CHECKPOINT_NAME, out / SUMMARY_NAME], [args.recording])
        if clash is not None:
            raise UavFloodError(
                f'--out {out} would overwrite the input {clash[1]} with {clash[0].name}; '
                'choose another --out'
            )
        origin = GeoPoint.parse(args.origin) if args.origin else None
        result = replay(args.recording, overrides, origin, progress=_Progress(args.recording))
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = result.flood_map.save(out / CHECKPOINT_NAME)
    except (UavFloodError, OSError, ValueError) as exc:
        print(f'uav-flood replay: error: {exc}', file=sys.stderr)
        return 2
    fmap = result.flood_map
    known = int(fmap.seen().sum())
    print(
        f'fused {result.observations} observations ({sum(result.rejected.values())} refused'
        f'{" " + str(result.rejected) if result.rejected else ""}) with {result.config_source}: '
        f'{known} cells known at {fmap.resolution_m} m'
    )
    if not result.compared:
        verdict = 'no /flood_map recorded: nothing to compare'
    elif result.cells_differing == 0:
        verdict = 'identical to the last recorded /flood_map'
    else:
        verdict = f'{result.cells_differing} cells differ from the last recorded /flood_map'
        if result.observations_after_last_map:
            verdict += (
                f' ({result.observations_after_last_map} observations were recorded after it)'
            )
    print(verdict)
    summary = {
        'recording': str(Path(args.recording).resolve()),
        'observations': result.observations,
        'rejected': result.rejected,
        'compared': result.compared,
        'cells_differing': result.cells_differing if result.compared else None,
        'observations_after_last_map': result.observations_after_last_map,
        'config_source': result.config_source,
        'config': asdict(fmap.config),
        'origin': (
            [result.origin.lat_deg, result.origin.lon_deg, result.origin.alt_m]
            if result.origin
            else None
        ),
        'checkpoint': CHECKPOINT_NAME,
    }
    try:
        (out / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + '\n')
    except OSError as exc:
        print(f'uav-flood replay: error: cannot write the summary: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {checkpoint} and {out / SUMMARY_NAME}')
    if result.origin is None:
        print('no origin known: pass --origin LAT,LON,ALT to `uav-flood export`')
    else:
        print(f'the checkpoint stores the origin: `uav-flood export {checkpoint} --out DIR`')
    return 1 if args.check and result.compared and result.cells_differing else 0
