"""Lint and type checks, run as tests so that `pytest` (and `colcon test`) enforce them."""

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.skip(f'{name} is not installed (python3 tools/install.py --dev)')
    return str(path)


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint():
    result = run([tool('ruff'), 'check', '--no-cache', '.'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = run([tool('ruff'), 'format', '--no-cache', '--check', '--diff', '.'])
    assert result.returncode == 0, 'run `ruff format .`:\n' + result.stdout + result.stderr


def test_mypy_strict_on_package_and_tools():
    # Configuration (strict for core/, runner/, cli, tools; relaxed for rclpy nodes) in setup.cfg.
    result = run([tool('mypy'), '--no-incremental', '--cache-dir', '/dev/null'])
    assert result.returncode == 0, result.stdout + result.stderr
