"""gz_camera_bridge: one per vehicle (namespace /uavN), a Gazebo camera published like sim_camera.

Subscribes to a gz-sim camera's image topic (gz_topic, e.g. /world/flood_world/model/
uav_flood_x500_0/link/camera_link/sensor/camera/image) with the gz-transport Python bindings and
publishes each frame as camera/image_raw (sensor_msgs/Image, rgb8 or bgr8) and camera/camera_info,
with the same topic names, QoS, frame id (uavN/camera_optical) and intrinsics (from the frame's
width and height and hfov_deg) as sim_camera, so segmentation cannot tell the two apart. The gz
message is checked and converted by core.gz_image; a frame that cannot be converted is counted,
logged (throttled) and dropped. Counters and the last refusal go to camera/status.

gz-transport calls the subscription callback on its own thread: the frame is converted and
published there (rclpy publishers may be used from any thread), counters are guarded by a lock,
and the status timer runs in the executor. The subscription is injected (``subscribe(topic,
callback) -> unsubscribe``), so tests drive the node without Gazebo; main() builds the
gz-transport one and exits 2 with one line when no bindings import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import importlib
import math
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time as TimeMsg
from rclpy.logging import get_logger
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import CameraModel
from uav_flood.core.gz_image import convert, GzImageError, OUTPUT_ENCODINGS, to_rgb
from uav_flood.nodes import conversions, names
from uav_flood.nodes.conversions import diagnostic_array, StatusPublisher
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.spin import spin_node

NODE_NAME = 'gz_camera_bridge'
STAMP_MODES = ('receipt', 'gz')

# name: (default, description). Defaults equal config/gz_camera_bridge.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'gz_topic': (
        '',
        'gz-transport topic of the camera image (required), e.g. /world/<world>/model/'
        '<model>_<instance>/link/<link>/sensor/<sensor>/image.',
    ),
    'hfov_deg': (
        70.0,
        'Horizontal field of view (deg) of the gz camera (its SDF horizontal_fov), in (1, 179); '
        'square pixels.',
    ),
    'encoding': ('rgb8', 'Published image encoding: rgb8 or bgr8.'),
    'stamp': (
        'receipt',
        "Frame stamps: 'receipt' = the ROS clock when the frame arrives (pairs with poses "
        "stamped by flight_control's ROS clock), 'gz' = the gz header stamp (simulation time; "
        'only with use_sim_time and /clock from Gazebo).',
    ),
    'max_rate_hz': (0.0, 'Publish at most this many frames per second (Hz); 0: every frame.'),
}

#: Refusal warnings are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0
#: Period of camera/status (s).
STATUS_PERIOD_S = 1.0
#: camera/status warns when the last frame arrived longer ago than this (s).
STALE_AFTER_S = 5.0

#: A gz subscription: subscribe(topic, callback) subscribes `callback(gz_image)` to `topic` and
#: returns the function that unsubscribes it.
Subscribe = Callable[[str, Callable[[Any], None]], Callable[[], None]]

#: (gz-transport module, gz-msgs module, Gazebo release, Debian packages), tried in order:
#: Harmonic first, the release PX4's gz simulation targets.
GZ_BINDINGS = (
    ('gz.transport13', 'gz.msgs10', 'Harmonic', 'python3-gz-transport13 python3-gz-msgs10'),
    ('gz.transport14', 'gz.msgs11', 'Ionic', 'python3-gz-transport14 python3-gz-msgs11'),
    ('gz.transport', 'gz.msgs', 'Jetty', 'python3-gz-transport python3-gz-msgs'),
)


@dataclass(frozen=True)
class BridgeParams:
    """gz_camera_bridge's parameters, read once (see PARAMETERS for their meaning)."""

    gz_topic: str
    hfov_deg: float
    encoding: str
    stamp: str
    max_rate_hz: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> BridgeParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is missing or out of range.
        """
        topic = str(values['gz_topic']).strip()
        if not topic:
            raise ConfigError(
                "is required: the gz camera's image topic, e.g. /world/flood_world/model/"
                'uav_flood_x500_0/link/camera_link/sensor/camera/image (`gz topic -l` lists them)',
                'gz_topic',
            )
        hfov = float(values['hfov_deg'])
        if not (math.isfinite(hfov) and 1.0 < hfov < 179.0):
            raise ConfigError(f'must be in (1, 179) deg, got {values["hfov_deg"]}', 'hfov_deg')
        encoding = str(values['encoding'])
        if encoding not in OUTPUT_ENCODINGS:
            raise ConfigError(
                f'must be one of {", ".join(OUTPUT_ENCODINGS)}, got {encoding!r}', 'encoding'
            )
        stamp = str(values['stamp'])
        if stamp not in STAMP_MODES:
            raise ConfigError(f'must be one of {", ".join(STAMP_MODES)}, got {stamp!r}', 'stamp')
        rate = float(values['max_rate_hz'])
        if not (math.isfinite(rate) and rate >= 0.0):
            raise ConfigError(
                f'must be >= 0 (0: no limit), got {values["max_rate_hz"]}', 'max_rate_hz'
            )
        return cls(topic, hfov, encoding, stamp, rate)

    @classmethod
    def from_node(cls, node: Node) -> BridgeParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})


def camera_info(width: int, height: int, hfov_deg: float, header: Header) -> CameraInfo:
    """Build the CameraInfo sim_camera publishes for this size and field of view.

    :param width: image width (px).
    :param height: image height (px).
    :param hfov_deg: horizontal field of view (deg), square pixels, no distortion.
    :param header: the frame's header.
    """
    model = CameraModel.from_fov(width, height, hfov_deg)
    return conversions.camera_info(model, header)


class GzCameraBridgeNode(Node):
    """Publish the frames of one gz camera as sim_camera's topics."""

    def __init__(self, subscribe: Subscribe, bindings: str = 'injected', **kwargs: Any) -> None:
        """Declare parameters, create the publishers and subscribe to the gz topic.

        :param subscribe: the gz subscription (see Subscribe).
        :param bindings: which gz bindings `subscribe` uses, for the log and the status.
        :param kwargs: forwarded to rclpy's Node (context, namespace, parameter_overrides...).
        :raises ConfigError: a bad parameter, or the subscription failed.
        """
        # Set before Node.__init__: rclpy's context shutdown destroys a node whose constructor
        # failed (bad parameter), and destroy_node reads these.
        # Held while a frame is handled, so destroy_node never races a publish.
        self._publish_lock = threading.Lock()
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = None
        super().__init__(NODE_NAME, **kwargs)
        declare_read_only(self, PARAMETERS)
        self._params = BridgeParams.from_node(self)
        self._bindings = bindings
        self._frame_id = names.frame_id(self.get_namespace(), names.OPTICAL_FRAME)
        self._period_s = 1.0 / self._params.max_rate_hz if self._params.max_rate_hz else 0.0

        # Counters: written on gz-transport's thread, read by the status timer.
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.frames_dropped_rate = 0
        self.refused: dict[str, int] = {}
        self.last_refusal = ''
        self._last_ok = True
        self._last_frame_s = math.nan
        self._last_format = ''
        self._last_size = ''
        self._next_due_s = -math.inf
        self._info_cache: dict[tuple[int, int], CameraInfo] = {}

        self._image_pub = conversions.publisher(self, Image, names.CAMERA_IMAGE)
        self._info_pub = conversions.publisher(self, CameraInfo, names.CAMERA_INFO)
        self._status_pub = StatusPublisher(self, names.CAMERA_STATUS)
        self.create_timer(STATUS_PERIOD_S, self._publish_status)
        p = self._params
        try:
            self._unsubscribe = subscribe(p.gz_topic, self._on_gz_image)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001  (the bindings raise anything; say it once)
            raise ConfigError(f'cannot subscribe with {bindings}: {exc}', 'gz_topic') from None
        self.get_logger().info(
            f'ready: gz topic {p.gz_topic} via {bindings} -> '
            f'{self.resolve_topic_name(names.CAMERA_IMAGE.name)} ({p.encoding}, hfov '
            f'{p.hfov_deg:g} deg, stamp {p.stamp}, '
            f'{f"max {p.max_rate_hz:g} Hz" if p.max_rate_hz else "every frame"})'
        )

    def destroy_node(self) -> None:
        """Unsubscribe from gz (waiting for a frame in flight), then destroy the node."""
        with self._publish_lock:
            self._closing = True
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            try:
                unsubscribe()
            except Exception as exc:  # noqa: BLE001
                self.get_logger().warning(f'gz unsubscribe failed: {exc}')
        super().destroy_node()

    def _on_gz_image(self, msg: Any) -> None:
        """Handle one gz image on gz-transport's thread; never raises."""
        try:
            with self._publish_lock:
                if not self._closing:
                    self._handle(msg)
        except Exception as exc:  # noqa: BLE001  (an exception here only prints in gz's thread)
            self._refuse('internal', f'{type(exc).__name__}: {exc}')

    def _handle(self, msg: Any) -> None:
        received = self.get_clock().now()
        now_s = time.monotonic()
        with self._lock:
            self.frames_in += 1
            self._last_frame_s = now_s
            if self._period_s and now_s < self._next_due_s:
                self.frames_dropped_rate += 1
                return
        p = self._params
        try:
            image = convert(msg)
            rgb = to_rgb(image, p.encoding)
        except GzImageError as exc:
            self._refuse(exc.kind, exc.reason)
            return
        if p.stamp == 'gz':
            stamp = TimeMsg(sec=image.stamp_sec, nanosec=image.stamp_nanosec)
        else:
            stamp = received.to_msg()
        header = Header(stamp=stamp, frame_id=self._frame_id)
        size = (image.width, image.height)
        info = self._info_cache.get(size)
        if info is None:
            info = self._info_cache[size] = camera_info(*size, p.hfov_deg, header)
        info.header = header
        self._image_pub.publish(conversions.image_msg(rgb, p.encoding, header))
        self._info_pub.publish(info)
        with self._lock:
            if self._period_s:
                # Keep the mean rate at max_rate_hz when frames come faster; restart after a gap.
                late = now_s - self._next_due_s
                self._next_due_s = (
                    self._next_due_s + self._period_s
                    if late < self._period_s
                    else now_s + self._period_s
                )
            self.frames_out += 1
            self._last_ok = True
            self._last_format = f'{image.pixel_format.name} -> {p.encoding}'
            self._last_size = f'{image.width}x{image.height}'
            first = self.frames_out == 1
        if first:
            self.get_logger().info(
                f'first frame: {image.width}x{image.height} {image.pixel_format.name} '
                f'(gz frame {image.frame_id or "-"}, stamp {image.stamp_sec}.'
                f'{image.stamp_nanosec:09d}) published as {p.encoding}'
            )

    def _refuse(self, kind: str, reason: str) -> None:
        with self._lock:
            self.refused[kind] = self.refused.get(kind, 0) + 1
            self.last_refusal = reason
            self._last_ok = False
        self.get_logger().warning(
            f'frame refused ({kind}): {reason}', throttle_duration_sec=WARN_THROTTLE_S
        )

    def status_values(self) -> dict[str, str]:
        """Return the status key/values: counters, last refusal, last frame."""
        with self._lock:
            age = time.monotonic() - self._last_frame_s
            return {
                'frames_in': str(self.frames_in),
                'frames_out': str(self.frames_out),
                'frames_refused': str(sum(self.refused.values())),
                **{f'refused_{k}': str(v) for k, v in sorted(self.refused.items())},
                'frames_dropped_rate': str(self.frames_dropped_rate),
                'last_refusal': self.last_refusal,
                'last_frame_age_s': f'{age:.1f}' if math.isfinite(age) else '',
                'last_format': self._last_format,
                'last_size': self._last_size,
                'gz_topic': self._params.gz_topic,
                'bindings': self._bindings,
                'stamp': self._params.stamp,
                'max_rate_hz': f'{self._params.max_rate_hz:g}',
            }

    def _status(self, values: dict[str, str]) -> tuple[str, str]:
        """Return the status level and message for `values`."""
        if values['frames_in'] == '0':
            return 'WARN', f'no frame from gz topic {self._params.gz_topic} yet'
        if float(values['last_frame_age_s']) > STALE_AFTER_S:
            return 'WARN', f'no frame for {values["last_frame_age_s"]} s'
        with self._lock:
            last_ok = self._last_ok
        if not last_ok:
            return 'WARN', f'frame refused: {values["last_refusal"]}'
        return 'OK', 'bridging frames'

    def _publish_status(self) -> None:
        try:
            values = self.status_values()
            level, message = self._status(values)
            self._status_pub.publish(
                diagnostic_array(
                    self.get_fully_qualified_name(),
                    self._frame_id,
                    level,
                    message,
                    values,
                    self.get_clock().now().to_msg(),
                )
            )
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f'status failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S)


class GzBindingsMissing(Exception):  # noqa: N818  (a condition, not a programming error)
    """No gz-transport/gz-msgs Python bindings could be imported."""


@dataclass
class GzTransport:
    """gz-transport bindings that import, and a Subscribe built on them.

    :param transport: the gz-transport module (gz.transport13, ...).
    :param image_type: its gz-msgs Image message class.
    :param name: 'gz.transport13 + gz.msgs10 (Harmonic)', for the log and the status.
    """

    transport: Any
    image_type: Any
    name: str
    _node: Any = None

    def subscribe(self, topic: str, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Subscribe `callback` to gz Image messages on `topic`; return the unsubscribe.

        :raises ConfigError: gz-transport refused the subscription (e.g. an invalid topic name).
        """
        if self._node is None:
            self._node = self.transport.Node()
        if not self._node.subscribe(self.image_type, topic, callback):
            raise ConfigError(f'gz-transport refused to subscribe to {topic!r}', 'gz_topic')
        node = self._node
        return lambda: node.unsubscribe(topic)


def load_gz_bindings(
    candidates: tuple[tuple[str, str, str, str], ...] = GZ_BINDINGS,
) -> GzTransport:
    """Import the first gz-transport + gz-msgs pair of `candidates` that imports.

    :param candidates: (transport module, msgs module, release, Debian packages) tuples.
    :raises GzBindingsMissing: none imports; the message says what was tried and what to install.
    """
    errors = []
    for transport_name, msgs_name, release, _packages in candidates:
        try:
            transport = importlib.import_module(transport_name)
            image_pb2 = importlib.import_module(f'{msgs_name}.image_pb2')
            return GzTransport(
                transport, image_pb2.Image, f'{transport_name} + {msgs_name} ({release})'
            )
        except Exception as exc:  # noqa: BLE001  (protobuf version clashes raise TypeError etc.)
            errors.append(str(exc))
    tried = ', '.join(f'{t} + {m} ({r})' for t, m, r, _ in candidates)
    first = candidates[0] if candidates else ('', '', '', '')
    reasons = '; '.join(dict.fromkeys(errors))
    raise GzBindingsMissing(
        f'gz-transport Python bindings not found (tried {tried}: {reasons}). Install them from '
        f'packages.osrfoundation.org, e.g. `sudo apt install {first[3]}` for Gazebo {first[2]}, '
        'and run with a Python that sees /usr/lib/python3/dist-packages (the system python3, '
        'or a venv made with --system-site-packages)'
    )


def main(args: list[str] | None = None) -> None:
    """Run gz_camera_bridge until shut down; exit 2 with one line when gz bindings are missing."""
    try:
        gz = load_gz_bindings()
    except GzBindingsMissing as exc:
        get_logger(NODE_NAME).fatal(str(exc))
        raise SystemExit(2) from None
    get_logger(NODE_NAME).info(f'using {gz.name}')
    # Single-threaded: the frames are converted and published on gz-transport's thread; the
    # executor only runs the status timer.
    spin_node(NODE_NAME, lambda: GzCameraBridgeNode(gz.subscribe, gz.name), args)


if __name__ == '__main__':
    main()
