"""The node graphs of a PX4 SITL + Gazebo fleet, of a vehicle's companion computer, of the ground.

Each function returns a graph-file mapping (``{'nodes': [...]}``, docs/node_graph.md), the data
`uav-flood launch` runs and the launch files in launch/ turn into launch_ros ``Node`` actions, so
both describe the same graph by construction. The shipped config/graphs/{sitl_gz,onboard,
ground}.yaml are these functions' output for the defaults (a test checks they are current).

- :func:`sitl_graph`: per PX4 SITL instance i, namespace /uav{i}: gz_camera_bridge (the Gazebo
  camera of model ``<model>_<i>`` to camera/image_raw + camera_info), flight_control (MAVLink on
  UDP 14540 + i, PX4 SITL's offboard API port) and segmentation (adaptive offloading straight to
  the edge server); then the ground side of :func:`ground_nodes`.
- :func:`onboard_graph`: one vehicle's companion computer (a Jetson): flight_control on a serial
  or UDP MAVLink link and segmentation on the TensorRT/CUDA execution providers; the camera
  driver is the user's (its topics are remapped onto camera/image_raw and camera/camera_info).
- :func:`ground_graph`: the ground station serving real vehicles over DDS: edge_server,
  swarm_coordinator, flood_mapper, recorder and the Foxglove bridge.

Nothing here imports ROS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uav_flood.core import sitl
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint, ORIGIN_PARAMETERS
from uav_flood.deploy.px4 import MAX_INSTANCES, SitlWorld
from uav_flood.runner.spec import graph_yaml

#: The mission origin of every shipped graph: PX4 SITL's home, flight_control.yaml's default and
#: the spherical coordinates of worlds/flood_world.sdf.
DEFAULT_ORIGIN = sitl.PX4_SITL_HOME
#: The area the shipped graphs cover: the labelled flood scene (relative to the working
#: directory, as in config/graphs/demo.yaml).
SHIPPED_AREA = Path('config/areas/flood_scene.geojson')
#: Topics the recorder leaves out (raw frames, masks, edge traffic: hundreds of MB per minute).
RECORD_EXCLUDE = (
    r'^/rosout$|/camera/image_raw$|/camera/ground_truth$|/segmentation/mask$'
    r'|/edge/(request|result|uplink|downlink)$'
)
#: onnxruntime execution providers on a Jetson, best first (docs/jetson.md).
JETSON_PROVIDERS = ('tensorrt', 'cuda', 'cpu')


#: The restart policy of every node that recovers its state when started again: the swarm
#: coordinator (state_file), the mapper (checkpoint, and the observations the drones re-send),
#: the edge server and the per-drone nodes (stateless or re-synchronised from the autopilot and
#: the latched paths). A node that keeps failing is given up after 5 restarts. The recorder is
#: not restarted: a new recorder would start a new file over the mission's recording.
RESPAWN: dict[str, Any] = {'respawn': True, 'respawn_delay': 1.0, 'respawn_max': 5}


def origin_parameters(origin: GeoPoint) -> dict[str, float]:
    """Return the origin_* parameters of flight_control, swarm_coordinator, flood_mapper."""
    values = (origin.lat_deg, origin.lon_deg, origin.alt_m)
    return dict(zip(ORIGIN_PARAMETERS, values, strict=True))


def _check_vehicles(vehicles: tuple[str, ...]) -> None:
    if not vehicles:
        raise ConfigError('at least one vehicle is needed', 'vehicles')
    for name in vehicles:
        if not (name.startswith('uav') and name[3:].isdigit()):
            raise ConfigError(f'{name!r}: vehicle namespaces are uavN (N >= 0)', 'vehicles')
    if len(set(vehicles)) != len(vehicles):
        raise ConfigError(f'{list(vehicles)}: a vehicle is listed twice', 'vehicles')


@dataclass(frozen=True)
class GroundConfig:
    """The ground side: what every graph with a ground station shares.

    :param vehicles: the namespaces served (uav0, uav1, ...).
    :param area_file: the area of interest (GeoJSON, WGS84).
    :param origin: the map origin (deg, deg, m AMSL).
    :param out_dir: where the map checkpoint and the recording go.
    :param altitude_m: altitude of the lowest coverage layer (m above home).
    :param config_dir: where the node parameter files are; relative paths are written as given
        (a graph file resolves them against its own folder).
    :param edge_providers: onnxruntime providers of the edge server, best first; None: its
        parameter file's.
    :param edge_threads: onnxruntime threads of the edge server; None: its parameter file's.
    :param record: start the recorder.
    :param foxglove: start the Foxglove WebSocket bridge.
    :param coordinator: extra swarm_coordinator parameters (over its parameter file's).
    """

    vehicles: tuple[str, ...]
    area_file: Path = SHIPPED_AREA
    origin: GeoPoint = DEFAULT_ORIGIN
    out_dir: Path = Path('mission')
    altitude_m: float = 60.0
    config_dir: Path = Path('..')
    edge_providers: tuple[str, ...] | None = ('cpu',)
    edge_threads: int | None = None
    record: bool = True
    foxglove: bool = False
    coordinator: Mapping[str, Any] = field(default_factory=dict)


def ground_nodes(config: GroundConfig) -> list[dict[str, Any]]:
    """Return the ground station's nodes: edge server, coordinator, mapper, recorder, Foxglove.

    :param config: vehicles, area, origin and files.
    :raises ConfigError: no vehicle, or a name that is not uavN.
    """
    _check_vehicles(config.vehicles)
    conf = config.config_dir
    vehicles = list(config.vehicles)
    edge: dict[str, Any] = {'vehicles': vehicles}
    if config.edge_providers is not None:
        edge['providers'] = list(config.edge_providers)
    if config.edge_threads is not None:
        edge['threads'] = config.edge_threads
    nodes: list[dict[str, Any]] = [
        {
            'executable': 'edge_server',
            'parameters': [str(conf / 'edge_server.yaml'), edge],
            **RESPAWN,
        },
        {
            'executable': 'swarm_coordinator',
            'parameters': [
                str(conf / 'swarm_coordinator.yaml'),
                {
                    **origin_parameters(config.origin),
                    'vehicles': vehicles,
                    'area_file': str(config.area_file),
                    'altitude_m': config.altitude_m,
                    'state_file': str(config.out_dir / 'swarm_state.json'),
                    **config.coordinator,
                },
            ],
            **RESPAWN,
        },
        {
            'executable': 'flood_mapper',
            'parameters': [
                str(conf / 'flood_mapper.yaml'),
                {
                    'vehicles': vehicles,
                    'checkpoint_file': str(config.out_dir / 'flood_map.npz'),
                    **origin_parameters(config.origin),
                },
            ],
            **RESPAWN,
        },
    ]
    if config.record:
        nodes.append(
            {
                'executable': 'recorder',
                'parameters': [
                    str(conf / 'recorder.yaml'),
                    {
                        'output_file': str(config.out_dir / 'mission.mcap'),
                        'exclude_regex': RECORD_EXCLUDE,
                    },
                ],
            }
        )
    if config.foxglove:
        nodes.append(
            {
                'executable': 'foxglove_bridge',
                'parameters': [str(conf / 'foxglove_bridge.yaml')],
            }
        )
    return nodes


@dataclass(frozen=True)
class SitlConfig:
    """A PX4 SITL + Gazebo fleet: N PX4 instances in the flood world, our nodes beside them.

    :param drones: number of PX4 instances (0 ... N-1), at most :data:`MAX_INSTANCES`.
    :param world: the Gazebo world and vehicle model (names, spawn spacing).
    :param ground: the ground side; its vehicles must be uav0 ... uav{N-1}.
    :param auto_start: flight_control flies each path the coordinator sends without a
        takeoff call (as in the demo).
    :param mavlink_base_port: PX4 SITL instance i sends to UDP base + i (PX4: 14540).
    """

    drones: int = 3
    world: SitlWorld = field(default_factory=SitlWorld)
    ground: GroundConfig | None = None
    auto_start: bool = True
    mavlink_base_port: int = sitl.MAVLINK_BASE_PORT

    def __post_init__(self) -> None:
        """Check the fleet size (PX4's port scheme) and that the ground serves the fleet."""
        if not 1 <= self.drones <= MAX_INSTANCES:
            raise ConfigError(
                f'{self.drones}: PX4 SITL gives instances 0-{MAX_INSTANCES - 1} their own '
                f'MAVLink ports, so 1 to {MAX_INSTANCES} drones',
                'drones',
            )
        if self.ground is not None and self.ground.vehicles != self.vehicles:
            raise ConfigError(
                f'the ground serves {list(self.ground.vehicles)}, the fleet is '
                f'{list(self.vehicles)}',
                'vehicles',
            )

    @property
    def vehicles(self) -> tuple[str, ...]:
        """Return the namespaces, uav0 ... uav{N-1}: /uav{i} flies PX4 instance i."""
        return tuple(f'uav{i}' for i in range(self.drones))

    @property
    def ground_config(self) -> GroundConfig:
        """Return the ground side, by default the shipped area with the out folder sitl_mission."""
        if self.ground is not None:
            return self.ground
        return GroundConfig(vehicles=self.vehicles, out_dir=Path('sitl_mission'))


def sitl_graph(config: SitlConfig) -> dict[str, Any]:
    """Return the ROS side of a PX4 SITL + Gazebo fleet (PX4 and Gazebo: deploy.px4).

    :param config: fleet size, world, ground side.
    """
    ground = config.ground_config
    conf = ground.config_dir
    nodes: list[dict[str, Any]] = []
    for instance, name in enumerate(config.vehicles):
        ns = f'/{name}'
        nodes += [
            {
                'executable': 'gz_camera_bridge',
                'namespace': ns,
                'parameters': [
                    str(conf / 'gz_camera_bridge.yaml'),
                    {'gz_topic': config.world.camera_topic(instance)},
                ],
                **RESPAWN,
            },
            {
                'executable': 'flight_control',
                'namespace': ns,
                'parameters': [
                    str(conf / 'flight_control.yaml'),
                    {
                        **origin_parameters(ground.origin),
                        'mavlink_base_port': config.mavlink_base_port,
                        'auto_start': config.auto_start,
                        'geofence_file': str(ground.area_file),
                    },
                ],
                **RESPAWN,
            },
            {
                'executable': 'segmentation',
                'namespace': ns,
                'parameters': [
                    str(conf / 'segmentation.yaml'),
                    {'offload_mode': 'adaptive', 'offload_direct': True},
                ],
                **RESPAWN,
            },
        ]
    return {'nodes': nodes + ground_nodes(ground)}


@dataclass(frozen=True)
class OnboardConfig:
    """One vehicle's companion computer (a Jetson) next to its PX4 flight controller.

    :param vehicle: the namespace (uavN); N only names the vehicle here, the link is the URL.
    :param connection_url: MAVSDK URL of the flight controller: a serial port (TELEM2 at
        921600 baud on a Jetson's UART) or a UDP endpoint (udpin://0.0.0.0:14540).
    :param providers: onnxruntime execution providers, best first.
    :param image_topic: the camera driver's image topic (remapped onto camera/image_raw).
    :param info_topic: the camera driver's CameraInfo topic (onto camera/camera_info).
    :param origin: the map origin (deg, deg, m AMSL); the same on every vehicle and the ground.
    :param area_file: the geofence (the area of interest, GeoJSON).
    :param offload_mode: segmentation's offload mode (off, local, edge, adaptive).
    :param config_dir: where the parameter files are (see GroundConfig).
    """

    vehicle: str = 'uav0'
    connection_url: str = 'serial:///dev/ttyTHS1:921600'
    providers: tuple[str, ...] = JETSON_PROVIDERS
    image_topic: str = 'camera/image_raw'
    info_topic: str = 'camera/camera_info'
    origin: GeoPoint = DEFAULT_ORIGIN
    area_file: Path = SHIPPED_AREA
    offload_mode: str = 'adaptive'
    config_dir: Path = Path('..')

    def __post_init__(self) -> None:
        """Check the namespace, the URL scheme and the offload mode."""
        _check_vehicles((self.vehicle,))
        schemes = ('serial://', 'udpin://', 'udpout://', 'tcpin://', 'tcpout://')
        if not self.connection_url.startswith(schemes):
            raise ConfigError(
                f'{self.connection_url!r}: a MAVSDK URL starts with one of {", ".join(schemes)}',
                'connection_url',
            )
        if self.offload_mode not in ('off', 'local', 'edge', 'adaptive'):
            raise ConfigError(
                f'{self.offload_mode!r}: off, local, edge or adaptive', 'offload_mode'
            )
        if not self.providers:
            raise ConfigError('at least one execution provider is needed', 'providers')


def onboard_graph(config: OnboardConfig) -> dict[str, Any]:
    """Return the graph of one vehicle's companion computer: flight_control and segmentation.

    :param config: vehicle, MAVLink link, execution providers, camera topics.
    """
    conf = config.config_dir
    ns = f'/{config.vehicle}'
    segmentation: dict[str, Any] = {
        'executable': 'segmentation',
        'namespace': ns,
        'parameters': [
            str(conf / 'segmentation.yaml'),
            {
                'providers': list(config.providers),
                'offload_mode': config.offload_mode,
                'offload_direct': True,
            },
        ],
        **RESPAWN,
    }
    remappings = {
        ours: theirs
        for ours, theirs in (
            ('camera/image_raw', config.image_topic),
            ('camera/camera_info', config.info_topic),
        )
        if ours != theirs
    }
    if remappings:
        segmentation['remappings'] = remappings
    return {
        'nodes': [
            {
                'executable': 'flight_control',
                'namespace': ns,
                'parameters': [
                    str(conf / 'flight_control.yaml'),
                    {
                        **origin_parameters(config.origin),
                        'connection_url': config.connection_url,
                        'geofence_file': str(config.area_file),
                    },
                ],
                **RESPAWN,
            },
            segmentation,
        ]
    }


def ground_graph(config: GroundConfig) -> dict[str, Any]:
    """Return the ground station's graph for real vehicles (see :func:`ground_nodes`).

    :param config: vehicles served, area, origin, files.
    """
    return {'nodes': ground_nodes(config)}


def graph_text(graph: dict[str, Any], header: str = '') -> str:
    """Return a graph mapping as graph-file YAML (runner.spec.graph_yaml)."""
    return graph_yaml(graph, header)


_SITL_HEADER = """A PX4 SITL + Gazebo fleet over the flood world: the ROS side, {drones} drones.
Per PX4 instance i, namespace /uav{{i}}: gz_camera_bridge, flight_control (MAVLink on UDP
14540+i), segmentation (adaptive offloading to the edge server); then the ground side.
Generated by uav_flood.deploy.graphs.shipped_graphs(); a test checks it is current.

PX4 and Gazebo are not in it: `ros2 launch uav_flood sitl_gz.launch.py px4_dir:=...` starts
them with these nodes; without ros2 launch, start them by hand (docs/px4_sitl_gazebo.md),
then `uav-flood launch config/graphs/sitl_gz.yaml` from the repository root. The area and the
out folder (sitl_mission/) are relative to the working directory."""

_ONBOARD_HEADER = """One vehicle's companion computer (a Jetson) beside its PX4 flight controller:
flight_control on TELEM2 (serial /dev/ttyTHS1, 921600 baud) and segmentation on TensorRT/CUDA.
Generated by uav_flood.deploy.graphs.shipped_graphs(); a test checks it is current.

The camera driver is yours: remap its topics onto /uav0/camera/image_raw and camera_info, or
use `ros2 launch uav_flood onboard.launch.py image_topic:=... info_topic:=...`.
docs/jetson.md has the whole setup (JetPack, onnxruntime-gpu, PX4 and DDS settings)."""

_GROUND_HEADER = """The ground station for real vehicles: edge server, swarm coordinator, flood
mapper, recorder and the Foxglove bridge, serving /uav0 over DDS (docs/jetson.md).
Generated by uav_flood.deploy.graphs.shipped_graphs(); a test checks it is current.
The area and the out folder (mission/) are relative to the working directory."""


def shipped_graphs() -> dict[str, str]:
    """Return config/graphs/{sitl_gz,onboard,ground}.yaml as they must read (name -> text)."""
    sitl = SitlConfig()
    return {
        'sitl_gz.yaml': graph_text(sitl_graph(sitl), _SITL_HEADER.format(drones=sitl.drones)),
        'onboard.yaml': graph_text(onboard_graph(OnboardConfig()), _ONBOARD_HEADER),
        'ground.yaml': graph_text(
            ground_graph(
                GroundConfig(vehicles=('uav0',), edge_providers=('cuda', 'cpu'), foxglove=True)
            ),
            _GROUND_HEADER,
        ),
    }
