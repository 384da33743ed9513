"""The labelled flood scene and the simulated camera: layout, truth, render/georef round trip."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import (
    CameraModel,
    CameraMount,
    GridSpec,
    mask_to_patch,
    project_to_ground,
    VehiclePose,
)
from uav_flood.sim.camera import OUT_OF_SCENE_RGB, SimCamera, SKY_RGB
from uav_flood.sim.scene import DEFAULT_SCENE, FloodScene

DATA = Path(str(resources.files('uav_flood.sim').joinpath('data')))
REPO = Path(__file__).resolve().parents[2]
SPLITS = REPO.parent / 'shared' / 'data' / 'floodnet_harvey_uav' / 'splits.csv'


@pytest.fixture(scope='module')
def scene() -> FloodScene:
    return FloodScene.load()


@pytest.fixture(scope='module')
def camera(scene) -> SimCamera:
    return SimCamera.default(scene)


def test_shipped_scene_matches_its_yaml(scene):
    assert DEFAULT_SCENE == DATA / 'scene.yaml'
    spec = yaml.safe_load(DEFAULT_SCENE.read_text())
    res = spec['resolution_m']
    assert scene.resolution_m == res
    corners = np.array([t['sw_enu_m'] for t in spec['tiles']])
    assert len(scene.tiles) == len(spec['tiles']) == 20
    tile_w, tile_h = scene.tiles[0].width_px * res, scene.tiles[0].height_px * res
    expected = (
        corners[:, 0].min(),
        corners[:, 1].min(),
        corners[:, 0].max() + tile_w,
        corners[:, 1].max() + tile_h,
    )
    assert scene.bounds_enu == pytest.approx(expected)
    assert (tile_w, tile_h) == pytest.approx((60.0, 45.0))
    min_e, min_n, max_e, max_n = scene.bounds_enu
    assert scene.rgb.shape == (round((max_n - min_n) / res), round((max_e - min_e) / res), 3)
    assert scene.rgb.dtype == np.uint8 and scene.water.dtype == bool
    assert scene.covered.all()  # a full grid, tiles butt edge to edge
    assert scene.centre_enu == pytest.approx((0.0, 0.0))
    assert 0.15 <= scene.water_fraction <= 0.60
    wet = [t for t in scene.tiles if t.water_fraction >= 0.10]
    assert 8 <= len(wet) <= 12


def test_licence_attribution_and_size_of_shipped_data():
    licence = (DATA / 'LICENSE-CDLA-Permissive-1.0.txt').read_text()
    assert 'Community Data License Agreement' in licence
    attribution = (DATA / 'ATTRIBUTION.md').read_text()
    assert 'Rahnemoonfar' in attribution and 'CDLA-Permissive-1.0' in attribution
    total = sum(p.stat().st_size for p in (DATA / 'tiles').iterdir())
    assert total <= 3_000_000


@pytest.mark.skipif(not SPLITS.is_file(), reason='shared FloodNet data not available')
def test_every_tile_is_from_the_test_split(scene):
    split = dict(line.split(',')[:2] for line in SPLITS.read_text().splitlines()[1:])
    assert {split[t.tile_id] for t in scene.tiles} == {'test'}


def test_pixel_enu_transform_round_trips_and_truth_patch_matches_the_mask(scene):
    res = scene.resolution_m
    min_e, _, _, max_n = scene.bounds_enu
    # pixel (0, 0) is the north-west corner pixel
    assert scene.pixel_to_enu((0, 0)) == pytest.approx((min_e + res / 2, max_n - res / 2))
    pts = np.array([[-12.3, 40.1], [149.9, -89.9], [0.0, 0.0]])
    assert scene.pixel_to_enu(scene.enu_to_pixel(pts)) == pytest.approx(pts)
    patch = scene.truth_patch(GridSpec(res))
    assert (patch.width, patch.height) == (scene.width_px, scene.height_px)
    # GridPatch row 0 is south, the mosaic's row 0 is north
    assert np.array_equal(patch.data[::-1] == 100, scene.water)
    coarse = scene.truth_patch(GridSpec(1.0), bounds=(140.0, 80.0, 160.0, 100.0))
    assert (coarse.origin_east, coarse.origin_north, coarse.width) == (140.0, 80.0, 20)
    assert np.all(coarse.data[10:, :] == -1) and np.all(coarse.data[:, 10:] == -1)
    assert np.all(coarse.data[:10, :10] >= 0)


def test_the_scene_carries_floodnets_classes_consistent_with_its_water(scene):
    """Class truth from FloodNet's masks_orig: every pixel 0..9; the water classes (road-flooded,
    water) where the water mask says water, up to the different resizing of the two masks."""
    assert scene.classes is not None and scene.classes.shape == scene.water.shape
    assert scene.classes.min() >= 0 and scene.classes.max() <= 9
    counts = np.bincount(scene.classes.ravel(), minlength=10)
    assert all(counts[k] > 0 for k in (1, 2, 3, 4, 5, 6, 9))  # buildings, roads, water...
    wet = np.isin(scene.classes, (3, 5))
    assert np.mean(wet == scene.water) > 0.98
    res = scene.resolution_m
    patch = scene.truth_patch(GridSpec(res), classes=True)
    assert np.array_equal(patch.data[::-1], scene.classes)  # row 0 south, as OccupancyGrid
    coarse = scene.truth_patch(GridSpec(1.0), bounds=(140.0, 80.0, 160.0, 100.0), classes=True)
    assert np.all(coarse.data[10:, :] == -1) and np.all(coarse.data[:10, :10] >= 0)
    plain = FloodScene(scene.rgb, scene.water, scene.covered, res, scene.sw_enu_m)
    with pytest.raises(ConfigError, match='no class masks'):
        plain.truth_patch(GridSpec(1.0), classes=True)


def test_bad_scene_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match='does not exist'):
        FloodScene.load(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('resolution_m: 0.1\ntiles: []\n')
    with pytest.raises(ConfigError, match='non-empty'):
        FloodScene.load(bad)
    tiles = [
        {
            'image': f'{DATA}/tiles/{i}.jpg',
            'mask': f'{DATA}/tiles/{i}_mask.png',
            'sw_enu_m': [e, 0],
        }
        for i, e in (('7752', 0.0), ('8386', 30.0))
    ]
    bad.write_text(yaml.safe_dump({'resolution_m': 0.15, 'tiles': tiles}))
    with pytest.raises(ConfigError, match='overlaps'):
        FloodScene.load(bad)
    # Class masks: all tiles or none, of the tile's size, 0..9.
    tiles[1]['sw_enu_m'] = [60, 0]
    tiles[0]['classes'] = f'{DATA}/tiles/7752_classes.png'
    bad.write_text(yaml.safe_dump({'resolution_m': 0.15, 'tiles': tiles}))
    with pytest.raises(ConfigError, match='every tile needs classes, or none'):
        FloodScene.load(bad)
    tiles[1]['classes'] = f'{DATA}/tiles/8386_mask.png'  # 0/255: not classes
    bad.write_text(yaml.safe_dump({'resolution_m': 0.15, 'tiles': tiles}))
    with pytest.raises(ConfigError, match='classes must be'):
        FloodScene.load(bad)


@pytest.mark.parametrize(
    ('pose', 'mount'),
    [
        (VehiclePose.from_euler((0.0, 0.0, 100.0)), CameraMount()),
        (VehiclePose.from_euler((20.0, -10.0, 100.0), yaw_deg=37.0), CameraMount()),
        (VehiclePose.from_euler((-30.0, -60.0, 60.0), yaw_deg=90.0), CameraMount(pitch_deg=-60.0)),
    ],
    ids=['nadir', 'yawed', 'pitched-mount'],
)
def test_render_then_georeference_recovers_the_truth(scene, pose, mount):
    cam = SimCamera(scene, CameraModel.from_fov(640, 480, 70.0), mount)
    rgb, truth, valid = cam.render(pose)
    assert rgb.shape == (480, 640, 3) and truth.shape == valid.shape == (480, 640)
    assert valid.mean() > 0.99
    grid = GridSpec(0.5)
    patch = mask_to_patch(truth, cam.camera, cam.mount, pose, grid, valid=valid)
    assert patch is not None
    bounds = (
        patch.origin_east,
        patch.origin_north,
        patch.origin_east + patch.width * grid.resolution_m,
        patch.origin_north + patch.height * grid.resolution_m,
    )
    expected = scene.truth_patch(grid, bounds)
    assert expected.data.shape == patch.data.shape
    seen = patch.data >= 0
    assert seen.sum() > 20_000
    agreement = np.mean(patch.data[seen] == expected.data[seen])
    assert agreement >= 0.97
    assert 0.0 < np.mean(expected.data[seen] == 100) < 1.0  # both classes are in view


@pytest.mark.parametrize('distortion', [(), (-0.1, 0.01, 0.001, -0.001, 0.0)])
def test_ground_points_are_georefs(scene, distortion):
    mount = CameraMount(pitch_deg=-20.0, yaw_deg=20.0, roll_deg=5.0, offset_flu_m=(0.1, 0, -0.1))
    ideal = CameraModel.from_fov(64, 48, 80.0)
    model = 'plumb_bob' if distortion else ''
    cam = SimCamera(scene, CameraModel(64, 48, ideal.k, np.array(distortion), model), mount)
    pose = VehiclePose.from_euler((5.0, 3.0, 60.0), roll_deg=3.0, pitch_deg=-4.0, yaw_deg=200.0)
    uv = np.stack(np.meshgrid(np.arange(64.0), np.arange(48.0)), axis=-1).reshape(-1, 2)
    expected = project_to_ground(cam.camera, mount, pose, uv)
    got = cam.ground_points(pose).reshape(-1, 2)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert 0 < np.isnan(got[:, 0]).sum() < got.shape[0]  # the horizon crosses the image
    assert np.nanmax(np.abs(got - expected)) < 1e-6


def test_nadir_render_matches_the_mosaic_crop(scene):
    # the vehicle faces north (ENU yaw 90): image top = north, image right = east, so the image
    # is the map view; at this altitude one image pixel covers one mosaic pixel
    cam = SimCamera.default(scene)
    f = cam.camera.k[0, 0]
    altitude = f * scene.resolution_m
    rgb, _, valid = cam.render(VehiclePose.from_euler((0.0, 0.0, altitude), yaw_deg=90.0))
    assert valid.all()
    c0 = scene.width_px // 2 - 320
    r0 = scene.height_px // 2 - 240
    crop = scene.rgb[r0 : r0 + 480, c0 : c0 + 640].astype(float)
    diff = np.abs(rgb.astype(float) - crop).mean()
    shifted = np.abs(rgb.astype(float) - np.roll(crop, 7, axis=1)).mean()
    assert diff < 1.0
    assert shifted > 3 * diff  # the match is not just similar colours


def test_oblique_view_has_sky_and_off_scene_frames_are_invalid(scene):
    cam = SimCamera.default(scene, mount=CameraMount(pitch_deg=-10.0))
    rgb, truth, valid = cam.render(VehiclePose.from_euler((0.0, 0.0, 50.0)))
    assert not valid[0].any() and np.all(rgb[0] == SKY_RGB)  # top rows look above the horizon
    assert valid[-1].any()  # bottom rows see the scene
    assert np.all(truth[~valid] == 0)
    rgb, truth, valid = SimCamera.default(scene).render(VehiclePose.from_euler((900.0, 0, 100)))
    assert not valid.any() and np.all(rgb == OUT_OF_SCENE_RGB) and not truth.any()
    below = SimCamera.default(scene).render(VehiclePose.from_euler((0.0, 0.0, -1.0)))
    assert not below[2].any()


def test_camera_info_fields(scene, camera):
    info = camera.camera_info_fields()
    assert (info['width'], info['height'], info['distortion_model']) == (640, 480, 'plumb_bob')
    assert info['d'] == [] and len(info['k']) == 9 and len(info['p']) == 12
    rebuilt = CameraModel.from_camera_info_fields(
        info['width'], info['height'], info['k'], info['d']
    )
    assert np.allclose(rebuilt.k, camera.camera.k)
    assert info['p'][:3] == info['k'][:3] and info['p'][3] == 0.0
    assert info['k'][0] == pytest.approx(320.0 / np.tan(np.radians(35.0)))


@pytest.mark.skipif(not SPLITS.is_file(), reason='shared FloodNet data not available')
def test_shipped_tiles_are_rebuilt_by_tools_build_scene():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'build_scene.py'), '--check'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count('mask identical True') == 40  # water masks and class masks
