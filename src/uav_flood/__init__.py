"""uav_flood: real-time flood mapping with a swarm of PX4 multirotors on ROS 2."""

__version__ = '0.1.0'
