"""The demo's ROS 2 side: one node that listens to every status and the live map.

It subscribes, per drone, to flight_control's `status` and segmentation's
`segmentation/status`; once to `/swarm/status`, `/flood_map/status`, `/edge/status` and
`/flood_map` (scored against the scene's ground truth inside the area as it arrives). Everything
goes into a `Fleet` (demo/progress.py) under a lock; the demo's control loop reads it.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
import numpy as np
from numpy.typing import NDArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from uav_flood.core.evaluation import score_map
from uav_flood.core.georef import GridPatch
from uav_flood.demo.progress import Fleet
from uav_flood.nodes import names
from uav_flood.nodes.conversions import diagnostic_values, grid_patch


class DemoMonitor(Node):
    """Listen to the mission's statuses and map; keep them in a Fleet.

    :param fleet: where the statuses go.
    :param lock: guards `fleet` (the control loop reads it from another thread).
    :param truth: the ground truth over the area's bounds, or None (no live score).
    :param inside: which cells of `truth` are in the area.
    """

    def __init__(
        self,
        fleet: Fleet,
        lock: threading.Lock,
        truth: GridPatch | None,
        inside: NDArray[np.bool_] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__('demo_monitor', **kwargs)
        self._fleet, self._lock = fleet, lock
        self._truth, self._inside = truth, inside
        self.map_messages = 0
        for name in fleet.drones:
            self._listen(f'/{name}/{names.STATUS.name}', self._drone(name, fleet.on_drone_status))
            self._listen(
                f'/{name}/{names.SEGMENTATION_STATUS.name}',
                self._drone(name, fleet.on_segmentation_status),
            )
        self._listen(names.SWARM_STATUS.name, fleet.on_swarm_status)
        self._listen(names.FLOOD_MAP_STATUS.name, lambda v: setattr(fleet, 'mapper', v))
        self._listen(names.EDGE_STATUS.name, lambda v: setattr(fleet, 'edge', v))
        self.create_subscription(
            OccupancyGrid, names.FLOOD_MAP.name, self._on_map, names.FLOOD_MAP.qos
        )

    def _drone(
        self, name: str, method: Callable[[str, dict[str, str]], None]
    ) -> Callable[[dict[str, str]], None]:
        return lambda values: method(name, values)

    def _listen(self, topic: str, take: Callable[[dict[str, str]], None]) -> None:
        def callback(msg: DiagnosticArray) -> None:
            values = diagnostic_values(msg)
            with self._lock:
                take(values)

        self.create_subscription(DiagnosticArray, topic, callback, names.STATUS.qos)

    def _on_map(self, msg: OccupancyGrid) -> None:
        self.map_messages += 1
        if self._truth is None or self._inside is None:
            return
        try:
            score = score_map(grid_patch(msg), self._truth, self._inside)
        except ValueError as exc:
            self.get_logger().warning(f'live map score skipped: {exc}', throttle_duration_sec=10)
            return
        with self._lock:
            self._fleet.map_score = (score.coverage_pct, score.iou)


class MonitorThread:
    """Run a DemoMonitor on its own context and executor in a background thread.

    It joins the environment's ROS_DOMAIN_ID, like the nodes the runner starts.

    :param fleet, lock, truth, inside: as DemoMonitor.
    """

    def __init__(
        self,
        fleet: Fleet,
        lock: threading.Lock,
        truth: GridPatch | None,
        inside: NDArray[np.bool_] | None,
    ) -> None:
        import rclpy

        self._context = Context()
        rclpy.init(context=self._context, args=['--ros-args', '--disable-rosout-logs'])
        self.node = DemoMonitor(fleet, lock, truth, inside, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name='demo-monitor', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self._context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.1)
            except Exception as exc:  # noqa: BLE001  (the demo must keep hearing the fleet)
                if self._stop.is_set() or not self._context.ok():
                    return
                self.node.get_logger().error(f'status callback failed: {exc!r}')

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._executor.remove_node(self.node)
        self.node.destroy_node()
        self._executor.shutdown(timeout_sec=5.0)  # bounded: the demo must end
        if self._context.ok():
            self._context.shutdown()
