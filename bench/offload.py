#!/usr/bin/env python3
"""Benchmark edge offloading: always local vs always edge vs adaptive, over emulated links.

For each (policy, link profile) one in-process rig runs: edge_server (1 onnxruntime thread),
link_emulator (the profile, a fixed seed), the segmentation node with its offload client
(`offload_mode` local / edge / adaptive) and a probe that publishes rendered 640x480 sim frames
(SimCamera over the shipped scene, along a flight line at 60 m) with their poses at the camera
rate, stamped on the ROS clock, and records when each frame's mask comes back.

The on-board computer is EMULATED with `local_compute_scale`: after each local inference the
node waits (scale - 1) x its measured time, as a computer `scale` times slower than one core of
this machine would. The default, 25, turns ~13 ms here into ~330 ms: an assumed (not measured)
small ARM companion computer running the model on its CPU while busy with other work. The
camera rate (5 Hz) is then more than the on-board computer alone can segment (~2.7 frames/s),
while the edge server (the other core) is ~25x faster. Scales 4-8 would keep up with 5 Hz here.

Per configuration: frames offered, results, results within the deadline (500 ms from the frame's
capture to its mask being published) per second of run, p50/p95 of that latency, bytes sent up
(JPEG), the edge's share of the results, fallbacks (edge timeouts/refusals done on board) and
hedges (edge frames also segmented on board because overdue, and how many of those the on-board
result won).

Every configuration runs `--repeats` times, interleaved (round r runs every profile and every
policy, the policies in a rotated order) so that load from elsewhere on the machine hits each
policy alike. A cell shows the mean over the repeats and, for the score, its min-max. The verdict
per profile compares adaptive with the best fixed policy (best mean) by their paired difference
per round: its mean and 95 % confidence interval (Student t, repeats - 1 degrees of freedom).
"beats" = the interval is above 0, "MISSES" = below 0, "matches" = it contains 0 (the difference
is within the run-to-run noise).

    .venv/bin/python bench/offload.py            # 3 policies x 3 profiles x 3 repeats, 15 s each
    .venv/bin/python bench/offload.py --repeats 5  # as in docs/BENCHMARKS.md (~12 min)
    .venv/bin/python bench/offload.py --quick    # smoke run, 4 s each, 1 repeat

Prints the machine, the exact command and a Markdown table (copy into docs/BENCHMARKS.md).
Run it alone: it measures wall-clock latencies.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
import platform
import shlex
import statistics
import sys
import tempfile
import time
from typing import Any

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

DOMAIN_BASE = 71
WIDTH, HEIGHT, HFOV_DEG, ALTITUDE_M = 640, 480, 70.0, 60.0
POLICIES = ('local', 'edge', 'adaptive')
PROFILES = ('good', 'degraded', 'outages')
#: Two-sided 95 % Student t quantiles by degrees of freedom (1..10); 1.96 beyond.
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def render_frames(count: int) -> tuple[dict[str, Any], list[tuple[VehiclePose, bytes]]]:
    """Render `count` nadir frames along an east-west flight line over the shipped scene."""
    scene = FloodScene.load()
    camera = SimCamera.default(scene, WIDTH, HEIGHT, HFOV_DEG)
    min_e, min_n, max_e, max_n = scene.bounds_enu
    north = (min_n + max_n) / 2.0
    frames = []
    for east in np.linspace(min_e + 40.0, max_e - 40.0, count):
        pose = VehiclePose((float(east), north, ALTITUDE_M))
        frames.append((pose, camera.render(pose)[0].tobytes()))
    return camera.camera_info_fields(), frames


def stamp_ns(stamp: Any) -> int:
    """Return a builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


def run_one(
    index: int,
    policy: str,
    profile: str,
    frames: tuple[dict[str, Any], list[tuple[VehiclePose, bytes]]],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Run one (policy, profile) configuration; return its numbers."""
    from geometry_msgs.msg import PoseStamped
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image

    from uav_flood.nodes import names
    from uav_flood.nodes.edge_server import EdgeServerNode
    from uav_flood.nodes.link_emulator import LinkEmulatorNode
    from uav_flood.nodes.segmentation import SegmentationNode

    info_fields, renders = frames
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_BASE + index % 20)
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Any] = []

    def add(node: Any) -> Any:
        executor.add_node(node)
        nodes.append(node)
        return node

    try:
        add(
            EdgeServerNode(
                context=context,
                parameter_overrides=[
                    Parameter('vehicles', value=['uav0']),
                    Parameter('threads', value=1),
                    Parameter('status_period_s', value=0.5),
                ],
            )
        )
        seg = add(
            SegmentationNode(
                context=context,
                namespace='/uav0',
                parameter_overrides=[
                    Parameter('threads', value=1),
                    Parameter('offload_mode', value=policy),
                    Parameter('local_compute_scale', value=args.scale),
                    Parameter('deadline_ms', value=args.deadline_ms),
                ],
            )
        )
        probe = add(rclpy.create_node('offload_bench_probe', context=context))
        pose_pub = probe.create_publisher(PoseStamped, '/uav0/pose', names.POSE.qos)
        image_pub = probe.create_publisher(Image, '/uav0/camera/image_raw', names.CAMERA_IMAGE.qos)
        info_pub = probe.create_publisher(
            CameraInfo, '/uav0/camera/camera_info', names.CAMERA_INFO.qos
        )
        masks: dict[int, float] = {}  # stamp ns -> first arrival (monotonic)
        probe.create_subscription(
            Image,
            '/uav0/segmentation/mask',
            lambda m: masks.setdefault(stamp_ns(m.header.stamp), time.monotonic()),
            names.MASK.qos,
        )
        if not spin_until(
            executor,
            lambda: (
                image_pub.get_subscription_count() > 0
                and info_pub.get_subscription_count() > 0
                and pose_pub.get_subscription_count() > 0
            ),
            5.0,
        ):
            sys.exit('the segmentation node did not subscribe within 5 s')
        info = CameraInfo()
        info.width, info.height = info_fields['width'], info_fields['height']
        info.distortion_model, info.d, info.k, info.r, info.p = (
            info_fields['distortion_model'],
            info_fields['d'],
            info_fields['k'],
            info_fields['r'],
            info_fields['p'],
        )
        info_pub.publish(info)
        if not spin_until(executor, lambda: seg.stats.camera_infos_received > 0, 5.0):
            sys.exit('the segmentation node got no CameraInfo within 5 s')
        # The link starts last, so its outage schedule runs from the first frame.
        add(
            LinkEmulatorNode(
                context=context,
                parameter_overrides=[
                    Parameter('vehicles', value=['uav0']),
                    Parameter('profile', value=profile),
                    Parameter('seed', value=args.seed),
                ],
            )
        )
        spin_until(executor, lambda: False, 0.3)  # discovery of the relay topics

        sent: dict[int, float] = {}
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < args.seconds:
            pose, data = renders[k % len(renders)]
            now = probe.get_clock().now().to_msg()
            msg = PoseStamped()
            msg.header.frame_id, msg.header.stamp = 'map', now
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = pose.position_enu_m
            q = msg.pose.orientation
            q.w, q.x, q.y, q.z = pose.orientation_wxyz
            pose_pub.publish(msg)
            image = Image(encoding='rgb8', height=HEIGHT, width=WIDTH, step=WIDTH * 3)
            image.header.stamp, image.header.frame_id = now, 'uav0/camera_optical'
            image.data = data
            image_pub.publish(image)
            sent[stamp_ns(now)] = time.monotonic()
            k += 1
            spin_until(executor, lambda k=k: time.monotonic() - start >= k / args.rate, 2.0)
        elapsed = time.monotonic() - start
        # Let the last frames finish (bounded): on board, at the edge or after a timeout.
        spin_until(
            executor,
            lambda: len(masks) + seg.stats.frames_dropped >= len(sent),
            args.deadline_ms / 1e3 + 3.0,
        )
        values = seg.status_values()
        latencies = [masks[s] - t for s, t in sent.items() if s in masks]
        hits = int(values.get('edge_hits', '0'))
        return {
            'offered': len(sent),
            'results': len(latencies),
            'in_time_per_s': sum(x <= args.deadline_ms / 1e3 for x in latencies) / elapsed,
            'p50_ms': pct(latencies, 0.5) * 1e3,
            'p95_ms': pct(latencies, 0.95) * 1e3,
            'bytes_sent': int(values.get('bytes_sent', '0')),
            'edge_share': hits / max(len(latencies), 1),
            'fallbacks': int(values.get('fallbacks', '0')),
            'dropped': seg.stats.frames_dropped,
            'hedges': int(values.get('hedges', '0')),
            'hedges_won_local': int(values.get('hedges_won_local', '0')),
            'local_ms': float(values.get('local_inference_ms', 'nan')),
            'mean_ms': statistics.fmean(latencies) * 1e3 if latencies else float('nan'),
        }
    finally:
        for node in reversed(nodes):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown(context=context)


def main() -> None:
    """Parse arguments, run every (policy, profile), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=15.0, help='frames per run (s)')
    parser.add_argument(
        '--repeats', type=int, default=3, help='runs of every configuration, interleaved'
    )
    parser.add_argument('--rate', type=float, default=5.0, help='camera rate (Hz)')
    parser.add_argument(
        '--scale', type=float, default=25.0, help='local_compute_scale: on board vs this core'
    )
    parser.add_argument('--deadline-ms', type=float, default=500.0, help='result deadline (ms)')
    parser.add_argument('--seed', type=int, default=7, help='link emulator seed')
    parser.add_argument('--policies', nargs='+', default=list(POLICIES), choices=POLICIES)
    parser.add_argument('--profiles', nargs='+', default=list(PROFILES), help='link profiles')
    parser.add_argument(
        '--quick', action='store_true', help='smoke run: 4 s per configuration, 1 repeat'
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeats = 4.0, 1
    if not (args.seconds > 0 and args.rate > 0 and args.scale >= 1 and args.deadline_ms > 0):
        parser.error('--seconds, --rate and --deadline-ms must be > 0, --scale >= 1')
    if args.repeats < 1:
        parser.error('--repeats must be >= 1')
    from uav_flood.core.errors import UavFloodError
    from uav_flood.core.link import load_profile

    try:
        for profile in args.profiles:
            load_profile(profile)
    except UavFloodError as exc:
        parser.error(f'--profiles: {exc}')
    command = ' '.join(
        shlex.quote(a) for a in ['.venv/bin/python', 'bench/offload.py', *sys.argv[1:]]
    )
    print(f'machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores, Python '
          f'{platform.python_version()}')  # fmt: skip
    print(f'command: {command}')
    print(f'camera {args.rate:g} Hz, 640x480, {args.seconds:g} s per run, {args.repeats} '
          f'repeat(s), deadline {args.deadline_ms:g} ms, local_compute_scale {args.scale:g}, '
          f'link seed {args.seed}', flush=True)  # fmt: skip
    print('rendering frames...', flush=True)
    frames = render_frames(8)
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    index = 0
    started = time.monotonic()
    for round_ in range(args.repeats):
        for profile in args.profiles:
            # Rotate the order each round: no policy always runs first (cold) or last.
            k = round_ % len(args.policies)
            for policy in args.policies[k:] + args.policies[:k]:
                print(f'round {round_ + 1}/{args.repeats}: {policy} over {profile}...',
                      file=sys.stderr, flush=True)  # fmt: skip
                result = run_one(index, policy, profile, frames, args)
                runs.setdefault((profile, policy), []).append(result)
                index += 1
    print(f'{index} runs in {time.monotonic() - started:.0f} s')
    print_table(args, runs)
    print_verdicts(args, runs)


def mean(runs: list[dict[str, float]], key: str) -> float:
    """Return the mean of one number over the repeats of a configuration."""
    return statistics.fmean(r[key] for r in runs)


def print_table(
    args: argparse.Namespace, runs: dict[tuple[str, str], list[dict[str, float]]]
) -> None:
    """Print the Markdown table: means over the repeats, the score's min-max."""
    print()
    print(f'| link | policy | offered | results | in {args.deadline_ms:g} ms (frames/s), mean '
          '[min-max] | p50 (ms) | p95 (ms) | sent up (MB) | edge share | fallbacks | hedges '
          '(won on board) | dropped | local inference (ms) |')  # fmt: skip
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for profile in args.profiles:
        for policy in args.policies:
            r = runs[(profile, policy)]
            score = [x['in_time_per_s'] for x in r]
            print(f'| {profile} | {policy} | {mean(r, "offered"):.0f} | {mean(r, "results"):.0f} '
                  f'| {statistics.fmean(score):.2f} [{min(score):.2f}-{max(score):.2f}] | '
                  f'{mean(r, "p50_ms"):.0f} | {mean(r, "p95_ms"):.0f} | '
                  f'{mean(r, "bytes_sent") / 1e6:.2f} | {100 * mean(r, "edge_share"):.0f} % | '
                  f'{mean(r, "fallbacks"):.1f} | {mean(r, "hedges"):.1f} '
                  f'({mean(r, "hedges_won_local"):.1f}) | {mean(r, "dropped"):.1f} | '
                  f'{mean(r, "local_ms"):.0f} |')  # fmt: skip
    print()
    if args.quick:
        print('(smoke run: too short to judge the policies; the start-up probe alone is one frame')
        print(' in 20, and the first on-board inference is cold)')


def print_verdicts(
    args: argparse.Namespace, runs: dict[tuple[str, str], list[dict[str, float]]]
) -> None:
    """Print per profile: adaptive vs the best fixed policy, paired by round, with a 95 % CI."""
    for profile in args.profiles:
        got = {p: [r['in_time_per_s'] for r in runs[(profile, p)]] for p in args.policies}
        if 'adaptive' not in got or len(got) < 2:
            continue
        fixed = {p: statistics.fmean(v) for p, v in got.items() if p != 'adaptive'}
        best = max(fixed, key=lambda p: fixed[p])
        diffs = [a - b for a, b in zip(got['adaptive'], got[best], strict=True)]
        diff = statistics.fmean(diffs)
        if len(diffs) >= 2:
            t = T95[len(diffs) - 2] if len(diffs) - 1 <= len(T95) else 1.96
            half = t * statistics.stdev(diffs) / math.sqrt(len(diffs))
            low, high = diff - half, diff + half
            verdict = 'beats' if low > 0 else 'MISSES' if high < 0 else 'matches (within noise)'
            ci = f', 95 % CI [{low:+.2f}, {high:+.2f}]'
        else:
            verdict, ci = 'not judged (1 repeat)', ''
        rounds = ', '.join(
            f'{a:.2f}/{b:.2f}' for a, b in zip(got['adaptive'], got[best], strict=True)
        )
        line = (
            f'{profile}: adaptive {statistics.fmean(got["adaptive"]):.2f}/s vs best fixed '
            f'({best}) {fixed[best]:.2f}/s (per round {rounds}): difference {diff:+.2f}/s{ci}: '
            f'{verdict}'
        )
        if 'local' in got and statistics.fmean(got['local']) > 0:
            ratio = statistics.fmean(got['adaptive']) / statistics.fmean(got['local'])
            line += f'; {ratio:.2f}x always-local'
        print(line)


if __name__ == '__main__':
    main()
