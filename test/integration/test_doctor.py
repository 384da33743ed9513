"""`uav-flood doctor` on this machine, and with rclpy made unimportable."""

import json
import subprocess


def doctor(bin_dir, env, *args):
    return subprocess.run(
        [str(bin_dir / 'uav-flood'), 'doctor', '--color', 'never', *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_passes_here(bin_dir, child_env):
    result = doctor(bin_dir, child_env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ('rclpy', 'rmw', 'round trip', 'onnxruntime', 'opencv', 'mavsdk', 'pymavlink'):
        assert any(line.split()[:1] == ['ok'] and f' {name} ' in line for line in lines), name
    assert 'rmw_fastrtps_cpp' in result.stdout or 'rmw_' in result.stdout
    assert 'CPUExecutionProvider' in result.stdout
    assert 'All required checks passed' in lines[-1]


def test_doctor_json(bin_dir, child_env):
    result = doctor(bin_dir, child_env, '--json')
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['ok'] is True
    by_name = {c['name']: c for c in report['checks']}
    assert by_name['round trip']['status'] == 'ok'
    assert 'discovered in' in by_name['round trip']['detail']
    assert {c['status'] for c in report['checks']} <= {'ok', 'warn'}


def test_doctor_fails_clearly_without_rclpy(bin_dir, child_env, tmp_path):
    # A package named rclpy earlier on sys.path that cannot be imported, as on a machine where
    # ROS 2 is neither installed in the environment nor sourced.
    fake = tmp_path / 'shadow' / 'rclpy'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text(
        "raise ModuleNotFoundError(\"No module named 'rclpy'\", name='rclpy')\n"
    )
    env = dict(child_env, PYTHONPATH=str(tmp_path / 'shadow'))
    result = doctor(bin_dir, env)
    assert result.returncode == 1
    assert 'Traceback' not in result.stdout + result.stderr
    rclpy_line = next(line for line in result.stdout.splitlines() if ' rclpy ' in line)
    assert rclpy_line.split()[0] == 'FAIL'
    assert "No module named 'rclpy'" in rclpy_line
    assert 'fix: run `python3 tools/install.py`' in result.stdout
    assert 'source /opt/ros/<distro>/setup.bash' in result.stdout
    for skipped in ('rmw', 'round trip'):
        line = next(line for line in result.stdout.splitlines() if f' {skipped} ' in line)
        assert line.split()[0] == 'SKIP'
    # The checks that do not need ROS still ran and passed.
    assert any(line.split()[:2] == ['ok', 'opencv'] for line in result.stdout.splitlines())
    assert 'required check(s) failed: rclpy' in result.stdout
