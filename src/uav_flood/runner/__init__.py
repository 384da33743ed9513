"""The node-graph runner: `uav-flood launch GRAPH.yaml`, a small stand-in for `ros2 launch`.

`spec` parses and validates the YAML graph description (no ROS imports), `supervisor` starts each
node as its own process and applies its exit policy, and `cli` is the command-line front end.
`launch/graph.launch.py` reads the same YAML for `ros2 launch` on full ROS 2 installs.
"""

from uav_flood.runner.spec import GraphSpec, load_graph, NodeSpec
from uav_flood.runner.supervisor import Supervisor

__all__ = ['GraphSpec', 'NodeSpec', 'Supervisor', 'load_graph']
