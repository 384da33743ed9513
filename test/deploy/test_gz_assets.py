"""The Gazebo world and model: shipped files equal a fresh generation, and agree with the scene.

No Gazebo here: the checks are the SDF text itself, `ign sdf -k` (SDFormat 12) when installed,
and the built-in simulator's scene, origin and camera they must reproduce.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import shutil
import subprocess
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import yaml

from uav_flood.cli import gz_assets as gz_cli
from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import CameraModel, CameraMount
from uav_flood.deploy import gz_assets
from uav_flood.sim.camera import OUT_OF_SCENE_RGB
from uav_flood.sim.scene import FloodScene

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / gz_assets.WORLD_SDF_PATH
TEXTURE = ROOT / gz_assets.TEXTURE_PATH
MODEL = ROOT / gz_assets.MODEL_SDF_PATH
MODEL_CONFIG = ROOT / gz_assets.MODEL_CONFIG_PATH
SDF_FILES = [WORLD, MODEL]
TEXT_FILES = [gz_assets.WORLD_SDF_PATH, gz_assets.MODEL_SDF_PATH, gz_assets.MODEL_CONFIG_PATH]


def ros_params(name: str) -> dict:
    return yaml.safe_load((ROOT / 'config' / name).read_text())['/**']['ros__parameters']


def floats(text: str | None) -> list[float]:
    assert text is not None
    return [float(v) for v in text.split()]


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return SDF's pose rotation (extrinsic x-y-z = Rz @ Ry @ Rx)."""
    cr, sr, cp, sp, cy, sy = (f(a) for a in (roll, pitch, yaw) for f in (math.cos, math.sin))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture(scope='module')
def scene() -> FloodScene:
    return FloodScene.load()


@pytest.fixture(scope='module')
def fresh(scene) -> dict[str, bytes]:
    """Every file generated now from the shipped scene, origin and camera."""
    return gz_assets.generate_assets(
        scene, gz_assets.origin_from_config(), gz_assets.camera_from_config()
    )


@pytest.fixture(scope='module')
def world() -> ET.Element:
    return ET.parse(WORLD).getroot()


@pytest.fixture(scope='module')
def model() -> ET.Element:
    return ET.parse(MODEL).getroot()


@pytest.fixture(scope='module')
def texture() -> np.ndarray:
    bgr = cv2.imread(str(TEXTURE), cv2.IMREAD_COLOR)
    assert bgr is not None, f'{TEXTURE} does not decode'
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --- Exact by construction ----------------------------------------------------------------------


@pytest.mark.parametrize('relative', TEXT_FILES)
def test_shipped_text_files_equal_a_fresh_generation(fresh, relative):
    shipped = (ROOT / relative).read_bytes()
    assert shipped == fresh[relative], (
        f'{relative} differs from a fresh generation: run `uav-flood gz-assets --out . --force` '
        'in the source tree (never edit generated files by hand)'
    )


def test_shipped_texture_is_a_fresh_encoding_of_the_mosaic(fresh, scene, texture):
    # Pixels, not bytes: another OpenCV/libjpeg may encode the same pixels differently.
    decoded = cv2.imdecode(np.frombuffer(fresh[gz_assets.TEXTURE_PATH], np.uint8), 1)
    assert texture.shape == decoded.shape == (scene.height_px, scene.width_px, 3)
    mosaic = gz_assets.ground_texture(scene).astype(float)
    error = np.abs(texture.astype(float) - mosaic)
    assert error.mean() < 3.0, f'texture differs from the mosaic by {error.mean():.2f} on average'
    # The same comparison fails for a mirrored texture, so north-up is really tested.
    assert np.abs(texture[::-1].astype(float) - mosaic).mean() > 5 * error.mean()
    assert TEXTURE.stat().st_size < 3 * 1024 * 1024


@pytest.mark.parametrize('path', [WORLD, MODEL, MODEL_CONFIG], ids=lambda p: p.name)
def test_xml_is_well_formed(path):
    root = ET.parse(path).getroot()
    assert root.tag in ('sdf', 'model')
    if root.tag == 'sdf':
        assert root.get('version') == gz_assets.SDF_VERSION == '1.9'


@pytest.fixture(scope='module')
def ign() -> str:
    ign = shutil.which('ign')
    if ign is None:
        pytest.skip(
            'ign is not installed (apt-get install ignition-tools libsdformat-dev: SDFormat 12)'
        )
    probe = subprocess.run([ign, 'sdf', '--help'], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f'`ign sdf` is unavailable (install libsdformat-dev): {probe.stderr.strip()}')
    return ign


@pytest.mark.parametrize('path', SDF_FILES, ids=lambda p: p.name)
def test_ign_sdf_check_passes(ign, path):
    result = subprocess.run(
        [ign, 'sdf', '-k', str(path)], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and 'Valid' in output, output


def test_every_referenced_file_exists(world, model):
    checked = []
    for path, root in ((WORLD, world), (MODEL, model)):
        for element in root.iter():
            if element.tag not in ('uri', 'albedo_map', 'normal_map', 'roughness_map', 'mesh'):
                continue
            text = (element.text or '').strip()
            assert '://' not in text, f'{path.name}: {text} needs a resource path; ship files'
            assert (path.parent / text).is_file(), f'{path.name} references missing {text}'
            checked.append(text)
    assert checked == [TEXTURE.name]
    assert not list(model.iter('mesh')), 'the model must be self-contained (no meshes)'


# --- The world agrees with the built-in simulator ----------------------------------------------


def test_world_name_is_the_file_stem_and_origin_is_the_mission_origin(world):
    (element,) = world.findall('world')
    assert element.get('name') == WORLD.stem == gz_assets.WORLD_NAME
    params = ros_params('flight_control.yaml')
    sc = element.find('spherical_coordinates')
    assert sc.findtext('surface_model') == 'EARTH_WGS84'
    assert sc.findtext('world_frame_orientation') == 'ENU'
    assert float(sc.findtext('latitude_deg')) == params['origin_lat_deg'] == 47.397742
    assert float(sc.findtext('longitude_deg')) == params['origin_lon_deg'] == 8.545594
    assert float(sc.findtext('elevation')) == params['origin_alt_m'] == 488.0
    assert float(sc.findtext('heading_deg')) == 0.0


def test_world_loads_the_systems_px4_needs(world):
    plugins = {p.get('name') for p in world.iter('plugin')}
    for system in ('Physics', 'SceneBroadcaster', 'UserCommands', 'Sensors', 'Imu'):
        assert f'gz::sim::systems::{system}' in plugins
    for system in ('AirPressure', 'Magnetometer', 'NavSat', 'Contact'):
        assert f'gz::sim::systems::{system}' in plugins
    sensors = next(p for p in world.iter('plugin') if p.get('name').endswith('Sensors'))
    assert sensors.findtext('render_engine') == 'ogre2'


def _visual(world: ET.Element, name: str) -> ET.Element:
    (visual,) = [v for v in world.iter('visual') if v.get('name') == name]
    return visual


def test_ground_plane_has_the_scene_size_and_position(world, scene):
    visual = _visual(world, 'flood_scene')
    x, y, z, roll, pitch, yaw = floats(visual.findtext('pose'))
    plane = visual.find('geometry/plane')
    assert floats(plane.findtext('normal')) == [0.0, 0.0, 1.0]
    size_e, size_n = floats(plane.findtext('size'))
    assert (z, roll, pitch, yaw) == (0.0, 0.0, 0.0, 0.0)
    assert size_e == pytest.approx(scene.width_px * scene.resolution_m, abs=1e-9)
    assert size_n == pytest.approx(scene.height_px * scene.resolution_m, abs=1e-9)
    bounds = (x - size_e / 2, y - size_n / 2, x + size_e / 2, y + size_n / 2)
    assert bounds == pytest.approx(scene.bounds_enu, abs=1e-9)
    assert scene.bounds_enu == pytest.approx((-150.0, -90.0, 150.0, 90.0))
    assert visual.findtext('material/pbr/metal/albedo_map') == TEXTURE.name


def test_outside_the_scene_is_a_larger_grey_plane_below_it(world, scene):
    visual = _visual(world, 'surroundings')
    x, y, z, *_ = floats(visual.findtext('pose'))
    size = floats(visual.findtext('geometry/plane/size'))
    min_e, min_n, max_e, max_n = scene.bounds_enu
    assert -0.1 < z < 0.0
    assert x - size[0] / 2 < min_e - 1000 and x + size[0] / 2 > max_e + 1000
    assert y - size[1] / 2 < min_n - 1000 and y + size[1] / 2 > max_n + 1000
    grey = floats(visual.findtext('material/diffuse'))[:3]
    assert grey == pytest.approx([c / 255 for c in OUT_OF_SCENE_RGB], abs=1e-9)
    collision = world.find(".//collision[@name='collision']/geometry/plane")
    assert floats(collision.findtext('normal')) == [0.0, 0.0, 1.0]


@pytest.mark.parametrize('east_north', [(-140.0, 80.0), (140.0, -80.0), (12.3, 4.5), (-60, -30)])
def test_texture_maps_to_the_right_map_positions(world, scene, texture, east_north):
    # gz-common MeshManager::CreatePlane (unit_plane, scaled to <size>): vertex (x, y) gets
    # u = x / size_x + 0.5 and v = 1 - (y / size_y + 0.5); v = 0 is the image's top row.
    visual = _visual(world, 'flood_scene')
    cx, cy, *_ = floats(visual.findtext('pose'))
    size_e, size_n = floats(visual.findtext('geometry/plane/size'))
    east, north = east_north
    u = (east - cx) / size_e + 0.5
    v = 1.0 - ((north - cy) / size_n + 0.5)
    height, width = texture.shape[:2]
    col, row = round(u * width - 0.5), round(v * height - 0.5)
    expected_col, expected_row = np.rint(scene.enu_to_pixel((east, north))).astype(int)
    assert (col, row) == (expected_col, expected_row)
    patch = texture[row - 3 : row + 4, col - 3 : col + 4].astype(float).mean(axis=(0, 1))
    truth = scene.rgb[row - 3 : row + 4, col - 3 : col + 4].astype(float).mean(axis=(0, 1))
    assert np.abs(patch - truth).max() < 8.0, (patch, truth)


# --- The model ---------------------------------------------------------------------------------


def test_camera_matches_the_builtin_camera(model):
    params = ros_params('sim_camera.yaml')
    sensor = model.find(f".//link[@name='{gz_assets.CAMERA_LINK}']/sensor[@type='camera']")
    assert sensor.get('name') == gz_assets.CAMERA_SENSOR
    camera = sensor.find('camera')
    width = int(camera.findtext('image/width'))
    height = int(camera.findtext('image/height'))
    hfov = float(camera.findtext('horizontal_fov'))
    assert (width, height) == (params['width'], params['height']) == (640, 480)
    assert camera.findtext('image/format') == 'R8G8B8'
    assert float(sensor.findtext('update_rate')) == params['rate_hz'] == 2.0
    builtin = CameraModel.from_fov(params['width'], params['height'], params['hfov_deg'])
    fx = (width / 2) / math.tan(hfov / 2)
    assert fx == pytest.approx(builtin.k[0, 0], rel=1e-12)
    assert fx == pytest.approx(builtin.k[1, 1], rel=1e-12)
    near, far = float(camera.findtext('clip/near')), float(camera.findtext('clip/far'))
    assert 0.2 < near < 1.0 and far > 500.0


def test_camera_looks_down_with_the_builtin_mounts_image_orientation(model):
    sensor = model.find(".//sensor[@type='camera']")
    x, y, z, roll, pitch, yaw = floats(sensor.findtext('pose'))
    body_from_gz = rpy_matrix(roll, pitch, yaw)
    mount = CameraMount(pitch_deg=-90.0)
    assert (mount.yaw_deg, mount.roll_deg) == (0.0, 0.0)
    body_from_optical = mount.body_from_optical()
    # gz camera: view axis +x, image up +z, image right -y; optical: z view, y down, x right.
    np.testing.assert_allclose(body_from_gz @ [1, 0, 0], body_from_optical @ [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(body_from_gz @ [0, 0, -1], body_from_optical @ [0, 1, 0], atol=1e-9)
    np.testing.assert_allclose(body_from_gz @ [0, -1, 0], body_from_optical @ [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(body_from_gz @ [1, 0, 0], [0, 0, -1], atol=1e-9)
    assert (x, y, z) == (0.0, 0.0, 0.0)


def test_model_has_px4_x500_dynamics_and_the_sensors_gz_bridge_reads(model):
    (element,) = model.findall('model')
    assert element.get('name') == gz_assets.MODEL_NAME == MODEL.parent.name
    base = element.find("link[@name='base_link']")
    assert float(base.findtext('inertial/mass')) == 2.0
    inertia = [float(base.findtext(f'inertial/inertia/{k}')) for k in ('ixx', 'iyy', 'izz')]
    assert inertia == pytest.approx([0.02166666666666667, 0.02166666666666667, 0.04])
    sensors = {s.get('name'): s.get('type') for s in base.findall('sensor')}
    assert sensors == {
        'imu_sensor': 'imu',
        'air_pressure_sensor': 'air_pressure',
        'magnetometer_sensor': 'magnetometer',
        'navsat_sensor': 'navsat',
        gz_assets.CAMERA_SENSOR: 'camera',
    }
    assert float(base.findtext("sensor[@name='imu_sensor']/update_rate")) == 250.0
    rotors = {
        link.get('name'): floats(link.findtext('pose'))[:3]
        for link in element.findall('link')
        if link.get('name').startswith('rotor_')
    }
    assert rotors == {
        'rotor_0': [0.174, -0.174, 0.06],
        'rotor_1': [-0.174, 0.174, 0.06],
        'rotor_2': [0.174, 0.174, 0.06],
        'rotor_3': [-0.174, -0.174, 0.06],
    }
    motors = [p for p in element.findall('plugin') if p.get('name').endswith('MotorModel')]
    assert [m.findtext('motorNumber') for m in motors] == ['0', '1', '2', '3']
    assert [m.findtext('turningDirection') for m in motors] == ['ccw', 'ccw', 'cw', 'cw']
    joints = {j.get('name'): j.findtext('child') for j in element.findall('joint')}
    for motor in motors:
        assert motor.get('filename') == 'gz-sim-multicopter-motor-model-system'
        assert motor.findtext('commandSubTopic') == 'command/motor_speed'
        assert joints[motor.findtext('jointName')] == motor.findtext('linkName')
        assert float(motor.findtext('motorConstant')) == 8.54858e-06
        assert float(motor.findtext('maxRotVelocity')) == 1000.0


def test_model_config_points_to_the_model_sdf():
    root = ET.parse(MODEL_CONFIG).getroot()
    assert root.findtext('name') == gz_assets.MODEL_NAME == MODEL_CONFIG.parent.name
    (sdf,) = root.findall('sdf')
    assert sdf.get('version') == '1.9'
    assert (MODEL_CONFIG.parent / sdf.text).resolve() == MODEL.resolve()
    assert 'PX4-gazebo-models' in root.findtext('description')


def test_topic_names_follow_gz_and_px4_conventions():
    instance = gz_assets.model_instance_name(2)
    assert instance == 'uav_flood_x500_2'
    assert gz_assets.camera_image_topic('flood_world', instance) == (
        '/world/flood_world/model/uav_flood_x500_2/link/base_link/sensor/camera/image'
    )
    assert gz_assets.camera_info_topic('flood_world', instance) == (
        '/world/flood_world/model/uav_flood_x500_2/link/base_link/sensor/camera/camera_info'
    )
    assert gz_assets.motor_command_topic(instance) == '/model/uav_flood_x500_2/command/motor_speed'
    for bad in ('', 'a/b', 'two words'):
        with pytest.raises(ConfigError):
            gz_assets.camera_image_topic(bad, instance)
    with pytest.raises(ConfigError):
        gz_assets.model_instance_name(-1)


@pytest.mark.parametrize(
    'changes',
    [{'width': 0}, {'width': True}, {'hfov_deg': 180.0}, {'rate_hz': 0.0}, {'near_m': 2000.0}],
)
def test_camera_rejects_bad_values(changes):
    with pytest.raises(ConfigError):
        gz_assets.GzCamera(**changes)


# --- The command ---------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog='uav-flood gz-assets')
    gz_cli.add_arguments(parser)
    return gz_cli.run(parser.parse_args(list(argv)))


@pytest.mark.parametrize(
    'extra',
    [
        ['--origin', 'north,east'],
        ['--origin', '95,8,400'],
        ['--hfov-deg', '200'],
        ['--width', '0'],
        ['--scene', 'no_such_scene.yaml'],
    ],
    ids=['origin-text', 'origin-range', 'hfov', 'width', 'scene'],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, extra):
    assert run_cli('--out', str(tmp_path / 'out'), *extra) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('uav-flood gz-assets: error: '), captured.err
    assert not (tmp_path / 'out').exists()


def test_cli_refuses_a_non_empty_folder_without_force(tmp_path, capsys):
    keep = tmp_path / 'notes.txt'
    keep.write_text('mine')
    assert run_cli('--out', str(tmp_path)) == 2
    assert 'not empty' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt']
    assert run_cli('--out', str(tmp_path), '--force') == 0
    assert keep.read_text() == 'mine'
    assert (tmp_path / gz_assets.WORLD_SDF_PATH).is_file()


def test_cli_writes_the_options_into_the_files(tmp_path, capsys):
    out = tmp_path / 'gz'
    code = run_cli(
        '--out', str(out), '--origin=-33.5,151.25,20', '--width', '320', '--height', '240',
        '--hfov-deg', '90', '--rate-hz', '5',
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert (
        '/world/flood_world/model/uav_flood_x500_0/link/base_link/sensor/camera/image' in printed
    )
    world = ET.parse(out / gz_assets.WORLD_SDF_PATH).getroot()
    assert float(world.findtext('.//spherical_coordinates/latitude_deg')) == -33.5
    assert float(world.findtext('.//spherical_coordinates/elevation')) == 20.0
    camera = ET.parse(out / gz_assets.MODEL_SDF_PATH).getroot().find(".//sensor[@type='camera']")
    assert camera.findtext('camera/image/width') == '320'
    assert camera.findtext('camera/image/height') == '240'
    assert float(camera.findtext('camera/horizontal_fov')) == pytest.approx(math.pi / 2)
    assert float(camera.findtext('update_rate')) == 5.0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()) == sorted(
        [gz_assets.WORLD_SDF_PATH, gz_assets.TEXTURE_PATH, gz_assets.MODEL_SDF_PATH,
         gz_assets.MODEL_CONFIG_PATH]
    )  # fmt: skip
