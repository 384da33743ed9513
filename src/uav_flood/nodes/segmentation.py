"""segmentation: one per vehicle (namespace /uavN), turns camera frames into georeferenced water.

Each frame (camera/image_raw + camera_info) is paired with the vehicle's pose at its stamp
(core.pose_history), segmented (core.segmentation) on board or at the ground edge server
(core.offload: the scheduler and its policy decide per frame; a refusal or a timeout falls back
on board, so no result is lost), and projected onto the map grid (core.georef). Out go
segmentation/mask, flood_observation (+ /classes, re-sent from the outbox, core.delivery, until
the mapper acknowledges them), camera/footprint, camera/mount (the mount is defined here, by the
mount_* parameters) and segmentation/status (core.frame_stats).

Threads: the image callback only checks a frame and leaves it in a one-slot mailbox (a newer
frame overwrites it: dropped); one worker thread segments and publishes; edge results are
handled in their callback, never behind an on-board inference. Bad input is logged (throttled),
counted and skipped. Details: docs/segmentation_node.md, docs/offloading.md.
"""

from __future__ import annotations

from dataclasses import dataclass
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PolygonStamped, PoseStamped, TransformStamped
from nav_msgs.msg import OccupancyGrid
import numpy as np
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header, Int64MultiArray

from uav_flood.core.class_map import top_classes
from uav_flood.core.delivery import message_bytes, Outbox, stamp_ns
from uav_flood.core.errors import ConfigError
from uav_flood.core.frame_stats import FrameStats
from uav_flood.core.georef import (
    CameraModel,
    GeoreferenceError,
    VehiclePose,
)
from uav_flood.core.observation import observe_frame
from uav_flood.core.offload import (
    Decision,
    OffloadPolicy,
    OffloadScheduler,
    parse_result_format,
    unpack_classes,
)
from uav_flood.core.offload.codec import CodecError, decode_mask, encode_jpeg
from uav_flood.core.pose_history import PoseHistory, PoseHistoryError
from uav_flood.core.segmentation import (
    ENCODINGS,
    FloodSegmenter,
    SegmentationError,
)
from uav_flood.core.status_schema import EdgeLoad
from uav_flood.nodes import conversions, names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.params.segmentation import PARAMETERS, SegmentationParams
from uav_flood.nodes.spin import spin_node, stop_worker

#: The outbox is checked for re-sends this often (s).
RESEND_PERIOD_S = 0.1
#: Skip warnings are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0
STATUS_PERIOD_S = 1.0
#: A frame may arrive up to this long after the newest pose and still get that pose (s).
POSE_TOLERANCE_S = 0.05


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
        declare_read_only(self, PARAMETERS)
        self._params = SegmentationParams.from_node(self)
        params = self._params
        try:
            self._segmenter = FloodSegmenter(params.segmenter)
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'model_path/providers') from None
        # One warm-up run at the usual network size, so the first frame's inference time (and
        # the offload policy's first local estimate) is not onnxruntime's one-off set-up.
        self._segmenter.segment(np.zeros((384, 512, 3), np.uint8))
        self._history = PoseHistory(params.pose_history_s, params.max_pose_gap_s, POSE_TOLERANCE_S)
        self._frame_id = names.frame_id(self.get_namespace(), names.OPTICAL_FRAME)

        # Counters and timings: written by the executor thread and the worker, under _lock.
        self._lock = threading.Lock()
        self.stats = FrameStats()
        self._last_problem = ''

        self._camera: CameraModel | None = None
        self._camera_key: tuple[Any, ...] | None = None
        self._camera_problem = ''

        # The one-slot mailbox between the image callback and the worker (with offload on: the
        # frames the policy keeps on board); _busy_since: when the worker started segmenting
        # the frame it is on (monotonic s), None when idle.
        self._mailbox: _Frame | None = None
        self._busy_since: float | None = None
        self._wake = threading.Condition(self._lock)
        self._stopping = False

        # Edge offloading (core.offload.OffloadScheduler): the policy, the frames at the edge
        # without a published result yet and those waiting on board after an edge miss. Every
        # call under _lock.
        offload = params.offload
        self._offload: OffloadScheduler[_Frame] | None = (
            OffloadScheduler(OffloadPolicy(offload.policy)) if offload.policy is not None else None
        )
        if self._offload is not None:
            up, down = (
                (names.EDGE_REQUEST, names.EDGE_RESULT)
                if offload.direct
                else (names.EDGE_UPLINK, names.EDGE_DOWNLINK)
            )
            self._uplink_pub = self.create_publisher(CompressedImage, up.name, up.qos)
            self.create_subscription(CompressedImage, down.name, self._on_edge_result, down.qos)
            conversions.subscribe(self, DiagnosticArray, names.EDGE_STATUS, self._on_edge_status)

        self._mask_pub = conversions.publisher(self, Image, names.MASK)
        self._observation_pub = conversions.publisher(self, OccupancyGrid, names.FLOOD_OBSERVATION)
        self._classes_pub = conversions.publisher(self, Image, names.FLOOD_OBSERVATION_CLASSES)
        # Store and forward: observations published and not yet acknowledged (under _lock),
        # each with its class observation (None for frames segmented at the edge).
        self._outbox: Outbox[tuple[OccupancyGrid, Image | None]] = Outbox(params.outbox)
        if params.outbox.enabled:
            conversions.subscribe(self, Int64MultiArray, names.FLOOD_OBSERVATION_ACK, self._on_ack)
            self.create_timer(RESEND_PERIOD_S, self._resend)
        self._status_pub = conversions.StatusPublisher(self, names.SEGMENTATION_STATUS)
        # The camera mount, defined here once: latched for sim_camera, the recorder and the
        # Foxglove bridge, and on /tf_static where tf2_msgs is installed.
        mount = conversions.mount_transform(
            params.mount, self.get_namespace(), self.get_clock().now().to_msg()
        )
        conversions.publisher(self, TransformStamped, names.CAMERA_MOUNT).publish(mount)
        self._tf_static = conversions.TransformBroadcaster(self, static=True)
        self._tf_static.send([mount])
        self._footprint_pub = conversions.publisher(self, PolygonStamped, names.CAMERA_FOOTPRINT)
        conversions.subscribe(self, PoseStamped, names.POSE, self._on_pose)
        # Best effort: matches a camera driver's camera_info whichever reliability it offers.
        self.create_subscription(
            CameraInfo, names.CAMERA_INFO.name, self._on_camera_info, names.SENSOR_QOS
        )
        conversions.subscribe(self, Image, names.CAMERA_IMAGE, self._on_image)
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
        if self._offload is not None:
            c = self._offload.policy.config
            self.get_logger().info(
                f'offload {c.mode}: frames to {self.resolve_topic_name(up.name)}, results from '
                f'{self.resolve_topic_name(down.name)}, deadline {c.deadline_s * 1e3:g} ms, JPEG '
                f'quality {offload.jpeg_quality}'
            )
        if offload.local_compute_scale > 1.0:
            self.get_logger().warning(
                f'local_compute_scale {offload.local_compute_scale:g}: EMULATING an on-board '
                'computer that many times slower (simulation and benchmarks only)'
            )

    # -- executor side: callbacks only store, check and convert ------------------------------

    @property
    def edge(self) -> dict[str, int]:
        """Return the edge offloading counters (core.offload.EDGE_COUNTERS; empty when off)."""
        return self._offload.counters if self._offload is not None else {}

    def _on_pose(self, msg: PoseStamped) -> None:
        try:
            pose = conversions.vehicle_pose(msg)
            self._history.add(conversions.stamp_s(msg.header.stamp), pose)
        except (GeoreferenceError, PoseHistoryError) as exc:
            self._skip('bad_pose', f'pose ignored: {exc}', 'pose')
            return
        self.stats.poses_received += 1

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.stats.camera_infos_received += 1
        key = (msg.width, msg.height, tuple(msg.k), tuple(msg.d), msg.distortion_model)
        if key == self._camera_key:
            return
        self._camera_key = key
        try:
            self._camera = conversions.camera_model(msg)
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
            self.stats.frames_in += 1
        try:
            frame = self._check(msg, received)
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            with self._lock:
                self.stats.errors += 1
            self._problem(f'frame failed: {exc}')
            return
        if frame is None:
            return
        if self._offload is not None and not self._dispatch(frame):
            return  # at the edge
        with self._wake:
            if self._mailbox is not None:
                self.stats.frames_dropped += 1
            self._mailbox = frame
            self._wake.notify()

    def _check(self, msg: Image, received: float) -> _Frame | None:
        """Return the frame ready for the worker, or None after counting why it is skipped."""
        problem = conversions.image_problem(msg, ENCODINGS)
        if problem is not None:
            self._skip(*problem)
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
        lookup = self._history.lookup(conversions.stamp_s(msg.header.stamp))
        if lookup.pose is None:
            self._skip('no_pose', f'no pose at the frame stamp: {lookup.reason}')
            return None
        # The message stays alive with the frame, so the pixels need no copy.
        return _Frame(
            msg.header, conversions.image_array(msg), msg.encoding, lookup.pose, camera, received
        )

    def _skip(self, reason: str, text: str, what: str = 'frame') -> None:
        with self._lock:
            self.stats.skipped[reason] += 1
        self._problem(f'{what} skipped: {text}')

    def _problem(self, text: str) -> None:
        self._last_problem = text
        self.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)

    def _on_edge_result(self, msg: CompressedImage) -> None:
        # Handled here, not on the worker, so that an edge result never waits behind an on-board
        # inference: PNG decoding and georeferencing take a few ms.
        try:
            self._on_result(msg, time.monotonic())
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            with self._lock:
                if self._offload is not None:
                    self._offload.malformed()
            self._problem(f'edge result ignored: {exc}')

    def _on_edge_status(self, msg: DiagnosticArray) -> None:
        values = conversions.diagnostic_values(msg)
        load = EdgeLoad.parse(values)
        if load is None:
            self._problem(f'unreadable /edge/status: {values}')
        elif self._offload is not None:
            with self._lock:
                self._offload.policy.observe_edge_status(
                    time.monotonic(), load.queue_length, load.service_s
                )

    def _on_ack(self, msg: Int64MultiArray) -> None:
        with self._lock:
            self._outbox.ack(msg.data, time.monotonic())

    def _resend(self) -> None:
        try:
            with self._lock:
                due = self._outbox.due(time.monotonic())
            for _, (observation, classes) in due:
                self._observation_pub.publish(observation)
                if classes is not None:
                    self._classes_pub.publish(classes)
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self._problem(f're-sending observations failed: {exc}')

    # -- worker thread: decide, segment or offload, georeference, publish ---------------------

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._has_work(time.monotonic()):
                    self._wake.wait(self._wait_s(time.monotonic()))
                if self._stopping:
                    return
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001  (one bad frame must not end the worker)
                with self._lock:
                    self.stats.errors += 1
                self._last_problem = f'frame failed: {exc}'
                self.get_logger().error(self._last_problem, throttle_duration_sec=WARN_THROTTLE_S)

    def _has_work(self, now: float) -> bool:
        """Return True if the worker has something to do; caller holds the lock."""
        if self._mailbox is not None:
            return True
        if self._offload is None:
            return False
        due = self._offload.due_s()
        return bool(self._offload.fallback_waiting or (due is not None and due <= now))

    def _wait_s(self, now: float) -> float | None:
        """Return how long the worker may sleep: until the next edge timeout or hedge."""
        due = self._offload.due_s() if self._offload is not None else None
        return None if due is None else max(0.0, due - now)

    def _step(self) -> None:
        """Handle edge timeouts, then segment one frame: a fallback, a hedge or a new frame."""
        frame: _Frame | None = None
        hedge: int | None = None
        expired = 0
        with self._wake:
            if self._offload is not None:
                expired = self._offload.expire(time.monotonic())
                # A fallback, or a frame overdue at the edge: segment it here too; the edge
                # request stays in flight (the first result wins).
                taken = self._offload.next_on_board(time.monotonic())
                if taken is not None:
                    frame, hedge = taken
            if frame is None:
                frame, self._mailbox = self._mailbox, None
        if expired:
            self._problem(f'edge timeout: {expired} frame(s) segmented on board')
        if frame is None:
            return
        with self._lock:
            self._busy_since = time.monotonic()
        try:
            self._process(frame, hedge)
        finally:
            with self._lock:
                self._busy_since = None

    def _dispatch(self, frame: _Frame) -> bool:
        """Decide where one frame is segmented; send it to the edge if so.

        Runs in the image callback, so that a frame goes to the edge at once even while the
        worker is busy with an on-board inference (a hedge, a fallback).

        :returns: True if the on-board model must segment it (local, a probe, a failed send).
        """
        assert self._offload is not None
        now = time.monotonic()
        with self._lock:
            # Ahead of this frame on board: the rest of the current frame, the fallbacks and
            # the frame in the mailbox (kept on board: it would be dropped for this one).
            wait = 0.0
            if self._busy_since is not None:
                local_s = self._offload.policy.local_s.value
                wait = max(0.0, local_s - (now - self._busy_since))
            decision = self._offload.decide(
                now,
                frame.pixels.shape[0] * frame.pixels.shape[1] // 8,
                local_queue=int(self._mailbox is not None),
                local_wait_s=wait,
            )
        if decision.target == 'local':
            return True
        sent = self._send(frame, decision)
        # A probe only measures the edge; the frame is segmented on board as usual.
        return decision.target == 'probe' or not sent

    def _send(self, frame: _Frame, decision: Decision) -> bool:
        """JPEG-encode a frame and publish it to the edge; return False if that failed."""
        assert self._offload is not None
        try:
            data = encode_jpeg(frame.pixels, frame.encoding, self._params.offload.jpeg_quality)
            msg = CompressedImage(header=frame.header, format='jpeg', data=data)
            with self._lock:
                self._offload.sent(
                    conversions.stamp_key(frame.header.stamp),
                    frame,
                    time.monotonic(),
                    len(data),
                    decision,
                )
                self._wake.notify()  # the worker waits for its hedge time or timeout
            self._uplink_pub.publish(msg)
        except Exception as exc:  # noqa: BLE001  (the frame is then segmented on board)
            with self._lock:
                self._offload.send_failed()
            self._problem(f'could not send a frame to the edge: {exc}')
            return False
        return True

    def _on_result(self, msg: CompressedImage, at: float) -> None:
        """Handle one edge result (a mask or a refusal) on the executor thread.

        The mask is decoded outside the lock, and only when its frame may still be published;
        the scheduler then says whether it is (exactly one result per frame).
        """
        assert self._offload is not None
        key = conversions.stamp_key(msg.header.stamp)
        info = parse_result_format(msg.format)
        with self._lock:
            wanted = self._offload.wants_mask(key, len(msg.data))
            frame = self._offload.frame_of(key) if wanted else None
        mask: NDArray[np.uint8] | None = None
        classes = None
        if frame is not None and not info.refused:
            mask = self._decode_mask(msg, frame, info.mask_bytes)
            if mask is None:
                return  # counted; the frame times out (or its hedge) and is segmented on board
            if info.classes is not None and self._params.send_classes:
                classes = unpack_classes(bytes(msg.data)[info.mask_bytes :], *info.classes)
                if classes is None:
                    with self._lock:
                        self._offload.malformed()
                    self._problem('edge result classes unreadable: the water mask is kept')
        with self._lock:
            outcome = self._offload.result(key, at, len(msg.data), info)
            if outcome.fell_back:
                self._wake.notify()
        if info.refused:
            self._problem(f'edge refused a frame: {info.refused}')
        if outcome.publish is not None and mask is not None:
            self._publish(outcome.publish, mask.astype(np.float32) / 255.0, None, 'edge', classes)

    def _decode_mask(
        self, msg: CompressedImage, frame: _Frame, mask_bytes: int = -1
    ) -> NDArray[np.uint8] | None:
        """Return the mono8 probability of a result, or None after counting why unusable."""
        height, width = frame.pixels.shape[:2]
        try:
            return decode_mask(bytes(msg.data), mask_bytes, height, width)
        except CodecError as exc:
            with self._lock:
                assert self._offload is not None
                self._offload.malformed()
            self._problem(f'edge result ignored: {exc}')
            return None

    def _process(self, frame: _Frame, hedge: int | None = None) -> None:
        """Segment a frame on board and publish its result.

        :param hedge: the frame's key if it is also at the edge: the result is published only
            if the edge's is not out yet.
        """
        result = self._segmenter.segment(frame.pixels, frame.encoding)
        scale = self._params.offload.local_compute_scale
        if scale > 1.0:
            # EMULATION (simulation, benchmarks): a computer `scale` times slower would still
            # be busy for this long. Wait on the condition so that destroy_node is not held up.
            until = time.monotonic() + (scale - 1.0) * result.inference_ms * 1e-3
            with self._wake:
                while not self._stopping and time.monotonic() < until:
                    self._wake.wait(until - time.monotonic())
        if self._offload is not None:
            won = True
            with self._lock:
                self._offload.policy.observe_local(scale * result.inference_ms * 1e-3)
                if hedge is not None:
                    won = self._offload.claim_on_board(hedge)
            if hedge is not None and not won:
                return  # the edge's mask was published first; counted there
        top = top_classes(result.classes) if result.classes is not None else None
        self._publish(frame, result.probability, result.inference_ms, 'local', top)

    def _publish(
        self,
        frame: _Frame,
        probability: NDArray[np.float32],
        inference_ms: float | None,
        source: str,
        classes: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None,
    ) -> None:
        """Publish a frame's mask and observation (from the local model or the edge).

        :param classes: the frame's most probable class and its confidence per cell of the
            model's class output (core.class_map.top_classes, or the edge's), sent as a class
            observation on the observation's cells.
        """
        p, stamp = self._params, frame.header.stamp
        seen = observe_frame(
            probability, frame.camera, p.mount, frame.pose, p.grid, p.segmenter.threshold,
            p.send_probability, p.view_weight, classes,
        )  # fmt: skip
        mask = seen.mask.astype(np.uint8) * 255
        self._mask_pub.publish(conversions.image_msg(mask, 'mono8', frame.header))
        self._footprint_pub.publish(
            conversions.polygon_stamped(seen.outline, names.MAP_FRAME, stamp)
        )
        patch, sent = seen.patch, False
        if patch is not None:
            observation = conversions.occupancy_grid(patch, stamp)
            class_msg = None
            if seen.classes is not None:
                class_msg = conversions.class_observation_msg(seen.classes, stamp)
            obs_id = stamp_ns(frame.header.stamp.sec, frame.header.stamp.nanosec)
            cells = len(observation.data) * (3 if class_msg is not None else 1)
            size = message_bytes(cells)
            with self._lock:
                sent = self._outbox.add(obs_id, (observation, class_msg), size, time.monotonic())
            if sent:
                self._observation_pub.publish(observation)
                if class_msg is not None:
                    self._classes_pub.publish(class_msg)
                    with self._lock:
                        self.stats.class_observations_published += 1
            else:
                self._problem(f'observation with stamp {obs_id} ns published already: not sent')
        done = time.monotonic()
        with self._lock:
            if inference_ms is None and self._offload is not None:
                self._offload.published_edge()
            ground = patch is not None
            first = self.stats.frame_done(source, frame.received, done, inference_ms, ground, sent)
        self._last_problem = ''
        if first:
            how = f'{inference_ms:.0f} ms inference' if inference_ms is not None else 'at the edge'
            self.get_logger().info(
                f'first frame segmented: {how}, {(done - frame.received) * 1e3:.0f} ms end to end'
            )

    # -- status ------------------------------------------------------------------------------

    def status_values(self) -> dict[str, str]:
        """Return the counters and timings published in the status (all strings)."""
        with self._lock:
            values: dict[str, Any] = self.stats.values(time.monotonic())
            values.update({f'outbox_{key}': n for key, n in self._outbox.stats().items()})
            if self._offload is not None:
                values.update(self._offload.values())
                values.update(self.stats.latency_percentiles())
                processed, hits = self.stats.frames_processed, self._offload.counters['edge_hits']
                values['offload_ratio'] = f'{hits / processed:.3f}' if processed else '0.000'
                scale = self._params.offload.local_compute_scale
                values['local_compute_scale'] = f'{scale:g}'
        values['providers'] = ','.join(self._segmenter.providers)
        values['model'] = str(self._segmenter.model_path)
        return {k: str(v) for k, v in values.items()}

    def _publish_status(self) -> None:
        values = self.status_values()
        if self._last_problem:
            level, message = 'WARN', self._last_problem
        elif values['frames_processed'] == '0':
            level, message = 'OK', 'waiting for frames'
        else:
            level, message = 'OK', f'segmenting at {values["fps"]} frames/s'
        name = f'{self.get_fully_qualified_name()}: segmentation'
        status = conversions.node_status(self, self._frame_id, level, message, values, name)
        self._status_pub.publish(status)

    def destroy_node(self) -> None:
        """Stop and join the worker thread, then destroy the node."""
        stop_worker(self, '_worker')
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run segmentation until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded executor: inference runs on the node's own worker thread, so callbacks
    # only check, convert and store, and the executor never waits on the model.
    spin_node('segmentation', SegmentationNode, args)


if __name__ == '__main__':
    main()
