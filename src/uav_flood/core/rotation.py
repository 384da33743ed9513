"""Rotations as unit quaternions: the one quaternion type of the stack and its arithmetic.

Quaternion is (w, x, y, z), Hamilton convention; `wxyz` is the same rotation as a plain tuple,
for NumPy code and message fields. Euler angles are intrinsic z-y'-x'' (yaw, pitch, roll), in
rad: REP-103's RPY in ENU/FLU, and PX4's in NED/FRD (autopilot.frames converts between the two).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

#: A rotation's components (w, x, y, z) as a plain tuple.
Wxyz = tuple[float, float, float, float]


@dataclass(frozen=True)
class Quaternion:
    """A rotation as a unit quaternion (w, x, y, z), Hamilton convention."""

    w: float
    x: float
    y: float
    z: float

    @property
    def wxyz(self) -> Wxyz:
        """Return the components as a (w, x, y, z) tuple."""
        return (self.w, self.x, self.y, self.z)


def multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    """Return the Hamilton product a * b (apply b first, then a)."""
    return Quaternion(
        a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
        a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
        a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
        a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
    )


def normalized(q: Quaternion) -> Quaternion:
    """Return `q` scaled to unit length, with w >= 0 (the same rotation, one canonical sign).

    :raises ValueError: the quaternion is zero or not finite.
    """
    norm = math.sqrt(q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z)
    if not (math.isfinite(norm) and norm > 1e-9):
        raise ValueError(f'not a rotation quaternion: {q}')
    sign = -1.0 if q.w < 0.0 else 1.0
    return Quaternion(sign * q.w / norm, sign * q.x / norm, sign * q.y / norm, sign * q.z / norm)


def quaternion_from_euler(roll_rad: float, pitch_rad: float, yaw_rad: float) -> Quaternion:
    """Return the quaternion of intrinsic z-y'-x'' (yaw, pitch, roll) Euler angles (rad)."""
    cr, sr = math.cos(roll_rad / 2), math.sin(roll_rad / 2)
    cp, sp = math.cos(pitch_rad / 2), math.sin(pitch_rad / 2)
    cy, sy = math.cos(yaw_rad / 2), math.sin(yaw_rad / 2)
    return Quaternion(
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def euler_from_quaternion(q: Quaternion) -> tuple[float, float, float]:
    """Return (roll, pitch, yaw) in rad of a quaternion, z-y'-x'' convention."""
    roll = math.atan2(2 * (q.w * q.x + q.y * q.z), 1 - 2 * (q.x * q.x + q.y * q.y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (q.w * q.y - q.z * q.x))))
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    return roll, pitch, yaw
