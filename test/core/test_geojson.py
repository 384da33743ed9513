"""core.geojson: the one GeoJSON reader (polygons, positions) and writer (RFC 7946 features)."""

import pytest
from shapely.geometry import LineString, Polygon

from uav_flood.core import geojson
from uav_flood.core.geo import GeoPoint, LocalFrame

FRAME = LocalFrame(GeoPoint(47.397742, 8.545594, 488.0))


def _signed_area(ring):
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:], strict=False)) / 2


def test_polygons_are_written_counter_clockwise_with_clockwise_holes_in_lon_lat():
    clockwise = Polygon([(0, 0), (0, 100), (100, 100), (100, 0)], [[(40, 40), (60, 40), (60, 60)]])
    written = geojson.geometry(clockwise, FRAME)
    assert written['type'] == 'Polygon' and len(written['coordinates']) == 2
    outer, hole = written['coordinates']
    assert _signed_area(outer) > 0 > _signed_area(hole)
    lon, lat = outer[0]
    assert isinstance(lon, float) and lon == round(lon, 8)
    # Back through the frame: the first vertex is where it was (to the 8th decimal: ~1 mm).
    east, north, _ = FRAME.point_to_enu(GeoPoint(lat, lon, 488.0))
    assert (east, north) in [
        pytest.approx(p, abs=0.01) for p in [(0, 0), (100, 0), (100, 100), (0, 100)]
    ]


def test_lines_keep_their_order_and_features_their_properties():
    line = geojson.geometry(LineString([(0, 0), (50, 0), (50, 50)]), FRAME)
    assert line['type'] == 'LineString' and len(line['coordinates']) == 3
    assert line['coordinates'][1][0] > line['coordinates'][0][0]  # east is +lon
    feature = geojson.feature(line, {'layer': 'passable_road'})
    document = geojson.feature_collection([feature])
    assert document == {'type': 'FeatureCollection', 'features': [feature]}
    assert feature['properties'] == {'layer': 'passable_road'}


def test_the_reader_walks_collections_and_marks_no_fly_features():
    square = {'type': 'Polygon', 'coordinates': [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    document = {
        'type': 'FeatureCollection',
        'features': [
            {'type': 'Feature', 'properties': {}, 'geometry': square},
            {'type': 'Feature', 'properties': {'no_fly': True}, 'geometry': square},
            {
                'type': 'Feature',
                'properties': {'kind': 'no_fly'},
                'geometry': {'type': 'MultiPolygon', 'coordinates': [square['coordinates']] * 2},
            },
            {'type': 'Feature', 'geometry': {'type': 'Point', 'coordinates': [0, 0]}},
            'not a feature',
        ],
    }
    found = list(geojson.polygon_coordinates(document))
    assert [no_fly for _, no_fly in found] == [False, True, True, True]
    assert geojson.outer_ring(found[0][0]) == square['coordinates'][0]
    assert geojson.outer_ring([]) is None


def test_nesting_and_positions_are_refused_in_words():
    document = {'type': 'Polygon', 'coordinates': [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    for _ in range(geojson.MAX_NESTING + 2):
        document = {'type': 'Feature', 'geometry': document}
    with pytest.raises(geojson.GeoJsonError, match='nested more than'):
        list(geojson.polygon_coordinates(document))
    assert geojson.position([8.5, 47.3], 10.0) == GeoPoint(47.3, 8.5, 10.0)
    for bad in ([8.5], ['a', 'b'], [8.5, 95.0], None):
        with pytest.raises(geojson.GeoJsonError, match='bad position'):
            geojson.position(bad)
