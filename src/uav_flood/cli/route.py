"""`uav-flood route`: whether a passable road leads from here to there on the current map.

Reads a flood_mapper checkpoint's land cover (<checkpoint>.classes.npz, or --classes) and its
mission origin, derives the road network (core.responder_layers.road_network: centre lines
split where flooding starts and ends) and searches the passable roads (Dijkstra) from --from to
each destination: --to LAT,LON (repeatable) or --destinations FILE.geojson (its Point features;
a `name` property names them). Each point is taken to the nearest road centre line within
--snap metres.

Prints one line per destination: reachable with the length along the road, or why not (no road
near it, its road flooded there, no passable road between). With --out FILE.geojson it also
writes the routes found as LineStrings (WGS84) with `destination`, `found`, `length_m` and
`reason`.
Exit 0 when every destination is reachable, 1 when some are not, 2 with one line on stderr for
bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
from typing import Any

from uav_flood.core import geojson
from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.responder_layers import (
    find_route,
    MIN_ROAD_SPUR_M,
    road_network,
    RouteResult,
)
from uav_flood.core.user_files import load_json, UserFileError

#: Default --snap: how far a point may be from the road network (m).
SNAP_M = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood route` to `parser`."""
    parser.add_argument('input', metavar='MAP.npz', help='flood_mapper checkpoint file')
    parser.add_argument(
        '--from', dest='start', required=True, metavar='LAT,LON', help='where the team starts'
    )
    parser.add_argument(
        '--to',
        action='append',
        default=[],
        metavar='LAT,LON',
        help='a destination (repeatable)',
    )
    parser.add_argument(
        '--destinations',
        metavar='FILE.geojson',
        help='destinations as GeoJSON Point features (property `name` names them)',
    )
    parser.add_argument(
        '--snap',
        type=float,
        default=SNAP_M,
        metavar='M',
        help='farthest a point may be from a road (m, default: %(default)s)',
    )
    parser.add_argument(
        '--classes',
        default='',
        metavar='CLASSES.npz',
        help="the land cover (default: the checkpoint's <name>.classes.npz)",
    )
    parser.add_argument(
        '--origin',
        metavar='LAT,LON,ALT',
        help='mission origin, for a checkpoint that stores none',
    )
    parser.add_argument('--out', metavar='FILE.geojson', help='also write the routes found')


def destinations(args: argparse.Namespace) -> list[tuple[str, GeoPoint]]:
    """Return the named destinations of --to and --destinations.

    :raises UavFloodError: none given, or a point or file that cannot be read.
    """
    found = [(text, GeoPoint.parse(text)) for text in args.to]
    if args.destinations:
        try:
            document = load_json(Path(args.destinations), 'destinations')
        except UserFileError as exc:
            raise UavFloodError(str(exc)) from None
        features = document.get('features') if isinstance(document, dict) else None
        if not isinstance(features, list):
            raise UavFloodError(f'{args.destinations}: not a GeoJSON FeatureCollection')
        for k, feature in enumerate(features, 1):
            geometry = feature.get('geometry') if isinstance(feature, dict) else None
            if not isinstance(geometry, dict) or geometry.get('type') != 'Point':
                continue
            coords = geometry.get('coordinates')
            if not isinstance(coords, list) or len(coords) < 2:
                raise UavFloodError(f'{args.destinations}: feature {k} has no coordinates')
            props = feature.get('properties') or {}
            name = str(props.get('name', '')) if isinstance(props, dict) else ''
            try:
                point = GeoPoint(float(coords[1]), float(coords[0]))
            except (TypeError, ValueError):
                raise UavFloodError(
                    f'{args.destinations}: feature {k} coordinates are not numbers'
                ) from None
            found.append((name or f'destination {k}', point))
    if not found:
        raise UavFloodError('no destination: give --to LAT,LON or --destinations FILE.geojson')
    return found


def run(args: argparse.Namespace) -> int:
    """Answer the route question; return the exit code."""
    from uav_flood.export import load_land_cover, load_map, mission_origin

    try:
        if not (math.isfinite(args.snap) and args.snap > 0.0):
            raise UavFloodError(f'--snap must be > 0 m, got {args.snap}')
        source = Path(args.input)
        flood_map = load_map(source)
        given = GeoPoint.parse(args.origin) if args.origin else None
        origin = mission_origin(flood_map.origin, given, source)
        classes = (
            Path(args.classes) if args.classes else source.with_name(source.name + '.classes.npz')
        )
        cover = load_land_cover(classes, flood_map.resolution_m)
        frame = LocalFrame(origin)
        start_point = GeoPoint.parse(args.start)
        targets = destinations(args)
    except UavFloodError as exc:
        print(f'uav-flood route: error: {exc}', file=sys.stderr)
        return 2
    roads = road_network(cover, MIN_ROAD_SPUR_M)
    passable = sum(r.length_m for r in roads if r.passable) / 1000.0
    flooded = sum(r.length_m for r in roads if not r.passable) / 1000.0
    print(f'roads on the map: {passable:.2f} km passable, {flooded:.2f} km flooded')
    start = _enu(frame, start_point)
    results: list[tuple[str, RouteResult]] = []
    for name, point in targets:
        result = find_route(roads, cover, start, _enu(frame, point), args.snap)
        results.append((name, result))
        if result.found:
            print(f'{name}: reachable, {result.length_m:,.0f} m along passable roads')
        else:
            print(f'{name}: NOT reachable: {result.reason}')
    if args.out:
        try:
            Path(args.out).write_text(
                json.dumps(_geojson(results, frame), indent=1), encoding='utf-8'
            )
        except OSError as exc:
            print(f'uav-flood route: error: cannot write {args.out}: {exc}', file=sys.stderr)
            return 2
        print(f'wrote {args.out}')
    return 0 if all(r.found for _, r in results) else 1


def _enu(frame: LocalFrame, point: GeoPoint) -> tuple[float, float]:
    east, north, _ = frame.to_enu(point.lat_deg, point.lon_deg, frame.origin.alt_m)
    return float(east), float(north)


def _geojson(results: list[tuple[str, RouteResult]], frame: LocalFrame) -> dict[str, Any]:
    features = []
    for name, result in results:
        properties = {
            'destination': name,
            'found': result.found,
            'length_m': round(result.length_m, 1) if result.found else None,
            'reason': result.reason,
        }
        line = geojson.geometry(result.line, frame) if result.line is not None else None
        # No route: a Feature with a null geometry (RFC 7946 3.2), its reason in properties.
        features.append({'type': 'Feature', 'geometry': line, 'properties': properties})
    return geojson.feature_collection(features)
