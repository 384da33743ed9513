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
