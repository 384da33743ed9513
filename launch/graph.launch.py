"""Start a uav_flood node graph (the YAML of `uav-flood launch`) with `ros2 launch`.

    ros2 launch uav_flood graph.launch.py graph:=config/graphs/ping_fleet.yaml
    ros2 launch uav_flood graph.launch.py graph:=/abs/path/to/my_graph.yaml

A relative `graph` path resolves against the share directory of uav_flood. The graph is read
and validated by uav_flood.runner.spec, the same code `uav-flood launch` uses, and every node
becomes a launch_ros Node action with the same meaning: `required` nodes shut the launch down
when they exit, `respawn`/`respawn_delay`/`respawn_max` map to launch's respawn options. The
format is documented in docs/node_graph.md.
"""

from uav_flood.deploy.launch_actions import describe, node_actions
from uav_flood.runner.spec import find_graph_file, load_graph

ARGUMENTS = {
    'graph': (
        'config/graphs/ping_fleet.yaml',
        'the graph YAML file: absolute, or relative to the uav_flood share directory',
    )
}


def _graph_nodes(value):
    """Build one Node action per node of the graph named by the `graph` argument."""
    return node_actions(load_graph(find_graph_file(value['graph'])))


def generate_launch_description():
    return describe(ARGUMENTS, _graph_nodes)
