"""Flood maps to files for responders and GIS: the library `uav-flood export` calls.

`export` writes, from a FloodMap, its origin, the drones' tracks and optionally the land cover:
flood.geojson (WGS84, RFC 7946; the responder layers with the land cover, export.layers),
flood_grid.tif (a Cloud-Optimised GeoTIFF in the map frame's own CRS), land_cover.tif,
flood_grid.png with its world file, flood.kmz (Google Earth), flood_map.png (a figure for
people) and map.html (one self-contained page). `load_map`, `load_tracks`, `load_land_cover` and
`mission_origin` read and check the inputs, raising UavFloodError with one line. The command
line is uav_flood/cli/export.py; the files are described in docs/flood_map.md ("Export").
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
import pyproj

from uav_flood.core import geojson
from uav_flood.core.class_map import ClassMap
from uav_flood.core.errors import UavFloodError
from uav_flood.core.flood_map import (
    CheckpointError,
    CheckpointTooLargeError,
    FloodMap,
    FloodPolygon,
)
from uav_flood.core.geo import distance_m, GeoPoint, LocalFrame, SAME_ORIGIN_M
from uav_flood.core.responder_layers import (
    CLASS_COLOURS_RGB,
    CLASSES,
    LandCoverGrid,
    responder_layers,
    ResponderLayers,
)
from uav_flood.core.user_files import load_json, UserFileError
from uav_flood.export.layers import (
    BUILDING_BGR,
    draw_layers,
    FLOODED_ROAD_BGR,
    LAYER_CSS,
    layer_features,
    layer_svg,
    PASSABLE_ROAD_BGR,
)

#: Figure colours (BGR): water, dry, unknown, outline, tracks.
WATER_BGR = (200, 110, 20)
DRY_BGR = (150, 215, 170)
UNKNOWN_BGR = (215, 215, 215)
OUTLINE_BGR = (120, 40, 0)
TRACK_BGR = [(14, 127, 255), (40, 39, 214), (189, 103, 148), (34, 189, 188)]
#: Raster value of unknown cells.
RASTER_UNKNOWN = 255
#: Largest map exported (grid cells, --max-cells): 4 km x 4 km at 0.5 m. Export needs about
#: 45 bytes a cell at peak (1.1 GB for 25 million cells), and a checkpoint of a few MB can
#: claim the 400 million cells of a whole 10 km extent.
MAX_CELLS = 64_000_000
#: Largest side of a land-cover file read (cells): 10 km at 0.5 m, the water map's extent.
MAX_SIDE_CELLS = 20_001


def load_map(path: Path, max_cells: int = MAX_CELLS) -> FloodMap:
    """Return the flood map in path (a checkpoint; the seam for other sources).

    :param max_cells: the largest grid accepted (cells), checked before decompressing.
    :raises UavFloodError: when the file is missing, unreadable or too large.
    """
    try:
        return FloodMap.load(path, max_cells)
    except FileNotFoundError:
        raise UavFloodError(f'no such file: {path}') from None
    except CheckpointTooLargeError as exc:
        raise UavFloodError(f'{exc} (--max-cells)') from None
    except CheckpointError as exc:
        raise UavFloodError(str(exc)) from None


def mission_origin(stored: GeoPoint | None, given: GeoPoint | None, source: Path) -> GeoPoint:
    """Return the origin to export about: the checkpoint's, or --origin when it stores none.

    :raises UavFloodError: when neither is known, or --origin is not the stored origin (a
        mistyped or swapped LAT,LON would put the map somewhere else on Earth).
    """
    if stored is None:
        if given is None:
            raise UavFloodError(
                f'{source} stores no mission origin (made before it was kept, or by a mapper '
                'without origin_* parameters): pass --origin LAT,LON,ALT'
            )
        return given
    if given is not None and distance_m(stored, given) > SAME_ORIGIN_M:
        raise UavFloodError(
            f'--origin {given.lat_deg},{given.lon_deg} is {distance_m(stored, given) / 1000:.1f} '
            f'km from the origin {source} stores ({stored.lat_deg},{stored.lon_deg},'
            f'{stored.alt_m}): the map would land in the wrong place (latitude and longitude '
            'swapped?); leave --origin out'
        )
    return stored


def load_tracks(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Read a tracks file ({"tracks": {name: [[east, north, up], ...]}}, map ENU m).

    :raises UavFloodError: when it is unreadable.
    """
    try:
        raw = load_json(path)['tracks']
        tracks = {str(k): [(float(p[0]), float(p[1])) for p in v] for k, v in raw.items()}
    except UserFileError as exc:
        raise UavFloodError(f'tracks: {exc}') from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError) as exc:
        raise UavFloodError(f'tracks {path}: unreadable ({type(exc).__name__}: {exc})') from None
    for name, track in tracks.items():
        if not all(math.isfinite(v) for point in track for v in point):
            raise UavFloodError(f'tracks {path}: {name} has a point that is not a finite number')
    return tracks


def load_land_cover(path: Path, resolution_m: float) -> LandCoverGrid:
    """Return the land cover of a class-map checkpoint on the water map's grid.

    :raises UavFloodError: unreadable, or at another resolution than the water map.
    """
    if not path.is_file():
        raise UavFloodError(f'{path}: no such land-cover file')
    classes = ClassMap.load(path, MAX_SIDE_CELLS)
    if abs(classes.resolution_m - resolution_m) > 1e-9 * resolution_m:
        raise UavFloodError(
            f'{path}: land cover at {classes.resolution_m} m, the map at {resolution_m} m'
        )
    return classes.land_cover()


def export(
    flood_map: FloodMap,
    origin: GeoPoint,
    out: Path,
    tracks: dict[str, list[tuple[float, float]]],
    threshold: float = 0.5,
    min_area_m2: float = 10.0,
    title: str = 'Flood map',
    land_cover: LandCoverGrid | None = None,
) -> list[Path]:
    """Write every output file to out; return their paths.

    :param flood_map: the map (map ENU about origin).
    :param origin: the mission origin: map (0, 0, 0).
    :param out: the output folder (created).
    :param tracks: drone name -> track points (m, map ENU).
    :param threshold: P(water) above which a cell is water.
    :param min_area_m2: smallest flood polygon written (m2).
    :param title: figure and page title.
    :param land_cover: the mapper's land cover: adds the flooded-building and road layers.
    """
    out.mkdir(parents=True, exist_ok=True)
    frame = LocalFrame(origin)
    polygons = flood_map.flood_polygons(threshold, min_area_m2=min_area_m2)
    layers = responder_layers(land_cover) if land_cover is not None else None
    collection = to_geojson(polygons, frame)
    if layers is not None:
        collection['features'] += layer_features(layers, frame)
    geojson = out / 'flood.geojson'
    geojson.write_text(json.dumps(collection, indent=1), encoding='utf-8')
    kmz = write_kmz(polygons, tracks, frame, title, out / 'flood.kmz', layers)
    geotiff = write_geotiff(flood_map, origin, out / 'flood_grid.tif')
    extra = []
    if land_cover is not None:
        extra.append(write_land_cover_geotiff(land_cover, origin, out / 'land_cover.tif'))
    raster = write_raster(flood_map, origin, out / 'flood_grid.png')
    figure, geometry = render_figure(flood_map, polygons, tracks, threshold, title, layers=layers)
    png = out / 'flood_map.png'
    if not cv2.imwrite(str(png), figure):
        raise OSError(f'OpenCV could not write {png}')
    page = out / 'map.html'
    page.write_text(
        html_page(png.read_bytes(), polygons, geometry, title, frame, layers), encoding='utf-8'
    )
    return [geojson, kmz, geotiff, *extra, *raster, png, page]


def to_geojson(polygons: list[FloodPolygon], frame: LocalFrame) -> dict[str, Any]:
    """Return the polygons as an RFC 7946 FeatureCollection (lon, lat; outer rings CCW)."""
    return geojson.feature_collection(
        geojson.feature(
            geojson.geometry(flood.polygon, frame),
            {
                'layer': 'water',
                'area_m2': round(flood.area_m2, 2),
                'mean_confidence': round(flood.mean_confidence, 4),
            },
        )
        for flood in polygons
    )


KML_NS = 'http://www.opengis.net/kml/2.2'


def kml_document(
    polygons: list[FloodPolygon],
    tracks: dict[str, list[tuple[float, float]]],
    frame: LocalFrame,
    title: str,
    layers: ResponderLayers | None = None,
) -> bytes:
    """Return a KML 2.2 document: one Placemark per flood polygon (holes kept), one per track.

    With `layers`, also a folder of flooded buildings and one of roads (flooded, passable).
    """
    from xml.etree import ElementTree as ET  # noqa: N817

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f'{{{KML_NS}}}{tag}')
        if text is not None:
            element.text = text
        return element

    def coordinates(xy: Any) -> str:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        lat, lon, _ = frame.to_geodetic(xy[:, 0], xy[:, 1])
        return ' '.join(f'{float(a):.8f},{float(b):.8f},0' for a, b in zip(lon, lat, strict=True))

    ET.register_namespace('', KML_NS)
    kml = ET.Element(f'{{{KML_NS}}}kml')
    document = sub(kml, 'Document')
    sub(document, 'name', title)
    # KML colours are aabbggrr.
    for style_id, stroke, fill in (
        ('water', 'ff8c4a14', '99c8781e'),
        ('track', 'ff0e7fff', None),
        ('flooded_building', 'ff0000dc', '990000dc'),
        ('flooded_road', 'ff00c8ff', None),
        ('passable_road', 'ff282828', None),
    ):
        style = sub(document, 'Style')
        style.set('id', style_id)
        line_style = sub(style, 'LineStyle')
        sub(line_style, 'color', stroke)
        sub(line_style, 'width', '2')
        poly_style = sub(style, 'PolyStyle')
        sub(poly_style, 'color', fill or '00000000')
        sub(poly_style, 'fill', '1' if fill else '0')
    water = sub(document, 'Folder')
    sub(water, 'name', f'Flood water ({len(polygons)} polygons)')
    for k, flood in enumerate(polygons, 1):
        placemark = sub(water, 'Placemark')
        sub(placemark, 'name', f'water {k}: {flood.area_m2:.0f} m2')
        sub(placemark, 'description', f'mean confidence {flood.mean_confidence:.2f}')
        sub(placemark, 'styleUrl', '#water')
        data = sub(placemark, 'ExtendedData')
        for key, value in (
            ('area_m2', f'{flood.area_m2:.2f}'),
            ('mean_confidence', f'{flood.mean_confidence:.4f}'),
        ):
            field = sub(data, 'Data')
            field.set('name', key)
            sub(field, 'value', value)
        polygon = sub(placemark, 'Polygon')
        sub(polygon, 'altitudeMode', 'clampToGround')
        outer = sub(sub(polygon, 'outerBoundaryIs'), 'LinearRing')
        sub(outer, 'coordinates', coordinates(flood.polygon.exterior.coords))
        for hole in flood.polygon.interiors:
            inner = sub(sub(polygon, 'innerBoundaryIs'), 'LinearRing')
            sub(inner, 'coordinates', coordinates(hole.coords))
    if layers is not None:
        folder = sub(document, 'Folder')
        sub(folder, 'name', f'Flooded buildings ({len(layers.buildings)})')
        for k, building in enumerate(layers.buildings, 1):
            placemark = sub(folder, 'Placemark')
            sub(placemark, 'name', f'flooded building {k}: {building.area_m2:.0f} m2')
            sub(placemark, 'description', f'confidence {building.confidence:.2f}')
            sub(placemark, 'styleUrl', '#flooded_building')
            polygon = sub(placemark, 'Polygon')
            sub(polygon, 'altitudeMode', 'clampToGround')
            outer = sub(sub(polygon, 'outerBoundaryIs'), 'LinearRing')
            sub(outer, 'coordinates', coordinates(building.outline.exterior.coords))
        folder = sub(document, 'Folder')
        sub(
            folder,
            'name',
            f'Roads ({layers.road_km(True):.2f} km passable, {layers.road_km(False):.2f} km '
            'flooded)',
        )
        for road in layers.roads:
            kind = 'passable_road' if road.passable else 'flooded_road'
            placemark = sub(folder, 'Placemark')
            sub(placemark, 'name', f'{kind.replace("_", " ")}: {road.length_m:.0f} m')
            sub(placemark, 'styleUrl', f'#{kind}')
            path = sub(placemark, 'LineString')
            sub(path, 'altitudeMode', 'clampToGround')
            sub(path, 'coordinates', coordinates(road.line.coords))
    if tracks:
        folder = sub(document, 'Folder')
        sub(folder, 'name', 'Drone tracks')
        for name, track in tracks.items():
            if len(track) < 2:
                continue
            placemark = sub(folder, 'Placemark')
            sub(placemark, 'name', name)
            sub(placemark, 'styleUrl', '#track')
            path = sub(placemark, 'LineString')
            sub(path, 'altitudeMode', 'clampToGround')
            sub(path, 'coordinates', coordinates(track))
    return bytes(ET.tostring(kml, encoding='utf-8', xml_declaration=True))


def write_kmz(
    polygons: list[FloodPolygon],
    tracks: dict[str, list[tuple[float, float]]],
    frame: LocalFrame,
    title: str,
    path: Path,
    layers: ResponderLayers | None = None,
) -> Path:
    """Write the KML document as a KMZ (a zip whose first entry is doc.kml)."""
    import zipfile

    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('doc.kml', kml_document(polygons, tracks, frame, title, layers))
    return path


def map_crs(origin: GeoPoint) -> pyproj.CRS:
    """Return the map frame's CRS: azimuthal equidistant about the origin on WGS84, metres.

    Named, so GIS tools show what it is (QGIS listed the unnamed one as "unknown").
    """
    lat, lon = origin.lat_deg, origin.lon_deg
    crs = pyproj.CRS.from_proj4(
        f'+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs'
    )
    definition = crs.to_json_dict()
    definition['name'] = f'uav_flood map: azimuthal equidistant about {lat!r}, {lon!r}'
    definition['base_crs']['name'] = 'WGS 84'
    return pyproj.CRS.from_json_dict(definition)


def raster_values(flood_map: FloodMap) -> tuple[NDArray[np.uint8], float, float, float]:
    """Return the grid north up (row 0 northern), 0..100 = P(water) %, RASTER_UNKNOWN unknown.

    :returns: (image, west edge, north edge, cell size), metres in the map frame.
    """
    occupancy = flood_map.to_occupancy()
    grid = np.asarray(occupancy.data, dtype=np.int16).reshape(occupancy.height, occupancy.width)
    image = np.ascontiguousarray(np.where(grid < 0, RASTER_UNKNOWN, grid).astype(np.uint8)[::-1])
    res = occupancy.resolution_m
    return image, occupancy.origin_east, occupancy.origin_north + occupancy.height * res, res


def write_geotiff(flood_map: FloodMap, origin: GeoPoint, path: Path) -> Path:
    """Write the grid as a Cloud-Optimised GeoTIFF (deflate, nodata RASTER_UNKNOWN)."""
    image, west, north, res = raster_values(flood_map)
    tags = {'units': 'percent', 'meaning': 'P(water) in percent, 255 = never observed'}
    return _write_uint8_geotiff(path, image, origin, (west, north, res), 'COG', tags)


def write_land_cover_geotiff(cover: LandCoverGrid, origin: GeoPoint, path: Path) -> Path:
    """Write the land cover as a tiled GeoTIFF: FloodNet class 0..9, 255 unseen, a colour table.

    Same CRS and grid as flood_grid.tif (north up); GDAL and QGIS show the classes in
    FloodNet's colours.
    """
    labels = np.asarray(cover.labels)
    image = np.where(labels < 0, RASTER_UNKNOWN, labels).astype(np.uint8)[::-1]
    res = cover.resolution_m
    north = cover.origin_north + labels.shape[0] * res
    colours = {k: (*rgb, 255) for k, rgb in enumerate(CLASS_COLOURS_RGB)}
    colours[RASTER_UNKNOWN] = (0, 0, 0, 0)
    tags = {
        'meaning': 'FloodNet class, 255 = never observed',
        **{f'class_{k}': name for k, name in enumerate(CLASSES)},
    }
    corner = (cover.origin_east, north, res)
    # GTiff, tiled: the COG driver writes by copy and takes no colour table.
    return _write_uint8_geotiff(path, image, origin, corner, 'GTiff', tags, colours)


def _write_uint8_geotiff(
    path: Path,
    image: NDArray[np.uint8],
    origin: GeoPoint,
    corner: tuple[float, float, float],
    driver: str,
    tags: dict[str, str],
    colours: dict[int, tuple[int, int, int, int]] | None = None,
) -> Path:
    """Write one uint8 band north up from its north-west corner (west, north, cell m).

    In the map frame's CRS, deflated, nodata RASTER_UNKNOWN.

    :raises OSError: GDAL could not write it.
    """
    from affine import Affine
    import rasterio
    from rasterio._err import CPLE_BaseError  # GDAL's own errors (a failed create, ...)
    from rasterio.errors import RasterioError

    west, north, res = corner
    extra = {'tiled': True} if driver == 'GTiff' else {}
    try:
        with rasterio.open(
            path,
            'w',
            driver=driver,
            height=image.shape[0],
            width=image.shape[1],
            count=1,
            dtype='uint8',
            crs=map_crs(origin).to_wkt(),
            transform=Affine(res, 0.0, west, 0.0, -res, north),
            nodata=RASTER_UNKNOWN,
            compress='deflate',
            **extra,
        ) as dataset:
            dataset.write(image, 1)
            if colours is not None:
                dataset.write_colormap(1, colours)
            dataset.update_tags(1, **tags)
    except (RasterioError, CPLE_BaseError) as exc:
        raise OSError(f'GDAL could not write {path}: {exc}') from None
    return path


def write_raster(flood_map: FloodMap, origin: GeoPoint, path: Path) -> list[Path]:
    """Write the grid as PNG + world file + .prj; return the three paths.

    North up: image row 0 is the northern row. Values 0..100 are P(water) in %, 255 unknown.
    """
    image, west, north_top, res = raster_values(flood_map)
    if not cv2.imwrite(str(path), image):
        raise OSError(f'OpenCV could not write {path}')
    # World file: pixel size x, rotation, rotation, -pixel size y, centre of the top-left pixel.
    world = path.with_suffix('.pgw')
    world.write_text(
        f'{res!r}\n0.0\n0.0\n{-res!r}\n{west + res / 2!r}\n{north_top - res / 2!r}\n',
        encoding='ascii',
    )
    prj = path.with_suffix('.prj')
    prj.write_text(map_crs(origin).to_wkt('WKT1_ESRI'), encoding='ascii')
    return [path, world, prj]


def render_figure(
    flood_map: FloodMap,
    polygons: list[FloodPolygon],
    tracks: dict[str, list[tuple[float, float]]],
    threshold: float,
    title: str,
    max_side_px: int = 1000,
    layers: ResponderLayers | None = None,
) -> tuple[NDArray[np.uint8], dict[str, float]]:
    """Draw the map for people; return the BGR image and its geometry (for the SVG overlay).

    With `layers`, the roads and flooded buildings are drawn over the water.

    The geometry maps map ENU (m) to figure pixels: x = x0 + (east - east0) * scale,
    y = y0 + (north1 - north) * scale.
    """
    occupancy = flood_map.to_occupancy()
    res = occupancy.resolution_m
    rows, cols = occupancy.height, occupancy.width
    scale = min(max_side_px / max(rows, cols), 20.0) / res  # px per m
    width_px, height_px = max(1, round(cols * res * scale)), max(1, round(rows * res * scale))
    margin, header = 20, 60
    footer = 70 if layers is None else 94  # the layers' legend row
    canvas = np.full((header + height_px + footer, width_px + 2 * margin, 3), 255, np.uint8)
    known = flood_map.seen()[::-1]
    water = flood_map.water_mask(threshold)[::-1]
    cells = np.empty((rows, cols, 3), np.uint8)
    cells[:] = UNKNOWN_BGR
    cells[known & ~water] = DRY_BGR
    cells[water] = WATER_BGR
    canvas[header : header + height_px, margin : margin + width_px] = cv2.resize(
        cells, (width_px, height_px), interpolation=cv2.INTER_NEAREST
    )
    east0 = occupancy.origin_east
    north1 = occupancy.origin_north + rows * res
    geometry = {
        'x0': margin,
        'y0': header,
        'east0': east0,
        'north1': north1,
        'scale': scale,
        'span_px': float(max(width_px, height_px)),
    }

    def pixels(xy: Any) -> NDArray[np.int32]:
        pts = np.asarray(xy, dtype=np.float64)[:, :2]
        x = margin + (pts[:, 0] - east0) * scale
        y = header + (north1 - pts[:, 1]) * scale
        return np.round(np.stack([x, y], axis=1)).astype(np.int32)

    for flood in polygons:
        for ring in (flood.polygon.exterior, *flood.polygon.interiors):
            cv2.polylines(canvas, [pixels(ring.coords)], True, OUTLINE_BGR, 2, cv2.LINE_AA)
    if layers is not None:
        draw_layers(canvas, pixels, layers)
    for i, (_name, track) in enumerate(sorted(tracks.items())):
        if len(track) >= 2:
            colour = TRACK_BGR[i % len(TRACK_BGR)]
            cv2.polylines(canvas, [pixels(track)], False, colour, 2, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    water_m2 = sum(p.area_m2 for p in polygons)
    stamp = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')
    cv2.putText(canvas, title, (margin, 28), font, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    summary = f'{water_m2:,.0f} m2 of water in {len(polygons)} region(s)'
    if layers is not None:
        summary += (
            f'; {len(layers.buildings)} flooded building(s); roads: '
            f'{layers.road_km(True):.2f} km passable, {layers.road_km(False):.2f} km flooded'
        )
    cv2.putText(
        canvas,
        f'{summary}; {stamp}',
        (margin, 50),
        font,
        0.45,
        (60, 60, 60),
        1,
        cv2.LINE_AA,
    )
    draw_scale_bar(canvas, scale, margin, header + height_px + 40)
    _legend(canvas, margin + 200, header + height_px + 25, bool(tracks), layers is not None)
    draw_north_arrow(canvas, canvas.shape[1] - margin - 20, header + 10)
    return canvas, geometry


def draw_scale_bar(canvas: NDArray[np.uint8], px_per_m: float, x: int, y: int) -> None:
    """Draw a scale bar of a round length (about 150 px) with its label, left end at (x, y)."""
    target_m = 150.0 / px_per_m
    step = 10 ** math.floor(math.log10(target_m))
    length_m = max(s * step for s in (1, 2, 5) if s * step <= target_m)
    length_px = round(length_m * px_per_m)
    cv2.rectangle(canvas, (x, y), (x + length_px, y + 6), (0, 0, 0), -1)
    cv2.rectangle(canvas, (x + length_px // 2, y + 1), (x + length_px - 1, y + 5), (255,) * 3, -1)
    label = f'{length_m:g} m'
    cv2.putText(canvas, label, (x, y - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)


def _legend(canvas: NDArray[np.uint8], x: int, y: int, tracks: bool, layers: bool) -> None:
    items = [('water', WATER_BGR), ('dry', DRY_BGR), ('unknown', UNKNOWN_BGR)]
    if tracks:
        items.append(('drone track', TRACK_BGR[0]))
    rows = [items]
    if layers:  # a second row
        rows.append(
            [
                ('flooded building', BUILDING_BGR),
                ('flooded road', FLOODED_ROAD_BGR),
                ('passable road', PASSABLE_ROAD_BGR),
            ]
        )
    for row in rows:
        left = x
        for name, colour in row:
            cv2.rectangle(canvas, (left, y), (left + 16, y + 16), colour, -1)
            cv2.rectangle(canvas, (left, y), (left + 16, y + 16), (80, 80, 80), 1)
            cv2.putText(
                canvas, name, (left + 22, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1
            )
            left += 40 + 9 * len(name)
        y += 24


def draw_north_arrow(canvas: NDArray[np.uint8], x: int, y: int) -> None:
    """Draw a north arrow with its N, tip at (x, y)."""
    points = np.array([[x, y], [x - 10, y + 30], [x, y + 22], [x + 10, y + 30]], np.int32)
    cv2.fillPoly(canvas, [points], (0, 0, 0), cv2.LINE_AA)
    cv2.putText(canvas, 'N', (x - 6, y + 48), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 2)


def pixel_to_lonlat(geometry: dict[str, float], frame: LocalFrame) -> list[float]:
    """Return [a, b, c, d, e, f]: lon = a x + b y + c, lat = d x + e y + f for figure pixels.

    A least-squares affine fit of the exact transform (figure pixel -> map ENU -> WGS84) at a
    5 x 5 grid over the map; across the few kilometres a map spans, the azimuthal equidistant
    projection is affine to far better than a figure pixel (test/test_export_cli.py checks 1e-7
    deg).
    """
    scale, x0, y0 = geometry['scale'], geometry['x0'], geometry['y0']
    span = geometry.get('span_px', 1000.0)
    grid_x, grid_y = np.meshgrid(np.linspace(x0, x0 + span, 5), np.linspace(y0, y0 + span, 5))
    xs, ys = grid_x.ravel(), grid_y.ravel()
    east = geometry['east0'] + (xs - x0) / scale
    north = geometry['north1'] - (ys - y0) / scale
    lat, lon, _ = frame.to_geodetic(east, north)
    design = np.column_stack([xs, ys, np.ones_like(xs)])
    lon_coef = np.linalg.lstsq(design, np.asarray(lon, np.float64), rcond=None)[0]
    lat_coef = np.linalg.lstsq(design, np.asarray(lat, np.float64), rcond=None)[0]
    return [float(v) for v in (*lon_coef, *lat_coef)]


def html_page(
    png: bytes,
    polygons: list[FloodPolygon],
    geometry: dict[str, float],
    title: str,
    frame: LocalFrame | None = None,
    layers: ResponderLayers | None = None,
) -> str:
    """Return a self-contained page: the figure and the outlines in one SVG that zooms and pans.

    With `layers`, the flooded buildings and the roads are SVG groups too, and a check box per
    layer shows or hides it.

    Wheel or pinch zooms, dragging pans, the buttons zoom and reset; with `frame` the latitude
    and longitude under the cursor (or the last touch) are shown under the map. The page fits
    the screen's width (a phone shows the whole map, smaller) and needs no network.
    """
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError('the figure PNG does not decode')
    height, width = image.shape[:2]
    paths = []
    for k, flood in enumerate(polygons):
        rings = []
        for ring in (flood.polygon.exterior, *flood.polygon.interiors):
            xy = np.asarray(ring.coords)
            x = geometry['x0'] + (xy[:, 0] - geometry['east0']) * geometry['scale']
            y = geometry['y0'] + (geometry['north1'] - xy[:, 1]) * geometry['scale']
            rings.append('M' + ' L'.join(f'{a:.1f},{b:.1f}' for a, b in zip(x, y, strict=True)))
        label = f'region {k + 1}: {flood.area_m2:,.0f} m2, {flood.mean_confidence:.0%} confidence'
        paths.append(
            f'<path d="{" ".join(rings)} Z" fill-rule="evenodd"><title>{html.escape(label)}'
            '</title></path>'
        )
    groups = {'water': ''.join(paths)}
    if layers is not None:
        groups.update(layer_svg(layers, geometry))
    svg_groups = ''.join(
        f'<g id="layer-{name}" style="--c:{LAYER_CSS[name]}">{items}</g>'
        for name, items in groups.items()
    )
    toggles = ''.join(
        f'<label><input type="checkbox" checked data-layer="{name}"> '
        f'{name.replace("_", " ")}</label>'
        for name in groups
    )
    data = base64.b64encode(png).decode('ascii')
    safe = html.escape(title)
    affine = json.dumps(pixel_to_lonlat(geometry, frame)) if frame is not None else 'null'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{safe}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{margin:0;font-family:sans-serif;background:#fff}}
#map{{display:block;width:100%;max-width:{width}px;height:auto;aspect-ratio:{width}/{height};
touch-action:none;cursor:grab;user-select:none}}
svg path{{fill:rgba(20,110,200,0.0);stroke:var(--c);stroke-width:2;
vector-effect:non-scaling-stroke}}
svg path.line{{fill:none;stroke-width:3}}
svg path:hover{{fill:rgba(255,200,0,0.35)}}
#bar{{display:flex;flex-wrap:wrap;gap:8px;align-items:center;padding:6px 8px;font-size:14px}}
#bar button{{font-size:16px;min-width:40px;min-height:36px}}
#coords{{font-variant-numeric:tabular-nums}}</style></head>
<body><svg id="map" viewBox="0 0 {width} {height}">
<image width="{width}" height="{height}" href="data:image/png;base64,{data}"/>
{svg_groups}</svg>
<div id="bar"><button id="zin" title="zoom in">+</button><button id="zout" title="zoom out">&minus;
</button><button id="zreset" title="whole map">&#8634;</button>
<span id="coords">move over the map for latitude, longitude (WGS84)</span>
<span id="layers">{toggles}</span></div>
<script>
(function () {{
  var svg = document.getElementById('map'), W = {width}, H = {height};
  var affine = {affine}, box = [0, 0, W, H], pointers = {{}}, last = null, pinch = null;
  function show() {{ svg.setAttribute('viewBox', box.join(' ')); }}
  function toMap(cx, cy) {{
    var r = svg.getBoundingClientRect();
    return [box[0] + (cx - r.left) / r.width * box[2], box[1] + (cy - r.top) / r.height * box[3]];
  }}
  function zoom(f, cx, cy) {{
    var p = toMap(cx, cy), w = Math.min(W, Math.max(W / 64, box[2] / f)), h = w * H / W;
    box = [p[0] - (p[0] - box[0]) * w / box[2], p[1] - (p[1] - box[1]) * h / box[3], w, h];
    show();
  }}
  function centre() {{
    var r = svg.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];
  }}
  function coords(cx, cy) {{
    if (!affine) return;
    var p = toMap(cx, cy), a = affine;
    var lon = a[0] * p[0] + a[1] * p[1] + a[2], lat = a[3] * p[0] + a[4] * p[1] + a[5];
    document.getElementById('coords').textContent =
      lat.toFixed(6) + ', ' + lon.toFixed(6) + ' (lat, lon WGS84)';
  }}
  svg.addEventListener('wheel', function (e) {{
    e.preventDefault(); zoom(e.deltaY < 0 ? 1.25 : 0.8, e.clientX, e.clientY);
  }}, {{passive: false}});
  svg.addEventListener('pointerdown', function (e) {{
    svg.setPointerCapture(e.pointerId); pointers[e.pointerId] = [e.clientX, e.clientY];
    last = [e.clientX, e.clientY]; coords(e.clientX, e.clientY);
  }});
  svg.addEventListener('pointermove', function (e) {{
    coords(e.clientX, e.clientY);
    if (!(e.pointerId in pointers)) return;
    pointers[e.pointerId] = [e.clientX, e.clientY];
    var ids = Object.keys(pointers);
    if (ids.length === 2) {{
      var a = pointers[ids[0]], b = pointers[ids[1]];
      var d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      if (pinch) zoom(d / pinch, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
      pinch = d; return;
    }}
    var r = svg.getBoundingClientRect();
    box[0] -= (e.clientX - last[0]) / r.width * box[2];
    box[1] -= (e.clientY - last[1]) / r.height * box[3];
    last = [e.clientX, e.clientY]; show();
  }});
  function up(e) {{ delete pointers[e.pointerId]; pinch = null; }}
  svg.addEventListener('pointerup', up); svg.addEventListener('pointercancel', up);
  document.getElementById('zin').onclick = function () {{
    var c = centre(); zoom(1.5, c[0], c[1]);
  }};
  document.getElementById('zout').onclick = function () {{
    var c = centre(); zoom(1 / 1.5, c[0], c[1]);
  }};
  document.getElementById('zreset').onclick = function () {{ box = [0, 0, W, H]; show(); }};
  document.querySelectorAll('#layers input').forEach(function (box) {{
    box.onchange = function () {{
      document.getElementById('layer-' + box.dataset.layer).style.display =
        box.checked ? '' : 'none';
    }};
  }});
}})();
</script></body></html>
"""
