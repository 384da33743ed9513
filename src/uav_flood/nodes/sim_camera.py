"""sim_camera: one per vehicle (namespace /uavN), a simulated camera that renders the flood scene.

Subscribes to the vehicle's pose (flight_control's geometry_msgs/PoseStamped in map ENU, base_link
FLU orientation) and to the camera mount (camera/mount, the static transform base_link ->
camera_optical that segmentation publishes from its mount_* parameters: the mount is defined
once, where it is used to georeference) and, on a timer at rate_hz, renders what the camera
mounted on that vehicle sees by warping the scene mosaic (sim.camera.SimCamera). No frame is
rendered before the mount is known. Publishes camera/image_raw (sensor_msgs/Image,
rgb8) and camera/camera_info with the same header: the stamp is the POSE's stamp, so a consumer
(segmentation) pairs each frame with the pose it was taken from, and the frame id is
uavN/camera_optical. With publish_ground_truth it also publishes the frame's true water mask
(mono8, 255 water) on camera/ground_truth. Counters and render time go to camera/status.

A render takes a few to ~50 ms (image size, numpy); it runs in the timer on a single-threaded
executor, which is fine at a few Hz: the pose subscription only stores the latest message.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TransformStamped
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import CameraMount, GeoreferenceError
from uav_flood.nodes import conversions, names
from uav_flood.nodes.conversions import camera_mount, StatusPublisher
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.spin import spin_node
from uav_flood.sim.camera import SimCamera
from uav_flood.sim.scene import FloodScene

# name: (default, description). Defaults equal config/sim_camera.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'rate_hz': (2.0, 'Frame rate (Hz): one frame per timer tick when a fresh pose is known.'),
    'width': (640, 'Image width (px).'),
    'height': (480, 'Image height (px).'),
    'hfov_deg': (70.0, 'Horizontal field of view (deg), in (1, 179); square pixels.'),
    'scene_file': ('', 'Scene YAML (sim/scene.py format). Empty: the shipped demo scene.'),
    'publish_ground_truth': (False, 'Also publish the true water mask on camera/ground_truth.'),
    'encoding': ('rgb8', 'Image encoding: rgb8 or bgr8.'),
    'max_pose_age_s': (
        0.5,
        'Skip a frame when the last pose arrived longer ago than this (s, node clock).',
    ),
}

ENCODINGS = ('rgb8', 'bgr8')
OPTICAL_FRAME = names.OPTICAL_FRAME
#: Skip warnings are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0


@dataclass(frozen=True)
class CameraParams:
    """sim_camera's parameters, read once (see PARAMETERS for their meaning)."""

    rate_hz: float
    width: int
    height: int
    hfov_deg: float
    scene_file: str
    publish_ground_truth: bool
    encoding: str
    max_pose_age_s: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> CameraParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is out of range.
        """
        for name in ('rate_hz', 'max_pose_age_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        for name in ('width', 'height'):
            if int(values[name]) <= 0:
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        hfov = float(values['hfov_deg'])
        if not (math.isfinite(hfov) and 1.0 < hfov < 179.0):
            raise ConfigError(f'must be in (1, 179) deg, got {values["hfov_deg"]}', 'hfov_deg')
        encoding = str(values['encoding'])
        if encoding not in ENCODINGS:
            raise ConfigError(
                f'must be one of {", ".join(ENCODINGS)}, got {encoding!r}', 'encoding'
            )
        return cls(
            rate_hz=float(values['rate_hz']),
            width=int(values['width']),
            height=int(values['height']),
            hfov_deg=hfov,
            scene_file=str(values['scene_file']).strip(),
            publish_ground_truth=bool(values['publish_ground_truth']),
            encoding=encoding,
            max_pose_age_s=float(values['max_pose_age_s']),
        )

    @classmethod
    def from_node(cls, node: Node) -> CameraParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})


class SimCameraNode(Node):
    """Render and publish the view of one vehicle's camera from its latest pose."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('sim_camera', **kwargs)
        declare_read_only(self, PARAMETERS)
        self._params = CameraParams.from_node(self)
        params = self._params
        # FloodScene.load raises ConfigError itself for a missing or malformed scene.
        self._scene = FloodScene.load(params.scene_file or None)
        scene = self._scene
        # Built when segmentation's camera mount arrives (camera/mount, latched).
        self._camera: SimCamera | None = None
        self.mount: CameraMount | None = None
        self._info_camera = SimCamera.default(
            scene, params.width, params.height, params.hfov_deg
        ).camera
        self._frame_id = names.frame_id(self.get_namespace(), OPTICAL_FRAME)

        self._pose: PoseStamped | None = None
        self._pose_received: Time | None = None
        self.frames_published = 0
        self.skipped_no_pose = 0
        self.skipped_no_mount = 0
        self.skipped_stale_pose = 0
        self.skipped_bad_pose = 0
        self.last_render_ms = math.nan
        self._last_problem = ''

        self._image_pub = conversions.publisher(self, Image, names.CAMERA_IMAGE)
        self._info_pub = conversions.publisher(self, CameraInfo, names.CAMERA_INFO)
        self._truth_pub = (
            conversions.publisher(self, Image, names.CAMERA_GROUND_TRUTH)
            if params.publish_ground_truth
            else None
        )
        self._status_pub = StatusPublisher(self, names.CAMERA_STATUS)
        conversions.subscribe(self, PoseStamped, names.POSE, self._on_pose)
        conversions.subscribe(self, TransformStamped, names.CAMERA_MOUNT, self._on_mount)
        self._timer = self.create_timer(1.0 / params.rate_hz, self._on_timer)
        self.get_logger().info(
            f'ready: {params.width}x{params.height} {params.encoding}, hfov '
            f'{params.hfov_deg:g} deg, {params.rate_hz:g} Hz, mount from '
            f'{self.resolve_topic_name(names.CAMERA_MOUNT.name)}, scene {scene.name!r}, ground '
            f'truth {"on" if params.publish_ground_truth else "off"}'
        )

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose = msg
        self._pose_received = self.get_clock().now()

    def _on_mount(self, msg: TransformStamped) -> None:
        expected = names.frame_id(self.get_namespace(), names.BASE_FRAME)
        if (msg.header.frame_id, msg.child_frame_id) != (expected, self._frame_id):
            self._last_problem = (
                f'camera mount {msg.header.frame_id!r} -> {msg.child_frame_id!r} ignored: '
                f'expected {expected!r} -> {self._frame_id!r}'
            )
            self.get_logger().error(self._last_problem)
            return
        try:
            mount = camera_mount(msg)
        except GeoreferenceError as exc:
            self._last_problem = f'camera mount ignored: {exc}'
            self.get_logger().error(self._last_problem)
            return
        params = self._params
        self._camera = SimCamera.default(
            self._scene, params.width, params.height, params.hfov_deg, mount
        )
        self.mount = mount
        self.get_logger().info(
            f'camera mount: pitch {mount.pitch_deg:g} yaw {mount.yaw_deg:g} roll '
            f'{mount.roll_deg:g} deg, offset {mount.offset_flu_m} m'
        )

    def _on_timer(self) -> None:
        try:
            self._publish_frame()
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self._last_problem = f'render failed: {exc}'
            self.get_logger().error(self._last_problem, throttle_duration_sec=WARN_THROTTLE_S)
        self._publish_status()

    def _publish_frame(self) -> None:
        msg, received, camera = self._pose, self._pose_received, self._camera
        if camera is None:
            self.skipped_no_mount += 1
            self._skip(
                f'no camera mount on {self.resolve_topic_name(names.CAMERA_MOUNT.name)} yet '
                '(segmentation publishes it)'
            )
            return
        if msg is None or received is None:
            self.skipped_no_pose += 1
            self._skip(f'no pose on {self.resolve_topic_name(names.POSE.name)} yet')
            return
        age_s = (self.get_clock().now() - received).nanoseconds * 1e-9
        if age_s > self._params.max_pose_age_s:
            self.skipped_stale_pose += 1
            self._skip(f'last pose is {age_s:.1f} s old (max_pose_age_s '
                       f'{self._params.max_pose_age_s:g})')  # fmt: skip
            return
        try:
            pose = conversions.vehicle_pose(msg)
        except GeoreferenceError as exc:
            self.skipped_bad_pose += 1
            self._skip(f'unusable pose: {exc}')
            return
        start = time.perf_counter()
        rgb, truth, _valid = camera.render(pose)
        self.last_render_ms = (time.perf_counter() - start) * 1e3
        # The pose's stamp, so consumers pair the frame with the pose it was rendered from.
        header = Header(stamp=msg.header.stamp, frame_id=self._frame_id)
        if self._params.encoding == 'bgr8':
            rgb = rgb[..., ::-1]
        self._image_pub.publish(conversions.image_msg(rgb, self._params.encoding, header))
        self._info_pub.publish(conversions.camera_info(self._info_camera, header))
        if self._truth_pub is not None:
            self._truth_pub.publish(conversions.image_msg(truth, 'mono8', header))
        self.frames_published += 1
        self._last_problem = ''
        if self.frames_published == 1:
            self.get_logger().info(f'first frame published ({self.last_render_ms:.0f} ms render)')

    def _skip(self, reason: str) -> None:
        self._last_problem = reason
        self.get_logger().warning(
            f'frame skipped: {reason}', throttle_duration_sec=WARN_THROTTLE_S
        )

    def _publish_status(self) -> None:
        status = DiagnosticStatus()
        status.name = f'{self.get_fully_qualified_name()}: camera'
        status.hardware_id = self._frame_id
        if self._last_problem:
            status.level = DiagnosticStatus.WARN
            status.message = self._last_problem
        else:
            status.level = DiagnosticStatus.OK
            status.message = 'publishing frames'
        values = {
            'frames_published': self.frames_published,
            'frames_skipped_no_mount': self.skipped_no_mount,
            'frames_skipped_no_pose': self.skipped_no_pose,
            'frames_skipped_stale_pose': self.skipped_stale_pose,
            'frames_skipped_bad_pose': self.skipped_bad_pose,
            'render_time_ms': f'{self.last_render_ms:.1f}',
            'rate_hz': f'{self._params.rate_hz:g}',
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._status_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    """Run sim_camera until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded: the render in the timer is short at a few Hz, and the pose
    # subscription only stores the latest message.
    spin_node('sim_camera', SimCameraNode, args)


if __name__ == '__main__':
    main()
