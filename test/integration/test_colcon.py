"""`colcon build` and `colcon test` of this package, as a user with a full ROS 2 install runs them.

Here colcon comes from PyPI and ROS 2 from the Kilted wheels in the same environment; the package
is copied (tracked files only) into a fresh workspace so the checkout stays clean.
"""

import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def copy_package(dest: Path) -> None:
    files = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    if not (BIN / 'colcon').exists() or shutil.which('git') is None:
        pytest.skip('colcon or git missing (python3 tools/install.py --dev)')
    ws = tmp_path_factory.mktemp('colcon_ws')
    copy_package(ws / 'src' / 'uav_flood')
    env = dict(os.environ, PATH=f'{BIN}{os.pathsep}{os.environ["PATH"]}')
    build = subprocess.run(
        [str(BIN / 'colcon'), 'build', '--event-handlers', 'console_direct-'],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return ws, env


def test_colcon_build_installs_the_ament_layout(workspace):
    ws, _env = workspace
    prefix = ws / 'install' / 'uav_flood'
    assert (prefix / 'share/ament_index/resource_index/packages/uav_flood').is_file()
    assert (prefix / 'share/uav_flood/package.xml').is_file()
    for script in ('uav-flood', 'ping_responder'):
        assert os.access(prefix / 'lib/uav_flood' / script, os.X_OK), script
    for tracked in subprocess.run(
        ['git', 'ls-files', 'launch', 'config', 'worlds', 'models'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split():
        assert (prefix / 'share/uav_flood' / tracked).is_file(), tracked


def test_installed_node_runs_from_the_sourced_workspace(workspace, child_env):
    ws, env = workspace
    script = (
        'source install/setup.bash && '
        'python -c "from ament_index_python.packages import get_package_share_directory as g;'
        " print(g('uav_flood'))\" && exec install/uav_flood/lib/uav_flood/ping_responder"
    )
    ros = {k: child_env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
    proc = subprocess.Popen(
        ['bash', '-c', script],
        cwd=ws,
        env=dict(env, **ros),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        share = proc.stdout.readline().strip()
        ready = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert share == str(ws / 'install/uav_flood/share/uav_flood')
    assert 'ready: echoing /ping -> /pong' in ready


def test_colcon_test_runs_the_package_tests(workspace):
    ws, env = workspace
    test = subprocess.run(
        [
            str(BIN / 'colcon'),
            'test',
            '--event-handlers',
            'console_direct-',
            '--pytest-args',
            'test/core',
        ],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    result = subprocess.run(
        [str(BIN / 'colcon'), 'test-result', '--all', '--verbose'],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    # e.g. 'Summary: 9 tests, 0 errors, 0 failures, 0 skipped': something ran, nothing failed.
    assert summary.startswith('Summary: ') and ' 0 errors, 0 failures' in summary, summary
    assert not summary.startswith('Summary: 0 tests'), summary
