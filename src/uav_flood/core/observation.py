"""One segmented frame on the map: its water mask, its footprint, its patch and its classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.class_map import class_observation, ClassObservation
from uav_flood.core.georef import (
    CameraModel,
    CameraMount,
    FloatArray,
    footprint_outline,
    GridPatch,
    GridSpec,
    mask_to_patch,
    VehiclePose,
)


@dataclass(frozen=True)
class FrameObservation:
    """What a frame tells the map.

    :param mask: water (probability >= threshold) per pixel.
    :param outline: the image's outline on the ground (map ENU, m; footprint_outline).
    :param patch: the observation on the map grid, None when the frame saw no ground.
    :param classes: its cells' land-cover classes, None without classes or patch.
    """

    mask: NDArray[np.bool_]
    outline: FloatArray
    patch: GridPatch | None
    classes: ClassObservation | None


def observe_frame(
    probability: NDArray[np.float32],
    camera: CameraModel,
    mount: CameraMount,
    pose: VehiclePose,
    grid: GridSpec,
    threshold: float,
    send_probability: bool = True,
    view_weight: bool = False,
    classes: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None,
) -> FrameObservation:
    """Georeference one segmented frame (core.georef.mask_to_patch, class_map.class_observation).

    :param probability: the water probability per pixel (0..1).
    :param threshold: water at or above this probability.
    :param send_probability: the patch carries the probability, else the thresholded mask.
    :param view_weight: weigh each cell by how straight the camera looked at it.
    :param classes: the frame's most probable class and its confidence (class_map.top_classes).
    """
    mask = probability >= threshold
    outline = footprint_outline(camera, mount, pose, grid.max_range_m)
    patch = mask_to_patch(
        probability if send_probability else mask,
        camera,
        mount,
        pose,
        grid,
        view_weight=view_weight,
    )
    cover = None
    if patch is not None and classes is not None:
        cover = class_observation(classes, camera, mount, pose, patch)
    return FrameObservation(mask, outline, patch, cover)
