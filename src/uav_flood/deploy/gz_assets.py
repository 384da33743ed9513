"""The Gazebo (gz-sim) world and vehicle model, generated from the project's data (no rclpy).

What ships in worlds/ and models/ is written by this module (``uav-flood gz-assets``), and a test
checks the shipped files equal a fresh generation, so they are exact by construction:

- ``worlds/flood_world.sdf`` + ``worlds/flood_scene.jpg``: the PX4 gz world systems, the mission
  origin as ``<spherical_coordinates>`` (config/flight_control.yaml; gz's world frame is then ENU
  about it, so map ENU == gz world x, y) and a static ground whose textured plane is the built-in
  simulator's FloodScene mosaic at the same map size and position, north up; a large grey plane
  (the built-in camera's out-of-scene colour) surrounds it.
- ``models/uav_flood_x500/``: a self-contained copy of PX4's x500 (PX4-gazebo-models x500_base +
  x500, BSD-3-Clause): mass, inertia, rotor poses, motor model plugins and the sensors PX4's
  gz_bridge subscribes to, with primitive visuals instead of PX4's meshes, plus a nadir camera
  whose size, field of view and rate are config/sim_camera.yaml's.

Texture mapping (gz-sim SceneManager -> gz-rendering ogre2 ``unit_plane`` -> gz-common
MeshManager::CreatePlane): a plane with normal +z keeps its local axes (x east, y north); texture
u runs 0..1 from -x to +x and v = 1 - (y + size/2) / size, and v = 0 is the image's top row, so a
north-up image (row 0 north, like the mosaic) lands north up. docs/gazebo_assets.md has the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
import re
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
import yaml

from uav_flood.core.errors import ConfigError, UavFloodError
from uav_flood.core.geo import GeoPoint
from uav_flood.sim.camera import OUT_OF_SCENE_RGB, SKY_RGB
from uav_flood.sim.scene import FloodScene

__all__ = [
    'CAMERA_LINK',
    'CAMERA_SENSOR',
    'GzCamera',
    'MODEL_CONFIG_PATH',
    'MODEL_NAME',
    'MODEL_SDF_PATH',
    'SDF_VERSION',
    'TEXTURE_PATH',
    'WORLD_NAME',
    'WORLD_SDF_PATH',
    'camera_from_config',
    'camera_image_topic',
    'camera_info_topic',
    'config_dir',
    'generate_assets',
    'ground_texture',
    'model_config',
    'model_instance_name',
    'model_sdf',
    'motor_command_topic',
    'origin_from_config',
    'world_sdf',
    'write_assets',
]

#: SDFormat version of every generated file (SDFormat 12, ``ign sdf -k``, checks up to 1.9).
SDF_VERSION = '1.9'
#: World name; PX4_GZ_WORLD names the world file's stem, so they must be equal.
WORLD_NAME = 'flood_world'
#: Model folder name, PX4_SIM_MODEL=gz_<this>; PX4 names instance i '<this>_<i>'.
MODEL_NAME = 'uav_flood_x500'
#: The link and sensor of the nadir camera (gz's default topic is built from them).
CAMERA_LINK = 'base_link'
CAMERA_SENSOR = 'camera'
#: Generated files, relative to the output root (the repository root for the shipped ones).
WORLD_SDF_PATH = f'worlds/{WORLD_NAME}.sdf'
TEXTURE_PATH = 'worlds/flood_scene.jpg'
MODEL_SDF_PATH = f'models/{MODEL_NAME}/model.sdf'
MODEL_CONFIG_PATH = f'models/{MODEL_NAME}/model.config'
#: JPEG quality of the ground texture (the scene tiles themselves are JPEG quality 90).
TEXTURE_JPEG_QUALITY = 90
#: Side of the grey plane around the scene (m), and how far below the scene it lies (m).
SURROUNDINGS_SIZE_M = 4000.0
SURROUNDINGS_DEPTH_M = 0.05

_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')


def _num(value: float) -> str:
    """Format a computed number for SDF: shortest round-trip text, no float noise, no -0."""
    return repr(round(float(value), 9) + 0.0)


def _rgba(rgb: tuple[int, int, int]) -> str:
    return ' '.join(_num(c / 255.0) for c in rgb) + ' 1'


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f'{what} {name!r} must be letters, digits, _ . - (no / or spaces)')
    return name


# --- Inputs: the camera and the origin --------------------------------------------------------


@dataclass(frozen=True)
class GzCamera:
    """The nadir camera of the model, as the built-in camera defines it (square pixels).

    :param width: image width (px).
    :param height: image height (px).
    :param hfov_deg: horizontal field of view (deg, in (1, 179) as sim_camera accepts).
    :param rate_hz: frame rate (Hz).
    :param near_m: near clip distance (m); 0.3 m hides the airframe's own legs.
    :param far_m: far clip distance (m); far beyond the slant range at 120 m altitude.
    """

    width: int = 640
    height: int = 480
    hfov_deg: float = 70.0
    rate_hz: float = 2.0
    near_m: float = 0.3
    far_m: float = 1000.0

    def __post_init__(self) -> None:
        """Reject sizes, angles and rates that sim_camera or gz would not accept."""
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8192:
                raise ConfigError(f'camera {name} must be an integer in 1..8192 px, got {value!r}')
        numbers = (self.hfov_deg, self.rate_hz, self.near_m, self.far_m)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
            raise ConfigError(f'camera hfov, rate and clip must be finite numbers, got {numbers}')
        if not 1.0 < self.hfov_deg < 179.0:
            raise ConfigError(f'camera hfov_deg must be in (1, 179), got {self.hfov_deg}')
        if not 0.0 < self.rate_hz <= 1000.0:
            raise ConfigError(f'camera rate_hz must be in (0, 1000], got {self.rate_hz}')
        if not 0.0 < self.near_m < self.far_m:
            raise ConfigError(f'camera clip needs 0 < near < far, got {self.near_m}, {self.far_m}')

    @property
    def hfov_rad(self) -> float:
        """Return the horizontal field of view (rad), as SDF's <horizontal_fov> holds it."""
        return math.radians(self.hfov_deg)

    @property
    def fx_px(self) -> float:
        """Return the focal length (px) gz derives from width and horizontal_fov."""
        return (self.width / 2.0) / math.tan(self.hfov_rad / 2.0)


def config_dir() -> Path:
    """Return the folder of the node parameter files: the source tree's, else an installed one.

    :raises ConfigError: when neither holds sim_camera.yaml.
    """
    from uav_flood.runner.spec import share_dirs

    candidates = [Path(__file__).resolve().parents[3] / 'config']
    candidates += [d / 'config' for d in share_dirs('uav_flood')]
    for folder in candidates:
        if (folder / 'sim_camera.yaml').is_file():
            return folder
    looked = ', '.join(str(c) for c in candidates)
    raise ConfigError(f'node parameter files not found (looked in {looked})', 'config')


def _ros_parameters(path: Path) -> dict[str, Any]:
    """Return the ``/**: ros__parameters`` mapping of a node parameter file."""
    source = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f'cannot read parameters: {exc}', source) from None
    params = document.get('/**', {}).get('ros__parameters') if isinstance(document, dict) else None
    if not isinstance(params, dict):
        raise ConfigError("expected '/**: ros__parameters:' with a mapping", source)
    return params


def camera_from_config(path: str | Path | None = None) -> GzCamera:
    """Return the camera of a sim_camera parameter file (default: config/sim_camera.yaml).

    :raises ConfigError: on a missing file or bad values.
    """
    file = Path(path) if path is not None else config_dir() / 'sim_camera.yaml'
    params = _ros_parameters(file)
    try:
        return GzCamera(
            width=params['width'],
            height=params['height'],
            hfov_deg=float(params['hfov_deg']),
            rate_hz=float(params['rate_hz']),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f'width, height, hfov_deg and rate_hz needed: {exc}', str(file)
        ) from None
    except ConfigError as exc:
        raise ConfigError(str(exc), str(file)) from None


def origin_from_config(path: str | Path | None = None) -> GeoPoint:
    """Return the mission origin of a flight_control parameter file (default: the shipped one).

    :raises ConfigError: on a missing file or bad values.
    """
    file = Path(path) if path is not None else config_dir() / 'flight_control.yaml'
    params = _ros_parameters(file)
    try:
        return GeoPoint(
            float(params['origin_lat_deg']),
            float(params['origin_lon_deg']),
            float(params['origin_alt_m']),
        )
    except (KeyError, TypeError, ValueError, UavFloodError) as exc:
        raise ConfigError(f'origin_lat_deg/lon_deg/alt_m needed: {exc}', str(file)) from None


# --- Topics ------------------------------------------------------------------------------------


def model_instance_name(instance: int, model: str = MODEL_NAME) -> str:
    """Return the name PX4 gives the model of SITL instance `instance` (``<model>_<i>``).

    px4-rc.gzsim spawns ``PX4_SIM_MODEL`` (less its ``gz_`` prefix) as ``<model>_<px4_instance>``.
    """
    if isinstance(instance, bool) or not isinstance(instance, int) or instance < 0:
        raise ConfigError(f'PX4 instance must be an integer >= 0, got {instance!r}')
    return f'{_check_name(model, "model")}_{instance}'


def camera_image_topic(world: str = WORLD_NAME, model_instance: str = f'{MODEL_NAME}_0') -> str:
    """Return the gz topic of the nadir camera's images (gz.msgs.Image).

    gz-sim names a sensor's topic after its scope when the SDF gives none:
    ``/world/<world>/model/<model>/link/<link>/sensor/<sensor>/image``.

    :param world: the world name (PX4_GZ_WORLD).
    :param model_instance: the spawned model's name, e.g. model_instance_name(0).
    """
    _check_name(world, 'world')
    _check_name(model_instance, 'model instance')
    return f'/world/{world}/model/{model_instance}/link/{CAMERA_LINK}/sensor/{CAMERA_SENSOR}/image'


def camera_info_topic(world: str = WORLD_NAME, model_instance: str = f'{MODEL_NAME}_0') -> str:
    """Return the gz topic of the nadir camera's gz.msgs.CameraInfo (next to its image topic)."""
    return camera_image_topic(world, model_instance).rsplit('/', 1)[0] + '/camera_info'


def motor_command_topic(model_instance: str = f'{MODEL_NAME}_0') -> str:
    """Return the gz topic PX4's gz_bridge publishes motor speeds on (gz.msgs.Actuators)."""
    return f'/model/{_check_name(model_instance, "model instance")}/command/motor_speed'


# --- The world ---------------------------------------------------------------------------------


def ground_texture(scene: FloodScene) -> NDArray[np.uint8]:
    """Return the ground texture: the mosaic (RGB, row 0 north), uncovered pixels grey.

    Pixels no tile covers get the built-in camera's out-of-scene colour, as it renders them.
    """
    rgb = scene.rgb.copy()
    rgb[~scene.covered] = OUT_OF_SCENE_RGB
    return rgb


def _encode_jpeg(rgb: NDArray[np.uint8]) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, TEXTURE_JPEG_QUALITY])
    if not ok:
        raise ConfigError('cannot encode the ground texture as JPEG')
    return bytes(data.tobytes())


_WORLD_SYSTEMS = (
    # The systems PX4's gz worlds load (PX4-gazebo-models worlds/default.sdf).
    ('gz::sim::systems::Physics', 'gz-sim-physics-system'),
    ('gz::sim::systems::UserCommands', 'gz-sim-user-commands-system'),
    ('gz::sim::systems::SceneBroadcaster', 'gz-sim-scene-broadcaster-system'),
    ('gz::sim::systems::Contact', 'gz-sim-contact-system'),
    ('gz::sim::systems::Imu', 'gz-sim-imu-system'),
    ('gz::sim::systems::AirPressure', 'gz-sim-air-pressure-system'),
    ('gz::sim::systems::ApplyLinkWrench', 'gz-sim-apply-link-wrench-system'),
    ('gz::sim::systems::NavSat', 'gz-sim-navsat-system'),
    ('gz::sim::systems::Magnetometer', 'gz-sim-magnetometer-system'),
)


def world_sdf(
    scene: FloodScene,
    origin: GeoPoint,
    texture_uri: str = Path(TEXTURE_PATH).name,
    world_name: str = WORLD_NAME,
) -> str:
    """Return the flood world's SDF.

    :param scene: the labelled scene whose mosaic the ground carries.
    :param origin: the mission origin = the world's spherical coordinates (WGS84; alt m AMSL).
    :param texture_uri: the ground texture, relative to the world file (or a URI).
    :param world_name: the world name (PX4_GZ_WORLD, = the file stem).
    """
    _check_name(world_name, 'world')
    min_e, min_n, max_e, max_n = scene.bounds_enu
    centre_e, centre_n = scene.centre_enu
    size_e, size_n = max_e - min_e, max_n - min_n
    grey = _rgba(OUT_OF_SCENE_RGB)
    systems = '\n'.join(
        f"    <plugin name='{name}' filename='{filename}'/>" for name, filename in _WORLD_SYSTEMS
    )
    big = f'{_num(SURROUNDINGS_SIZE_M)} {_num(SURROUNDINGS_SIZE_M)}'
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<!--
  Generated by `uav-flood gz-assets` (src/uav_flood/deploy/gz_assets.py): do not edit by hand.
  Ground: scene '{scene.name}', {scene.width_px} x {scene.height_px} px at \
{_num(scene.resolution_m)} m/px, map ENU east {_num(min_e)}..{_num(max_e)} m, \
north {_num(min_n)}..{_num(max_n)} m.
  gz world x, y = map east, north (m) about the spherical coordinates below (see
  docs/gazebo_assets.md). Systems, physics and sun follow PX4-gazebo-models worlds/default.sdf.
-->
<sdf version='{SDF_VERSION}'>
  <world name='{world_name}'>
    <physics name='4ms' type='ode'>
      <max_step_size>0.004</max_step_size>
      <real_time_factor>1.0</real_time_factor>
      <real_time_update_rate>250</real_time_update_rate>
    </physics>
{systems}
    <plugin name='gz::sim::systems::Sensors' filename='gz-sim-sensors-system'>
      <render_engine>ogre2</render_engine>
    </plugin>
    <gravity>0 0 -9.8</gravity>
    <magnetic_field>6e-06 2.3e-05 -4.2e-05</magnetic_field>
    <atmosphere type='adiabatic'/>
    <scene>
      <grid>false</grid>
      <ambient>0.4 0.4 0.4 1</ambient>
      <background>{_rgba(SKY_RGB)}</background>
      <shadows>true</shadows>
    </scene>
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>{_num(origin.lat_deg)}</latitude_deg>
      <longitude_deg>{_num(origin.lon_deg)}</longitude_deg>
      <elevation>{_num(origin.alt_m)}</elevation>
      <heading_deg>0</heading_deg>
    </spherical_coordinates>
    <model name='flood_ground'>
      <static>true</static>
      <link name='link'>
        <collision name='collision'>
          <geometry>
            <plane>
              <normal>0 0 1</normal>
              <size>{big}</size>
            </plane>
          </geometry>
          <surface>
            <friction>
              <ode/>
            </friction>
          </surface>
        </collision>
        <visual name='flood_scene'>
          <pose>{_num(centre_e)} {_num(centre_n)} 0 0 0 0</pose>
          <cast_shadows>false</cast_shadows>
          <geometry>
            <plane>
              <normal>0 0 1</normal>
              <size>{_num(size_e)} {_num(size_n)}</size>
            </plane>
          </geometry>
          <material>
            <ambient>1 1 1 1</ambient>
            <diffuse>1 1 1 1</diffuse>
            <specular>0 0 0 1</specular>
            <pbr>
              <metal>
                <albedo_map>{texture_uri}</albedo_map>
                <metalness>0</metalness>
                <roughness>1</roughness>
              </metal>
            </pbr>
          </material>
        </visual>
        <visual name='surroundings'>
          <pose>0 0 {_num(-SURROUNDINGS_DEPTH_M)} 0 0 0</pose>
          <cast_shadows>false</cast_shadows>
          <geometry>
            <plane>
              <normal>0 0 1</normal>
              <size>{big}</size>
            </plane>
          </geometry>
          <material>
            <ambient>{grey}</ambient>
            <diffuse>{grey}</diffuse>
            <specular>0 0 0 1</specular>
            <pbr>
              <metal>
                <metalness>0</metalness>
                <roughness>1</roughness>
              </metal>
            </pbr>
          </material>
        </visual>
      </link>
    </model>
    <light name='sunUTC' type='directional'>
      <pose>0 0 500 0 0 0</pose>
      <cast_shadows>true</cast_shadows>
      <intensity>1</intensity>
      <direction>0.001 0.625 -0.78</direction>
      <diffuse>0.904 0.904 0.904 1</diffuse>
      <specular>0.271 0.271 0.271 1</specular>
      <attenuation>
        <range>2000</range>
        <linear>0</linear>
        <constant>1</constant>
        <quadratic>0</quadratic>
      </attenuation>
    </light>
  </world>
</sdf>
"""


# --- The model ---------------------------------------------------------------------------------

# PX4-gazebo-models x500_base: rotor i at (x, y) on base_link, z 0.06 m; x500: turning direction.
_ROTORS = (
    (0, 0.174, -0.174, 'ccw'),
    (1, -0.174, 0.174, 'ccw'),
    (2, 0.174, 0.174, 'cw'),
    (3, -0.174, -0.174, 'cw'),
)
_ROTOR_Z_M = 0.06

_SURFACE = """        <surface>
          <contact>
            <ode>
              <min_depth>0.001</min_depth>
              <max_vel>0</max_vel>
            </ode>
          </contact>
          <friction>
            <ode/>
          </friction>
        </surface>"""

# x500_base's base_link collisions: (name suffix, pose, box size).
_BODY_COLLISIONS = (
    ('0', '0 0 .007 0 0 0', '0.35355339059327373 0.35355339059327373 0.05'),
    ('1', '0 -0.098 -.123 -0.35 0 0', '0.015 0.015 0.21'),
    ('2', '0 0.098 -.123 0.35 0 0', '0.015 0.015 0.21'),
    ('3', '0 -0.132 -.2195 0 0 0', '0.25 0.015 0.015'),
    ('4', '0 0.132 -.2195 0 0 0', '0.25 0.015 0.015'),
)

_DARK = '<ambient>0.15 0.15 0.15 1</ambient><diffuse>0.15 0.15 0.15 1</diffuse>'
_FRONT = '<ambient>0.8 0.1 0.1 1</ambient><diffuse>0.8 0.1 0.1 1</diffuse>'
_BACK = '<ambient>0.3 0.3 0.3 1</ambient><diffuse>0.3 0.3 0.3 1</diffuse>'


def _box_visual(name: str, pose: str, size: str, material: str) -> str:
    return f"""      <visual name='{name}'>
        <pose>{pose}</pose>
        <geometry>
          <box>
            <size>{size}</size>
          </box>
        </geometry>
        <material>{material}</material>
      </visual>"""


def _body_visuals() -> str:
    parts = [_box_visual('body', '0 0 .025 0 0 0', '0.16 0.16 0.04', _DARK)]
    for index, x, y, _ in _ROTORS:
        yaw = math.atan2(y, x)
        arm = math.hypot(x, y)
        colour = _FRONT if x > 0.0 else _BACK
        parts.append(
            _box_visual(
                f'arm_{index}',
                f'{_num(x / 2)} {_num(y / 2)} .025 0 0 {_num(yaw)}',
                f'{_num(arm)} 0.02 0.015',
                colour,
            )
        )
        parts.append(f"""      <visual name='motor_{index}'>
        <pose>{_num(x)} {_num(y)} .032 0 0 0</pose>
        <geometry>
          <cylinder>
            <radius>0.0185</radius>
            <length>0.03</length>
          </cylinder>
        </geometry>
        <material>{_DARK}</material>
      </visual>""")
    for suffix, pose, size in _BODY_COLLISIONS[1:]:
        parts.append(_box_visual(f'leg_{suffix}', pose, size, _DARK))
    return '\n'.join(parts)


def _body_collisions() -> str:
    return '\n'.join(
        f"""      <collision name='base_link_collision_{suffix}'>
        <pose>{pose}</pose>
        <geometry>
          <box>
            <size>{size}</size>
          </box>
        </geometry>
{_SURFACE}
      </collision>"""
        for suffix, pose, size in _BODY_COLLISIONS
    )


_NOISE_GYRO = """              <noise type='gaussian'>
                <mean>0</mean>
                <stddev>0.00018665</stddev>
                <dynamic_bias_stddev>3.8785e-05</dynamic_bias_stddev>
                <dynamic_bias_correlation_time>1000</dynamic_bias_correlation_time>
              </noise>"""
_NOISE_ACCEL = """              <noise type='gaussian'>
                <mean>0</mean>
                <stddev>0.00186</stddev>
                <dynamic_bias_stddev>0.006</dynamic_bias_stddev>
                <dynamic_bias_correlation_time>300</dynamic_bias_correlation_time>
              </noise>"""
_NOISE_MAG = """            <noise type='gaussian'>
              <stddev>0.0001</stddev>
            </noise>"""


def _axes(noise: str, indent: str) -> str:
    return '\n'.join(f'{indent}<{a}>\n{noise}\n{indent}</{a}>' for a in 'xyz')


def _sensors(camera: GzCamera) -> str:
    return f"""      <sensor name='air_pressure_sensor' type='air_pressure'>
        <always_on>1</always_on>
        <update_rate>50</update_rate>
        <air_pressure>
          <pressure>
            <noise type='gaussian'>
              <mean>0</mean>
              <stddev>0.01</stddev>
            </noise>
          </pressure>
        </air_pressure>
      </sensor>
      <sensor name='magnetometer_sensor' type='magnetometer'>
        <always_on>1</always_on>
        <update_rate>100</update_rate>
        <magnetometer>
{_axes(_NOISE_MAG, '          ')}
        </magnetometer>
      </sensor>
      <sensor name='imu_sensor' type='imu'>
        <always_on>1</always_on>
        <update_rate>250</update_rate>
        <imu>
          <angular_velocity>
{_axes(_NOISE_GYRO, '            ')}
          </angular_velocity>
          <linear_acceleration>
{_axes(_NOISE_ACCEL, '            ')}
          </linear_acceleration>
        </imu>
      </sensor>
      <sensor name='navsat_sensor' type='navsat'>
        <always_on>1</always_on>
        <update_rate>30</update_rate>
      </sensor>
      <sensor name='{CAMERA_SENSOR}' type='camera'>
        <!-- Nadir: pitch +90 deg turns the camera's +x (view axis) to -z; image up = forward,
             image right = body right, as the built-in camera's mount pitch -90 deg. -->
        <pose>0 0 0 0 {repr(math.pi / 2)} 0</pose>
        <always_on>1</always_on>
        <update_rate>{_num(camera.rate_hz)}</update_rate>
        <visualize>false</visualize>
        <camera name='nadir'>
          <horizontal_fov>{repr(camera.hfov_rad)}</horizontal_fov>
          <image>
            <width>{camera.width}</width>
            <height>{camera.height}</height>
            <format>R8G8B8</format>
          </image>
          <clip>
            <near>{_num(camera.near_m)}</near>
            <far>{_num(camera.far_m)}</far>
          </clip>
        </camera>
      </sensor>"""


def _rotor(index: int, x: float, y: float) -> str:
    prop = _ROTORS[index][3]
    return f"""    <link name='rotor_{index}'>
      <gravity>true</gravity>
      <self_collide>false</self_collide>
      <velocity_decay/>
      <pose>{_num(x)} {_num(y)} {_num(_ROTOR_Z_M)} 0 0 0</pose>
      <inertial>
        <mass>0.016076923076923075</mass>
        <inertia>
          <ixx>3.8464910483993325e-07</ixx>
          <iyy>2.6115851691700804e-05</iyy>
          <izz>2.649858234714004e-05</izz>
        </inertia>
      </inertial>
      <visual name='rotor_{index}_visual'>
        <!-- {prop} propeller: a blade bar of the collision box's size (PX4 uses a mesh) -->
        <geometry>
          <box>
            <size>0.2792307692307692 0.016923076923076923 0.004</size>
          </box>
        </geometry>
        <material>{_DARK}</material>
      </visual>
      <collision name='rotor_{index}_collision'>
        <geometry>
          <box>
            <size>0.2792307692307692 0.016923076923076923 0.0008461538461538462</size>
          </box>
        </geometry>
{_SURFACE}
      </collision>
    </link>
    <joint name='rotor_{index}_joint' type='revolute'>
      <parent>base_link</parent>
      <child>rotor_{index}</child>
      <axis>
        <xyz>0 0 1</xyz>
        <limit>
          <lower>-1e+16</lower>
          <upper>1e+16</upper>
        </limit>
        <dynamics>
          <spring_reference>0</spring_reference>
          <spring_stiffness>0</spring_stiffness>
        </dynamics>
      </axis>
    </joint>"""


def _motor_plugin(index: int, direction: str) -> str:
    return f"""    <plugin filename='gz-sim-multicopter-motor-model-system'
      name='gz::sim::systems::MulticopterMotorModel'>
      <jointName>rotor_{index}_joint</jointName>
      <linkName>rotor_{index}</linkName>
      <turningDirection>{direction}</turningDirection>
      <timeConstantUp>0.0125</timeConstantUp>
      <timeConstantDown>0.025</timeConstantDown>
      <maxRotVelocity>1000.0</maxRotVelocity>
      <motorConstant>8.54858e-06</motorConstant>
      <momentConstant>0.016</momentConstant>
      <commandSubTopic>command/motor_speed</commandSubTopic>
      <motorNumber>{index}</motorNumber>
      <rotorDragCoefficient>8.06428e-05</rotorDragCoefficient>
      <rollingMomentCoefficient>1e-06</rollingMomentCoefficient>
      <rotorVelocitySlowdownSim>10</rotorVelocitySlowdownSim>
      <motorType>velocity</motorType>
    </plugin>"""


def model_sdf(camera: GzCamera) -> str:
    """Return the uav_flood_x500 model's SDF: PX4's x500 plus the nadir camera.

    :param camera: the nadir camera (size, field of view, rate, clip).
    """
    rotors = '\n'.join(_rotor(i, x, y) for i, x, y, _ in _ROTORS)
    plugins = '\n'.join(_motor_plugin(i, d) for i, _, _, d in _ROTORS)
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<!--
  Generated by `uav-flood gz-assets` (src/uav_flood/deploy/gz_assets.py): do not edit by hand.
  PX4's x500 (PX4-gazebo-models models/x500_base + models/x500, BSD-3-Clause, Copyright PX4
  Development Team): mass, inertia, collisions, rotor links and joints, motor model plugins and the
  imu/air_pressure/magnetometer/navsat sensors on base_link that PX4's gz_bridge subscribes to,
  with primitive visuals instead of PX4's meshes; plus a nadir camera on base_link with
  config/sim_camera.yaml's size, field of view and rate. See docs/gazebo_assets.md.
-->
<sdf version='{SDF_VERSION}'>
  <model name='{MODEL_NAME}'>
    <pose>0 0 .24 0 0 0</pose>
    <self_collide>false</self_collide>
    <static>false</static>
    <link name='base_link'>
      <inertial>
        <mass>2.0</mass>
        <inertia>
          <ixx>0.02166666666666667</ixx>
          <ixy>0</ixy>
          <ixz>0</ixz>
          <iyy>0.02166666666666667</iyy>
          <iyz>0</iyz>
          <izz>0.04000000000000001</izz>
        </inertia>
      </inertial>
      <gravity>true</gravity>
      <velocity_decay/>
{_body_visuals()}
{_body_collisions()}
{_sensors(camera)}
    </link>
{rotors}
{plugins}
  </model>
</sdf>
"""


def model_config() -> str:
    """Return the model's model.config (name, SDF file and version, credits)."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<model>
  <name>{MODEL_NAME}</name>
  <version>1.0</version>
  <sdf version='{SDF_VERSION}'>model.sdf</sdf>
  <author>
    <name>uav_flood developers</name>
    <email>dev@uav-flood.org</email>
  </author>
  <description>
    PX4 x500 quadrotor with a nadir camera for uav_flood (generated by `uav-flood gz-assets`).
    Derived from PX4-gazebo-models models/x500_base and models/x500 (BSD-3-Clause, Copyright
    PX4 Development Team), with primitive visuals instead of PX4's meshes.
  </description>
</model>
"""


# --- Generation --------------------------------------------------------------------------------


def generate_assets(scene: FloodScene, origin: GeoPoint, camera: GzCamera) -> dict[str, bytes]:
    """Return every generated file by its path relative to the output root.

    :param scene: the labelled scene the ground carries.
    :param origin: the mission origin (the world's spherical coordinates).
    :param camera: the model's nadir camera.
    """
    return {
        WORLD_SDF_PATH: world_sdf(scene, origin).encode('utf-8'),
        TEXTURE_PATH: _encode_jpeg(ground_texture(scene)),
        MODEL_SDF_PATH: model_sdf(camera).encode('utf-8'),
        MODEL_CONFIG_PATH: model_config().encode('utf-8'),
    }


def write_assets(files: dict[str, bytes], out: str | Path) -> list[Path]:
    """Write generated files under `out` (folders created, files replaced); return their paths."""
    root = Path(out)
    written = []
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written
