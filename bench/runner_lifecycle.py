#!/usr/bin/env python3
"""Measure the node-graph runner: start-up to ready, memory, and Ctrl-C to exit, for N nodes.

For each N, `uav-flood launch` starts N ping_responder nodes (namespaces /uav0.. /uavN-1); this
process waits until every node answers its Trigger service over DDS (ready), samples the
resident memory of the runner's process tree, sends SIGINT to the runner and times its exit.

    .venv/bin/python bench/runner_lifecycle.py --nodes 3 6 12 --repeat 3

Results go to stdout as a Markdown table (copy into docs/BENCHMARKS.md).
"""

import argparse
import os
from pathlib import Path
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import Trigger

from uav_flood.testing import ros_env, spin_until

BIN = Path(sys.executable).parent


def tree_rss_mib(root_pid: int) -> float:
    """Return the summed resident memory of `root_pid` and all its descendants (MiB)."""
    children: dict[int, list[int]] = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total_kib, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f'/proc/{pid}/status').read_text().splitlines():
                if line.startswith('VmRSS:'):
                    total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024.0


def run_once(n: int, domain_id: int) -> tuple[float, float, float]:
    """Launch n nodes; return (seconds to ready, MiB resident, seconds from SIGINT to exit)."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / 'graph.yaml'
        graph.write_text(
            'nodes:\n'
            + ''.join(
                f'  - {{executable: ping_responder, namespace: /uav{i}}}\n' for i in range(n)
            )
        )
        env = ros_env(domain_id)
        context = Context()
        rclpy.init(context=context, domain_id=domain_id)
        node = rclpy.create_node('bench_probe', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        started = time.monotonic()
        runner = subprocess.Popen(
            [str(BIN / 'uav-flood'), 'launch', '--color', 'never', str(graph)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            pending = {i: node.create_client(Trigger, f'/uav{i}/ping') for i in range(n)}
            futures = {}

            def all_answered() -> bool:
                for i, client in pending.items():
                    if i not in futures and client.service_is_ready():
                        futures[i] = client.call_async(Trigger.Request())
                return len(futures) == n and all(f.done() for f in futures.values())

            if not spin_until(executor, all_answered, 120.0):
                raise RuntimeError(f'only {len(futures)} of {n} nodes answered within 120 s')
            ready = time.monotonic() - started
            rss = tree_rss_mib(runner.pid)
            stop = time.monotonic()
            runner.send_signal(signal.SIGINT)
            code = runner.wait(timeout=60)
            shutdown = time.monotonic() - stop
            if code != 0:
                raise RuntimeError(f'runner exited with {code} after SIGINT')
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    return ready, rss, shutdown


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--nodes', type=int, nargs='+', default=[3, 6, 12])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--domain-id', type=int, default=77)
    args = parser.parse_args()
    print(
        f'# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, '
        f'RMW {os.environ.get("RMW_IMPLEMENTATION", "default (rmw_fastrtps_cpp)")}',
        file=sys.stderr,
    )
    print(
        '| nodes | ready after launch (s), median [min-max] | resident memory, whole tree '
        '(MiB) | MiB per node | SIGINT to exit (s), median [min-max] |'
    )
    print('|---|---|---|---|---|')
    for n in args.nodes:
        runs = []
        for r in range(args.repeat):
            runs.append(run_once(n, args.domain_id))
            print(
                f'  n={n} run {r + 1}: ready {runs[-1][0]:.2f} s, {runs[-1][1]:.0f} MiB, '
                f'exit {runs[-1][2]:.2f} s',
                file=sys.stderr,
                flush=True,
            )
        ready = [r[0] for r in runs]
        rss = statistics.median(r[1] for r in runs)
        down = [r[2] for r in runs]
        print(
            f'| {n} | {statistics.median(ready):.2f} [{min(ready):.2f}-{max(ready):.2f}] | '
            f'{rss:.0f} | {rss / n:.0f} | '
            f'{statistics.median(down):.2f} [{min(down):.2f}-{max(down):.2f}] |',
            flush=True,
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
