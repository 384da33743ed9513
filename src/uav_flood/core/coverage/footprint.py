"""Camera footprint on flat ground and the sweep spacing (swath) it gives.

The camera looks straight down (nadir) and is mounted with its image x axis (the 640 px side,
the horizontal field of view) across the direction of travel: the across-track width of the
footprint is 2 h tan(hfov / 2) and the along-track length 2 h tan(vfov / 2). Neighbouring sweep
legs are one swath apart: swath = across-track width x (1 - side overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from uav_flood.core.coverage.errors import PlanningError

MAX_OVERLAP = 0.9
#: Ground resolutions (cm per pixel, as the model sees a frame) the shipped flood model was
#: trained on: FloodNet frames at 512 px are about 15 cm/px and training scaled them 0.25..2x
#: (src/uav_flood/models/MODEL_CARD.md). Outside this range its accuracy is unmeasured.
MODEL_GSD_CM = (4.0, 30.0)
#: The longer side segmentation resizes a frame to (its max_side parameter's default).
MODEL_MAX_SIDE_PX = 512


@dataclass(frozen=True)
class Camera:
    """A nadir camera: image size and horizontal field of view (default: sim_camera's).

    :param hfov_deg: horizontal field of view, along the image x axis (deg, 0..180).
    :param width_px: image width (px), the across-track side.
    :param height_px: image height (px), the along-track side.
    """

    hfov_deg: float = 70.0
    width_px: int = 640
    height_px: int = 480

    def __post_init__(self) -> None:
        """Reject a field of view or image size no camera has."""
        if not (math.isfinite(self.hfov_deg) and 0.0 < self.hfov_deg < 180.0):
            raise PlanningError(f'camera hfov_deg must be in (0, 180), got {self.hfov_deg}')
        if self.width_px < 1 or self.height_px < 1:
            raise PlanningError(
                f'camera image size must be positive, got {self.width_px} x {self.height_px}'
            )

    @property
    def vfov_deg(self) -> float:
        """Return the vertical (along-track) field of view of square pixels (deg)."""
        half = math.tan(math.radians(self.hfov_deg) / 2.0) * self.height_px / self.width_px
        return math.degrees(2.0 * math.atan(half))

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Return the ground footprint (across-track width, along-track length) at altitude (m).

        :param altitude_m: height above the ground (m, > 0).
        """
        check_altitude(altitude_m)
        across = 2.0 * altitude_m * math.tan(math.radians(self.hfov_deg) / 2.0)
        along = 2.0 * altitude_m * math.tan(math.radians(self.vfov_deg) / 2.0)
        return across, along


def check_altitude(altitude_m: float) -> None:
    """Raise PlanningError unless `altitude_m` is a positive finite height (m)."""
    if not (math.isfinite(altitude_m) and altitude_m > 0.0):
        raise PlanningError(f'altitude must be a positive number of metres, got {altitude_m}')


def check_overlap(overlap: float) -> None:
    """Raise PlanningError unless the side overlap is in [0, 0.9)."""
    if not (math.isfinite(overlap) and 0.0 <= overlap < MAX_OVERLAP):
        raise PlanningError(f'overlap must be in [0, {MAX_OVERLAP}), got {overlap}')


def swath_m(camera: Camera, altitude_m: float, overlap: float) -> float:
    """Return the spacing of neighbouring sweep legs (m): footprint width x (1 - overlap).

    :param camera: the nadir camera.
    :param altitude_m: height above the ground (m, > 0).
    :param overlap: side overlap between neighbouring legs (fraction, 0 <= overlap < 0.9).
    """
    check_overlap(overlap)
    across, _ = camera.footprint_m(altitude_m)
    return across * (1.0 - overlap)


def reach_m(camera: Camera, altitude_m: float, overlap: float) -> float:
    """Return how far the camera sees ahead of and behind the drone, the overlap kept (m).

    Half the footprint's along-track length x (1 - overlap), as the swath is its width x
    (1 - overlap): a sweep leg may end this far inside the area's edge.
    """
    check_overlap(overlap)
    _, along = camera.footprint_m(altitude_m)
    return 0.5 * along * (1.0 - overlap)


def swath_geometry(
    polylines: Sequence[Sequence[Sequence[float]]], swath_m: float, reach: float | None = None
) -> BaseGeometry:
    """Return what flying `polylines` shows the camera (map ENU polygon; empty for none).

    With `reach` (reach_m()), each segment covers a rectangle swath wide that reaches `reach`
    beyond both of its ends, as the camera's footprint does moving along it; without, each
    polyline is buffered by swath / 2 (round ends). A polyline of one point (a part smaller
    than a swath, flown as one waypoint over its centre) covers a square one swath wide.

    :param polylines: flown polylines, (east, north, ...) points in metres.
    :param swath_m: the swath (m).
    :param reach: how far the camera sees ahead and behind (m), or None.
    """
    half = 0.5 * swath_m
    shapes: list[BaseGeometry] = []
    for line in polylines:
        points = [(float(p[0]), float(p[1])) for p in line]
        if not points:
            continue
        if len(set(points)) < 2:
            shapes.append(Point(points[0]).buffer(half, cap_style='square'))
        elif reach is None:
            shapes.append(LineString(points).buffer(half))
        else:
            for a, b in zip(points, points[1:], strict=False):
                length = math.dist(a, b)
                if length < 1e-9:
                    continue
                ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
                start = (a[0] - ux * reach, a[1] - uy * reach)
                end = (b[0] + ux * reach, b[1] + uy * reach)
                shapes.append(LineString([start, end]).buffer(half, cap_style='flat'))
    return shapely.union_all(shapes) if shapes else Point().buffer(0)


def gsd_cm(camera: Camera, altitude_m: float) -> float:
    """Return the ground sample distance of the camera at altitude (cm per pixel, nadir)."""
    across, _ = camera.footprint_m(altitude_m)
    return 100.0 * across / camera.width_px


def altitude_for_gsd(camera: Camera, gsd: float) -> float:
    """Return the altitude (m) at which the camera's ground sample distance is `gsd` (cm/px).

    :raises PlanningError: a non-positive or non-finite GSD.
    """
    if not (math.isfinite(gsd) and gsd > 0.0):
        raise PlanningError(f'ground resolution must be > 0 cm per pixel, got {gsd}')
    return gsd / 100.0 * camera.width_px / (2.0 * math.tan(math.radians(camera.hfov_deg) / 2.0))


def model_gsd_cm(camera: Camera, altitude_m: float, max_side_px: int = MODEL_MAX_SIDE_PX) -> float:
    """Return the ground resolution the flood model sees (cm/px).

    Frames larger than max_side_px are shrunk to it before inference (segmentation's resize
    mode).
    """
    scale = max(camera.width_px, camera.height_px) / max_side_px
    return gsd_cm(camera, altitude_m) * max(scale, 1.0)
