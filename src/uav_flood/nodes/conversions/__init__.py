"""ROS message <-> core/autopilot types, for the nodes (no logic beyond the conversion).

The markers of the flood map and the swarm's plan are in `markers` and re-exported here.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Iterable, Mapping, Sequence
import importlib
import math
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point32, PolygonStamped, PoseStamped, TransformStamped
from nav_msgs.msg import OccupancyGrid, Path
import numpy as np
from numpy.typing import ArrayLike, NDArray
from rclpy.node import Node
from sensor_msgs.msg import BatteryState, CameraInfo, Image, NavSatFix, NavSatStatus
from shapely.geometry import Polygon
from std_msgs.msg import Header

from uav_flood.core.class_map import ClassMapError, ClassObservation, NO_CLASS
from uav_flood.core.coverage import Area, PlanningError
from uav_flood.core.geo import GeoPoint
from uav_flood.core.georef import CameraModel, CameraMount, GridPatch, VehiclePose
from uav_flood.core.mission import MissionError
from uav_flood.core.rotation import Quaternion
from uav_flood.nodes import names
from uav_flood.nodes.conversions.markers import delete_marker as delete_marker
from uav_flood.nodes.conversions.markers import flood_markers as flood_markers
from uav_flood.nodes.conversions.markers import layer_markers as layer_markers
from uav_flood.nodes.conversions.markers import marker as marker
from uav_flood.nodes.conversions.markers import outline_points as outline_points
from uav_flood.nodes.conversions.markers import swarm_markers as swarm_markers
from uav_flood.nodes.conversions.markers import text_marker as text_marker
from uav_flood.nodes.names import Topic


def occupancy_grid(patch: GridPatch, stamp: Time) -> OccupancyGrid:
    """Return a grid patch as a nav_msgs/OccupancyGrid in the map frame (row 0 south)."""
    msg = OccupancyGrid()
    msg.header.frame_id = names.MAP_FRAME
    msg.header.stamp = stamp
    msg.info.map_load_time = stamp
    msg.info.resolution = float(patch.resolution_m)
    msg.info.width, msg.info.height = int(patch.width), int(patch.height)
    msg.info.origin.position.x = float(patch.origin_east)
    msg.info.origin.position.y = float(patch.origin_north)
    msg.info.origin.orientation.w = 1.0
    # array('b') from bytes: far faster than a list for maps of millions of cells.
    msg.data = array.array('b', np.ascontiguousarray(patch.data, dtype=np.int8).tobytes())
    return msg


def grid_patch(msg: OccupancyGrid) -> GridPatch:
    """Return an OccupancyGrid (e.g. /flood_map) as a GridPatch (values as published)."""
    info = msg.info
    return GridPatch(
        origin_east=float(info.origin.position.x),
        origin_north=float(info.origin.position.y),
        resolution_m=float(info.resolution),
        width=int(info.width),
        height=int(info.height),
        data=np.asarray(msg.data, np.int8),
    )


#: sensor_msgs/Image encoding of a class observation: class and confidence per cell.
CLASS_ENCODING = '8UC2'
#: A class observation message's class byte where the cell was not seen.
UNSEEN_CLASS_BYTE = 255


def class_observation_msg(observation: ClassObservation, stamp: Time) -> Image:
    """Return a class observation as names.FLOOD_OBSERVATION_CLASSES's Image (frame map)."""
    labels = np.asarray(observation.labels)
    height, width = labels.shape
    pairs = np.empty((height, width, 2), np.uint8)
    pairs[:, :, 0] = np.where(labels == NO_CLASS, UNSEEN_CLASS_BYTE, labels).astype(np.uint8)
    pairs[:, :, 1] = observation.confidence
    msg = Image(height=height, width=width, encoding=CLASS_ENCODING, is_bigendian=0)
    msg.header.stamp = stamp
    msg.header.frame_id = names.MAP_FRAME
    msg.step = 2 * width
    msg.data = pairs.tobytes()
    return msg


def class_observation_of(msg: Image) -> ClassObservation:
    """Return the ClassObservation a class observation Image carries.

    :raises ClassMapError: another encoding, a size that does not match the data, or a class
        byte other than 0..9 and 255.
    """
    if msg.encoding != CLASS_ENCODING:
        raise ClassMapError(f'class observation encoding {msg.encoding!r}, not {CLASS_ENCODING}')
    height, width = int(msg.height), int(msg.width)
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if msg.step != 2 * width or data.size != 2 * width * height:
        raise ClassMapError(
            f'class observation of {width} x {height} cells with step {msg.step} holds '
            f'{data.size} bytes'
        )
    pairs = data.reshape(height, width, 2)
    labels = pairs[:, :, 0].astype(np.int16)
    labels[labels == UNSEEN_CLASS_BYTE] = NO_CLASS
    if labels.size and labels.max() > 127:
        raise ClassMapError(f'class byte {int(labels.max())} in a class observation')
    return ClassObservation(labels.astype(np.int8), np.ascontiguousarray(pairs[:, :, 1]))


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


def node_status(
    node: Node,
    hardware_id: str,
    level: str,
    message: str,
    values: Mapping[str, Any],
    name: str = '',
) -> DiagnosticArray:
    """Return `node`'s status now (diagnostic_array with its name and its clock's stamp).

    :param name: the status name; '' for the node's fully qualified name.
    """
    stamp = node.get_clock().now().to_msg()
    name = name or node.get_fully_qualified_name()
    return diagnostic_array(name, hardware_id, level, message, values, stamp)


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


def transform_stamped(
    parent: str,
    child: str,
    stamp: Time,
    translation: Sequence[float],
    rotation_wxyz: Sequence[float],
) -> TransformStamped:
    """Build a geometry_msgs/TransformStamped: the pose of `child` in `parent`.

    :param translation: child's origin in parent (x, y, z) (m).
    :param rotation_wxyz: the quaternion rotating child vectors into parent.
    """
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = parent
    msg.child_frame_id = child
    t, r = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in translation)
    r.w, r.x, r.y, r.z = (float(v) for v in rotation_wxyz)
    return msg


def mount_transform(mount: CameraMount, namespace: str, stamp: Time) -> TransformStamped:
    """Return the static transform uavN/base_link -> uavN/camera_optical of a camera mount."""
    return transform_stamped(
        names.frame_id(namespace, names.BASE_FRAME),
        names.frame_id(namespace, names.OPTICAL_FRAME),
        stamp,
        mount.offset_flu_m,
        mount.rotation_wxyz(),
    )


def camera_mount(msg: TransformStamped) -> CameraMount:
    """Return the camera mount a base_link -> camera_optical transform describes.

    :raises GeoreferenceError: a zero or non-finite rotation or offset.
    """
    t, r = msg.transform.translation, msg.transform.rotation
    return CameraMount.from_transform((t.x, t.y, t.z), (r.w, r.x, r.y, r.z))


def pose_transform(msg: PoseStamped, child: str) -> TransformStamped:
    """Return the transform map -> `child` (e.g. 'uav0/base_link') that a pose in map is."""
    p, q = msg.pose.position, msg.pose.orientation
    return transform_stamped(
        msg.header.frame_id or names.MAP_FRAME,
        child,
        msg.header.stamp,
        (p.x, p.y, p.z),
        (q.w, q.x, q.y, q.z),
    )


def polygon_stamped(points: ArrayLike, frame_id: str, stamp: Time) -> PolygonStamped:
    """Build a PolygonStamped from (M, 2) or (M, 3) points (z = 0 when 2-D)."""
    array = np.asarray(points, dtype=float)
    if array.size == 0:
        array = array.reshape(0, 2)
    msg = PolygonStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.polygon.points = [
        Point32(x=float(row[0]), y=float(row[1]), z=float(row[2]) if len(row) > 2 else 0.0)
        for row in array
    ]
    return msg


def tf_message_type() -> Any | None:
    """Return tf2_msgs/msg/TFMessage, or None where tf2_msgs is not installed (PyPI wheels)."""
    try:
        return importlib.import_module('tf2_msgs.msg').TFMessage
    except (ImportError, AttributeError):
        return None


class TransformBroadcaster:
    """Publishes transforms on /tf, or on /tf_static with static=True, where tf2_msgs exists.

    The rclpy equivalent of tf2_ros's (Static)TransformBroadcaster, which is not among the PyPI
    wheels. Without tf2_msgs, `available` is False and send() does nothing: the recorder and the
    Foxglove bridge then write the transforms from the pose and camera mount topics
    (uav_flood.recording.tf). A static broadcaster sends every transform it was given so far in
    each message, as tf2_ros's does, since a latched topic keeps only the last message.
    """

    def __init__(self, node: Node, static: bool = False, message_type: Any | None = None) -> None:
        """Create the publisher when TFMessage is importable (or given, for tests)."""
        self._type = message_type or tf_message_type()
        self._static = static
        self._sent: dict[str, TransformStamped] = {}
        topic = names.TF_STATIC if static else names.TF
        self._pub = (
            node.create_publisher(self._type, topic.name, topic.qos)
            if self._type is not None
            else None
        )

    @property
    def available(self) -> bool:
        """Whether transforms are published (tf2_msgs installed)."""
        return self._pub is not None

    def send(self, transforms: Sequence[TransformStamped]) -> None:
        """Publish `transforms` (with a static broadcaster: and every earlier child's)."""
        if self._pub is None or self._type is None:
            return
        if self._static:
            self._sent.update({t.child_frame_id: t for t in transforms})
            transforms = list(self._sent.values())
        self._pub.publish(self._type(transforms=list(transforms)))


def image_msg(array: NDArray[np.uint8], encoding: str, header: Header) -> Image:
    """Build a sensor_msgs/Image from an H x W x C or H x W uint8 array.

    :param array: the pixels, C-contiguous or not (copied as bytes).
    :param encoding: the sensor_msgs image encoding ('rgb8', 'bgr8', 'mono8').
    :param header: std_msgs/Header to use (stamp and frame id).
    """
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    channels = int(array.shape[2]) if array.ndim == 3 else 1
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = array.tobytes()
    return msg


def vehicle_pose(msg: PoseStamped) -> VehiclePose:
    """Convert flight_control's pose to a core VehiclePose.

    :raises GeoreferenceError: NaN position or a zero/NaN quaternion (attitude unknown).
    """
    p, q = msg.pose.position, msg.pose.orientation
    return VehiclePose((p.x, p.y, p.z), (q.w, q.x, q.y, q.z))


def camera_info(camera: CameraModel, header: Header) -> CameraInfo:
    """Return a camera's intrinsics as sensor_msgs/CameraInfo (CameraModel.camera_info_fields)."""
    fields = camera.camera_info_fields()
    info = CameraInfo()
    info.header = header
    info.width, info.height = fields['width'], fields['height']
    info.distortion_model = fields['distortion_model']
    info.d = fields['d']
    info.k = fields['k']
    info.r = fields['r']
    info.p = fields['p']
    return info


def camera_model(msg: CameraInfo) -> CameraModel:
    """Return the camera of a sensor_msgs/CameraInfo.

    :raises GeoreferenceError: K is not 9 finite values with positive focal lengths, or the
        size is not positive.
    """
    return CameraModel.from_camera_info_fields(
        msg.width, msg.height, msg.k, msg.d, msg.distortion_model
    )


def stamp_s(stamp: Time) -> float:
    """Return a builtin_interfaces/Time as seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def stamp_key(stamp: Time) -> int:
    """Return a stamp as integer nanoseconds: the id of a frame, its observation and its result."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_array(msg: Image) -> NDArray[np.uint8]:
    """Return an rgb8/bgr8 Image's pixels as an H x W x 3 view (rows may be padded by step).

    The caller has checked the encoding and that len(data) == step * height >= width * 3 rows.
    """
    flat = np.frombuffer(msg.data, dtype=np.uint8)
    rows = flat.reshape(msg.height, msg.step)[:, : msg.width * 3]
    return rows.reshape(msg.height, msg.width, 3)


def image_problem(msg: Image, encodings: Sequence[str]) -> tuple[str, str] | None:
    """Return (reason, words) when an Image cannot be read as an H x W x 3 frame, else None.

    reason is one of 'empty', 'encoding', 'size_mismatch' (core.frame_stats.SKIP_REASONS).

    :param encodings: the encodings taken (3 bytes a pixel: rgb8, bgr8).
    """
    if msg.width == 0 or msg.height == 0 or len(msg.data) == 0:
        return 'empty', f'empty frame ({msg.width}x{msg.height}, {len(msg.data)} bytes)'
    if msg.encoding not in encodings:
        taken = ' or '.join(encodings)
        return 'encoding', f'encoding {msg.encoding!r} is not supported (use {taken})'
    if msg.step < msg.width * 3 or len(msg.data) != msg.step * msg.height:
        return 'size_mismatch', (
            f'{len(msg.data)} bytes of data for {msg.width}x{msg.height} {msg.encoding} with '
            f'step {msg.step} (expected {msg.step * msg.height})'
        )
    return None


def publisher(node: Node, msg_type: Any, topic: Topic) -> Any:
    """Create `node`'s publisher of `topic` with the catalogue's name and QoS (nodes/names.py)."""
    return node.create_publisher(msg_type, topic.name, topic.qos)


def subscribe(
    node: Node, msg_type: Any, topic: Topic, callback: Callable[[Any], None], **kwargs: Any
) -> Any:
    """Create `node`'s subscription to `topic` with the catalogue's name and QoS.

    :param kwargs: passed on (callback_group, raw, ...).
    """
    return node.create_subscription(msg_type, topic.name, callback, topic.qos, **kwargs)


def area_from_polygon(msg: PolygonStamped) -> Area:
    """Convert an area of interest message (map frame) to a core Area.

    :raises PlanningError: another frame, fewer than 3 vertices, or an invalid polygon.
    """
    if msg.header.frame_id not in ('', names.MAP_FRAME):
        raise PlanningError(
            f'area frame_id must be {names.MAP_FRAME!r}, got {msg.header.frame_id!r}'
        )
    points = [(p.x, p.y) for p in msg.polygon.points]
    if len(points) < 3:
        raise PlanningError(f'the area needs at least 3 vertices, got {len(points)}')
    if not all(math.isfinite(v) for p in points for v in p):
        raise PlanningError('the area has a NaN or infinite vertex')
    return Area(Polygon(points))


def path_msg(points: Iterable[Sequence[float]], stamp: Time) -> Path:
    """Build a nav_msgs/Path in the map frame from map ENU points ((x, y) or (x, y, z))."""
    msg = Path()
    msg.header.stamp = stamp
    msg.header.frame_id = names.MAP_FRAME
    for p in points:
        pose = PoseStamped()
        pose.header = msg.header
        position = pose.pose.position
        position.x, position.y = float(p[0]), float(p[1])
        position.z = float(p[2]) if len(p) > 2 else 0.0
        pose.pose.orientation.w = 1.0
        msg.poses.append(pose)
    return msg
