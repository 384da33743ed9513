"""ROS message <-> core/autopilot types, for the nodes (no logic beyond the conversion)."""

from __future__ import annotations

from collections.abc import Mapping
import math

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import BatteryState, NavSatFix, NavSatStatus

from uav_flood.autopilot.interface import Quaternion
from uav_flood.core.geo import GeoPoint
from uav_flood.core.mission import MissionError
from uav_flood.nodes import names
from uav_flood.nodes.names import Topic


def path_points(msg: Path) -> list[tuple[float, float, float]]:
    """Return the (x, y, z) positions of a nav_msgs/Path in the map frame (m).

    :param msg: the path; its header frame_id must be 'map' (or empty, read as 'map'), and so
        must each pose's.
    :raises MissionError: the path is in another frame.
    """
    frames = {msg.header.frame_id} | {pose.header.frame_id for pose in msg.poses}
    frames.discard('')
    if frames - {names.MAP_FRAME}:
        raise MissionError(
            f'path frame_id must be {names.MAP_FRAME!r}, got {sorted(frames)} '
            '(no TF lookup in flight_control)'
        )
    return [(p.pose.position.x, p.pose.position.y, p.pose.position.z) for p in msg.poses]


def pose_stamped(
    enu: tuple[float, float, float], attitude: Quaternion | None, stamp: Time
) -> PoseStamped:
    """Build a PoseStamped in the map frame; identity orientation when attitude is unknown.

    :param enu: position (east, north, up) in metres, map ENU.
    :param attitude: base_link FLU orientation relative to map ENU.
    :param stamp: the header stamp.
    """
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = names.MAP_FRAME
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in enu)
    q = attitude or Quaternion(1.0, 0.0, 0.0, 0.0)
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = q.w, q.x, q.y, q.z
    return msg


def nav_sat_fix(position: GeoPoint | None, frame_id: str, stamp: Time) -> NavSatFix:
    """Build a NavSatFix; NO_FIX and NaN coordinates when the position is unknown.

    The altitude is AMSL as PX4 reports it (NavSatFix asks for ellipsoidal height; PX4 does not
    report the geoid separation), with unknown covariance.
    """
    msg = NavSatFix()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.status.service = NavSatStatus.SERVICE_GPS
    msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_UNKNOWN
    if position is None:
        msg.status.status = NavSatStatus.STATUS_NO_FIX
        msg.latitude = msg.longitude = msg.altitude = math.nan
    else:
        msg.status.status = NavSatStatus.STATUS_FIX
        msg.latitude, msg.longitude, msg.altitude = (
            position.lat_deg,
            position.lon_deg,
            position.alt_m,
        )
    return msg


def battery_state(
    remaining: float | None, voltage_v: float | None, frame_id: str, stamp: Time
) -> BatteryState:
    """Build a BatteryState (percentage 0..1, NaN where unknown).

    :param remaining: state of charge (0..1).
    :param voltage_v: voltage (V).
    """
    msg = BatteryState()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.percentage = float(remaining) if remaining is not None else math.nan
    msg.voltage = float(voltage_v) if voltage_v is not None else math.nan
    msg.current = msg.charge = msg.capacity = msg.design_capacity = math.nan
    msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
    msg.power_supply_health = BatteryState.POWER_SUPPLY_HEALTH_UNKNOWN
    msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LIPO
    msg.present = remaining is not None
    return msg


#: DiagnosticStatus levels by name, as bytes (rclpy wants bytes for the byte field).
LEVELS = {
    'OK': DiagnosticStatus.OK,
    'WARN': DiagnosticStatus.WARN,
    'ERROR': DiagnosticStatus.ERROR,
    'STALE': DiagnosticStatus.STALE,
}


def diagnostic_array(
    name: str,
    hardware_id: str,
    level: str,
    message: str,
    values: Mapping[str, str],
    stamp: Time,
) -> DiagnosticArray:
    """Build a DiagnosticArray with one status.

    :param name: the status name (the node's fully qualified name).
    :param hardware_id: what is being reported on (the autopilot connection).
    :param level: 'OK', 'WARN', 'ERROR' or 'STALE'.
    :param message: a one-line summary.
    :param values: key/value details, all strings.
    """
    status = DiagnosticStatus(
        level=LEVELS[level],
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


class StatusPublisher:
    """Publishes a node's status on its own topic and on /diagnostics (names.DIAGNOSTICS).

    The per-node topics (`status`, `/swarm/status`, ...) carry it for the stack's own readers;
    /diagnostics is where ROS tools (rqt_robot_monitor, diagnostic_aggregator) look.
    """

    def __init__(self, node: Node, topic: Topic) -> None:
        """Create both publishers on `node`."""
        self.own = node.create_publisher(DiagnosticArray, topic.name, topic.qos)
        self.diagnostics = node.create_publisher(
            DiagnosticArray, names.DIAGNOSTICS.name, names.DIAGNOSTICS.qos
        )

    def publish(self, msg: DiagnosticArray) -> None:
        """Publish `msg` on both topics."""
        self.own.publish(msg)
        self.diagnostics.publish(msg)


def diagnostic_values(msg: DiagnosticArray, name: str | None = None) -> dict[str, str]:
    """Return the key/value pairs of the (first, or named) status of a DiagnosticArray."""
    for status in msg.status:
        if name is None or status.name == name:
            return {kv.key: kv.value for kv in status.values}
    return {}
