"""Turn node graphs and processes into ROS 2 launch actions, for the launch files in launch/.

The launch files stay thin: they declare their arguments, build a graph (deploy.graphs) and
processes (deploy.px4) from them, and return what these functions make. A graph's nodes become
launch_ros ``Node`` actions with the same meaning the node-graph runner gives them
(runner.spec.to_launch_node_kwargs); required nodes shut the launch down when they exit.

launch and launch_ros are imported when a function is called, not when this module is imported,
so the package imports on machines without them (the PyPI ROS wheels have no launch).
"""

from __future__ import annotations

from collections.abc import Callable
import inspect
from pathlib import Path
from typing import Any

from uav_flood.core.errors import ConfigError
from uav_flood.deploy.graphs import graph_text
from uav_flood.deploy.px4 import Process
from uav_flood.runner.spec import GraphSpec, parse_graph, share_dirs, to_launch_node_kwargs


def share_dir() -> Path:
    """Return share/uav_flood of the installed package (the folder with config/, worlds/...)."""
    for candidate in share_dirs('uav_flood'):
        if (candidate / 'config').is_dir():
            return candidate
    # A source checkout run in place: the repository root has the same layout.
    return Path(__file__).resolve().parents[3]


def graph_spec(graph: dict[str, Any], name: str) -> GraphSpec:
    """Validate a graph mapping as if it were the file config/graphs/<name>.yaml of the share.

    Relative parameter files resolve against share/uav_flood/config/graphs/, as for the
    shipped file.

    :param graph: a graph mapping (deploy.graphs).
    :param name: the graph file's stem, for error messages and relative paths.
    :raises ConfigError: the graph is invalid (a bad argument value, a missing parameter file).
    """
    path = share_dir() / 'config' / 'graphs' / f'{name}.yaml'
    return parse_graph(graph_text(graph), path, source=f'{name} graph')


def _supports_respawn_max_retries(execute_process: type) -> bool:
    """Return whether the installed launch knows respawn_max_retries (Humble does not)."""
    for cls in inspect.getmro(execute_process):
        init = cls.__dict__.get('__init__')
        if init is not None and 'respawn_max_retries' in inspect.signature(init).parameters:
            return True
    return False


def node_actions(graph: GraphSpec) -> list[Any]:
    """Return one launch_ros Node action per node of `graph`.

    :param graph: a validated graph.
    """
    from launch.actions import ExecuteProcess, Shutdown
    import launch.logging
    from launch_ros.actions import Node

    retries_supported = _supports_respawn_max_retries(ExecuteProcess)
    actions = []
    for node in graph.nodes:
        kwargs = to_launch_node_kwargs(node)
        if 'respawn_max_retries' in kwargs and not retries_supported:
            # Older launch respawns without limit; say so rather than fail to start.
            launch.logging.get_logger('uav_flood').warning(
                f'{node.label}: this launch version has no respawn_max_retries; '
                'respawn_max is ignored'
            )
            del kwargs['respawn_max_retries']
        if node.required:
            kwargs['on_exit'] = Shutdown(reason=f'required node {node.label} exited')
        actions.append(Node(**kwargs))
    return actions


def process_actions(processes: list[Process]) -> list[Any]:
    """Return an ExecuteProcess action per process, inside a TimerAction where it has a delay.

    :param processes: the processes (deploy.px4).
    """
    from launch.actions import ExecuteProcess, TimerAction

    actions: list[Any] = []
    for process in processes:
        kwargs: dict[str, Any] = {
            'cmd': list(process.cmd),
            'name': process.label,
            'output': 'screen',
        }
        if process.env:
            kwargs['additional_env'] = dict(process.env)
        if process.cwd is not None:
            kwargs['cwd'] = process.cwd
        action = ExecuteProcess(**kwargs)
        if process.delay_s > 0.0:
            action = TimerAction(period=process.delay_s, actions=[action])
        actions.append(action)
    return actions


def rviz_action() -> Any:
    """Return RViz 2 with config/uav_flood.rviz (the map, the swarm's markers)."""
    from launch_ros.actions import Node

    config = share_dir() / 'config' / 'uav_flood.rviz'
    return Node(
        package='rviz2', executable='rviz2', arguments=['-d', str(config)], output='screen'
    )


#: A launch file's arguments: name -> (default value, description).
Arguments = dict[str, tuple[str, str]]


def describe(arguments: Arguments, build: Callable[[dict[str, str]], list[Any]]) -> Any:
    """Return a LaunchDescription that declares `arguments` and runs `build` at launch time.

    :param arguments: name -> (default, description); each becomes a DeclareLaunchArgument.
    :param build: makes the actions from the arguments' values (name -> text), once
        `ros2 launch` knows them.
    """
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.launch_description import LaunchDescription
    from launch.substitutions import LaunchConfiguration

    def actions(context: Any) -> list[Any]:
        return build({name: LaunchConfiguration(name).perform(context) for name in arguments})

    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=description)
                for name, (default, description) in arguments.items()
            ),
            OpaqueFunction(function=actions),
        ]
    )


def flag(values: dict[str, str], name: str) -> bool:
    """Return a true/false launch argument as a bool.

    :raises ConfigError: anything but true or false (any case).
    """
    value = values[name].strip().lower()
    if value not in ('true', 'false'):
        raise ConfigError(f'{name}:={values[name]}: use true or false', name)
    return value == 'true'


def number(values: dict[str, str], name: str, kind: Callable[[str], Any] = float) -> Any:
    """Return a numeric launch argument.

    :raises ConfigError: text that is not a number of that kind.
    """
    try:
        return kind(values[name].strip())
    except ValueError:
        what = 'an integer' if kind is int else 'a number'
        raise ConfigError(f'{name}:={values[name]}: not {what}', name) from None


def words(value: str) -> tuple[str, ...]:
    """Return the items of a comma-separated launch argument ('a,b' -> ('a', 'b'))."""
    return tuple(item.strip() for item in value.split(',') if item.strip())


def area_file(value: str) -> Path:
    """Return an area argument as an absolute path; empty: the shipped flood scene."""
    return Path(value).resolve() if value else share_dir() / 'config' / 'areas/flood_scene.geojson'
