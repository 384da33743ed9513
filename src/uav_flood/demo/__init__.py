"""`uav-flood demo`: the whole stack end to end on the built-in simulator (docs/demo.md).

graph.py builds the node graph, gcs.py is the ground-station link to the simulator (clock,
faults), monitor.py the ROS 2 listener, progress.py the fleet's state and the progress table,
report.py the mission report, cli.py the command.
"""
