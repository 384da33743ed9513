"""A labelled flood scene: real FloodNet tiles laid out on the map with a pixel-exact water mask.

The scene is described by a YAML file (the shipped one is ``sim/data/scene.yaml``, see
docs/scene_camera.md): a ground resolution and a list of tiles, each an RGB image, a binary mask
(255 water) and the south-west corner of the tile in map ENU metres. ``FloodScene.load`` builds
the mosaic at load time: ``rgb`` (H x W x 3), ``water`` (H x W bool) and ``covered`` (pixels that
some tile covers). Mosaic pixel (col, row) has its centre at
``east = min_e + (col + 0.5) * res`` and ``north = max_n - (row + 0.5) * res``: row 0 is the
northern edge, like a map seen from above.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
import yaml

from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import DRY, GridPatch, GridSpec, UNSEEN, WATER
from uav_flood.core.responder_layers import CLASSES

__all__ = ['DEFAULT_SCENE', 'FloodScene', 'SceneTile']

FloatArray = NDArray[np.float64]

# Largest truth patch before ConfigError (cells); guards memory for a fine grid.
_MAX_TRUTH_CELLS = 20_000_000
#: FloodNet's classes: a class mask holds 0..CLASS_COUNT - 1.
CLASS_COUNT = len(CLASSES)


def _default_scene_path() -> Path:
    return Path(str(resources.files('uav_flood.sim').joinpath('data', 'scene.yaml')))


DEFAULT_SCENE = _default_scene_path()


@dataclass(frozen=True)
class SceneTile:
    """One tile of the scene.

    :param tile_id: the source image id (FloodNet id).
    :param sw_enu_m: south-west corner of the tile (m, map ENU).
    :param width_px: tile width (px of the mosaic).
    :param height_px: tile height (px of the mosaic).
    :param water_fraction: share of the tile's pixels that are water (0..1).
    """

    tile_id: str
    sw_enu_m: tuple[float, float]
    width_px: int
    height_px: int
    water_fraction: float


def _read_image(path: Path, flags: int, source: str) -> NDArray[np.uint8]:
    if not path.is_file():
        raise ConfigError(f'scene file {path} does not exist', source)
    image = cv2.imread(str(path), flags)
    if image is None:
        raise ConfigError(f'cannot decode image {path}', source)
    return np.asarray(image, dtype=np.uint8)


def _number(value: Any, name: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f'{name} must be a finite number, got {value!r}', source)
    return float(value)


class FloodScene:
    """The ground truth scene: an RGB mosaic and its water mask, georeferenced in map ENU.

    :param rgb: mosaic colours (H x W x 3 uint8, RGB; row 0 north).
    :param water: water mask (H x W bool).
    :param covered: pixels covered by a tile (H x W bool); the rest is outside the scene.
    :param resolution_m: ground size of one mosaic pixel (m).
    :param sw_enu_m: south-west corner of the mosaic (m, map ENU).
    :param tiles: the tiles it was built from.
    :param name: a label for logs.
    :param classes: FloodNet class per pixel (H x W int8, 0..9, core.responder_layers.CLASSES;
        -1 outside the scene), None when the scene has no class masks.
    """

    def __init__(
        self,
        rgb: NDArray[np.uint8],
        water: NDArray[np.bool_],
        covered: NDArray[np.bool_],
        resolution_m: float,
        sw_enu_m: tuple[float, float],
        tiles: tuple[SceneTile, ...] = (),
        name: str = 'scene',
        classes: NDArray[np.int8] | None = None,
    ) -> None:
        """Check the arrays agree in shape and store them."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f'scene rgb must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}')
        if water.shape != rgb.shape[:2] or covered.shape != rgb.shape[:2]:
            raise ConfigError(
                f'scene masks {water.shape}, {covered.shape} do not match rgb {rgb.shape[:2]}'
            )
        if not (math.isfinite(resolution_m) and resolution_m > 0.0):
            raise ConfigError(f'scene resolution_m must be positive, got {resolution_m!r}')
        if classes is not None and classes.shape != rgb.shape[:2]:
            raise ConfigError(f'scene classes {classes.shape} do not match rgb {rgb.shape[:2]}')
        self.classes = classes
        self.rgb = rgb
        self.water = water.astype(bool, copy=False)
        self.covered = covered.astype(bool, copy=False)
        self.resolution_m = float(resolution_m)
        self.sw_enu_m = (float(sw_enu_m[0]), float(sw_enu_m[1]))
        self.tiles = tiles
        self.name = name

    @classmethod
    def load(cls, path: str | Path | None = None) -> FloodScene:
        """Load a scene YAML and build its mosaic (default: the shipped FloodNet demo scene).

        :raises ConfigError: on a missing or malformed file, unreadable tiles, tiles off the pixel
            grid or overlapping tiles.
        """
        scene_path = Path(path) if path is not None else DEFAULT_SCENE
        source = str(scene_path)
        if not scene_path.is_file():
            raise ConfigError('scene file does not exist', source)
        try:
            spec = yaml.safe_load(scene_path.read_text(encoding='utf-8'))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f'cannot read scene YAML: {exc}', source) from None
        if not isinstance(spec, dict):
            raise ConfigError('scene YAML must be a mapping', source)
        res = _number(spec.get('resolution_m'), 'resolution_m', source)
        if res <= 0.0:
            raise ConfigError(f'resolution_m must be positive, got {res}', source)
        entries = spec.get('tiles')
        if not isinstance(entries, list) or not entries:
            raise ConfigError('tiles must be a non-empty list', source)
        loaded = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not {'image', 'mask', 'sw_enu_m'} <= entry.keys():
                raise ConfigError(f'tile {i} needs image, mask and sw_enu_m', source)
            corner = entry['sw_enu_m']
            if not isinstance(corner, list) or len(corner) != 2:
                raise ConfigError(f'tile {i} sw_enu_m must be [east, north]', source)
            east = _number(corner[0], f'tile {i} east', source)
            north = _number(corner[1], f'tile {i} north', source)
            bgr = _read_image(scene_path.parent / str(entry['image']), cv2.IMREAD_COLOR, source)
            mask = _read_image(
                scene_path.parent / str(entry['mask']), cv2.IMREAD_GRAYSCALE, source
            )
            if mask.shape != bgr.shape[:2]:
                raise ConfigError(
                    f'tile {i} mask {mask.shape} does not match its image {bgr.shape[:2]}', source
                )
            tile_id = str(entry.get('id', Path(str(entry['image'])).stem))
            labels = None
            if 'classes' in entry:
                labels = _read_image(
                    scene_path.parent / str(entry['classes']), cv2.IMREAD_UNCHANGED, source
                )
                if labels.shape != bgr.shape[:2] or labels.max(initial=0) >= CLASS_COUNT:
                    raise ConfigError(
                        f'tile {i} classes must be {bgr.shape[:2]} of 0..{CLASS_COUNT - 1}, '
                        f'got {labels.shape} up to {labels.max(initial=0)}',
                        source,
                    )
            rgb_tile = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            loaded.append((tile_id, east, north, rgb_tile, mask, labels))
        with_classes = sum(t[5] is not None for t in loaded)
        if with_classes not in (0, len(loaded)):
            raise ConfigError('every tile needs classes, or none', source)
        min_e = min(t[1] for t in loaded)
        min_n = min(t[2] for t in loaded)
        max_e = max(t[1] + t[3].shape[1] * res for t in loaded)
        max_n = max(t[2] + t[3].shape[0] * res for t in loaded)
        width, height = round((max_e - min_e) / res), round((max_n - min_n) / res)
        rgb = np.zeros((height, width, 3), dtype=np.uint8)
        water = np.zeros((height, width), dtype=bool)
        covered = np.zeros((height, width), dtype=bool)
        classes = np.full((height, width), -1, np.int8) if with_classes else None
        tiles = []
        for tile_id, east, north, tile_rgb, mask, labels in loaded:
            h, w = mask.shape
            col_f = (east - min_e) / res
            row_f = (max_n - (north + h * res)) / res
            col, row = round(col_f), round(row_f)
            if abs(col_f - col) > 1e-6 or abs(row_f - row) > 1e-6:
                raise ConfigError(
                    f'tile {tile_id} corner ({east}, {north}) is not on the {res} m pixel grid',
                    source,
                )
            if np.any(covered[row : row + h, col : col + w]):
                raise ConfigError(f'tile {tile_id} overlaps another tile', source)
            rgb[row : row + h, col : col + w] = tile_rgb
            water[row : row + h, col : col + w] = mask >= 128
            covered[row : row + h, col : col + w] = True
            if classes is not None and labels is not None:
                classes[row : row + h, col : col + w] = labels
            tiles.append(SceneTile(tile_id, (east, north), w, h, float(np.mean(mask >= 128))))
        return cls(
            rgb,
            water,
            covered,
            res,
            (min_e, min_n),
            tuple(tiles),
            str(spec.get('name', source)),
            classes,
        )

    @property
    def width_px(self) -> int:
        """Return the mosaic width (px)."""
        return int(self.rgb.shape[1])

    @property
    def height_px(self) -> int:
        """Return the mosaic height (px)."""
        return int(self.rgb.shape[0])

    @property
    def bounds_enu(self) -> tuple[float, float, float, float]:
        """Return (min_e, min_n, max_e, max_n) of the mosaic (m, map ENU)."""
        min_e, min_n = self.sw_enu_m
        return (
            min_e,
            min_n,
            min_e + self.width_px * self.resolution_m,
            min_n + self.height_px * self.resolution_m,
        )

    @property
    def centre_enu(self) -> tuple[float, float]:
        """Return the centre of the mosaic (m, map ENU)."""
        min_e, min_n, max_e, max_n = self.bounds_enu
        return ((min_e + max_e) / 2.0, (min_n + max_n) / 2.0)

    @property
    def water_fraction(self) -> float:
        """Return the share of covered scene pixels that are water (0..1)."""
        return float(np.count_nonzero(self.water & self.covered) / np.count_nonzero(self.covered))

    @property
    def pixel_from_enu(self) -> FloatArray:
        """Return the 2x3 affine matrix taking (east, north, 1) (m) to mosaic (col, row) (px)."""
        _, _, _, max_n = self.bounds_enu
        inv = 1.0 / self.resolution_m
        return np.array(
            [
                [inv, 0.0, -self.sw_enu_m[0] * inv - 0.5],
                [0.0, -inv, max_n * inv - 0.5],
            ]
        )

    def enu_to_pixel(self, en: ArrayLike) -> FloatArray:
        """Convert ground points (N, 2) or (2,) (m, map ENU) to mosaic (col, row) (px, float)."""
        points = np.asarray(en, dtype=np.float64)
        a = self.pixel_from_enu
        out: FloatArray = points @ a[:, :2].T + a[:, 2]
        return out

    def pixel_to_enu(self, colrow: ArrayLike) -> FloatArray:
        """Convert mosaic (col, row) (N, 2) or (2,) (px) to ground (east, north) (m, map ENU)."""
        pixels = np.asarray(colrow, dtype=np.float64)
        _, _, _, max_n = self.bounds_enu
        east = self.sw_enu_m[0] + (pixels[..., 0] + 0.5) * self.resolution_m
        north = max_n - (pixels[..., 1] + 0.5) * self.resolution_m
        result: FloatArray = np.stack([east, north], axis=-1)
        return result

    def truth_at(self, en: ArrayLike) -> NDArray[np.int8]:
        """Return truth at ground points (..., 2) (m, map ENU): 100 water, 0 dry, -1 outside."""
        pixels = np.rint(self.enu_to_pixel(en)).astype(np.int64)
        cols, rows = pixels[..., 0], pixels[..., 1]
        inside = (cols >= 0) & (cols < self.width_px) & (rows >= 0) & (rows < self.height_px)
        out = np.full(cols.shape, UNSEEN, dtype=np.int8)
        c, r = cols[inside], rows[inside]
        values = np.where(self.water[r, c], WATER, DRY).astype(np.int8)
        values[~self.covered[r, c]] = UNSEEN
        out[inside] = values
        return out

    def classes_at(self, en: ArrayLike) -> NDArray[np.int8]:
        """Return the FloodNet class at ground points (..., 2) (m, map ENU); -1 outside.

        :raises ConfigError: the scene has no class masks.
        """
        if self.classes is None:
            raise ConfigError(f'scene {self.name} has no class masks')
        pixels = np.rint(self.enu_to_pixel(en)).astype(np.int64)
        cols, rows = pixels[..., 0], pixels[..., 1]
        inside = (cols >= 0) & (cols < self.width_px) & (rows >= 0) & (rows < self.height_px)
        out = np.full(cols.shape, UNSEEN, dtype=np.int8)
        out[inside] = self.classes[rows[inside], cols[inside]]
        return out

    def truth_patch(
        self,
        grid: GridSpec,
        bounds: tuple[float, float, float, float] | None = None,
        classes: bool = False,
    ) -> GridPatch:
        """Return the ground truth on the global grid: 100 water, 0 dry, -1 outside the scene.

        Each cell takes the mosaic pixel nearest its centre. With `classes`, the FloodNet class
        0..9 instead (-1 outside; ConfigError for a scene without class masks).

        :param grid: the global grid (only resolution_m is used).
        :param bounds: (min_e, min_n, max_e, max_n) to cover (m, map ENU), snapped outward to
            the grid; default the scene bounds.
        :raises ConfigError: on empty bounds or a patch over 20 M cells.
        """
        min_e, min_n, max_e, max_n = bounds if bounds is not None else self.bounds_enu
        if not (max_e > min_e and max_n > min_n):
            raise ConfigError(f'truth bounds {(min_e, min_n, max_e, max_n)} are empty')
        res = grid.resolution_m
        col0, col1 = math.floor(min_e / res + 1e-9), math.ceil(max_e / res - 1e-9)
        row0, row1 = math.floor(min_n / res + 1e-9), math.ceil(max_n / res - 1e-9)
        width, height = col1 - col0, row1 - row0
        if width * height > _MAX_TRUTH_CELLS:
            raise ConfigError(
                f'truth patch of {width}x{height} cells is too large; use coarser cells or '
                'smaller bounds'
            )
        east = (col0 + np.arange(width) + 0.5) * res
        north = (row0 + np.arange(height) + 0.5) * res
        grid_e, grid_n = np.meshgrid(east, north)
        points = np.stack([grid_e, grid_n], axis=-1)
        data = self.classes_at(points) if classes else self.truth_at(points)
        return GridPatch(
            origin_east=col0 * res,
            origin_north=row0 * res,
            resolution_m=res,
            width=width,
            height=height,
            data=np.ascontiguousarray(data),
        )
