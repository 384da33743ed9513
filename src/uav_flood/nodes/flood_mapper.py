"""flood_mapper: one per swarm (global), fuses every drone's flood observations into one map.

Every /<vehicle>/flood_observation patch is checked (frame, size, values; plausibility: stamp,
size, the drone's pose at the stamp, core.plausibility) and fused into core.flood_map.FloodMap
(integer evidence: the result does not depend on arrival order); its land cover
(flood_observation/classes) into core.class_map. Each observation (vehicle, stamp) is fused once
and acknowledged on /<vehicle>/flood_observation/ack once it is durable in a checkpoint
(core.delivery; core.map_checkpoint: the map, its land cover, the tracks and the delivery state,
reloaded on start, a corrupt file set aside). Publishes /flood_map and /flood_map/classes
(latched), /flood_map/markers (polygons on a worker thread, never holding up the
subscriptions), /flood_map/status, and answers /flood_map/route (core.responder_layers).
See docs/flood_map.md ("Node").
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
import math
import time
from typing import Any

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid
from nav_msgs.msg import Path as PathMsg
from nav_msgs.srv import GetPlan
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Int64MultiArray
from visualization_msgs.msg import MarkerArray

from uav_flood.core.class_map import ClassFusion, ClassMap, ClassMapError
from uav_flood.core.delivery import (
    DeliveryLedger,
    Seen,
    stamp_ns,
)
from uav_flood.core.errors import UavFloodError
from uav_flood.core.flood_map import (
    FloodMap,
    FloodMapError,
    FloodPolygon,
    PatchRejectedError,
    RejectReason,
)
from uav_flood.core.georef import GridPatch
from uav_flood.core.map_checkpoint import Loaded, MapCheckpoint
from uav_flood.core.plausibility import (
    ObservationGate,
    RefuseReason,
    Verdict,
)
from uav_flood.core.responder_layers import (
    find_route,
    MIN_ROAD_SPUR_M,
    responder_layers,
    ResponderLayers,
    road_network,
    RoadSegment,
)
from uav_flood.nodes import conversions, names
from uav_flood.nodes.params import declare_read_only
from uav_flood.nodes.params.flood_mapper import MapperParams, PARAMETERS
from uav_flood.nodes.spin import spin_node

#: /flood_map/status period (s).
STATUS_PERIOD_S = 1.0
#: Warnings in callbacks are throttled to one per this many seconds.
WARN_THROTTLE_S = 5.0
#: How often the worker thread's polygons are collected (s).
POLL_PERIOD_S = 0.1
#: Acknowledgements are published this often (s).
ACK_PERIOD_S = 0.2
#: At most this many acknowledgement messages per vehicle per ACK_PERIOD_S.
ACK_MESSAGES_PER_TICK = 10


class FloodMapperNode(Node):
    """Fuse the swarm's flood observations, publish the map and markers, checkpoint to disk."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('flood_mapper', **kwargs)
        declare_read_only(self, PARAMETERS)
        self._params = params = MapperParams.from_node(self)
        self.set_aside = ''
        self._files = MapCheckpoint(params.checkpoint_file) if params.checkpoint_file else None
        self.last_checkpoint = ''
        self.checkpoint_error = ''
        self._last_checkpoint_s = math.nan
        self.map = FloodMap(params.fusion)
        if self._files is not None:
            self.map, loaded = self._files.load_map(params.fusion, params.origin)
            self.set_aside = loaded.set_aside
            self._note(loaded)
        if params.origin is not None:
            self.map.origin = params.origin
        self.tracks: dict[str, list[tuple[float, float, float]]] = {v: [] for v in params.vehicles}
        if self._files is not None and not self.set_aside:  # set aside: its tracks went too
            self._note(self._files.load_tracks(self.tracks))
        self.by_vehicle = dict.fromkeys(params.vehicles, 0)
        # Delivery: which ids were fused and are durable, and the plausibility gate; both
        # reloaded from beside the checkpoint. Refusal reasons share the map's counters.
        for reason in RefuseReason:
            self.map.rejected.setdefault(reason.value, 0)
        self.deferred = 0
        self.delivery_set_aside = ''
        self.ledger, self.gate = self._new_delivery()
        self._load_delivery()
        #: Class observation messages that could not be read (ClassMapError).
        self.classes_refused = 0
        self.class_fusion = ClassFusion(self._load_classes())
        self._classes_changed = self.class_fusion.map.observations_applied > 0
        self._changed = self.map.bounds_cells is not None
        self._markers_stale = True
        self._dirty_since: float | None = None
        self.polygons: list[FloodPolygon] = []
        #: The responder layers of the land cover at the last markers (None before any).
        self.layers: ResponderLayers | None = None
        self.polygons_ms = math.nan
        self._marker_ids = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix='flood_polygons')
        self._job: Future[tuple[list[FloodPolygon], float, ResponderLayers | None]] | None = None

        self._ack_pubs = {}
        for name in params.vehicles:
            ns = f'/{name}/'
            self.create_subscription(
                OccupancyGrid,
                ns + names.FLOOD_OBSERVATION.name,
                lambda msg, n=name: self._on_observation(n, msg),
                names.FLOOD_OBSERVATION.qos,
            )
            self.create_subscription(
                Image,
                ns + names.FLOOD_OBSERVATION_CLASSES.name,
                lambda msg, n=name: self._on_classes(n, msg),
                names.FLOOD_OBSERVATION_CLASSES.qos,
            )
            self._ack_pubs[name] = self.create_publisher(
                Int64MultiArray,
                ns + names.FLOOD_OBSERVATION_ACK.name,
                names.FLOOD_OBSERVATION_ACK.qos,
            )
            if params.tracks or params.plausibility.check_pose:
                self.create_subscription(
                    PoseStamped,
                    ns + names.POSE.name,
                    lambda msg, n=name: self._on_pose(n, msg),
                    names.POSE.qos,
                )
        self._map_pub = conversions.publisher(self, OccupancyGrid, names.FLOOD_MAP)
        self._classes_pub = conversions.publisher(self, OccupancyGrid, names.FLOOD_MAP_CLASSES)
        #: The road network of the land cover, for routes: (observations it was made of, roads).
        self._roads: tuple[int, list[RoadSegment]] = (-1, [])
        self.last_route = ''
        self.create_service(GetPlan, names.ROUTE_SERVICE.name, self._on_route)
        self._markers_pub = conversions.publisher(self, MarkerArray, names.FLOOD_MAP_MARKERS)
        self._status_pub = conversions.StatusPublisher(self, names.FLOOD_MAP_STATUS)
        self.create_timer(1.0 / params.publish_rate_hz, self._publish_map)
        self.create_timer(params.markers_period_s, self._start_polygons)
        self.create_timer(POLL_PERIOD_S, self._collect_polygons)
        self.create_timer(STATUS_PERIOD_S, self._publish_status)
        self.create_timer(ACK_PERIOD_S, self._publish_acks)
        if params.checkpoint_file:
            # Checked often, saved when the oldest unsaved observation is half an interval old:
            # the other half is the budget for delivery and the save itself.
            period = min(0.25, params.checkpoint_interval_s / 4.0)
            self.create_timer(period, self._maybe_checkpoint)
        self.get_logger().info(
            f'fusing flood observations of {", ".join(params.vehicles)} at '
            f'{params.fusion.resolution_m} m; checkpoint: {params.checkpoint_file or "off"}'
        )

    # ---- inputs ------------------------------------------------------------------------------

    def _on_observation(self, vehicle: str, msg: OccupancyGrid) -> None:
        try:
            self._observe(vehicle, msg)
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self.get_logger().error(
                f'{vehicle}: flood observation failed: {exc}',
                throttle_duration_sec=WARN_THROTTLE_S,
            )

    def _observe(self, vehicle: str, msg: OccupancyGrid) -> None:
        """Fuse one observation once, if plausible; acknowledge what is decided for good."""
        obs_id = stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
        if self.ledger.check(vehicle, obs_id) is not Seen.NEW:
            return  # counted; acknowledged once durable
        info = msg.info
        if msg.header.frame_id != names.MAP_FRAME:
            self._refuse(
                vehicle,
                obs_id,
                RejectReason.FRAME.value,
                f'frame_id {msg.header.frame_id!r}, the map is in {names.MAP_FRAME!r}',
            )
            return
        verdict = self.gate.check(
            vehicle,
            obs_id * 1e-9,
            self.get_clock().now().nanoseconds * 1e-9,
            float(info.origin.position.x),
            float(info.origin.position.y),
            float(info.resolution),
            int(info.width),
            int(info.height),
        )
        if verdict.verdict is Verdict.DEFER:
            # Neither fused nor acknowledged: the drone re-sends it; judged once a pose is known.
            self.deferred += 1
            self.get_logger().warning(
                f'{vehicle}: flood observation deferred: {verdict.text}',
                throttle_duration_sec=WARN_THROTTLE_S,
            )
            return
        if verdict.verdict is Verdict.REFUSE:
            self._refuse(vehicle, obs_id, verdict.reason, verdict.text)
            return
        try:
            self.map.apply_arrays(
                info.origin.position.x,
                info.origin.position.y,
                info.resolution,
                int(info.width),
                int(info.height),
                np.asarray(msg.data, dtype=np.int8),
            )
        except PatchRejectedError as exc:  # counted by the map
            self.ledger.record_final(vehicle, obs_id)
            self.get_logger().warning(
                f'{vehicle}: flood observation {exc}', throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        self.ledger.record_fused(vehicle, obs_id, self.map.observations_applied)
        res = float(info.resolution)
        if self.class_fusion.water_fused(
            vehicle,
            obs_id,
            round(info.origin.position.x / res),
            round(info.origin.position.y / res),
            int(info.width),
            int(info.height),
        ):
            self._classes_changed = True
        self.by_vehicle[vehicle] += 1
        self._changed = self._markers_stale = True
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _on_classes(self, vehicle: str, msg: Image) -> None:
        """Fuse an observation's classes with it (core.class_map.ClassFusion)."""
        try:
            obs_id = stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec)
            observation = conversions.class_observation_of(msg)
            decided = self.ledger.known(vehicle, obs_id)
            if self.class_fusion.classes_arrived(vehicle, obs_id, observation, decided):
                self._classes_changed = self._markers_stale = True
                if self._dirty_since is None:
                    self._dirty_since = time.monotonic()
        except ClassMapError as exc:
            self.classes_refused += 1
            self.get_logger().warning(
                f'{vehicle}: land-cover observation refused: {exc}',
                throttle_duration_sec=WARN_THROTTLE_S,
            )
        except Exception as exc:  # noqa: BLE001  (log at the callback boundary, keep running)
            self.get_logger().error(
                f'{vehicle}: land-cover observation failed: {exc}',
                throttle_duration_sec=WARN_THROTTLE_S,
            )

    def _on_route(self, request: Any, response: Any) -> Any:
        """Answer a route request on the current land cover (see names.ROUTE_SERVICE.name)."""
        response.plan = PathMsg()
        response.plan.header.frame_id = names.MAP_FRAME
        response.plan.header.stamp = self.get_clock().now().to_msg()
        try:
            for end in (request.start, request.goal):
                if end.header.frame_id not in ('', names.MAP_FRAME):
                    raise ValueError(
                        f'points must be in {names.MAP_FRAME!r}, got {end.header.frame_id!r}'
                    )
            fusion = self.class_fusion
            cover = fusion.map.land_cover()
            if self._roads[0] != fusion.map.observations_applied:
                self._roads = (
                    fusion.map.observations_applied,
                    road_network(cover, MIN_ROAD_SPUR_M),
                )
            start, goal = request.start.pose.position, request.goal.pose.position
            snap = float(request.tolerance) if request.tolerance > 0.0 else 30.0
            result = find_route(self._roads[1], cover, (start.x, start.y), (goal.x, goal.y), snap)
        except (ValueError, UavFloodError) as exc:
            self.last_route = f'refused: {exc}'
            self.get_logger().warning(f'route request refused: {exc}')
            return response
        if not result.found or result.line is None:
            self.last_route = f'none: {result.reason}'
            self.get_logger().info(f'route: none ({result.reason})')
            return response
        response.plan = conversions.path_msg(result.line.coords, response.plan.header.stamp)
        self.last_route = f'found: {result.length_m:.0f} m'
        self.get_logger().info(f'route: {result.length_m:.0f} m along passable roads')
        return response

    def _refuse(self, vehicle: str, obs_id: int, reason: str, text: str) -> None:
        """Count a refusal by reason and acknowledge it: a refusal is final."""
        self.map.rejected[reason] = self.map.rejected.get(reason, 0) + 1
        self.ledger.record_final(vehicle, obs_id)
        self.get_logger().warning(
            f'{vehicle}: flood observation refused ({reason}): {text}',
            throttle_duration_sec=WARN_THROTTLE_S,
        )

    def _on_pose(self, vehicle: str, msg: PoseStamped) -> None:
        p = msg.pose.position
        point = (float(p.x), float(p.y), float(p.z))
        if not all(math.isfinite(v) for v in point):
            return
        stamp = msg.header.stamp
        self.gate.add_pose(
            vehicle,
            stamp_ns(stamp.sec, stamp.nanosec) * 1e-9,
            *point,
            now_s=self.get_clock().now().nanoseconds * 1e-9,
        )
        if not self._params.tracks:
            return
        track = self.tracks[vehicle]
        if track and math.dist(track[-1][:2], point[:2]) < self._params.track_step_m:
            return
        track.append(point)
        if len(track) > self._params.track_max_points:
            # Keep the ends, thin the rest to every other point: long missions stay drawable.
            del track[1:-1:2]
        self._markers_stale = True

    # ---- outputs -----------------------------------------------------------------------------

    def _publish_map(self) -> None:
        try:
            if self._classes_changed:
                cover = self.class_fusion.map.land_cover()
                patch = GridPatch(
                    cover.origin_east,
                    cover.origin_north,
                    cover.resolution_m,
                    cover.labels.shape[1],
                    cover.labels.shape[0],
                    cover.labels,
                )
                self._classes_pub.publish(
                    conversions.occupancy_grid(patch, self.get_clock().now().to_msg())
                )
                self._classes_changed = False
            if not self._changed:
                return
            self._map_pub.publish(
                conversions.occupancy_grid(
                    self.map.to_occupancy(), self.get_clock().now().to_msg()
                )
            )
            self._changed = False
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(
                f'publishing the map failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S
            )

    def _start_polygons(self) -> None:
        if self._job is not None or not self._markers_stale:
            return
        self._markers_stale = False
        snapshot = self.map.copy()
        cover = self.class_fusion.map.land_cover() if self.class_fusion.fused else None
        threshold, min_area = self._params.water_threshold, self._params.min_polygon_area_m2

        def work() -> tuple[list[FloodPolygon], float, ResponderLayers | None]:
            start = time.perf_counter()
            polygons = snapshot.flood_polygons(threshold, min_area_m2=min_area)
            layers = responder_layers(cover) if cover is not None else None
            return polygons, (time.perf_counter() - start) * 1000.0, layers

        self._job = self._worker.submit(work)

    def _collect_polygons(self) -> None:
        job = self._job
        if job is None or not job.done():
            return
        self._job = None
        try:
            self.polygons, self.polygons_ms, self.layers = job.result()
            self._markers_pub.publish(self.markers())
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(
                f'flood polygons failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S
            )

    def markers(self) -> MarkerArray:
        """Return the flood outlines, their area labels, the drone tracks and the layers."""
        bounds = self.map.bounds_cells
        res = self.map.resolution_m
        north_west = (bounds[0] * res, bounds[3] * res) if bounds is not None else None
        return conversions.flood_markers(
            self.polygons, self.tracks, self.layers, north_west, self.get_clock().now().to_msg()
        )

    def status_values(self) -> dict[str, str]:
        """Return the status key/values: counters, cells known, water area, checkpoint."""
        res = self.map.resolution_m
        known = int(np.count_nonzero(self.map.seen()))
        water = int(np.count_nonzero(self.map.water_mask(self._params.water_threshold)))
        age = time.monotonic() - self._last_checkpoint_s
        values = {
            'observations_applied': str(self.map.observations_applied),
            'rejected_total': str(sum(self.map.rejected.values())),
            **{f'rejected_{k}': str(v) for k, v in sorted(self.map.rejected.items())},
            **{f'observations_{k}': str(v) for k, v in self.by_vehicle.items()},
            'cells_known': str(known),
            'known_area_m2': f'{known * res * res:.1f}',
            'water_area_m2': f'{water * res * res:.1f}',
            'polygons': str(len(self.polygons)),
            'polygons_ms': f'{self.polygons_ms:.1f}' if math.isfinite(self.polygons_ms) else '',
            'grid_mb': f'{self.map.allocated_bytes / 1e6:.1f}',
            'checkpoint_file': self._params.checkpoint_file,
            'last_checkpoint': self.last_checkpoint,
            'checkpoint_age_s': f'{age:.1f}' if math.isfinite(age) else '',
            'checkpoint_error': self.checkpoint_error,
            'set_aside': self.set_aside,
            # Delivery (docs/flood_map.md "Delivery guarantees"): fused = observations in the
            # map (over restarts, as observations_applied); duplicates and duplicates_expired
            # over restarts too; the rest are this process's.
            'fused': str(self.map.observations_applied),
            'fused_since_start': str(self.ledger.fused),
            'duplicates': str(self.ledger.duplicates),
            'duplicates_expired': str(self.ledger.expired),
            'acked': str(self.ledger.acked),
            'acks_queued': str(self.ledger.acks_queued()),
            'awaiting_checkpoint': str(self.ledger.awaiting_checkpoint),
            'deferred': str(self.deferred),
            'dedupe_ids': str(sum(self.ledger.remembered(v) for v in self._params.vehicles)),
            'poses_ignored': str(self.gate.poses_ignored),
            'delivery_set_aside': self.delivery_set_aside,
            # Land cover: class observations fused, dropped (re-sends, wrong size), waiting for
            # their water observation (or it for them), lost to the waiting window, refused.
            'classes_fused': str(self.class_fusion.map.observations_applied),
            'classes_dropped': str(self.class_fusion.dropped),
            'classes_unpaired': str(self.class_fusion.unpaired),
            'classes_expired': str(self.class_fusion.expired),
            'classes_refused': str(self.classes_refused),
            'class_cells_known': str(self.class_fusion.map.cells_known()),
            'last_route': self.last_route,
        }
        return values

    def _publish_status(self) -> None:
        try:
            values = self.status_values()
            rejected = int(values['rejected_total'])
            if self.checkpoint_error:
                level, message = 'ERROR', f'checkpoint failed: {self.checkpoint_error}'
            elif self.set_aside:
                level, message = 'WARN', f'corrupt checkpoint set aside as {self.set_aside}'
            elif rejected:
                level, message = 'WARN', f'{rejected} observation(s) refused'
            else:
                level, message = 'OK', 'mapping'
            message += (
                f'; {values["observations_applied"]} observations, '
                f'{values["water_area_m2"]} m2 water'
            )
            status = conversions.node_status(self, 'flood_map', level, message, values)
            self._status_pub.publish(status)
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f'status failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S)

    def _publish_acks(self) -> None:
        """Publish the queued acknowledgements, per vehicle, in batches of names.ACK_BATCH."""
        try:
            for vehicle, pub in self._ack_pubs.items():
                for _ in range(ACK_MESSAGES_PER_TICK):
                    ids = self.ledger.take_acks(vehicle, names.ACK_BATCH)
                    if not ids:
                        break
                    pub.publish(Int64MultiArray(data=ids))
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(
                f'acknowledgements failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S
            )

    # ---- checkpoints -------------------------------------------------------------------------

    def _maybe_checkpoint(self) -> None:
        since = self._dirty_since
        if since is None or time.monotonic() - since < self._params.checkpoint_interval_s / 2:
            return
        self.checkpoint()

    def checkpoint(self) -> bool:
        """Save the map (and the tracks beside it) atomically now; return whether it worked."""
        if not self._params.checkpoint_file:
            return False
        try:
            self._dirty_since = None
            # The delivery state first: its ids carry the sequence number of their fusion, and
            # on reload only those the map file holds are kept, so a crash between the two
            # writes never has an id remembered whose evidence is not in the map.
            seq = self.map.observations_applied
            assert self._files is not None
            path = self._files.save(
                self.map,
                self.class_fusion.map,
                self.tracks,
                self.ledger,
                self.gate,
                names.MAP_FRAME,
            )
        except (OSError, FloodMapError) as exc:
            self._dirty_since = self._dirty_since or time.monotonic()
            self.checkpoint_error = str(exc)
            self.get_logger().error(
                f'checkpoint failed: {exc}', throttle_duration_sec=WARN_THROTTLE_S
            )
            return False
        self.checkpoint_error = ''
        self.last_checkpoint = str(path)
        self._last_checkpoint_s = time.monotonic()
        self.ledger.mark_durable(seq)
        return True

    def _new_delivery(self) -> tuple[DeliveryLedger, ObservationGate]:
        params = self._params
        ledger = DeliveryLedger(
            params.vehicles, params.dedupe_window, immediate=not params.checkpoint_file
        )
        started = self.get_clock().now().nanoseconds * 1e-9
        return ledger, ObservationGate(params.plausibility, params.vehicles, started)

    def _note(self, loaded: Loaded) -> None:
        # One call per severity: rclpy refuses two severities from one call site.
        if loaded.level == 'error':
            self.get_logger().error(loaded.note)
        elif loaded.level == 'warning':
            self.get_logger().warning(loaded.note)
        elif loaded.note:
            self.get_logger().info(loaded.note)

    def _load_delivery(self) -> None:
        """Reload the ids fused (those the map checkpoint holds), positions and start."""
        if self._files is None:
            return
        loaded = self._files.load_delivery(self.ledger, self.gate, self.map.observations_applied)
        if loaded.level == 'error':  # unreadable: set aside, start anew
            self.ledger, self.gate = self._new_delivery()
            self.delivery_set_aside = loaded.set_aside
        self._note(loaded)

    def _load_classes(self) -> ClassMap:
        """Reload the land-cover map beside the checkpoint; a new one if none or unreadable."""
        res = self._params.fusion.resolution_m
        side = math.ceil(self._params.fusion.max_extent_m / res) + 1
        if self._files is None or self.set_aside:
            return ClassMap(res, side)  # no checkpoint, or it was set aside with its map
        classes, loaded = self._files.load_classes(res, side)
        self._note(loaded)
        return classes

    def destroy_node(self) -> None:
        """Save a last checkpoint when anything is unsaved, stop the worker, then destroy."""
        # getattr: a node whose __init__ raised (a bad parameter) is still destroyed by its
        # context's shutdown.
        if getattr(self, '_dirty_since', None) is not None:
            if self.checkpoint():
                self.get_logger().info(f'final checkpoint saved to {self.last_checkpoint}')
                self._publish_acks()
        worker = getattr(self, '_worker', None)
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run flood_mapper until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded executor: fusion is ~0.2 ms a patch; polygons run on a worker thread.
    spin_node('flood_mapper', FloodMapperNode, args)


if __name__ == '__main__':
    main()
