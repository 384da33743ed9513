"""The responder layers in the export outputs: GeoJSON features, the figure, map.html.

`uav-flood export` (uav_flood.export.export) calls these when it has the mapper's land cover
(<checkpoint>.classes.npz): flooded buildings as polygons, the road network as centre lines,
flooded or passable (core.responder_layers). Every GeoJSON feature carries `layer`: `water`
(the flood polygons, as before), `flooded_building`, `flooded_road` or `passable_road`.
"""

from __future__ import annotations

from collections.abc import Callable
import html
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from uav_flood.core import geojson
from uav_flood.core.geo import LocalFrame
from uav_flood.core.responder_layers import ResponderLayers

#: Layer names, as GeoJSON's `layer` property and map.html's toggles.
LAYERS = ('water', 'flooded_building', 'flooded_road', 'passable_road')
#: Figure colours (BGR) of the layers drawn over the water map.
BUILDING_BGR = (0, 0, 220)
FLOODED_ROAD_BGR = (0, 200, 255)
PASSABLE_ROAD_BGR = (40, 40, 40)
#: The same for map.html (CSS).
LAYER_CSS = {
    'water': '#00287a',
    'flooded_building': '#dc0000',
    'flooded_road': '#ffc800',
    'passable_road': '#282828',
}


def layer_features(layers: ResponderLayers, frame: LocalFrame) -> list[dict[str, Any]]:
    """Return GeoJSON features (WGS84, RFC 7946) of the buildings and roads, tagged by layer."""
    features: list[dict[str, Any]] = []
    for building in layers.buildings:
        # The outline only: a flooded building's courtyard is still part of the building.
        outline = Polygon(building.outline.exterior)
        properties = {
            'layer': 'flooded_building',
            'area_m2': round(building.area_m2, 2),
            'confidence': round(building.confidence, 4),
        }
        features.append(geojson.feature(geojson.geometry(outline, frame), properties))
    for road in layers.roads:
        properties = {
            'layer': 'passable_road' if road.passable else 'flooded_road',
            'length_m': round(road.length_m, 2),
            'passable': road.passable,
            'confidence': round(road.confidence, 4),
        }
        features.append(geojson.feature(geojson.geometry(road.line, frame), properties))
    return features


def draw_layers(
    canvas: NDArray[np.uint8],
    pixels: Callable[[Any], NDArray[np.int32]],
    layers: ResponderLayers,
) -> None:
    """Draw the roads (flooded amber, passable dark grey) and flooded buildings (red, filled)."""
    for road in layers.roads:
        colour = PASSABLE_ROAD_BGR if road.passable else FLOODED_ROAD_BGR
        cv2.polylines(canvas, [pixels(road.line.coords)], False, colour, 2, cv2.LINE_AA)
    if layers.buildings:
        outlines = [pixels(b.outline.exterior.coords) for b in layers.buildings]
        filled = canvas.copy()
        cv2.fillPoly(filled, outlines, BUILDING_BGR, cv2.LINE_AA)
        cv2.addWeighted(filled, 0.45, canvas, 0.55, 0.0, dst=canvas)
        cv2.polylines(canvas, outlines, True, BUILDING_BGR, 2, cv2.LINE_AA)


def layer_svg(layers: ResponderLayers, geometry: dict[str, float]) -> dict[str, str]:
    """Return map.html's SVG elements per layer (buildings and roads) in figure pixels."""

    def points(xy: Any) -> str:
        pts = np.asarray(xy, dtype=np.float64)
        x = geometry['x0'] + (pts[:, 0] - geometry['east0']) * geometry['scale']
        y = geometry['y0'] + (geometry['north1'] - pts[:, 1]) * geometry['scale']
        return 'M' + ' L'.join(f'{a:.1f},{b:.1f}' for a, b in zip(x, y, strict=True))

    groups: dict[str, list[str]] = {name: [] for name in LAYERS[1:]}
    for k, building in enumerate(layers.buildings, 1):
        label = (
            f'flooded building {k}: {building.area_m2:,.0f} m2, '
            f'{building.confidence:.0%} confidence'
        )
        groups['flooded_building'].append(
            f'<path d="{points(building.outline.exterior.coords)} Z"><title>'
            f'{html.escape(label)}</title></path>'
        )
    for road in layers.roads:
        name = 'passable_road' if road.passable else 'flooded_road'
        label = f'{name.replace("_", " ")}: {road.length_m:,.0f} m'
        groups[name].append(
            f'<path class="line" d="{points(road.line.coords)}"><title>{html.escape(label)}'
            '</title></path>'
        )
    return {name: ''.join(items) for name, items in groups.items()}
