"""A simulated nadir camera that renders a FloodScene from a vehicle pose (no rclpy).

Every image pixel's ray (core.georef conventions: CameraModel, CameraMount, VehiclePose) is
intersected with the ground plane z = 0 and samples the scene mosaic with cv2.remap: bilinear
for the colours (from a mosaic pyramid level matched to the frame's ground sample distance, so
high frames do not alias), nearest for the ground-truth mask. Rays at or above the horizon, beyond
max_range_m or landing outside the scene are invalid and get a neutral colour. Because the rays
are georef's, ``georef.mask_to_patch`` projects a rendered mask back onto the cells it came from.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from uav_flood.core.georef import CameraModel, CameraMount, GeoreferenceError, VehiclePose
from uav_flood.sim.scene import FloodScene

__all__ = ['OUT_OF_SCENE_RGB', 'SKY_RGB', 'SimCamera']

FloatArray = NDArray[np.float64]

# Colour of rays at or above the horizon (or beyond range), and of ground outside the scene.
SKY_RGB = (178, 204, 230)
OUT_OF_SCENE_RGB = (128, 128, 128)
# Same test as georef: a unit ray must point down at least this much to reach the ground.
_HORIZON_EPS = 1e-6
# Coordinate handed to cv2.remap for pixels that sample nothing (outside every mosaic level).
_NOWHERE = -1.0e6
# Coarsest pyramid level kept (a factor of 2**_MAX_LEVEL).
_MAX_LEVEL = 5


class SimCamera:
    """Render frames of a FloodScene as seen by a camera mounted on a vehicle.

    :param scene: the ground truth scene.
    :param camera: intrinsics (width, height, K, D) as in CameraInfo.
    :param mount: camera orientation and offset on base_link.
    :param max_range_m: longest slant range that still sees ground (m), as GridSpec.max_range_m.
    """

    def __init__(
        self,
        scene: FloodScene,
        camera: CameraModel,
        mount: CameraMount | None = None,
        max_range_m: float = 2000.0,
    ) -> None:
        """Precompute the normalised ray of every pixel and the mosaic pyramid."""
        if not (math.isfinite(max_range_m) and max_range_m > 0.0):
            raise GeoreferenceError(f'max_range_m must be a positive number, got {max_range_m!r}')
        self.scene = scene
        self.camera = camera
        self.mount = mount if mount is not None else CameraMount()
        self.max_range_m = float(max_range_m)
        u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height))
        norm = camera.undistort_pixels(np.stack([u.ravel(), v.ravel()], axis=1))
        self._norm_x = np.ascontiguousarray(norm[:, 0])
        self._norm_y = np.ascontiguousarray(norm[:, 1])
        self._body_from_optical = self.mount.body_from_optical()
        self._pyramid: list[NDArray[np.uint8]] = [scene.rgb]
        while len(self._pyramid) <= _MAX_LEVEL and min(self._pyramid[-1].shape[:2]) >= 64:
            self._pyramid.append(np.asarray(cv2.pyrDown(self._pyramid[-1]), dtype=np.uint8))

    @classmethod
    def default(
        cls,
        scene: FloodScene,
        width: int = 640,
        height: int = 480,
        hfov_deg: float = 70.0,
        mount: CameraMount | None = None,
    ) -> SimCamera:
        """Return a small-drone camera: 640x480, 70 deg horizontal FOV, no distortion, nadir."""
        return cls(scene, CameraModel.from_fov(width, height, hfov_deg), mount)

    def ground_points(self, pose: VehiclePose) -> FloatArray:
        """Return where every pixel's ray meets the ground, (height, width, 2) (m, map ENU).

        NaN where the ray is at or above the horizon, the camera is not above the ground, or the
        slant range exceeds max_range_m (exactly georef.project_to_ground's rule).
        """
        map_from_body = pose.map_from_body()
        rotation = map_from_body @ self._body_from_optical
        centre = np.asarray(pose.position_enu_m) + map_from_body @ np.asarray(
            self.mount.offset_flu_m
        )
        # ray = R @ (x, y, 1), one map component at a time (much faster than an (N, 3) matmul)
        x, y = self._norm_x, self._norm_y
        east, north, up = (
            rotation[i, 0] * x + rotation[i, 1] * y + rotation[i, 2] for i in range(3)
        )
        out = np.full((x.size, 2), np.nan)
        if centre[2] > 0.0:
            # georef's horizon test is on the unit ray: up / |ray| < -eps
            length = np.sqrt(east * east + north * north + up * up)
            down = up < -_HORIZON_EPS * length
            t = -centre[2] / up[down]  # hit = centre + t * ray, slant = t * |ray|
            slant = t * length[down]
            keep = slant <= self.max_range_m
            idx = np.flatnonzero(down)[keep]
            t = t[keep]
            out[idx, 0] = centre[0] + t * east[idx]
            out[idx, 1] = centre[1] + t * north[idx]
        return out.reshape(self.camera.height, self.camera.width, 2)

    def render(
        self, pose: VehiclePose
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.bool_]]:
        """Render one frame from a vehicle pose.

        :param pose: base_link in map (m, ENU; z = height above the ground).
        :return: (rgb (H x W x 3 uint8, RGB), truth mask (H x W uint8, 255 water, 0 dry or
            invalid), valid (H x W bool: the ray hits the ground inside the scene)).
        """
        scene = self.scene
        ground = self.ground_points(pose)
        hit = np.isfinite(ground[..., 0])
        pixels = scene.enu_to_pixel(ground)  # NaN stays NaN
        col, row = pixels[..., 0], pixels[..., 1]
        with np.errstate(invalid='ignore'):
            inside = (
                hit
                & (col >= -0.5)
                & (col < scene.width_px - 0.5)
                & (row >= -0.5)
                & (row < scene.height_px - 0.5)
            )
        col_i = np.clip(np.rint(np.where(inside, col, 0.0)), 0, scene.width_px - 1).astype(int)
        row_i = np.clip(np.rint(np.where(inside, row, 0.0)), 0, scene.height_px - 1).astype(int)
        valid = inside & scene.covered[row_i, col_i]
        truth = np.where(valid & scene.water[row_i, col_i], 255, 0).astype(np.uint8)

        level = self._pyramid_level(ground)
        scale = 2.0**level
        map_x = np.where(valid, (col + 0.5) / scale - 0.5, _NOWHERE).astype(np.float32)
        map_y = np.where(valid, (row + 0.5) / scale - 0.5, _NOWHERE).astype(np.float32)
        rgb = cv2.remap(
            self._pyramid[level],
            map_x,
            map_y,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        rgb[~hit] = SKY_RGB
        rgb[hit & ~valid] = OUT_OF_SCENE_RGB
        return np.asarray(rgb, dtype=np.uint8), truth, valid

    def _pyramid_level(self, ground: FloatArray) -> int:
        """Pick the mosaic level whose pixel best matches the frame's median ground step."""
        step = np.hypot(*np.moveaxis(np.diff(ground, axis=1), -1, 0))
        finite = step[np.isfinite(step)]
        if finite.size == 0:
            return 0
        ratio = float(np.median(finite)) / self.scene.resolution_m
        if ratio <= 1.0:
            return 0
        return min(int(math.floor(math.log2(ratio))), len(self._pyramid) - 1)

    def camera_info_fields(self) -> dict[str, Any]:
        """Return sensor_msgs/CameraInfo fields: width, height, distortion_model, d, k, r, p."""
        return self.camera.camera_info_fields()
