"""edge_server: the ground edge server, one for many drones; segments frames they offload.

Subscribes to /<vehicle>/edge/request (sensor_msgs/CompressedImage, JPEG) for every vehicle in
`vehicles` and answers each request on /<vehicle>/edge/result with the request's header (its
stamp is the correlation id): a PNG mono8 water probability in 16 levels (0, 17 .. 255; above
127 is P >= 0.5, the drone applies its own threshold), format
``mono8; png compressed; queue_ms=Q; service_ms=S``; with `send_classes`, the PNG is followed by
a second one with FloodNet's most probable class and its confidence at the model's class output
resolution (core.offload.pack_classes), format ``mono8; png compressed; mask_bytes=N;
classes=RxC; queue_ms=Q; service_ms=S``; or a refusal with no data, format
``refused: <reason>``. It never answers too late: a bounded queue with admission control
refuses a request at once rather than let it miss its deadline:

- ``too large``: more than `max_request_kb` of data; ``bad jpeg``: no JPEG header or
  undecodable; ``bad size``: 0 x 0 or more than `max_pixels` (read from the JPEG header before
  decoding); ``unknown drone``: a request on /<ns>/edge/request for a namespace not in
  `vehicles` (found by a topic scan every `discover_period_s`);
- ``queue full``: `queue_limit` requests already wait; ``deadline``: the frame (by its stamp, on
  this node's clock) would be older than `deadline_ms` when done, judged on arrival with the
  current queue and service time, and again when it leaves the queue.

Inference runs on a worker thread, never in a callback. The worker takes up to `batch_max`
waiting requests, decodes them (cv2.imdecode) and runs the frames that share a size in one
onnxruntime call. On our 2-core CPU batching gave no gain, so `batch_max` defaults to 1
(measurements in docs/offloading.md); raise it for a GPU provider.
/edge/status (DiagnosticArray, every `status_period_s`) reports queue_length, service_ms_mean
(per frame), frames_per_s, batch_size_mean and refusals by reason, which the drones' offload
policies read.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
import math
import re
import threading
import time
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CompressedImage

from uav_flood.core.class_map import top_classes
from uav_flood.core.errors import ConfigError
from uav_flood.core.offload import pack_classes, refusal_format, REFUSAL_REASONS, result_format
from uav_flood.core.segmentation import (
    FloodSegmenter,
    PROVIDERS,
    resolve_model,
    SegmentationError,
    SegmenterConfig,
    SHIPPED_MODELS,
)
from uav_flood.core.status_schema import EdgeLoad
from uav_flood.nodes import names
from uav_flood.nodes.conversions import diagnostic_array, StatusPublisher
from uav_flood.nodes.params import declare_read_only, parse_vehicles, VEHICLE_NAME
from uav_flood.nodes.spin import spin_node, stop_worker

# name: (default, description). Defaults equal config/edge_server.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'vehicles': (['uav0', 'uav1', 'uav2'], 'Namespaces of the drones this server answers.'),
    'model_path': (
        '',
        'ONNX flood model: a file, or a shipped model; empty: accurate (the float model, '
        'while the drones run the INT8 one).',
    ),
    'providers': (['cpu'], 'onnxruntime execution providers by preference: tensorrt, cuda, cpu.'),
    'threads': (0, 'onnxruntime intra-op threads; 0 uses every core.'),
    'max_side': (512, 'Longer side (px) a frame is scaled to for the model.'),
    'send_classes': (
        True,
        "Also return each frame's FloodNet land-cover classes after its water mask (needs a "
        'model with the 10-class output; both shipped models have it).',
    ),
    'queue_limit': (8, 'Requests that may wait; more are refused (queue full).'),
    'batch_max': (1, 'Most requests run in one onnxruntime call; 1 disables batching.'),
    'deadline_ms': (
        500.0,
        'Refuse a request whose frame would be older than this when done (ms, by its stamp on '
        'this node clock); 0 disables.',
    ),
    'max_request_kb': (4096, 'Largest request accepted (kB of JPEG).'),
    'max_pixels': (4096 * 4096, 'Largest frame accepted (width x height, px).'),
    'discover_period_s': (1.0, 'Period (s) of the scan for requests from unknown drones.'),
    'status_period_s': (0.5, 'Period (s) of /edge/status.'),
}
#: A drone's request topic, /<vehicle>/edge/request, with a vehicle name as parse_vehicles takes.
REQUEST_TOPIC = re.compile(
    rf'^/({VEHICLE_NAME.pattern.strip("^$")})/{re.escape(names.EDGE_REQUEST.name)}$'
)
#: At most this many unknown namespaces get a refusing subscription (bounds a topic flood).
MAX_UNKNOWN = 16
WARN_THROTTLE_S = 5.0
FPS_WINDOW_S = 5.0
MEAN_FRAMES = 50
#: JPEG start-of-frame markers (baseline, progressive, ...); they carry the image size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) from a JPEG's start-of-frame header, or None if there is none.

    Reads only the marker segments, so a huge frame is refused before it is decoded.
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], 'big')
        if length < 2:
            return None
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5 : i + 7], 'big')
            width = int.from_bytes(data[i + 7 : i + 9], 'big')
            return width, height
        i += 2 + length
    return None


def segment_batch(
    segmenter: FloodSegmenter, frames: list[NDArray[np.uint8]]
) -> list[tuple[NDArray[np.uint8], bytes, tuple[int, int] | None]]:
    """Segment same-size BGR frames in one onnxruntime run.

    Return per frame its mono8 water probability, its packed classes (core.offload.pack_classes;
    b'' without classes) and their (rows, cols) (None without).
    """
    out: list[tuple[NDArray[np.uint8], bytes, tuple[int, int] | None]] = []
    for result in segmenter.segment_batch(frames, 'bgr8'):
        if result.classes is None:
            out.append((result.probability_mono8(), b'', None))
            continue
        labels, confidence = top_classes(result.classes)
        shape = (int(labels.shape[0]), int(labels.shape[1]))
        out.append((result.probability_mono8(), pack_classes(labels, confidence), shape))
    return out


@dataclass(frozen=True)
class EdgeServerParams:
    """edge_server's parameters, read once (see PARAMETERS for their meaning)."""

    vehicles: tuple[str, ...]
    segmenter: SegmenterConfig
    queue_limit: int
    batch_max: int
    deadline_s: float
    max_request_bytes: int
    max_pixels: int
    discover_period_s: float
    status_period_s: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> EdgeServerParams:
        """Build and check the parameters.

        :raises ConfigError: a value is out of range or the model file does not exist.
        """
        vehicles = parse_vehicles(values['vehicles'])
        model_path = str(values['model_path']).strip()
        if model_path and not resolve_model(model_path).is_file():
            raise ConfigError(
                f'model {model_path!r} not found (a file, or a shipped model: '
                f'{", ".join(SHIPPED_MODELS)})',
                'model_path',
            )
        providers = tuple(str(p).strip().lower() for p in values['providers'])
        if not providers or any(p not in PROVIDERS for p in providers):
            raise ConfigError(
                f'must list providers from {", ".join(PROVIDERS)}, got {list(providers)}',
                'providers',
            )
        for name in ('queue_limit', 'batch_max', 'max_request_kb', 'max_pixels'):
            if int(values[name]) < 1:
                raise ConfigError(f'must be >= 1, got {values[name]}', name)
        for name in ('discover_period_s', 'status_period_s'):
            if not float(values[name]) > 0:
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        deadline_ms = float(values['deadline_ms'])
        if not (math.isfinite(deadline_ms) and deadline_ms >= 0):
            raise ConfigError(f'must be >= 0 (0 disables), got {deadline_ms}', 'deadline_ms')
        segmenter = SegmenterConfig(
            model_path=model_path,
            providers=providers,
            threads=int(values['threads']),
            max_side=int(values['max_side']),
            classes=bool(values['send_classes']),
        )
        try:
            segmenter.validate()
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'threads/max_side') from None
        return cls(
            vehicles=vehicles,
            segmenter=segmenter,
            queue_limit=int(values['queue_limit']),
            batch_max=int(values['batch_max']),
            deadline_s=deadline_ms / 1e3,
            max_request_bytes=int(values['max_request_kb']) * 1000,
            max_pixels=int(values['max_pixels']),
            discover_period_s=float(values['discover_period_s']),
            status_period_s=float(values['status_period_s']),
        )


@dataclass
class _Request:
    vehicle: str
    msg: CompressedImage
    received: float  # time.monotonic()
    stamp_s: float  # the frame's stamp, s on this node's clock


class EdgeServerNode(Node):
    """Segment the frames drones offload and answer each with a mask or a refusal."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('edge_server', **kwargs)
        declare_read_only(self, PARAMETERS)
        self.params = EdgeServerParams.from_values(
            {name: self.get_parameter(name).value for name in PARAMETERS}
        )
        p = self.params
        try:
            self._segmenter = FloodSegmenter(p.segmenter)
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'model_path/providers') from None

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: collections.deque[_Request] = collections.deque()
        self._stopping = False
        self._busy = False  # the worker is serving a batch (guarded by _wake)
        self.requests = 0
        self.answered = 0
        self.errors = 0
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self._service_s: collections.deque[float] = collections.deque(maxlen=MEAN_FRAMES)
        self._batch_sizes: collections.deque[int] = collections.deque(maxlen=MEAN_FRAMES)
        self._done: collections.deque[float] = collections.deque()
        self._last_problem = ''

        self._results: dict[str, Publisher] = {}
        for vehicle in p.vehicles:
            self._add_vehicle(vehicle, known=True)
        self.unknown_vehicles: list[str] = []
        self._status_pub = StatusPublisher(self, names.EDGE_STATUS)
        self.create_timer(p.status_period_s, self._publish_status)
        self.create_timer(p.discover_period_s, self._discover)
        self._worker = threading.Thread(target=self._work, name='edge_server', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'ready for {", ".join(p.vehicles)}: model {self._segmenter.model_path}, providers '
            f'{", ".join(self._segmenter.providers)}, queue {p.queue_limit}, batch up to '
            f'{p.batch_max}, deadline '
            f'{f"{p.deadline_s * 1e3:g} ms" if p.deadline_s else "off"}'
        )

    def _add_vehicle(self, vehicle: str, known: bool) -> None:
        self._results[vehicle] = self.create_publisher(
            CompressedImage, f'/{vehicle}/{names.EDGE_RESULT.name}', names.EDGE_RESULT.qos
        )
        self.create_subscription(
            CompressedImage,
            f'/{vehicle}/{names.EDGE_REQUEST.name}',
            (lambda msg: self._on_request(vehicle, msg))
            if known
            else (lambda msg: self._refuse_now(vehicle, msg, 'unknown drone')),
            names.EDGE_REQUEST.qos,
        )

    # -- executor side: admission only ---------------------------------------------------------

    def _on_request(self, vehicle: str, msg: CompressedImage) -> None:
        try:
            reason = self._admit(vehicle, msg)
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self.errors += 1
            self._problem(f'request from {vehicle} failed: {exc}')
            reason = 'error'
        if reason:
            self._refuse_now(vehicle, msg, reason)

    def _admit(self, vehicle: str, msg: CompressedImage) -> str:
        """Queue a request; return '' or the reason it is refused."""
        p = self.params
        with self._lock:
            self.requests += 1
        if len(msg.data) > p.max_request_bytes:
            return 'too large'
        size = jpeg_size(bytes(msg.data))
        if size is None:
            return 'bad jpeg'
        if size[0] * size[1] == 0 or size[0] * size[1] > p.max_pixels:
            return 'bad size'
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        request = _Request(vehicle, msg, time.monotonic(), stamp)
        with self._wake:
            if len(self._queue) >= p.queue_limit:
                return 'queue full'
            if p.deadline_s and (self._queue or self._busy):
                # Done after everything queued ahead of it and its own run. An idle server
                # takes the request whatever its mean says (the check when it leaves the queue
                # still holds): a mean above the deadline, e.g. from a cold first batch, would
                # otherwise refuse every request and never be measured again.
                ahead = (len(self._queue) + 1) * self._service_mean()
                if self._age_s(stamp) + ahead > p.deadline_s:
                    return 'deadline'
            self._queue.append(request)
            self._wake.notify()
        return ''

    def _age_s(self, stamp_s: float) -> float:
        return self.get_clock().now().nanoseconds * 1e-9 - stamp_s

    def _service_mean(self) -> float:
        """Return the mean service time per frame (s); caller holds the lock."""
        return sum(self._service_s) / len(self._service_s) if self._service_s else 0.0

    def _refuse_now(self, vehicle: str, msg: CompressedImage, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1
            if reason == 'unknown drone':
                self.requests += 1
        answer = CompressedImage(header=msg.header, format=refusal_format(reason))
        self._results[vehicle].publish(answer)
        self._problem(f'refused a request from {vehicle}: {reason}')

    def _problem(self, text: str) -> None:
        self._last_problem = text
        self.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)

    def _discover(self) -> None:
        """Subscribe to requests from namespaces not in `vehicles`, to refuse them."""
        if len(self.unknown_vehicles) >= MAX_UNKNOWN:
            return
        for topic, _types in self.get_topic_names_and_types():
            match = REQUEST_TOPIC.match(topic)
            if match and match.group(1) not in self._results:
                vehicle = match.group(1)
                self.unknown_vehicles.append(vehicle)
                self._add_vehicle(vehicle, known=False)
                self.get_logger().warning(
                    f'requests on {topic} from {vehicle}, not in vehicles: they will be refused'
                )
                if len(self.unknown_vehicles) >= MAX_UNKNOWN:
                    return

    # -- worker thread ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                batch = [
                    self._queue.popleft()
                    for _ in range(min(self.params.batch_max, len(self._queue)))
                ]
                self._busy = True
            try:
                self._serve(batch)
            except Exception as exc:  # noqa: BLE001  (one bad batch must not end the worker)
                if not self.context.ok():
                    return  # shutting down (Ctrl-C): publishers are gone, nothing is wrong
                with self._lock:
                    self.errors += 1
                self._problem(f'batch failed: {exc}')
                for request in batch:
                    self._refuse_now(request.vehicle, request.msg, 'error')
            finally:
                with self._lock:
                    self._busy = False

    def _serve(self, batch: list[_Request]) -> None:
        start = time.monotonic()
        groups: dict[tuple[int, ...], list[tuple[_Request, NDArray[np.uint8]]]] = {}
        for request in batch:
            if self.params.deadline_s and self._age_s(request.stamp_s) > self.params.deadline_s:
                self._refuse_now(request.vehicle, request.msg, 'deadline')
                continue
            data = np.frombuffer(request.msg.data, dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if image is None or image.ndim != 3 or min(image.shape[:2]) < 2:
                self._refuse_now(request.vehicle, request.msg, 'bad jpeg')
                continue
            groups.setdefault(image.shape, []).append((request, np.asarray(image, np.uint8)))
        for group in groups.values():
            run_start = time.monotonic()
            results = segment_batch(self._segmenter, [image for _, image in group])
            for (request, _), (mask, classes, shape) in zip(group, results, strict=True):
                ok, png = cv2.imencode('.png', mask)
                if not ok:
                    raise SegmentationError('PNG encoding failed')
                done = time.monotonic()
                service = done - run_start
                answer = CompressedImage(
                    header=request.msg.header,
                    format=result_format(
                        max(0.0, run_start - request.received), service, len(png), shape
                    ),
                    data=png.tobytes() + classes,
                )
                self._results[request.vehicle].publish(answer)
            with self._lock:
                self.answered += len(group)
                self._service_s.append((time.monotonic() - run_start) / len(group))
                self._batch_sizes.append(len(group))
                now = time.monotonic()
                self._done.extend([now] * len(group))
                while self._done and self._done[0] < now - FPS_WINDOW_S:
                    self._done.popleft()
        if groups:
            self.get_logger().info(
                f'first batch answered in {(time.monotonic() - start) * 1e3:.0f} ms', once=True
            )

    # -- status ----------------------------------------------------------------------------------

    def status_values(self) -> dict[str, str]:
        """Return the load and counters published on /edge/status (all strings)."""
        now = time.monotonic()
        with self._lock:
            done = [t for t in self._done if t >= now - FPS_WINDOW_S]
            span = min(FPS_WINDOW_S, now - done[0]) if done else 0.0
            values = {
                **EdgeLoad(len(self._queue), self._service_mean()).values(),
                'queue_limit': str(self.params.queue_limit),
                'batch_size_mean': (
                    f'{sum(self._batch_sizes) / len(self._batch_sizes):.2f}'
                    if self._batch_sizes
                    else '0'
                ),
                'frames_per_s': f'{len(done) / span:.2f}' if span > 0 else '0.00',
                'requests': str(self.requests),
                'answered': str(self.answered),
                'refused': str(sum(self.refused.values())),
                'errors': str(self.errors),
                **{f'refused_{r.replace(" ", "_")}': str(n) for r, n in self.refused.items()},
                'vehicles': ','.join(self.params.vehicles),
                'unknown_vehicles': ','.join(self.unknown_vehicles),
                'providers': ','.join(self._segmenter.providers),
            }
        return values

    def _publish_status(self) -> None:
        values = self.status_values()
        if self._last_problem:
            level, message = 'WARN', self._last_problem
            self._last_problem = ''
        else:
            level = 'OK'
            message = f'queue {values["queue_length"]}, {values["frames_per_s"]} frames/s'
        self._status_pub.publish(
            diagnostic_array(
                self.get_fully_qualified_name(),
                'edge',
                level,
                message,
                values,
                self.get_clock().now().to_msg(),
            )
        )

    def destroy_node(self) -> None:
        """Stop and join the worker thread, then destroy the node."""
        stop_worker(self, '_worker')
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run edge_server until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded executor: inference runs on the node's worker thread; callbacks only
    # check and queue requests, so admission answers at once even while the model runs.
    spin_node('edge_server', EdgeServerNode, args)


if __name__ == '__main__':
    main()
