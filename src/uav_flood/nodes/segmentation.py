"""segmentation: one per vehicle (namespace /uavN), turns camera frames into georeferenced water.

Subscribes to the vehicle's pose (flight_control's geometry_msgs/PoseStamped in map ENU), kept in
a short history (core.pose_history), and to camera/image_raw + camera/camera_info (rgb8 or bgr8).
For each frame it takes the pose at the frame's stamp (interpolated), runs the flood model
(core.segmentation) and projects the mask onto the map grid (core.georef.mask_to_patch). It
publishes segmentation/mask (sensor_msgs/Image mono8, 255 water, the source frame's header),
flood_observation (nav_msgs/OccupancyGrid in map, 0 dry / 100 water / -1 unseen, stamped with the
frame's stamp) and segmentation/status (DiagnosticArray, 1 Hz: counters, frame rate, inference
time and end-to-end latency).

Inference takes tens of milliseconds or more, so it runs on a worker thread, never in a callback:
the image callback checks and converts the frame and leaves it in a one-slot mailbox; the worker
takes the newest frame when it is free. A frame overwritten before the worker took it counts as
dropped: when inference is slower than the camera, only the newest frame is segmented. Bad input
(unknown encoding, truncated data, a size that differs from CameraInfo, no CameraInfo or no pose
at the frame's stamp, a NaN pose) is logged (throttled), counted and skipped; an exception while
processing a frame is logged and counted and the worker goes on.
"""

from __future__ import annotations

import array
import collections
from dataclasses import dataclass
import math
from pathlib import Path
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid
import numpy as np
from numpy.typing import NDArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import (
    CameraModel,
    CameraMount,
    GeoreferenceError,
    GridPatch,
    GridSpec,
    mask_to_patch,
    VehiclePose,
)
from uav_flood.core.pose_history import PoseHistory, PoseHistoryError
from uav_flood.core.segmentation import (
    ENCODINGS,
    FloodSegmenter,
    MODES,
    PROVIDERS,
    SegmentationError,
    SegmenterConfig,
    STRIDE,
)
from uav_flood.nodes import names
from uav_flood.nodes.conversions import diagnostic_array
from uav_flood.nodes.sim_camera import image_msg, vehicle_pose
from uav_flood.nodes.spin import spin_node

# name: (default, description). Defaults equal config/segmentation.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'model_path': ('', 'ONNX flood model. Empty: the model shipped in the package.'),
    'providers': (
        ['cpu'],
        'onnxruntime execution providers in order of preference: tensorrt, cuda, cpu '
        '(missing ones are skipped; cpu is always the last resort).',
    ),
    'threads': (0, 'onnxruntime intra-op threads; 0 uses every core.'),
    'mode': ('resize', 'How a frame fits the network: resize (scale to max_side) or tile.'),
    'max_side': (512, 'Longer side (px) a frame is scaled to in resize mode.'),
    'threshold': (0.5, 'Water probability at or above which a pixel is water, in (0, 1).'),
    'grid_resolution_m': (0.5, 'Cell size (m) of the map grid the observations snap to.'),
    'max_range_m': (300.0, 'Longest slant range (m) from the camera to a mapped ground point.'),
    'mount_pitch_deg': (
        -90.0,
        'Optical axis elevation on base_link (deg): -90 nadir, 0 forward; as sim_camera.',
    ),
    'mount_yaw_deg': (0.0, 'Optical axis azimuth on base_link (deg, positive to the left).'),
    'mount_roll_deg': (0.0, 'Camera roll about its optical axis (deg).'),
    'pose_history_s': (2.0, 'How much pose history (s) is kept to pair frames with poses.'),
    'max_pose_gap_s': (
        0.25,
        'Longest time (s) between two poses that a frame stamp may be interpolated across.',
    ),
}

#: Why a frame was skipped; each has a counter `skipped_<reason>` in the status.
SKIP_REASONS = (
    'encoding',
    'size_mismatch',
    'empty',
    'no_camera_info',
    'no_pose',
    'bad_pose',
)
#: Skip warnings are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0
#: The frame rate in the status is measured over this window (s).
FPS_WINDOW_S = 5.0
#: Means in the status are over this many frames.
MEAN_FRAMES = 50
STATUS_PERIOD_S = 1.0
#: A frame may arrive up to this long after the newest pose and still get that pose (s).
POSE_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class SegmentationParams:
    """segmentation's parameters, read once (see PARAMETERS for their meaning)."""

    segmenter: SegmenterConfig
    grid: GridSpec
    mount: CameraMount
    pose_history_s: float
    max_pose_gap_s: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> SegmentationParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is out of range or the model file does not exist.
        """
        model_path = str(values['model_path']).strip()
        if model_path and not Path(model_path).is_file():
            raise ConfigError(f'model file {model_path!r} not found', 'model_path')
        providers = tuple(str(p).strip().lower() for p in values['providers'])
        unknown = [p for p in providers if p not in PROVIDERS]
        if not providers or unknown:
            raise ConfigError(
                f'must list providers from {", ".join(PROVIDERS)}, '
                f'got {list(values["providers"])}',
                'providers',
            )
        if int(values['threads']) < 0:
            raise ConfigError(f'must be 0 (all cores) or more, got {values["threads"]}', 'threads')
        mode = str(values['mode'])
        if mode not in MODES:
            raise ConfigError(f'must be one of {", ".join(MODES)}, got {mode!r}', 'mode')
        if int(values['max_side']) < STRIDE:
            raise ConfigError(f'must be >= {STRIDE}, got {values["max_side"]}', 'max_side')
        threshold = float(values['threshold'])
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f'must be in (0, 1), got {values["threshold"]}', 'threshold')
        for name in ('grid_resolution_m', 'max_range_m', 'pose_history_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        gap = float(values['max_pose_gap_s'])
        if not (math.isfinite(gap) and gap >= 0.0):
            raise ConfigError(f'must be >= 0, got {values["max_pose_gap_s"]}', 'max_pose_gap_s')
        segmenter = SegmenterConfig(
            model_path=model_path,
            providers=providers,
            threads=int(values['threads']),
            mode=mode,
            max_side=int(values['max_side']),
            threshold=threshold,
        )
        try:
            segmenter.validate()
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'segmenter') from None
        try:
            mount = CameraMount(
                pitch_deg=float(values['mount_pitch_deg']),
                yaw_deg=float(values['mount_yaw_deg']),
                roll_deg=float(values['mount_roll_deg']),
            )
        except GeoreferenceError as exc:
            raise ConfigError(str(exc), 'mount_pitch_deg/mount_yaw_deg/mount_roll_deg') from None
        return cls(
            segmenter=segmenter,
            grid=GridSpec(float(values['grid_resolution_m']), float(values['max_range_m'])),
            mount=mount,
            pose_history_s=float(values['pose_history_s']),
            max_pose_gap_s=gap,
        )

    @classmethod
    def from_node(cls, node: Node) -> SegmentationParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})


def stamp_s(stamp: TimeMsg) -> float:
    """Return a builtin_interfaces/Time as seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def image_array(msg: Image) -> NDArray[np.uint8]:
    """Return an rgb8/bgr8 Image's pixels as an H x W x 3 view (rows may be padded by step).

    The caller has checked the encoding and that len(data) == step * height >= width * 3 rows.
    """
    flat = np.frombuffer(msg.data, dtype=np.uint8)
    rows = flat.reshape(msg.height, msg.step)[:, : msg.width * 3]
    return rows.reshape(msg.height, msg.width, 3)


def occupancy_grid(patch: GridPatch, stamp: TimeMsg) -> OccupancyGrid:
    """Build a nav_msgs/OccupancyGrid in the map frame from a grid patch (row 0 south)."""
    msg = OccupancyGrid()
    msg.header.frame_id = names.MAP_FRAME
    msg.header.stamp = stamp
    msg.info.map_load_time = stamp
    msg.info.resolution = float(patch.resolution_m)
    msg.info.width, msg.info.height = patch.width, patch.height
    msg.info.origin.position.x = float(patch.origin_east)
    msg.info.origin.position.y = float(patch.origin_north)
    msg.info.origin.orientation.w = 1.0
    msg.data = array.array('b', np.ascontiguousarray(patch.data, dtype=np.int8).tobytes())
    return msg


@dataclass(frozen=True)
class _Frame:
    """A checked frame waiting for the worker."""

    header: Header
    pixels: NDArray[np.uint8]
    encoding: str
    pose: VehiclePose
    camera: CameraModel
    received: float  # time.monotonic() when the image callback started


class SegmentationNode(Node):
    """Segment each camera frame and publish its mask and its georeferenced patch."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('segmentation', **kwargs)
        for name, (default, description) in PARAMETERS.items():
            try:
                self.declare_parameter(
                    name, default, ParameterDescriptor(description=description, read_only=True)
                )
            except InvalidParameterTypeException:
                kind = {
                    bool: 'true/false',
                    int: 'an integer',
                    float: 'a number with a decimal point',
                    str: 'a string',
                    list: 'a list of strings, like [cuda, cpu]',
                }[type(default)]
                raise ConfigError(f'must be {kind}, like the default {default!r}', name) from None
        self._params = SegmentationParams.from_node(self)
        params = self._params
        try:
            self._segmenter = FloodSegmenter(params.segmenter)
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'model_path/providers') from None
        self._history = PoseHistory(params.pose_history_s, params.max_pose_gap_s, POSE_TOLERANCE_S)
        self._frame_id = names.frame_id(self.get_namespace(), 'camera_optical')

        # Counters and timings: written by the executor thread and the worker, under _lock.
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.observations_published = 0
        self.no_ground = 0
        self.errors = 0
        self.poses_received = 0
        self.camera_infos_received = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self._done_times: collections.deque[float] = collections.deque()
        self._inference_ms: collections.deque[float] = collections.deque(maxlen=MEAN_FRAMES)
        self._latency_ms: collections.deque[float] = collections.deque(maxlen=MEAN_FRAMES)
        self._last_problem = ''

        self._camera: CameraModel | None = None
        self._camera_key: tuple[Any, ...] | None = None
        self._camera_problem = ''

        # The one-slot mailbox between the image callback and the worker.
        self._mailbox: _Frame | None = None
        self._wake = threading.Condition(self._lock)
        self._stopping = False

        self._mask_pub = self.create_publisher(Image, names.MASK.name, names.MASK.qos)
        self._observation_pub = self.create_publisher(
            OccupancyGrid, names.FLOOD_OBSERVATION.name, names.FLOOD_OBSERVATION.qos
        )
        self._status_pub = self.create_publisher(
            DiagnosticArray, names.SEGMENTATION_STATUS.name, names.SEGMENTATION_STATUS.qos
        )
        self.create_subscription(PoseStamped, names.POSE.name, self._on_pose, names.POSE.qos)
        self.create_subscription(
            CameraInfo, names.CAMERA_INFO.name, self._on_camera_info, names.CAMERA_INFO.qos
        )
        self.create_subscription(
            Image, names.CAMERA_IMAGE.name, self._on_image, names.CAMERA_IMAGE.qos
        )
        self._timer = self.create_timer(STATUS_PERIOD_S, self._publish_status)
        self._worker = threading.Thread(
            target=self._work, name=f'segmentation{self.get_namespace()}', daemon=True
        )
        self._worker.start()
        seg = params.segmenter
        self.get_logger().info(
            f'ready: model {self._segmenter.model_path}, providers '
            f'{", ".join(self._segmenter.providers)}, threads {seg.threads or "all"}, mode '
            f'{seg.mode} (max side {seg.max_side}), threshold {seg.threshold:g}, grid '
            f'{params.grid.resolution_m:g} m, max range {params.grid.max_range_m:g} m, mount '
            f'pitch {params.mount.pitch_deg:g} yaw {params.mount.yaw_deg:g} roll '
            f'{params.mount.roll_deg:g} deg'
        )

    # -- executor side: callbacks only store, check and convert ------------------------------

    def _on_pose(self, msg: PoseStamped) -> None:
        try:
            pose = vehicle_pose(msg)
            self._history.add(stamp_s(msg.header.stamp), pose)
        except (GeoreferenceError, PoseHistoryError) as exc:
            self._skip('bad_pose', f'pose ignored: {exc}', 'pose')
            return
        self.poses_received += 1

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_infos_received += 1
        key = (msg.width, msg.height, tuple(msg.k), tuple(msg.d), msg.distortion_model)
        if key == self._camera_key:
            return
        self._camera_key = key
        try:
            self._camera = CameraModel.from_camera_info_fields(
                msg.width, msg.height, msg.k, msg.d, msg.distortion_model
            )
            self._camera_problem = ''
            self.get_logger().info(
                f'camera: {msg.width}x{msg.height}, fx {msg.k[0]:.1f} px, distortion '
                f'{msg.distortion_model or "none"}'
            )
        except GeoreferenceError as exc:
            self._camera = None
            self._camera_problem = f'unusable camera_info: {exc}'
            self.get_logger().warning(self._camera_problem, throttle_duration_sec=WARN_THROTTLE_S)

    def _on_image(self, msg: Image) -> None:
        received = time.monotonic()
        with self._lock:
            self.frames_in += 1
        try:
            frame = self._check(msg, received)
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            with self._lock:
                self.errors += 1
            self._problem(f'frame failed: {exc}')
            return
        if frame is None:
            return
        with self._wake:
            if self._mailbox is not None:
                self.frames_dropped += 1
            self._mailbox = frame
            self._wake.notify()

    def _check(self, msg: Image, received: float) -> _Frame | None:
        """Return the frame ready for the worker, or None after counting why it is skipped."""
        if msg.width == 0 or msg.height == 0 or len(msg.data) == 0:
            self._skip('empty', f'empty frame ({msg.width}x{msg.height}, {len(msg.data)} bytes)')
            return None
        if msg.encoding not in ENCODINGS:
            self._skip(
                'encoding',
                f'encoding {msg.encoding!r} is not supported (use {" or ".join(ENCODINGS)})',
            )
            return None
        if msg.step < msg.width * 3 or len(msg.data) != msg.step * msg.height:
            self._skip(
                'size_mismatch',
                f'{len(msg.data)} bytes of data for {msg.width}x{msg.height} {msg.encoding} with '
                f'step {msg.step} (expected {msg.step * msg.height})',
            )
            return None
        camera = self._camera
        if camera is None:
            where = self.resolve_topic_name(names.CAMERA_INFO.name)
            self._skip('no_camera_info', self._camera_problem or f'no CameraInfo on {where} yet')
            return None
        if (msg.width, msg.height) != (camera.width, camera.height):
            self._skip(
                'size_mismatch',
                f'frame is {msg.width}x{msg.height} but camera_info says '
                f'{camera.width}x{camera.height}',
            )
            return None
        lookup = self._history.lookup(stamp_s(msg.header.stamp))
        if lookup.pose is None:
            self._skip('no_pose', f'no pose at the frame stamp: {lookup.reason}')
            return None
        # The message stays alive with the frame, so the pixels need no copy.
        return _Frame(msg.header, image_array(msg), msg.encoding, lookup.pose, camera, received)

    def _skip(self, reason: str, text: str, what: str = 'frame') -> None:
        with self._lock:
            self.skipped[reason] += 1
        self._problem(f'{what} skipped: {text}')

    def _problem(self, text: str) -> None:
        self._last_problem = text
        self.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)

    # -- worker thread: segment, georeference, publish ---------------------------------------

    def _work(self) -> None:
        while True:
            with self._wake:
                while self._mailbox is None and not self._stopping:
                    self._wake.wait()
                frame, self._mailbox = self._mailbox, None
                if self._stopping or frame is None:
                    return
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001  (one bad frame must not end the worker)
                with self._lock:
                    self.errors += 1
                self._last_problem = f'frame failed: {exc}'
                self.get_logger().error(self._last_problem, throttle_duration_sec=WARN_THROTTLE_S)

    def _process(self, frame: _Frame) -> None:
        result = self._segmenter.segment(frame.pixels, frame.encoding)
        self._mask_pub.publish(image_msg(result.mask_mono8(), 'mono8', frame.header))
        patch = mask_to_patch(
            result.mask, frame.camera, self._params.mount, frame.pose, self._params.grid
        )
        if patch is not None:
            self._observation_pub.publish(occupancy_grid(patch, frame.header.stamp))
        done = time.monotonic()
        with self._lock:
            self.frames_processed += 1
            if patch is None:
                self.no_ground += 1
            else:
                self.observations_published += 1
            self._inference_ms.append(result.inference_ms)
            self._latency_ms.append((done - frame.received) * 1e3)
            self._done_times.append(done)
            while self._done_times and self._done_times[0] < done - FPS_WINDOW_S:
                self._done_times.popleft()
            first = self.frames_processed == 1
        self._last_problem = ''
        if first:
            self.get_logger().info(
                f'first frame segmented: {result.inference_ms:.0f} ms inference, '
                f'{(done - frame.received) * 1e3:.0f} ms end to end'
            )

    # -- status ------------------------------------------------------------------------------

    def status_values(self) -> dict[str, str]:
        """Return the counters and timings published in the status (all strings)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._done_times if t >= now - FPS_WINDOW_S]
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 else 0.0
            inference = list(self._inference_ms)
            latency = list(self._latency_ms)
            values: dict[str, Any] = {
                'frames_in': self.frames_in,
                'frames_processed': self.frames_processed,
                'frames_dropped': self.frames_dropped,
                'observations_published': self.observations_published,
                'frames_without_ground': self.no_ground,
                'errors': self.errors,
                **{f'skipped_{reason}': n for reason, n in self.skipped.items()},
            }

        def mean(xs: list[float]) -> str:
            return f'{sum(xs) / len(xs):.1f}' if xs else 'nan'

        values.update(
            {
                'fps': f'{fps:.2f}',
                'inference_ms_mean': mean(inference),
                'inference_ms_last': f'{inference[-1]:.1f}' if inference else 'nan',
                'latency_ms_mean': mean(latency),
                'latency_ms_last': f'{latency[-1]:.1f}' if latency else 'nan',
                'providers': ','.join(self._segmenter.providers),
                'model': str(self._segmenter.model_path),
            }
        )
        return {k: str(v) for k, v in values.items()}

    def _publish_status(self) -> None:
        values = self.status_values()
        if self._last_problem:
            level, message = 'WARN', self._last_problem
        elif values['frames_processed'] == '0':
            level, message = 'OK', 'waiting for frames'
        else:
            level, message = 'OK', f'segmenting at {values["fps"]} frames/s'
        self._status_pub.publish(
            diagnostic_array(
                f'{self.get_fully_qualified_name()}: segmentation',
                self._frame_id,
                level,
                message,
                values,
                self.get_clock().now().to_msg(),
            )
        )

    def destroy_node(self) -> None:
        """Stop and join the worker thread, then destroy the node."""
        worker: threading.Thread | None = getattr(self, '_worker', None)
        if worker is not None:  # None: __init__ failed before the worker started
            with self._wake:
                self._stopping = True
                self._wake.notify_all()
            if worker.is_alive() and worker is not threading.current_thread():
                worker.join()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run segmentation until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded executor: inference runs on the node's own worker thread, so callbacks
    # only check, convert and store, and the executor never waits on the model.
    spin_node('segmentation', SegmentationNode, args)


if __name__ == '__main__':
    main()
