"""The catalogue of topic and service names used by uav_flood nodes, each with its QoS.

Per-vehicle names are relative (resolved inside the node's /uavN namespace); a leading '/'
marks a global name. Nodes never spell a topic string inline: they import it from here.
"""

from dataclasses import dataclass
from pathlib import Path
import re

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
    """A topic name paired with the QoS profile its publishers and subscribers use.

    :param name: relative (per vehicle, in its /uavN namespace) or global (leading '/').
    :param qos: the profile of its publishers and subscribers.
    :param type: the message type, 'pkg/msg/Type'.
    :param flow: who publishes -> who subscribes (docs/ARCHITECTURE.md's topic table).
    """

    name: str
    qos: QoSProfile
    type: str = ''
    flow: str = ''


@dataclass(frozen=True)
class Service:
    """A service name with its type and who calls whom (docs/ARCHITECTURE.md's table)."""

    name: str
    type: str
    flow: str


#: Diagnostic echo: ping_responder answers every message on PING with the same data on PONG.
PING = Topic(
    'ping',
    STATE_QOS,
    type='std_msgs/msg/String',
    flow='uav-flood doctor -> ping_responder',
)
#: ping_responder's answers on PING, prefixed by its reply_prefix (std_msgs/String).
PONG = Topic(
    'pong',
    STATE_QOS,
    type='std_msgs/msg/String',
    flow='ping_responder -> uav-flood doctor',
)

#: std_srvs/Trigger on ping_responder: answers with the node's name and process id.
PING_SERVICE = Service('ping', 'std_srvs/srv/Trigger', 'uav-flood doctor -> ping_responder')


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
    type='tf2_msgs/msg/TFMessage',
    flow='flight_control with tf2_msgs; else recorder, foxglove_bridge (from POSE)',
)
#: The static part of the TF tree: uavN/base_link -> uavN/camera_optical (as TF).
TF_STATIC = Topic(
    '/tf_static',
    LATCHED_QOS,
    type='tf2_msgs/msg/TFMessage',
    flow='segmentation with tf2_msgs; else recorder, foxglove_bridge (from CAMERA_MOUNT)',
)

#: flight_control -> all: vehicle pose in MAP_FRAME (geometry_msgs/PoseStamped).
POSE = Topic(
    'pose',
    STATE_QOS,
    type='geometry_msgs/msg/PoseStamped',
    flow='flight_control -> sim_camera, segmentation, swarm_coordinator, flood_mapper',
)
#: flight_control: WGS84 position, altitude AMSL as the autopilot reports it (NavSatFix).
GLOBAL_POSITION = Topic(
    'global_position',
    STATE_QOS,
    type='sensor_msgs/msg/NavSatFix',
    flow='flight_control -> operators, recorder',
)
#: flight_control -> coordinator: battery state (sensor_msgs/BatteryState, percentage 0..1).
BATTERY = Topic(
    'battery',
    STATE_QOS,
    type='sensor_msgs/msg/BatteryState',
    flow='flight_control -> swarm_coordinator',
)
#: flight_control -> coordinator: the vehicle's autopilot and mission state, its link and its
#: failsafes (diagnostic_msgs/DiagnosticArray, at publish_rate_hz).
STATUS = Topic(
    'status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='flight_control -> swarm_coordinator, demo monitor',
)
#: coordinator -> flight_control: the coverage path to fly (nav_msgs/Path in MAP_FRAME, latched).
MISSION_PATH = Topic(
    'mission/path',
    LATCHED_QOS,
    type='nav_msgs/msg/Path',
    flow='swarm_coordinator -> flight_control',
)

#: std_srvs/Trigger services of flight_control: arm the vehicle ...
ARM_SERVICE = Service('arm', 'std_srvs/srv/Trigger', 'operator -> flight_control')
#: ... take off to its takeoff altitude ...
TAKEOFF_SERVICE = Service('takeoff', 'std_srvs/srv/Trigger', 'operator -> flight_control')
#: ... land where it is ...
LAND_SERVICE = Service('land', 'std_srvs/srv/Trigger', 'operator -> flight_control')
#: ... return home and land ...
RETURN_TO_LAUNCH_SERVICE = Service(
    'return_to_launch', 'std_srvs/srv/Trigger', 'operator -> flight_control'
)
#: ... and start (or resume) the uploaded mission.
START_MISSION_SERVICE = Service(
    'start_mission', 'std_srvs/srv/Trigger', 'operator -> flight_control'
)

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
#: The camera's frames (sensor_msgs/Image rgb8 or bgr8), stamped with the pose they were taken
#: from; CAMERA_QOS.
CAMERA_IMAGE = Topic(
    'camera/image_raw',
    CAMERA_QOS,
    type='sensor_msgs/msg/Image',
    flow='sim_camera, gz_camera_bridge or a camera driver -> segmentation',
)
#: The intrinsics of each frame, same header as the image (sensor_msgs/CameraInfo). The image's
#: QoS: a reliable publisher matches default (reliable) subscribers, such as image_geometry's
#: or RViz's camera display, as well as best-effort ones; best effort matched only the latter.
CAMERA_INFO = Topic(
    'camera/camera_info',
    CAMERA_QOS,
    type='sensor_msgs/msg/CameraInfo',
    flow='sim_camera, gz_camera_bridge or a camera driver -> segmentation',
)
#: segmentation -> sim_camera, recorder, Foxglove bridge: the camera mount it georeferences
#: with, as the static transform uavN/base_link -> uavN/camera_optical
#: (geometry_msgs/TransformStamped, latched). Defined once, by segmentation's mount_* parameters;
#: also on TF_STATIC where tf2_msgs is installed.
CAMERA_MOUNT = Topic(
    'camera/mount',
    LATCHED_QOS,
    type='geometry_msgs/msg/TransformStamped',
    flow='segmentation -> sim_camera, recorder, foxglove_bridge',
)
#: segmentation: the ground footprint of each frame it maps, as the camera's image outline on
#: the ground (geometry_msgs/PolygonStamped in MAP_FRAME, z = 0, stamp = the frame's).
CAMERA_FOOTPRINT = Topic(
    'camera/footprint',
    STATE_QOS,
    type='geometry_msgs/msg/PolygonStamped',
    flow='segmentation -> RViz, Foxglove',
)
#: sim_camera, for tests and evaluation: the frame's true water mask (Image mono8, 255 water).
CAMERA_GROUND_TRUTH = Topic(
    'camera/ground_truth',
    SENSOR_QOS,
    type='sensor_msgs/msg/Image',
    flow='sim_camera -> tests, evaluation',
)
#: sim_camera: its health and counters (diagnostic_msgs/DiagnosticArray); not `status`, which
#: flight_control publishes in the same namespace.
CAMERA_STATUS = Topic(
    'camera/status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='sim_camera, gz_camera_bridge -> operators',
)

#: segmentation: the water mask of each frame (sensor_msgs/Image mono8, 255 water), with the
#: source frame's header.
MASK = Topic(
    'segmentation/mask',
    SENSOR_QOS,
    type='sensor_msgs/msg/Image',
    flow='segmentation -> RViz, Foxglove',
)
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
    type='nav_msgs/msg/OccupancyGrid',
    flow='segmentation -> flood_mapper',
)
#: segmentation -> flood_mapper: the land-cover classes of an observation's cells
#: (sensor_msgs/Image, encoding '8UC2', the observation's width and height, row 0 its southern
#: row: channel 0 the most probable FloodNet class 0..9, 255 where unseen; channel 1 that class's
#: probability x 255), stamped with the observation's stamp. Published on each vehicle's
#: /<vehicle>/flood_observation/classes for every frame with classes (on board, or from an edge
#: server that returns them), and re-sent with their observation. Same QoS as FLOOD_OBSERVATION.
FLOOD_OBSERVATION_CLASSES = Topic(
    'flood_observation/classes',
    FLOOD_OBSERVATION.qos,
    type='sensor_msgs/msg/Image',
    flow='segmentation -> flood_mapper',
)
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
    type='std_msgs/msg/Int64MultiArray',
    flow='flood_mapper -> segmentation',
)
#: Most ids in one acknowledgement message (8 bytes each).
ACK_BATCH = 1000
#: segmentation: its health and counters (diagnostic_msgs/DiagnosticArray, ~1 Hz).
SEGMENTATION_STATUS = Topic(
    'segmentation/status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='segmentation -> demo monitor, operators',
)

#: Operator or ground station -> swarm_coordinator: the area to map (geometry_msgs/PolygonStamped
#: in MAP_FRAME, latched).
AREA_OF_INTEREST = Topic(
    '/swarm/area_of_interest',
    LATCHED_QOS,
    type='geometry_msgs/msg/PolygonStamped',
    flow='operator -> swarm_coordinator',
)
#: swarm_coordinator -> RViz: area, parts, paths and covered swaths
#: (visualization_msgs/MarkerArray in MAP_FRAME; latched so RViz started late sees the plan).
SWARM_MARKERS = Topic(
    '/swarm/markers',
    LATCHED_QOS,
    type='visualization_msgs/msg/MarkerArray',
    flow='swarm_coordinator -> RViz, Foxglove',
)
#: std_srvs/Trigger on swarm_coordinator: an operator confirms the battery swaps; every drone
#: waiting between two sorties flies its next one once it is ready (docs/swarm_coordinator.md).
BATTERY_SWAPPED_SERVICE = Service(
    '/swarm/battery_swapped', 'std_srvs/srv/Trigger', 'operator -> swarm_coordinator'
)
#: swarm_coordinator: coverage done, time left, per-drone state (diagnostic_msgs/DiagnosticArray,
#: 1 Hz).
SWARM_STATUS = Topic(
    '/swarm/status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='swarm_coordinator -> demo monitor, operators',
)

#: flood_mapper: the fused flood map (nav_msgs/OccupancyGrid in MAP_FRAME: -1 unknown, else
#: round(100 P(water)); latched so RViz started late sees it).
FLOOD_MAP = Topic(
    '/flood_map',
    LATCHED_QOS,
    type='nav_msgs/msg/OccupancyGrid',
    flow='flood_mapper -> swarm_coordinator (its map check), RViz, Foxglove',
)
#: flood_mapper: the fused land cover (nav_msgs/OccupancyGrid in MAP_FRAME: -1 unknown, else the
#: most probable FloodNet class 0..9 of the cell, core.responder_layers.CLASSES; latched).
FLOOD_MAP_CLASSES = Topic(
    '/flood_map/classes',
    LATCHED_QOS,
    type='nav_msgs/msg/OccupancyGrid',
    flow='flood_mapper -> RViz, Foxglove',
)
#: nav_msgs/GetPlan on flood_mapper: a passable road route on the current land cover from
#: `start` to `goal` (map frame; `tolerance` = how far each may be from a road, m, 0 for 30 m).
#: The plan is the route's centre line (map frame), empty when none: why is logged and in the
#: status (`last_route`).
ROUTE_SERVICE = Service('/flood_map/route', 'nav_msgs/srv/GetPlan', 'operator -> flood_mapper')
#: flood_mapper: flood polygon outlines with their areas and the drone tracks
#: (visualization_msgs/MarkerArray in MAP_FRAME, latched).
FLOOD_MAP_MARKERS = Topic(
    '/flood_map/markers',
    LATCHED_QOS,
    type='visualization_msgs/msg/MarkerArray',
    flow='flood_mapper -> RViz, Foxglove',
)
#: flood_mapper: observations applied and refused, cells known, water area, checkpoint age
#: (diagnostic_msgs/DiagnosticArray, 1 Hz).
FLOOD_MAP_STATUS = Topic(
    '/flood_map/status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='flood_mapper -> demo monitor, operators',
)

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
EDGE_REQUEST = Topic(
    'edge/request',
    EDGE_QOS,
    type='sensor_msgs/msg/CompressedImage',
    flow='segmentation (or link_emulator) -> edge_server',
)
#: edge_server -> drone (or link emulator): masks (format 'mono8; png compressed; ...') or
#: refusals (format 'refused: <reason>', no data).
EDGE_RESULT = Topic(
    'edge/result',
    EDGE_QOS,
    type='sensor_msgs/msg/CompressedImage',
    flow='edge_server -> segmentation (or link_emulator)',
)
#: With the link emulator between them: drone -> emulator (relayed to EDGE_REQUEST) ...
EDGE_UPLINK = Topic(
    'edge/uplink',
    EDGE_QOS,
    type='sensor_msgs/msg/CompressedImage',
    flow='segmentation -> link_emulator',
)
#: ... and emulator -> drone (relayed from EDGE_RESULT).
EDGE_DOWNLINK = Topic(
    'edge/downlink',
    EDGE_QOS,
    type='sensor_msgs/msg/CompressedImage',
    flow='link_emulator -> segmentation',
)
#: edge_server: its load for the drones' policies and the operator (DiagnosticArray, ~2 Hz:
#: queue_length, service_ms_mean, refusals by reason, frames_per_s).
EDGE_STATUS = Topic(
    '/edge/status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='edge_server -> segmentation (offload policy), operators',
)
#: link_emulator: messages relayed, dropped by reason and mean delay per vehicle and direction
#: (DiagnosticArray, 1 Hz).
EDGE_LINK_STATUS = Topic(
    '/edge/link_status',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='link_emulator -> operators',
)
#: Every node's status, also: where rqt_robot_monitor and the diagnostic aggregator look
#: (diagnostic_msgs/DiagnosticArray; each node publishes its own status there besides its topic
#: above, through conversions.StatusPublisher). Reliable, volatile, depth 10: as
#: diagnostic_updater publishes it.
DIAGNOSTICS = Topic(
    '/diagnostics',
    STATE_QOS,
    type='diagnostic_msgs/msg/DiagnosticArray',
    flow='every node -> rqt_robot_monitor, diagnostic_aggregator',
)


# -- the catalogue as a table (docs/ARCHITECTURE.md, tools/gen_topic_table.py) -------------------


def _doc_comments() -> dict[str, str]:
    """Return the '#:' comment block above each constant of this module, joined into one line."""
    comments: dict[str, str] = {}
    block: list[str] = []
    for line in Path(__file__).read_text(encoding='utf-8').splitlines():
        if line.startswith('#:'):
            block.append(line[2:].strip())
            continue
        match = re.match(r'([A-Z][A-Z0-9_]*) = ', line)
        if match and block:
            comments[match.group(1)] = ' '.join(block)
        block = []
    return comments


def _qos_words(qos: QoSProfile) -> str:
    reliability = 'best effort' if qos.reliability == ReliabilityPolicy.BEST_EFFORT else 'reliable'
    latched = qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
    return f'{reliability}, {"transient local" if latched else "volatile"}, depth {qos.depth}'


def _shown(name: str) -> str:
    return name if name.startswith('/') else f'/uavN/{name}'


def catalogue_markdown() -> str:
    """Return every topic and service of this catalogue as a Markdown table, in module order.

    Relative names are shown in a vehicle's namespace (/uavN/...); the description is the
    constant's '#:' comment here.
    """
    comments = _doc_comments()
    rows = [
        '| topic / service | type | QoS | from -> to | what |',
        '|---|---|---|---|---|',
    ]
    for const, value in globals().items():
        if isinstance(value, Topic):
            qos = _qos_words(value.qos)
        elif isinstance(value, Service):
            qos = 'service'
        else:
            continue
        what = comments.get(const, '').replace('|', '/')
        rows.append(f'| `{_shown(value.name)}` | {value.type} | {qos} | {value.flow} | {what} |')
    return '\n'.join(rows) + '\n'
