"""The `uav-flood` command: the entry point for people without ROS 2 tooling.

Each subcommand is a module of this package with add_arguments(parser) and run(args) -> int,
listed in SUBCOMMANDS (doctor is here).
"""

import argparse
import importlib
import json
import math
import os
import sys

from uav_flood import __version__
from uav_flood.cli.launch import use_color

#: Exit status of a command that failed on a bug, not on its input (EX_SOFTWARE, sysexits.h).
INTERNAL_ERROR = 70
COLORS = {'ok': '\033[32m', 'fail': '\033[31m', 'warn': '\033[33m', 'skip': '\033[90m'}
RESET = '\033[0m'


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run the runtime checks and print one line per check; 1 if a required one failed."""
    from uav_flood.doctor import all_checks, as_dict, run_checks

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        print(
            f'uav-flood doctor: error: --timeout must be > 0 s, got {args.timeout}',
            file=sys.stderr,
        )
        return 2
    color = use_color(args.color)
    results = []
    if not args.json:
        print(f'uav-flood doctor: uav_flood {__version__}', flush=True)
    for _check, result in run_checks(all_checks(args.timeout)):
        results.append(result)
        if args.json:
            continue
        label = result.status.upper() if result.status != 'ok' else 'ok'
        if color:
            label = f'{COLORS[result.status]}{label:<4}{RESET}'
        print(f'  {label:<4}  {result.name:<13} {result.detail}', flush=True)
        if result.fix:
            print(f'        {"":<13} fix: {result.fix}', flush=True)
    failed = [r for r in results if r.status == 'fail']
    if args.json:
        print(
            json.dumps(
                {
                    'version': __version__,
                    'ok': not failed,
                    'checks': [as_dict(r) for r in results],
                },
                indent=2,
            )
        )
    elif failed:
        names = ', '.join(r.name for r in failed)
        print(
            f'{len(failed)} required check(s) failed: {names}. Fix them and run '
            '`uav-flood doctor` again.'
        )
    else:
        warned = sum(r.status == 'warn' for r in results)
        extra = f' ({warned} optional item(s) missing)' if warned else ''
        print(f'All required checks passed{extra}: this machine can run uav_flood.')
    return 1 if failed else 0


#: The subcommands of `uav-flood`: (name, module in uav_flood.cli with add_arguments(parser) and
#: run(args) -> int, one-line help, description). `doctor` is here, in this module.
SUBCOMMANDS: tuple[tuple[str, str, str, str], ...] = (
    (
        'launch',
        'launch',
        'start a node graph described in YAML (like `ros2 launch`)',
        'Start every node of a graph file as its own process, prefix and colour '
        "their logs, apply each node's exit policy (required, respawn), and shut "
        'everything down on Ctrl-C. Format: docs/node_graph.md.',
    ),
    (
        'sim',
        'sim',
        'run simulated PX4 multirotors on the PX4 SITL ports',
        'Run N simulated PX4 multirotors that speak MAVLink on the ports PX4 SITL '
        'uses (vehicle i: sends to UDP 14540+i from 14580+i, system id i+1), until Ctrl-C. '
        'MAVSDK, QGroundControl and pymavlink connect as to PX4. See docs/sim.md.',
    ),
    (
        'segment',
        'segment',
        'write water masks and overlays for photos',
        'Segment flood water in photos with the shipped model (or --model): for '
        'each image, OUT/<stem>.png (255 water, 0 other) and OUT/<stem>_overlay.jpg, then '
        'OUT/segment_summary.csv. Unreadable files are skipped with a message. Exit 0 when all '
        'were segmented, 1 when some were skipped, 2 when none could be. '
        'See docs/segmentation.md.',
    ),
    (
        'plan',
        'plan',
        'plan the swarm coverage of an area',
        'Plan the coverage of AREA.geojson by N drones taking off from --home '
        "(default: the area's first vertex): prints each drone's part, path length, expected "
        'time and energy, writes OUT/plan.geojson (paths and parts, WGS84) and OUT/plan.png. '
        'Exit 2 with one line on bad input. See docs/coverage_planning.md.',
    ),
    (
        'replay',
        'replay',
        'rebuild the flood map from an MCAP recording',
        'Fuse every /uavN/flood_observation of FILE.mcap with the recorded '
        "flood_mapper's fusion parameters (or the options), compare the map with the last "
        'recorded /flood_map (identical / N cells differ) and write OUT/flood_map.npz (input '
        'of `uav-flood export`) and OUT/replay.json. Exit 2 with one line on a missing or '
        'corrupt file or one without observations. See docs/recording.md.',
    ),
    (
        'export',
        'export',
        'export a flood map for responders and GIS',
        'Export a flood_mapper checkpoint: OUT/flood.geojson (flood polygons, '
        'WGS84, area_m2 and mean_confidence), OUT/flood_grid.png + .pgw + .prj (georeferenced '
        'raster), OUT/flood_map.png (figure) and OUT/map.html (self-contained page). Exit 2 '
        'with one line on bad input. See docs/flood_map.md.',
    ),
    (
        'route',
        'route',
        'is there a passable road from here to there on the current map?',
        "Search the passable roads of a flood_mapper checkpoint's land cover "
        '(<checkpoint>.classes.npz) from --from to each --to (or the Point features of '
        '--destinations) and say, per destination, whether it is reachable and how far along '
        'the road, or why not. Exit 0 when all are reachable, 1 when some are not, 2 with one '
        'line on bad input. See docs/flood_map.md.',
    ),
    (
        'demo',
        'demo',
        'fly the demo mission end to end: swarm, segmentation, edge, map, report',
        'Start the whole stack on the built-in simulator, each node its own '
        'process: N drones plan, fly and segment over the labelled flood scene, the edge '
        'server and link emulator take offloaded frames, the mapper fuses, everyone lands. '
        'Shows a progress table, then writes the mission folder: map/ (figure, GeoJSON, '
        'raster, map.html), mission.mcap, report.json and report.md. Exit 0 when the mission '
        'completed and every node exited cleanly, 1 otherwise, 2 on bad options. See '
        'docs/demo.md.',
    ),
    (
        'gz-assets',
        'gz_assets',
        'generate the Gazebo flood world and x500 camera model for PX4 SITL',
        'Write OUT/worlds/flood_world.sdf (+ its ground texture) and '
        'OUT/models/uav_flood_x500/ (model.sdf, model.config) from a flood scene, a map origin '
        'and the camera settings, as shipped in worlds/ and models/. Refuses a non-empty OUT '
        'unless --force. Exit 2 with one line on bad input. See docs/gazebo_assets.md.',
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of `uav-flood` and its subcommands (SUBCOMMANDS)."""
    parser = argparse.ArgumentParser(
        prog='uav-flood',
        description='uav_flood: real-time flood mapping with a swarm of PX4 multirotors.',
        epilog='Run `uav-flood COMMAND --help` for the options of a command.',
    )
    parser.add_argument('--version', action='version', version=f'uav-flood {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    doctor = sub.add_parser(
        'doctor',
        help='check that this machine can run uav_flood',
        description='Check the runtime one item at a time: rclpy and a publish/subscribe and '
        'service round trip with a second process, the RMW, onnxruntime and its '
        'execution providers, OpenCV, MAVSDK, pymavlink, shapely/pyproj. Exits 1 '
        'if anything required is missing, with a fix for each missing piece.',
    )
    doctor.add_argument('--json', action='store_true', help='print the results as JSON')
    doctor.add_argument(
        '--timeout',
        type=float,
        default=20.0,
        metavar='S',
        help='how long the round trip may take to discover its peer (default: %(default)s s)',
    )
    doctor.add_argument(
        '--color',
        choices=('auto', 'always', 'never'),
        default='auto',
        help='colour the status column (default: auto)',
    )
    doctor.set_defaults(func=cmd_doctor)

    for name, module_name, help_text, description in SUBCOMMANDS:
        module = importlib.import_module(f'uav_flood.cli.{module_name}')
        command = sub.add_parser(name, help=help_text, description=description)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `uav-flood` with `argv` (default: the command line); return the exit code.

    Every command refuses bad input itself, with one line and exit status 2. Anything else that
    escapes a command is a bug: it is reported in one line too, with exit status 70
    (EX_SOFTWARE), and UAV_FLOOD_TRACEBACK=1 shows the traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, 'func', None) is None:
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001  (the last line of defence, see the docstring)
        if os.environ.get('UAV_FLOOD_TRACEBACK'):
            raise
        text = ' '.join(str(exc).split())
        text = text if len(text) <= 200 else text[:197] + '...'
        print(
            f'uav-flood {args.command}: internal error: {type(exc).__name__}: {text} (a bug: '
            'please report it; UAV_FLOOD_TRACEBACK=1 shows where)',
            file=sys.stderr,
        )
        return INTERNAL_ERROR
    return code


if __name__ == '__main__':
    sys.exit(main())
