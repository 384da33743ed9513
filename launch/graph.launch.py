"""Start a uav_flood node graph (the YAML of `uav-flood launch`) with `ros2 launch`.

    ros2 launch uav_flood graph.launch.py graph:=config/graphs/ping_fleet.yaml
    ros2 launch uav_flood graph.launch.py graph:=/abs/path/to/my_graph.yaml

A relative `graph` path resolves against the share directory of uav_flood. The graph is read
and validated by uav_flood.runner.spec, the same code `uav-flood launch` uses, and every node
becomes a launch_ros Node action with the same meaning: `required` nodes shut the launch down
when they exit, `respawn`/`respawn_delay`/`respawn_max` map to launch's respawn options. The
format is documented in docs/node_graph.md.
"""

import inspect

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, Shutdown
import launch.logging
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from uav_flood.runner.spec import find_graph_file, load_graph, to_launch_node_kwargs

DEFAULT_GRAPH = 'config/graphs/ping_fleet.yaml'


def _supports_respawn_max_retries():
    """Return whether the installed launch knows respawn_max_retries (Humble does not)."""
    for cls in inspect.getmro(ExecuteProcess):
        init = cls.__dict__.get('__init__')
        if init is not None and 'respawn_max_retries' in inspect.signature(init).parameters:
            return True
    return False


def _graph_nodes(context):
    """Build one Node action per node of the graph named by the `graph` argument."""
    graph = load_graph(find_graph_file(LaunchConfiguration('graph').perform(context)))
    retries_supported = _supports_respawn_max_retries()
    actions = []
    for node in graph.nodes:
        kwargs = to_launch_node_kwargs(node)
        if 'respawn_max_retries' in kwargs and not retries_supported:
            # Older launch respawns without limit; say so rather than fail to start.
            launch.logging.get_logger('graph.launch.py').warning(
                f'{node.label}: this launch version has no respawn_max_retries; '
                'respawn_max is ignored'
            )
            del kwargs['respawn_max_retries']
        if node.required:
            kwargs['on_exit'] = Shutdown(reason=f'required node {node.label} exited')
        actions.append(Node(**kwargs))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'graph',
                default_value=DEFAULT_GRAPH,
                description='the graph YAML file: absolute, or relative to the uav_flood '
                'share directory',
            ),
            OpaqueFunction(function=_graph_nodes),
        ]
    )
