"""Categorical fusion of land-cover evidence: order independence and checkpoints (no rclpy)."""

import itertools

import numpy as np
import pytest

from uav_flood.core.class_map import ClassMap, ClassMapError, EVIDENCE_SCALE, quantise
from uav_flood.core.responder_layers import CLASSES

K = len(CLASSES)
WATER = CLASSES.index('water')
ROAD = CLASSES.index('road-non-flooded')
FLOODED_ROAD = CLASSES.index('road-flooded')


def observation(rng: np.random.Generator, rows: int, cols: int, likely: int) -> np.ndarray:
    """Class probabilities that favour `likely`, with noise."""
    logits = rng.normal(0.0, 1.0, (K, rows, cols))
    logits[likely] += 3.0
    p = np.exp(logits)
    return p / p.sum(axis=0)


def test_quantised_evidence_is_the_clipped_log_probability():
    p = np.zeros((K, 1, 2))
    p[WATER, 0, 0], p[ROAD, 0, 0] = 0.5, 0.5
    p[ROAD, 0, 1] = 1.0
    e = quantise(p)
    assert e.dtype == np.int8
    assert e[WATER, 0, 0] == round(np.log(0.5) * EVIDENCE_SCALE)
    assert e[ROAD, 0, 1] == 0 and e[WATER, 0, 1] == -128  # log 0 clipped at -8 nat
    with pytest.raises(ClassMapError, match=r'\(10, rows, cols\)'):
        quantise(np.zeros((3, 1, 1)))
    with pytest.raises(ClassMapError, match='within'):
        quantise(np.full((K, 1, 1), 1.5))


def test_fusion_is_order_independent_and_finds_the_likely_class():
    rng = np.random.default_rng(7)
    windows = [
        (0, 0, quantise(observation(rng, 20, 30, WATER))),
        (10, 5, quantise(observation(rng, 20, 30, ROAD))),
        (-5, -8, quantise(observation(rng, 20, 30, WATER))),
        (12, 7, quantise(observation(rng, 20, 30, ROAD))),
    ]
    maps = []
    for order in itertools.permutations(range(len(windows))):
        fused = ClassMap(0.5)
        for i in order:
            fused.fuse(*windows[i])
        maps.append(fused)
    first = maps[0].evidence()
    for other in maps[1:]:
        e, c = other.evidence()
        assert np.array_equal(e, first[0]) and np.array_equal(c, first[1])
        assert other.origin_index == maps[0].origin_index == (-5, -8)
    grid = maps[0].land_cover()
    assert grid.labels.shape == (5 + 8 + 20 + 2, 12 + 30 + 5)
    # cells only the water windows saw are mostly water; cells never seen are -1
    assert (grid.labels[8:13, 5:10] == WATER).mean() > 0.9
    assert (grid.labels[0, -1]) == -1 and grid.confidence[0, -1] == 0.0
    assert ((grid.confidence > 0) & (grid.confidence <= 1)).sum() == (grid.labels >= 0).sum()
    assert grid.origin_east == -2.5 and grid.origin_north == -4.0


def test_repeated_observations_make_the_class_surer():
    p = np.full((K, 1, 1), 0.05)
    p[FLOODED_ROAD] = 0.3
    p[ROAD] = 0.25
    fused = ClassMap(1.0)
    fused.fuse(0, 0, quantise(p))
    once = fused.land_cover()
    for _ in range(4):
        fused.fuse(0, 0, quantise(p))
    five = fused.land_cover()
    assert once.labels[0, 0] == five.labels[0, 0] == FLOODED_ROAD
    assert five.confidence[0, 0] > once.confidence[0, 0] + 0.2


def test_checkpoint_round_trip_and_unreadable_files(tmp_path):
    rng = np.random.default_rng(3)
    fused = ClassMap(0.5)
    fused.fuse(3, 4, quantise(observation(rng, 6, 7, WATER)))
    seen = np.zeros((6, 7), bool)
    seen[2:4, 1:5] = True
    fused.fuse(0, 0, quantise(observation(rng, 6, 7, ROAD)), seen)
    path = fused.save(tmp_path / 'classes.npz')
    back = ClassMap.load(path)
    for a, b in zip(back.evidence(), fused.evidence(), strict=True):
        assert np.array_equal(a, b)
    assert back.origin_index == fused.origin_index and back.resolution_m == 0.5
    assert back.observations_applied == 2
    assert np.array_equal(back.land_cover().labels, fused.land_cover().labels)
    # fusing on after a restart gives what fusing without one gives
    extra = quantise(observation(rng, 6, 7, WATER))
    back.fuse(1, 1, extra)
    fused.fuse(1, 1, extra)
    assert np.array_equal(back.evidence()[0], fused.evidence()[0])
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ClassMapError, match='unreadable checkpoint'):
        ClassMap.load(broken)
    other = tmp_path / 'other.npz'
    np.savez(other, format=np.array('something else'))
    with pytest.raises(ClassMapError, match='not a class map checkpoint'):
        ClassMap.load(other)


def test_bad_evidence_and_growth_beyond_the_extent_are_refused():
    fused = ClassMap(1.0, max_side_cells=50)
    with pytest.raises(ClassMapError, match='int8'):
        fused.fuse(0, 0, np.zeros((K, 2, 2), np.float32))
    with pytest.raises(ClassMapError, match='<= 0'):
        fused.fuse(0, 0, np.ones((K, 2, 2), np.int8))
    fused.fuse(0, 0, np.zeros((K, 2, 2), np.int8))
    with pytest.raises(ClassMapError, match='beyond max_side_cells 50'):
        fused.fuse(60, 0, np.zeros((K, 2, 2), np.int8))
    assert fused.observations_applied == 1
    with pytest.raises(ClassMapError, match='resolution'):
        ClassMap(0.0)


def test_a_frames_classes_land_on_its_water_patchs_cells_where_the_geometry_says():
    """A nadir frame whose left half is water and right half road (at the class output's
    quarter resolution): the cells on the vehicle's left get water, those on its right road,
    with the frame's confidence; unseen cells stay unseen."""
    import math

    from uav_flood.core.class_map import (
        class_observation,
        ClassObservation,
        NO_CLASS,
        top_classes,
    )
    from uav_flood.core.georef import (
        CameraModel,
        CameraMount,
        GridSpec,
        mask_to_patch,
        VehiclePose,
    )

    camera = CameraModel.from_fov(320, 240, 60.0)
    position = (12.3, -7.9, 100.0)
    for yaw_deg in (0.0, 90.0, -135.0):
        pose = VehiclePose.from_euler(position, yaw_deg=yaw_deg)
        patch = mask_to_patch(
            np.zeros((240, 320), np.uint8), camera, CameraMount(), pose, GridSpec(0.5)
        )
        probs = np.full((K, 60, 80), 0.02, np.float32)
        probs[WATER, :, :40], probs[ROAD, :, 40:] = 0.82, 0.82
        obs = class_observation(top_classes(probs), camera, CameraMount(), pose, patch)
        assert obs.labels.shape == (patch.height, patch.width)
        seen = patch.data != -1
        np.testing.assert_array_equal(obs.seen, seen)
        assert set(np.unique(obs.labels[~seen])) <= {NO_CLASS}
        east, north = patch.cell_centres()
        yaw = math.radians(yaw_deg)
        left = (east - position[0]) * -math.sin(yaw) + (north - position[1]) * math.cos(yaw) > 0
        want = np.where(left, WATER, ROAD)
        assert np.mean(obs.labels[seen] == want[seen]) >= 0.98
        assert set(np.unique(obs.confidence[seen])) == {round(0.82 * 255)}
    with pytest.raises(ClassMapError, match=r'\(10, rows, cols\)'):
        top_classes(probs[:3])
    labels, conf = top_classes(probs)
    with pytest.raises(ClassMapError, match=r'one \(rows, cols\)'):
        class_observation((labels, conf[:-1]), camera, CameraMount(), pose, patch)
    with pytest.raises(ClassMapError, match='class 17 beyond'):
        class_observation((labels + 12, conf), camera, CameraMount(), pose, patch)
    with pytest.raises(ClassMapError, match='labels must be'):
        ClassObservation(np.full((2, 2), 12, np.int8), np.zeros((2, 2), np.uint8))


def test_top_class_evidence_spreads_the_rest_and_fuses_to_the_frames_majority():
    from uav_flood.core.class_map import ClassObservation, NO_CLASS, top_evidence

    labels = np.array([[WATER, ROAD, NO_CLASS]], np.int8)
    confidence = np.array([[204, 255, 0]], np.uint8)  # 0.8, 1.0
    e = top_evidence(ClassObservation(labels, confidence))
    assert e.shape == (K, 1, 3) and e.dtype == np.int8
    assert e[WATER, 0, 0] == round(np.log(0.8) * EVIDENCE_SCALE)
    assert e[ROAD, 0, 0] == round(np.log(0.2 / 9) * EVIDENCE_SCALE)
    assert e[ROAD, 0, 1] == 0 and e[WATER, 0, 1] == -128  # certain: the rest clipped at -8 nat
    assert not e[:, 0, 2].any()  # unseen: no evidence
    # Two frames say water at 0.6, one says road at 0.9: the map keeps water, barely sure.
    fused = ClassMap(0.5)
    for label, conf in ((WATER, 153), (WATER, 153), (ROAD, 230)):
        obs = ClassObservation(np.full((1, 1), label, np.int8), np.full((1, 1), conf, np.uint8))
        fused.fuse(0, 0, top_evidence(obs), obs.seen)
    cover = fused.land_cover()
    assert int(cover.labels[0, 0]) == WATER and 0.5 < float(cover.confidence[0, 0]) < 0.9


def test_class_fusion_pairs_classes_with_their_water_once_in_any_order():
    """Classes before or after their water observation are fused once; a re-send after its
    water was decided is dropped; a mismatched size is dropped; the windows are bounded."""
    from uav_flood.core.class_map import ClassFusion, ClassObservation

    def obs(label, shape=(2, 3)):
        return ClassObservation(np.full(shape, label, np.int8), np.full(shape, 230, np.uint8))

    fusion = ClassFusion(ClassMap(0.5), window=2)
    # Water first, then classes: fused when the classes come.
    assert not fusion.water_fused('uav0', 1, 10, 20, 3, 2)
    assert fusion.unpaired == 1
    assert fusion.classes_arrived('uav0', 1, obs(WATER), water_decided=True)
    # Classes first, then water.
    assert not fusion.classes_arrived('uav1', 1, obs(ROAD), water_decided=False)
    assert fusion.water_fused('uav1', 1, 13, 20, 3, 2)
    assert (fusion.fused, fusion.unpaired) == (2, 0)
    cover = fusion.map.land_cover()
    assert set(np.unique(cover.labels)) == {WATER, ROAD}
    before = fusion.map.evidence()[0].copy()
    # The re-send of uav0's classes (its water was fused and paired): dropped, not counted.
    assert not fusion.classes_arrived('uav0', 1, obs(WATER), water_decided=True)
    np.testing.assert_array_equal(fusion.map.evidence()[0], before)
    # A size that is not its water observation's: dropped.
    fusion.water_fused('uav0', 2, 0, 0, 3, 2)
    assert not fusion.classes_arrived('uav0', 2, obs(WATER, (3, 3)), water_decided=True)
    assert fusion.dropped == 2
    # Windows keep the newest entries.
    for i in range(3, 6):
        fusion.classes_arrived('uav2', i, obs(ROAD), water_decided=False)
    assert fusion.expired == 1 and fusion.unpaired == 2
    assert not fusion.water_fused('uav2', 3, 0, 0, 3, 2)  # its classes expired: it waits
