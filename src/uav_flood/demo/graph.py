"""The demo mission's node graph: N simulated drones and the whole ground side, as graph YAML.

The graph is plain data in the format of `uav-flood launch` (docs/node_graph.md), so the demo,
`uav-flood launch` and `ros2 launch uav_flood graph.launch.py` all run the same thing. It imports
no ROS module.

Per drone /uavN: flight_control (auto_start: flies each path the coordinator sends), sim_camera,
segmentation (adaptive offloading through the link emulator). Once: the built-in simulator
(`uav-flood sim`, required), edge_server, link_emulator, swarm_coordinator, flood_mapper,
recorder.

With drone hosts (demo/hosts.py), each drone's nodes and a simulator of its autopilot alone
(`uav-flood sim --vehicles 1 --instance N`) run in its own network namespace (`ip netns exec`),
with the Fast DDS settings that make them talk to the ground over the network only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
from typing import Any

from uav_flood.core import sitl
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.safety import EnergyModel
from uav_flood.demo.hosts import DroneHost, ground_env
from uav_flood.deploy.graphs import (
    ground_nodes,
    GroundConfig,
    origin_parameters,
    RECORD_EXCLUDE,
    RESPAWN,
    SHIPPED_AREA,
)
from uav_flood.runner.spec import DEFAULT_PACKAGE, executable_candidates, graph_yaml
from uav_flood.sim.params import SIM_OVERRIDES

__all__ = [
    'demo_graph',
    'DemoGraphConfig',
    'graph_yaml',
    'RECORD_EXCLUDE',
    'SHIPPED_AREA',
    'SHIPPED_HEADER',
    'shipped_config',
]

#: flight_control's start_hold_s in the demo (s, wall): the drones of a plan take off together
#: instead of as each mission upload ends (up to a second of wall time apart under load, 5 s
#: simulated at 5x, all counted in the mission time).
START_HOLD_S = 3.0
#: Simulated seconds the ground crew takes to swap a battery (as the planner's default).
DEFAULT_SWAP_TIME_S = 120.0
#: From this many drones on, this machine's 2 cores run every drone's on-board segmentation and
#: fall behind the camera: 4-5 s per frame with 10 drones (on-board latency p50 4.1-4.6 s), so
#: a drone flies about 20 m between two frames it segments, against the 6 m the overlap allows
#: for at 60 m. Legs that end where the camera just sees the edge left 5-8 % of the quick
#: area unseen (92.2-95.4 % in 4 runs); the coordinator's frame_spacing_m makes them end later
#: (15 m: 99.99 and 97.79 %; 20 m: 99.24 and 98.47 %, docs/BENCHMARKS.md).
CROWDED_FROM_DRONES = 5
CROWDED_FRAME_SPACING_M = 20.0
#: The energy model's drain (%/s) times the battery's seconds: the default 0.07 %/s for the
#: simulator's default 1500 s battery, 5 % above its hover drain (forward flight and climbs
#: cost a little more).
DRAIN_PCT_S_PER_BATTERY_S = EnergyModel().drain_pct_per_s * SIM_OVERRIDES['SIM_BAT_DRAIN']


@dataclass(frozen=True)
class DemoGraphConfig:
    """What the demo graph is built from.

    :param drones: number of drones (/uav0 ... /uav{N-1}).
    :param area_file: the area of interest (GeoJSON, WGS84).
    :param out_dir: the mission folder (checkpoint, recording).
    :param origin: the map origin, where /uav0 stands.
    :param speed_factor: simulated seconds per wall second.
    :param base_port: MAVLink: vehicle i sends to base_port + i (PX4 SITL: 14540).
    :param gcs_port: the simulator's ground-station port (the demo listens there).
    :param link_profile: the link emulator's profile (good, degraded, outages or a file).
    :param onboard_slowdown: EMULATION: the on-board computer is this many times slower than
        this machine's CPU (segmentation's local_compute_scale).
    :param camera_rate_hz: camera frames per wall second per drone.
    :param altitude_m: altitude of the lowest layer (m above home).
    :param config_dir: where the node parameter files are; relative paths are written as given.
    :param record: start the recorder.
    :param drone_hosts: each drone's network host (demo/hosts.py), or empty: every node on
        this machine's network.
    :param battery_s: seconds of hover a full battery lasts (the simulator's SIM_BAT_DRAIN;
        the energy model of flight_control and the coordinator follows); None: the simulator's
        default, 1500 s.
    :param group_drones: run each drone's flight_control, sim_camera and segmentation in one
        process (the graph's `group`, labelled with the drone's name) instead of one each.
    :param frame_spacing_m: the coordinator's frame_spacing_m (m); None: 0, or
        CROWDED_FRAME_SPACING_M from CROWDED_FROM_DRONES drones on.
    :param swap_time_s: simulated seconds after landing until the ground crew has swapped the
        battery (the simulator's UFS_BAT_SWAP; the coordinator plans with it and resumes on its
        own, auto_resume).
    """

    drones: int
    area_file: Path
    out_dir: Path
    origin: GeoPoint
    speed_factor: float
    base_port: int
    gcs_port: int
    link_profile: str
    onboard_slowdown: float
    camera_rate_hz: float
    altitude_m: float
    config_dir: Path
    record: bool = True
    drone_hosts: Mapping[str, DroneHost] = field(default_factory=dict)
    battery_s: float | None = None
    swap_time_s: float = DEFAULT_SWAP_TIME_S
    group_drones: bool = False
    frame_spacing_m: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.drones <= 10:
            raise ConfigError(f'{self.drones} drones: the demo flies 1 to 10', 'drones')
        low, high = sitl.SPEED_FACTOR_RANGE[0], sitl.DEMO_MAX_SPEED_FACTOR
        if not (math.isfinite(self.speed_factor) and low <= self.speed_factor <= high):
            raise ConfigError(
                f'{self.speed_factor}: must be in [{low:g}, {high:g}]', 'speed_factor'
            )
        for name in ('base_port', 'gcs_port'):
            port = getattr(self, name)
            if not 1024 <= port <= 65535 - 100:
                raise ConfigError(f'port {port} out of range [1024, 65435]', name)
        if self.onboard_slowdown < 1.0:
            raise ConfigError(f'{self.onboard_slowdown}: must be >= 1', 'onboard_slowdown')
        if not 0.2 <= self.camera_rate_hz <= 30.0:
            raise ConfigError(f'{self.camera_rate_hz}: must be in [0.2, 30]', 'camera_rate_hz')
        if self.battery_s is not None and not 30.0 <= self.battery_s <= 1e5:
            raise ConfigError(f'{self.battery_s}: must be in [30, 100000] s', 'battery_s')
        if self.frame_spacing_m is not None and not 0.0 <= self.frame_spacing_m <= 1000.0:
            raise ConfigError(f'{self.frame_spacing_m}: must be in [0, 1000] m', 'frame_spacing_m')
        if not 0.0 <= self.swap_time_s <= 3600.0:
            raise ConfigError(f'{self.swap_time_s}: must be in [0, 3600] s', 'swap_time_s')
        if self.group_drones and self.drone_hosts:
            raise ConfigError(
                "a drone host runs each node through 'ip netns exec': its nodes cannot share "
                'a process; leave out one of the two',
                'group_drones',
            )

    @property
    def energy_parameters(self) -> dict[str, float]:
        """Return the energy model overrides of flight_control and the coordinator."""
        if self.battery_s is None:
            return {}
        return {'battery_drain_pct_per_s': DRAIN_PCT_S_PER_BATTERY_S / self.battery_s}

    @property
    def vehicles(self) -> list[str]:
        """Return the vehicle namespaces without the leading slash."""
        return [f'uav{i}' for i in range(self.drones)]


def demo_graph(config: DemoGraphConfig) -> dict[str, Any]:
    """Return the demo's node graph as a graph-file mapping (``{'nodes': [...]}``).

    :param config: drones, ports, files and emulation settings.
    """
    conf = config.config_dir
    vehicles = config.vehicles
    origin = origin_parameters(config.origin)
    area = str(config.area_file)
    sim_arguments = [
        'sim',
        '--origin',
        f'{config.origin.lat_deg},{config.origin.lon_deg},{config.origin.alt_m}',
        '--base-port',
        str(config.base_port),
        '--gcs-port',
        str(config.gcs_port),
        '--speed-factor',
        f'{config.speed_factor:g}',
        '--quiet',
        '--param',
        f'UFS_BAT_SWAP={config.swap_time_s:g}',
    ]
    if config.battery_s is not None:
        sim_arguments += ['--param', f'SIM_BAT_DRAIN={config.battery_s:g}']
    nodes: list[dict[str, Any]] = []
    if not config.drone_hosts:
        nodes.append(
            {
                'executable': 'uav-flood',
                'label': 'sim',
                'arguments': [*sim_arguments, '--vehicles', str(config.drones)],
                'required': True,
            }
        )
    for index, name in enumerate(vehicles):
        ns = f'/{name}'
        drone: list[dict[str, Any]] = []
        host = config.drone_hosts.get(name)
        if host is not None:
            # This drone's autopilot alone, on its host; its ground-station link crosses the
            # radio to the demo's ground station.
            drone.append(
                {
                    'executable': 'uav-flood',
                    'label': f'{name}/sim',
                    'namespace': ns,  # not a ROS node: it ignores the runner's ROS arguments
                    'arguments': [
                        *sim_arguments,
                        '--vehicles',
                        '1',
                        '--instance',
                        str(index),
                        '--gcs-host',
                        host.ground_ip,
                    ],
                    'required': True,
                }
            )
        drone += [
            {
                'executable': 'flight_control',
                'namespace': ns,
                'parameters': [
                    str(conf / 'flight_control.yaml'),
                    {
                        **origin,
                        'mavlink_base_port': config.base_port,
                        'auto_start': True,
                        'start_hold_s': START_HOLD_S,
                        'geofence_file': area,
                        **config.energy_parameters,
                    },
                ],
                **RESPAWN,
            },
            {
                'executable': 'sim_camera',
                'namespace': ns,
                'parameters': [
                    str(conf / 'sim_camera.yaml'),
                    {'rate_hz': config.camera_rate_hz},
                ],
                **RESPAWN,
            },
            {
                'executable': 'segmentation',
                'namespace': ns,
                'parameters': [
                    str(conf / 'segmentation.yaml'),
                    {
                        'threads': 1,
                        'offload_mode': 'adaptive',
                        'local_compute_scale': config.onboard_slowdown,
                    },
                ],
                **RESPAWN,
            },
        ]
        if config.group_drones:
            for node in drone:
                node['group'] = name
        nodes += [_on_host(node, host) for node in drone] if host is not None else drone
    ground = ground_nodes(
        GroundConfig(
            vehicles=tuple(vehicles),
            area_file=config.area_file,
            origin=config.origin,
            out_dir=config.out_dir,
            altitude_m=config.altitude_m,
            config_dir=conf,
            edge_providers=None,
            edge_threads=1,
            record=config.record,
            coordinator={
                'auto_resume': True,
                'swap_time_s': config.swap_time_s,
                **config.energy_parameters,
                **_frame_spacing(config, len(vehicles)),
            },
        )
    )
    link_emulator = {
        'executable': 'link_emulator',
        'parameters': [
            str(conf / 'link_emulator.yaml'),
            {'vehicles': vehicles, 'profile': config.link_profile},
        ],
        **RESPAWN,
    }
    # The edge server, the link between it and the drones, then the rest of the ground side.
    ground = [ground[0], link_emulator, *ground[1:]]
    if config.drone_hosts:
        env = ground_env(config.drone_hosts.values())
        for node in ground:
            node['env'] = {**node.get('env', {}), **env}
    return {'nodes': nodes + ground}


def _on_host(node: dict[str, Any], host: DroneHost) -> dict[str, Any]:
    """Return `node` run on a drone's network host: `ip netns exec NETNS program ...`."""
    executable = str(node['executable'])
    program = next(
        (
            str(c)
            for c in executable_candidates(executable, DEFAULT_PACKAGE, os.environ.get('PATH'))
            if c.is_file() and os.access(c, os.X_OK)
        ),
        executable,
    )
    wrapped = {
        **node,
        'executable': 'ip',
        'arguments': host.wrap([program, *node.get('arguments', [])])[1:],
        'env': {**node.get('env', {}), **host.env()},
    }
    if 'label' not in node:
        wrapped['label'] = f'{host.vehicle}/{executable}'
    if node.get('namespace') is not None and executable != 'uav-flood':
        # The node's own name (the runner names a node after its executable otherwise).
        wrapped['name'] = executable
    return wrapped


#: The header of config/graphs/demo.yaml.
def _frame_spacing(config: DemoGraphConfig, drones: int) -> dict[str, float]:
    """Return the coordinator's frame_spacing_m override, or none (its default, 0)."""
    if config.frame_spacing_m is not None:
        return {'frame_spacing_m': config.frame_spacing_m} if config.frame_spacing_m else {}
    return {'frame_spacing_m': CROWDED_FRAME_SPACING_M} if drones >= CROWDED_FROM_DRONES else {}


SHIPPED_HEADER = """The demo mission's node graph with the defaults of `uav-flood demo`
(3 drones over the labelled flood scene), for `uav-flood launch` and
`ros2 launch uav_flood graph.launch.py graph:=config/graphs/demo.yaml`.
Generated by uav_flood.demo.graph.shipped_config(); a test checks it is current.

It flies and maps like the demo, without the demo's progress table, fault injection and report.
Parameter values that are files (the area, the checkpoint, the recording) are relative to the
working directory: start it from the repository root, or write a graph with absolute paths for
your own folder with `uav-flood demo --write-graph FILE.yaml --out DIR` (then copy the area
there). Uses PX4 SITL's MAVLink ports (14540+, 14550): nothing else may hold them."""


def shipped_config(origin: GeoPoint) -> DemoGraphConfig:
    """Return the configuration of config/graphs/demo.yaml: the demo's defaults.

    :param origin: the map origin (the demo's default: PX4 SITL's home).
    """
    return DemoGraphConfig(
        drones=3,
        area_file=SHIPPED_AREA,
        out_dir=Path('demo_mission'),
        origin=origin,
        speed_factor=sitl.DEMO_SPEED_FACTOR,
        base_port=sitl.MAVLINK_BASE_PORT,
        gcs_port=sitl.GCS_PORT,
        link_profile='good',
        onboard_slowdown=6.0,
        camera_rate_hz=3.0,
        altitude_m=60.0,
        config_dir=Path('..'),
    )
