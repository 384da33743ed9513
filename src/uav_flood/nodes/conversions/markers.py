"""RViz/Foxglove markers (visualization_msgs) of the flood map and the swarm's plan.

Message building only: what to draw comes from core (flood polygons, responder layers, the
coverage plan and what the tracker counts flown); namespaces, ids, colours and widths are here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from geometry_msgs.msg import Point as PointMsg
from shapely.geometry.base import BaseGeometry
from visualization_msgs.msg import Marker, MarkerArray

from uav_flood.core.coverage import CoveragePlan
from uav_flood.core.coverage.area import polygons_of
from uav_flood.core.coverage.progress import CoverageTracker
from uav_flood.core.flood_map import FloodPolygon
from uav_flood.core.responder_layers import ResponderLayers
from uav_flood.nodes import names

Point3 = tuple[float, float, float]
Rgba = tuple[float, float, float, float]

# -- flood_mapper's /flood_map/markers ---------------------------------------------------------

#: Marker namespaces (stable: RViz lists them).
NS_FLOOD, NS_AREA, NS_TRACK = 'flood_outline', 'flood_area', 'track'
#: The responder layers' marker namespaces, their colours (RGBA) and line widths (m), and the
#: legend (TEXT markers in the layers' colours at the map's north-west corner).
LAYER_MARKERS = {
    'flooded_building': ((0.86, 0.0, 0.0, 1.0), 0.4),
    'flooded_road': ((1.0, 0.78, 0.0, 1.0), 1.0),
    'passable_road': ((0.16, 0.16, 0.16, 1.0), 1.0),
}
NS_LEGEND = 'legend'
#: Outline, text and track colours (RGBA, 0..1).
FLOOD_RGBA = (0.0, 0.35, 1.0, 1.0)
TEXT_RGBA = (1.0, 1.0, 1.0, 1.0)
TRACK_RGBA = [(1.0, 0.5, 0.05, 1.0), (0.17, 0.63, 0.17, 1.0), (0.84, 0.15, 0.16, 1.0)]

# -- swarm_coordinator's /swarm/markers --------------------------------------------------------

#: One colour per drone index (RGB, 0..1; matplotlib's tab10).
DRONE_RGB = [
    (0.12, 0.47, 0.71),
    (1.0, 0.5, 0.05),
    (0.17, 0.63, 0.17),
    (0.84, 0.15, 0.16),
    (0.58, 0.4, 0.74),
    (0.55, 0.34, 0.29),
    (0.89, 0.47, 0.76),
    (0.5, 0.5, 0.5),
    (0.74, 0.74, 0.13),
    (0.09, 0.75, 0.81),
]


def marker(
    ns: str,
    marker_id: int,
    kind: int,
    points: Iterable[Sequence[float]],
    rgba: Sequence[float],
    width_m: float,
    stamp: Any,
    z_scale: float = 0.0,
) -> Marker:
    """Return an ADD marker in the map frame (lines: `points`; text: `z_scale` is its height)."""
    msg = Marker()
    msg.header.frame_id = names.MAP_FRAME
    msg.header.stamp = stamp
    msg.ns = ns
    msg.id = marker_id
    msg.type = kind
    msg.action = Marker.ADD
    msg.pose.orientation.w = 1.0
    msg.scale.x = float(width_m)
    msg.scale.z = float(z_scale)
    msg.color.r, msg.color.g, msg.color.b, msg.color.a = (float(c) for c in rgba)
    msg.points = [PointMsg(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points]
    return msg


def text_marker(
    ns: str, marker_id: int, text: str, xyz: Point3, rgba: Sequence[float], stamp: Any
) -> Marker:
    """Return a TEXT_VIEW_FACING marker 4 m high at `xyz` (map frame)."""
    msg = marker(ns, marker_id, Marker.TEXT_VIEW_FACING, [], rgba, 1.0, stamp, z_scale=4.0)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in xyz)
    msg.text = text
    return msg


def delete_marker(ns: str, marker_id: int, stamp: Any) -> Marker:
    """Return a DELETE of one marker."""
    msg = Marker()
    msg.header.frame_id = names.MAP_FRAME
    msg.header.stamp = stamp
    msg.ns = ns
    msg.id = marker_id
    msg.action = Marker.DELETE
    return msg


def outline_points(geometry: BaseGeometry, z: float = 0.0) -> list[Point3]:
    """Return the rings of a (multi)polygon as LINE_LIST point pairs at height `z`."""
    points: list[Point3] = []
    for poly in polygons_of(geometry):
        for ring in (poly.exterior, *poly.interiors):
            coords = list(ring.coords)
            for a, b in zip(coords, coords[1:], strict=False):
                points += [(a[0], a[1], z), (b[0], b[1], z)]
    return points


def flood_markers(
    polygons: Sequence[FloodPolygon],
    tracks: Mapping[str, Sequence[Point3]],
    layers: ResponderLayers | None,
    north_west: tuple[float, float] | None,
    stamp: Any,
) -> MarkerArray:
    """Return the flood outlines, their area labels, the drone tracks and the responder layers.

    The array starts with DELETEALL, so regions that merged or dried up disappear; ids are
    stable within a namespace: region k (largest first) and vehicle index.

    :param polygons: the flood regions, largest first.
    :param tracks: each drone's track (map ENU points), in vehicle order.
    :param layers: the responder layers, or None while there is no land cover.
    :param north_west: the map's north-west corner (east, north; m), where the legend goes;
        None: no legend (an empty map).
    """
    out = MarkerArray()
    clear = Marker()
    clear.header.frame_id = names.MAP_FRAME
    clear.header.stamp = stamp
    clear.action = Marker.DELETEALL
    out.markers.append(clear)
    ring_id = 0
    for k, flood in enumerate(polygons):
        for ring in (flood.polygon.exterior, *flood.polygon.interiors):
            points = [(x, y, 0.2) for x, y in ring.coords]
            out.markers.append(
                marker(NS_FLOOD, ring_id, Marker.LINE_STRIP, points, FLOOD_RGBA, 0.5, stamp)
            )
            ring_id += 1
        label = flood.polygon.representative_point()
        text = f'{flood.area_m2:,.0f} m2 ({flood.mean_confidence * 100:.0f} %)'
        out.markers.append(
            text_marker(NS_AREA, k, text, (label.x, label.y, 1.0), TEXT_RGBA, stamp)
        )
    for index, track in enumerate(tracks.values()):
        if len(track) >= 2:
            rgba = TRACK_RGBA[index % len(TRACK_RGBA)]
            out.markers.append(marker(NS_TRACK, index, Marker.LINE_STRIP, track, rgba, 0.8, stamp))
    if layers is not None:
        out.markers += layer_markers(layers, north_west, stamp)
    return out


def layer_markers(
    layers: ResponderLayers, north_west: tuple[float, float] | None, stamp: Any
) -> list[Marker]:
    """Return the flooded buildings' outlines, the roads and a legend (see LAYER_MARKERS)."""
    markers = []
    rgba, width = LAYER_MARKERS['flooded_building']
    for k, building in enumerate(layers.buildings):
        points = [(x, y, 0.3) for x, y in building.outline.exterior.coords]
        markers.append(
            marker('flooded_building', k, Marker.LINE_STRIP, points, rgba, width, stamp)
        )
    counts = {'flooded_road': 0, 'passable_road': 0}
    for road in layers.roads:
        ns = 'passable_road' if road.passable else 'flooded_road'
        rgba, width = LAYER_MARKERS[ns]
        points = [(x, y, 0.25) for x, y in road.line.coords]
        markers.append(marker(ns, counts[ns], Marker.LINE_STRIP, points, rgba, width, stamp))
        counts[ns] += 1
    if north_west is None:
        return markers
    west, north = north_west
    entries = [
        ('water outline', FLOOD_RGBA),
        (f'{len(layers.buildings)} flooded buildings', LAYER_MARKERS['flooded_building'][0]),
        (f'{layers.road_km(False):.2f} km flooded road', LAYER_MARKERS['flooded_road'][0]),
        (f'{layers.road_km(True):.2f} km passable road', LAYER_MARKERS['passable_road'][0]),
    ]
    for k, (text, colour) in enumerate(entries):
        xyz = (west, north + 5.0 * (len(entries) - k), 1.0)
        markers.append(text_marker(NS_LEGEND, k, text, xyz, colour, stamp))
    return markers


def swarm_markers(
    plan: CoveragePlan, tracker: CoverageTracker, indexes: Mapping[str, int], stamp: Any
) -> MarkerArray:
    """Return the area, the no-fly zones, each drone's part and path, and what it covered.

    A lost drone's path and part are deleted (in every array: the topic is latched with depth
    1, and RViz removes them whichever array it sees first).

    :param indexes: each drone's index (its marker id and colour).
    """
    markers = MarkerArray()
    area = plan.area
    markers.markers.append(
        marker('area', 0, Marker.LINE_LIST, outline_points(area.region), (1.0,) * 4, 1.0, stamp)
    )
    if area.no_fly is not None:
        no_fly = outline_points(area.no_fly)
        markers.markers.append(
            marker('no_fly', 0, Marker.LINE_LIST, no_fly, (1.0, 0.0, 0.0, 1.0), 1.0, stamp)
        )
    plans = {d.drone: d for d in plan.drones}
    for name, index in indexes.items():
        track = tracker.tracks[name]
        r, g, b = DRONE_RGB[index % len(DRONE_RGB)]
        segments = [
            (*p, 0.0)
            for line in tracker.flown(name)
            for a, b2 in zip(line, line[1:], strict=False)
            for p in (a, b2)
        ]
        if segments:
            markers.markers.append(
                marker(
                    'covered',
                    index,
                    Marker.LINE_LIST,
                    segments,
                    (r, g, b, 0.3),
                    plan.swath_m,
                    stamp,
                )
            )
        if track.lost:
            markers.markers += [delete_marker(ns, index, stamp) for ns in ('path', 'part')]
            continue
        drone = plans.get(name)
        if drone is None or not drone.path:
            continue
        points = [(float(p[0]), float(p[1]), float(p[2])) for p in drone.path]
        markers.markers.append(
            marker('path', index, Marker.LINE_STRIP, points, (r, g, b, 1.0), 1.0, stamp)
        )
        part = outline_points(drone.part)
        markers.markers.append(
            marker('part', index, Marker.LINE_LIST, part, (r, g, b, 0.8), 2.0, stamp)
        )
    return markers
