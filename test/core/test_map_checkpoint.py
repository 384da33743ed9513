"""core.map_checkpoint: the files of a flood-map checkpoint, saved and reloaded without ROS."""

from __future__ import annotations

import json

from uav_flood.core.class_map import ClassMap
from uav_flood.core.delivery import DeliveryLedger
from uav_flood.core.flood_map import FloodMap, FusionConfig
from uav_flood.core.geo import GeoPoint
from uav_flood.core.map_checkpoint import (
    classes_path,
    delivery_path,
    MapCheckpoint,
    tracks_path,
)
from uav_flood.core.plausibility import ObservationGate, PlausibilityConfig

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
CONFIG = FusionConfig(resolution_m=0.5, max_extent_m=200.0)


def _saved(tmp_path):
    flood_map = FloodMap(CONFIG)
    flood_map.origin = ORIGIN
    classes = ClassMap(0.5, 401)
    tracks = {'uav0': [(0.0, 0.0, 30.0), (5.0, 0.0, 30.0)], 'uav1': []}
    ledger = DeliveryLedger(['uav0', 'uav1'], immediate=False)
    gate = ObservationGate(PlausibilityConfig(), ['uav0', 'uav1'], 1000.0)
    files = MapCheckpoint(tmp_path / 'map.npz')
    path = files.save(flood_map, classes, tracks, ledger, gate, 'map')
    return files, path


def test_every_file_is_written_beside_the_map_and_read_back(tmp_path):
    files, path = _saved(tmp_path)
    for beside in (classes_path(path), tracks_path(path), delivery_path(path)):
        assert beside.is_file() and beside.parent == path.parent
    assert json.loads(tracks_path(path).read_text())['frame'] == 'map'
    flood_map, loaded = files.load_map(CONFIG, ORIGIN)
    assert loaded.level == 'info' and not loaded.set_aside and flood_map.origin is not None
    tracks = {'uav0': [], 'uav1': [], 'uav2': []}
    assert files.load_tracks(tracks).note == ''
    assert tracks['uav0'] == [(0.0, 0.0, 30.0), (5.0, 0.0, 30.0)] and tracks['uav2'] == []
    classes, loaded = files.load_classes(0.5, 401)
    assert loaded.level == 'info' and classes.observations_applied == 0
    ledger = DeliveryLedger(['uav0', 'uav1'])
    gate = ObservationGate(PlausibilityConfig(), ['uav0', 'uav1'], 0.0)
    loaded = files.load_delivery(ledger, gate, flood_map.observations_applied)
    assert loaded.level == 'info' and 'observation ids already fused' in loaded.note
    assert gate.started_s == 1000.0


def test_unreadable_files_are_set_aside_and_said_so(tmp_path):
    files, path = _saved(tmp_path)
    classes_path(path).write_bytes(b'not a class map')
    delivery_path(path).write_bytes(b'not a delivery state')
    tracks_path(path).write_text('{"tracks": 3}')
    classes, loaded = files.load_classes(0.5, 401)
    assert loaded.level == 'error' and '.corrupt-' in loaded.set_aside
    assert not classes_path(path).exists()
    ledger = DeliveryLedger(['uav0'])
    gate = ObservationGate(PlausibilityConfig(), ['uav0'], 0.0)
    loaded = files.load_delivery(ledger, gate, 0)
    assert loaded.level == 'error' and 'set aside' in loaded.note
    assert files.load_tracks({'uav0': []}).level == 'warning'


def test_a_map_made_about_another_origin_is_set_aside(tmp_path):
    files, path = _saved(tmp_path)
    elsewhere = GeoPoint(29.76, -95.37, 10.0)
    flood_map, loaded = files.load_map(CONFIG, elsewhere)
    assert loaded.level == 'error' and 'made about origin' in loaded.note
    assert flood_map.observations_applied == 0 and not path.exists()
    # Nothing there at all: a new map, nothing to say.
    flood_map, loaded = MapCheckpoint(tmp_path / 'none.npz').load_map(CONFIG, ORIGIN)
    assert loaded.note == '' and flood_map.bounds_cells is None
