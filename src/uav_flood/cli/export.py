"""`uav-flood export`: turn a flood map into files for responders and GIS (uav_flood.export).

Input: a flood_mapper checkpoint (.npz; another source that yields a core FloodMap, such as a
replayed recording, plugs in at `load_map`), the mission origin (stored in the checkpoint, or
--origin LAT,LON,ALT for one that stores none) and
optionally drone tracks (--tracks, default the checkpoint's <name>.tracks.json if present) and
the land cover (--classes, default the checkpoint's <name>.classes.npz if present).
Writes, in --out:

- ``flood.geojson``: flood polygons in WGS84 (RFC 7946), properties layer (``water``), area_m2,
  mean_confidence; with the land cover also the responder layers (export/layers.py): flooded
  buildings (polygons, layer ``flooded_building``, area_m2, confidence) and road centre lines
  (LineStrings, layer ``flooded_road`` or ``passable_road``, length_m, passable, confidence);
- ``flood_grid.tif``: the grid as a Cloud-Optimised GeoTIFF (rasterio/GDAL) in the map frame's
  own CRS (azimuthal equidistant about the origin, m), 0..100 = P(water) in %, nodata 255:
  QGIS, GDAL and web map servers read its CRS and nodata;
- ``land_cover.tif`` (with the land cover): FloodNet's class per cell (0..9, 255 unseen) as a
  tiled GeoTIFF on the same CRS and grid, with FloodNet's colours as its colour table;
- ``flood_grid.png`` + ``flood_grid.pgw`` (world file) + ``flood_grid.prj``: the same raster as
  a PNG (GDAL reads the world file but not the .prj: prefer the GeoTIFF in GIS tools);
- ``flood.kmz``: the flood polygons and the drones' tracks for Google Earth (KML 2.2 in a zip,
  WGS84, polygons clamped to the ground with their area and confidence);
- ``flood_map.png``: a figure for people: water, dry and unknown, tracks, flooded buildings and
  roads (with the land cover), scale bar, north arrow, title and legend;
- ``map.html``: one self-contained page (the figure embedded, polygons in SVG, no network; a
  toggle per layer).

Exit 0 on success, 2 with one line on stderr for bad input (see docs/flood_map.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.user_files import input_overwritten
from uav_flood.export import (
    export,
    load_land_cover,
    load_map,
    load_tracks,
    MAX_CELLS,
    mission_origin,
)

#: The files export writes in --out.
OUTPUTS = (
    'flood.geojson',
    'flood.kmz',
    'flood_grid.tif',
    'land_cover.tif',
    'flood_grid.png',
    'flood_grid.pgw',
    'flood_grid.prj',
    'flood_map.png',
    'map.html',
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood export` to `parser`."""
    parser.add_argument('input', metavar='MAP.npz', help='flood_mapper checkpoint file')
    parser.add_argument(
        '--origin',
        metavar='LAT,LON,ALT',
        help='mission origin (deg, deg, m); default: the one the checkpoint stores. Given with '
        'a checkpoint that stores one, they must agree (within 1 m)',
    )
    parser.add_argument('--out', required=True, metavar='DIR', help='output folder (created)')
    parser.add_argument(
        '--tracks',
        metavar='TRACKS.json',
        help="drone tracks (default: the checkpoint's <name>.tracks.json when present)",
    )
    parser.add_argument(
        '--threshold', type=float, default=0.5, help='P(water) above which a cell is water'
    )
    parser.add_argument(
        '--min-area', type=float, default=10.0, metavar='M2', help='smallest polygon (m2)'
    )
    parser.add_argument('--title', default='Flood map', help='figure and page title')
    parser.add_argument(
        '--classes',
        default='',
        metavar='CLASSES.npz',
        help="the mapper's land cover for the flooded-building and road layers (default: the "
        "checkpoint's <name>.classes.npz if present)",
    )
    parser.add_argument(
        '--max-cells',
        type=int,
        default=MAX_CELLS,
        metavar='N',
        help='refuse maps of more grid cells than this, checked before decompressing '
        '(default: %(default)s)',
    )


def run(args: argparse.Namespace) -> int:
    """Export the map; return the exit code."""
    try:
        given = GeoPoint.parse(args.origin) if args.origin else None
        source = Path(args.input)
        if args.max_cells < 1:
            raise UavFloodError(f'--max-cells must be at least 1, got {args.max_cells}')
        flood_map = load_map(source, args.max_cells)
        origin = mission_origin(flood_map.origin, given, source)
        if flood_map.bounds_cells is None:
            raise UavFloodError(f'{source}: the map is empty (no observation yet)')
        if not 0.0 <= args.threshold < 1.0:
            raise UavFloodError(f'--threshold must be in [0, 1), got {args.threshold}')
        tracks_file = (
            Path(args.tracks) if args.tracks else source.with_name(source.name + '.tracks.json')
        )
        tracks = load_tracks(tracks_file) if args.tracks or tracks_file.exists() else {}
        classes_file = (
            Path(args.classes) if args.classes else source.with_name(source.name + '.classes.npz')
        )
        land_cover = None
        if args.classes or classes_file.exists():
            land_cover = load_land_cover(classes_file, flood_map.resolution_m)
        out = Path(args.out)
        clash = input_overwritten(
            [out / name for name in OUTPUTS], [source, tracks_file, classes_file]
        )
        if clash is not None:
            raise UavFloodError(
                f'--out {out} would overwrite the input {clash[1]} with {clash[0].name}; '
                'choose another --out'
            )
        written = export(
            flood_map,
            origin,
            out,
            tracks,
            args.threshold,
            args.min_area,
            args.title,
            land_cover,
        )
    except UavFloodError as exc:
        print(f'uav-flood export: error: {exc}', file=sys.stderr)
        return 2
    except OSError as exc:
        print(f'uav-flood export: error: cannot write: {exc}', file=sys.stderr)
        return 2
    for path in written:
        print(f'wrote {path}')
    return 0
