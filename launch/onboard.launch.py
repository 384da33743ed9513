"""One vehicle's companion computer (a Jetson) beside its PX4 flight controller.

    ros2 launch uav_flood onboard.launch.py
    ros2 launch uav_flood onboard.launch.py vehicle:=uav1 \
        connection_url:=udpin://0.0.0.0:14540 image_topic:=/csi_cam/image_raw \
        info_topic:=/csi_cam/camera_info

Starts the graph of uav_flood.deploy.graphs.onboard_graph (config/graphs/onboard.yaml with the
defaults): flight_control on the MAVLink link (default TELEM2 on /dev/ttyTHS1 at 921600 baud)
and segmentation on onnxruntime's TensorRT, then CUDA, then CPU execution provider, offloading to
the ground station's edge server over DDS. The camera driver is yours: name its topics. The
ground side is ground.launch.py. Setup: docs/jetson.md.
"""

from uav_flood.deploy.graphs import onboard_graph, OnboardConfig
from uav_flood.deploy.launch_actions import (
    area_file,
    describe,
    graph_spec,
    node_actions,
    share_dir,
    words,
)

ARGUMENTS = {
    'vehicle': ('uav0', 'the namespace, uavN'),
    'connection_url': ('serial:///dev/ttyTHS1:921600', 'MAVSDK URL of the flight controller'),
    'providers': ('tensorrt,cuda,cpu', 'onnxruntime execution providers, best first'),
    'image_topic': ('camera/image_raw', "the camera driver's sensor_msgs/Image topic"),
    'info_topic': ('camera/camera_info', "the camera driver's CameraInfo topic"),
    'offload_mode': ('adaptive', 'off, local, edge or adaptive'),
    'area': ('', 'geofence: the area of interest (GeoJSON); empty: the shipped flood scene'),
}


def _actions(value):
    """Build the nodes from the arguments' values."""
    config = OnboardConfig(
        vehicle=value['vehicle'],
        connection_url=value['connection_url'],
        providers=words(value['providers']),
        image_topic=value['image_topic'],
        info_topic=value['info_topic'],
        offload_mode=value['offload_mode'],
        area_file=area_file(value['area']),
        config_dir=share_dir() / 'config',
    )
    return node_actions(graph_spec(onboard_graph(config), 'onboard'))


def generate_launch_description():
    return describe(ARGUMENTS, _actions)
