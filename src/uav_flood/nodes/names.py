"""The catalogue of topic and service names used by uav_flood nodes, each with its QoS.

Per-vehicle names are relative (resolved inside the node's /uavN namespace); a leading '/'
marks a global name. Nodes never spell a topic string inline: they import it from here.
"""

from dataclasses import dataclass

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

#: State, status, battery, diagnostics: reliable, keep the last 10.
STATE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Plans, maps, area of interest: reliable and latched for late joiners.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


@dataclass(frozen=True)
class Topic:
    """A topic name paired with the QoS profile its publishers and subscribers use."""

    name: str
    qos: QoSProfile


#: Diagnostic echo: ping_responder answers every message on PING with the same data on PONG.
PING = Topic('ping', STATE_QOS)
PONG = Topic('pong', STATE_QOS)

#: std_srvs/Trigger on ping_responder: answers with the node's name and process id.
PING_SERVICE = 'ping'


def frame_id(namespace: str, frame: str) -> str:
    """Return the TF frame id of `frame` for the vehicle in `namespace` ('/uav0' -> 'uav0/...').

    :param namespace: the node namespace, with or without leading slash ('/' for global).
    :param frame: the frame's own name, e.g. 'base_link'.
    """
    prefix = namespace.strip('/')
    return f'{prefix}/{frame}' if prefix else frame


#: The map frame: ENU about the mission origin (REP-103/105), shared by every vehicle.
MAP_FRAME = 'map'
#: Each vehicle's body frame (FLU), as frame_id(namespace, BASE_FRAME): 'uav0/base_link'.
BASE_FRAME = 'base_link'
#: Each vehicle's camera optical frame (REP-103 '_optical': z forward, x right, y down).
OPTICAL_FRAME = 'camera_optical'

#: The TF tree map -> uavN/base_link -> uavN/camera_optical (tf2_msgs/TFMessage), published
#: where tf2_msgs is installed (a full ROS install; not among the PyPI wheels): flight_control
#: on /tf from its pose, segmentation on /tf_static from its camera mount. The recorder and the
#: Foxglove bridge write the same transforms into every recording and live view from POSE and
#: CAMERA_MOUNT when tf2_msgs is missing (uav_flood.recording.tf). QoS as tf2_ros's
#: TransformBroadcaster (reliable, volatile, 100) and StaticTransformBroadcaster (reliable,
#: transient local, 1).
TF = Topic(
    '/tf',
    QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=100,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    ),
)
TF_STATIC = Topic('/tf_static', LATCHED_QOS)

#: flight_control -> all: vehicle pose in MAP_FRAME (geometry_msgs/PoseStamped).
POSE = Topic('pose', STATE_QOS)
#: flight_control: WGS84 position, altitude AMSL as the autopilot reports it (NavSatFix).
GLOBAL_POSITION = Topic('global_position', STATE_QOS)
#: flight_control -> coordinator: battery state (sensor_msgs/BatteryState, percentage 0..1).
BATTERY = Topic('battery', STATE_QOS)
#: flight_control, segmentation, offload -> coordinator: health (diagnostic_msgs/DiagnosticArray).
STATUS = Topic('status', STATE_QOS)
#: coordinator -> flight_control: the coverage path to fly (nav_msgs/Path in MAP_FRAME, latched).
MISSION_PATH = Topic('mission/path', LATCHED_QOS)

#: std_srvs/Trigger services of flight_control.
ARM_SERVICE = 'arm'
TAKEOFF_SERVICE = 'takeoff'
LAND_SERVICE = 'land'
RETURN_TO_LAUNCH_SERVICE = 'return_to_launch'
START_MISSION_SERVICE = 'start_mission'

#: Camera and other high-rate streams: best effort, volatile, keep the last 5 (as rclpy's
#: qos_profile_sensor_data): a late frame is worth less than the next one.
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

#: sim_camera (or a real camera driver) -> segmentation: frames (sensor_msgs/Image, rgb8),
#: stamped with the pose they were taken from. Reliable, so lost fragments are resent (KEEP_LAST
#: 5: a slow reader still only gets recent frames). Between processes a 640x480 frame is ~15 UDP
#: fragments; best effort lost two frames in three in the demo on a loaded 2-core machine,
#: reliable none. Best-effort subscribers such as RViz still match.
CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
CAMERA_IMAGE = Topic('camera/image_raw', CAMERA_QOS)
#: The intrinsics of each frame, same header as the image (sensor_msgs/CameraInfo). The image's
#: QoS: a reliable publisher matches default (reliable) subscribers, such as image_geometry's
#: or RViz's camera display, as well as best-effort ones; best effort matched only the latter.
CAMERA_INFO = Topic('camera/camera_info', CAMERA_QOS)
#: segmentation -> sim_camera, recorder, Foxglove bridge: the camera mount it georeferences
#: with, as the static transform uavN/base_link -> uavN/camera_optical
#: (geometry_msgs/TransformStamped, latched). Defined once, by segmentation's mount_* parameters;
#: also on TF_STATIC where tf2_msgs is installed.
CAMERA_MOUNT = Topic('camera/mount', LATCHED_QOS)
#: segmentation: the ground footprint of each frame it maps, as the camera's image outline on
#: the ground (geometry_msgs/PolygonStamped in MAP_FRAME, z = 0, stamp = the frame's).
CAMERA_FOOTPRINT = Topic('camera/footprint', STATE_QOS)
#: sim_camera, for tests and evaluation: the frame's true water mask (Image mono8, 255 water).
CAMERA_GROUND_TRUTH = Topic('camera/ground_truth', SENSOR_QOS)
#: sim_camera: its health and counters (diagnostic_msgs/DiagnosticArray); not `status`, which
#: flight_control publishes in the same namespace.
CAMERA_STATUS = Topic('camera/status', STATE_QOS)

#: segmentation: the water mask of each frame (sensor_msgs/Image mono8, 255 water), with the
#: source frame's header.
MASK = Topic('segmentation/mask', SENSOR_QOS)
#: segmentation -> mapping: each frame's georeferenced mask (nav_msgs/OccupancyGrid in MAP_FRAME,
#: 0 dry, 100 water, -1 unseen; stamp = the frame's, which with the namespace is the observation's
#: id). Reliable, so DDS repairs lost fragments; volatile, because delivery across outages and
#: mapper restarts is the drone's outbox's job (it re-sends until FLOOD_OBSERVATION_ACK; see
#: docs/flood_map.md "Delivery guarantees"), not a DDS history that a late joiner would replay.
#: Depth 20: re-sends are paced (20 a second by default), so a backlog never overruns it.
FLOOD_OBSERVATION = Topic(
    'flood_observation',
    QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=20,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    ),
)
#: segmentation -> flood_mapper: the land-cover classes of an observation's cells
#: (sensor_msgs/Image, encoding '8UC2', the observation's width and height, row 0 its southern
#: row: channel 0 the most probable FloodNet class 0..9, 255 where unseen; channel 1 that class's
#: probability x 255), stamped with the observation's stamp. Published on each vehicle's
#: /<vehicle>/flood_observation/classes for every frame with classes (on board, or from an edge
#: server that returns them), and re-sent with their observation. Same QoS as FLOOD_OBSERVATION.
FLOOD_OBSERVATION_CLASSES = Topic('flood_observation/classes', FLOOD_OBSERVATION.qos)
#: flood_mapper -> segmentation: the observations the mapper has decided for good (fused and in a
#: checkpoint on disk, a duplicate of such, or refused), as std_msgs/Int64MultiArray of their
#: stamps in ns (data only, no layout; at most ACK_BATCH per message). Published on each
#: vehicle's /<vehicle>/flood_observation/ack. Reliable, volatile, depth 20: an ack lost anyway
#: costs one re-send, which is acknowledged again.
FLOOD_OBSERVATION_ACK = Topic(
    'flood_observation/ack',
    QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=20,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    ),
)
#: Most ids in one acknowledgement message (8 bytes each).
ACK_BATCH = 1000
#: segmentation: its health and counters (diagnostic_msgs/DiagnosticArray, ~1 Hz).
SEGMENTATION_STATUS = Topic('segmentation/status', STATE_QOS)

#: Operator or ground station -> swarm_coordinator: the area to map (geometry_msgs/PolygonStamped
#: in MAP_FRAME, latched).
AREA_OF_INTEREST = Topic('/swarm/area_of_interest', LATCHED_QOS)
#: swarm_coordinator -> RViz: area, parts, paths and covered swaths
#: (visualization_msgs/MarkerArray in MAP_FRAME; latched so RViz started late sees the plan).
SWARM_MARKERS = Topic('/swarm/markers', LATCHED_QOS)
#: std_srvs/Trigger on swarm_coordinator: an operator confirms the battery swaps; every drone
#: waiting between two sorties flies its next one once it is ready (docs/swarm_coordinator.md).
BATTERY_SWAPPED_SERVICE = '/swarm/battery_swapped'
#: swarm_coordinator: coverage done, time left, per-drone state (diagnostic_msgs/DiagnosticArray,
#: 1 Hz).
SWARM_STATUS = Topic('/swarm/status', STATE_QOS)

#: flood_mapper: the fused flood map (nav_msgs/OccupancyGrid in MAP_FRAME: -1 unknown, else
#: round(100 P(water)); latched so RViz started late sees it).
FLOOD_MAP = Topic('/flood_map', LATCHED_QOS)
#: flood_mapper: the fused land cover (nav_msgs/OccupancyGrid in MAP_FRAME: -1 unknown, else the
#: most probable FloodNet class 0..9 of the cell, core.responder_layers.CLASSES; latched).
FLOOD_MAP_CLASSES = Topic('/flood_map/classes', LATCHED_QOS)
#: nav_msgs/GetPlan on flood_mapper: a passable road route on the current land cover from
#: `start` to `goal` (map frame; `tolerance` = how far each may be from a road, m, 0 for 30 m).
#: The plan is the route's centre line (map frame), empty when none: why is logged and in the
#: status (`last_route`).
ROUTE_SERVICE = '/flood_map/route'
#: flood_mapper: flood polygon outlines with their areas and the drone tracks
#: (visualization_msgs/MarkerArray in MAP_FRAME, latched).
FLOOD_MAP_MARKERS = Topic('/flood_map/markers', LATCHED_QOS)
#: flood_mapper: observations applied and refused, cells known, water area, checkpoint age
#: (diagnostic_msgs/DiagnosticArray, 1 Hz).
FLOOD_MAP_STATUS = Topic('/flood_map/status', STATE_QOS)

#: Edge offloading (docs/offloading.md): frames and masks between a drone and the ground edge
#: server are sensor_msgs/CompressedImage (JPEG in, PNG mask or a refusal out); the header stamp
#: is the frame's and correlates request and result. Reliable: a lost request costs a timeout.
EDGE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
#: Drone (or link emulator) -> edge_server: frames to segment.
EDGE_REQUEST = Topic('edge/request', EDGE_QOS)
#: edge_server -> drone (or link emulator): masks (format 'mono8; png compressed; ...') or
#: refusals (format 'refused: <reason>', no data).
EDGE_RESULT = Topic('edge/result', EDGE_QOS)
#: With the link emulator between them: drone -> emulator (relayed to EDGE_REQUEST) ...
EDGE_UPLINK = Topic('edge/uplink', EDGE_QOS)
#: ... and emulator -> drone (relayed from EDGE_RESULT).
EDGE_DOWNLINK = Topic('edge/downlink', EDGE_QOS)
#: edge_server: its load for the drones' policies and the operator (DiagnosticArray, ~2 Hz:
#: queue_length, service_ms_mean, refusals by reason, frames_per_s).
EDGE_STATUS = Topic('/edge/status', STATE_QOS)
#: link_emulator: messages relayed, dropped by reason and mean delay per vehicle and direction
#: (DiagnosticArray, 1 Hz).
EDGE_LINK_STATUS = Topic('/edge/link_status', STATE_QOS)
#: Every node's status, also: where rqt_robot_monitor and the diagnostic aggregator look
#: (diagnostic_msgs/DiagnosticArray; each node publishes its own status there besides its topic
#: above, through conversions.StatusPublisher). Reliable, volatile, depth 10: as
#: diagnostic_updater publishes it.
DIAGNOSTICS = Topic('/diagnostics', STATE_QOS)
