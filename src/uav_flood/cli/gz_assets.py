"""`uav-flood gz-assets`: write the Gazebo flood world and the PX4 x500 camera model.

Generates, in --out (see docs/gazebo_assets.md and src/uav_flood/deploy/gz_assets.py):

- ``worlds/flood_world.sdf`` and ``worlds/flood_scene.jpg``: the world whose ground carries the
  labelled scene (--scene, default the shipped one) at its map position, with the spherical
  coordinates of --origin (default config/flight_control.yaml's);
- ``models/uav_flood_x500/model.sdf`` and ``model.config``: PX4's x500 with a nadir camera
  (--width, --height, --hfov-deg, --rate-hz; default config/sim_camera.yaml's).

The shipped worlds/ and models/ files are this command's output with every default
(``uav-flood gz-assets --out . --force`` in the source tree). Refuses a non-empty --out unless
--force. Exit 0 on success, 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
import sys

from uav_flood.core.errors import UavFloodError
from uav_flood.core.user_files import MAX_DOCUMENT_BYTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood gz-assets` to `parser`."""
    parser.add_argument('--out', required=True, metavar='DIR', help='output folder (created)')
    parser.add_argument(
        '--scene', default=None, metavar='SCENE.yaml', help='scene YAML (default: the shipped one)'
    )
    parser.add_argument(
        '--origin',
        default=None,
        metavar='LAT,LON,ALT',
        help="mission origin (deg, deg, m AMSL; default: flight_control.yaml's); write "
        '--origin=-33.9,151.2,20 when LAT is negative',
    )
    parser.add_argument('--width', type=int, default=None, metavar='PX', help='image width')
    parser.add_argument('--height', type=int, default=None, metavar='PX', help='image height')
    parser.add_argument(
        '--hfov-deg', type=float, default=None, metavar='DEG', help='horizontal field of view'
    )
    parser.add_argument('--rate-hz', type=float, default=None, metavar='HZ', help='frame rate')
    parser.add_argument(
        '--force', action='store_true', help='write into a non-empty --out (replaces the files)'
    )


def run(args: argparse.Namespace) -> int:
    """Generate the world and model into --out and print what was written; return the exit code."""
    from uav_flood.core.geo import GeoError, GeoPoint
    from uav_flood.deploy import gz_assets
    from uav_flood.sim.scene import FloodScene

    out = Path(args.out)
    try:
        if out.exists() and not out.is_dir():
            raise UavFloodError(f'--out {out} is a file, not a folder')
        if out.is_dir() and any(out.iterdir()) and not args.force:
            raise UavFloodError(
                f'--out {out} is not empty; pass --force to replace the generated files in it'
            )
        try:
            origin = GeoPoint.parse(args.origin) if args.origin else gz_assets.origin_from_config()
        except GeoError as exc:
            raise UavFloodError(f'--origin: {exc}') from None
        camera = gz_assets.camera_from_config()
        changes = {
            name: value
            for name, value in (
                ('width', args.width),
                ('height', args.height),
                ('hfov_deg', args.hfov_deg),
                ('rate_hz', args.rate_hz),
            )
            if value is not None
        }
        camera = replace(camera, **changes)
        if args.scene and Path(args.scene).is_file():
            size = Path(args.scene).stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise UavFloodError(
                    f'--scene {args.scene} has {size // 2**20} MB: a scene YAML has at most '
                    f'{MAX_DOCUMENT_BYTES // 2**20} MB'
                )
        try:
            scene = FloodScene.load(args.scene)
        except RecursionError:
            raise UavFloodError(f'--scene {args.scene}: YAML nested too deeply') from None
        files = gz_assets.generate_assets(scene, origin, camera)
        written = gz_assets.write_assets(files, out)
    except (UavFloodError, OSError) as exc:
        print(f'uav-flood gz-assets: error: {exc}', file=sys.stderr)
        return 2
    min_e, min_n, max_e, max_n = scene.bounds_enu
    print(
        f"scene '{scene.name}': {scene.width_px} x {scene.height_px} px at "
        f'{scene.resolution_m} m/px, east {min_e:g}..{max_e:g} m, north {min_n:g}..{max_n:g} m'
    )
    print(
        f'origin {origin.lat_deg:.7f},{origin.lon_deg:.7f},{origin.alt_m:g} m; camera '
        f'{camera.width}x{camera.height} px, hfov {camera.hfov_deg:g} deg '
        f'(fx {camera.fx_px:.2f} px), {camera.rate_hz:g} Hz'
    )
    for path in written:
        print(f'wrote {path} ({path.stat().st_size / 1024:.0f} KiB)')
    instance = gz_assets.model_instance_name(0)
    print(
        f'camera topic of PX4 instance 0: '
        f'{gz_assets.camera_image_topic(gz_assets.WORLD_NAME, instance)}'
    )
    print(
        f'run PX4 with: PX4_GZ_WORLD={gz_assets.WORLD_NAME} '
        f'PX4_SIM_MODEL=gz_{gz_assets.MODEL_NAME} PX4_SYS_AUTOSTART=4001 '
        '(see docs/gazebo_assets.md)'
    )
    return 0
