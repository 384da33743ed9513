"""Edge offloading on board a drone: the per-frame policy, the scheduler and the wire format.

- policy: where each frame is segmented (on board or at the ground edge server), learnt from
  real traffic; the edge result format (mask PNG, classes, timings, refusals).
- scheduler: the frames at the edge until their one result is published: timeouts, hedging,
  fallbacks on board and the status counters.

No rclpy here; nodes/segmentation.py and nodes/edge_server.py are their ROS side.
"""

from uav_flood.core.offload.policy import (
    Decision,
    Ewma,
    MODES,
    NetworkEstimator,
    OffloadPolicy,
    pack_classes,
    parse_result_format,
    PolicyConfig,
    refusal_format,
    REFUSAL_REASONS,
    RESULT_FORMAT,
    result_format,
    ResultInfo,
    TARGETS,
    unpack_classes,
)
from uav_flood.core.offload.scheduler import (
    DONE_KEYS,
    EDGE_COUNTERS,
    EdgeRequest,
    FALLBACK_LIMIT,
    OffloadError,
    OffloadScheduler,
    ResultOutcome,
)

__all__ = [
    'Decision',
    'DONE_KEYS',
    'EDGE_COUNTERS',
    'EdgeRequest',
    'Ewma',
    'FALLBACK_LIMIT',
    'MODES',
    'NetworkEstimator',
    'OffloadError',
    'OffloadPolicy',
    'OffloadScheduler',
    'pack_classes',
    'parse_result_format',
    'PolicyConfig',
    'REFUSAL_REASONS',
    'refusal_format',
    'RESULT_FORMAT',
    'result_format',
    'ResultInfo',
    'ResultOutcome',
    'TARGETS',
    'unpack_classes',
]
