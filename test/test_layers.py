"""The layering rules of docs/ARCHITECTURE.md, checked on the source (ast, nothing imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / 'src' / 'uav_flood'
NODES = sorted(
    p for p in (SRC / 'nodes').glob('*.py') if p.stem not in ('__init__', 'names', 'spin')
)
#: What a node may import from nodes/ besides itself.
NODE_SHARED = ('uav_flood.nodes.names', 'uav_flood.nodes.conversions', 'uav_flood.nodes.params',
               'uav_flood.nodes.spin')  # fmt: skip
ROS_PACKAGES = ('rclpy', 'rcl_interfaces', 'builtin_interfaces', 'std_msgs', 'geometry_msgs',
                'sensor_msgs', 'nav_msgs', 'visualization_msgs', 'diagnostic_msgs', 'std_srvs',
                'tf2_msgs', 'lifecycle_msgs')  # fmt: skip


def imports(path: Path) -> list[str]:
    """Return every module `path` imports (absolute names; `from a import b` gives a.b too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f'{node.module}.{alias.name}' for alias in node.names]
    return found


def _node_modules() -> set[str]:
    return {f'uav_flood.nodes.{p.stem}' for p in NODES}


@pytest.mark.parametrize('path', NODES, ids=lambda p: p.stem)
def test_a_node_file_fits_in_600_lines(path):
    lines = len(path.read_text(encoding='utf-8').splitlines())
    assert lines <= 600, f'{path.name} has {lines} lines: move what it decides into core/'


@pytest.mark.parametrize('path', NODES, ids=lambda p: p.stem)
def test_a_node_imports_no_other_node_and_no_simulator(path):
    own = f'uav_flood.nodes.{path.stem}'
    others = _node_modules() - {own}
    for name in imports(path):
        assert not any(name == o or name.startswith(o + '.') for o in others), (path.name, name)
        if path.stem != 'sim_camera':
            assert not name.startswith('uav_flood.sim'), (path.name, name)


def test_the_shared_node_modules_are_the_documented_ones():
    shared = {
        p.stem for p in (SRC / 'nodes').iterdir() if p.stem not in {'__init__', '__pycache__'}
    }
    shared -= {p.stem for p in NODES}
    assert {f'uav_flood.nodes.{s}' for s in shared} <= set(NODE_SHARED)


@pytest.mark.parametrize(
    'path', sorted((SRC / 'core').rglob('*.py')), ids=lambda p: str(p.relative_to(SRC))
)
def test_core_imports_no_ros(path):
    for name in imports(path):
        assert name.split('.')[0] not in ROS_PACKAGES, (path.name, name)
        assert not name.startswith(('uav_flood.nodes', 'uav_flood.sim')), (path.name, name)
