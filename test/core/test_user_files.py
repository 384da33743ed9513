"""Files people hand in: size limit, deep nesting and outputs that would replace inputs."""

import json
import os
from pathlib import Path

import pytest

from uav_flood.core.coverage import Area, first_vertex, PlanningError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.geojson import MAX_NESTING
from uav_flood.core.mission import MissionError
from uav_flood.core.safety import Geofence
from uav_flood.core.user_files import (
    input_overwritten,
    load_json,
    MAX_DOCUMENT_BYTES,
    read_text,
    UserFileError,
)

FRAME = LocalFrame(GeoPoint(47.4, 8.5, 0.0))
DEEP = '[' * 100_000 + ']' * 100_000
SQUARE = {
    'type': 'Polygon',
    'coordinates': [[[8.5, 47.4], [8.501, 47.4], [8.501, 47.401], [8.5, 47.401], [8.5, 47.4]]],
}


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk space (a hole)."""
    with path.open('wb') as f:
        f.truncate(size)
    return path


def test_read_text_limits_the_size(tmp_path: Path) -> None:
    path = tmp_path / 'a.json'
    path.write_text('x' * 100)
    assert read_text(path, max_bytes=100) == 'x' * 100
    with pytest.raises(UserFileError, match='a.json is larger than the 99 bytes limit'):
        read_text(path, max_bytes=99)
    big = sparse_file(tmp_path / 'big.geojson', MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(UserFileError, match='larger than the 50 MB limit'):
        read_text(big)


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(UserFileError, match='cannot read .*nope.json: No such file'):
        read_text(tmp_path / 'nope.json')
    with pytest.raises(UserFileError, match='cannot read area file .*: Is a directory'):
        read_text(tmp_path, 'area file')
    binary = tmp_path / 'bin.json'
    binary.write_bytes(b'\xff\xfe\x00')
    with pytest.raises(UserFileError, match='bin.json is not UTF-8 text'):
        read_text(binary)


def test_load_json_refuses_deep_nesting_without_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / 'deep.json'
    path.write_text(DEEP)
    with pytest.raises(UserFileError, match='deep.json is not usable JSON: it is nested too'):
        load_json(path)
    path.write_text('{"a": ')
    with pytest.raises(UserFileError, match='is not JSON: Expecting value'):
        load_json(path)


def test_input_overwritten_follows_links_and_dot_dot(tmp_path: Path) -> None:
    source = tmp_path / 'in.json'
    source.write_text('{}')
    (tmp_path / 'out').mkdir()
    assert input_overwritten([tmp_path / 'out' / 'in.json'], [source]) is None
    assert input_overwritten([tmp_path / 'out' / '..' / 'in.json'], [source, None]) == (
        tmp_path / 'out' / '..' / 'in.json',
        source,
    )
    (tmp_path / 'out' / 'plan.png').symlink_to(source)
    clash = input_overwritten([tmp_path / 'out' / 'plan.png'], [os.fspath(source)])
    assert clash is not None and clash[1] == source


@pytest.mark.parametrize('reader', ['area', 'first_vertex', 'geofence'])
def test_area_and_geofence_readers_refuse_deep_and_huge_files(tmp_path: Path, reader: str) -> None:
    deep = tmp_path / 'deep.geojson'
    deep.write_text(DEEP)
    huge = sparse_file(tmp_path / 'huge.geojson', MAX_DOCUMENT_BYTES + 1)
    for path, message in ((deep, 'nested too deeply'), (huge, 'larger than the 50 MB limit')):
        if reader == 'geofence':
            with pytest.raises(MissionError, match=message):
                Geofence.from_geojson(path, FRAME)
        else:
            with pytest.raises(PlanningError, match=message):
                if reader == 'area':
                    Area.from_geojson(path, FRAME)
                else:
                    first_vertex(path)


def test_features_nested_past_the_limit(tmp_path: Path) -> None:
    # Under the parser's limit, over the reader's: a PlanningError, not a RecursionError.
    document: dict[str, object] = SQUARE
    for _ in range(MAX_NESTING + 5):
        document = {'type': 'Feature', 'geometry': document}
    with pytest.raises(PlanningError, match=f'nested more than {MAX_NESTING} levels'):
        Area.from_geojson(document, FRAME)
    document = SQUARE
    for _ in range(900):
        document = {'type': 'Feature', 'geometry': document}
    path = tmp_path / 'features.geojson'
    path.write_text(json.dumps(document))
    # The geofence reads GeoJSON as the planner does (core.geojson): the same limit and words.
    with pytest.raises(MissionError, match=f'nested more than {MAX_NESTING} levels'):
        Geofence.from_geojson(path, FRAME)


@pytest.mark.parametrize(
    'document',
    [
        {'type': 'FeatureCollection', 'features': 5},
        {'type': 'MultiPolygon', 'coordinates': 7},
        {'type': 'Polygon', 'coordinates': [[{'0': 8.5, '1': 47.4}] * 5]},
        {'type': 'Polygon', 'coordinates': [[[10**400, 47.4]] * 5]},
    ],
)
def test_malformed_members_are_planning_errors(document: dict[str, object]) -> None:
    with pytest.raises(PlanningError):
        Area.from_geojson(document, FRAME)


def test_properties_that_are_not_a_mapping_are_ignored() -> None:
    area = Area.from_geojson({'type': 'Feature', 'properties': [1], 'geometry': SQUARE}, FRAME)
    assert area.no_fly is None and area.region.area > 0.0
