"""tools/install.py: the first command of the README, in a throw-away environment."""

import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_installer():
    spec = importlib.util.spec_from_file_location('uav_flood_install', ROOT / 'tools/install.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirement_sets_per_mode():
    install = load_installer()
    req = ROOT / 'requirements'
    assert install.requirement_files(None, dev=False) == [
        req / 'ros-kilted.txt',
        req / 'build.txt',
        req / 'runtime.txt',
    ]
    assert install.requirement_files(None, dev=True)[-1] == req / 'dev.txt'
    # On a sourced ROS 2: no ROS wheels, and version ranges so the distro's own numpy etc. stay.
    assert install.requirement_files('jazzy', dev=True) == [
        req / 'build.in',
        req / 'runtime.in',
        req / 'dev.in',
    ]


def test_clean_env_drops_the_active_venv(monkeypatch):
    install = load_installer()
    monkeypatch.setenv('VIRTUAL_ENV', '/some/venv')
    monkeypatch.setenv('PATH', '/some/venv/bin:/usr/bin')
    monkeypatch.setenv('_ROS_WHEELS_BOOTSTRAP_COMPLETE', '1')
    env = install.clean_env()
    assert 'VIRTUAL_ENV' not in env and '_ROS_WHEELS_BOOTSTRAP_COMPLETE' not in env
    assert env['PATH'] == '/usr/bin'


@pytest.mark.slow
def test_runtime_install_without_dev_tools(tmp_path):
    venv = tmp_path / 'venv'
    base = getattr(sys, '_base_executable', sys.executable)
    cmd = [base, str(ROOT / 'tools/install.py'), '--venv', str(venv)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for script in ('uav-flood', 'ping_responder'):
        assert (venv / 'bin' / script).exists(), script
    assert not (venv / 'bin' / 'pytest').exists(), 'dev tools must not be installed'
    version = subprocess.run(
        [str(venv / 'bin' / 'uav-flood'), '--version'], capture_output=True, text=True
    )
    assert version.returncode == 0, version.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert 'is up to date' in again.stdout
