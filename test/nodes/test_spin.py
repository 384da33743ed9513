"""spin_node's stop path, in a real process: a node stuck inside C code still says where."""

from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from uav_flood.nodes.spin import STALL_DUMP_S, STALL_EXIT_S

#: A node whose timer callback deadlocks in C on its first turn (a pthread mutex locked twice:
#: no signal interrupts that, as a middleware call that never returns).
STUCK_NODE = textwrap.dedent(
    """
    import ctypes
    import sys

    from rclpy.node import Node

    from uav_flood.nodes.spin import spin_node

    def deadlock():
        libc = ctypes.CDLL(None)
        mutex = ctypes.create_string_buffer(64)  # zeros: PTHREAD_MUTEX_INITIALIZER on glibc
        libc.pthread_mutex_lock(mutex)
        print('stuck', flush=True)
        libc.pthread_mutex_lock(mutex)

    def make():
        node = Node('stuck_node')
        node.create_timer(0.05, deadlock)
        return node

    spin_node('stuck_node', make, sys.argv)
    """
)


#: A node that spins and says so.
IDLE_NODE = textwrap.dedent(
    """
    import sys

    from rclpy.node import Node

    from uav_flood.nodes.spin import spin_node

    def make():
        node = Node('idle_node')
        node.create_timer(0.05, lambda: print('spinning', flush=True))
        return node

    spin_node('idle_node', make, sys.argv)
    """
)


def _start(script: Path, source: str, env: dict[str, str]) -> subprocess.Popen[str]:
    script.write_text(source)
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(proc: subprocess.Popen[str], text: str, timeout_s: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
    pytest.fail(f'no {text!r} within {timeout_s} s')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc mutex layout')
def test_a_node_stuck_in_c_prints_its_stacks_after_a_stop_signal(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    proc = _start(tmp_path / 'stuck.py', STUCK_NODE, child_env)
    try:
        _wait_for(proc, 'stuck', 30.0)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        time.sleep(STALL_DUMP_S + 2.0)
        assert proc.poll() is None  # really stuck: the Python handler never ran
        # With nobody left to kill it, it ends itself STALL_EXIT_S after the signal.
        code = proc.wait(timeout=STALL_EXIT_S + 10.0)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert 'most recent call first' in err
    assert 'in deadlock' in err  # the main thread's frame, where it is stuck
    assert 'Traceback' not in err
    assert code == 1 and STALL_EXIT_S - 1.0 <= took <= STALL_EXIT_S + 10.0, (code, took)
    assert err.count('most recent call first') >= 2  # dumped at 5 s and when it ended


def test_a_node_stopped_by_a_signal_exits_0_without_a_stack_dump(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    proc = _start(tmp_path / 'idle.py', IDLE_NODE, child_env)
    try:
        _wait_for(proc, 'spinning', 30.0)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STALL_DUMP_S)
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert code == 0
    assert 'most recent call first' not in err
    assert 'Traceback' not in err
