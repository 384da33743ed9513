"""Every node's configuration: its config file, its docs, and a bad parameter at the command line.

One parametrised test per rule, over every node with a PARAMETERS table (they were copied into
each node's own test file before).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
import re
import subprocess

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

#: node: the doc that describes its parameters.
DOCS = {
    'flight_control': 'flight_control.md',
    'flood_mapper': 'flood_map.md',
    'swarm_coordinator': 'swarm_coordinator.md',
    'segmentation': 'segmentation_node.md',
    'sim_camera': 'sim_camera_node.md',
    'gz_camera_bridge': 'gz_camera_bridge.md',
    'recorder': 'recording.md',
    'foxglove_bridge': 'recording.md',
    'edge_server': 'offloading.md',
    'link_emulator': 'offloading.md',
}

#: node: (arguments after --ros-args, what its one line of error says).
BAD_PARAMETERS = {
    'segmentation': (
        ['-r', '__ns:=/uav0', '-p', 'threshold:=2.0'],
        'bad configuration: threshold: must be in (0, 1), got 2.0',
    ),
    'sim_camera': (
        ['-r', '__ns:=/uav0', '-p', 'hfov_deg:=200.0'],
        'bad configuration: hfov_deg: must be in (1, 179)',
    ),
    'swarm_coordinator': (
        ['-p', 'overlap:=0.95'],
        'bad configuration: planning parameters: overlap',
    ),
    'flood_mapper': (['-p', 'p_hit:=0.1'], 'bad configuration'),
}


def _parameters(node: str) -> dict:
    return importlib.import_module(f'uav_flood.nodes.{node}').PARAMETERS


def test_every_node_with_parameters_is_covered():
    nodes_dir = REPO / 'src' / 'uav_flood' / 'nodes'
    # A node's table is in its own file or in nodes/params/<node>.py.
    nodes = {
        path.stem
        for path in [*nodes_dir.glob('*.py'), *(nodes_dir / 'params').glob('*.py')]
        if re.search(r'^PARAMETERS\b', path.read_text(encoding='utf-8'), re.M)
    }
    assert nodes == set(DOCS)


@pytest.mark.parametrize('node', sorted(DOCS))
def test_config_file_defaults_equal_the_declared_defaults(node):
    parameters = _parameters(node)
    document = yaml.safe_load((REPO / 'config' / f'{node}.yaml').read_text(encoding='utf-8'))
    values = document['/**']['ros__parameters']
    assert set(values) == set(parameters)
    for name, (default, _description) in parameters.items():
        same = values[name] == default or (
            isinstance(default, float) and math.isnan(default) and math.isnan(values[name])
        )
        assert same and type(values[name]) is type(default), name


@pytest.mark.parametrize('node', sorted(DOCS))
def test_the_docs_describe_every_parameter(node):
    text = (REPO / 'docs' / DOCS[node]).read_text(encoding='utf-8')
    missing = [
        name
        for name in _parameters(node)
        if not re.search(rf'(?<![\w/]){re.escape(name)}(?!\w)', text)
    ]
    assert not missing, f'docs/{DOCS[node]} does not name {missing}'


@pytest.mark.parametrize('node', sorted(DOCS))
def test_every_parameter_has_a_description(node):
    for name, (default, description) in _parameters(node).items():
        assert description.strip() and default is not None, name


@pytest.mark.parametrize('node', sorted(BAD_PARAMETERS))
def test_main_exits_2_with_one_line_on_a_bad_parameter(node, bin_dir, child_env):
    arguments, expected = BAD_PARAMETERS[node]
    result = subprocess.run(
        [str(bin_dir / node), '--ros-args', *arguments],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr + result.stdout
    output = (result.stdout + result.stderr).strip().splitlines()
    assert len(output) == 1, output
    assert expected in output[0]
