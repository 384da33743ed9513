"""The package metadata agrees with the code: versions, dependencies, console scripts."""

import ast
from pathlib import Path
import re
import xml.etree.ElementTree as ET

import uav_flood

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / 'src' / 'uav_flood'
PACKAGE_XML = ET.parse(ROOT / 'package.xml').getroot()


def exec_depends() -> set[str]:
    return {e.text for e in PACKAGE_XML.iter('exec_depend')}


def imported_top_level_modules() -> set[str]:
    modules = set()
    for path in [*SRC.rglob('*.py'), *(ROOT / 'launch').glob('*.py')]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split('.')[0])
    return modules


def test_package_xml_is_format_3_named_uav_flood():
    assert PACKAGE_XML.get('format') == '3'
    assert PACKAGE_XML.findtext('name') == 'uav_flood'
    assert PACKAGE_XML.find('export/build_type').text == 'ament_python'


def test_one_version_everywhere():
    setup_py = (ROOT / 'setup.py').read_text()
    assert 'version=read_version()' in setup_py
    assert PACKAGE_XML.findtext('version') == uav_flood.__version__


def test_every_imported_ros_package_is_an_exec_depend():
    ros_packages = {
        m
        for m in imported_top_level_modules()
        if m.endswith(('_msgs', '_srvs', '_interfaces'))
        or m in ('rclpy', 'ament_index_python', 'launch', 'launch_ros')
    }
    assert ros_packages, 'the scan found no ROS imports at all'
    missing = ros_packages - exec_depends()
    assert not missing, f'declare these in package.xml: {sorted(missing)}'


def test_every_python_library_is_declared_for_rosdep_and_pip():
    # import name -> (rosdep key in package.xml or None when rosdep has none, pip name)
    libraries = {
        'numpy': ('python3-numpy', 'numpy'),
        'cv2': ('python3-opencv', 'opencv-python-headless'),
        'shapely': ('python3-shapely', 'shapely'),
        'pyproj': ('python3-pyproj', 'pyproj'),
        'yaml': ('python3-yaml', 'PyYAML'),
        'onnxruntime': ('python3-onnxruntime-pip', 'onnxruntime'),
        'pymavlink': ('python3-pymavlink-pip', 'pymavlink'),
        'mavsdk': (None, 'mavsdk'),
        'rasterio': ('python3-rasterio', 'rasterio'),
    }
    runtime_in = (ROOT / 'requirements' / 'runtime.in').read_text()
    runtime_txt = (ROOT / 'requirements' / 'runtime.txt').read_text()
    for module, (rosdep_key, pip_name) in libraries.items():
        if rosdep_key:
            assert rosdep_key in exec_depends(), (module, rosdep_key)
        assert re.search(rf'^{re.escape(pip_name)}\b', runtime_in, re.M | re.I), pip_name
        assert re.search(rf'^{re.escape(pip_name)}==', runtime_txt, re.M | re.I), pip_name


def test_every_system_dependency_is_a_rosdep_key():
    """`rosdep install` resolves each non-ROS key (ros/rosdistro's lists in test/data/rosdistro).

    ROS packages are named like Python identifiers (rclpy, std_msgs, launch_ros); rosdep's own
    keys carry a dash (python3-numpy), so a dashed name must be a key of base.yaml or
    python.yaml.
    """
    import yaml

    lists = ROOT / 'test' / 'data' / 'rosdistro'
    keys: set[str] = set()
    for name in ('base.yaml', 'python.yaml'):
        keys |= set(yaml.safe_load((lists / name).read_text()))
    assert {'python3-numpy', 'python3-pymavlink-pip'} <= keys
    tags = ('depend', 'exec_depend', 'build_depend', 'test_depend', 'buildtool_depend')
    declared = {e.text for tag in tags for e in PACKAGE_XML.iter(tag)}
    system = {d for d in declared if not re.fullmatch(r'[a-z][a-z0-9_]*', d)}
    assert system, 'package.xml declares no system dependency at all'
    unknown = sorted(system - keys)
    assert not unknown, f'not rosdep keys (rosdep install would fail): {unknown}'


def test_lock_files_pin_every_line():
    for lock in (ROOT / 'requirements').glob('*.txt'):
        lines = [ln for ln in lock.read_text().splitlines() if ln and not ln.startswith('#')]
        assert lines, lock
        bad = [ln for ln in lines if not re.fullmatch(r'[A-Za-z0-9_.\-]+==[^=\s]+', ln)]
        assert not bad, f'{lock.name}: not pinned: {bad}'


def test_shared_pins_agree_across_lock_files():
    pins: dict[str, tuple[str, str]] = {}
    for lock in sorted((ROOT / 'requirements').glob('*.txt')):
        if lock.name == 'train.txt':
            continue  # its own environment (.venv-train); checked against runtime.txt below
        for line in lock.read_text().splitlines():
            if '==' in line and not line.startswith('#'):
                name, version = line.lower().split('==')
                if name in pins:
                    assert pins[name][0] == version, (name, pins[name], lock.name, version)
                pins[name] = (version, lock.name)


def test_training_pins_extend_the_runtime_pins():
    runtime = {}
    for line in (ROOT / 'requirements' / 'runtime.txt').read_text().splitlines():
        if '==' in line and not line.startswith('#'):
            name, version = line.lower().split('==')
            runtime[name] = version
    train = (ROOT / 'requirements' / 'train.txt').read_text().lower()
    assert 'torch==2.13.0' in train
    for line in train.splitlines():
        if '==' in line and not line.startswith('#'):
            name, version = line.split('==')
            assert runtime.get(name, version) == version, (name, version, runtime[name])


def test_every_node_module_is_a_console_script():
    setup_py = (ROOT / 'setup.py').read_text()
    nodes = [p.stem for p in (SRC / 'nodes').glob('*.py') if 'def main(' in p.read_text()]
    assert nodes
    for node in nodes:
        assert f"'{node} = uav_flood.nodes.{node}:main'" in setup_py, node
    assert "'uav-flood = uav_flood.cli:main'" in setup_py


def test_core_never_imports_ros():
    for path in (SRC / 'core').rglob('*.py'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split('.')[0]
                assert top != 'rclpy' and not top.endswith(('_msgs', '_srvs')), (path, name)
