"""The processes of a PX4 SITL + Gazebo fleet: one Gazebo server (and GUI), N PX4 instances.

Our launch starts Gazebo itself, with worlds/flood_world.sdf and our models on the resource
path, then each PX4 instance in *standalone* mode (``PX4_GZ_STANDALONE=1``: PX4 does not start a
Gazebo of its own), which spawns ``<model>_<i>`` from ``PX4_GZ_MODELS`` at
``PX4_GZ_MODEL_POSE`` and attaches its gz_bridge to it (ROMFS/px4fmu_common/init.d-posix/
px4-rc.simulator, PX4 v1.15 and later; docs/px4_sitl_gazebo.md). Airframe 4001 (gz_x500) sets
PX4's parameters for the x500, whose dynamics and motor topics our model keeps.

Instance i gets PX4's port scheme (px4-rc.mavlink): its offboard/API link sends to UDP
14540 + i, where flight_control in /uav{i} listens; instances 10 and up would all share 14549,
so a fleet has at most :data:`MAX_INSTANCES`. Vehicle i spawns ``spacing_m * i`` east of the
world origin, as in the built-in simulator (`uav-flood sim --spacing`).

Plain data only: deploy.launch_actions turns these into launch actions. Nothing here starts a
process.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import os
from pathlib import Path

from uav_flood.core.errors import ConfigError
from uav_flood.deploy import gz_assets

#: PX4 SITL instances with their own MAVLink ports (px4-rc.mavlink: 14540 + i for i <= 9).
MAX_INSTANCES = 10
#: PX4's airframe for gz_x500 (ROMFS/px4fmu_common/init.d-posix/airframes/4001_gz_x500).
X500_AIRFRAME = 4001
#: Where a PX4 build keeps its SITL binary, relative to the PX4-Autopilot checkout.
PX4_BINARY = Path('build/px4_sitl_default/bin/px4')
#: PX4's own Gazebo models, relative to the checkout (on the resource path for completeness).
PX4_MODELS = Path('Tools/simulation/gz/models')


@dataclass(frozen=True)
class SitlWorld:
    """The Gazebo side of the fleet: world, vehicle model, spawn spacing.

    :param world: the world name (the file worlds/<world>.sdf, PX4_GZ_WORLD).
    :param model: the vehicle model (models/<model>/, PX4_SIM_MODEL=gz_<model>); PX4 names
        instance i ``<model>_<i>``.
    :param spacing_m: vehicle i spawns spacing_m * i metres east of the world origin.
    """

    world: str = gz_assets.WORLD_NAME
    model: str = gz_assets.MODEL_NAME
    spacing_m: float = 5.0

    def __post_init__(self) -> None:
        """Check the names (they become gz topic names) and the spacing."""
        for key in ('world', 'model'):
            value = getattr(self, key)
            if not value or not all(c.isalnum() or c == '_' for c in value):
                raise ConfigError(f'{value!r}: letters, digits and _ only', key)
        if not (math.isfinite(self.spacing_m) and 0.0 <= self.spacing_m <= 1000.0):
            raise ConfigError(f'{self.spacing_m}: must be 0..1000 m', 'spacing_m')

    def camera_topic(self, instance: int) -> str:
        """Return the gz-transport topic of instance `instance`'s camera images."""
        return gz_assets.camera_image_topic(
            self.world, gz_assets.model_instance_name(instance, self.model)
        )

    def spawn_pose(self, instance: int) -> str:
        """Return PX4_GZ_MODEL_POSE for an instance: 'x,y,z' in the world frame (m, ENU)."""
        return f'{self.spacing_m * instance:g},0,0'


@dataclass(frozen=True)
class Process:
    """A process to start beside the nodes.

    :param label: a short name (log prefix).
    :param cmd: the command line.
    :param env: variables added to the environment.
    :param cwd: the working directory, or None for the launch's own.
    :param delay_s: seconds after the launch starts before this process starts.
    """

    label: str
    cmd: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    delay_s: float = 0.0


def px4_binary(px4_dir: str | os.PathLike[str]) -> Path:
    """Return the PX4 SITL binary of a PX4-Autopilot checkout.

    :param px4_dir: the checkout (where `make px4_sitl` was run).
    :raises ConfigError: no such folder, or PX4 SITL is not built there.
    """
    root = Path(px4_dir).expanduser()
    if not str(px4_dir) or not root.is_dir():
        raise ConfigError(
            f'{str(px4_dir)!r} is not a folder: give the PX4-Autopilot checkout', 'px4_dir'
        )
    binary = root / PX4_BINARY
    if not binary.is_file():
        raise ConfigError(
            f'{binary} not found: build PX4 SITL first (cd {root} && make px4_sitl)', 'px4_dir'
        )
    return binary.resolve()


def resource_path(share_dir: Path, px4_dir: Path | None = None) -> str:
    """Return GZ_SIM_RESOURCE_PATH: our models and worlds, PX4's models, then the user's own.

    :param share_dir: share/uav_flood (or the repository root).
    :param px4_dir: the PX4 checkout, or None.
    """
    parts = [str(share_dir / 'models'), str(share_dir / 'worlds')]
    if px4_dir is not None:
        parts.append(str(px4_dir / PX4_MODELS))
    existing = os.environ.get('GZ_SIM_RESOURCE_PATH', '')
    if existing:
        parts.append(existing)
    return ':'.join(parts)


def gazebo_processes(
    world: SitlWorld,
    share_dir: Path,
    px4_dir: Path | None = None,
    gui: bool = True,
    headless_rendering: bool = False,
) -> list[Process]:
    """Return the Gazebo server (running, -r) and, if `gui`, the Gazebo GUI.

    :param world: the world to load (share_dir/worlds/<world>.sdf).
    :param share_dir: share/uav_flood (or the repository root).
    :param px4_dir: the PX4 checkout (its models go on the resource path), or None.
    :param gui: also start the GUI client.
    :param headless_rendering: render the cameras with EGL, without a display (servers).
    """
    world_file = share_dir / 'worlds' / f'{world.world}.sdf'
    env = (('GZ_SIM_RESOURCE_PATH', resource_path(share_dir, px4_dir)),)
    server = ['gz', 'sim', '-r', '-s', '-v', '2']
    if headless_rendering:
        server.append('--headless-rendering')
    processes = [Process('gz_server', (*server, str(world_file)), env)]
    if gui:
        processes.append(Process('gz_gui', ('gz', 'sim', '-g'), env))
    return processes


def px4_processes(
    world: SitlWorld,
    drones: int,
    share_dir: Path,
    px4_dir: str | os.PathLike[str],
    start_delay_s: float = 5.0,
    stagger_s: float = 2.0,
) -> list[Process]:
    """Return N PX4 SITL instances in standalone mode, each spawning its model in the world.

    :param world: world and model names, spawn spacing.
    :param drones: number of instances (0 ... N-1).
    :param share_dir: share/uav_flood: PX4_GZ_MODELS is its models/ folder.
    :param px4_dir: the PX4-Autopilot checkout with PX4 SITL built.
    :param start_delay_s: seconds after launch before instance 0 starts (Gazebo loads first).
    :param stagger_s: seconds between instances (one spawn at a time).
    :raises ConfigError: bad fleet size, delays, or no PX4 SITL build in px4_dir.
    """
    if not 1 <= drones <= MAX_INSTANCES:
        raise ConfigError(f'{drones}: 1 to {MAX_INSTANCES} drones', 'drones')
    for key, value in (('start_delay_s', start_delay_s), ('stagger_s', stagger_s)):
        if not (math.isfinite(value) and 0.0 <= value <= 600.0):
            raise ConfigError(f'{value}: must be 0..600 s', key)
    binary = px4_binary(px4_dir)
    models = share_dir / 'models'
    processes = []
    for i in range(drones):
        env = (
            ('PX4_SYS_AUTOSTART', str(X500_AIRFRAME)),
            ('PX4_SIMULATOR', 'gz'),
            ('PX4_SIM_MODEL', f'gz_{world.model}'),
            ('PX4_GZ_MODELS', str(models)),
            ('PX4_GZ_WORLD', world.world),
            ('PX4_GZ_STANDALONE', '1'),
            ('PX4_GZ_MODEL_POSE', world.spawn_pose(i)),
        )
        processes.append(
            Process(
                f'px4_{i}',
                (str(binary), '-d', '-i', str(i)),
                env,
                delay_s=start_delay_s + i * stagger_s,
            )
        )
    return processes
