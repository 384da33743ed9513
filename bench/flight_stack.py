#!/usr/bin/env python3
"""Measure the flight stack: mission upload time, ROS telemetry rate and latency, sim CPU.

Three measurements, each against the built-in simulator at speed factor 1 (real time):

- upload: MAVSDK (through uav_flood.autopilot.MavsdkAutopilot, as flight_control uses it)
  uploads missions of N waypoints (plus takeoff and return items) over UDP loopback; wall time
  from the call to PX4's MISSION_ACK, repeated.
- telemetry: the flight_control node runs as its own process (console script, config file
  defaults) against a simulated vehicle flying a straight 400 m leg; this process subscribes to
  /uav0/pose, global_position, battery and status and measures each topic's rate, and the pose's
  end-to-end latency: for every pose received while the vehicle moves, the time since the
  simulated vehicle really was at that position (simulator truth sampled at 500 Hz), i.e.
  physics -> MAVLink -> MAVSDK -> node -> DDS -> subscriber.
- cpu: `uav-flood sim --vehicles N` as its own process, vehicles on the ground streaming the
  default telemetry to listening sockets; CPU seconds per wall second from /proc, per vehicle.

    .venv/bin/python bench/flight_stack.py                 # all three
    .venv/bin/python bench/flight_stack.py upload --waypoints 10 100 500 --repeat 5

Prints Markdown tables (copy into docs/BENCHMARKS.md).
"""

import argparse
import bisect
import os
from pathlib import Path
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'src'))

from benchlib import pct  # noqa: E402

from uav_flood.core.geo import GeoPoint, LocalFrame  # noqa: E402
from uav_flood.sim import SimConfig, Simulator  # noqa: E402
from uav_flood.testing import UdpPortAllocator  # noqa: E402

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
PORTS = UdpPortAllocator(7)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    """Poll `predicate` every 20 ms until true; exit with a message after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f'timed out after {timeout_s} s waiting for {what}')
        time.sleep(0.02)


def bench_upload(waypoints: list[int], repeat: int) -> None:
    """Upload missions of each size `repeat` times; print median/min/max wall time."""
    from uav_flood.autopilot.mavsdk_autopilot import MavsdkAutopilot
    from uav_flood.core.mission import build_mission, PathLimits, validate_path

    base = PORTS.allocate(41)
    frame = LocalFrame(ORIGIN)
    print('| waypoints | mission items | upload time (s), median [min-max] | items/s |')
    print('|---|---|---|---|')
    with Simulator(SimConfig(vehicles=1, origin=ORIGIN, base_port=base, speed_factor=1.0)):
        autopilot = MavsdkAutopilot()
        autopilot.connect(f'udpin://127.0.0.1:{base}')
        try:
            wait_for(lambda: autopilot.telemetry().home is not None, 30, 'home position')
            for n in waypoints:
                points = [(20.0 * (i % 20), 20.0 * (i // 20), 30.0) for i in range(n)]
                limits = PathLimits(max_waypoints=max(n, 450))
                plan = build_mission(validate_path(points, limits), frame, ORIGIN, limits=limits)
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    autopilot.upload_mission(plan)
                    times.append(time.perf_counter() - started)
                med = statistics.median(times)
                print(
                    f'| {n} | {len(plan.items)} | {med:.3f} [{min(times):.3f}-{max(times):.3f}] '
                    f'| {len(plan.items) / med:.0f} |',
                    flush=True,
                )
        finally:
            autopilot.close()


def bench_telemetry(seconds: float) -> None:
    """Run flight_control against a flying vehicle; print topic rates and pose latency."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path as PathMsg
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import BatteryState, NavSatFix

    from uav_flood.nodes import names
    from uav_flood.testing import ros_env

    base = PORTS.allocate(41)
    domain = 90 + os.getpid() % 10
    frame = LocalFrame(ORIGIN)
    truth: list[tuple[float, float]] = []  # (time.time(), east m) of the simulated vehicle
    stop = threading.Event()
    with Simulator(SimConfig(vehicles=1, origin=ORIGIN, base_port=base, speed_factor=1.0)) as sim:
        vehicle = sim.vehicles[0]

        def sample() -> None:
            while not stop.is_set():
                s = vehicle.state()
                east, _, _ = frame.to_enu(s.lat_deg, s.lon_deg, s.alt_m)
                truth.append((time.time(), float(east)))
                time.sleep(0.002)

        log = tempfile.TemporaryFile('w+')
        child = subprocess.Popen(
            [
                str(BIN / 'flight_control'),
                '--ros-args',
                '-r',
                '__ns:=/uav0',
                '--params-file',
                str(REPO / 'config' / 'flight_control.yaml'),
                '-p',
                f'connection_url:=udpin://127.0.0.1:{base}',
                '-p',
                'auto_start:=true',
            ],
            env=ros_env(domain),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        context = Context()
        rclpy.init(context=context, domain_id=domain)
        node = rclpy.create_node('bench_probe', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        arrivals: dict[str, list[float]] = {'pose': [], 'global_position': [], 'battery': []}
        arrivals['status'] = []
        latencies: list[float] = []
        speeds: list[float] = []

        def on_pose(msg: PoseStamped) -> None:
            now = time.time()
            arrivals['pose'].append(now)
            velocity = vehicle.state().velocity_ned
            speed = (velocity[0] ** 2 + velocity[1] ** 2) ** 0.5
            if speed < 3.0 or len(truth) < 2:
                return
            east = msg.pose.position.x
            # the last truth sample at or before `now` whose east is <= the reported east
            times = [t for t, _ in truth]
            i = bisect.bisect_right(times, now) - 1
            while i > 0 and truth[i][1] > east:
                i -= 1
            if i <= 0:
                return
            (t0, e0), (t1, e1) = truth[i], truth[i + 1]
            t_at = t0 + (east - e0) / (e1 - e0) * (t1 - t0) if e1 != e0 else t0
            latencies.append(now - t_at)
            speeds.append(speed)

        node.create_subscription(PoseStamped, '/uav0/' + names.POSE.name, on_pose, 10)
        for name, kind in (
            ('global_position', NavSatFix),
            ('battery', BatteryState),
            ('status', DiagnosticArray),
        ):
            node.create_subscription(
                kind, f'/uav0/{name}', lambda _m, n=name: arrivals[n].append(time.time()), 10
            )
        path_pub = node.create_publisher(
            PathMsg, '/uav0/' + names.MISSION_PATH.name, names.MISSION_PATH.qos
        )
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            deadline = time.monotonic() + 60
            while not arrivals['pose'] and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            msg = PathMsg()
            msg.header.frame_id = names.MAP_FRAME
            for east in (0.0, 400.0):
                pose = PoseStamped()
                pose.header.frame_id = names.MAP_FRAME
                pose.pose.position.x, pose.pose.position.z = east, 20.0
                msg.poses.append(pose)
            path_pub.publish(msg)
            # measure while the vehicle cruises along the leg
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(latencies) < 20:
                executor.spin_once(timeout_sec=0.05)
            for series in arrivals.values():
                series.clear()
            latencies.clear()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
        finally:
            stop.set()
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    print('| topic | messages | rate (Hz) |')
    print('|---|---|---|')
    for name, series in arrivals.items():
        span = series[-1] - series[0] if len(series) > 1 else float('nan')
        print(f'| /uav0/{name} | {len(series)} | {(len(series) - 1) / span:.1f} |')
    if latencies:
        ms = [1000.0 * v for v in latencies]
        print(
            f'\npose end-to-end latency over {len(ms)} poses at '
            f'{statistics.median(speeds):.1f} m/s: p50 {pct(ms, 0.5):.0f} ms, '
            f'p95 {pct(ms, 0.95):.0f} ms, max {max(ms):.0f} ms'
        )
    else:
        print('\nno pose latency samples: the vehicle never cruised (see the node log)')
        log.seek(0)
        print(log.read()[-3000:])


def proc_cpu_s(pid: int) -> float:
    """Return user + system CPU seconds of process `pid` so far."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def bench_cpu(counts: list[int], seconds: float) -> None:
    """Run `uav-flood sim --vehicles N` as a process; print its CPU use per vehicle."""
    print('| vehicles | sim process CPU (% of one core) | per vehicle | messages/s per vehicle |')
    print('|---|---|---|---|')
    for n in counts:
        base = PORTS.allocate(2 * n + 40)
        socks = []
        for i in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(('127.0.0.1', base + i))
            sock.setblocking(False)
            socks.append(sock)
        child = subprocess.Popen(
            [
                str(BIN / 'uav-flood'),
                'sim',
                '--vehicles',
                str(n),
                '--base-port',
                str(base),
                '--origin',
                '47.397742,8.545594,488',
                '--no-gcs',
                '--quiet',
            ],
            stdout=subprocess.DEVNULL,
        )
        received = [0] * n

        def drain(socks: list[socket.socket] = socks, received: list[int] = received) -> None:
            for i, sock in enumerate(socks):
                while True:
                    try:
                        sock.recv(4096)
                    except BlockingIOError:
                        break
                    received[i] += 1

        try:
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                drain()
                time.sleep(0.01)
            received[:] = [0] * n
            cpu0, t0 = proc_cpu_s(child.pid), time.monotonic()
            end = t0 + seconds
            while time.monotonic() < end:
                drain()
                time.sleep(0.01)
            drain()
            cpu = (proc_cpu_s(child.pid) - cpu0) / (time.monotonic() - t0)
            rate = sum(received) / n / (time.monotonic() - t0)
            print(f'| {n} | {100 * cpu:.1f} | {100 * cpu / n:.1f} | {rate:.0f} |', flush=True)
        finally:
            child.send_signal(signal.SIGINT)
            child.wait(timeout=15)
            for sock in socks:
                sock.close()


def main() -> None:
    """Parse the command line and run the chosen measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'what',
        nargs='*',
        choices=['upload', 'telemetry', 'cpu', []],
        default=[],
        help='measurements to run (default: all)',
    )
    parser.add_argument('--waypoints', type=int, nargs='+', default=[10, 100, 500])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--vehicles', type=int, nargs='+', default=[1, 3, 10])
    parser.add_argument('--seconds', type=float, default=15.0)
    args = parser.parse_args()
    what = args.what or ['upload', 'telemetry', 'cpu']
    print(f'# bench/flight_stack.py on {os.cpu_count()} CPUs, {time.strftime("%Y-%m-%d")}\n')
    if 'upload' in what:
        print('## Mission upload (MAVSDK -> simulator, UDP loopback)\n')
        bench_upload(args.waypoints, args.repeat)
        print()
    if 'telemetry' in what:
        print('## flight_control telemetry on ROS topics\n')
        bench_telemetry(args.seconds)
        print()
    if 'cpu' in what:
        print('## Simulator CPU per vehicle (speed factor 1, default stream rates)\n')
        bench_cpu(args.vehicles, args.seconds)


if __name__ == '__main__':
    main()
