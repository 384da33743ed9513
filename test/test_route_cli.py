"""`uav-flood route`: passable roads between points on a checkpoint's land cover."""

import json

import pytest

from test_export_cli import make_checkpoint, make_land_cover, ORIGIN  # noqa: I001
from uav_flood.cli import main
from uav_flood.core.geo import LocalFrame

ORIGIN_ARG = '47.397742,8.545594,488'


def latlon(east, north):
    lat, lon, _ = LocalFrame(ORIGIN).to_geodetic(east, north)
    return f'{float(lat):.8f},{float(lon):.8f}'


@pytest.fixture
def checkpoint(tmp_path):
    """make_land_cover's road: 5 m wide along north -20..-15 m, east -45..95 m, flooded over
    east 10..40 m."""
    path = make_checkpoint(tmp_path)
    make_land_cover(tmp_path)
    return path


def test_reachable_flooded_and_far_destinations(checkpoint, tmp_path, capsys):
    out = tmp_path / 'routes.geojson'
    code = main([
        'route', str(checkpoint), '--origin', ORIGIN_ARG, '--from', latlon(-40.0, -17.5),
        '--to', latlon(0.0, -17.5), '--to', latlon(80.0, -17.5), '--to', latlon(25.0, -16.0),
        '--to', latlon(0.0, 60.0), '--out', str(out),
    ])  # fmt: skip
    assert code == 1  # some are not reachable
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('roads on the map: 0.1') and 'km flooded' in lines[0]
    reachable, beyond, on_flood, far = lines[1:5]
    assert 'reachable, 40 m along passable roads' in reachable
    assert 'NOT reachable: no passable road connects them' in beyond
    assert 'NOT reachable: the road nearest the goal is flooded there' in on_flood
    assert 'NOT reachable: no road within 30 m of the goal' in far
    features = json.loads(out.read_text())['features']
    assert [f['properties']['found'] for f in features] == [True, False, False, False]
    assert features[0]['geometry']['type'] == 'LineString'
    assert features[0]['properties']['length_m'] == pytest.approx(40.0, abs=1.0)
    assert features[1]['geometry'] is None and features[1]['properties']['length_m'] is None


def test_destinations_from_geojson_and_all_reachable_is_exit_0(checkpoint, tmp_path, capsys):
    lat, lon = (float(v) for v in latlon(-10.0, -17.5).split(','))
    places = tmp_path / 'places.geojson'
    places.write_text(json.dumps({'type': 'FeatureCollection', 'features': [
        {'type': 'Feature', 'properties': {'name': 'shelter'},
         'geometry': {'type': 'Point', 'coordinates': [lon, lat]}},
        {'type': 'Feature', 'properties': {}, 'geometry': {'type': 'LineString',
                                                            'coordinates': [[0, 0], [1, 1]]}},
    ]}))  # fmt: skip
    code = main(['route', str(checkpoint), '--origin', ORIGIN_ARG, '--from',
                 latlon(-40.0, -17.5), '--destinations', str(places)])  # fmt: skip
    assert code == 0
    assert 'shelter: reachable, 30 m along passable roads' in capsys.readouterr().out


@pytest.mark.parametrize(
    ('extra', 'message'),
    [
        ([], 'no destination'),
        (['--to', '95,200'], 'latitude 95.0 out of range'),
        (['--to', '1,2', '--snap', '0'], '--snap must be > 0 m'),
        (['--to', '1,2', '--classes', 'missing.npz'], 'no such land-cover file'),
        (['--to', '1,2', '--destinations', 'nowhere.geojson'], 'nowhere.geojson'),
    ],
)
def test_bad_input_is_one_line_exit_2(checkpoint, capsys, extra, message):
    code = main(['route', str(checkpoint), '--origin', ORIGIN_ARG, '--from', '47.39,8.54',
                 *extra])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1 and 'Traceback' not in err


def test_a_map_without_land_cover_says_so(tmp_path, capsys):
    path = make_checkpoint(tmp_path)
    code = main(['route', str(path), '--origin', ORIGIN_ARG, '--from', '47.39,8.54', '--to',
                 '47.39,8.55'])  # fmt: skip
    assert code == 2 and 'no such land-cover file' in capsys.readouterr().err
