"""Georeferencing: project camera pixels and segmentation masks onto the flat ground (no rclpy).

Frames (see docs/georeferencing.md):

- map: REP-103 ENU (x east, y north, z up, m); the ground is the plane z = 0 (the origin altitude).
- base_link: the vehicle body, FLU (x forward, y left, z up); the vehicle pose is the position of
  base_link in map and the quaternion (w, x, y, z) that rotates base_link vectors into map.
- camera optical frame (REP-103 ``_optical``): z forward along the optical axis, x right, y down.

The camera mount gives the optical axis direction in base_link as yaw (deg, about body z, positive
to the left) and pitch (deg, elevation above the body's horizontal plane: 0 looks forward, -90
looks straight down). At pitch -90 and yaw 0 (nadir, the default) the image top points forward and
the image right points to the vehicle's right. Roll (deg) turns the camera about its optical axis,
with the sign of a vehicle roll in FLU: positive rolls the image right side down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from uav_flood.core.errors import UavFloodError
from uav_flood.core.rotation import quaternion_from_euler

__all__ = [
    'CameraModel',
    'CameraMount',
    'GeoreferenceError',
    'GridPatch',
    'GridSpec',
    'VehiclePose',
    'footprint_outline',
    'ground_to_pixel',
    'matrix_from_quaternion',
    'quaternion_from_matrix',
    'mask_to_patch',
    'pixel_rays',
    'project_to_ground',
]

FloatArray = NDArray[np.float64]

DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', '')
# Coefficient counts cv2 understands: k1 k2 p1 p2 [k3 [k4 k5 k6 [s1..s4 [tx ty]]]].
_DISTORTION_LENGTHS = (0, 4, 5, 8, 12, 14)
# Outline points closer than this are one point (m).
_SAME_POINT_M = 1e-3
# A ray must point down at least this much (z of a unit vector) to hit the ground.
_HORIZON_EPS = 1e-6
# Cell values of a GridPatch, those of nav_msgs/OccupancyGrid.
UNSEEN = -1
DRY = 0
WATER = 100

# Optical axes (x right, y down, z forward) expressed in a forward-looking camera's FLU frame.
_FLU_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class GeoreferenceError(UavFloodError):
    """An input to georeferencing is invalid (camera, mount, pose, mask or grid)."""


def _finite_array(value: ArrayLike, name: str, shape: tuple[int, ...] | None = None) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GeoreferenceError(f'{name} must be numeric, got {value!r}') from None
    if shape is not None and array.shape != shape:
        raise GeoreferenceError(f'{name} must have shape {shape}, got {array.shape}')
    if not np.all(np.isfinite(array)):
        raise GeoreferenceError(f'{name} is not finite: {array.tolist()}')
    return array


def _points(value: ArrayLike, name: str) -> FloatArray:
    """Return an (N, 2) float array from one point (2,) or many (N, 2)."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != 2:
        raise GeoreferenceError(f'{name} must have shape (N, 2), got {np.shape(value)}')
    return array


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera with optional OpenCV distortion, as sensor_msgs/CameraInfo describes it.

    Pixel (u, v) has its centre at integer coordinates (OpenCV); the image covers
    -0.5 <= u < width - 0.5 and -0.5 <= v < height - 0.5.

    :param width: image width (px).
    :param height: image height (px).
    :param k: the 3x3 intrinsic matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]] (px).
    :param d: distortion coefficients in OpenCV order, or empty for none.
    :param distortion_model: 'plumb_bob', 'rational_polynomial' or '' (CameraInfo's field).
    """

    width: int
    height: int
    k: FloatArray
    d: FloatArray = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = ''
    view_radius: float = field(init=False, repr=False, compare=False, default=math.inf)

    def __post_init__(self) -> None:
        """Validate the intrinsics, store them as float arrays and find the view radius."""
        if not isinstance(self.width, int) or not isinstance(self.height, int):
            raise GeoreferenceError(
                f'camera size must be integers, got {self.width!r} x {self.height!r}'
            )
        if self.width <= 0 or self.height <= 0:
            raise GeoreferenceError(
                f'camera size must be positive, got {self.width}x{self.height}'
            )
        k = _finite_array(self.k, 'camera K', (3, 3))
        if k[0, 0] <= 0.0 or k[1, 1] <= 0.0:
            raise GeoreferenceError(f'camera K needs fx, fy > 0, got {k[0, 0]}, {k[1, 1]}')
        if not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0.0:
            raise GeoreferenceError(f'camera K is not a pinhole matrix: {k.tolist()}')
        d = _finite_array(self.d, 'camera distortion D').reshape(-1)
        if self.distortion_model not in DISTORTION_MODELS:
            raise GeoreferenceError(
                f'distortion model {self.distortion_model!r} is not supported '
                f'(use one of {DISTORTION_MODELS})'
            )
        if d.size not in _DISTORTION_LENGTHS:
            raise GeoreferenceError(
                f'camera D has {d.size} coefficients; expected one of {_DISTORTION_LENGTHS}'
            )
        object.__setattr__(self, 'k', k)
        object.__setattr__(self, 'd', d)
        if self.distorted and k[0, 1] != 0.0:
            raise GeoreferenceError('camera K with skew is only supported without distortion')
        if self.distorted:
            object.__setattr__(self, 'view_radius', self._border_radius())

    def _border_radius(self) -> float:
        """Return the largest normalised radius of the image border; check that D inverts there.

        Distortion polynomials are only invertible up to the radius where they fold back; every
        direction beyond the image border's radius is outside the view, which is how
        ground_to_pixel rejects folded projections without an iterative undistortion.
        """
        border = _image_border(self, 129)
        norm = self.undistort_pixels(border)
        if not np.all(np.isfinite(norm)) or not np.allclose(
            self.project_normalized(norm), border, atol=1e-3
        ):
            raise GeoreferenceError(
                f'camera distortion D={self.d.tolist()} does not invert over the image; '
                'check the calibration'
            )
        return float(np.max(np.hypot(norm[:, 0], norm[:, 1])))

    @classmethod
    def from_camera_info_fields(
        cls,
        width: int,
        height: int,
        k: ArrayLike,
        d: ArrayLike = (),
        distortion_model: str = '',
    ) -> CameraModel:
        """Build a camera from CameraInfo's width, height, k (9 floats, row-major), d and model."""
        k_flat = _finite_array(k, 'camera K').reshape(-1)
        if k_flat.size != 9:
            raise GeoreferenceError(f'camera K must have 9 values, got {k_flat.size}')
        return cls(int(width), int(height), k_flat.reshape(3, 3), np.asarray(d), distortion_model)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> CameraModel:
        """Build an undistorted camera with square pixels and a horizontal field of view (deg)."""
        if not 0.0 < hfov_deg < 180.0:
            raise GeoreferenceError(f'horizontal FOV must be in (0, 180) deg, got {hfov_deg}')
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        k = [[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
        return cls(width, height, np.array(k))

    def camera_info_fields(self) -> dict[str, Any]:
        """Return the sensor_msgs/CameraInfo fields: width, height, distortion_model, d, k, r, p.

        The inverse of from_camera_info_fields (a monocular camera: R is identity, P is K with a
        zero column).
        """
        p = np.concatenate([self.k, np.zeros((3, 1))], axis=1)
        return {
            'width': self.width,
            'height': self.height,
            'distortion_model': self.distortion_model or 'plumb_bob',
            'd': [float(v) for v in self.d],
            'k': [float(v) for v in self.k.ravel()],
            'r': [float(v) for v in np.eye(3).ravel()],
            'p': [float(v) for v in p.ravel()],
        }

    @property
    def distorted(self) -> bool:
        """Return True when any distortion coefficient is non-zero."""
        return bool(np.any(self.d != 0.0))

    def undistort_pixels(self, uv: ArrayLike) -> FloatArray:
        """Convert pixels (N, 2) (px) to normalised image coordinates (x/z, y/z) (optical)."""
        pixels = _points(uv, 'pixels')
        if not self.distorted:
            y = (pixels[:, 1] - self.k[1, 2]) / self.k[1, 1]
            x = (pixels[:, 0] - self.k[0, 2] - self.k[0, 1] * y) / self.k[0, 0]
            return np.stack([x, y], axis=1)
        if pixels.shape[0] == 0:
            return np.zeros((0, 2))
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        out = cv2.undistortPointsIter(
            pixels.reshape(-1, 1, 2), self.k, self.d, np.eye(3), np.eye(3), criteria
        )
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def project_normalized(self, xy: ArrayLike) -> FloatArray:
        """Convert normalised image coordinates (N, 2) to pixels (px), applying distortion."""
        norm = _points(xy, 'normalised coordinates')
        if not self.distorted:
            u = self.k[0, 0] * norm[:, 0] + self.k[0, 1] * norm[:, 1] + self.k[0, 2]
            v = self.k[1, 1] * norm[:, 1] + self.k[1, 2]
            return np.stack([u, v], axis=1)
        if norm.shape[0] == 0:
            return np.zeros((0, 2))
        if self.d.size == 14 and np.any(self.d[12:] != 0.0):  # tilted sensor: leave it to cv2
            obj = np.concatenate([norm, np.ones((norm.shape[0], 1))], axis=1)
            out, _ = cv2.projectPoints(
                obj.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.k, self.d
            )
            return np.asarray(out, dtype=np.float64).reshape(-1, 2)
        # OpenCV's model, vectorised here because cv2.projectPoints is ~10x slower on big arrays
        c = np.zeros(12)
        c[: min(self.d.size, 12)] = self.d[:12]
        k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = c
        x, y = norm[:, 0], norm[:, 1]
        r2 = x * x + y * y
        r4, r6 = r2 * r2, r2 * r2 * r2
        radial = (1.0 + k1 * r2 + k2 * r4 + k3 * r6) / (1.0 + k4 * r2 + k5 * r4 + k6 * r6)
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) + s1 * r2 + s2 * r4
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y + s3 * r2 + s4 * r4
        return np.stack(
            [self.k[0, 0] * xd + self.k[0, 2], self.k[1, 1] * yd + self.k[1, 2]], axis=1
        )

    def contains(self, uv: FloatArray) -> NDArray[np.bool_]:
        """Return which pixels (N, 2) fall inside the image (NaN is outside)."""
        with np.errstate(invalid='ignore'):
            return (
                (uv[:, 0] >= -0.5)
                & (uv[:, 0] < self.width - 0.5)
                & (uv[:, 1] >= -0.5)
                & (uv[:, 1] < self.height - 0.5)
            )


def _image_border(camera: CameraModel, n: int) -> FloatArray:
    """Return 4 * n pixels (px) walking round the image's outer edge, clockwise from top left."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    w, h = camera.width, camera.height
    return np.concatenate(
        [
            np.stack([-0.5 + t * w, np.full(n, -0.5)], axis=1),
            np.stack([np.full(n, w - 0.5), -0.5 + t * h], axis=1),
            np.stack([w - 0.5 - t * w, np.full(n, h - 0.5)], axis=1),
            np.stack([np.full(n, -0.5), h - 0.5 - t * h], axis=1),
        ]
    )


def _rot_x(angle: float) -> FloatArray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> FloatArray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle: float) -> FloatArray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def quaternion_from_matrix(rotation: ArrayLike) -> tuple[float, float, float, float]:
    """Return the unit quaternion (w, x, y, z), w >= 0, of a 3 x 3 rotation matrix.

    Shepperd's method: the largest of w, x, y, z is found first, so the division is stable
    for every rotation, nadir cameras (a 90 deg pitch) included.
    """
    m = _finite_array(rotation, 'rotation matrix', (3, 3))
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > max(m[0, 0], m[1, 1], m[2, 2]):
        s = 2.0 * math.sqrt(1.0 + trace)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif m[0, 0] >= m[1, 1] and m[0, 0] >= m[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + m[0, 0] - m[1, 1] - m[2, 2], 0.0))
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif m[1, 1] >= m[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + m[1, 1] - m[0, 0] - m[2, 2], 0.0))
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = 2.0 * math.sqrt(max(1.0 + m[2, 2] - m[0, 0] - m[1, 1], 0.0))
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    norm = math.sqrt(sum(c * c for c in q))
    sign = -1.0 if q[0] < 0.0 else 1.0
    w, x, y, z = (sign * c / norm for c in q)
    return (w, x, y, z)


def matrix_from_quaternion(wxyz: ArrayLike) -> FloatArray:
    """Return the rotation matrix of a quaternion (w, x, y, z), normalised first.

    :raises GeoreferenceError: a zero or non-finite quaternion.
    """
    q = _finite_array(wxyz, 'quaternion', (4,))
    norm = float(np.linalg.norm(q))
    if norm < 1e-9:
        raise GeoreferenceError('quaternion must not be zero')
    w, x, y, z = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class CameraMount:
    """Where the camera sits on the vehicle and where it looks.

    :param pitch_deg: optical axis elevation above body x-y (deg; -90 nadir, 0 forward).
    :param yaw_deg: optical axis azimuth about body z (deg; positive to the left, FLU).
    :param roll_deg: about the optical axis (deg; positive rolls the image right side down).
    :param offset_flu_m: optical centre position in base_link (m, FLU).
    """

    pitch_deg: float = -90.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    offset_flu_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        """Reject non-finite angles and offsets."""
        _finite_array((self.pitch_deg, self.yaw_deg, self.roll_deg), 'camera mount angles')
        _finite_array(self.offset_flu_m, 'camera mount offset', (3,))

    def body_from_optical(self) -> FloatArray:
        """Return the rotation matrix taking optical-frame vectors into base_link (FLU)."""
        rotation = (
            _rot_z(math.radians(self.yaw_deg))
            @ _rot_y(-math.radians(self.pitch_deg))
            @ _rot_x(math.radians(self.roll_deg))
        )
        result: FloatArray = rotation @ _FLU_FROM_OPTICAL
        return result

    def rotation_wxyz(self) -> tuple[float, float, float, float]:
        """Return the quaternion (w, x, y, z) of body_from_optical: the base_link -> optical TF."""
        return quaternion_from_matrix(self.body_from_optical())

    @classmethod
    def from_transform(
        cls, offset_flu_m: tuple[float, float, float], rotation_wxyz: ArrayLike
    ) -> CameraMount:
        """Return the mount whose base_link -> optical transform is (offset, rotation).

        The inverse of (offset_flu_m, rotation_wxyz()): the angles are recovered as yaw, pitch,
        roll about body z, y, x. Looking straight down or up (pitch +-90 deg), yaw and roll turn
        the image about the same axis, so the angle is given to yaw and roll is 0; the rotation,
        which is what georeferencing uses, is the same.

        :raises GeoreferenceError: a zero or non-finite quaternion, or a non-finite offset.
        """
        body_from_optical = matrix_from_quaternion(rotation_wxyz)
        r = body_from_optical @ _FLU_FROM_OPTICAL.T  # = Rz(yaw) Ry(-pitch) Rx(roll)
        cos_pitch = math.hypot(r[2, 1], r[2, 2])
        pitch = math.atan2(r[2, 0], cos_pitch)
        if cos_pitch < 1e-12:
            yaw, roll = math.atan2(-r[0, 1], r[1, 1]), 0.0
        else:
            yaw, roll = math.atan2(r[1, 0], r[0, 0]), math.atan2(r[2, 1], r[2, 2])
        offset = tuple(float(v) for v in _finite_array(offset_flu_m, 'camera mount offset', (3,)))
        return cls(
            pitch_deg=math.degrees(pitch),
            yaw_deg=math.degrees(yaw),
            roll_deg=math.degrees(roll),
            offset_flu_m=(offset[0], offset[1], offset[2]),
        )


@dataclass(frozen=True)
class VehiclePose:
    """The pose of base_link in map, as geometry_msgs/PoseStamped from flight_control carries it.

    :param position_enu_m: (east, north, up) of base_link (m, map ENU; up = height above ground).
    :param orientation_wxyz: quaternion (w, x, y, z) rotating base_link (FLU) into map (ENU);
        normalised here.
    """

    position_enu_m: tuple[float, float, float]
    orientation_wxyz: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        """Reject non-finite positions and zero or non-finite quaternions."""
        position = _finite_array(self.position_enu_m, 'vehicle position', (3,))
        q = _finite_array(self.orientation_wxyz, 'vehicle orientation quaternion', (4,))
        norm = float(np.linalg.norm(q))
        if norm < 1e-9:
            raise GeoreferenceError('vehicle orientation quaternion is zero')
        object.__setattr__(self, 'position_enu_m', tuple(float(v) for v in position))
        object.__setattr__(self, 'orientation_wxyz', tuple(float(v) for v in q / norm))

    @classmethod
    def from_euler(
        cls,
        position_enu_m: tuple[float, float, float],
        roll_deg: float = 0.0,
        pitch_deg: float = 0.0,
        yaw_deg: float = 0.0,
    ) -> VehiclePose:
        """Build a pose from ROS RPY angles (deg; FLU in ENU, yaw 0 = facing east, CCW positive).

        Positive pitch is nose down and positive roll is right side down (REP-103).
        """
        roll, pitch, yaw = (math.radians(v) for v in (roll_deg, pitch_deg, yaw_deg))
        return cls(position_enu_m, quaternion_from_euler(roll, pitch, yaw).wxyz)

    def map_from_body(self) -> FloatArray:
        """Return the rotation matrix taking base_link (FLU) vectors into map (ENU)."""
        return matrix_from_quaternion(self.orientation_wxyz)


def _camera_extrinsics(mount: CameraMount, pose: VehiclePose) -> tuple[FloatArray, FloatArray]:
    """Return (map_from_optical rotation, optical centre in map ENU (m))."""
    map_from_body = pose.map_from_body()
    rotation = map_from_body @ mount.body_from_optical()
    centre = np.asarray(pose.position_enu_m) + map_from_body @ np.asarray(mount.offset_flu_m)
    return rotation, centre


def pixel_rays(
    camera: CameraModel, mount: CameraMount, pose: VehiclePose, uv: ArrayLike
) -> FloatArray:
    """Return the unit viewing ray of each pixel (N, 2) (px) as directions in map ENU (N, 3)."""
    norm = camera.undistort_pixels(uv)
    rays_optical = np.concatenate([norm, np.ones((norm.shape[0], 1))], axis=1)
    rotation, _ = _camera_extrinsics(mount, pose)
    rays = rays_optical @ rotation.T
    result: FloatArray = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    return result


def project_to_ground(
    camera: CameraModel,
    mount: CameraMount,
    pose: VehiclePose,
    uv: ArrayLike,
    max_range_m: float = 2000.0,
) -> FloatArray:
    """Intersect pixel rays with the ground plane z = 0 (map ENU).

    :param uv: pixels (N, 2) (px).
    :param max_range_m: longest slant range from the camera to a ground point that counts (m).
    :return: (east, north) per pixel (N, 2) (m, map ENU); NaN where the ray is at or above the
        horizon, the camera is not above the ground, or the hit is beyond max_range_m.
    """
    rays = pixel_rays(camera, mount, pose, uv)
    _, centre = _camera_extrinsics(mount, pose)
    out = np.full((rays.shape[0], 2), np.nan)
    if centre[2] <= 0.0:
        return out
    down = rays[:, 2] < -_HORIZON_EPS
    slant = np.full(rays.shape[0], np.inf)
    slant[down] = -centre[2] / rays[down, 2]
    hit = down & (slant <= max_range_m)
    out[hit] = centre[:2] + slant[hit, None] * rays[hit, :2]
    return out


def ground_to_pixel(
    camera: CameraModel, mount: CameraMount, pose: VehiclePose, ground_en: ArrayLike
) -> FloatArray:
    """Project ground points (N, 2) (east, north at z = 0; m, map ENU) into the image.

    :return: pixels (N, 2) (px), NaN for points behind or level with the camera and, with
        distortion, for directions that the lens model folds back into the image. Points
        outside the field of view get pixels outside the image (see CameraModel.contains).
    """
    ground = _points(ground_en, 'ground points')
    rotation, centre = _camera_extrinsics(mount, pose)
    # optical = R^T (p - c) for p = (east, north, 0), one component at a time (fast for big N)
    d_east, d_north = ground[:, 0] - centre[0], ground[:, 1] - centre[1]
    x, y, z = (
        d_east * rotation[0, i] + d_north * rotation[1, i] - centre[2] * rotation[2, i]
        for i in range(3)
    )
    out = np.full((ground.shape[0], 2), np.nan)
    ahead = z > 1e-6  # at least a micrometre in front of the lens
    if not np.any(ahead):
        return out
    norm = np.stack([x[ahead] / z[ahead], y[ahead] / z[ahead]], axis=1)
    pixels = camera.project_normalized(norm)
    if camera.distorted:
        # Distortion polynomials fold far-off-axis directions back into the image: directions
        # beyond the image border's radius are outside the view, wherever they land.
        beyond = np.hypot(norm[:, 0], norm[:, 1]) > camera.view_radius * (1.0 + 1e-9)
        pixels[beyond & camera.contains(pixels)] = np.nan
    out[ahead] = pixels
    return out


@dataclass(frozen=True)
class GridSpec:
    """The global map grid that patches snap to.

    Cell (i, j) covers east [i * res, (i + 1) * res) and north [j * res, (j + 1) * res) in map
    ENU, for every integer i, j, so patches from any frame or vehicle align cell to cell.

    :param resolution_m: cell edge length (m).
    :param max_range_m: longest slant range from the camera to a mapped ground point (m).
    :param max_cells: largest patch (cells) before GeoreferenceError; guards memory when a
        pitched camera sees far.
    """

    resolution_m: float
    max_range_m: float = 2000.0
    max_cells: int = 4_000_000

    def __post_init__(self) -> None:
        """Reject non-positive or non-finite sizes."""
        for name, value in (
            ('resolution_m', self.resolution_m),
            ('max_range_m', self.max_range_m),
        ):
            if not (math.isfinite(value) and value > 0.0):
                raise GeoreferenceError(f'grid {name} must be a positive number, got {value!r}')
        if self.max_cells <= 0:
            raise GeoreferenceError(f'grid max_cells must be positive, got {self.max_cells}')


@dataclass(frozen=True)
class GridPatch:
    """A rectangle of the global grid, laid out as nav_msgs/OccupancyGrid.

    data[row, col] is the cell whose south-west corner is
    (origin_east + col * res, origin_north + row * res); row 0 is the southern edge.
    Values: 0 dry, 100 water, -1 not seen.

    :param origin_east: east of the south-west corner (m, map ENU; a multiple of res).
    :param origin_north: north of the south-west corner (m, map ENU; a multiple of res).
    :param resolution_m: cell edge length (m).
    :param width: columns (cells, eastward).
    :param height: rows (cells, northward).
    :param data: int8 array of shape (height, width).
    """

    origin_east: float
    origin_north: float
    resolution_m: float
    width: int
    height: int
    data: NDArray[np.int8]

    @property
    def origin_index(self) -> tuple[int, int]:
        """Return the global (column, row) index of the south-west cell."""
        return (
            round(self.origin_east / self.resolution_m),
            round(self.origin_north / self.resolution_m),
        )

    def cell_centres(self) -> tuple[FloatArray, FloatArray]:
        """Return the east and north of every cell centre, each (height, width) (m, map ENU)."""
        col0, row0 = self.origin_index
        east = (col0 + np.arange(self.width) + 0.5) * self.resolution_m
        north = (row0 + np.arange(self.height) + 0.5) * self.resolution_m
        grid_e, grid_n = np.meshgrid(east, north)
        return grid_e, grid_n


def _footprint_points(
    camera: CameraModel, mount: CameraMount, pose: VehiclePose, max_range_m: float
) -> FloatArray:
    """Return ground points (M, 2) whose bounding box contains the camera's ground footprint.

    The footprint is bounded by the image edges (where they reach the ground within range) and by
    the max-range circle (where it lies inside the image); both are sampled.
    """
    border = _image_border(camera, 256)
    edge = project_to_ground(camera, mount, pose, border, max_range_m)
    points = [edge[np.all(np.isfinite(edge), axis=1)]]
    _, centre = _camera_extrinsics(mount, pose)
    if max_range_m > centre[2]:
        radius = math.sqrt(max_range_m**2 - centre[2] ** 2)
        angles = np.linspace(0.0, 2.0 * math.pi, 1440, endpoint=False)
        circle = centre[:2] + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        inside = camera.contains(ground_to_pixel(camera, mount, pose, circle))
        points.append(circle[inside])
    return np.concatenate(points)


def footprint_outline(
    camera: CameraModel,
    mount: CameraMount,
    pose: VehiclePose,
    max_range_m: float,
    samples_per_edge: int = 8,
) -> FloatArray:
    """Return the camera's ground footprint as a closed outline (M, 2) (m, map ENU), for display.

    Each sample of the image edge is projected to the ground; where its ray misses the ground
    within max_range_m (above the horizon, or too far), the point at max_range_m of slant range
    under the ray's azimuth stands in, so an oblique camera's outline ends at the range the map
    uses. The outline walks the image edge clockwise from the top-left corner (not closed: the
    first point is not repeated; samples that land within a millimetre of the previous one are
    dropped). Empty (0, 2) when the camera is not above the ground.
    """
    border = _image_border(camera, samples_per_edge)
    hits = project_to_ground(camera, mount, pose, border, max_range_m)
    _, centre = _camera_extrinsics(mount, pose)
    if centre[2] <= 0.0:
        return np.zeros((0, 2))
    miss = ~np.all(np.isfinite(hits), axis=1)
    if np.any(miss):
        rays = pixel_rays(camera, mount, pose, border[miss])
        azimuth = rays[:, :2] / np.maximum(
            np.linalg.norm(rays[:, :2], axis=1, keepdims=True), 1e-12
        )
        reach = math.sqrt(max(max_range_m**2 - centre[2] ** 2, 0.0))
        hits[miss] = centre[:2] + reach * azimuth
    # Samples that land on one point (an edge beyond the range under one azimuth) are kept once.
    keep = [0]
    for i in range(1, hits.shape[0]):
        if np.hypot(*(hits[i] - hits[keep[-1]])) > _SAME_POINT_M:
            keep.append(i)
    while len(keep) > 1 and np.hypot(*(hits[keep[-1]] - hits[0])) <= _SAME_POINT_M:
        keep.pop()
    return hits[keep]


def _weighted(
    prob: FloatArray, uv: FloatArray, slant: FloatArray, height_m: float, camera: CameraModel
) -> FloatArray:
    """Shrink probabilities towards 0.5 by the view quality (see mask_to_patch)."""
    cx, cy = (camera.width - 1) / 2.0, (camera.height - 1) / 2.0
    r2 = ((uv[:, 0] - cx) ** 2 + (uv[:, 1] - cy) ** 2) / (cx * cx + cy * cy)
    weight = (height_m / np.maximum(slant, 1e-9)) * (1.0 - 0.5 * np.clip(r2, 0.0, 1.0))
    p = np.clip(prob, 1e-4, 1.0 - 1e-4)
    logit = np.log(p / (1.0 - p)) * weight
    out: FloatArray = 1.0 / (1.0 + np.exp(-logit))
    return out


def mask_to_patch(
    mask: ArrayLike,
    camera: CameraModel,
    mount: CameraMount,
    pose: VehiclePose,
    grid: GridSpec,
    valid: ArrayLike | None = None,
    view_weight: bool = False,
) -> GridPatch | None:
    """Project a water mask (or probability) onto the ground; return the grid patch it covers.

    Every cell whose centre lies in the camera's ground footprint is back-projected into the image
    and takes the value of the nearest pixel; the rest of the patch is -1. Rays at or above
    the horizon, or reaching the ground beyond grid.max_range_m, are clipped: those image rows
    simply map no cells.

    A boolean or integer mask gives hard cells: 100 where non-zero (water), 0 elsewhere. A
    floating-point array is the water probability (0..1) and gives its percent, 0..100.

    With `view_weight`, each cell's probability is moved towards 50 % by how well the frame saw
    it: its log-odds are multiplied by cos(incidence) x (1 - 0.5 r^2), where the incidence is
    the ray's angle from the vertical (slant views see less, at a coarser ground resolution)
    and r the pixel's distance from the image centre over the half diagonal (frame borders
    have less context and more lens error).

    :param mask: (height, width) array matching the camera: a mask, non-zero (1 or 255) is
        water, or a float water probability.
    :param valid: optional (height, width) boolean array; False pixels map to -1 (unseen).
    :param view_weight: weigh the probability by the viewing geometry (see above).
    :return: the patch cropped to the seen cells, or None when the frame sees no ground (camera
        at or below the ground, looking at the sky, or all ground beyond max range).
    :raises GeoreferenceError: on a mask or valid array whose shape mismatches the camera, or a
        patch larger than grid.max_cells.
    """
    water = np.asarray(mask)
    expected = (camera.height, camera.width)
    if water.shape != expected:
        raise GeoreferenceError(
            f'mask shape {water.shape} does not match the camera image (height, width) {expected}'
        )
    seen_px = None
    if valid is not None:
        seen_px = np.asarray(valid, dtype=bool)
        if seen_px.shape != expected:
            raise GeoreferenceError(
                f'valid shape {seen_px.shape} does not match the camera image {expected}'
            )
    _, centre = _camera_extrinsics(mount, pose)
    if centre[2] <= 0.0:
        return None
    footprint = _footprint_points(camera, mount, pose, grid.max_range_m)
    if footprint.shape[0] == 0:
        return None
    res = grid.resolution_m
    pad = 2.0 * res + 2.0 * math.pi * grid.max_range_m / 1440.0
    col0 = math.floor((footprint[:, 0].min() - pad) / res)
    col1 = math.ceil((footprint[:, 0].max() + pad) / res)
    row0 = math.floor((footprint[:, 1].min() - pad) / res)
    row1 = math.ceil((footprint[:, 1].max() + pad) / res)
    width, height = col1 - col0, row1 - row0
    if width * height > grid.max_cells:
        raise GeoreferenceError(
            f'patch of {width}x{height} cells exceeds max_cells={grid.max_cells}; use a coarser '
            f'resolution_m (now {res}) or a shorter max_range_m (now {grid.max_range_m})'
        )
    east = (col0 + np.arange(width) + 0.5) * res
    north = (row0 + np.arange(height) + 0.5) * res
    grid_e, grid_n = np.meshgrid(east, north)
    cells = np.stack([grid_e.ravel(), grid_n.ravel()], axis=1)
    uv = ground_to_pixel(camera, mount, pose, cells)
    seen = camera.contains(uv)
    slant = np.sqrt(np.sum((cells - centre[:2]) ** 2, axis=1) + centre[2] ** 2)
    seen &= slant <= grid.max_range_m
    data = np.full(cells.shape[0], UNSEEN, dtype=np.int8)
    cols = np.clip(np.rint(uv[seen, 0]).astype(np.int64), 0, camera.width - 1)
    rows = np.clip(np.rint(uv[seen, 1]).astype(np.int64), 0, camera.height - 1)
    if np.issubdtype(water.dtype, np.floating):
        prob = np.clip(np.nan_to_num(water[rows, cols].astype(np.float64), nan=0.5), 0.0, 1.0)
    else:
        prob = (water[rows, cols] != 0).astype(np.float64)
    if view_weight:
        prob = _weighted(prob, uv[seen], slant[seen], centre[2], camera)
    values = np.rint(prob * WATER).astype(np.int8)
    if seen_px is not None:
        values[~seen_px[rows, cols]] = UNSEEN
    data[seen] = values
    data2d = data.reshape(height, width)
    seen2d = seen.reshape(height, width)
    seen_rows = np.flatnonzero(np.any(seen2d, axis=1))
    seen_cols = np.flatnonzero(np.any(seen2d, axis=0))
    if seen_rows.size == 0:
        return None
    r0, r1 = int(seen_rows[0]), int(seen_rows[-1]) + 1
    c0, c1 = int(seen_cols[0]), int(seen_cols[-1]) + 1
    return GridPatch(
        origin_east=(col0 + c0) * res,
        origin_north=(row0 + r0) * res,
        resolution_m=res,
        width=c1 - c0,
        height=r1 - r0,
        data=np.ascontiguousarray(data2d[r0:r1, c0:c1]),
    )
