"""core.flood_map: log-odds fusion, outputs, polygons, checkpoints and refusals (no rclpy)."""

import datetime
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box
from shapely.ops import unary_union

from uav_flood.core.flood_map import (
    CHECKPOINT_VERSION,
    CheckpointError,
    FloodMap,
    FloodMapError,
    FusionConfig,
    grid_iou,
    load_or_new,
    PatchRejectedError,
    RejectReason,
    set_aside_corrupt,
)
from uav_flood.core.georef import GridPatch

RES = 0.5


def patch(col0: int, row0: int, data: np.ndarray, res: float = RES) -> GridPatch:
    """Return a patch whose south-west cell is global (col0, row0)."""
    data = np.asarray(data, dtype=np.int8)
    return GridPatch(col0 * res, row0 * res, res, data.shape[1], data.shape[0], data)


def truth_grid(size: int = 160) -> np.ndarray:
    """Return a synthetic flood (100 water, 0 dry): a meandering river and a pond."""
    rows, cols = np.mgrid[0:size, 0:size]
    river = np.abs(cols - (size / 2 + 20 * np.sin(rows / 15.0))) < 12
    pond = (rows - 40) ** 2 + (cols - 40) ** 2 < 18**2
    return np.where(river | pond, 100, 0).astype(np.int8)


def noisy(truth: np.ndarray, rng: np.random.Generator, systematic: bool) -> np.ndarray:
    """Return an observation: 20 % of cells flipped, optionally a block read as water (glare)."""
    obs = truth.copy()
    flip = rng.random(truth.shape) < 0.2
    obs[flip] = 100 - obs[flip]
    if systematic:
        r, c = rng.integers(0, truth.shape[0] - 40, size=2)
        obs[r : r + 40, c : c + 40] = 100
    # Each observation misses a random margin of the area, like a footprint that moved on.
    obs[:, : rng.integers(0, 10)] = -1
    return obs


def test_fused_iou_rises_with_observations_and_beats_every_single_one() -> None:
    rng = np.random.default_rng(6)
    truth = truth_grid()
    truth_patch = patch(-80, -80, truth)
    flood_map = FloodMap(FusionConfig(resolution_m=RES))
    singles, fused = [], {}
    for k in range(1, 10):
        obs = patch(-80, -80, noisy(truth, rng, systematic=k % 3 == 0))
        singles.append(grid_iou(obs, truth_patch))
        flood_map.apply(obs)
        fused[k] = flood_map.iou(truth_patch)
    # Odd counts: an even count can tie a cell at P = 0.5 (dry), so compare like with like.
    assert fused[1] < fused[3] < fused[5] < fused[9]
    assert fused[9] > max(singles) + 0.3
    assert fused[9] > 0.8
    assert flood_map.observations_applied == 9


@pytest.mark.parametrize(
    ('sequence', 'expected_water'),
    [
        ([100, 100, 100, 0], True),
        ([0, 100, 100, 100], True),
        ([100, 0, 0, 0], False),
        ([0, 0, 100, 0], False),
    ],
)
def test_conflicts_are_resolved_by_evidence(sequence: list[int], expected_water: bool) -> None:
    flood_map = FloodMap()
    for value in sequence:
        flood_map.apply(patch(3, 4, np.full((2, 2), value)))
    assert flood_map.water_mask().all() == expected_water
    assert not flood_map.water_mask().any() != expected_water
    # Counts, not a running clamp: the value is that of the net evidence, whatever the order.
    step = math.log(0.85 / 0.15)
    net = sum(1 if value == 100 else -1 for value in sequence)
    log_odds = min(3.5, max(-3.5, net * step))
    expected_p = 1.0 / (1.0 + math.exp(-log_odds))
    assert np.all(flood_map.to_occupancy().data == round(100 * expected_p))
    assert np.all(flood_map.observation_count() == 4)


def test_fusion_is_order_independent_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    truth = truth_grid(60)
    patches = []
    for k in range(12):
        obs = noisy(truth, rng, systematic=k % 3 == 0)
        patches.append(patch(-30 + 3 * k, -20 + 2 * (k % 5), obs))
    reference = FloodMap()
    for p in patches:
        reference.apply(p)
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(len(patches))
        other = FloodMap()
        for index in order:
            other.apply(patches[int(index)])
        assert other.bounds_cells == reference.bounds_cells
        for mine, theirs in zip(other.evidence(), reference.evidence(), strict=True):
            assert np.array_equal(mine, theirs)
        assert other.log_odds().tobytes() == reference.log_odds().tobytes()
        assert np.array_equal(other.to_occupancy().data, reference.to_occupancy().data)


def test_saturated_cell_follows_the_net_evidence() -> None:
    flood_map = FloodMap()
    for _ in range(30):
        flood_map.apply(patch(0, 0, np.full((1, 1), 100)))
    assert flood_map.log_odds()[0, 0] == pytest.approx(3.5)
    # Counts keep every observation: 3 dry ones do not outweigh 30 wet ones (no "forgetting").
    for _ in range(3):
        flood_map.apply(patch(0, 0, np.full((1, 1), 0)))
    assert flood_map.water_mask()[0, 0]
    for _ in range(28):
        flood_map.apply(patch(0, 0, np.full((1, 1), 0)))
    assert not flood_map.water_mask()[0, 0]
    evidence, count = flood_map.evidence()
    steps = FusionConfig().increments()
    assert int(count[0, 0]) == 61
    assert int(evidence[0, 0]) == 30 * int(steps[100]) + 31 * int(steps[0])


def test_unknown_cells_stay_unknown_and_outputs_cover_the_observed_box() -> None:
    flood_map = FloodMap()
    empty = flood_map.to_occupancy()
    assert (empty.width, empty.height) == (0, 0)
    assert flood_map.flood_polygons() == []
    data = np.full((3, 4), -1, dtype=np.int8)
    data[0, 0] = 100
    data[2, 3] = 0
    flood_map.apply(patch(-10, 20, data))
    flood_map.apply(patch(-10, 20, np.full((3, 4), -1)))  # nothing seen: counted, no effect
    occupancy = flood_map.to_occupancy()
    assert (occupancy.origin_east, occupancy.origin_north) == (-5.0, 10.0)
    assert (occupancy.width, occupancy.height) == (4, 3)
    assert occupancy.resolution_m == RES
    assert occupancy.data.dtype == np.int8
    assert occupancy.data[0, 0] == 85 and occupancy.data[2, 3] == 15
    unseen = np.ones((3, 4), bool)
    unseen[0, 0] = unseen[2, 3] = False
    assert np.all(occupancy.data[unseen] == -1)
    assert np.array_equal(flood_map.seen(), ~unseen)
    assert flood_map.probability()[1, 1] == 0.5
    assert flood_map.cells_observed == 2 and flood_map.observations_applied == 2


def test_apply_arrays_takes_message_fields() -> None:
    flood_map = FloodMap()
    values = [0, 100, -1, 100, 0, 0]  # row-major from the south row, as OccupancyGrid.data
    assert flood_map.apply_arrays(1.0, -2.0, RES, 3, 2, values) == 5
    occupancy = flood_map.to_occupancy()
    assert (occupancy.origin_east, occupancy.origin_north) == (1.0, -2.0)
    assert occupancy.data.tolist() == [[15, 85, -1], [85, 15, 15]]


def test_grid_grows_anywhere_inside_the_extent_and_keeps_its_evidence() -> None:
    config = FusionConfig(resolution_m=5.0, max_extent_m=10_000.0)
    flood_map = FloodMap(config)
    flood_map.apply(patch(0, 0, np.full((4, 4), 100), res=5.0))
    first = flood_map.allocated_bytes
    flood_map.apply(patch(-1000, -1000, np.full((2, 2), 0), res=5.0))  # south-west corner
    flood_map.apply(patch(998, 998, np.full((2, 2), 100), res=5.0))  # north-east corner
    assert flood_map.allocated_bytes > first
    assert flood_map.bounds_cells == (-1000, -1000, 1000, 1000)
    occupancy = flood_map.to_occupancy()
    assert (occupancy.width, occupancy.height) == (2000, 2000)
    assert occupancy.data[1000, 1000] == 85 and occupancy.data[0, 0] == 15
    assert occupancy.data[-1, -1] == 85
    assert np.count_nonzero(occupancy.data != -1) == 16 + 4 + 4
    with pytest.raises(PatchRejectedError) as error:
        flood_map.apply(patch(999, 0, np.full((2, 2), 0), res=5.0))
    assert error.value.reason is RejectReason.EXTENT


def _bad_patches() -> list[tuple[str, tuple, RejectReason]]:
    ok = np.zeros((2, 3), np.int8)
    return [
        ('short data', (0.0, 0.0, RES, 3, 2, ok.reshape(-1)[:5]), RejectReason.SIZE),
        ('long data', (0.0, 0.0, RES, 2, 2, ok), RejectReason.SIZE),
        ('zero width', (0.0, 0.0, RES, 0, 2, ok[:, :0]), RejectReason.SIZE),
        ('nan origin', (math.nan, 0.0, RES, 3, 2, ok), RejectReason.ORIGIN),
        ('inf origin', (0.0, -math.inf, RES, 3, 2, ok), RejectReason.ORIGIN),
        ('zero resolution', (0.0, 0.0, 0.0, 3, 2, ok), RejectReason.RESOLUTION),
        ('negative resolution', (0.0, 0.0, -RES, 3, 2, ok), RejectReason.RESOLUTION),
        ('nan resolution', (0.0, 0.0, math.nan, 3, 2, ok), RejectReason.RESOLUTION),
        ('other resolution', (0.0, 0.0, 0.25, 3, 2, ok), RejectReason.RESOLUTION),
        ('off grid', (0.2, 0.0, RES, 3, 2, ok), RejectReason.ALIGNMENT),
        ('far away', (6000.0, 0.0, RES, 3, 2, ok), RejectReason.EXTENT),
        ('bad value', (0.0, 0.0, RES, 3, 2, [0, 101, 100, -1, 0, 0]), RejectReason.VALUES),
        ('below -1', (0.0, 0.0, RES, 3, 2, [0, -2, 100, -1, 0, 0]), RejectReason.VALUES),
        ('out of int8', (0.0, 0.0, RES, 3, 2, [0, 200, 100, -1, 0, 0]), RejectReason.VALUES),
        ('floats', (0.0, 0.0, RES, 3, 2, np.zeros(6)), RejectReason.VALUES),
    ]


@pytest.mark.parametrize(('case', 'args', 'reason'), _bad_patches(), ids=lambda v: str(v))
def test_bad_patches_are_refused_and_counted(case: str, args: tuple, reason: RejectReason) -> None:
    flood_map = FloodMap()
    with pytest.raises(PatchRejectedError) as error:
        flood_map.apply_arrays(*args)
    assert error.value.reason is reason, case
    assert reason.value in str(error.value)
    assert flood_map.rejected[reason.value] == 1
    assert sum(flood_map.rejected.values()) == 1
    assert flood_map.observations_applied == 0 and flood_map.bounds_cells is None


def test_float32_resolution_and_origin_far_out_are_accepted() -> None:
    flood_map = FloodMap(FusionConfig(resolution_m=0.1, max_extent_m=10_000.0))
    res32 = float(np.float32(0.1))
    assert flood_map.apply_arrays(4999.0, -4999.5, res32, 2, 1, [100, 0]) == 2
    assert flood_map.bounds_cells == (49990, -49995, 49992, -49994)


def test_polygons_follow_cells_keep_holes_and_report_area_and_confidence() -> None:
    data = np.zeros((40, 40), np.int8)
    data[5:25, 5:25] = 100  # 10 m x 10 m lake ...
    data[10:15, 10:15] = 0  # ... with a 2.5 m island
    data[30, 30] = 100  # a single cell
    data[33:35, 3:5] = 100  # 1 m2
    flood_map = FloodMap()
    flood_map.apply(patch(0, 0, data))
    flood_map.apply(patch(0, 0, data))
    polygons = flood_map.flood_polygons()
    assert len(polygons) == 3
    assert all(p.polygon.is_valid for p in polygons)
    lake = polygons[0]
    assert lake.cells == 400 - 25
    assert lake.area_m2 == pytest.approx(375 * RES * RES)
    expected = box(2.5, 2.5, 12.5, 12.5).difference(box(5.0, 5.0, 7.5, 7.5))
    assert len(lake.polygon.interiors) == 1
    assert lake.polygon.symmetric_difference(expected).area < 0.5
    assert lake.polygon.hausdorff_distance(expected) <= RES
    p2 = 1.0 / (1.0 + (0.15 / 0.85) ** 2)
    assert lake.mean_confidence == pytest.approx(p2, rel=1e-4)  # evidence in 1/1024 steps
    single = [p for p in polygons if p.cells == 1][0]
    assert single.polygon.equals(box(15.0, 15.0, 15.5, 15.5))
    # Diagonal neighbours are one region, and still one valid polygon.
    flood_map.apply(patch(0, 0, np.pad(np.eye(6, dtype=np.int8) * 100, ((0, 34), (30, 4)))))
    assert all(p.polygon.is_valid for p in flood_map.flood_polygons())
    big = flood_map.flood_polygons(min_area_m2=2.0)
    assert [p.cells for p in big] == [375]


def test_polygons_of_a_noisy_flood_are_valid_and_cover_the_water() -> None:
    rng = np.random.default_rng(1)
    truth = truth_grid(120)
    flood_map = FloodMap()
    for _ in range(3):
        flood_map.apply(patch(0, 0, noisy(truth, rng, systematic=False)))
    occupancy = flood_map.to_occupancy()
    water, seen = flood_map.water_mask(), flood_map.seen()
    water_area = np.count_nonzero(water) * RES * RES

    def centres(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(mask)
        east = occupancy.origin_east + (cols + 0.5) * RES
        return east, occupancy.origin_north + (rows + 0.5) * RES

    # Unsimplified: every water cell centre inside, every dry one outside, cells counted once.
    exact = flood_map.flood_polygons(simplify_tolerance_m=0.0)
    assert exact and all(p.polygon.is_valid and p.polygon.area > 0 for p in exact)
    union = unary_union([p.polygon for p in exact])
    assert shapely.contains_xy(union, *centres(water)).all()
    assert not shapely.contains_xy(union, *centres(seen & ~water)).any()
    assert sum(p.area_m2 for p in exact) == pytest.approx(water_area)
    # Simplified within one cell: still valid, the same regions (a pinched one may lose a
    # sliver part), area close.
    simple = flood_map.flood_polygons()
    assert abs(len(simple) - len(exact)) <= len(exact) // 100
    assert all(p.polygon.is_valid for p in simple)
    assert sum(p.polygon.area for p in simple) == pytest.approx(union.area, rel=0.1)
    assert sum(p.area_m2 for p in simple) == pytest.approx(water_area, rel=0.02)


def test_nested_lake_island_pond_islet() -> None:
    data = np.zeros((40, 40), np.int8)
    data[0:40, 0:40] = 100  # lake, touching the grid's edges
    data[5:35, 5:35] = 0  # island
    data[10:30, 10:30] = 100  # pond on the island
    data[15:20, 15:25] = 0  # islet in the pond
    data[17, 20] = 100  # a puddle on the islet
    flood_map = FloodMap()
    flood_map.apply(patch(0, 0, data))
    polygons = flood_map.flood_polygons()
    assert [p.cells for p in polygons] == [1600 - 900, 400 - 50, 1]
    lake, pond, puddle = (p.polygon for p in polygons)
    assert lake.equals(box(0, 0, 20, 20).difference(box(2.5, 2.5, 17.5, 17.5)))
    assert pond.equals(box(5, 5, 15, 15).difference(box(7.5, 7.5, 12.5, 10)))
    assert puddle.equals(box(10, 8.5, 10.5, 9))
    assert not lake.intersects(pond) and pond.disjoint(puddle)


def _filled_map() -> FloodMap:
    rng = np.random.default_rng(3)
    flood_map = FloodMap(FusionConfig(resolution_m=RES, p_hit=0.8, p_false=0.1))
    for k in range(5):
        data = np.where(rng.random((30, 50)) < 0.4, 100, 0).astype(np.int8)
        data[rng.random((30, 50)) < 0.3] = -1
        flood_map.apply(patch(-20 + 7 * k, 11 - 3 * k, data))
    with pytest.raises(PatchRejectedError):
        flood_map.apply_arrays(0.3, 0.0, RES, 1, 1, [0])
    return flood_map


@pytest.mark.parametrize('compress', [True, False])
def test_checkpoint_round_trip_is_exact(tmp_path: Path, compress: bool) -> None:
    flood_map = _filled_map()
    path = flood_map.save(tmp_path / 'state' / 'map.npz', compress=compress)
    assert [p.name for p in path.parent.iterdir()] == ['map.npz']  # no temporary left
    loaded = FloodMap.load(path)
    assert loaded.config == flood_map.config
    assert loaded.bounds_cells == flood_map.bounds_cells
    assert np.array_equal(loaded.log_odds(), flood_map.log_odds())
    assert np.array_equal(loaded.observation_count(), flood_map.observation_count())
    assert np.array_equal(loaded.to_occupancy().data, flood_map.to_occupancy().data)
    assert loaded.observations_applied == 5 and loaded.rejected == flood_map.rejected
    assert loaded.cells_observed == flood_map.cells_observed
    # The loaded map fuses on as the original does.
    extra = patch(-40, 0, np.full((5, 90), 100))
    loaded.apply(extra)
    flood_map.apply(extra)
    assert np.array_equal(loaded.log_odds(), flood_map.log_odds())


def test_empty_map_round_trips(tmp_path: Path) -> None:
    loaded = FloodMap.load(FloodMap().save(tmp_path / 'empty.npz'))
    assert loaded.bounds_cells is None and loaded.to_occupancy().width == 0


def _corrupt(path: Path, how: str) -> None:
    raw = bytearray(path.read_bytes())
    if how == 'truncated':
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif how == 'flipped':
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            raw[i] ^= 0x5A
        path.write_bytes(bytes(raw))
    elif how == 'garbage':
        path.write_bytes(b'not a checkpoint\n')
    elif how == 'empty':
        path.write_bytes(b'')


@pytest.mark.parametrize('how', ['truncated', 'flipped', 'garbage', 'empty'])
def test_corrupt_checkpoints_raise_checkpoint_error(tmp_path: Path, how: str) -> None:
    path = _filled_map().save(tmp_path / 'map.npz', compress=how != 'flipped')
    _corrupt(path, how)
    with pytest.raises(CheckpointError) as error:
        FloodMap.load(path)
    assert error.value.path == path


def _rewrite_header(path: Path, **changes: object) -> None:
    import json

    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays['header'].tobytes())
    header.update(changes)
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with path.open('wb') as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize(
    ('changes', 'message'),
    [
        ({'version': CHECKPOINT_VERSION + 1}, 'version'),
        ({'format': 'something.else'}, 'not a'),
        ({'shape': [1, 1]}, 'shape'),
        ({'resolution_m': -1.0}, 'bad header'),
        ({'origin': [95.0, 8.5, 400.0]}, 'bad header .*latitude 95.0'),
        ({'origin': [47.4, 8.5]}, 'bad header'),
        ({'origin': 'zurich'}, 'bad header'),
    ],
)
def test_wrong_version_or_header_raises_checkpoint_error(
    tmp_path: Path, changes: dict, message: str
) -> None:
    path = _filled_map().save(tmp_path / 'map.npz')
    _rewrite_header(path, **changes)
    with pytest.raises(CheckpointError, match=message):
        FloodMap.load(path)


def test_the_origin_round_trips_and_old_checkpoints_have_none(tmp_path: Path) -> None:
    from uav_flood.core.geo import GeoPoint

    flood_map = _filled_map()
    flood_map.origin = GeoPoint(29.76, -95.37, 15.0)
    assert FloodMap.load(flood_map.save(tmp_path / 'a.npz')).origin == flood_map.origin
    path = _filled_map().save(tmp_path / 'b.npz')
    _rewrite_header(path, origin=None)
    assert FloodMap.load(path).origin is None


def test_set_aside_renames_and_never_overwrites(tmp_path: Path) -> None:
    now = datetime.datetime(2026, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
    taken = tmp_path / 'map.npz.corrupt-20260501T120000Z'
    taken.write_text('older evidence')
    for expected_suffix, content in (('-1', 'first'), ('-2', 'second')):
        source = tmp_path / 'map.npz'
        source.write_text(content)
        moved = set_aside_corrupt(source, now=now)
        assert moved.name == f'{taken.name}{expected_suffix}'
        assert moved.read_text() == content and not source.exists()
    assert taken.read_text() == 'older evidence'


def test_load_or_new_sets_corrupt_files_aside_and_starts_empty(tmp_path: Path) -> None:
    config = FusionConfig()
    path = tmp_path / 'map.npz'
    fresh, moved = load_or_new(path, config)
    assert moved is None and fresh.bounds_cells is None
    _filled_map().save(path)
    kept, moved = load_or_new(path, FusionConfig(p_hit=0.8, p_false=0.1, clamp_log_odds=1.0))
    assert moved is None and kept.observations_applied == 5
    assert np.abs(kept.log_odds()).max() <= 1.0
    _corrupt(path, 'truncated')
    fresh, moved = load_or_new(path, config)
    assert moved is not None and moved.name.startswith('map.npz.corrupt-')
    assert fresh.bounds_cells is None and not path.exists()
    _filled_map().save(path)
    _, moved = load_or_new(path, FusionConfig(resolution_m=1.0))
    assert moved is not None and moved.exists()


@pytest.mark.parametrize(
    'kwargs',
    [
        {'resolution_m': 0.0},
        {'p_hit': 1.0},
        {'p_hit': 0.4, 'p_false': 0.6},
        {'clamp_log_odds': math.inf},
        {'max_extent_m': 1e9},
    ],
)
def test_bad_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(FloodMapError):
        FusionConfig(**kwargs)


def test_iou_against_truth_and_its_errors() -> None:
    truth = patch(0, 0, np.array([[100, 100, 0, -1], [0, 0, 0, 100]]))
    flood_map = FloodMap()
    flood_map.apply(patch(1, 0, np.array([[100, 100, -1], [0, 0, 0]])))
    # Known to both: columns 1..2 of row 0 and 1..3 of row 1. Water in truth: (0, 1), (1, 3);
    # in the map: (0, 1), (0, 2). Union 3, intersection 1.
    assert flood_map.iou(truth) == pytest.approx(1 / 3)
    with pytest.raises(FloodMapError, match='overlap'):
        flood_map.iou(patch(100, 100, np.zeros((1, 1))))
    with pytest.raises(FloodMapError, match='resolution|m and'):
        grid_iou(truth, patch(0, 0, np.zeros((1, 1)), res=1.0))
    with pytest.raises(FloodMapError, match='threshold'):
        flood_map.water_mask(1.5)


def test_forget_outside_clears_only_observed_cells_beyond_the_area():
    flood_map = FloodMap(FusionConfig(resolution_m=1.0))
    patch = GridPatch(0.0, 0.0, 1.0, 4, 2, np.array([100, 100, 0, 0, 100, 0, 100, -1], np.int8))
    flood_map.apply(patch)
    before = flood_map.to_occupancy()
    cleared = flood_map.forget_outside(lambda e, n: shapely.contains_xy(box(0, 0, 2, 2), e, n))
    assert cleared == 3  # columns 2 and 3 observed, minus the unseen cell
    after = np.asarray(flood_map.to_occupancy().data).reshape(2, 4)
    assert (after[:, 2:] == -1).all()
    assert np.array_equal(after[:, :2], np.asarray(before.data).reshape(2, 4)[:, :2])
    assert flood_map.forget_outside(lambda e, n: np.ones_like(e, bool)) == 0


def test_soft_observations_add_their_log_odds_bounded_by_a_hard_one() -> None:
    config = FusionConfig()
    steps = config.increments()
    assert steps[50] == 0  # a coin flip says nothing
    assert steps[100] == -steps[0] == round(config.water_log_odds * 1024)
    assert steps[80] == round(math.log(0.8 / 0.2) * 1024)
    assert steps[99] == steps[100]  # bounded: no frame outweighs a hard observation
    assert np.all(np.diff(steps) >= 0)
    flood_map = FloodMap(config)
    flood_map.apply(patch(0, 0, np.array([[80, 80, 50, -1]])))
    flood_map.apply(patch(0, 0, np.array([[80, 20, 50, 30]])))
    logs = flood_map.log_odds()[0]
    assert logs[0] == pytest.approx(2 * math.log(4.0), abs=1e-3)
    assert logs[1] == pytest.approx(0.0, abs=1e-3)  # 80 % and 20 % cancel
    assert logs[2] == 0.0 and flood_map.seen()[0, 2]  # seen, undecided
    assert logs[3] == pytest.approx(math.log(0.3 / 0.7), abs=1e-3)
    assert np.asarray(flood_map.to_occupancy().data).reshape(-1).tolist() == [94, 50, 50, 30]


def test_a_version_2_checkpoint_loads_as_hard_observations(tmp_path: Path) -> None:
    import json

    flood_map = FloodMap()
    flood_map.apply(patch(4, 6, np.array([[100, 0], [100, -1]])))
    flood_map.apply(patch(4, 6, np.array([[100, 100], [0, -1]])))
    path = flood_map.save(tmp_path / 'map.npz')
    with np.load(path) as archive:
        header = json.loads(archive['header'].tobytes())
    header['version'] = 2
    del header['evidence_scale']
    water = np.array([[2, 1], [1, 0]], np.uint16)
    dry = np.array([[0, 1], [1, 0]], np.uint16)
    with path.open('wb') as handle:
        np.savez(
            handle,
            header=np.frombuffer(json.dumps(header).encode(), np.uint8),
            water=water,
            dry=dry,
        )
    loaded = FloodMap.load(path)
    assert loaded.log_odds().tobytes() == flood_map.log_odds().tobytes()
    assert np.array_equal(loaded.observation_count(), flood_map.observation_count())
