"""Start every node of a graph as its own process and supervise it until the graph stops.

Each node runs in its own session and process group, so a terminal's Ctrl-C reaches only the
runner, which then shuts the nodes down in order: SIGINT to every group, SIGTERM to the groups
still alive after `sigint_timeout`, SIGKILL after `sigterm_timeout`. A second shutdown request
(a second Ctrl-C) skips straight to SIGKILL. Nodes are started through
``setpriv --pdeathsig TERM`` where util-linux provides it, so that they also stop when the runner
itself is killed with SIGKILL and has no chance to clean up.

The output of every node (stdout and stderr merged) is printed line by line as
``[label] line``; the runner's own messages are printed as ``[launch] ...``.

Nothing here imports rclpy: the nodes are plain processes to the supervisor.
"""

from collections.abc import Mapping
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import IO, TextIO

from uav_flood.runner.spec import (
    build_command,
    GraphSpec,
    merge_groups,
    node_environment,
    NodeSpec,
    resolve_executable,
    RUNNER_LABEL,
)

#: Exit code: every node exited with 0, or the graph was shut down on request (Ctrl-C, SIGTERM).
EXIT_OK = 0
#: Exit code: a required node failed, or the last node exited and some node had failed.
EXIT_FAILED = 1
#: Exit code: a second shutdown request forced the nodes down with SIGKILL (128 + SIGINT).
EXIT_FORCED = 130

#: ANSI colours of node labels, assigned in graph order (red is left for nothing to alarm).
PALETTE = (
    '\033[32m',
    '\033[33m',
    '\033[34m',
    '\033[35m',
    '\033[36m',
    '\033[92m',
    '\033[93m',
    '\033[94m',
    '\033[95m',
    '\033[96m',
)
RUNNER_STYLE = '\033[1m'
RESET = '\033[0m'

#: How often the main loop looks at the children and the shutdown requests (s).
POLL_INTERVAL_S = 0.05
#: How long to wait for the rest of an exited node's output (s). Only a process that left the
#: node's process group but kept its stdout can hold the pipe open that long.
READER_JOIN_TIMEOUT_S = 2.0
#: How long to wait for SIGKILLed processes to be reaped before giving up on them (s).
KILL_WAIT_S = 5.0

_ANSI_ESCAPE = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


def describe_exit(returncode: int) -> str:
    """Return 'exited with code 3' or 'killed by SIGKILL' for a Popen return code.

    :param returncode: the code; negative values are the signal that ended the process.
    """
    if returncode >= 0:
        return f'exited with code {returncode}'
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f'signal {-returncode}'
    return f'killed by {name}'


def _seconds(value: float) -> str:
    """Write a duration the way people type it: '1.0', '0.25', '3.0'."""
    return f'{value:.1f}' if round(value, 1) == value else f'{value:g}'


class _Node:
    """The runtime state of one node: its current process, output reader and respawn count."""

    def __init__(self, spec: NodeSpec, command: list[str], color: str) -> None:
        self.spec = spec
        self.command = command
        self.color = color
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None
        self.log_file: IO[str] | None = None
        self.restarts = 0
        self.respawn_at: float | None = None
        self.last_code: int | None = None
        #: True once the node has exited and will not be started again.
        self.done = False
        #: The signal the shutdown had to escalate to for this node (SIGTERM, SIGKILL), if any.
        self.forced: str | None = None

    @property
    def label(self) -> str:
        return self.spec.label


class Supervisor:
    """Run the nodes of `graph` as processes until they have all stopped.

    `run()` blocks the calling thread, which must be the main thread (the parent-death signal
    of each child is tied to the thread that started it). Signal handlers are the caller's job:
    install ones that call `request_shutdown()` (see cli/launch.py).

    :param graph: the validated graph.
    :param color: colour the `[label]` prefixes (and let rcutils colour node logs).
    :param out: where the prefixed output goes (default: sys.stdout).
    :param log_dir: if set, also write each node's output to `log_dir/<label>.log`.
    :param sigint_timeout: how long nodes get to stop after SIGINT before SIGTERM (s).
    :param sigterm_timeout: how long nodes get to stop after SIGTERM before SIGKILL (s).
    :param env: the environment the nodes start from (default: this process's environment).
    :param pdeathsig: start nodes through `setpriv --pdeathsig TERM` if it is available.
    :raises ConfigError: if a node's executable cannot be found.
    """

    def __init__(
        self,
        graph: GraphSpec,
        *,
        color: bool = False,
        out: TextIO | None = None,
        log_dir: Path | None = None,
        sigint_timeout: float = 3.0,
        sigterm_timeout: float = 2.0,
        env: Mapping[str, str] | None = None,
        pdeathsig: bool = True,
    ) -> None:
        # The nodes of a group share one node_group process: one entry, one label, from here on.
        graph = merge_groups(graph)
        self.graph = graph
        self._color = color
        self._out = out if out is not None else sys.stdout
        self._log_dir = log_dir
        self._sigint_timeout = sigint_timeout
        self._sigterm_timeout = sigterm_timeout
        base = dict(os.environ if env is None else env)
        # Children write to a pipe: unbuffered Python keeps their lines in order and on time.
        base['PYTHONUNBUFFERED'] = '1'
        base['RCUTILS_COLORIZED_OUTPUT'] = '1' if color else '0'
        self._env = base
        # Resolve every executable before anything starts: a typo must not half-start a fleet.
        self._nodes = [
            _Node(
                spec,
                build_command(spec, resolve_executable(spec, base.get('PATH'))),
                PALETTE[i % len(PALETTE)],
            )
            for i, spec in enumerate(graph.nodes)
        ]
        self._setpriv = _usable_setpriv() if pdeathsig else None
        self._want_pdeathsig = pdeathsig
        self._lock = threading.Lock()
        self._out_broken = False
        # Appended to by request_shutdown(), which may run inside a signal handler: a list
        # append is atomic and takes no lock the interrupted main thread might hold.
        self._requests: list[str] = []
        self._stopping: str | None = None
        self._stop_failed = False
        self._forced = False
        self._phase: signal.Signals | None = None
        self._deadline = 0.0
        self._ran = False

    def pids(self) -> dict[str, int]:
        """Return label -> pid of every node process running now."""
        with self._lock:
            return {
                node.label: node.process.pid
                for node in self._nodes
                if node.process is not None and node.process.returncode is None
            }

    @property
    def commands(self) -> dict[str, list[str]]:
        """Return each node's command line (without the setpriv wrapper), by label."""
        return {node.label: list(node.command) for node in self._nodes}

    def outcomes(self) -> dict[str, tuple[int | None, int]]:
        """Return (last exit code, restarts) per node label.

        The exit code is None while the node runs or if it never ran.
        """
        with self._lock:
            return {node.label: (node.last_code, node.restarts) for node in self._nodes}

    def forced_stops(self) -> dict[str, str]:
        """Return label -> signal name for each node the shutdown had to escalate to stop.

        A node that ignored SIGINT for `sigint_timeout` got SIGTERM, then SIGKILL; a second
        shutdown request SIGKILLs every node still running.
        """
        with self._lock:
            return {node.label: node.forced for node in self._nodes if node.forced}

    @property
    def labels(self) -> list[str]:
        """Return every node's label, in graph order."""
        return [node.label for node in self._nodes]

    def kill_node(self, label: str) -> str:
        """SIGKILL one node's process group now (fault injection); return what happened.

        Safe to call from another thread. The node's exit is then handled as any other: it
        is respawned if its policy says so.

        :raises KeyError: no node has this label.
        """
        node = next((n for n in self._nodes if n.label == label), None)
        if node is None:
            raise KeyError(label)
        process = node.process
        if process is None:
            return f'{label} is not running: nothing to kill'
        _killpg(process.pid, signal.SIGKILL)
        self._log(f'{label} killed on request (SIGKILL, pid {process.pid})', node)
        return f'killed {label} (SIGKILL, pid {process.pid})'

    def request_shutdown(self, reason: str = 'shutdown requested') -> None:
        """Ask the running supervisor to shut the graph down; a second request forces SIGKILL.

        Safe to call from a signal handler or from another thread.

        :param reason: shown in the log, e.g. 'SIGINT'.
        """
        self._requests.append(reason)

    def run(self) -> int:
        """Start the graph, supervise it until every node has stopped, return the exit code.

        :return: EXIT_OK, EXIT_FAILED or EXIT_FORCED (see the module constants).
        """
        if self._ran:
            raise RuntimeError('a Supervisor runs its graph once')
        self._ran = True
        try:
            self._open_logs()
            if self._want_pdeathsig and self._setpriv is None:
                self._log(
                    'setpriv (util-linux) not usable: nodes keep running if this runner is '
                    'killed with SIGKILL'
                )
            for node in self._nodes:
                if self._requests or self._stopping is not None:
                    # Shutting down already (Ctrl-C, or a required node failed to start).
                    break
                self._start(node)
            code = self._supervise()
        finally:
            self._kill_leftovers()
            self._log('all nodes stopped')
            self._close_logs()
        return code

    # --- The main loop ----------------------------------------------------------------------

    def _supervise(self) -> int:
        handled = 0
        while True:
            while handled < len(self._requests):
                reason = self._requests[handled]
                handled += 1
                if self._stopping is None:
                    self._log(f'shutting down ({reason})')
                    self._begin_shutdown(reason)
                elif not self._forced:
                    self._force(reason)
            self._collect_exits()
            if self._stopping is None:
                self._respawn_due()
            else:
                self._advance_shutdown()
            if all(node.done for node in self._nodes):
                break
            time.sleep(POLL_INTERVAL_S)
        if self._forced:
            return EXIT_FORCED
        if self._stopping is not None:
            return EXIT_FAILED if self._stop_failed else EXIT_OK
        return EXIT_OK if all(node.last_code == 0 for node in self._nodes) else EXIT_FAILED

    def _start(self, node: _Node) -> None:
        argv = node.command
        if self._setpriv is not None:
            # Exec'd by setpriv, so the node keeps setpriv's pid: one process, one group.
            argv = [self._setpriv, '--pdeathsig', 'TERM', '--', *argv]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=node_environment(node.spec, self._env),
                # Own session and group: the terminal's Ctrl-C goes to the runner only, and the
                # runner can signal a node together with everything it spawned.
                start_new_session=True,
            )
        except OSError as exc:
            self._log(f'failed to start {node.label}: {exc.strerror or exc}', node)
            self._handle_exit(node, 127)
            return
        assert process.stdout is not None
        node.process = process
        node.reader = threading.Thread(
            target=self._pump,
            args=(node, process.stdout),
            name=f'output of {node.label}',
            daemon=True,
        )
        node.reader.start()
        self._log(f'started {node.label} (pid {process.pid})', node)

    def _collect_exits(self) -> None:
        for node in self._nodes:
            process = node.process
            if process is None:
                continue
            try:
                # WNOWAIT leaves the exited leader a zombie, so its pid (the group id) cannot be
                # reused while the rest of its group is killed below.
                exited = (
                    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                    is not None
                )
            except ChildProcessError:
                exited = process.poll() is not None
            if not exited:
                continue
            # Whatever the node spawned in its group goes with it: no orphans outlive a node.
            _killpg(process.pid, signal.SIGKILL)
            returncode = process.wait()
            self._drain(node)
            node.process = None
            self._log(f'{node.label} {describe_exit(returncode)}', node)
            self._handle_exit(node, returncode)

    def _handle_exit(self, node: _Node, returncode: int) -> None:
        """Apply the node's exit policy: shut down, respawn, or let it go."""
        node.last_code = returncode
        spec = node.spec
        if self._stopping is not None:
            node.done = True
        elif spec.required:
            node.done = True
            self._log(f'required node {node.label} exited: shutting down')
            self._stop_failed = returncode != 0
            self._begin_shutdown(f'required node {node.label} exited')
        elif spec.respawn and (spec.respawn_max is None or node.restarts < spec.respawn_max):
            node.respawn_at = time.monotonic() + spec.respawn_delay
            self._log(f'respawning {node.label} in {_seconds(spec.respawn_delay)} s', node)
        else:
            if spec.respawn:
                self._log(
                    f'{node.label} was respawned {node.restarts} times (respawn_max): '
                    'not respawning',
                    node,
                )
            node.done = True

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for node in self._nodes:
            if node.respawn_at is not None and now >= node.respawn_at:
                node.respawn_at = None
                node.restarts += 1
                self._start(node)

    # --- Shutdown ---------------------------------------------------------------------------

    def _running(self) -> list[_Node]:
        return [node for node in self._nodes if node.process is not None]

    def _begin_shutdown(self, reason: str) -> None:
        self._stopping = reason
        for node in self._nodes:
            if node.process is None:
                # Pending respawns are cancelled; nodes that never run again are done.
                node.respawn_at = None
                node.done = True
        self._signal_running(signal.SIGINT)
        self._phase = signal.SIGINT
        self._deadline = time.monotonic() + self._sigint_timeout

    def _force(self, reason: str) -> None:
        self._forced = True
        self._log(f'second shutdown request ({reason}): killing all nodes (SIGKILL)')
        for node in self._running():
            node.forced = signal.SIGKILL.name
        self._signal_running(signal.SIGKILL)
        self._phase = signal.SIGKILL
        self._deadline = time.monotonic() + KILL_WAIT_S

    def _advance_shutdown(self) -> None:
        running = self._running()
        if not running or time.monotonic() < self._deadline:
            return
        if self._phase == signal.SIGINT:
            waited, next_signal, timeout = (
                self._sigint_timeout,
                signal.SIGTERM,
                self._sigterm_timeout,
            )
        elif self._phase == signal.SIGTERM:
            waited, next_signal, timeout = self._sigterm_timeout, signal.SIGKILL, KILL_WAIT_S
        else:
            # SIGKILL cannot be ignored; a process that survives it is stuck in the kernel.
            for node in running:
                assert node.process is not None
                self._log(f'{node.label} (pid {node.process.pid}) survived SIGKILL: giving up')
                node.process = None
                node.done = True
            return
        assert self._phase is not None
        for node in running:
            self._log(
                f'{node.label} still running {_seconds(waited)} s after {self._phase.name}: '
                f'sending {next_signal.name}',
                node,
            )
            node.forced = next_signal.name
        self._signal_running(next_signal)
        self._phase = next_signal
        self._deadline = time.monotonic() + timeout

    def _signal_running(self, sig: signal.Signals) -> None:
        for node in self._running():
            assert node.process is not None
            _killpg(node.process.pid, sig)

    def _kill_leftovers(self) -> None:
        """Kill and reap whatever still runs when run() ends, normally nothing.

        Only an exception (or a process stuck in the kernel) leaves a node behind here.
        """
        for node in self._nodes:
            process = node.process
            if process is None:
                continue
            _killpg(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                continue
            self._drain(node)
            node.process = None

    # --- Output -----------------------------------------------------------------------------

    def _pump(self, node: _Node, pipe: IO[bytes]) -> None:
        """Copy one child's output to the runner's output, line by line (reader thread)."""
        with pipe:
            for raw in iter(pipe.readline, b''):
                line = raw.decode('utf-8', errors='replace').rstrip('\r\n')
                self._emit(node.label, node.color, line, node.log_file)

    def _drain(self, node: _Node) -> None:
        """Wait for the reader of an exited node, so its last lines come before 'exited'."""
        reader = node.reader
        if reader is None:
            return
        reader.join(READER_JOIN_TIMEOUT_S)
        if reader.is_alive():
            self._log(
                f'{node.label}: output still open after the node exited (a process that left '
                'its process group?); no longer waiting for it'
            )
        node.reader = None

    def _log(self, message: str, node: _Node | None = None) -> None:
        """Print one of the runner's own messages, also into `node`'s log file if given."""
        self._emit(RUNNER_LABEL, RUNNER_STYLE, message, node.log_file if node else None)

    def _emit(self, label: str, style: str, line: str, log_file: IO[str] | None) -> None:
        prefix = f'{style}[{label}]{RESET}' if self._color else f'[{label}]'
        with self._lock:
            if log_file is not None:
                plain = _ANSI_ESCAPE.sub('', line)
                own = label != RUNNER_LABEL
                try:
                    log_file.write(f'{plain}\n' if own else f'[{RUNNER_LABEL}] {plain}\n')
                except (OSError, ValueError):
                    pass
            if self._out_broken:
                return
            try:
                self._out.write(f'{prefix} {line}\n')
                self._out.flush()
            except (OSError, ValueError):
                # The reader of our output went away (`| head`); keep supervising regardless.
                self._out_broken = True

    def _open_logs(self) -> None:
        if self._log_dir is None:
            return
        for node in self._nodes:
            path = self._log_dir / f'{node.label}.log'
            path.parent.mkdir(parents=True, exist_ok=True)
            node.log_file = path.open('w', encoding='utf-8', buffering=1)

    def _close_logs(self) -> None:
        with self._lock:
            for node in self._nodes:
                if node.log_file is not None:
                    node.log_file.close()
                    node.log_file = None


def _killpg(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`; a group that is already gone is fine."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        # Some member changed its credentials; the others still got the signal.
        pass


def _usable_setpriv() -> str | None:
    """Return the path of a setpriv that supports --pdeathsig, or None.

    util-linux before 2.33 has setpriv without --pdeathsig; every node would fail to start.
    """
    setpriv = shutil.which('setpriv')
    true = shutil.which('true')
    if setpriv is None or true is None:
        return setpriv
    try:
        probe = subprocess.run(
            [setpriv, '--pdeathsig', 'TERM', '--', true],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return setpriv if probe.returncode == 0 else None
