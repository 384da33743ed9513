"""swarm_coordinator: one per swarm (global), plans the coverage and re-plans when a drone is lost.

The decisions are core.coverage.coordinator.Coordinator's (planning, progress, losses and
re-plans, sorties and battery swaps, taking drones back, the map check, the saved mission
state); this node feeds it and publishes what it decides. In: the area of interest (area_file
or /swarm/area_of_interest), each /<vehicle>/status, pose and battery, /flood_map, the
/swarm/battery_swapped service. Out: each /<vehicle>/mission/path (latched; a plan's paths share
one stamp), /swarm/markers and /swarm/status (1 Hz). Planning takes tens to hundreds of
milliseconds; it runs in the 10 Hz check timer on the single-threaded executor while the
subscriptions only store the latest messages. See docs/swarm_coordinator.md.
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PolygonStamped, PoseStamped
from nav_msgs.msg import OccupancyGrid, Path
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import BatteryState
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from uav_flood.core.coverage import Area
from uav_flood.core.coverage.coordinator import Coordinator, WARN_THROTTLE_S
from uav_flood.core.errors import UavFloodError
from uav_flood.core.geo import LocalFrame
from uav_flood.core.mission import Enu
from uav_flood.core.status_schema import VehicleStatus
from uav_flood.nodes import conversions, names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.params.swarm_coordinator import CoordinatorParams, PARAMETERS
from uav_flood.nodes.spin import spin_node

#: How often losses and the plan are checked (s).
CHECK_PERIOD_S = 0.1
#: /swarm/status period (s).
STATUS_PERIOD_S = 1.0


class SwarmCoordinatorNode(Node):
    """Plan the swarm's coverage, follow its progress and re-plan when a drone is lost."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('swarm_coordinator', **kwargs)
        declare_read_only(self, PARAMETERS)
        self._params = params = CoordinatorParams.from_node(self)
        self._frame = LocalFrame(params.origin)
        self.core = Coordinator(
            params,
            self.get_logger(),
            lambda: self.get_clock().now().nanoseconds,
            self._send_path,
            self._publish_markers,
            names.BATTERY_SWAPPED_SERVICE.name,
        )

        self._path_pubs: dict[str, Publisher] = {}
        for name in params.vehicles:
            ns = f'/{name}/'
            self._path_pubs[name] = self.create_publisher(
                Path, ns + names.MISSION_PATH.name, names.MISSION_PATH.qos
            )
            self.create_subscription(
                DiagnosticArray,
                ns + names.STATUS.name,
                lambda msg, n=name: self._on_status(n, msg),
                names.STATUS.qos,
            )
            self.create_subscription(
                PoseStamped,
                ns + names.POSE.name,
                lambda msg, n=name: self._on_pose(n, msg),
                names.POSE.qos,
            )
            self.create_subscription(
                BatteryState,
                ns + names.BATTERY.name,
                lambda msg, n=name: self._on_battery(n, msg),
                names.BATTERY.qos,
            )
        self._markers_pub = conversions.publisher(self, MarkerArray, names.SWARM_MARKERS)
        self._status_pub = conversions.StatusPublisher(self, names.SWARM_STATUS)
        self.create_service(Trigger, names.BATTERY_SWAPPED_SERVICE.name, self._on_battery_swapped)
        conversions.subscribe(self, OccupancyGrid, names.FLOOD_MAP, self._on_map)
        if params.area_file:
            self._load_area_file()
        else:
            conversions.subscribe(self, PolygonStamped, names.AREA_OF_INTEREST, self._on_area)
        self.create_timer(CHECK_PERIOD_S, self._on_check)
        self.create_timer(STATUS_PERIOD_S, self._publish_status)
        source = params.area_file or names.AREA_OF_INTEREST.name
        self.get_logger().info(
            f'ready: vehicles {", ".join(params.vehicles)}, area from {source}, swath '
            f'{params.plan.swath_m:.1f} m at {params.plan.base_altitude_m:g} m, status timeout '
            f'{params.status_timeout_s:g} s, replan_on_loss={params.replan_on_loss}'
        )

    # -- inputs (each converted and handed to the core) ------------------------------------------

    def _load_area_file(self) -> None:
        params = self._params
        try:
            area = Area.from_geojson(params.area_file, self._frame, params.no_fly_file or None)
        except (UavFloodError, OSError, ValueError) as exc:
            self.core.error = f'area file unusable: {exc}'
            self.get_logger().error(self.core.error)
            return
        self.core.set_area(area)

    def _on_area(self, msg: PolygonStamped) -> None:
        try:
            area = conversions.area_from_polygon(msg)
            if self._params.no_fly_file:
                # Every polygon of the no-fly file is a zone (read as an area, then moved).
                zones = Area.from_geojson(self._params.no_fly_file, self._frame)
                area = Area(area.region, zones.region, self._frame)
        except (UavFloodError, OSError, ValueError) as exc:
            self.core.error = f'area of interest refused: {exc}'
            self.get_logger().error(self.core.error)
            return
        self.core.set_area(area)

    def _on_status(self, name: str, msg: DiagnosticArray) -> None:
        self.core.on_status(name, VehicleStatus.parse(conversions.diagnostic_values(msg)))

    def _on_pose(self, name: str, msg: PoseStamped) -> None:
        p = msg.pose.position
        self.core.on_pose(name, p.x, p.y, p.z)

    def _on_battery(self, name: str, msg: BatteryState) -> None:
        self.core.on_battery(name, msg.percentage)

    def _on_map(self, msg: OccupancyGrid) -> None:
        self.core.on_map(conversions.grid_patch(msg))

    def _on_battery_swapped(
        self, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        """Take the operator's word that the batteries are swapped: every waiting drone goes on."""
        del request
        response.success, response.message = self.core.battery_swapped()
        return response

    def _on_check(self) -> None:
        try:
            self.core.check()
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self.core.error = f'coordinator failure: {exc}'
            self.get_logger().error(self.core.error, throttle_duration_sec=WARN_THROTTLE_S)

    # -- outputs ----------------------------------------------------------------------------------

    def _send_path(self, name: str, path: tuple[Enu, ...], stamp_ns: int) -> None:
        stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        self._path_pubs[name].publish(conversions.path_msg(path, stamp))

    def _publish_markers(self) -> None:
        plan, tracker = self.core.plan, self.core.tracker
        if plan is None or tracker is None:
            return
        indexes = {name: vehicle.index for name, vehicle in self.core.vehicles.items()}
        stamp = self.get_clock().now().to_msg()
        self._markers_pub.publish(conversions.swarm_markers(plan, tracker, indexes, stamp))

    def _publish_status(self) -> None:
        try:
            self._status_pub.publish(self._status())
            self._publish_markers()
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self.get_logger().error(f'status failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S)

    def _status(self) -> DiagnosticArray:
        status = self.core.swarm_status()
        if self.core.error:
            level, message = 'ERROR', self.core.error
        elif any(entry.lost for entry in status.drones.values()):
            level = 'WARN'
            message = f'{status.state}, {status.coverage_pct:.0f} % covered, drone(s) lost'
        else:
            level, message = 'OK', f'{status.state}, {status.coverage_pct:.0f} % covered'
        return conversions.node_status(self, 'swarm', level, message, status.values())


def main(args: list[str] | None = None) -> None:
    """Run swarm_coordinator until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded: planning in the check timer is short, the subscriptions store only.
    spin_node('swarm_coordinator', SwarmCoordinatorNode, args)


if __name__ == '__main__':
    main()
