"""Open an export's GIS files in QGIS and render the view to a PNG (PyQGIS, headless).

The picture in the README of the map "in a GIS" is made with this: QGIS itself (through GDAL/OGR)
reads `flood_grid.tif` (its CRS, nodata and placement) and `flood.kmz` (the water polygons and
the drones' tracks, LIBKML driver) from a `uav-flood export` or demo output directory; a print
layout adds a latitude/longitude graticule, so a wrong CRS or a misplaced layer shows at a
glance. It needs QGIS's Python bindings, which come with QGIS, not from PyPI, so it runs with
the system Python, not the project's virtual environment:

    sudo apt install python3-qgis qgis-providers      # Debian 12 / Ubuntu: QGIS 3.22+
    QT_QPA_PLATFORM=offscreen python3 tools/qgis_view.py OUT/map --png docs/images/map_qgis.png

Prints the layers QGIS loaded with their CRS and extent; exit 1 with one line when a file is
missing or QGIS cannot read it, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')

try:
    from qgis.core import (
        Qgis,
        QgsApplication,
        QgsCategorizedSymbolRenderer,
        QgsColorRampShader,
        QgsCoordinateReferenceSystem,
        QgsFillSymbol,
        QgsLayoutExporter,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutItemMapGrid,
        QgsLayoutItemPicture,
        QgsLayoutItemScaleBar,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsLegendStyle,
        QgsLineSymbol,
        QgsPrintLayout,
        QgsProject,
        QgsRasterLayer,
        QgsRasterShader,
        QgsRendererCategory,
        QgsSingleBandPseudoColorRenderer,
        QgsSingleSymbolRenderer,
        QgsTextFormat,
        QgsUnitTypes,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QRectF
    from qgis.PyQt.QtGui import QColor, QFont
except ImportError as exc:  # pragma: no cover - depends on the system's QGIS
    print(
        f'qgis_view: QGIS Python bindings not found ({exc}); install python3-qgis and run with '
        'the system python3',
        file=sys.stderr,
    )
    sys.exit(1)

# Water probability (%) -> colour: dry sand, uncertain grey, water blue.
RAMP = [
    (0.0, '#d9c7a0', 'dry (0 %)'),
    (50.0, '#bcbcbc', '50 %'),
    (100.0, '#1f5fbf', 'water (100 %)'),
]
TRACK_COLOURS = ['#ff9900', '#00a0d0', '#e0409f', '#40b040', '#a060ff']


def load_layers(map_dir: Path) -> tuple[QgsRasterLayer, list[QgsVectorLayer]]:
    """Return the raster and the KMZ's layers, styled; raise ValueError when unreadable."""
    tif, kmz = map_dir / 'flood_grid.tif', map_dir / 'flood.kmz'
    for path in (tif, kmz):
        if not path.is_file():
            raise ValueError(f'{path} not found (a `uav-flood export` or demo map directory?)')
    raster = QgsRasterLayer(str(tif), 'flood_grid.tif: P(water)')
    if not raster.isValid():
        raise ValueError(f'QGIS cannot read {tif}')
    shader_fn = QgsColorRampShader(0.0, 100.0)
    shader_fn.setColorRampType(QgsColorRampShader.Interpolated)
    shader_fn.setColorRampItemList(
        [QgsColorRampShader.ColorRampItem(v, QColor(c), label) for v, c, label in RAMP]
    )
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    raster.setRenderer(QgsSingleBandPseudoColorRenderer(raster.dataProvider(), 1, shader))
    raster.renderer().setOpacity(0.9)

    probe = QgsVectorLayer(str(kmz), 'probe', 'ogr')
    names = [entry.split('!!::!!')[1] for entry in probe.dataProvider().subLayers()]
    if not probe.isValid() or len(names) != 2:
        raise ValueError(f'QGIS cannot read {kmz} (layers found: {names})')
    vectors = []
    for layer_id, name in enumerate(names):
        layer = QgsVectorLayer(f'{kmz}|layerid={layer_id}', f'flood.kmz: {name}', 'ogr')
        if not layer.isValid():
            raise ValueError(f'QGIS cannot read layer {name!r} of {kmz}')
        if layer.geometryType() == QgsWkbTypes_polygon():
            symbol = QgsFillSymbol.createSimple(
                {'color': '0,0,0,0', 'outline_color': '#0a2a70', 'outline_width': '0.5'}
            )
            layer.setRenderer(QgsSingleSymbolRenderer(symbol))
        else:  # one colour per drone, by the placemark's name
            field = layer.fields().indexFromName('Name')
            categories = [
                QgsRendererCategory(
                    value,
                    QgsLineSymbol.createSimple(
                        {'color': TRACK_COLOURS[i % len(TRACK_COLOURS)], 'width': '0.5'}
                    ),
                    str(value),
                )
                for i, value in enumerate(sorted(layer.uniqueValues(field)))
            ]
            layer.setRenderer(QgsCategorizedSymbolRenderer('Name', categories))
        vectors.append(layer)
    return raster, vectors


def QgsWkbTypes_polygon() -> int:  # noqa: N802  (QGIS 3.22 and 3.30+ spell the enum differently)
    """Return the polygon geometry type constant of this QGIS version."""
    geometry_type = getattr(Qgis, 'GeometryType', None)
    if geometry_type is not None:
        return int(geometry_type.Polygon)
    from qgis.core import QgsWkbTypes

    return int(QgsWkbTypes.PolygonGeometry)


def render(map_dir: Path, png: Path, dpi: int) -> None:
    """Load the layers into a project and export a print layout of them to `png`."""
    project = QgsProject.instance()
    raster, vectors = load_layers(map_dir)
    project.setCrs(raster.crs())
    for layer in [raster, *vectors]:
        project.addMapLayer(layer)
        extent = layer.extent()
        digits = 7 if layer.crs().isGeographic() else 2  # about a centimetre either way
        corners = (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
        print(
            f'{layer.name()}: CRS {layer.crs().description() or layer.crs().toProj()}; extent '
            + ' '.join(f'{v:.{digits}f}' for v in corners)
        )

    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    extent = raster.extent()
    extent.scale(1.06)
    map_w = 170.0
    map_h = map_w * extent.height() / extent.width()
    page.setPageSize(QgsLayoutSize(map_w + 95, map_h + 26, QgsUnitTypes.LayoutMillimeters))

    title = QgsLayoutItemLabel(layout)
    title.setText(
        f'{map_dir.name}/flood_grid.tif + flood.kmz opened in QGIS '
        f'{Qgis.QGIS_VERSION.split("-")[0]}'
        f' (CRS "{raster.crs().description()}")'
    )
    title.setFont(QFont('DejaVu Sans', 10))
    title.attemptMove(QgsLayoutPoint(6, 2, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(map_w + 85, 8, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)

    item = QgsLayoutItemMap(layout)
    item.setRect(QRectF(0, 0, map_w, map_h))
    item.attemptMove(QgsLayoutPoint(16, 14, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(map_w, map_h, QgsUnitTypes.LayoutMillimeters))
    item.setExtent(extent)
    item.setCrs(raster.crs())
    item.setLayers([*vectors, raster])
    grid = QgsLayoutItemMapGrid('lat/lon', item)
    grid.setCrs(QgsCoordinateReferenceSystem('EPSG:4326'))
    grid.setIntervalX(0.001)
    grid.setIntervalY(0.001)
    grid.setAnnotationEnabled(True)
    grid.setAnnotationPrecision(3)
    annotation = QgsTextFormat()
    annotation.setFont(QFont('DejaVu Sans'))
    annotation.setSize(6)
    grid.setAnnotationTextFormat(annotation)
    grid.setFrameStyle(QgsLayoutItemMapGrid.Zebra)
    grid.setGridLineColor(QColor(80, 80, 80, 120))
    item.grids().addGrid(grid)
    layout.addLayoutItem(item)

    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(item)
    legend.setTitle('Layers')
    for style in (QgsLegendStyle.Title, QgsLegendStyle.Group, QgsLegendStyle.Subgroup):
        legend.setStyleFont(style, QFont('DejaVu Sans', 9, QFont.Bold))
    legend.setStyleFont(QgsLegendStyle.SymbolLabel, QFont('DejaVu Sans', 8))
    legend.attemptMove(QgsLayoutPoint(map_w + 30, 14, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)

    scale = QgsLayoutItemScaleBar(layout)
    scale.setLinkedMap(item)
    scale.setStyle('Single Box')
    scale.setUnits(QgsUnitTypes.DistanceMeters)
    scale.setUnitLabel('m')
    scale.setNumberOfSegments(2)
    scale.setNumberOfSegmentsLeft(0)
    scale.setUnitsPerSegment(50)
    scale_text = QgsTextFormat()
    scale_text.setFont(QFont('DejaVu Sans'))
    scale_text.setSize(8)
    scale.setTextFormat(scale_text)
    scale.attemptMove(QgsLayoutPoint(map_w + 30, map_h - 6, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(scale)

    arrow = QgsLayoutItemPicture(layout)
    arrow.setPicturePath(':/images/north_arrows/layout_default_north_arrow.svg')
    arrow.setLinkedMap(item)
    arrow.setNorthMode(QgsLayoutItemPicture.GridNorth)
    arrow.attemptMove(QgsLayoutPoint(map_w + 76, map_h - 30, QgsUnitTypes.LayoutMillimeters))
    arrow.attemptResize(QgsLayoutSize(12, 18, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(arrow)

    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = dpi
    png.parent.mkdir(parents=True, exist_ok=True)
    result = QgsLayoutExporter(layout).exportToImage(str(png), settings)
    if result != QgsLayoutExporter.Success:
        raise ValueError(f'QGIS could not write {png} (exporter result {result})')
    print(f'wrote {png}')


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, render, and return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('map_dir', type=Path, help='directory with flood_grid.tif and flood.kmz')
    parser.add_argument('--png', type=Path, required=True, help='the picture to write')
    parser.add_argument('--dpi', type=int, default=110, help='resolution (default 110)')
    args = parser.parse_args(argv)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        render(args.map_dir, args.png, args.dpi)
    except ValueError as exc:
        print(f'qgis_view: {exc}', file=sys.stderr)
        return 1
    finally:
        app.exitQgis()
    return 0


if __name__ == '__main__':
    sys.exit(main())
