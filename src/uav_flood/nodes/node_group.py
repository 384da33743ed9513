"""node_group: several nodes in one process, one executor (what `group` in a graph starts).

    node_group --node flight_control --ros-args -r __ns:=/uav0 --params-file F -p k:=v
               --node sim_camera --ros-args -r __ns:=/uav0 ...

Each `--node EXE` starts the node that console script EXE starts, with the ROS arguments that
follow it as its own (namespace, name, parameter files and overrides, remappings), as if it
ran alone. They share one rclpy context and one multi-threaded executor: each node's callbacks
stay in its default mutually exclusive group, so within one node nothing runs concurrently
that did not before; flight_control's services keep their own group. One process instead of
one per node saves the interpreter, rclpy, numpy and the middleware's participant per node
(docs/BENCHMARKS.md, "Ten drones on 2 cores"). A bad parameter of any node ends the process
with exit code 2 and one line naming that node, as the node alone would.

`uav-flood launch` runs a graph's `group` this way; `ros2 launch` starts each node in its own
process (deployment).
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
import sys
from typing import Any

from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from uav_flood.nodes.spin import spin_nodes

#: console script -> (module, node class) of the nodes node_group can host.
NODES: dict[str, tuple[str, str]] = {
    'edge_server': ('uav_flood.nodes.edge_server', 'EdgeServerNode'),
    'flight_control': ('uav_flood.nodes.flight_control', 'FlightControlNode'),
    'flood_mapper': ('uav_flood.nodes.flood_mapper', 'FloodMapperNode'),
    'foxglove_bridge': ('uav_flood.nodes.foxglove_bridge', 'FoxgloveBridgeNode'),
    'link_emulator': ('uav_flood.nodes.link_emulator', 'LinkEmulatorNode'),
    'ping_responder': ('uav_flood.nodes.ping_responder', 'PingResponderNode'),
    'recorder': ('uav_flood.nodes.recorder', 'RecorderNode'),
    'segmentation': ('uav_flood.nodes.segmentation', 'SegmentationNode'),
    'sim_camera': ('uav_flood.nodes.sim_camera', 'SimCameraNode'),
    'swarm_coordinator': ('uav_flood.nodes.swarm_coordinator', 'SwarmCoordinatorNode'),
}
#: Executor threads besides one per node (flight_control's services wait on the autopilot).
EXTRA_THREADS = 2


class UsageError(ValueError):
    """The command line does not name nodes node_group can run."""


def parse(argv: list[str]) -> list[tuple[str, list[str]]]:
    """Split node_group's arguments into (executable, its ROS arguments) per node.

    :raises UsageError: no node, an unknown executable, or arguments before the first --node.
    """
    nodes: list[tuple[str, list[str]]] = []
    items = iter(argv)
    for item in items:
        if item == '--node':
            executable = next(items, None)
            if executable is None:
                raise UsageError('--node needs a node executable')
            if executable not in NODES:
                raise UsageError(
                    f'{executable!r} is not a node node_group can run ({", ".join(NODES)})'
                )
            nodes.append((executable, []))
        elif not nodes:
            if item == '--ros-args':
                break  # the runner's own ROS arguments for the process: none are needed
            raise UsageError(f'expected --node EXE, got {item!r}')
        else:
            nodes[-1][1].append(item)
    if not nodes:
        raise UsageError('no node to run: give --node EXE [--ros-args ...] at least once')
    return nodes


def _maker(executable: str, ros_args: list[str]) -> Callable[[], Node]:
    module_name, class_name = NODES[executable]

    def make() -> Node:
        cls: Any = getattr(importlib.import_module(module_name), class_name)
        # Its own arguments only: another member's namespace or parameters must not leak in.
        node: Node = cls(cli_args=ros_args, use_global_arguments=False)
        return node

    return make


def main(args: list[str] | None = None) -> None:
    """Run the nodes named on the command line in one process until shut down."""
    argv = sys.argv[1:] if args is None else args
    try:
        nodes = parse(argv)
    except UsageError as exc:
        print(f'node_group: error: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    makers = [(executable, _maker(executable, ros_args)) for executable, ros_args in nodes]
    threads = len(makers) + EXTRA_THREADS
    spin_nodes(makers, [], lambda: MultiThreadedExecutor(num_threads=threads))


if __name__ == '__main__':
    main()
