"""`uav-flood export`: GeoJSON in WGS84, georeferenced raster, figure, page; bad input exit 2."""

import io
import json
from pathlib import Path
import zipfile

import cv2
import numpy as np
import pytest
from shapely.geometry import shape

from uav_flood.cli import main
from uav_flood.core.flood_map import FloodMap
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.georef import GridPatch

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)


def make_checkpoint(tmp_path: Path) -> Path:
    """Return a checkpoint: an 80 m x 50 m lake with a 10 m island, inside a 150 m x 100 m area."""
    flood_map = FloodMap()
    data = np.zeros((200, 300), np.int8)
    data[50:150, 40:200] = 100
    data[90:110, 90:110] = 0
    for _ in range(3):
        flood_map.apply(GridPatch(-50.0, -30.0, 0.5, 300, 200, data))
    path = flood_map.save(tmp_path / 'map.npz')
    tracks = {'tracks': {'uav0': [[-40.0, -20.0, 30.0], [90.0, 60.0, 30.0]]}}
    (tmp_path / 'map.npz.tracks.json').write_text(json.dumps(tracks))
    return path


def test_export_writes_every_file_georeferenced(tmp_path, capsys):
    path = make_checkpoint(tmp_path)
    out = tmp_path / 'out'
    assert (
        main(['export', str(path), '--origin', '47.397742,8.545594,488', '--out', str(out)]) == 0
    )
    assert 'map.html' in capsys.readouterr().out
    collection = json.loads((out / 'flood.geojson').read_text())
    (feature,) = collection['features']
    assert feature['properties']['area_m2'] == pytest.approx(80 * 50 - 10 * 10)
    assert feature['properties']['mean_confidence'] > 0.95
    rings = feature['geometry']['coordinates']
    assert len(rings) == 2  # the island is a hole
    frame = LocalFrame(ORIGIN)
    lon, lat = np.asarray(rings[0]).T
    east, north, _ = frame.to_enu(lat, lon)
    assert east.min() == pytest.approx(-30.0, abs=0.01)
    assert east.max() == pytest.approx(50.0, abs=0.01)
    assert north.min() == pytest.approx(-5.0, abs=0.01) and north.max() == pytest.approx(
        45.0, abs=0.01
    )
    assert shape(feature['geometry']).exterior.is_ccw  # RFC 7946 right-hand rule
    # Raster: north up, world file maps pixel centres to map ENU metres; 255 unknown.
    raster = cv2.imread(str(out / 'flood_grid.png'), cv2.IMREAD_UNCHANGED)
    assert raster.shape == (200, 300) and raster.dtype == np.uint8
    a, _, _, e, c, f = (float(v) for v in (out / 'flood_grid.pgw').read_text().split())
    assert (a, e, c, f) == (0.5, -0.5, -49.75, 69.75)
    col, row = round((10.0 - c) / a), round((20.0 - f) / e)  # (10, 20) m ENU: lake
    assert raster[row, col] > 90
    col, row = round((-45.0 - c) / a), round((60.0 - f) / e)  # dry corner
    assert raster[row, col] < 10
    assert 'Azimuthal_Equidistant' in (out / 'flood_grid.prj').read_text()
    # GeoTIFF, read by GDAL itself (rasterio): the same values, CRS, nodata and placement.
    import pyproj
    import rasterio

    with rasterio.open(out / 'flood_grid.tif') as tif:
        assert tif.driver == 'GTiff' and tif.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
        assert tif.nodata == 255 and tif.count == 1 and tif.dtypes == ('uint8',)
        assert np.array_equal(tif.read(1), raster)
        assert tif.bounds == pytest.approx((-50.0, -30.0, 100.0, 70.0))
        assert tif.bounds.left <= 0.0 <= tif.bounds.right  # the origin is in it
        assert tif.bounds.bottom <= 0.0 <= tif.bounds.top
        row, col = tif.index(10.0, 20.0)  # the lake, as in the PNG
        assert raster[row, col] > 90
        crs = pyproj.CRS.from_wkt(tif.crs.to_wkt())
    # Named, so QGIS does not list it as "unknown"; on the WGS 84 datum.
    assert crs.name.startswith('uav_flood map: azimuthal equidistant about ')
    assert crs.geodetic_crs.name == 'WGS 84' and crs.datum.name == 'World Geodetic System 1984'
    # The CRS puts a map point where the stack's own frame does (to a millimetre).
    to_wgs84 = pyproj.Transformer.from_crs(crs, 'EPSG:4326', always_xy=True)
    lon, lat = to_wgs84.transform(10.0, 20.0)
    east, north, _ = LocalFrame(ORIGIN).to_enu(lat, lon)
    assert (float(east), float(north)) == pytest.approx((10.0, 20.0), abs=1e-3)
    # KMZ for Google Earth: the same polygon (hole kept) and the track, on the map.
    from xml.etree import ElementTree as ET

    ns = {'k': 'http://www.opengis.net/kml/2.2'}
    with zipfile.ZipFile(out / 'flood.kmz') as kmz:
        assert kmz.namelist()[0] == 'doc.kml'
        kml = ET.fromstring(kmz.read('doc.kml'))

    def ring(element):
        points = [p.split(',') for p in element.findtext('k:coordinates', '', ns).split()]
        lon, lat = np.asarray([(float(p[0]), float(p[1])) for p in points]).T
        e, n, _ = frame.to_enu(lat, lon)
        return list(zip(e, n, strict=True))

    (placemark,) = kml.findall('.//k:Folder/k:Placemark[k:Polygon]', ns)
    outer = ring(placemark.find('.//k:outerBoundaryIs/k:LinearRing', ns))
    holes = [ring(r) for r in placemark.findall('.//k:innerBoundaryIs/k:LinearRing', ns)]
    from shapely.geometry import Polygon

    assert Polygon(outer, holes).area == pytest.approx(80 * 50 - 10 * 10, rel=1e-4)
    values = {
        d.get('name'): d.findtext('k:value', '', ns) for d in placemark.iter(f'{{{ns["k"]}}}Data')
    }
    assert float(values['area_m2']) == pytest.approx(feature['properties']['area_m2'])
    (track,) = kml.findall('.//k:Placemark[k:LineString]', ns)
    assert track.findtext('k:name', '', ns) == 'uav0'
    assert np.allclose(ring(track.find('k:LineString', ns)), [(-40, -20), (90, 60)], atol=1e-3)
    figure = cv2.imread(str(out / 'flood_map.png'))
    assert figure is not None and figure.shape[1] >= 900
    page = (out / 'map.html').read_text()
    assert 'data:image/png;base64,' in page and '<path d="M' in page and 'http' not in page
    assert 'name="viewport"' in page  # fits a phone's width
    # The coordinates under the cursor: figure pixel -> lon/lat, as the page computes them.
    import re

    from uav_flood.export import render_figure

    a = json.loads(re.search(r'var affine = (\[[^\]]*\])', page).group(1))
    flood_map = FloodMap.load(path)
    polygons = flood_map.flood_polygons(0.5, min_area_m2=10.0)
    _, geometry = render_figure(flood_map, polygons, {}, 0.5, 'Flood map')
    for east_m, north_m in ((10.0, 20.0), (-49.0, -29.0), (99.0, 69.0)):
        px = geometry['x0'] + (east_m - geometry['east0']) * geometry['scale']
        py = geometry['y0'] + (geometry['north1'] - north_m) * geometry['scale']
        lat, lon, _ = frame.to_geodetic(east_m, north_m)
        assert a[0] * px + a[1] * py + a[2] == pytest.approx(float(lon), abs=1e-7)
        assert a[3] * px + a[4] * py + a[5] == pytest.approx(float(lat), abs=1e-7)


def test_the_stored_origin_needs_no_option_and_a_wrong_one_is_refused(tmp_path, capsys):
    flood_map = FloodMap.load(make_checkpoint(tmp_path))
    flood_map.origin = ORIGIN
    path = flood_map.save(tmp_path / 'stored.npz')
    out = tmp_path / 'out'
    assert main(['export', str(path), '--out', str(out)]) == 0
    capsys.readouterr()
    (feature,) = json.loads((out / 'flood.geojson').read_text())['features']
    lon, lat = np.asarray(feature['geometry']['coordinates'][0]).T
    east, _, _ = LocalFrame(ORIGIN).to_enu(lat, lon)
    assert east.min() == pytest.approx(-30.0, abs=0.01)  # placed about the stored origin
    # The same origin given again is fine; latitude and longitude swapped are refused.
    same = f'{ORIGIN.lat_deg},{ORIGIN.lon_deg},{ORIGIN.alt_m}'
    assert main(['export', str(path), '--origin', same, '--out', str(out)]) == 0
    capsys.readouterr()
    swapped = f'{ORIGIN.lon_deg},{ORIGIN.lat_deg},{ORIGIN.alt_m}'
    before = (out / 'flood.geojson').read_bytes()
    assert main(['export', str(path), '--origin', swapped, '--out', str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert 'km from the origin' in line and 'swapped?' in line
    assert (out / 'flood.geojson').read_bytes() == before
    # A checkpoint without an origin needs --origin.
    bare = make_checkpoint(tmp_path / 'bare' if (tmp_path / 'bare').mkdir() is None else tmp_path)
    assert main(['export', str(bare), '--out', str(tmp_path / 'o2')]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert 'stores no mission origin' in line and '--origin' in line


def test_tracks_are_drawn(tmp_path):
    from uav_flood.export import TRACK_BGR

    path = make_checkpoint(tmp_path)
    out = tmp_path / 'out'
    assert main(['export', str(path), '--origin', '47.4,8.5,0', '--out', str(out)]) == 0
    figure = cv2.imread(str(out / 'flood_map.png'))
    assert np.count_nonzero(np.all(figure == TRACK_BGR[0], axis=2)) > 100


@pytest.mark.parametrize('how', ['missing', 'corrupt', 'bad_origin', 'empty'])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, how):
    path = tmp_path / 'map.npz'
    origin = '47.4,8.5,0'
    if how == 'corrupt':
        path.write_bytes(b'not a checkpoint')
    elif how == 'bad_origin':
        make_checkpoint(tmp_path)
        origin = '147.4,8.5'
    elif how == 'empty':
        FloodMap().save(path)
    code = main(['export', str(path), '--origin', origin, '--out', str(tmp_path / 'o')])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith('uav-flood export: error:') and err.count('\n') == 1


# -- hostile checkpoints and tracks: refused before anything is decompressed or written ---------


def npz(path: Path, arrays: dict[str, bytes]) -> Path:
    """Write a zip of raw .npy members (headers may claim what the data does not hold)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data in arrays.items():
            archive.writestr(f'{name}.npy', data)
    return path


def npy(array: np.ndarray | None = None, shape: tuple[int, ...] = (), dtype: str = '<u2') -> bytes:
    buffer = io.BytesIO()
    if array is not None:
        np.save(buffer, array)
    else:  # a header only, as a zip bomb's member starts
        header = {'descr': dtype, 'fortran_order': False, 'shape': shape}
        np.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(b'\x00' * 4096)
    return buffer.getvalue()


def export_refused(tmp_path, capsys, args, fragment):
    code = main(['export', *args, '--origin', '47.4,8.5,0', '--out', str(tmp_path / 'o')])
    err = capsys.readouterr().err
    assert code == 2 and 'Traceback' not in err
    assert err.startswith('uav-flood export: error: ') and err.count('\n') == 1, err
    assert fragment in err, err
    assert not (tmp_path / 'o').exists()


def test_a_checkpoint_claiming_a_huge_grid_is_refused_before_decompressing(tmp_path, capsys):
    good = make_checkpoint(tmp_path)
    with np.load(good) as archive:
        header = npy(archive['header'])
    # A 20000 x 20000 grid (800 MB a member once inflated) in a file of a few KB.
    bomb = npz(
        tmp_path / 'bomb.npz',
        {'header': header, 'water': npy(shape=(20000, 20000)), 'dry': npy(shape=(20000, 20000))},
    )
    export_refused(
        tmp_path,
        capsys,
        [str(bomb)],
        'water array of 20000 x 20000 = 400000000 cells is above the 64000000 cell limit '
        '(--max-cells)',
    )
    # The same with the current array names.
    bomb = npz(
        tmp_path / 'bomb3.npz',
        {
            'header': header,
            'evidence': npy(shape=(20000, 20000)),
            'count': npy(shape=(20000, 20000)),
        },
    )
    export_refused(tmp_path, capsys, [str(bomb)], 'evidence array of 20000 x 20000')
    # --max-cells lowers the limit for real checkpoints too (this one has 300 x 200 cells).
    export_refused(tmp_path, capsys, [str(good), '--max-cells', '50000'], 'above the 50000 cell')
    export_refused(tmp_path, capsys, [str(good), '--max-cells', '0'], '--max-cells must be at')


@pytest.mark.parametrize('how', ['plain_npy', 'deep_header', 'huge_header', 'bad_npy_header'])
def test_malformed_checkpoints_are_one_line(tmp_path, capsys, how):
    path = tmp_path / 'map.npz'
    small = npy(np.zeros((2, 2), np.uint16))
    if how == 'plain_npy':  # np.load would read a bare .npy of any claimed shape
        path.write_bytes(npy(shape=(100_000, 100_000)))
        fragment = 'not a checkpoint (.npz: a zip archive of arrays)'
    elif how == 'deep_header':
        deep = np.frombuffer(b'[' * 100_000 + b']' * 100_000, np.uint8)
        npz(path, {'header': npy(deep), 'water': small, 'dry': small})
        fragment = 'header JSON nested too deeply'
    elif how == 'huge_header':
        npz(path, {'header': npy(shape=(10**9,), dtype='|u1'), 'water': small, 'dry': small})
        fragment = 'header array of 1000000000 = 1000000000 cells is above'
    else:
        npz(path, {'header': b'\x93NUMPY\x01\x00\x10\x00{(((((((((((((', 'water': small})
        fragment = 'unreadable ('
    export_refused(tmp_path, capsys, [str(path)], fragment)


@pytest.mark.parametrize(
    ('content', 'fragment'),
    [
        ('[' * 100_000 + ']' * 100_000, 'is not usable JSON: it is nested too deeply'),
        ('{"tracks": {"uav0": [[NaN, 0, 30]]}}', 'uav0 has a point that is not a finite number'),
        ('{"tracks": {"uav0": [[1e999, 0, 30]]}}', 'uav0 has a point that is not a finite'),
        ('{"tracks": 5}', 'unreadable (AttributeError'),
    ],
)
def test_hostile_tracks_are_one_line(tmp_path, capsys, content, fragment):
    path = make_checkpoint(tmp_path)
    (tmp_path / 'map.npz.tracks.json').write_text(content)
    export_refused(tmp_path, capsys, [str(path)], fragment)


def test_out_never_replaces_the_checkpoint_or_its_tracks(tmp_path, capsys):
    path = make_checkpoint(tmp_path)
    tracks = tmp_path / 'map.npz.tracks.json'
    renamed = tmp_path / 'flood.geojson'  # a checkpoint named like an output
    renamed.write_bytes(path.read_bytes())
    for source, extra in ((renamed, []), (path, ['--tracks', str(tmp_path / 'map.html')])):
        if extra:
            (tmp_path / 'map.html').write_text(tracks.read_text())
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        args = [str(source), *extra, '--origin', '47.4,8.5,0', '--out', str(tmp_path)]
        code = main(['export', *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count('\n') == 1 and 'would overwrite the input' in err, err
        assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_geotiff_gdal_cannot_write_is_one_line(tmp_path, capsys):
    path = make_checkpoint(tmp_path)
    out = tmp_path / 'out'
    (out / 'flood_grid.tif').mkdir(parents=True)  # a folder where the file goes
    code = main(['export', str(path), '--origin', '47.4,8.5,0', '--out', str(out)])
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith('uav-flood export: error: cannot write: GDAL could not write')
    assert 'flood_grid.tif' in line


QGIS_PYTHON = '/usr/bin/python3'


def qgis_available() -> bool:
    import subprocess

    probe = subprocess.run(
        [QGIS_PYTHON, '-c', 'import qgis.core'], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def test_qgis_reads_the_geotiff_and_the_kmz_onto_the_same_place(tmp_path):
    """QGIS itself (GDAL/OGR inside it): the GeoTIFF's CRS and extent, the KMZ's polygons back
    on the lake; tools/qgis_view.py also renders the view (the README's picture)."""
    import os
    import subprocess

    if not Path(QGIS_PYTHON).exists() or not qgis_available():
        pytest.skip('QGIS Python bindings (apt python3-qgis) not installed')
    path = make_checkpoint(tmp_path)
    out = tmp_path / 'out'
    assert (
        main(['export', str(path), '--origin', '47.397742,8.545594,488', '--out', str(out)]) == 0
    )
    tool = Path(__file__).resolve().parents[1] / 'tools' / 'qgis_view.py'
    png = tmp_path / 'view.png'
    result = subprocess.run(
        [QGIS_PYTHON, str(tool), str(out), '--png', str(png), '--dpi', '60'],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, 'QT_QPA_PLATFORM': 'offscreen'},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = {
        line.split(': CRS ')[0]: line for line in result.stdout.splitlines() if '; extent ' in line
    }
    tif = lines['flood_grid.tif: P(water)']
    assert 'CRS uav_flood map: azimuthal equidistant about 47.397742, 8.545594;' in tif
    assert [float(v) for v in tif.split('; extent ')[1].split()] == [-50.0, -30.0, 100.0, 70.0]
    for layer, box in (
        ('flood.kmz: Flood water (1 polygons)', (-30.0, -5.0, 50.0, 45.0)),  # the lake
        ('flood.kmz: Drone tracks', (-40.0, -20.0, 90.0, 60.0)),
    ):
        west, south, east, north = (float(v) for v in lines[layer].split('; extent ')[1].split())
        e, n, _ = LocalFrame(ORIGIN).to_enu(np.array([south, north]), np.array([west, east]))
        assert (e[0], n[0], e[1], n[1]) == pytest.approx(box, abs=0.05), layer
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] > 400
    # A directory without the export: one line, exit 1.
    result = subprocess.run(
        [QGIS_PYTHON, str(tool), str(tmp_path), '--png', str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, 'QT_QPA_PLATFORM': 'offscreen'},
        check=False,
    )
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'flood_grid.tif not found' in result.stderr


def test_qgis_view_without_qgis_says_what_to_install(tmp_path):
    import subprocess
    import sys

    tool = Path(__file__).resolve().parents[1] / 'tools' / 'qgis_view.py'
    result = subprocess.run(
        [sys.executable, str(tool), str(tmp_path), '--png', str(tmp_path / 'x.png')],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # the project's environment has no QGIS bindings (they come with QGIS, not PyPI)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert 'install python3-qgis' in result.stderr


def make_land_cover(tmp_path: Path, resolution_m: float = 0.5) -> Path:
    """Save beside make_checkpoint's map a land cover: a flooded building, a road with a
    flooded middle, the rest grass (the lake's cells water)."""
    from uav_flood.core.class_map import ClassMap, ClassObservation, top_evidence
    from uav_flood.core.responder_layers import CLASSES

    labels = np.full((200, 300), CLASSES.index('grass'), np.int8)
    labels[50:150, 40:200] = CLASSES.index('water')
    labels[160:180, 220:250] = CLASSES.index('building-flooded')  # 15 m x 10 m
    labels[20:30, 10:290] = CLASSES.index('road-non-flooded')  # 5 m wide, 140 m long
    labels[20:30, 120:180] = CLASSES.index('road-flooded')
    classes = ClassMap(resolution_m)
    observation = ClassObservation(labels, np.full(labels.shape, 230, np.uint8))
    col0, row0 = round(-50.0 / resolution_m), round(-30.0 / resolution_m)
    classes.fuse(col0, row0, top_evidence(observation), observation.seen)
    return classes.save(tmp_path / 'map.npz.classes.npz')


def test_the_land_cover_adds_building_and_road_layers_everywhere(tmp_path, capsys):
    path = make_checkpoint(tmp_path)
    make_land_cover(tmp_path)
    out = tmp_path / 'out'
    assert (
        main(['export', str(path), '--origin', '47.397742,8.545594,488', '--out', str(out)]) == 0
    )  # found beside the checkpoint
    features = json.loads((out / 'flood.geojson').read_text())['features']
    by_layer = {}
    for feature in features:
        by_layer.setdefault(feature['properties']['layer'], []).append(feature)
    assert sorted(by_layer) == ['flooded_building', 'flooded_road', 'passable_road', 'water']
    (building,) = by_layer['flooded_building']
    assert building['properties']['area_m2'] == pytest.approx(150.0)
    assert shape(building['geometry']).exterior.is_ccw
    frame = LocalFrame(ORIGIN)
    lon, lat = np.asarray(building['geometry']['coordinates'][0]).T
    east, north, _ = frame.to_enu(lat, lon)
    assert (east.min(), east.max()) == pytest.approx((60.0, 75.0), abs=0.3)
    assert (north.min(), north.max()) == pytest.approx((50.0, 60.0), abs=0.3)
    flooded = sum(f['properties']['length_m'] for f in by_layer['flooded_road'])
    passable = sum(f['properties']['length_m'] for f in by_layer['passable_road'])
    assert flooded == pytest.approx(30.0, abs=3.0)  # the middle 60 cells
    assert passable == pytest.approx(140.0 - 5.0 - 30.0, abs=6.0)  # the rest, less the ends
    assert all(f['geometry']['type'] == 'LineString' for f in by_layer['passable_road'])
    assert all(not f['properties']['passable'] for f in by_layer['flooded_road'])
    page = (out / 'map.html').read_text()
    for layer in by_layer:
        assert f'id="layer-{layer}"' in page and f'data-layer="{layer}"' in page
    assert 'flooded building 1: 150 m2' in page
    import rasterio

    with (
        rasterio.open(out / 'land_cover.tif') as tif,
        rasterio.open(out / 'flood_grid.tif') as wet,
    ):
        classes = tif.read(1)
        assert tif.crs == wet.crs and tif.nodata == 255 and tif.res == (0.5, 0.5)
        assert tif.colormap(1)[1] == (255, 0, 0, 255)  # building-flooded in FloodNet's red
        row, col = tif.index(67.5, 55.0)  # the building's middle
        assert classes[row, col] == 1
        row, col = tif.index(0.0, 20.0)  # the lake
        assert classes[row, col] == 5
        assert tif.tags(1)['class_9'] == 'grass'
    with zipfile.ZipFile(out / 'flood.kmz') as kmz:
        kml = kmz.read('doc.kml').decode()
    assert 'Flooded buildings (1)' in kml and '#flooded_building' in kml
    assert '#passable_road' in kml and '#flooded_road' in kml and 'km flooded)' in kml
    figure = cv2.imread(str(out / 'flood_map.png'))
    assert figure.shape[0] > 300
    # An explicit file at another resolution is refused in one line.
    other = tmp_path / 'coarse'
    other.mkdir()
    coarse = make_land_cover(other, resolution_m=1.0)
    code = main(
        [
            'export',
            str(path),
            '--origin',
            '47.397742,8.545594,488',
            '--out',
            str(tmp_path / 'o2'),
            '--classes',
            str(coarse),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert 'land cover at 1.0 m, the map at 0.5 m' in err and 'Traceback' not in err
    code = main(
        [
            'export',
            str(path),
            '--origin',
            '47.397742,8.545594,488',
            '--out',
            str(tmp_path / 'o3'),
            '--classes',
            'no.npz',
        ]
    )
    assert code == 2 and 'no such land-cover file' in capsys.readouterr().err
    (tmp_path / 'broken.npz').write_bytes(b'not a class map')
    broken = str(tmp_path / 'broken.npz')
    code = main(['export', str(path), '--origin', '47.397742,8.545594,488', '--out',
                 str(tmp_path / 'o4'), '--classes', broken])  # fmt: skip
    assert code == 2 and 'unreadable checkpoint' in capsys.readouterr().err
