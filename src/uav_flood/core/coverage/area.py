"""The area of interest and its no-fly zones, in the map frame (m, ENU about the origin).

Read from GeoJSON (RFC 7946: WGS84, [lon, lat] positions) or given as shapely polygons in the
map frame. GeoJSON may be a Polygon or MultiPolygon geometry, a Feature or a FeatureCollection;
holes are kept (a hole is not to be mapped, but may be flown over). In an area file, a feature
whose properties hold ``"no_fly": true`` (or ``"kind": "no_fly"``) is a no-fly zone, not area.
core.safety.Geofence reads only the first outer ring (a fence needs no holes), so the planner
has this fuller reader of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from uav_flood.core import geojson
from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.user_files import load_json, UserFileError


@dataclass(frozen=True)
class Area:
    """An area of interest with its no-fly zones (map ENU, m).

    :param region: the area to map (Polygon or MultiPolygon, holes allowed).
    :param no_fly: the no-fly zones (Polygon or MultiPolygon), None when there are none.
    :param frame: the map frame, when the area came from WGS84 (for writing WGS84 back).
    """

    region: BaseGeometry
    no_fly: BaseGeometry | None = None
    frame: LocalFrame | None = None

    def __post_init__(self) -> None:
        """Validate the polygons (simple, non-empty, finite)."""
        check_polygon(self.region, 'area of interest')
        if self.no_fly is not None:
            check_polygon(self.no_fly, 'no-fly zone')

    @classmethod
    def from_geojson(
        cls, source: str | Path | dict[str, Any], frame: LocalFrame, no_fly: Any = None
    ) -> Area:
        """Read an area (and the no-fly zones in it) from a GeoJSON file or object.

        :param source: a GeoJSON file path or an already parsed GeoJSON object.
        :param frame: the map frame the positions are converted into.
        :param no_fly: an extra GeoJSON file path or object whose polygons are all no-fly.
        """
        document, name = _load(source)
        region, zones = _polygons(document, name, frame)
        if not region:
            raise PlanningError(f'{name}: holds no area polygon (GeoJSON Polygon/MultiPolygon)')
        if no_fly is not None:
            extra_doc, extra_name = _load(no_fly)
            extra, more = _polygons(extra_doc, extra_name, frame)
            if not extra and not more:
                raise PlanningError(f'{extra_name}: holds no no-fly polygon')
            zones += extra + more
        area = _union(region, f'{name}: the area polygons')
        zone_geom = _union(zones, 'the no-fly zones') if zones else None
        return cls(area, zone_geom, frame)


def check_polygon(geometry: BaseGeometry, what: str) -> None:
    """Raise PlanningError unless `geometry` is a valid, non-empty (multi)polygon (map, m)."""
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise PlanningError(f'the {what} must be a polygon, got {geometry.geom_type}')
    if geometry.is_empty:
        raise PlanningError(f'the {what} is empty')
    if not np.all(np.isfinite(shapely.get_coordinates(geometry))):
        raise PlanningError(f'the {what} has a coordinate that is not a finite number')
    if not bool(shapely.is_valid(geometry)):
        reason = shapely.is_valid_reason(geometry)
        raise PlanningError(f'the {what} is not a simple polygon: {reason}')
    if geometry.area <= 0.0:
        raise PlanningError(f'the {what} is empty (zero area)')


def first_vertex(source: str | Path | dict[str, Any]) -> GeoPoint:
    """Return the first vertex of the first area polygon of a GeoJSON file (WGS84, alt 0)."""
    document, name = _load(source)
    for polygon, no_fly in _polygon_objects(document):
        if no_fly or not isinstance(polygon, list) or not polygon:
            continue
        ring = polygon[0]
        if isinstance(ring, list) and ring:
            return _position(ring[0], name)
    raise PlanningError(f'{name}: holds no area polygon (GeoJSON Polygon/MultiPolygon)')


def polygons_of(geometry: BaseGeometry) -> list[Polygon]:
    """Return the non-empty polygons of a geometry (a collection's polygon parts)."""
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if hasattr(geometry, 'geoms'):
        out: list[Polygon] = []
        for part in geometry.geoms:
            out += polygons_of(part)
        return out
    return []


def _load(source: str | Path | dict[str, Any]) -> tuple[Any, str]:
    if isinstance(source, dict):
        return source, 'GeoJSON'
    try:
        return load_json(source), str(source)
    except UserFileError as exc:
        raise PlanningError(str(exc)) from None


def _polygon_objects(document: Any) -> Iterator[tuple[Any, bool]]:
    """Yield (GeoJSON Polygon coordinates, is no-fly) for every polygon in a document."""
    try:
        yield from geojson.polygon_coordinates(document)
    except geojson.GeoJsonError as exc:
        raise PlanningError(str(exc)) from None


def _position(position: Any, name: str) -> GeoPoint:
    try:
        return geojson.position(position)
    except geojson.GeoJsonError as exc:
        raise PlanningError(f'{name}: {exc}') from None


def _polygons(document: Any, name: str, frame: LocalFrame) -> tuple[list[Polygon], list[Polygon]]:
    """Return (area polygons, no-fly polygons) of a GeoJSON document, in map ENU."""
    if not isinstance(document, dict) or 'type' not in document:
        raise PlanningError(f'{name} is not a GeoJSON object')
    area: list[Polygon] = []
    zones: list[Polygon] = []
    for index, (coordinates, no_fly) in enumerate(_polygon_objects(document)):
        if not isinstance(coordinates, list) or not coordinates:
            raise PlanningError(f'{name}: polygon {index} has no coordinates (empty polygon)')
        rings = []
        for ring in coordinates:
            if not isinstance(ring, list) or len(ring) < 4:
                raise PlanningError(
                    f'{name}: polygon {index} has a ring of fewer than 4 positions '
                    '(empty or degenerate polygon)'
                )
            points = [_position(p, name) for p in ring]
            east, north, _ = frame.to_enu([p.lat_deg for p in points], [p.lon_deg for p in points])
            rings.append(list(zip(east.tolist(), north.tolist(), strict=True)))
        polygon = Polygon(rings[0], rings[1:])
        what = f'{"no-fly zone" if no_fly else "area"} polygon {index} of {name}'
        check_polygon(polygon, what)
        (zones if no_fly else area).append(polygon)
    return area, zones


def _union(polygons: list[Polygon], what: str) -> BaseGeometry:
    merged = shapely.union_all(polygons)
    parts = polygons_of(merged)
    if not parts:
        raise PlanningError(f'{what} are empty')
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)
