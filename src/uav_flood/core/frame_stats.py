"""The segmentation node's counters and timings, and the status values made of them (no ROS).

Not thread-safe: the node holds its lock around every call.
"""

from __future__ import annotations

import collections
from typing import Any

from uav_flood.core.latency import LatencyHistogram

#: Why a frame was skipped; each has a counter `skipped_<reason>` in the status.
SKIP_REASONS = (
    'encoding',
    'size_mismatch',
    'empty',
    'no_camera_info',
    'no_pose',
    'bad_pose',
)
#: Where a frame's result came from.
SOURCES = ('local', 'edge')
#: The frame rate in the status is measured over this window (s).
FPS_WINDOW_S = 5.0
#: Means in the status are over this many frames.
MEAN_FRAMES = 50
#: Latency percentiles in the status are over this many results per source.
LATENCY_FRAMES = 200


def _mean(xs: collections.deque[float]) -> str:
    return f'{sum(xs) / len(xs):.1f}' if xs else 'nan'


class FrameStats:
    """What happened to the frames of one camera: counts, inference and end-to-end latency."""

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.observations_published = 0
        self.class_observations_published = 0
        self.no_ground = 0
        self.errors = 0
        self.poses_received = 0
        self.camera_infos_received = 0
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self._done_times: collections.deque[float] = collections.deque()
        self._inference_ms: collections.deque[float] = collections.deque(maxlen=MEAN_FRAMES)
        self._latency_ms: collections.deque[float] = collections.deque(maxlen=MEAN_FRAMES)
        self._latency_by = {s: collections.deque[float](maxlen=LATENCY_FRAMES) for s in SOURCES}
        # Every frame since start, in 5 ms bins: merges exactly across drones (the demo report).
        self._histogram_by = {s: LatencyHistogram() for s in SOURCES}

    def frame_done(
        self,
        source: str,
        received: float,
        done: float,
        inference_ms: float | None,
        ground: bool,
        sent: bool,
    ) -> bool:
        """Count a frame's result; return True if it is the first.

        :param source: 'local' or 'edge'.
        :param received: when its image arrived; `done`: when its result was out (monotonic s).
        :param inference_ms: its on-board inference time, None for an edge result.
        :param ground: it saw the ground (it has an observation).
        :param sent: its observation was published.
        """
        latency_ms = (done - received) * 1e3
        self.frames_processed += 1
        if not ground:
            self.no_ground += 1
        elif sent:
            self.observations_published += 1
        if inference_ms is not None:
            self._inference_ms.append(inference_ms)
        self._latency_ms.append(latency_ms)
        self._latency_by[source].append(latency_ms)
        self._histogram_by[source].add(latency_ms)
        self._done_times.append(done)
        while self._done_times and self._done_times[0] < done - FPS_WINDOW_S:
            self._done_times.popleft()
        return self.frames_processed == 1

    def fps(self, now: float) -> float:
        """Return the results a second over the last FPS_WINDOW_S."""
        times = [t for t in self._done_times if t >= now - FPS_WINDOW_S]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 else 0.0

    def values(self, now: float) -> dict[str, Any]:
        """Return the counters, rates and timings of the status."""
        inference, latency = self._inference_ms, self._latency_ms
        return {
            'frames_in': self.frames_in,
            'frames_processed': self.frames_processed,
            'frames_dropped': self.frames_dropped,
            'observations_published': self.observations_published,
            'class_observations_published': self.class_observations_published,
            'frames_without_ground': self.no_ground,
            'errors': self.errors,
            **{f'skipped_{reason}': n for reason, n in self.skipped.items()},
            **{f'latency_{k}_hist': h.to_text() for k, h in self._histogram_by.items()},
            'fps': f'{self.fps(now):.2f}',
            'inference_ms_mean': _mean(inference),
            'inference_ms_last': f'{inference[-1]:.1f}' if inference else 'nan',
            'inference_ms_max': f'{max(inference):.1f}' if inference else 'nan',
            'latency_ms_mean': _mean(latency),
            'latency_ms_last': f'{latency[-1]:.1f}' if latency else 'nan',
        }

    def latency_percentiles(self) -> dict[str, str]:
        """Return p50 and p95 of the end-to-end latency per source (ms; 'nan' before any)."""
        values = {}
        for source, recent in self._latency_by.items():
            ordered = sorted(recent)
            for name, q in (('p50', 0.5), ('p95', 0.95)):
                values[f'latency_{source}_ms_{name}'] = (
                    f'{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.1f}'
                    if ordered
                    else 'nan'
                )
        return values
