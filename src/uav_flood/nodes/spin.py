"""The shared body of every node's main(): init, spin, shut down, bad configuration -> exit 2."""

from collections.abc import Callable, Sequence
import faulthandler
import os
import select
import signal
import threading
import time
from types import FrameType
from typing import Protocol

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from uav_flood.core.errors import ConfigError

#: How long one executor turn may wait, so that a shutdown signal is seen this quickly (s).
SPIN_PERIOD_S = 0.1
#: The signals that stop a node cleanly (exit code 0).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A node still running this long after a stop signal prints where each thread is (s).
STALL_DUMP_S = 5.0
#: A node still running this long after its first stop signal exits with status 1, by
#: faulthandler's watchdog (after a second dump of the stacks). A launcher escalates to SIGKILL
#: sooner; this ends the nodes that have no launcher left, such as those whose runner was
#: killed (the parent-death SIGTERM arrived but shutdown got stuck).
STALL_EXIT_S = 12.0


def spin_node(
    name: str,
    make_node: Callable[[], Node],
    args: list[str] | None = None,
    make_executor: Callable[[], Executor] = SingleThreadedExecutor,
) -> None:
    """Run one node until Ctrl-C, SIGTERM or context shutdown (Humble, Jazzy and Kilted alike).

    See spin_nodes, which this is with one node.
    """
    spin_nodes([(name, make_node)], args, make_executor)


def spin_nodes(
    makers: Sequence[tuple[str, Callable[[], Node]]],
    args: list[str] | None = None,
    make_executor: Callable[[], Executor] = SingleThreadedExecutor,
) -> None:
    """Run nodes in one executor until Ctrl-C, SIGTERM or context shutdown.

    SIGINT and SIGTERM only set a flag that the spin loop checks between executor turns.
    rclpy's own handlers would raise KeyboardInterrupt wherever the main thread happens to be,
    and inside rclpy's message conversion that surfaces as a RuntimeError and exit code 1 (seen
    when the demo stops 15 nodes at once). With the flag the node is destroyed while its
    context is still valid, and a stop is a clean exit.

    A ConfigError from a node's constructor is logged as one fatal line and ends the process
    with exit code 2, never a traceback; so does a parameter given to a node that it does not
    declare (a typo such as ``energy_rt:=false`` would otherwise be ignored without a word).

    :param makers: (logger name for the fatal line, builder) per node, built in order after
        rclpy.init; the nodes are destroyed in the reverse order.
    :param args: command-line arguments for rclpy.init.
    :param make_executor: builds the executor the nodes spin in.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            # Asked again (the runner's SIGTERM after SIGINT): still stopping. Say where, so a
            # slow or stuck shutdown can be found in the node's log.
            get_logger(name).warning('still stopping; where each thread is:')
            faulthandler.dump_traceback(all_threads=True)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    stall_watch = _StallWatch()
    nodes: list[Node] = []
    executor = None
    code = 0
    name = makers[0][0] if makers else 'node_group'
    try:
        for node_name, make_node in makers:
            name = node_name  # the fatal line names the node that failed
            nodes.append(make_node())
            check_parameters_declared(nodes[-1])
        executor = make_executor()
        for node in nodes:
            executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:
        get_logger(name).fatal(f'bad configuration: {exc}')
        code = 2
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
        stall_watch.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code:
        raise SystemExit(code)


class _StallWatch:
    """Print every thread's stack when the node has not stopped STALL_DUMP_S after a signal.

    STALL_EXIT_S after the signal, the watchdog dumps them again and ends the process.

    The Python signal handler runs only when the main thread is back in Python code; a main
    thread stuck inside the middleware never runs it, and the launcher's SIGKILL then leaves
    no trace of where. Python's C-level handler writes each signal to a wakeup pipe in any
    case; a thread waiting on that pipe arms faulthandler's own watchdog (a C thread), which
    prints the stacks even while the main thread is stuck.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._wait, name='stall_watch', daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        try:
            first = os.read(self._read, 1)
        except OSError:
            return
        if not first:
            return  # closed: the node stopped
        faulthandler.dump_traceback_later(STALL_DUMP_S, exit=False)
        deadline = time.monotonic() + STALL_DUMP_S + 0.5
        try:
            while (left := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select([self._read], [], [], left)
                if readable and not os.read(self._read, 64):
                    return  # closed: the node stopped (close() cancels the dump)
        except (OSError, ValueError):
            return  # close() closed the pipe under us: the node stopped
        # Still running after the dump: stuck for good. Dump again and exit (status 1).
        faulthandler.dump_traceback_later(STALL_EXIT_S - STALL_DUMP_S - 0.5, exit=True)

    def close(self) -> None:
        """Stop watching: the node has stopped."""
        signal.set_wakeup_fd(self._previous)
        faulthandler.cancel_dump_traceback_later()
        os.close(self._write)  # the waiting thread reads end-of-file and ends
        self._thread.join(timeout=1.0)
        faulthandler.cancel_dump_traceback_later()
        os.close(self._read)


def undeclared_parameters(node: Node) -> list[str]:
    """Return the names of parameters given to `node` (overrides) that it never declared."""
    overrides = getattr(node, '_parameter_overrides', {})  # rclpy keeps them here, Humble on
    return sorted(name for name in overrides if not node.has_parameter(name))


def check_parameters_declared(node: Node) -> None:
    """Raise ConfigError naming the first parameter given to `node` that it does not declare."""
    unknown = undeclared_parameters(node)
    if unknown:
        more = f' (and {", ".join(unknown[1:])})' if len(unknown) > 1 else ''
        raise ConfigError(
            f'unknown parameter of {node.get_name()}{more}: see its docs for the parameters',
            unknown[0],
        )


class WorkerOwner(Protocol):
    """A node with a worker thread that waits on `_wake` and exits once `_stopping` is set."""

    _wake: threading.Condition
    _stopping: bool


def stop_worker(node: WorkerOwner, thread_attr: str) -> None:
    """Stop a node's worker thread and join it (for destroy_node).

    The worker waits on ``node._wake`` (a Condition) and exits once ``node._stopping`` is set.
    Nothing happens when the thread was never started (``__init__`` failed before it).

    :param node: the node that owns the worker.
    :param thread_attr: the attribute holding the thread.
    """
    thread: threading.Thread | None = getattr(node, thread_attr, None)
    if thread is None:
        return
    with node._wake:
        node._stopping = True
        node._wake.notify_all()
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join()
