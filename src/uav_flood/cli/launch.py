"""`uav-flood launch GRAPH.yaml`: start a node graph from a terminal, like `ros2 launch`.

`add_arguments()` and `run()` plug into the `uav-flood` command (src/uav_flood/cli.py).
"""

import argparse
from collections.abc import Callable
import dataclasses
import math
import os
from pathlib import Path
import shlex
import signal
import sys
import threading
from types import FrameType
from typing import Any, TypeAlias

from uav_flood.core.errors import ConfigError
from uav_flood.runner.spec import (
    build_command,
    GraphSpec,
    load_graph,
    NodeSpec,
    ParameterOverrides,
)
from uav_flood.runner.supervisor import EXIT_FAILED, Supervisor

PROG = 'uav-flood launch'
#: Exit code for a graph file (or option) that is wrong: nothing was started.
EXIT_USAGE = 2
#: The signals that shut the graph down; a second one forces it (SIGKILL).
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _duration(text: str) -> float:
    """Parse a non-negative number of seconds for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number of seconds: {text!r}') from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f'must be a finite number >= 0: {text!r}')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of `uav-flood launch` to `parser`.

    :param parser: the (sub)command's parser.
    """
    parser.add_argument(
        'graph',
        metavar='GRAPH.yaml',
        help='the node graph to start (format: docs/node_graph.md)',
    )
    parser.add_argument(
        '--color',
        choices=('auto', 'always', 'never'),
        default='auto',
        help='colour the [node] prefixes and node logs (default: auto, i.e. on a terminal '
        'unless NO_COLOR is set)',
    )
    parser.add_argument(
        '--log-dir',
        type=Path,
        metavar='DIR',
        help="also write each node's output to DIR/<node label>.log",
    )
    parser.add_argument(
        '--sigint-timeout',
        type=_duration,
        default=3.0,
        metavar='S',
        help='on shutdown, how long nodes get after SIGINT before SIGTERM (default: %(default)s)',
    )
    parser.add_argument(
        '--sigterm-timeout',
        type=_duration,
        default=2.0,
        metavar='S',
        help='then how long they get after SIGTERM before SIGKILL (default: %(default)s)',
    )
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help="check the graph, print each node's command line and exit",
    )
    parser.add_argument(
        '--live-view',
        nargs='?',
        type=_port,
        const=8765,
        metavar='PORT',
        help='also start foxglove_bridge: every topic for Foxglove on ws://127.0.0.1:PORT '
        '(default port 8765)',
    )
    parser.add_argument(
        '--record',
        type=Path,
        metavar='FILE.mcap',
        help='also start recorder: every topic of the graph into FILE.mcap (ROS 2 encodings)',
    )


def _port(text: str) -> int:
    """Parse a TCP port for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a port number: {text!r}') from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'must be 1..65535: {text!r}')
    return value


def add_viewers(graph: GraphSpec, live_view: int | None, record: Path | None) -> GraphSpec:
    """Return `graph` with a foxglove_bridge and/or a recorder node appended.

    :param live_view: the WebSocket port of foxglove_bridge, or None for none.
    :param record: the MCAP file the recorder writes, or None for none.
    :raises ConfigError: the graph already has a node with the label used, or the file's folder
        is missing, or the file exists (a recording or the graph itself would be lost).
    """
    extra: list[NodeSpec] = []
    labels = {node.label for node in graph.nodes}
    if live_view is not None:
        extra.append(
            NodeSpec(
                label='foxglove_bridge',
                executable='foxglove_bridge',
                parameters=(ParameterOverrides((('port', live_view),)),),
                source='--live-view',
            )
        )
    if record is not None:
        folder = record.resolve().parent
        if not folder.is_dir():
            raise ConfigError(f'folder {folder} does not exist', '--record')
        if record.exists() or record.is_symlink():
            raise ConfigError(
                f'{record} exists: the recorder would replace it; name a new file', '--record'
            )
        extra.append(
            NodeSpec(
                label='recorder',
                executable='recorder',
                parameters=(ParameterOverrides((('output_file', str(record.resolve())),)),),
                source='--record',
            )
        )
    for node in extra:
        if node.label in labels:
            raise ConfigError(f'the graph already has a node labelled {node.label!r}', node.source)
    nodes = graph.nodes + tuple(
        dataclasses.replace(node, index=len(graph.nodes) + i) for i, node in enumerate(extra)
    )
    return dataclasses.replace(graph, nodes=nodes)


def use_color(choice: str) -> bool:
    """Decide whether to colour output: 'always', 'never' or 'auto' (a tty, NO_COLOR unset).

    :param choice: the value of --color.
    """
    if choice == 'auto':
        return sys.stdout.isatty() and 'NO_COLOR' not in os.environ
    return choice == 'always'


def format_dry_run(graph: GraphSpec) -> str:
    """Return the dry-run listing: per node a comment line and a shell-ready command line.

    :param graph: the validated graph.
    :raises ConfigError: if an executable cannot be found.
    """
    lines = []
    for node in graph.nodes:
        policy = []
        if node.required:
            policy.append('required')
        if node.respawn:
            limit = '' if node.respawn_max is None else f', at most {node.respawn_max} times'
            policy.append(f'respawn after {node.respawn_delay:g} s{limit}')
        lines.append(f'# {node.label}' + (f' ({"; ".join(policy)})' if policy else ''))
        assignments = [f'{name}={shlex.quote(value)}' for name, value in node.env]
        lines.append(' '.join([*assignments, shlex.join(build_command(node))]))
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
    """Run `uav-flood launch` with parsed `args`; return the exit code.

    0: every node exited with 0, or the graph was shut down by Ctrl-C/SIGTERM; 1: a required
    node failed, or a node failed and then every node had exited; 2: the graph file (or an
    option) is invalid and nothing was started; 130: a second Ctrl-C forced the nodes down.

    :param args: the namespace built from add_arguments()' options.
    """
    try:
        graph = add_viewers(
            load_graph(args.graph), getattr(args, 'live_view', None), getattr(args, 'record', None)
        )
        if args.dry_run:
            print(format_dry_run(graph), flush=True)
            return 0
        log_dir: Path | None = args.log_dir
        if log_dir is not None:
            try:
                log_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                message = f'cannot create log directory: {exc.strerror}'
                raise ConfigError(message, str(log_dir)) from None
            if not os.access(log_dir, os.W_OK | os.X_OK):
                raise ConfigError('log directory is not writable', str(log_dir))
        supervisor = Supervisor(
            graph,
            color=use_color(args.color),
            out=sys.stdout,
            log_dir=log_dir,
            sigint_timeout=args.sigint_timeout,
            sigterm_timeout=args.sigterm_timeout,
        )
    except ConfigError as exc:
        print(f'{PROG}: error: {exc}', file=sys.stderr, flush=True)
        return EXIT_USAGE

    previous = _install_signal_handlers(supervisor)
    try:
        return supervisor.run()
    except OSError as exc:
        # Writing a node's log file failed; run() has already stopped the nodes.
        print(f'{PROG}: error: {exc}', file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _flush_stdout()


def _install_signal_handlers(supervisor: Supervisor) -> dict[int, _Handler]:
    """Route SHUTDOWN_SIGNALS to supervisor.request_shutdown(); return the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        # Python only lets the main thread set handlers; the caller owns signals then.
        return {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        supervisor.request_shutdown(signal.Signals(signum).name)

    previous: dict[int, _Handler] = {}
    for signum in SHUTDOWN_SIGNALS:
        previous[signum] = signal.signal(signum, on_signal)
    return previous


def _flush_stdout() -> None:
    """Flush stdout; if its reader has gone (`| head`), stop Python complaining at exit."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        finally:
            os.close(devnull)
