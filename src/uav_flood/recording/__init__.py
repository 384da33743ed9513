"""MCAP recording of uav_flood missions, reading recordings back, and map replay (no rclpy here).

`schema` finds ROS 2 message definitions, `mcap_io` writes and reads MCAP files with the 'ros2'
profile (schema encoding 'ros2msg', message encoding 'cdr'), `replay` rebuilds the flood map
from recorded observations. The recorder node is `uav_flood.nodes.recorder`.
"""
