"""rclpy nodes of uav_flood: thin adapters between ROS 2 interfaces and uav_flood.core."""
