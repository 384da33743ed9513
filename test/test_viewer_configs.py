"""config/uav_flood.rviz and config/foxglove_layout.json: well formed, catalogued topics only,
and showing the drones (TF, poses), their camera footprints and the map. The quick demo test
(test/integration/test_demo.py) checks that a real mission records every topic they show."""

from uav_flood.nodes import names
import viewer_configs

DRONES = range(3)  # the demo's uav0..uav2


def catalogue() -> dict[str, names.Topic]:
    out = {}
    for value in vars(names).values():
        if isinstance(value, names.Topic):
            if value.name.startswith('/'):
                out[value.name] = value
            else:
                out |= {f'/uav{i}/{value.name}': value for i in DRONES}
    return out


def test_rviz_config_is_yaml_and_names_only_catalogued_topics():
    config = viewer_configs.rviz()
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == names.MAP_FRAME
    topics = viewer_configs.rviz_topics()
    assert not topics - set(catalogue()), topics - set(catalogue())


def test_rviz_shows_the_drones_their_footprints_and_the_map():
    displays = viewer_configs.rviz()['Visualization Manager']['Displays']
    by_topic = {d['Topic']['Value']: d for d in displays if 'Topic' in d}
    assert any(d['Class'] == 'rviz_default_plugins/TF' and d['Enabled'] for d in displays)
    assert by_topic['/flood_map']['Class'] == 'rviz_default_plugins/Map'
    assert by_topic['/flood_map']['Topic']['Durability Policy'] == 'Transient Local'
    for i in DRONES:
        assert by_topic[f'/uav{i}/pose']['Class'] == 'rviz_default_plugins/Pose'
        footprint = by_topic[f'/uav{i}/camera/footprint']
        assert footprint['Class'] == 'rviz_default_plugins/Polygon'
        assert footprint['Topic']['Reliability Policy'] == 'Reliable'


def test_foxglove_layout_is_complete_and_names_only_catalogued_topics():
    layout = viewer_configs.foxglove()
    panels = layout['configById']

    def leaves(node):
        if isinstance(node, str):
            return [node]
        assert node['direction'] in ('row', 'column')
        assert 0 < node.get('splitPercentage', 50) < 100
        return leaves(node['first']) + leaves(node['second'])

    shown = leaves(layout['layout'])
    assert sorted(shown) == sorted(panels)  # every panel placed once, none without a config
    assert {p.split('!')[0] for p in panels} <= {'3D', 'Image', 'map', 'DiagnosticSummary'}
    topics = viewer_configs.foxglove_topics()
    assert not topics - set(catalogue()), topics - set(catalogue())


def test_foxglove_3d_panel_shows_the_drones_their_footprints_and_the_map():
    three_d = viewer_configs.foxglove()['configById']['3D!flood_map']
    assert three_d['followTf'] == names.MAP_FRAME
    topics = three_d['topics']
    assert topics['/flood_map']['visible'] and topics['/flood_map']['colorMode'] == 'map'
    for i in DRONES:
        # the frustum needs camera_info and the TF chain map -> base_link -> camera_optical
        for name in ('camera/footprint', 'camera/camera_info', 'pose', 'mission/path'):
            assert topics[f'/uav{i}/{name}']['visible'], name
    assert three_d['layers']['grid']['frameId'] == names.MAP_FRAME
