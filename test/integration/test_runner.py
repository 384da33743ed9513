"""`uav-flood launch` with real processes: a ROS 2 fleet, exit policies, signals and cleanup.

Each test starts the runner as a subprocess (as a user would), reads its output as it comes, and
tags it with a unique environment variable that every node inherits, so that the test can
check in /proc that no process of the graph outlives the runner.
"""

import io
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from uav_flood.runner.spec import NodeSpec, resolve_executable
from uav_flood.testing import spin_until

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET = REPO_ROOT / 'config' / 'graphs' / 'ping_fleet.yaml'
MARKER = 'UAV_FLOOD_TEST_MARKER'
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def runner_command(bin_dir):
    """Return the argv prefix that runs `uav-flood launch`, the command users run."""
    return [str(bin_dir / 'uav-flood'), 'launch']


def marked_pids(marker):
    """Return the pids of processes whose environment carries MARKER=marker (this one excluded)."""
    needle = f'{MARKER}={marker}'.encode()
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path('/proc', entry, 'environ').read_bytes()
        except OSError:
            continue  # gone already, or not ours to read
        if needle in environ.split(b'\0'):
            pids.append(int(entry))
    return pids


def wait_for_no_marked(marker, timeout=15.0):
    """Wait until no process carries the marker; return the ones left at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


class Runner:
    """A `uav-flood launch` subprocess whose output a thread collects line by line."""

    def __init__(self, bin_dir, env, graph, *options):
        self.marker = uuid.uuid4().hex
        self.process = subprocess.Popen(
            [*runner_command(bin_dir), str(graph), *options],
            env={**env, MARKER: self.marker},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors='replace',
        )
        self.raw_lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.raw_lines.append(line.rstrip('\n'))

    @property
    def lines(self):
        return [ANSI.sub('', line) for line in list(self.raw_lines)]

    @property
    def output(self):
        return '\n'.join(self.lines)

    def wait_for(self, pattern, start=0, timeout=20.0):
        """Wait for a line matching `pattern` at index >= start; return (index, match)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.lines[start:], start):
                match = regex.search(line)
                if match:
                    return index, match
            if time.monotonic() > deadline:
                pytest.fail(f'no line matching {pattern!r} within {timeout} s:\n{self.output}')
            if self.process.poll() is not None and not self._reader.is_alive():
                pytest.fail(f'runner exited before printing {pattern!r}:\n{self.output}')
            time.sleep(0.05)

    def started_pid(self, label, start=0):
        """Wait for '[launch] started LABEL (pid N)'; return (index, N)."""
        index, match = self.wait_for(
            rf'^\[launch\] started {re.escape(label)} \(pid (\d+)\)$', start
        )
        return index, int(match.group(1))

    def wait(self, timeout=20.0):
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f'runner still running after {timeout} s:\n{self.output}')
        self._reader.join(5.0)
        return code

    def stop(self):
        """Leave nothing behind, whatever state the test failed in."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in marked_pids(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reader.join(5.0)
        self.process.stdout.close()


def script(path, body):
    """Write an executable Python script (a stand-in node) and return its path."""
    path.write_text(f'#!{sys.executable}\n' + textwrap.dedent(body), encoding='utf-8')
    path.chmod(0o755)
    return path


def call(executor, client, request, timeout=5.0):
    """Call a service once; return the response, or None if there was none within `timeout`."""
    if not spin_until(executor, client.service_is_ready, timeout):
        return None
    future = client.call_async(request)
    if not spin_until(executor, future.done, timeout):
        # Lost while discovery settles (e.g. a request sent before the reply path matched).
        client.remove_pending_request(future)
        return None
    return future.result()


def call_until(executor, client, request, accept, timeout=20.0):
    """Call a service until `accept(response)`; return the last response (None if none)."""
    deadline = time.monotonic() + timeout
    response = None
    while time.monotonic() < deadline:
        response = call(executor, client, request, min(5.0, deadline - time.monotonic()))
        if response is not None and accept(response):
            return response
    return response


# --- Without ROS: dry run, bad input, exit codes, logs ----------------------------------------


def test_dry_run_prints_each_command_line(bin_dir, child_env):
    result = subprocess.run(
        [*runner_command(bin_dir), '--dry-run', str(FLEET)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    params = REPO_ROOT / 'config' / 'ping_responder.yaml'
    # Wherever this installation keeps it (venv bin/, or lib/uav_flood/ of a colcon install).
    exe = resolve_executable(NodeSpec(label='ping_responder', executable='ping_responder'))
    assert result.stdout.splitlines() == [
        '# uav0/ping_responder (required)',
        f'{exe} --ros-args -r __ns:=/uav0 --params-file {params} '
        """-p 'reply_prefix:="uav0:"'""",
        '# uav1/ping_responder (respawn after 1 s)',
        f'{exe} --ros-args -r __ns:=/uav1 --params-file {params} '
        """-p 'reply_prefix:="uav1:"'""",
        '# uav2/ping_responder',
        f'{exe} --ros-args -r __node:=ping_responder -r __ns:=/uav2 --params-file {params} '
        """-p 'reply_prefix:="uav2:"'""",
    ]


def test_live_view_and_record_add_their_nodes(bin_dir, child_env, tmp_path):
    result = subprocess.run(
        [
            *runner_command(bin_dir),
            '--dry-run',
            '--live-view',
            '9123',
            '--record',
            str(tmp_path / 'mission.mcap'),
            str(FLEET),
        ],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-4] == '# foxglove_bridge'
    assert lines[-3].endswith('foxglove_bridge --ros-args -p port:=9123')
    assert lines[-2] == '# recorder'
    assert f'output_file:="{tmp_path / "mission.mcap"}"' in lines[-1]
    missing = subprocess.run(
        [*runner_command(bin_dir), '--dry-run', '--record', '/no/such/dir/x.mcap', str(FLEET)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        'uav-flood launch: error: --record: folder /no/such/dir does not exist'
    )


def test_record_writes_a_readable_mcap_of_the_graph(bin_dir, child_env, tmp_path):
    import socket

    from uav_flood.recording.mcap_io import topic_summary

    port = free_tcp_port()
    out = tmp_path / 'mission.mcap'
    proc = subprocess.Popen(
        [*runner_command(bin_dir), '--live-view', str(port), '--record', str(out), str(FLEET)],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        listening = False
        while time.monotonic() < deadline and not (listening and out.exists()):
            with socket.socket() as probe:
                listening = probe.connect_ex(('127.0.0.1', port)) == 0
            time.sleep(0.2)
        assert listening, 'foxglove_bridge never listened'
        assert out.exists(), 'recorder never opened its file'
        time.sleep(2.0)  # let discovery subscribe to the graph's topics
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output[-3000:]
    topics = topic_summary(out)  # the summary exists only if the recorder closed the file
    assert '/parameter_events' in topics, topics


def free_tcp_port():
    import socket

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    'graph_text, message',
    [
        (
            'nodes:\n  - {executable: ping_responder, label: uav2/ping_responder, '
            'namespce: /uav2}\n',
            "nodes[0] (uav2/ping_responder): unknown key 'namespce' (did you mean 'namespace'?)",
        ),
        (
            'nodes:\n  - {executable: no_such_node_xyz}\n',
            "nodes[0] (no_such_node_xyz): executable 'no_such_node_xyz' not found",
        ),
    ],
)
def test_bad_graph_exits_2_with_one_line(bin_dir, child_env, tmp_path, graph_text, message):
    graph = tmp_path / 'graph.yaml'
    graph.write_text(graph_text, encoding='utf-8')
    result = subprocess.run(
        [*runner_command(bin_dir), str(graph)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f'uav-flood launch: error: {graph}: {message}')


def test_exit_codes_respawn_max_last_lines_env_colour_and_logs(bin_dir, child_env, tmp_path):
    ok = script(
        tmp_path / 'ok.py',
        """\
        import os
        print('run', os.environ['PYTHONUNBUFFERED'], os.environ['RCUTILS_COLORIZED_OUTPUT'],
              os.environ['NODE_SETTING'])
        """,
    )
    failing = script(
        tmp_path / 'failing.py',
        """\
        import sys, time
        time.sleep(0.5)
        print('first words')
        sys.stdout.write('last words without a newline')
        sys.stdout.flush()
        sys.exit(3)
        """,
    )
    graph = tmp_path / 'graph.yaml'
    graph.write_text(
        textwrap.dedent(
            f"""\
            nodes:
              - {{executable: {ok}, label: ok, env: {{NODE_SETTING: x1}},
                  respawn: true, respawn_delay: 0, respawn_max: 2}}
              - {{executable: {failing}, label: failing}}
            """
        ),
        encoding='utf-8',
    )
    logs = tmp_path / 'logs'
    runner = Runner(bin_dir, child_env, graph, '--color', 'always', '--log-dir', str(logs))
    try:
        # Not every node exited with 0, so the runner reports failure once all have exited.
        assert runner.wait() == 1, runner.output
    finally:
        runner.stop()
    lines = runner.lines
    assert sum(line.startswith('[launch] started ok (pid ') for line in lines) == 3
    assert lines.count('[ok] run 1 1 x1') == 3
    assert '[launch] ok was respawned 2 times (respawn_max): not respawning' in lines
    end = lines.index('[launch] failing exited with code 3')
    assert lines[end - 2 : end] == [
        '[failing] first words',
        '[failing] last words without a newline',
    ]
    assert lines[-1] == '[launch] all nodes stopped'
    assert '\x1b[32m[ok]\x1b[0m run 1 1 x1' in runner.raw_lines
    assert any(line.startswith('\x1b[1m[launch]\x1b[0m ') for line in runner.raw_lines)

    ok_log = (logs / 'ok.log').read_text(encoding='utf-8').splitlines()
    assert ok_log.count('run 1 1 x1') == 3
    assert ok_log[-1] == '[launch] ok was respawned 2 times (respawn_max): not respawning'
    failing_log = (logs / 'failing.log').read_text(encoding='utf-8')
    assert 'first words\nlast words without a newline\n' in failing_log
    assert '\x1b[' not in failing_log + '\n'.join(ok_log)


def test_required_node_that_exits_0_stops_the_graph_with_0(bin_dir, child_env, tmp_path):
    done = script(tmp_path / 'done.py', 'import time\ntime.sleep(0.5)\nprint("done")\n')
    sleeper = script(tmp_path / 'sleeper.py', 'import time\nprint("ready")\ntime.sleep(60)\n')
    graph = tmp_path / 'graph.yaml'
    graph.write_text(
        f'nodes:\n  - {{executable: {done}, required: true}}\n  - {{executable: {sleeper}}}\n',
        encoding='utf-8',
    )
    runner = Runner(bin_dir, child_env, graph)
    try:
        assert runner.wait() == 0, runner.output
        assert wait_for_no_marked(runner.marker) == []
    finally:
        runner.stop()
    lines = runner.lines
    assert '[launch] required node done.py exited: shutting down' in lines
    assert '[launch] sleeper.py killed by SIGINT' in lines


def test_supervisor_in_process(child_env, tmp_path, monkeypatch):
    """The Supervisor class on its own: output stream, commands, request_shutdown()."""
    from uav_flood.runner import supervisor as supervisor_module
    from uav_flood.runner.spec import load_graph

    sleeper = script(tmp_path / 'sleeper.py', 'import time\nprint("ready")\ntime.sleep(60)\n')
    graph_file = tmp_path / 'graph.yaml'
    graph_file.write_text(
        f'nodes:\n  - {{executable: {sleeper}, arguments: [-v], namespace: /uav5}}\n',
        encoding='utf-8',
    )
    # As on a machine without util-linux: the runner says what it cannot guarantee.
    monkeypatch.setattr(supervisor_module, '_usable_setpriv', lambda: None)
    out = io.StringIO()
    supervisor = supervisor_module.Supervisor(
        load_graph(graph_file), out=out, env=child_env, sigint_timeout=5.0
    )
    assert supervisor.commands == {
        'uav5/sleeper.py': [str(sleeper), '-v', '--ros-args', '-r', '__ns:=/uav5']
    }

    def stop_when_ready():
        deadline = time.monotonic() + 20.0
        while '[uav5/sleeper.py] ready' not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.request_shutdown('test')

    stopper = threading.Thread(target=stop_when_ready)
    stopper.start()
    try:
        assert supervisor.run() == 0
    finally:
        stopper.join()
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        '[launch] setpriv (util-linux) not usable: nodes keep running if this runner is '
        'killed with SIGKILL'
    )
    assert '[launch] shutting down (test)' in lines
    assert '[launch] uav5/sleeper.py killed by SIGINT' in lines
    assert lines[-1] == '[launch] all nodes stopped'
    with pytest.raises(RuntimeError, match='runs its graph once'):
        supervisor.run()


# --- Shutdown escalation ---------------------------------------------------------------------

STUBBORN = """\
import signal, time
for name in {signals!r}:
    signal.signal(getattr(signal, name), signal.SIG_IGN)
print('ready', flush=True)
while True:
    time.sleep(1)
"""

PARENT = """\
import subprocess, sys, time
# A grandchild that ignores SIGINT and SIGTERM: only the group SIGKILL after its parent
# has exited can stop it.
subprocess.Popen([sys.executable, {stubborn!r}])
time.sleep(0.5)
print('ready', flush=True)
time.sleep(60)
"""


def stubborn_graph(tmp_path):
    ignore_int = script(tmp_path / 'ignore_int.py', STUBBORN.format(signals=['SIGINT']))
    ignore_all = script(tmp_path / 'ignore_all.py', STUBBORN.format(signals=['SIGINT', 'SIGTERM']))
    parent = script(tmp_path / 'parent.py', PARENT.format(stubborn=str(ignore_all)))
    graph = tmp_path / 'graph.yaml'
    graph.write_text(
        'nodes:\n'
        f'  - {{executable: {ignore_int}, label: ignore_int}}\n'
        f'  - {{executable: {ignore_all}, label: ignore_all}}\n'
        f'  - {{executable: {parent}, label: parent}}\n',
        encoding='utf-8',
    )
    return graph


def test_nodes_that_ignore_sigint_are_escalated(bin_dir, child_env, tmp_path):
    graph = stubborn_graph(tmp_path)
    runner = Runner(bin_dir, child_env, graph, '--sigint-timeout', '1', '--sigterm-timeout', '1')
    try:
        for label in ('ignore_int', 'ignore_all', 'parent'):
            runner.wait_for(rf'^\[{label}\] ready$')
        runner.process.send_signal(signal.SIGINT)
        assert runner.wait() == 0, runner.output
        assert wait_for_no_marked(runner.marker, timeout=5.0) == []
    finally:
        runner.stop()
    lines = runner.lines
    assert '[launch] shutting down (SIGINT)' in lines
    assert '[launch] parent killed by SIGINT' in lines
    for label in ('ignore_int', 'ignore_all'):
        assert f'[launch] {label} still running 1.0 s after SIGINT: sending SIGTERM' in lines
    assert '[launch] ignore_int killed by SIGTERM' in lines
    assert '[launch] ignore_all still running 1.0 s after SIGTERM: sending SIGKILL' in lines
    assert '[launch] ignore_all killed by SIGKILL' in lines
    assert lines[-1] == '[launch] all nodes stopped'


def test_the_supervisor_says_which_nodes_it_had_to_stop_by_force(child_env, tmp_path):
    from uav_flood.runner.spec import load_graph
    from uav_flood.runner.supervisor import Supervisor

    graph = stubborn_graph(tmp_path)
    out = io.StringIO()
    supervisor = Supervisor(
        load_graph(graph), out=out, env=child_env, sigint_timeout=1.0, sigterm_timeout=1.0
    )

    def stop_when_ready():
        deadline = time.monotonic() + 20.0
        while out.getvalue().count('] ready') < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.request_shutdown('test')

    stopper = threading.Thread(target=stop_when_ready)
    stopper.start()
    try:
        assert supervisor.run() == 0
    finally:
        stopper.join()
    # parent stopped on SIGINT; the others needed SIGTERM, and one of them SIGKILL as well.
    assert supervisor.forced_stops() == {'ignore_int': 'SIGTERM', 'ignore_all': 'SIGKILL'}


def test_second_sigint_kills_at_once(bin_dir, child_env, tmp_path):
    graph = stubborn_graph(tmp_path)
    runner = Runner(bin_dir, child_env, graph, '--sigint-timeout', '60')
    try:
        for label in ('ignore_int', 'ignore_all', 'parent'):
            runner.wait_for(rf'^\[{label}\] ready$')
        runner.process.send_signal(signal.SIGINT)
        runner.wait_for(r'^\[launch\] parent killed by SIGINT$')
        runner.process.send_signal(signal.SIGINT)
        # 130 (forced), long before the 60 s SIGINT timeout.
        assert runner.wait(timeout=15.0) == 130, runner.output
        assert wait_for_no_marked(runner.marker, timeout=5.0) == []
    finally:
        runner.stop()
    lines = runner.lines
    assert '[launch] second shutdown request (SIGINT): killing all nodes (SIGKILL)' in lines
    assert '[launch] ignore_int killed by SIGKILL' in lines
    assert '[launch] ignore_all killed by SIGKILL' in lines


# --- A ROS 2 fleet ---------------------------------------------------------------------------


def fleet_graph(tmp_path):
    """Write the example fleet's policies with test values (a faster respawn, remapping)."""
    (tmp_path / 'params.yaml').write_text(
        "/**:\n  ros__parameters:\n    reply_prefix: 'file:'\n", encoding='utf-8'
    )
    graph = tmp_path / 'fleet.yaml'
    graph.write_text(
        textwrap.dedent(
            """\
            nodes:
              - executable: ping_responder
                namespace: /uav0
                parameters: [params.yaml, {reply_prefix: 'uav0:'}]
                required: true
              - executable: ping_responder
                namespace: /uav1
                parameters: [params.yaml]
                respawn: true
                respawn_delay: 0.5
              - executable: ping_responder
                namespace: /uav2
                name: responder
                parameters: [params.yaml, {reply_prefix: '007'}]
                remappings: {pong: echo}
            """
        ),
        encoding='utf-8',
    )
    return graph


def test_fleet_namespaces_parameters_and_exit_policies(
    ros_context, executor, child_env, bin_dir, tmp_path
):
    from rcl_interfaces.srv import GetParameters
    import rclpy
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    runner = Runner(bin_dir, child_env, fleet_graph(tmp_path))
    try:
        pids = {
            label: runner.started_pid(label)[1]
            for label in ('uav0/ping_responder', 'uav1/ping_responder', 'uav2/responder')
        }
        probe = rclpy.create_node('probe', context=ros_context)
        executor.add_node(probe)
        trigger = {
            ns: probe.create_client(Trigger, f'/{ns}/ping') for ns in ('uav0', 'uav1', 'uav2')
        }

        # 1. Namespaces and node names reach every process ...
        for ns, fqn, label in (
            ('uav0', '/uav0/ping_responder', 'uav0/ping_responder'),
            ('uav1', '/uav1/ping_responder', 'uav1/ping_responder'),
            ('uav2', '/uav2/responder', 'uav2/responder'),
        ):
            expected = f'{fqn} pid={pids[label]} '
            reply = call_until(executor, trigger[ns], Trigger.Request(), lambda r: r.success)
            assert reply is not None, f'/{ns}/ping never answered:\n{runner.output}'
            assert reply.message.startswith(expected)

        # ... and so do the parameter file and the overrides (later entries win) ...
        for fqn, value in (
            ('/uav0/ping_responder', 'uav0:'),
            ('/uav1/ping_responder', 'file:'),
            ('/uav2/responder', '007'),  # a string, though it looks like a number
        ):
            client = probe.create_client(GetParameters, f'{fqn}/get_parameters')
            response = call_until(
                executor, client, GetParameters.Request(names=['reply_prefix']), lambda r: True
            )
            assert response is not None, f'{fqn}/get_parameters never answered'
            assert [v.string_value for v in response.values] == [value]

        # ... and the remapping: /uav2/ping is echoed on /uav2/echo with the prefix.
        echoed = []
        probe.create_subscription(String, '/uav2/echo', lambda m: echoed.append(m.data), 10)
        pub = probe.create_publisher(String, '/uav2/ping', 10)
        assert spin_until(
            executor,
            lambda: pub.get_subscription_count() > 0 and probe.count_publishers('/uav2/echo') > 0,
            15.0,
        )
        assert spin_until(executor, lambda: pub.publish(String(data='hi')) or echoed, 10.0)
        assert echoed[0] == '007hi'

        # 2. The respawning node comes back with a new pid, and its service with it.
        old_pid = pids['uav1/ping_responder']
        mark = len(runner.lines)
        os.kill(old_pid, signal.SIGKILL)
        runner.wait_for(r'^\[launch\] uav1/ping_responder killed by SIGKILL$', mark)
        runner.wait_for(r'^\[launch\] respawning uav1/ping_responder in 0.5 s$', mark)
        _, new_pid = runner.started_pid('uav1/ping_responder', mark)
        assert new_pid != old_pid
        reply = call_until(
            executor,
            trigger['uav1'],
            Trigger.Request(),
            lambda r: r.message.startswith(f'/uav1/ping_responder pid={new_pid} '),
        )
        assert reply is not None and f'pid={new_pid} ' in reply.message, runner.output

        # 3. A node with the default policy dies alone; the others keep serving.
        mark = len(runner.lines)
        os.kill(pids['uav2/responder'], signal.SIGKILL)
        runner.wait_for(r'^\[launch\] uav2/responder killed by SIGKILL$', mark)
        reply = call_until(executor, trigger['uav0'], Trigger.Request(), lambda r: r.success)
        assert reply.message.startswith(f'/uav0/ping_responder pid={pids["uav0/ping_responder"]}')
        assert runner.process.poll() is None
        assert 'respawning uav2/responder' not in runner.output

        # 4. The required node dies: the runner stops everything and reports failure.
        os.kill(pids['uav0/ping_responder'], signal.SIGKILL)
        assert runner.wait(timeout=20.0) == 1, runner.output
        assert wait_for_no_marked(runner.marker, timeout=5.0) == []
    finally:
        runner.stop()
    lines = runner.lines
    shutdown = lines.index('[launch] required node uav0/ping_responder exited: shutting down')
    assert stopped('uav1/ping_responder', lines[shutdown:])
    assert lines[-1] == '[launch] all nodes stopped'


def stopped(label, lines):
    """Return whether the runner reports `label` stopped during shutdown.

    A node normally exits with 0 on SIGINT; rarely rclpy's teardown hangs and the runner's
    escalation (SIGTERM, then SIGKILL) ends it instead, which is the runner doing its job.
    """
    accepted = {
        f'[launch] {label} exited with code 0',
        f'[launch] {label} killed by SIGTERM',
        f'[launch] {label} killed by SIGKILL',
    }
    return bool(accepted & set(lines))


def two_responders(tmp_path):
    graph = tmp_path / 'pair.yaml'
    graph.write_text(
        'nodes:\n'
        '  - {executable: ping_responder, namespace: /uav0}\n'
        '  - {executable: ping_responder, namespace: /uav1, respawn: true}\n',
        encoding='utf-8',
    )
    return graph


def test_ctrl_c_stops_the_graph_cleanly(child_env, bin_dir, tmp_path):
    runner = Runner(bin_dir, child_env, two_responders(tmp_path))
    try:
        for ns in ('uav0', 'uav1'):
            runner.wait_for(rf'^\[{ns}/ping_responder\] .*ready: echoing /{ns}/ping')
        # What a terminal's Ctrl-C does: the runner alone gets it (the nodes have their own
        # sessions) and must pass it on.
        runner.process.send_signal(signal.SIGINT)
        assert runner.wait(timeout=20.0) == 0, runner.output
        assert wait_for_no_marked(runner.marker, timeout=5.0) == []
    finally:
        runner.stop()
    lines = runner.lines
    assert '[launch] shutting down (SIGINT)' in lines
    assert stopped('uav0/ping_responder', lines)
    # A respawning node is not respawned while the graph shuts down.
    assert stopped('uav1/ping_responder', lines)
    assert 'respawning' not in runner.output
    assert lines[-1] == '[launch] all nodes stopped'


@pytest.mark.skipif(shutil.which('setpriv') is None, reason='needs util-linux setpriv')
def test_nodes_stop_when_the_runner_is_killed(child_env, bin_dir, tmp_path):
    runner = Runner(bin_dir, child_env, two_responders(tmp_path))
    try:
        for ns in ('uav0', 'uav1'):
            runner.wait_for(rf'^\[{ns}/ping_responder\] .*ready: echoing /{ns}/ping')
        assert len(marked_pids(runner.marker)) == 3  # the runner and its two nodes
        runner.process.kill()
        runner.process.wait()
        # The parent-death signal (SIGTERM) reaches the nodes; nobody else could stop them.
        assert wait_for_no_marked(runner.marker, timeout=15.0) == []
    finally:
        runner.stop()


def test_kill_node_on_request_respawns_by_its_policy(child_env, tmp_path):
    """Fault injection: kill_node() SIGKILLs one node; its respawn policy brings it back."""
    from uav_flood.runner.spec import load_graph
    from uav_flood.runner.supervisor import Supervisor

    sleeper = script(tmp_path / 'sleeper.py', 'import time\nprint("ready")\ntime.sleep(60)\n')
    graph_file = tmp_path / 'graph.yaml'
    graph_file.write_text(
        'nodes:\n'
        f'  - {{executable: {sleeper}, label: mapper, respawn: true, respawn_delay: 0.2}}\n'
        f'  - {{executable: {sleeper}, label: other, namespace: /other}}\n',
        encoding='utf-8',
    )
    out = io.StringIO()
    supervisor = Supervisor(load_graph(graph_file), out=out, env=child_env)
    assert supervisor.labels == ['mapper', 'other']
    results = []

    def kill_then_stop():
        def wait_for(text, count=1):
            deadline = time.monotonic() + 20.0
            while out.getvalue().count(text) < count and time.monotonic() < deadline:
                time.sleep(0.05)

        wait_for('[mapper] ready')
        wait_for('[other] ready')
        results.append(supervisor.kill_node('mapper'))
        wait_for('[mapper] ready', 2)  # respawned
        with pytest.raises(KeyError):
            supervisor.kill_node('nobody')
        supervisor.request_shutdown('test')

    thread = threading.Thread(target=kill_then_stop)
    thread.start()
    try:
        assert supervisor.run() == 0
    finally:
        thread.join()
    assert results[0].startswith('killed mapper (SIGKILL, pid ')
    text = out.getvalue()
    assert '[launch] mapper killed by SIGKILL' in text
    assert '[launch] respawning mapper in 0.2 s' in text
    assert supervisor.outcomes()['mapper'][1] == 1  # one restart
    assert supervisor.outcomes()['other'][1] == 0


def test_a_group_runs_its_nodes_in_one_process_each_with_its_own_names_and_parameters(
    child_env, bin_dir, tmp_path, ros_context, executor
):
    """Two ping_responders in group 'pair': one node_group process, two nodes that each keep
    the namespace and parameters they would have alone; a third node stays apart."""
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    graph = tmp_path / 'grouped.yaml'
    graph.write_text(
        'nodes:\n'
        '  - {executable: ping_responder, namespace: /uav0, group: pair,\n'
        "     parameters: [{reply_prefix: 'A:'}]}\n"
        '  - {executable: ping_responder, namespace: /uav2}\n'
        '  - {executable: ping_responder, namespace: /uav1, group: pair, respawn: true,\n'
        "     parameters: [{reply_prefix: 'B:'}]}\n",
        encoding='utf-8',
    )
    runner = Runner(bin_dir, child_env, graph)
    probe = rclpy_probe(ros_context, executor)
    try:
        _, pair_pid = runner.started_pid('pair')
        runner.started_pid('uav2/ping_responder')
        for ns in ('uav0', 'uav1', 'uav2'):
            runner.wait_for(rf'^\[(pair|uav2/ping_responder)\] .*ready: echoing /{ns}/ping')
        assert len(marked_pids(runner.marker)) == 3  # the runner, node_group, uav2's node
        echoes = {}
        for ns in ('uav0', 'uav1'):
            probe.create_subscription(
                String, f'/{ns}/pong', lambda m, ns=ns: echoes.setdefault(ns, m.data), 10
            )
            pub = probe.create_publisher(String, f'/{ns}/ping', 10)
            assert spin_until(executor, lambda pub=pub: pub.get_subscription_count() > 0, 10.0)
            pub.publish(String(data='x'))
        assert spin_until(executor, lambda: len(echoes) == 2, 10.0), echoes
        assert echoes == {'uav0': 'A:x', 'uav1': 'B:x'}
        pids = {}
        for ns in ('uav0', 'uav1', 'uav2'):
            client = probe.create_client(Trigger, f'/{ns}/ping')
            answer = call_until(executor, client, Trigger.Request(), lambda r: r.success)
            assert answer is not None and answer.success, ns
            pids[ns] = int(re.search(r'pid=(\d+)', answer.message).group(1))
        assert pids['uav0'] == pids['uav1'] == pair_pid != pids['uav2']
        runner.process.send_signal(signal.SIGINT)
        assert runner.wait(timeout=20.0) == 0, runner.output
        assert wait_for_no_marked(runner.marker, timeout=5.0) == []
    finally:
        runner.stop()
    assert stopped('pair', runner.lines)


def rclpy_probe(ros_context, executor):
    import rclpy

    probe = rclpy.create_node('group_probe', context=ros_context)
    executor.add_node(probe)
    return probe


def test_a_bad_parameter_of_one_grouped_node_ends_the_group_with_2_naming_it(bin_dir, child_env):
    result = subprocess.run(
        [
            str(bin_dir / 'node_group'),
            '--node',
            'ping_responder',
            '--ros-args',
            '-r',
            '__ns:=/uav0',
            '--node',
            'ping_responder',
            '--ros-args',
            '-r',
            '__ns:=/uav1',
            '-p',
            'reply_prefx:=x',
        ],  # fmt: skip
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    fatal = [line for line in result.stderr.splitlines() if 'bad configuration' in line]
    assert len(fatal) == 1 and 'reply_prefx' in fatal[0], result.stderr
    assert 'Traceback' not in result.stderr
    for args, message in (([], 'no node to run'), (['--node', 'talker'], "'talker' is not a")):
        bad = subprocess.run(
            [str(bin_dir / 'node_group'), *args],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
