"""Every launch file: valid Python, names only what the package has, same graphs as config/graphs.

launch and launch_ros have no PyPI wheels, so the files run against stand-ins with the real
signatures (test/launch_fakes.py) and their descriptions are expanded as `ros2 launch` would.
"""

import ast
from pathlib import Path
import py_compile

import pytest

import launch_fakes
from uav_flood.core.errors import ConfigError
from uav_flood.deploy import launch_actions
from uav_flood.nodes import names
from uav_flood.runner.spec import load_graph, to_launch_node_kwargs

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / 'launch'
GRAPHS = ROOT / 'config' / 'graphs'
LAUNCH_FILES = sorted(LAUNCH.glob('*.launch.py'))
#: Executables from other packages a launch file may start, and where they come from.
EXTERNAL_NODES = {('rviz2', 'rviz2')}


def console_scripts() -> set[str]:
    """Return the console_scripts names that setup.py installs."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = ast.literal_eval(value)
                    return {entry.split('=')[0].strip() for entry in entries}
    raise AssertionError('setup.py has no console_scripts')


def catalogue_topics() -> set[str]:
    """Return every topic name of nodes/names.py (relative ones as written)."""
    return {value.name for value in vars(names).values() if isinstance(value, names.Topic)}


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch):
    # The shipped graphs' relative files (area, mission folder) are relative to the working
    # directory: run from the repository root, as the headers say.
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(launch_actions, 'share_dir', lambda: ROOT)


def fake_px4_checkout(tmp_path: Path) -> Path:
    binary = tmp_path / 'PX4-Autopilot' / 'build' / 'px4_sitl_default' / 'bin' / 'px4'
    binary.parent.mkdir(parents=True)
    binary.write_text('#!/bin/sh\n')
    return tmp_path / 'PX4-Autopilot'


def normalised(kwargs: dict) -> dict:
    """Return Node kwargs with every file path absolute (the shipped graphs use relative ones)."""
    out = dict(kwargs)
    out.pop('on_exit', None)
    parameters = []
    for source in out.get('parameters', []):
        if isinstance(source, str):
            parameters.append(str(Path(source).resolve()))
        else:
            parameters.append(
                {
                    key: str((ROOT / value).resolve())
                    if key.endswith('_file') and isinstance(value, str) and value
                    else value
                    for key, value in source.items()
                }
            )
    if parameters:
        out['parameters'] = parameters
    return out


def graph_kwargs(path: Path) -> list[dict]:
    return [normalised(to_launch_node_kwargs(node)) for node in load_graph(path).nodes]


def our_nodes(expanded: launch_fakes.Expanded) -> list[dict]:
    return [normalised(n.kwargs) for n in expanded.nodes if n.kwargs.get('package') != 'rviz2']


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_valid_python_that_documents_its_use(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / 'x.pyc'), doraise=True)
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and f'ros2 launch uav_flood {path.name}' in doc


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_executables_files_and_topics_that_exist(
    path, monkeypatch, tmp_path
):
    arguments = {'px4_dir': str(fake_px4_checkout(tmp_path))} if 'sitl' in path.name else {}
    if path.name == 'graph.launch.py':
        arguments = {'graph': str(GRAPHS / 'sitl_gz.yaml')}
    expanded = launch_fakes.expand(monkeypatch, path, arguments)
    for argument in expanded.arguments.values():
        assert argument.kwargs['description'], argument.args
    assert expanded.nodes
    scripts = console_scripts()
    topics = catalogue_topics()
    for node in expanded.nodes:
        kwargs = node.kwargs
        if kwargs.get('package') == 'uav_flood':
            assert kwargs['executable'] in scripts, kwargs['executable']
        else:
            assert (kwargs.get('package'), kwargs['executable']) in EXTERNAL_NODES, kwargs
        for source in kwargs.get('parameters', []):
            if isinstance(source, str):
                assert Path(source).is_file(), source
            for key, value in source.items() if isinstance(source, dict) else ():
                if key in ('area_file', 'geofence_file') and value:
                    assert Path(value).is_file(), (key, value)
        for ours, _theirs in kwargs.get('remappings', []):
            assert ours in topics, ours
        for argument in kwargs.get('arguments', []):
            if argument.endswith('.rviz'):
                assert Path(argument).is_file(), argument


def test_demo_launch_runs_the_demo_graph(monkeypatch):
    expanded = launch_fakes.expand(monkeypatch, LAUNCH / 'demo.launch.py')
    assert our_nodes(expanded) == graph_kwargs(GRAPHS / 'demo.yaml')
    rviz = [n for n in expanded.nodes if n.kwargs.get('package') == 'rviz2']
    assert len(rviz) == 1
    expanded = launch_fakes.expand(monkeypatch, LAUNCH / 'demo.launch.py', {'rviz': 'false'})
    assert all(n.kwargs.get('package') != 'rviz2' for n in expanded.nodes)


def test_sitl_launch_starts_gazebo_px4_and_the_shipped_graph(monkeypatch, tmp_path):
    px4 = fake_px4_checkout(tmp_path)
    expanded = launch_fakes.expand(
        monkeypatch, LAUNCH / 'sitl_gz.launch.py', {'px4_dir': str(px4)}
    )
    assert our_nodes(expanded) == graph_kwargs(GRAPHS / 'sitl_gz.yaml')
    labels = [p.kwargs['name'] for p in expanded.processes]
    assert labels == ['gz_server', 'gz_gui', 'px4_0', 'px4_1', 'px4_2']
    assert expanded.delays == {
        'gz_server': 0.0,
        'gz_gui': 0.0,
        'px4_0': 5.0,
        'px4_1': 7.0,
        'px4_2': 9.0,
    }
    server = expanded.processes[0].kwargs
    world = Path(server['cmd'][-1])
    assert world == ROOT / 'worlds' / 'flood_world.sdf'
    px4_env = expanded.processes[3].kwargs['additional_env']
    assert Path(px4_env['PX4_GZ_MODELS']) == ROOT / 'models'
    assert px4_env['PX4_GZ_MODEL_POSE'] == '5,0,0'
    assert expanded.processes[3].kwargs['cmd'][-2:] == ['-i', '1']


def test_sitl_launch_arguments_change_the_fleet(monkeypatch, tmp_path):
    px4 = fake_px4_checkout(tmp_path)
    expanded = launch_fakes.expand(
        monkeypatch,
        LAUNCH / 'sitl_gz.launch.py',
        {'px4_dir': str(px4), 'drones': '2', 'gui': 'false', 'rviz': 'false'},
    )
    assert [p.kwargs['name'] for p in expanded.processes] == ['gz_server', 'px4_0', 'px4_1']
    namespaces = {n.kwargs.get('namespace') for n in expanded.nodes}
    assert namespaces == {'/uav0', '/uav1', None}
    assert all(n.kwargs.get('package') != 'rviz2' for n in expanded.nodes)


def test_sitl_launch_without_px4_says_so(monkeypatch, tmp_path):
    with pytest.raises(Exception, match='is not a folder: give the PX4-Autopilot checkout'):
        launch_fakes.expand(monkeypatch, LAUNCH / 'sitl_gz.launch.py')
    with pytest.raises(Exception, match='make px4_sitl'):
        launch_fakes.expand(monkeypatch, LAUNCH / 'sitl_gz.launch.py', {'px4_dir': str(tmp_path)})


def test_sitl_launch_refuses_bad_argument_values(monkeypatch, tmp_path):
    px4 = str(fake_px4_checkout(tmp_path))
    for arguments, message in (
        ({'drones': 'three'}, 'drones:=three: not an integer'),
        ({'drones': '11'}, '1 to 10 drones'),
        ({'gui': 'yes'}, 'gui:=yes: use true or false'),
        ({'px4_delay': 'soon'}, 'px4_delay:=soon: not a number'),
    ):
        with pytest.raises(ConfigError, match=message):
            launch_fakes.expand(
                monkeypatch, LAUNCH / 'sitl_gz.launch.py', {'px4_dir': px4, **arguments}
            )


def test_onboard_and_ground_launch_run_the_shipped_graphs(monkeypatch):
    expanded = launch_fakes.expand(monkeypatch, LAUNCH / 'onboard.launch.py')
    assert our_nodes(expanded) == graph_kwargs(GRAPHS / 'onboard.yaml')
    expanded = launch_fakes.expand(monkeypatch, LAUNCH / 'ground.launch.py')
    assert our_nodes(expanded) == graph_kwargs(GRAPHS / 'ground.yaml')


def test_onboard_launch_remaps_the_camera_driver(monkeypatch):
    expanded = launch_fakes.expand(
        monkeypatch,
        LAUNCH / 'onboard.launch.py',
        {
            'vehicle': 'uav3',
            'image_topic': '/csi_cam/image_raw',
            'connection_url': 'udpin://0.0.0.0:14540',
        },
    )
    fc, seg = expanded.nodes
    assert fc.kwargs['namespace'] == seg.kwargs['namespace'] == '/uav3'
    assert fc.kwargs['parameters'][1]['connection_url'] == 'udpin://0.0.0.0:14540'
    assert seg.kwargs['remappings'] == [('camera/image_raw', '/csi_cam/image_raw')]


def test_the_gz_camera_topic_names_the_sensor_the_model_has(monkeypatch, tmp_path):
    """The bridge's gz_topic must name the world, model instance, link and sensor of the SDF."""
    import xml.etree.ElementTree as ET

    px4 = fake_px4_checkout(tmp_path)
    expanded = launch_fakes.expand(
        monkeypatch, LAUNCH / 'sitl_gz.launch.py', {'px4_dir': str(px4)}
    )
    world_file = Path(expanded.processes[0].kwargs['cmd'][-1])
    world_name = ET.parse(world_file).getroot().find('world').get('name')
    px4_env = expanded.processes[2].kwargs['additional_env']
    model = px4_env['PX4_SIM_MODEL'].removeprefix('gz_')
    assert px4_env['PX4_GZ_WORLD'] == world_name
    model_root = ET.parse(Path(px4_env['PX4_GZ_MODELS']) / model / 'model.sdf').getroot()
    cameras = [
        (link.get('name'), sensor.get('name'))
        for link in model_root.iter('link')
        for sensor in link.iter('sensor')
        if sensor.get('type') == 'camera'
    ]
    ((camera_link, camera_sensor),) = cameras
    bridges = [n for n in expanded.nodes if n.kwargs['executable'] == 'gz_camera_bridge']
    for i, bridge in enumerate(bridges):
        topic = bridge.kwargs['parameters'][1]['gz_topic']
        assert topic == (
            f'/world/{world_name}/model/{model}_{i}/link/{camera_link}/sensor/{camera_sensor}'
            '/image'
        )


def test_setup_installs_the_launch_files_and_asset_folders():
    text = (ROOT / 'setup.py').read_text()
    for folder in ('launch', 'config', 'worlds', 'models'):
        assert f"*tree('{folder}')" in text, folder
