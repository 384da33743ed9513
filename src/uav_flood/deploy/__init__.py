"""Node graphs for PX4 SITL + Gazebo and for real vehicles, and the PX4/Gazebo processes.

- :mod:`uav_flood.deploy.graphs`: the graphs (graph-file mappings, as `uav-flood launch` runs
  them) of a PX4 SITL + Gazebo fleet, of one vehicle's on-board computer (a Jetson) and of the
  ground station that serves real vehicles; shipped as config/graphs/*.yaml.
- :mod:`uav_flood.deploy.px4`: the Gazebo server and the N PX4 SITL instances the SITL graph
  flies, as plain process descriptions (command, environment, working directory).
- :mod:`uav_flood.deploy.launch_actions`: turns both into ROS 2 launch actions for the launch
  files in launch/.

Nothing here imports rclpy; only launch_actions imports launch, and only when called.
"""
