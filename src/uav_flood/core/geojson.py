"""GeoJSON (RFC 7946) in and out: one reader of polygons, one writer of features.

Reading walks Features, FeatureCollections and GeometryCollections (a Feature's properties
`no_fly: true` or `kind: no_fly` mark its polygons no-fly) and yields every Polygon's and
MultiPolygon part's coordinates; the callers (the planner's area, flight_control's geofence)
turn positions into map coordinates and say what is wrong in their own terms.

Writing takes shapely geometries in the map frame (ENU, m) and returns GeoJSON geometries in
WGS84 (lon, lat, 8 decimals: about 1 mm): polygons oriented as RFC 7946 asks (outer rings
counter-clockwise, holes clockwise), via shapely's `orient`, `transform` and `mapping`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
import shapely
from shapely.geometry import mapping, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import check_geodetic, GeoError, GeoPoint, LocalFrame

#: Deepest nesting of Features, FeatureCollections and GeometryCollections read. RFC 7946 asks
#: for no nested GeometryCollections, so real files use 3 levels at most.
MAX_NESTING = 32
#: Decimals of the longitudes and latitudes written (1e-8 deg is about 1 mm).
DIGITS = 8


class GeoJsonError(UavFloodError):
    """A GeoJSON document the reader cannot use."""


# -- reading -------------------------------------------------------------------------------------


def polygon_coordinates(document: Any, no_fly: bool = False) -> Iterator[tuple[Any, bool]]:
    """Yield (a Polygon's coordinates, is it no-fly) for every polygon in a GeoJSON object.

    Members that are not what RFC 7946 says they are hold nothing and are skipped.

    :raises GeoJsonError: collections and features nest deeper than MAX_NESTING.
    """
    yield from _walk(document, no_fly, 0)


def _walk(document: Any, no_fly: bool, depth: int) -> Iterator[tuple[Any, bool]]:
    if not isinstance(document, dict):
        return
    if depth > MAX_NESTING:
        raise GeoJsonError(
            f'GeoJSON features and collections nested more than {MAX_NESTING} levels deep'
        )
    kind = document.get('type')
    if kind == 'FeatureCollection':
        for feature in _list(document.get('features')):
            yield from _walk(feature, no_fly, depth + 1)
    elif kind == 'Feature':
        props = document.get('properties')
        props = props if isinstance(props, dict) else {}
        flag = bool(props.get('no_fly')) or props.get('kind') == 'no_fly'
        yield from _walk(document.get('geometry'), no_fly or flag, depth + 1)
    elif kind == 'GeometryCollection':
        for geometry in _list(document.get('geometries')):
            yield from _walk(geometry, no_fly, depth + 1)
    elif kind == 'Polygon':
        yield document.get('coordinates'), no_fly
    elif kind == 'MultiPolygon':
        for polygon in _list(document.get('coordinates')):
            yield polygon, no_fly


def outer_ring(coordinates: Any) -> list[Any] | None:
    """Return a Polygon's outer ring (its first ring), or None when it has none."""
    if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
        return coordinates[0] if coordinates[0] else None
    return None


def position(value: Any, alt_m: float = 0.0) -> GeoPoint:
    """Return a GeoJSON position ([lon, lat, ...]) as a GeoPoint at `alt_m`.

    :raises GeoJsonError: not two finite numbers, or not a latitude and longitude.
    """
    try:
        lon, lat = float(value[0]), float(value[1])
        check_geodetic(lat, lon)
        return GeoPoint(lat, lon, alt_m)
    except (TypeError, ValueError, IndexError, KeyError, OverflowError, GeoError) as exc:
        raise GeoJsonError(f'bad position {short(value)} ({exc})') from None


def short(value: Any, limit: int = 60) -> str:
    """Return repr(value), cut to `limit` characters (a bad position may be a huge list)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _list(value: Any) -> list[Any]:
    """Return `value` if it is a list, else [] (a malformed member holds nothing usable)."""
    return value if isinstance(value, list) else []


# -- writing -------------------------------------------------------------------------------------


def geometry(shape: BaseGeometry, frame: LocalFrame) -> dict[str, Any]:
    """Return a map-frame geometry as an RFC 7946 geometry object in WGS84 (lon, lat).

    Polygons get outer rings counter-clockwise and holes clockwise (orientation is the same in
    the map's east/north as in lon/lat).
    """

    def to_lonlat(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lat, lon, _ = frame.to_geodetic(xy[:, 0], xy[:, 1])
        lonlat: NDArray[np.float64] = np.column_stack([lon, lat]).round(DIGITS)
        return lonlat

    result: dict[str, Any] = _lists(mapping(shapely.transform(_oriented(shape), to_lonlat)))
    return result


def feature(geometry_object: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """Return a GeoJSON Feature."""
    return {'type': 'Feature', 'geometry': dict(geometry_object), 'properties': dict(properties)}


def feature_collection(features: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection."""
    return {'type': 'FeatureCollection', 'features': [dict(f) for f in features]}


def _oriented(shape: BaseGeometry) -> BaseGeometry:
    if isinstance(shape, Polygon):
        return orient(shape, 1.0)
    if isinstance(shape, MultiPolygon):
        return MultiPolygon([orient(p, 1.0) for p in shape.geoms])
    return shape


def _lists(value: Any) -> Any:
    """Return a mapping() result with tuples as lists and NumPy numbers as floats."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
