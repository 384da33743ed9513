"""The demo mission's graph on the built-in simulator, with RViz 2.

    ros2 launch uav_flood demo.launch.py
    ros2 launch uav_flood demo.launch.py rviz:=false

Runs config/graphs/demo.yaml, the graph `uav-flood demo` generates with its defaults (3 drones
over the labelled flood scene, the built-in PX4-compatible simulator at 5x): it flies and maps
like the demo, without the demo's progress table, fault injection and report (docs/demo.md).
Start it from the repository root (the area and the mission folder in the graph are relative
to the working directory), or write your own graph with `uav-flood demo --write-graph`.
"""

from uav_flood.deploy.launch_actions import describe, flag, node_actions, rviz_action, share_dir
from uav_flood.runner.spec import load_graph

ARGUMENTS = {'rviz': ('true', 'start RViz 2 with the flood map')}


def _actions(value):
    """Build the nodes of the demo graph, and RViz unless rviz:=false."""
    actions = node_actions(load_graph(share_dir() / 'config' / 'graphs' / 'demo.yaml'))
    if flag(value, 'rviz'):
        actions.append(rviz_action())
    return actions


def generate_launch_description():
    return describe(ARGUMENTS, _actions)
