"""`uav-flood plan`: plan the swarm coverage of an area and write it for operators to check.

Reads the area of interest (GeoJSON, WGS84; features with ``"no_fly": true`` are no-fly zones),
plans it for N drones that all take off from --home (default: the area's first vertex, which is
also the map origin), prints a per-drone summary and writes, in --out:

- ``plan.geojson``: one LineString per drone (WGS84) with properties drone, altitude_m, gsd_cm,
  swath_m, length_m, expected_time_s, energy_pct; each drone's part as a Polygon (properties drone,
  part_area_m2);
- ``plan.png``: the area, no-fly zones, parts, paths and home, north up, with a title, north
  arrow, scale bar and legend;
- ``<drone>.plan``: a QGroundControl plan per drone that got a part (QGC 4.x JSON: take-off,
  the sweep's waypoints, return to launch; the area as an inclusion geofence and the no-fly
  zones as exclusions), to open, check and upload in QGroundControl; ``<drone>-<k>.plan``, one
  per sortie, when the part needs several batteries.

When a drone's part needs more than one battery (with the 20 % reserve), it is split into
sorties (core.coverage.sorties): each takes off at home, resumes where the last one stopped,
and returns home for a battery swap (--swap-time); parts are balanced on the total time. The
table, the GeoJSON (one LineString per sortie, properties drone, sortie, time_s, energy_pct) and
the figure (an x where each later sortie resumes) show them. --no-sorties refuses such a plan
instead; a point beyond one battery's reach from home is refused either way.

The altitude comes from --altitude or from the ground resolution wanted (--gsd-cm, through the
camera model); no drone is planned above --max-altitude (default 120 m, the usual legal
ceiling). The summary states the resolution achieved and warns when the flood model would see
frames at a resolution it was not trained on.

Exit code 0 on success, 2 with one line on stderr for bad input (see docs/coverage_planning.md).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from uav_flood.core import geojson
from uav_flood.core.coverage import (
    Area,
    CoveragePlan,
    Drone,
    first_vertex,
    plan_coverage,
    PlanConfig,
    PlanningError,
)
from uav_flood.core.coverage.area import polygons_of
from uav_flood.core.coverage.footprint import (
    altitude_for_gsd,
    Camera,
    gsd_cm,
    MODEL_GSD_CM,
    model_gsd_cm,
    MODEL_MAX_SIDE_PX,
)
from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import (
    build_mission,
    ItemKind,
    PathLimits,
    PX4_MISSION_SPEED_M_S,
    TRANSIT_SPEED_M_S,
)
from uav_flood.core.safety import EnergyModel
from uav_flood.core.user_files import input_overwritten

#: The lowest drone's altitude without --altitude or --gsd-cm (m above home).
DEFAULT_ALTITUDE_M = 60.0
#: Largest fleet planned: more is a typo (10^8 drones would take minutes and GBs to refuse).
MAX_DRONES = 1000

#: Figure colours (BGR): the area to map and the no-fly zones.
AREA_BGR = (225, 225, 225)
NO_FLY_BGR = (60, 60, 220)
COLOURS_BGR = [
    (180, 119, 31),
    (14, 127, 255),
    (44, 160, 44),
    (40, 39, 214),
    (189, 103, 148),
    (75, 86, 140),
    (194, 119, 227),
    (127, 127, 127),
    (34, 189, 188),
    (207, 190, 23),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood plan` to `parser`."""
    parser.add_argument('area', metavar='AREA.geojson', help='area of interest (GeoJSON, WGS84)')
    parser.add_argument('--drones', type=int, required=True, metavar='N', help='fleet size')
    parser.add_argument('--out', required=True, metavar='DIR', help='output folder (created)')
    parser.add_argument(
        '--altitude',
        type=float,
        default=None,
        metavar='M',
        help=f'altitude of the lowest drone, m above home (default: {DEFAULT_ALTITUDE_M:g})',
    )
    parser.add_argument(
        '--gsd-cm',
        type=float,
        default=None,
        metavar='CM',
        help="ground resolution wanted, cm per pixel: sets the lowest drone's altitude from the "
        'camera (instead of --altitude)',
    )
    parser.add_argument(
        '--max-altitude',
        type=float,
        default=120.0,
        metavar='M',
        help='legal ceiling above home; no drone is planned higher (default: %(default)s)',
    )
    parser.add_argument(
        '--altitude-step',
        type=float,
        default=5.0,
        metavar='M',
        help='altitude separation between drones (default: %(default)s)',
    )
    parser.add_argument(
        '--overlap', type=float, default=0.2, metavar='F', help='side overlap (default: 0.2)'
    )
    parser.add_argument('--no-fly', default=None, metavar='FILE', help='no-fly zones (GeoJSON)')
    parser.add_argument(
        '--home',
        default=None,
        metavar='LAT,LON',
        help="take-off point of every drone (default: the area's first vertex)",
    )
    parser.add_argument(
        '--speed', type=float, default=4.4, metavar='M/S', help='cruise speed (default: 4.4)'
    )
    parser.add_argument(
        '--transit-speed',
        type=float,
        default=TRANSIT_SPEED_M_S,
        metavar='M/S',
        help='speed of the transits to and from the sweep, as flight_control flies them '
        '(default: %(default)s; 0: at cruise speed)',
    )
    parser.add_argument(
        '--battery', type=float, default=100.0, metavar='PCT', help='battery at take-off (%%)'
    )
    parser.add_argument(
        '--no-energy-check',
        action='store_true',
        help='plan even if a battery cannot fly its part (geometry only)',
    )
    parser.add_argument(
        '--swap-time',
        type=float,
        default=120.0,
        metavar='S',
        help='time on the ground between two sorties for a battery swap (default: %(default)s)',
    )
    parser.add_argument(
        '--no-sorties',
        action='store_true',
        help='refuse a part that needs more than one battery instead of splitting it into sorties',
    )


def parse_home(text: str) -> GeoPoint:
    """Parse 'LAT,LON' (or 'LAT,LON,ALT') in degrees into a GeoPoint."""
    fields = text.split(',')
    try:
        if len(fields) not in (2, 3):
            raise ValueError
        values = [float(f) for f in fields]
        return GeoPoint(values[0], values[1], values[2] if len(values) == 3 else 0.0)
    except (ValueError, UavFloodError) as exc:
        detail = f': {exc}' if str(exc) else ''
        raise PlanningError(f'--home {text!r} is not LAT,LON in degrees{detail}') from None


def run(args: argparse.Namespace) -> int:
    """Plan, print the summary and write plan.geojson and plan.png; return the exit code."""
    try:
        out = Path(args.out)
        outputs = [out / 'plan.geojson', out / 'plan.png']
        outputs += [out / f'uav{i}.plan' for i in range(min(max(args.drones, 0), MAX_DRONES))]
        clash = input_overwritten(outputs, [args.area, args.no_fly])
        if clash is not None:
            raise PlanningError(
                f'--out {out} would overwrite the input {clash[1]} with {clash[0].name}; '
                'choose another --out'
            )
        if args.drones < 1:
            raise PlanningError(f'--drones must be at least 1, got {args.drones}')
        if args.drones > MAX_DRONES:
            raise PlanningError(f'--drones must be at most {MAX_DRONES}, got {args.drones}')
        altitude = base_altitude(args)
        home = parse_home(args.home) if args.home else first_vertex(args.area)
        frame = LocalFrame(GeoPoint(home.lat_deg, home.lon_deg, 0.0))
        area = Area.from_geojson(args.area, frame, args.no_fly)
        config = PlanConfig(
            base_altitude_m=altitude,
            altitude_step_m=args.altitude_step,
            overlap=args.overlap,
            check_energy=not args.no_energy_check,
            sorties=not args.no_sorties,
            swap_time_s=args.swap_time,
            energy=EnergyModel(transit_speed_m_s=args.transit_speed),
        )
        drones = [
            Drone(f'uav{i}', (0.0, 0.0), args.battery, args.speed) for i in range(args.drones)
        ]
        plan = plan_coverage(area, drones, config)
        out.mkdir(parents=True, exist_ok=True)
    except (UavFloodError, OSError) as exc:
        print(f'uav-flood plan: error: {exc}', file=sys.stderr)
        return 2
    print_summary(plan, home)
    print_resolution(plan, config.camera)
    try:
        write_geojson(plan, frame, out / 'plan.geojson')
        write_png(plan, out / 'plan.png')
        qgc = write_qgc_plans(plan, frame, home, args.speed, out, config.energy.transit_speed_m_s)
    except OSError as exc:
        print(f'uav-flood plan: error: cannot write the plan: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {out / "plan.geojson"} and {out / "plan.png"}')
    if qgc:
        print(f'wrote {", ".join(str(p) for p in qgc)} (QGroundControl: File > Open)')
    return 0


def base_altitude(args: argparse.Namespace) -> float:
    """Return the lowest drone's altitude from --altitude or --gsd-cm.

    The highest drone's layer is checked against --max-altitude.

    :raises PlanningError: both or a bad value given, or the fleet would fly too high.
    """
    if args.altitude is not None and args.gsd_cm is not None:
        raise PlanningError('give --altitude or --gsd-cm, not both')
    if not (math.isfinite(args.max_altitude) and args.max_altitude > 0.0):
        raise PlanningError(f'--max-altitude must be > 0 m, got {args.max_altitude}')
    if args.gsd_cm is not None:
        altitude = altitude_for_gsd(Camera(), args.gsd_cm)
        source = f'--gsd-cm {args.gsd_cm:g} needs {altitude:.1f} m'
    else:
        altitude = DEFAULT_ALTITUDE_M if args.altitude is None else args.altitude
        source = f'--altitude {altitude:g} m'
    top = altitude + args.altitude_step * (max(args.drones, 1) - 1)
    if top > args.max_altitude + 1e-9:
        raise PlanningError(
            f'{source}; with {args.drones} drone(s) {args.altitude_step:g} m apart the highest '
            f'flies at {top:.1f} m, above --max-altitude {args.max_altitude:g} m: lower the '
            'altitude (or ask for a finer --gsd-cm), --altitude-step or the number of drones'
        )
    return altitude


def print_resolution(plan: CoveragePlan, camera: Camera) -> None:
    """Print the ground resolution achieved and warn when the model never saw such frames."""
    altitudes = [d.altitude_m for d in plan.drones]
    low, high = min(altitudes), max(altitudes)
    seen_low, seen_high = model_gsd_cm(camera, low), model_gsd_cm(camera, high)
    seen = f'{seen_low:.1f}' + (f'-{seen_high:.1f}' if high > low else '')
    print(
        f'ground resolution {gsd_cm(camera, low):.1f} cm/px at {low:.0f} m'
        + (f' to {gsd_cm(camera, high):.1f} cm/px at {high:.0f} m' if high > low else '')
        + f' ({camera.width_px} x {camera.height_px} px, hfov {camera.hfov_deg:g} deg); the '
        f'flood model sees {seen} cm/px (frames shrunk to {MODEL_MAX_SIDE_PX} px)'
    )
    lo, hi = MODEL_GSD_CM
    if seen_low < lo or seen_high > hi:
        print(
            f'warning: the flood model was trained at {lo:g}-{hi:g} cm/px (MODEL_CARD.md); '
            f'at {seen} cm/px its accuracy is unmeasured',
            file=sys.stderr,
        )


def print_summary(plan: CoveragePlan, home: GeoPoint) -> None:
    """Print the plan per drone and its metrics."""
    m = plan.metrics
    print(
        f'area {m.area_m2 / 1e6:.3f} km2 to map, swath {plan.swath_m:.1f} m, home '
        f'{home.lat_deg:.6f},{home.lon_deg:.6f}'
    )
    print(
        f'{"drone":<8}{"alt m":>7}{"part km2":>10}{"path m":>10}{"time s":>9}{"sorties":>9}'
        f'{"energy %":>10}'
    )
    for d in plan.drones:
        print(
            f'{d.drone:<8}{d.altitude_m:>7.0f}{d.part.area / 1e6:>10.3f}{d.length_m:>10.0f}'
            f'{d.expected_time_s:>9.0f}{max(len(d.sorties), 1 if d.path else 0):>9}'
            f'{d.energy_pct:>10.1f}'
        )
    swaps = sum(max(len(d.sorties) - 1, 0) for d in plan.drones)
    if swaps:
        print(
            f'{swaps} battery swap(s) of {plan.config.swap_time_s:.0f} s at home; each sortie '
            f'uses at most {max(d.energy_pct for d in plan.drones):.1f} % of battery plus the '
            f'{plan.config.energy.reserve_pct:.0f} % reserve (energy % = the largest sortie)'
        )
    print(
        f'coverage {100 * m.coverage:.2f} %, total path {m.total_length_m:.0f} m = '
        f'{m.length_ratio:.2f} x lower bound {m.lower_bound_m:.0f} m, completion '
        f'{m.makespan_s:.0f} s, imbalance {100 * m.imbalance:.1f} %'
    )


def write_geojson(plan: CoveragePlan, frame: LocalFrame, path: Path) -> None:
    """Write the paths (LineStrings, or a Point) and parts (Polygons) as WGS84 GeoJSON."""
    from shapely.geometry import LineString, Point

    features: list[dict[str, Any]] = []
    for d in plan.drones:
        if not d.path:
            continue
        # A one-waypoint path (an area within one photo) is a Point: a LineString needs two.
        trace = LineString([p[:2] for p in d.path]) if len(d.path) > 1 else Point(d.path[0][:2])
        features.append(
            {
                'type': 'Feature',
                'geometry': geojson.geometry(trace, frame),
                'properties': {
                    'drone': d.drone,
                    'altitude_m': d.altitude_m,
                    'gsd_cm': round(gsd_cm(Camera(), d.altitude_m), 2),
                    'swath_m': round(plan.swath_m, 2),
                    'length_m': round(d.length_m, 1),
                    'expected_time_s': round(d.expected_time_s, 1),
                    'energy_pct': round(d.energy_pct, 1),
                    'sorties': max(len(d.sorties), 1),
                },
            }
        )
        for k, sortie in enumerate(d.sorties, 1):
            trace = (
                LineString([p[:2] for p in sortie.path])
                if len(sortie.path) > 1
                else (Point(sortie.path[0][:2]))
            )
            features.append(
                {
                    'type': 'Feature',
                    'geometry': geojson.geometry(trace, frame),
                    'properties': {
                        'drone': d.drone,
                        'sortie': k,
                        'time_s': round(sortie.time_s, 1),
                        'energy_pct': round(sortie.energy_pct, 1),
                    },
                }
            )
        for part in polygons_of(d.part):
            features.append(
                {
                    'type': 'Feature',
                    'geometry': geojson.geometry(part, frame),
                    'properties': {'drone': d.drone, 'part_area_m2': round(part.area, 1)},
                }
            )
    document = geojson.feature_collection(features)
    path.write_text(json.dumps(document) + '\n', encoding='utf-8')


def qgc_plan(
    drone_plan: Any,
    area: Any,
    frame: LocalFrame,
    home: GeoPoint,
    speed_m_s: float,
    transit_speed_m_s: float = 0.0,
) -> dict[str, Any]:
    """Return one drone's plan as a QGroundControl 4.x .plan document.

    The mission is flight_control's (core.mission.build_mission) as SimpleItems, positions in
    MAVLink's GLOBAL_RELATIVE_ALT frame (altitude above home, as PX4 flies them): NAV_TAKEOFF to
    the drone's layer, a NAV_WAYPOINT per path point, NAV_RETURN_TO_LAUNCH; with a transit
    speed, DO_CHANGE_SPEED around the transits and a waypoint over home before the RTL. The
    geofence holds the area's outer rings as inclusion polygons and its holes and no-fly zones
    as exclusion polygons.
    """
    from pymavlink.dialects.v20 import common as mavlink

    def latlon(east: float, north: float) -> tuple[float, float]:
        lat, lon, _ = frame.to_geodetic(east, north)
        return round(float(lat), 9), round(float(lon), 9)

    def item(seq: int, command: int, lat: float, lon: float, alt: float) -> dict[str, Any]:
        return {
            'AMSLAltAboveTerrain': None,
            'Altitude': alt,
            'AltitudeMode': 1,  # relative to home
            'autoContinue': True,
            'command': command,
            'doJumpId': seq,
            'frame': mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
            'params': [0, 0, 0, None, lat, lon, alt],
            'type': 'SimpleItem',
        }

    mission = build_mission(
        drone_plan.path,
        frame,
        GeoPoint(home.lat_deg, home.lon_deg, frame.origin.alt_m),
        limits=PathLimits(min_altitude_m=0.5, max_altitude_m=10_000.0, max_distance_m=1e7),
        transit_speed_m_s=transit_speed_m_s,
        mission_speed_m_s=PX4_MISSION_SPEED_M_S,
    )
    items: list[dict[str, Any]] = []
    for step in mission.items:
        seq = len(items) + 1
        if step.kind is ItemKind.RETURN_TO_LAUNCH or step.kind is ItemKind.CHANGE_SPEED:
            command = (
                mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
                if step.kind is ItemKind.RETURN_TO_LAUNCH
                else mavlink.MAV_CMD_DO_CHANGE_SPEED
            )
            items.append(item(seq, command, 0, 0, 0))
            items[-1]['params'] = [0, 0, 0, 0, 0, 0, 0]
            if step.kind is ItemKind.CHANGE_SPEED:
                items[-1]['params'][:3] = [1, float(step.speed_m_s), -1]  # ground speed
                items[-1]['frame'] = mavlink.MAV_FRAME_MISSION
            continue
        assert step.enu is not None
        alt = round(float(step.enu.up_m), 2)
        command = (
            mavlink.MAV_CMD_NAV_TAKEOFF
            if step.kind is ItemKind.TAKEOFF
            else mavlink.MAV_CMD_NAV_WAYPOINT
        )
        items.append(item(seq, command, *latlon(step.enu.east_m, step.enu.north_m), alt))

    def ring(coords: Any, inclusion: bool) -> dict[str, Any]:
        points = [list(latlon(x, y)) for x, y in list(coords)[:-1]]  # QGC rings are open
        return {'inclusion': inclusion, 'polygon': points, 'version': 1}

    fences = []
    for polygon in polygons_of(area.region):
        fences.append(ring(polygon.exterior.coords, True))
        fences += [ring(hole.coords, False) for hole in polygon.interiors]
    if area.no_fly is not None:
        fences += [ring(zone.exterior.coords, False) for zone in polygons_of(area.no_fly)]
    return {
        'fileType': 'Plan',
        'geoFence': {'circles': [], 'polygons': fences, 'version': 2},
        'groundStation': 'QGroundControl',
        'mission': {
            'cruiseSpeed': speed_m_s,
            'firmwareType': mavlink.MAV_AUTOPILOT_PX4,
            'globalPlanAltitudeMode': 1,
            'hoverSpeed': speed_m_s,
            'items': items,
            'plannedHomePosition': [home.lat_deg, home.lon_deg, home.alt_m],
            'vehicleType': mavlink.MAV_TYPE_QUADROTOR,
            'version': 2,
        },
        'rallyPoints': {'points': [], 'version': 2},
        'version': 1,
    }


def write_qgc_plans(
    plan: CoveragePlan,
    frame: LocalFrame,
    home: GeoPoint,
    speed_m_s: float,
    out: Path,
    transit_speed_m_s: float = 0.0,
) -> list[Path]:
    """Write the QGroundControl plans; return the files.

    <drone>.plan for every drone with a path, or <drone>-<k>.plan per sortie when its part needs
    several.
    """
    import dataclasses

    written = []
    for drone_plan in plan.drones:
        if not drone_plan.path:
            continue
        flights = [(f'{drone_plan.drone}.plan', drone_plan)]
        if drone_plan.sorties:
            flights = [
                (f'{drone_plan.drone}-{k}.plan', dataclasses.replace(drone_plan, path=s.path))
                for k, s in enumerate(drone_plan.sorties, 1)
            ]
        for name, flight in flights:
            path = out / name
            document = qgc_plan(flight, plan.area, frame, home, speed_m_s, transit_speed_m_s)
            path.write_text(json.dumps(document, indent=2) + '\n', encoding='utf-8')
            written.append(path)
    return written


def write_png(plan: CoveragePlan, path: Path, size_px: int = 1000) -> None:
    """Draw the plan for people, north up.

    Title and figures, the area (grey), no-fly zones (red), parts (tinted per drone), paths,
    home, a north arrow, a scale bar and a legend.
    """
    import cv2

    from uav_flood.export import draw_north_arrow, draw_scale_bar

    shown = [plan.area.region.bounds]
    if plan.area.no_fly is not None:
        shown.append(plan.area.no_fly.bounds)
    min_x = min(0.0, *(b[0] for b in shown))  # home (0, 0) is drawn too
    min_y = min(0.0, *(b[1] for b in shown))
    max_x = max(0.0, *(b[2] for b in shown))
    max_y = max(0.0, *(b[3] for b in shown))
    span = max(max_x - min_x, max_y - min_y, 1.0)
    margin, header, footer = 30, 60, 60
    scale = (size_px - 2 * margin) / span
    drawn_h = round((max_y - min_y) * scale)
    height = header + drawn_h + footer

    def pixels(coords: Any) -> Any:
        xy = np.asarray(coords, dtype=np.float64)[:, :2]
        px = margin + (xy[:, 0] - min_x) * scale
        py = header + (max_y - xy[:, 1]) * scale
        return np.stack([px, py], axis=1).round().astype(np.int32)

    def fill(geometry: BaseGeometry, canvas: Any, colour: tuple[int, int, int]) -> None:
        for polygon in polygons_of(geometry):
            rings = [pixels(polygon.exterior.coords)]
            rings += [pixels(r.coords) for r in polygon.interiors]
            cv2.fillPoly(canvas, rings, colour)

    def text(canvas: Any, words: str, xy: tuple[int, int], size: float = 0.5) -> None:
        cv2.putText(canvas, words, xy, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 1, cv2.LINE_AA)

    image: Any = np.full((height, size_px, 3), 255, dtype=np.uint8)
    fill(plan.area.region, image, AREA_BGR)
    tint = image.copy()
    for index, d in enumerate(plan.drones):
        fill(d.part, tint, COLOURS_BGR[index % len(COLOURS_BGR)])
    image = cv2.addWeighted(tint, 0.3, image, 0.7, 0.0)
    if plan.area.no_fly is not None:
        fill(plan.area.no_fly, image, NO_FLY_BGR)
    for index, d in enumerate(plan.drones):
        if d.path:
            colour = COLOURS_BGR[index % len(COLOURS_BGR)]
            if len(d.path) > 1:
                cv2.polylines(image, [pixels([p[:2] for p in d.path])], False, colour, 2)
            start = pixels([d.path[0][:2]])[0]
            cv2.circle(image, (int(start[0]), int(start[1])), 5, colour, -1)
            for k, sortie in enumerate(d.sorties[1:], 2):  # where each later sortie resumes
                rx, ry = (int(v) for v in pixels([sortie.sweep[0][:2]])[0])
                cv2.drawMarker(image, (rx, ry), (0, 0, 0), cv2.MARKER_TILTED_CROSS, 12, 2)
                label = f'{d.drone} s{k}'
                lx = rx + 6 if rx + 6 + 8 * len(label) < size_px else rx - 6 - 8 * len(label)
                text(image, label, (lx, ry + 14), 0.4)
            cv2.putText(
                image,
                d.drone,
                (int(start[0]) + 6, int(start[1]) - 6),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                colour,
                1,
            )
    hx, hy = (int(v) for v in pixels([(0.0, 0.0)])[0])
    home = np.array([[hx, hy - 9], [hx - 8, hy + 6], [hx + 8, hy + 6]], np.int32)
    cv2.fillPoly(image, [home], (0, 0, 0), cv2.LINE_AA)
    text(image, 'home', (hx + 10, hy + 6) if hx < size_px - 70 else (hx - 50, hy + 22))
    flown = sum(1 for d in plan.drones if d.path)
    text(image, f'Coverage plan: {flown} of {len(plan.drones)} drones', (margin, 22), 0.7)
    text(
        image,
        f'{plan.metrics.area_m2 / 1e6:.3f} km2, swath {plan.swath_m:.1f} m, completion '
        f'{plan.metrics.makespan_s:.0f} s, '
        f'{sum(max(len(d.sorties), 1) for d in plan.drones if d.path)} sorties (x: resume)',
        (margin, 42),
    )
    draw_north_arrow(image, size_px - margin - 10, 6)
    bottom = header + drawn_h
    draw_scale_bar(image, scale, margin, bottom + 35)
    x = margin + 200
    legend = [('area', AREA_BGR), ('no-fly', NO_FLY_BGR), ('home', (0, 0, 0))]
    legend += [
        (d.drone, COLOURS_BGR[k % len(COLOURS_BGR)]) for k, d in enumerate(plan.drones) if d.path
    ][:8]
    for name, colour in legend:
        cv2.rectangle(image, (x, bottom + 22), (x + 14, bottom + 36), colour, -1)
        cv2.rectangle(image, (x, bottom + 22), (x + 14, bottom + 36), (80, 80, 80), 1)
        text(image, name, (x + 19, bottom + 34), 0.45)
        x += 30 + 9 * len(name)
    if not cv2.imwrite(str(path), image):
        raise OSError(f'cannot write {path}')
