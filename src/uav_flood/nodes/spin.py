"""The shared body of every node's main(): init, spin, shut down, bad configuration -> exit 2."""

from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node

from uav_flood.core.errors import ConfigError


def spin_node(
    name: str,
    make_node: Callable[[], Node],
    args: list[str] | None = None,
    make_executor: Callable[[], Executor] = SingleThreadedExecutor,
) -> None:
    """Run one node until Ctrl-C, SIGTERM or context shutdown (Humble, Jazzy and Kilted alike).

    A ConfigError from the node's constructor is logged as one fatal line and ends the process
    with exit code 2, never a traceback.

    :param name: the logger name for the fatal line (the node's name).
    :param make_node: builds the node (after rclpy.init).
    :param args: command-line arguments for rclpy.init.
    :param make_executor: builds the executor the node spins in.
    """
    rclpy.init(args=args)
    node = None
    executor = None
    code = 0
    try:
        node = make_node()
        executor = make_executor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:
        get_logger(name).fatal(f'bad configuration: {exc}')
        code = 2
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if code:
        raise SystemExit(code)
