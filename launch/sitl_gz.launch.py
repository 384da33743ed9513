"""PX4 SITL + Gazebo: N PX4 instances in the flood world, our nodes per /uavN, the ground, RViz.

    ros2 launch uav_flood sitl_gz.launch.py px4_dir:=$HOME/PX4-Autopilot
    ros2 launch uav_flood sitl_gz.launch.py px4_dir:=$HOME/PX4-Autopilot drones:=2 gui:=false

Starts, in order: the Gazebo server with worlds/flood_world.sdf (and the GUI unless gui:=false);
after `px4_delay` seconds, PX4 SITL instance i = 0 .. drones-1 in standalone mode, each spawning
uav_flood_x500_<i> (airframe 4001, MAVLink on UDP 14540+i); at once, the ROS graph of
uav_flood.deploy.graphs.sitl_graph (config/graphs/sitl_gz.yaml for 3 drones): per /uav<i>
gz_camera_bridge, flight_control and segmentation, then edge_server, swarm_coordinator,
flood_mapper and recorder; and RViz 2 unless rviz:=false. Step by step, versions and the
expected output: docs/px4_sitl_gazebo.md.
"""

from pathlib import Path

from uav_flood.deploy.graphs import GroundConfig, sitl_graph, SitlConfig
from uav_flood.deploy.launch_actions import (
    area_file,
    describe,
    flag,
    graph_spec,
    node_actions,
    number,
    process_actions,
    rviz_action,
    share_dir,
)
from uav_flood.deploy.px4 import gazebo_processes, px4_processes

ARGUMENTS = {
    'px4_dir': ('', 'the PX4-Autopilot checkout where `make px4_sitl` was run (required)'),
    'drones': ('3', 'number of PX4 SITL instances, 1-10'),
    'gui': ('true', 'start the Gazebo GUI'),
    'headless_rendering': ('false', 'render the cameras with EGL, without a display'),
    'rviz': ('true', 'start RViz 2 with config/uav_flood.rviz'),
    'px4_delay': ('5.0', 's between Gazebo and the first PX4 instance'),
    'area': ('', 'area of interest (GeoJSON); empty: the shipped flood scene'),
    'out_dir': ('sitl_mission', 'folder for the map checkpoint and the recording'),
}


def _actions(value):
    """Build every action from the arguments' values."""
    share = share_dir()
    drones = number(value, 'drones', int)
    config = SitlConfig(
        drones=drones,
        ground=GroundConfig(
            vehicles=tuple(f'uav{i}' for i in range(drones)),
            area_file=area_file(value['area']),
            out_dir=Path(value['out_dir']).resolve(),
            config_dir=share / 'config',
        ),
    )
    px4_dir = value['px4_dir']
    actions = process_actions(
        gazebo_processes(
            config.world,
            share,
            Path(px4_dir) if px4_dir else None,
            gui=flag(value, 'gui'),
            headless_rendering=flag(value, 'headless_rendering'),
        )
        + px4_processes(config.world, drones, share, px4_dir, number(value, 'px4_delay'))
    )
    actions += node_actions(graph_spec(sitl_graph(config), 'sitl_gz'))
    if flag(value, 'rviz'):
        actions.append(rviz_action())
    return actions


def generate_launch_description():
    return describe(ARGUMENTS, _actions)
