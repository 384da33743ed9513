"""The ground station for real vehicles: edge server, coordinator, mapper, recorder, Foxglove.

    ros2 launch uav_flood ground.launch.py vehicles:=uav0,uav1 area:=/path/to/area.geojson

Starts the graph of uav_flood.deploy.graphs.ground_graph (config/graphs/ground.yaml with the
defaults), serving the vehicles' onboard.launch.py graphs over DDS; RViz 2 with rviz:=true.
Setup: docs/jetson.md.
"""

from pathlib import Path

from uav_flood.core.geo import GeoPoint
from uav_flood.deploy.graphs import DEFAULT_ORIGIN, ground_graph, GroundConfig
from uav_flood.deploy.launch_actions import (
    area_file,
    describe,
    flag,
    graph_spec,
    node_actions,
    rviz_action,
    share_dir,
    words,
)

ARGUMENTS = {
    'vehicles': ('uav0', 'the vehicles served, comma separated (uav0,uav1,...)'),
    'area': ('', 'area of interest (GeoJSON); empty: the shipped flood scene'),
    'origin': (
        f'{DEFAULT_ORIGIN.lat_deg},{DEFAULT_ORIGIN.lon_deg},{DEFAULT_ORIGIN.alt_m}',
        'map origin LAT,LON,ALT (deg, deg, m AMSL): the same on every vehicle',
    ),
    'out_dir': ('mission', 'folder for the map checkpoint and the recording'),
    'edge_providers': ('cuda,cpu', "the edge server's onnxruntime providers, best first"),
    'rviz': ('false', 'start RViz 2 with config/uav_flood.rviz'),
}


def _actions(value):
    """Build the nodes from the arguments' values."""
    config = GroundConfig(
        vehicles=words(value['vehicles']),
        area_file=area_file(value['area']),
        origin=GeoPoint.parse(value['origin']),
        out_dir=Path(value['out_dir']).resolve(),
        config_dir=share_dir() / 'config',
        edge_providers=words(value['edge_providers']),
        foxglove=True,
    )
    actions = node_actions(graph_spec(ground_graph(config), 'ground'))
    if flag(value, 'rviz'):
        actions.append(rviz_action())
    return actions


def generate_launch_description():
    return describe(ARGUMENTS, _actions)
