"""A short, time-ordered history of vehicle poses, interpolated at a camera frame's stamp.

A camera frame is taken between two pose messages; the segmentation node asks for the pose at
the frame's stamp: position interpolated linearly, orientation by slerp, between the two poses
around the stamp. No rclpy here: stamps are plain seconds (float, any epoch, one clock).

Poses may arrive out of order: each is inserted at its place in time; a pose with the stamp of
one already held replaces it (the later message wins). Poses older than ``span_s`` before the
newest are dropped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
import math

from uav_flood.core.errors import UavFloodError
from uav_flood.core.georef import VehiclePose
from uav_flood.core.rotation import Wxyz


class PoseHistoryError(UavFloodError):
    """A value the pose history cannot use (a non-finite stamp, a bad setting)."""


@dataclass(frozen=True)
class PoseLookup:
    """The answer of PoseHistory.lookup.

    :param pose: the vehicle pose at the stamp, or None when the history cannot tell.
    :param reason: why there is no pose (empty when there is one), in words for a log line.
    """

    pose: VehiclePose | None
    reason: str = ''


def slerp(q0: Wxyz, q1: Wxyz, fraction: float) -> Wxyz:
    """Interpolate unit quaternions (w, x, y, z) along the shorter arc.

    :param q0: the orientation at fraction 0 (unit quaternion, w first).
    :param q1: the orientation at fraction 1 (unit quaternion, w first).
    :param fraction: where between them, 0..1.
    :return: a unit quaternion (w, x, y, z).
    """
    dot = sum(a * b for a, b in zip(q0, q1, strict=True))
    if dot < 0.0:  # q and -q are the same rotation: take the short way round
        q1 = (-q1[0], -q1[1], -q1[2], -q1[3])
        dot = -dot
    if dot > 0.9995:  # nearly equal: normalised lerp avoids dividing by sin(~0)
        mixed = [a + fraction * (b - a) for a, b in zip(q0, q1, strict=True)]
    else:
        theta = math.acos(min(dot, 1.0))
        sin_theta = math.sin(theta)
        w0 = math.sin((1.0 - fraction) * theta) / sin_theta
        w1 = math.sin(fraction * theta) / sin_theta
        mixed = [w0 * a + w1 * b for a, b in zip(q0, q1, strict=True)]
    norm = math.sqrt(sum(v * v for v in mixed))
    return (mixed[0] / norm, mixed[1] / norm, mixed[2] / norm, mixed[3] / norm)


class PoseHistory:
    """Poses of one vehicle over the last few seconds, for looking up the pose at a stamp.

    :param span_s: how much history to keep before the newest pose (s).
    :param max_gap_s: longest time between the two poses an interpolation may span (s).
    :param newest_tolerance_s: a stamp up to this much after the newest pose gets the newest
        pose unchanged (s): a frame often arrives a moment before the pose of its instant.
    :raises PoseHistoryError: a setting is negative or not finite, or span_s is 0.
    """

    def __init__(
        self, span_s: float = 2.0, max_gap_s: float = 0.25, newest_tolerance_s: float = 0.05
    ) -> None:
        for name, value in (
            ('span_s', span_s),
            ('max_gap_s', max_gap_s),
            ('newest_tolerance_s', newest_tolerance_s),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise PoseHistoryError(f'{name} must be a finite number >= 0, got {value!r}')
        if span_s == 0.0:
            raise PoseHistoryError('span_s must be > 0')
        self.span_s = float(span_s)
        self.max_gap_s = float(max_gap_s)
        self.newest_tolerance_s = float(newest_tolerance_s)
        self._stamps: list[float] = []
        self._poses: list[VehiclePose] = []

    def __len__(self) -> int:
        """Return how many poses are held."""
        return len(self._stamps)

    @property
    def newest_stamp(self) -> float | None:
        """Return the stamp of the newest pose (s), or None when empty."""
        return self._stamps[-1] if self._stamps else None

    @property
    def oldest_stamp(self) -> float | None:
        """Return the stamp of the oldest pose held (s), or None when empty."""
        return self._stamps[0] if self._stamps else None

    def clear(self) -> None:
        """Forget every pose."""
        self._stamps.clear()
        self._poses.clear()

    def add(self, stamp_s: float, pose: VehiclePose) -> None:
        """Insert a pose at its place in time; then drop poses older than span_s before the newest.

        A pose with the same stamp as one held replaces it. A pose older than the span before the
        newest is ignored.

        :param stamp_s: when the vehicle was at the pose (s).
        :param pose: the pose (VehiclePose rejects NaN itself).
        :raises PoseHistoryError: the stamp is not finite.
        """
        stamp = float(stamp_s)
        if not math.isfinite(stamp):
            raise PoseHistoryError(f'pose stamp must be finite, got {stamp_s!r}')
        index = bisect.bisect_left(self._stamps, stamp)
        if index < len(self._stamps) and self._stamps[index] == stamp:
            self._poses[index] = pose
            return
        self._stamps.insert(index, stamp)
        self._poses.insert(index, pose)
        cutoff = self._stamps[-1] - self.span_s
        keep = bisect.bisect_left(self._stamps, cutoff)
        if keep:
            del self._stamps[:keep]
            del self._poses[:keep]

    def at(self, stamp_s: float) -> VehiclePose | None:
        """Return the pose at `stamp_s` (s), or None when the history cannot tell (see lookup)."""
        return self.lookup(stamp_s).pose

    def why(self, stamp_s: float) -> str:
        """Return why there is no pose at `stamp_s` (s), or '' when there is one."""
        return self.lookup(stamp_s).reason

    def lookup(self, stamp_s: float) -> PoseLookup:
        """Find the pose at a stamp.

        The exact pose when a pose has that stamp; between two poses at most max_gap_s apart,
        position interpolated linearly and orientation by slerp; the newest pose for a stamp at
        most newest_tolerance_s after it. Otherwise no pose, with the reason: empty history,
        stamp older than the history, newer than the newest pose, or in a gap.

        :param stamp_s: the stamp (s, the clock of the poses).
        """
        stamp = float(stamp_s)
        if not math.isfinite(stamp):
            return PoseLookup(None, f'stamp {stamp_s!r} is not finite')
        if not self._stamps:
            return PoseLookup(None, 'no pose received yet')
        oldest, newest = self._stamps[0], self._stamps[-1]
        if stamp > newest:
            if stamp - newest <= self.newest_tolerance_s:
                return PoseLookup(self._poses[-1])
            return PoseLookup(None, f'stamp is {stamp - newest:.3f} s newer than the newest pose')
        if stamp < oldest:
            return PoseLookup(None, f'stamp is {oldest - stamp:.3f} s older than the pose history')
        index = bisect.bisect_left(self._stamps, stamp)
        if self._stamps[index] == stamp:
            return PoseLookup(self._poses[index])
        t0, t1 = self._stamps[index - 1], self._stamps[index]
        if t1 - t0 > self.max_gap_s:
            return PoseLookup(
                None,
                f'stamp falls in a {t1 - t0:.3f} s gap between poses (max_gap_s '
                f'{self.max_gap_s:g})',
            )
        p0, p1 = self._poses[index - 1], self._poses[index]
        fraction = (stamp - t0) / (t1 - t0)
        a, b = p0.position_enu_m, p1.position_enu_m
        position = (
            a[0] + fraction * (b[0] - a[0]),
            a[1] + fraction * (b[1] - a[1]),
            a[2] + fraction * (b[2] - a[2]),
        )
        orientation = slerp(p0.orientation_wxyz, p1.orientation_wxyz, fraction)
        return PoseLookup(VehiclePose(position, orientation))
