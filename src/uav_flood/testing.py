"""Helpers for tests of uav_flood nodes (and of packages built on them).

Plain functions, no pytest import: test/conftest.py turns them into fixtures.
"""

from collections.abc import Callable
import os
import time
from typing import Any

#: Domain ids handed to tests: 1..100 keeps every DDS port below Linux's ephemeral range.
DOMAIN_ID_MIN = 1
DOMAIN_ID_MAX = 100
#: Most pytest-xdist workers the allocator partitions the id range for.
MAX_WORKERS = 8


def worker_index(worker_id: str | None = None) -> int:
    """Return the pytest-xdist worker number (0 when not running under xdist)."""
    worker = worker_id or os.environ.get('PYTEST_XDIST_WORKER', 'gw0')
    digits = ''.join(ch for ch in worker if ch.isdigit())
    return int(digits) if digits else 0


class DomainIdAllocator:
    """Hand out ROS_DOMAIN_IDs so that parallel workers never share one.

    Worker k owns a disjoint block of the 1..100 range and cycles through it, so consecutive tests
    of one worker also get different ids (a straggler of one test cannot talk to the next).

    :param worker: the xdist worker index.
    :param workers: how many workers share the range (at most MAX_WORKERS).
    """

    def __init__(self, worker: int, workers: int = MAX_WORKERS) -> None:
        if not 0 <= worker < workers <= MAX_WORKERS:
            raise ValueError(f'worker {worker} out of range for {workers} workers')
        size = (DOMAIN_ID_MAX - DOMAIN_ID_MIN + 1) // workers
        self._first = DOMAIN_ID_MIN + worker * size
        self._size = size
        self._next = 0

    def allocate(self) -> int:
        """Return the next domain id of this worker's block."""
        domain_id = self._first + self._next % self._size
        self._next += 1
        return domain_id


def spin_until(
    executor: Any, predicate: Callable[[], bool], timeout_sec: float, step_sec: float = 0.05
) -> bool:
    """Spin `executor` until `predicate()` is true or `timeout_sec` passes; return the predicate.

    :param executor: an rclpy executor with the nodes under test added.
    :param predicate: checked before every spin step.
    :param timeout_sec: how long to wait at most (s).
    :param step_sec: the longest single spin_once wait (s).
    """
    deadline = time.monotonic() + timeout_sec
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return predicate()
        executor.spin_once(timeout_sec=min(step_sec, remaining))
    return True


def ros_env(domain_id: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """Return an environment for a child process on `domain_id`, discovering on localhost only."""
    env = dict(os.environ if base is None else base)
    env['ROS_DOMAIN_ID'] = str(domain_id)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['PYTHONUNBUFFERED'] = '1'
    return env


#: UDP ports handed to tests: below Linux's ephemeral range (32768+) and clear of PX4's 145xx.
PORT_MIN = 20000
PORT_MAX = 32000


def udp_port_free(port: int) -> bool:
    """Return True if UDP `port` can be bound on 127.0.0.1 now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


class UdpPortAllocator:
    """Hand out blocks of consecutive free UDP ports, disjoint between parallel workers.

    Tests never use the fixed PX4 SITL ports (14540+, 14550), which a real simulation on the same
    machine may hold. A block is checked free by binding every port of it on 127.0.0.1.

    :param worker: the xdist worker index.
    :param workers: how many workers share the range (at most MAX_WORKERS).
    """

    def __init__(self, worker: int, workers: int = MAX_WORKERS) -> None:
        if not 0 <= worker < workers <= MAX_WORKERS:
            raise ValueError(f'worker {worker} out of range for {workers} workers')
        size = (PORT_MAX - PORT_MIN) // workers
        self._first = PORT_MIN + worker * size
        self._size = size
        self._next = 0

    def allocate(self, count: int = 1) -> int:
        """Return the first port of `count` consecutive free UDP ports of this worker's range."""
        if not 1 <= count <= 200:
            raise ValueError(f'count {count} out of range 1..200')
        for _ in range(self._size // count + 1):
            start = self._first + self._next % (self._size - count)
            self._next += count
            if all(udp_port_free(p) for p in range(start, start + count)):
                return start
        raise RuntimeError(f'no {count} consecutive free UDP ports in {self._first}+{self._size}')
