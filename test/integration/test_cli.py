"""The `uav-flood` console script: help, version, and usage errors."""

import subprocess

import uav_flood


def uav_flood_cmd(bin_dir, *args):
    return subprocess.run(
        [str(bin_dir / 'uav-flood'), *args], capture_output=True, text=True, timeout=60
    )


def test_version(bin_dir):
    result = uav_flood_cmd(bin_dir, '--version')
    assert result.returncode == 0
    assert result.stdout.strip() == f'uav-flood {uav_flood.__version__}'


def test_help_lists_every_command(bin_dir):
    result = uav_flood_cmd(bin_dir, '--help')
    assert result.returncode == 0
    for command in ('doctor', 'launch', 'sim'):
        assert command in result.stdout
    for command in ('doctor', 'launch', 'sim'):
        sub = uav_flood_cmd(bin_dir, command, '--help')
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith(f'usage: uav-flood {command}')


def test_no_command_prints_help_and_fails(bin_dir):
    result = uav_flood_cmd(bin_dir)
    assert result.returncode == 2
    assert 'usage: uav-flood' in result.stdout


def test_unknown_command_is_a_usage_error(bin_dir):
    result = uav_flood_cmd(bin_dir, 'fly-to-the-moon')
    assert result.returncode == 2
    assert 'invalid choice' in result.stderr
    assert 'Traceback' not in result.stderr


def test_a_bug_is_one_line_with_exit_70(monkeypatch, capsys, tmp_path):
    from uav_flood import cli
    from uav_flood.cli import plan as plan_cli

    def broken(args):
        raise TypeError('unsupported operand\ntype(s)')

    monkeypatch.setattr(plan_cli, 'run', broken)
    monkeypatch.delenv('UAV_FLOOD_TRACEBACK', raising=False)
    argv = ['plan', 'area.geojson', '--drones', '1', '--out', str(tmp_path)]
    assert cli.main(argv) == cli.INTERNAL_ERROR == 70
    err = capsys.readouterr().err
    assert err == (
        'uav-flood plan: internal error: TypeError: unsupported operand type(s) (a bug: please '
        'report it; UAV_FLOOD_TRACEBACK=1 shows where)\n'
    )
    monkeypatch.setenv('UAV_FLOOD_TRACEBACK', '1')
    try:
        cli.main(argv)
    except TypeError:
        pass
    else:
        raise AssertionError('UAV_FLOOD_TRACEBACK=1 re-raises')


def test_doctor_timeout_and_gz_assets_scene_are_checked(bin_dir, tmp_path):
    for value in ('nan', '0.0', '-1.0'):
        result = uav_flood_cmd(bin_dir, 'doctor', f'--timeout={value}')
        assert result.returncode == 2
        assert result.stderr == f'uav-flood doctor: error: --timeout must be > 0 s, got {value}\n'
    scene = tmp_path / 'scene.yaml'
    scene.write_text('[' * 100_000 + ']' * 100_000)
    result = uav_flood_cmd(
        bin_dir, 'gz-assets', '--out', str(tmp_path / 'o'), '--scene', str(scene)
    )
    assert result.returncode == 2
    assert (
        result.stderr == f'uav-flood gz-assets: error: --scene {scene}: YAML nested too deeply\n'
    )
