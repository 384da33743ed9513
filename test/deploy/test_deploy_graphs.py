"""The SITL, on-board and ground graphs and the PX4/Gazebo processes (no ROS, PX4 or Gazebo)."""

from pathlib import Path

import pytest
import yaml

from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint
from uav_flood.deploy.graphs import (
    DEFAULT_ORIGIN,
    ground_graph,
    GroundConfig,
    onboard_graph,
    OnboardConfig,
    shipped_graphs,
    sitl_graph,
    SitlConfig,
)
from uav_flood.deploy.px4 import (
    gazebo_processes,
    MAX_INSTANCES,
    px4_binary,
    px4_processes,
    SitlWorld,
)
from uav_flood.runner.spec import load_graph, resolve_executable

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / 'config' / 'graphs'


def fake_px4_checkout(tmp_path: Path) -> Path:
    """Return a folder laid out like a PX4-Autopilot checkout after `make px4_sitl`."""
    binary = tmp_path / 'PX4-Autopilot' / 'build' / 'px4_sitl_default' / 'bin' / 'px4'
    binary.parent.mkdir(parents=True)
    binary.write_text('#!/bin/sh\n')
    binary.chmod(0o755)
    return tmp_path / 'PX4-Autopilot'


def test_shipped_graphs_are_what_the_generators_make():
    for name, text in shipped_graphs().items():
        assert (GRAPHS / name).read_text() == text, f'regenerate config/graphs/{name}'


@pytest.mark.parametrize('name', ['sitl_gz.yaml', 'onboard.yaml', 'ground.yaml'])
def test_shipped_graphs_load_and_every_executable_is_installed(name):
    graph = load_graph(GRAPHS / name)
    for node in graph.nodes:
        assert Path(resolve_executable(node)).is_file(), node.executable
        for source in node.parameters:
            if hasattr(source, 'path'):
                assert source.path.is_file(), source.path


def test_flight_control_origin_is_the_shipped_origin_everywhere():
    params = yaml.safe_load((ROOT / 'config' / 'flight_control.yaml').read_text())
    defaults = params['/**']['ros__parameters']
    assert (defaults['origin_lat_deg'], defaults['origin_lon_deg'], defaults['origin_alt_m']) == (
        DEFAULT_ORIGIN.lat_deg,
        DEFAULT_ORIGIN.lon_deg,
        DEFAULT_ORIGIN.alt_m,
    )


def test_sitl_graph_gives_instance_i_namespace_uav_i_and_its_camera():
    graph = sitl_graph(SitlConfig(drones=2))
    per_drone = [(n['executable'], n.get('namespace')) for n in graph['nodes'][:6]]
    assert per_drone == [
        ('gz_camera_bridge', '/uav0'),
        ('flight_control', '/uav0'),
        ('segmentation', '/uav0'),
        ('gz_camera_bridge', '/uav1'),
        ('flight_control', '/uav1'),
        ('segmentation', '/uav1'),
    ]
    ground = [n['executable'] for n in graph['nodes'][6:]]
    assert ground == ['edge_server', 'swarm_coordinator', 'flood_mapper', 'recorder']
    bridge1 = graph['nodes'][3]['parameters'][1]
    assert bridge1 == {
        'gz_topic': '/world/flood_world/model/uav_flood_x500_1/link/base_link/sensor/camera/image'
    }
    # flight_control finds PX4 instance i's port from the namespace: base + i
    fc1 = graph['nodes'][4]['parameters'][1]
    assert fc1['mavlink_base_port'] == 14540 and fc1['auto_start'] is True
    # the ground serves exactly the fleet
    for node in graph['nodes'][6:9]:
        assert node['parameters'][1]['vehicles'] == ['uav0', 'uav1']
    segmentation = graph['nodes'][2]['parameters'][1]
    assert segmentation == {'offload_mode': 'adaptive', 'offload_direct': True}


@pytest.mark.parametrize('drones', [0, MAX_INSTANCES + 1])
def test_sitl_fleet_size_is_bounded_by_px4_ports(drones):
    with pytest.raises(ConfigError, match='drones'):
        SitlConfig(drones=drones)


def test_sitl_ground_must_serve_the_fleet():
    with pytest.raises(ConfigError, match=r"the ground serves \['uav0'\], the fleet is"):
        SitlConfig(drones=2, ground=GroundConfig(vehicles=('uav0',)))


def test_onboard_graph_remaps_the_camera_driver_and_uses_the_gpu_providers():
    graph = onboard_graph(
        OnboardConfig(vehicle='uav2', image_topic='/csi/image', info_topic='/csi/info')
    )
    fc, seg = graph['nodes']
    assert (fc['executable'], fc['namespace']) == ('flight_control', '/uav2')
    assert fc['parameters'][1]['connection_url'] == 'serial:///dev/ttyTHS1:921600'
    assert seg['remappings'] == {
        'camera/image_raw': '/csi/image',
        'camera/camera_info': '/csi/info',
    }
    assert seg['parameters'][1]['providers'] == ['tensorrt', 'cuda', 'cpu']
    # without other topics, nothing is remapped
    assert 'remappings' not in onboard_graph(OnboardConfig())['nodes'][1]


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'vehicle': 'drone1'}, 'uavN'),
        ({'connection_url': '/dev/ttyTHS1'}, 'a MAVSDK URL starts with'),
        ({'offload_mode': 'sometimes'}, 'off, local, edge or adaptive'),
        ({'providers': ()}, 'at least one execution provider'),
    ],
)
def test_onboard_config_refuses_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        OnboardConfig(**kwargs)


def test_ground_graph_refuses_bad_vehicle_lists():
    for vehicles, message in (((), 'at least one'), (('uav0', 'uav0'), 'twice'), (('x',), 'uavN')):
        with pytest.raises(ConfigError, match=message):
            ground_graph(GroundConfig(vehicles=vehicles))


def test_ground_graph_carries_origin_area_and_files():
    graph = ground_graph(
        GroundConfig(
            vehicles=('uav0', 'uav1'),
            area_file=Path('/areas/a.geojson'),
            origin=GeoPoint(10.0, 20.0, 30.0),
            out_dir=Path('/m'),
            foxglove=True,
            record=False,
        )
    )
    names = [n['executable'] for n in graph['nodes']]
    assert names == ['edge_server', 'swarm_coordinator', 'flood_mapper', 'foxglove_bridge']
    coordinator = graph['nodes'][1]['parameters'][1]
    assert coordinator['area_file'] == '/areas/a.geojson'
    assert (coordinator['origin_lat_deg'], coordinator['origin_lon_deg']) == (10.0, 20.0)
    mapper = graph['nodes'][2]['parameters'][1]
    assert mapper['checkpoint_file'] == '/m/flood_map.npz'
    assert (mapper['origin_lat_deg'], mapper['origin_lon_deg']) == (10.0, 20.0)  # kept in it


def test_px4_instances_follow_px4s_multi_vehicle_conventions(tmp_path):
    px4 = fake_px4_checkout(tmp_path)
    share = tmp_path / 'share'
    world = SitlWorld(spacing_m=4.0)
    processes = px4_processes(world, 3, share, px4, start_delay_s=5.0, stagger_s=2.0)
    assert [p.label for p in processes] == ['px4_0', 'px4_1', 'px4_2']
    assert [p.delay_s for p in processes] == [5.0, 7.0, 9.0]
    binary = str((px4 / 'build/px4_sitl_default/bin/px4').resolve())
    for i, process in enumerate(processes):
        assert process.cmd == (binary, '-d', '-i', str(i))
        env = dict(process.env)
        assert env == {
            'PX4_SYS_AUTOSTART': '4001',
            'PX4_SIMULATOR': 'gz',
            'PX4_SIM_MODEL': 'gz_uav_flood_x500',
            'PX4_GZ_MODELS': str(share / 'models'),
            'PX4_GZ_WORLD': 'flood_world',
            'PX4_GZ_STANDALONE': '1',
            'PX4_GZ_MODEL_POSE': f'{4 * i},0,0',
        }


def test_px4_processes_say_what_is_missing(tmp_path):
    with pytest.raises(ConfigError, match='is not a folder'):
        px4_processes(SitlWorld(), 1, tmp_path, tmp_path / 'nowhere')
    (tmp_path / 'PX4-Autopilot').mkdir()
    with pytest.raises(ConfigError, match=r'make px4_sitl'):
        px4_binary(tmp_path / 'PX4-Autopilot')
    with pytest.raises(ConfigError, match='1 to 10 drones'):
        px4_processes(SitlWorld(), 11, tmp_path, fake_px4_checkout(tmp_path))


def test_gazebo_server_loads_the_world_with_our_models_on_the_resource_path(tmp_path, monkeypatch):
    monkeypatch.setenv('GZ_SIM_RESOURCE_PATH', '/user/models')
    share = tmp_path / 'share'
    server, gui = gazebo_processes(SitlWorld(), share, tmp_path / 'px4')
    assert server.cmd == (
        'gz',
        'sim',
        '-r',
        '-s',
        '-v',
        '2',
        str(share / 'worlds/flood_world.sdf'),
    )
    assert dict(server.env)['GZ_SIM_RESOURCE_PATH'] == ':'.join(
        [
            str(share / 'models'),
            str(share / 'worlds'),
            str(tmp_path / 'px4/Tools/simulation/gz/models'),
            '/user/models',
        ]
    )
    assert gui.cmd == ('gz', 'sim', '-g')
    (server,) = gazebo_processes(SitlWorld(), share, gui=False, headless_rendering=True)
    assert '--headless-rendering' in server.cmd


@pytest.mark.parametrize(
    ('kwargs', 'key'),
    [
        ({'world': 'flood world'}, 'world'),
        ({'model': ''}, 'model'),
        ({'spacing_m': -1.0}, 'spacing'),
    ],
)
def test_sitl_world_refuses_names_that_are_not_topic_safe(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        SitlWorld(**kwargs)
