#!/usr/bin/env python3
"""Measure the segmentation node end to end: camera frame in -> flood_observation out.

A real SegmentationNode runs in this process (rclpy, one SingleThreadedExecutor, the node's own
worker thread), fed by a probe node with 640x480 rgb8 frames rendered by SimCamera over the demo
scene from 60 m, nadir, each with its pose and CameraInfo:

- latency: one frame at a time, waiting for its OccupancyGrid: wall time from publish to
  receipt (p50, p95), plus the node's own inference time.
- flood: frames published as fast as this process can (bursts of 5 per 10 ms spin) for a few
  seconds: frames/s processed and the share dropped (newest-frame-only).

Both for onnxruntime threads=1 and threads=0 (every core).

    .venv/bin/python bench/segmentation_node.py
    .venv/bin/python bench/segmentation_node.py --frames 40 --flood-s 5 --threads 1 0

Prints the machine and a Markdown table (copy into docs/BENCHMARKS.md).
"""

import argparse
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'src'))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='uav-flood-bench-roslog-'))

from benchlib import cpu_model, pct  # noqa: E402
import numpy as np  # noqa: E402

from uav_flood.core.georef import VehiclePose  # noqa: E402
from uav_flood.sim.camera import SimCamera  # noqa: E402
from uav_flood.sim.scene import FloodScene  # noqa: E402
from uav_flood.testing import spin_until  # noqa: E402

DOMAIN_ID = 97
WIDTH, HEIGHT, HFOV_DEG, ALTITUDE_M = 640, 480, 70.0, 60.0


def stamp(t_s: float):
    """Return builtin_interfaces/Time for `t_s` seconds."""
    from builtin_interfaces.msg import Time

    ns = round(t_s * 1e9)
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


def run(threads: int, frames: int, flood_s: float) -> dict[str, float]:
    """Measure one node configuration; return its numbers."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import OccupancyGrid
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image

    from uav_flood.nodes import names
    from uav_flood.nodes.segmentation import SegmentationNode

    scene = FloodScene.load()
    camera = SimCamera.default(scene, WIDTH, HEIGHT, HFOV_DEG)
    min_e, min_n, max_e, max_n = scene.bounds_enu
    north = (min_n + max_n) / 2.0
    renders = []
    for east in np.linspace(min_e + 40.0, max_e - 40.0, 8):
        pose = VehiclePose((float(east), north, ALTITUDE_M))
        renders.append((pose, camera.render(pose)[0].tobytes()))

    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    executor = SingleThreadedExecutor(context=context)
    node = SegmentationNode(
        context=context,
        namespace='/uav0',
        parameter_overrides=[Parameter('threads', value=threads)],
    )
    probe = rclpy.create_node('bench_probe', context=context)
    executor.add_node(node)
    executor.add_node(probe)
    received: dict[float, float] = {}
    pose_pub = probe.create_publisher(PoseStamped, '/uav0/pose', names.POSE.qos)
    image_pub = probe.create_publisher(Image, '/uav0/camera/image_raw', names.CAMERA_IMAGE.qos)
    info_pub = probe.create_publisher(
        CameraInfo, '/uav0/camera/camera_info', names.CAMERA_INFO.qos
    )
    probe.create_subscription(
        OccupancyGrid,
        '/uav0/flood_observation',
        lambda m: received.setdefault(
            m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, time.perf_counter()
        ),
        names.FLOOD_OBSERVATION.qos,
    )
    try:
        spin_until(executor, lambda: image_pub.get_subscription_count() > 0, 5.0)
        info = CameraInfo()
        fields = camera.camera_info_fields()
        info.width, info.height = fields['width'], fields['height']
        info.distortion_model, info.d, info.k = (
            fields['distortion_model'],
            fields['d'],
            fields['k'],
        )
        info_pub.publish(info)
        spin_until(executor, lambda: node.stats.camera_infos_received > 0, 5.0)

        def publish(t: float, index: int) -> None:
            pose, data = renders[index % len(renders)]
            msg = PoseStamped()
            msg.header.stamp = stamp(t)
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = pose.position_enu_m
            msg.pose.orientation.w = 1.0
            pose_pub.publish(msg)
            image = Image()
            image.header.stamp = stamp(t)
            image.height, image.width, image.encoding, image.step = (
                HEIGHT,
                WIDTH,
                'rgb8',
                WIDTH * 3,
            )
            image.data = data
            image_pub.publish(image)

        latencies = []
        t = 100.0
        for i in range(frames + 2):  # the first two warm the model up
            t += 0.5
            sent = time.perf_counter()
            publish(t, i)
            if not spin_until(executor, lambda t=t: t in received, 10.0):
                sys.exit(f'no observation for frame {i} within 10 s')
            if i >= 2:
                latencies.append((received[t] - sent) * 1e3)
        inference = float(node.status_values()['inference_ms_mean'])

        before = node.status_values()
        start = time.perf_counter()
        index = 0
        while time.perf_counter() - start < flood_s:
            t += 0.01
            for _ in range(5):  # one stamp (and pose) per burst: the node pairs exactly
                index += 1
                publish(t, index)
            spin_until(executor, lambda: False, 0.01)
        spin_until(executor, lambda: node._mailbox is None, 5.0)
        elapsed = time.perf_counter() - start
        after = node.status_values()
        processed = int(after['frames_processed']) - int(before['frames_processed'])
        frames_in = int(after['frames_in']) - int(before['frames_in'])
        dropped = int(after['frames_dropped']) - int(before['frames_dropped'])
        return {
            'p50': statistics.median(latencies),
            'p95': pct(latencies, 0.95),
            'inference': inference,
            'fps': processed / elapsed,
            'offered': index / elapsed,
            'received': frames_in / elapsed,
            'dropped': dropped / max(frames_in, 1),
        }
    finally:
        executor.remove_node(node)
        executor.remove_node(probe)
        node.destroy_node()
        probe.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown(context=context)


def main() -> None:
    """Parse arguments, run each configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--frames', type=int, default=30, help='frames for latency (one at a time)'
    )
    parser.add_argument('--flood-s', type=float, default=4.0, help='seconds of flooding')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 0], help='0 = all cores')
    args = parser.parse_args()
    print(f'machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores, Python '
          f'{platform.python_version()}')  # fmt: skip
    print()
    print('| threads | latency p50 (ms) | latency p95 (ms) | inference mean (ms) | flood: offered '
          '(frames/s) | received (frames/s) | processed (frames/s) | dropped |')  # fmt: skip
    print('|---|---|---|---|---|---|---|---|')
    for threads in args.threads:
        r = run(threads, args.frames, args.flood_s)
        label = threads or f'0 (all {len(os.sched_getaffinity(0))})'
        print(f'| {label} | {r["p50"]:.0f} | {r["p95"]:.0f} | {r["inference"]:.0f} | '
              f'{r["offered"]:.0f} | {r["received"]:.0f} | {r["fps"]:.1f} | '
              f'{100 * r["dropped"]:.0f} % |', flush=True)  # fmt: skip


if __name__ == '__main__':
    main()
