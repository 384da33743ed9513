"""Flood segmentation with onnxruntime: any image size in, a water mask at that size out.

The model is an ONNX graph with one input, ``image`` (float32 RGB 0..255, N x 3 x H x W, H and W
multiples of 16, normalisation inside the graph), and one output, ``water`` (float32 water
probability, N x 1 x H x W); models trained on FloodNet's 10 classes also have ``classes``
(float32 class probabilities, N x 10 x H/4 x W/4, in core.responder_layers.CLASSES order), which
the segmenter returns with SegmenterConfig.classes. The shipped model
(``uav_flood/models/flood_seg.onnx``, see its MODEL_CARD.md) was trained on frames of about
512 x 384 pixels at roughly 15 cm per pixel.

Two ways to fit a frame to the network:

- ``resize`` (default): scale the frame so its longer side is ``max_side`` pixels (rounded to a
  multiple of 16), run once, scale the probability back to the frame's size.
- ``tile``: run on ``tile`` x ``tile`` windows at the frame's own resolution, overlapping by
  ``overlap`` pixels, and stitch; for large photos taken closer than the training imagery.

No rclpy here: the segmentation node, the edge server and ``uav-flood segment`` all use this.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
import math
import os
from pathlib import Path
import time

import cv2
import numpy as np
import numpy.typing as npt

from uav_flood.core.errors import UavFloodError
from uav_flood.core.responder_layers import CLASSES

#: Image encodings the segmenter accepts (sensor_msgs/Image names).
ENCODINGS = ('rgb8', 'bgr8')
#: Short provider names accepted in SegmenterConfig.providers, and onnxruntime's names for them.
PROVIDERS = {
    'tensorrt': 'TensorrtExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'cpu': 'CPUExecutionProvider',
}
MODES = ('resize', 'tile')
STRIDE = 16
#: The 'classes' output's resolution: one value per CLASS_STRIDE x CLASS_STRIDE input pixels.
CLASS_STRIDE = 4
_Planes = npt.NDArray[np.float32]
_Classes = npt.NDArray[np.float32] | None


class SegmentationError(UavFloodError):
    """A frame or a configuration the segmenter cannot use; the message says why."""


#: Levels of Segmentation.probability_mono8 (255 divides into PROBABILITY_LEVELS - 1 steps).
PROBABILITY_LEVELS = 16

#: The models shipped in the package, by name (docs/segmentation.md, "Two models").
SHIPPED_MODELS = {'accurate': 'flood_seg.onnx', 'fast': 'flood_seg_int8.onnx'}


def default_model_path(name: str = 'accurate') -> Path:
    """Path of a model shipped in the package ('accurate', the default, or 'fast')."""
    return Path(str(resources.files('uav_flood') / 'models' / SHIPPED_MODELS[name]))


def resolve_model(model: str) -> Path:
    """Return the file of `model`: a shipped model's name, '' (accurate) or an ONNX path.

    :param model: 'accurate' or 'fast' (SHIPPED_MODELS), '' for the accurate one, else a path.
    """
    model = model.strip()
    if not model:
        return default_model_path()
    if model in SHIPPED_MODELS:
        return default_model_path(model)
    return Path(model)


@dataclass(frozen=True)
class SegmenterConfig:
    """How to run the model.

    :param model_path: ONNX file, or a shipped model by name ('accurate', 'fast'); empty means
        the accurate shipped model.
    :param providers: execution providers in order of preference, by short name
        (``tensorrt``, ``cuda``, ``cpu``). Ones onnxruntime lacks are skipped; CPU is always the
        last resort.
    :param threads: onnxruntime intra-op threads; 0 lets onnxruntime use every core.
    :param mode: ``resize`` or ``tile`` (see the module docstring).
    :param max_side: longer side, in pixels, a frame is scaled to in resize mode.
    :param tile: tile size in tile mode (a multiple of 16).
    :param overlap: tile overlap in tile mode, pixels.
    :param threshold: water probability at or above which a pixel is water.
    :param classes: also return the 10 class probabilities (the model's ``classes`` output, at
        a quarter of the network input's resolution: Segmentation.classes).
    """

    model_path: str = ''
    providers: tuple[str, ...] = ('cpu',)
    threads: int = 0
    mode: str = 'resize'
    max_side: int = 512
    tile: int = 512
    overlap: int = 64
    threshold: float = 0.5
    classes: bool = False

    def validate(self) -> None:
        """Raise SegmentationError for a value that cannot work."""
        unknown = [p for p in self.providers if p.lower() not in PROVIDERS]
        if unknown:
            raise SegmentationError(
                f'unknown execution provider(s) {unknown}; choose from {sorted(PROVIDERS)}'
            )
        if self.mode not in MODES:
            raise SegmentationError(f'mode must be one of {MODES}, not {self.mode!r}')
        if self.threads < 0:
            raise SegmentationError(f'threads must be 0 (all cores) or more, not {self.threads}')
        if self.max_side < STRIDE:
            raise SegmentationError(f'max_side must be at least {STRIDE}, not {self.max_side}')
        if self.tile < STRIDE or self.tile % STRIDE:
            raise SegmentationError(
                f'tile must be a positive multiple of {STRIDE}, not {self.tile}'
            )
        if not 0 <= self.overlap < self.tile // 2:
            raise SegmentationError(f'overlap must be in [0, tile/2), not {self.overlap}')
        if not 0.0 < self.threshold < 1.0:
            raise SegmentationError(f'threshold must be in (0, 1), not {self.threshold}')


@dataclass(frozen=True)
class Segmentation:
    """One frame's result.

    :param mask: water mask, H x W bool, at the input's resolution.
    :param probability: water probability, H x W float32, at the input's resolution.
    :param inference_ms: time spent in onnxruntime.
    :param total_ms: time for the whole call (conversion, resize, inference, resize back).
    :param classes: with SegmenterConfig.classes, the class probabilities, 10 x h x w float32
        (core.responder_layers.CLASSES order; summing to 1 per pixel) over the whole frame at
        the network's output resolution (a quarter of its input: h, w about H/4, W/4 times
        max_side / max(H, W) in resize mode, H/4, W/4 in tile mode); None otherwise.
    """

    mask: npt.NDArray[np.bool_]
    probability: npt.NDArray[np.float32]
    inference_ms: float
    total_ms: float
    classes: npt.NDArray[np.float32] | None = None

    def class_labels(self) -> npt.NDArray[np.uint8]:
        """Return the most probable class per pixel at the frame's resolution (H x W uint8).

        The probabilities are scaled to 4x their resolution (bilinear), the argmax taken there
        and the labels scaled to the frame (nearest).

        :raises SegmentationError: the segmenter was not asked for classes.
        """
        if self.classes is None:
            raise SegmentationError('no class probabilities: set SegmenterConfig.classes')
        h, w = self.mask.shape
        k, ch, cw = self.classes.shape
        planes = [
            cv2.resize(self.classes[i], (4 * cw, 4 * ch), interpolation=cv2.INTER_LINEAR)
            for i in range(k)
        ]
        labels = _u8(np.argmax(np.stack(planes), axis=0).astype(np.uint8))
        if labels.shape != (h, w):
            labels = _u8(cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST))
        return labels

    def mask_mono8(self) -> npt.NDArray[np.uint8]:
        """Return the mask as 255 = water, 0 = other."""
        return self.mask.astype(np.uint8) * np.uint8(255)

    def probability_mono8(self) -> npt.NDArray[np.uint8]:
        """Return the water probability as mono8 in PROBABILITY_LEVELS steps (0, 17 .. 255).

        Sixteen levels (6.7 % apart) compress far better in PNG than 256, and above 127 is
        still P >= 0.5: a reader that takes > 127 as water gets the 0.5 threshold.
        """
        levels = PROBABILITY_LEVELS - 1
        steps = np.rint(np.clip(self.probability, 0.0, 1.0) * levels)
        return (steps * (255 // levels)).astype(np.uint8)


def as_rgb(image: npt.NDArray[np.uint8], encoding: str) -> npt.NDArray[np.uint8]:
    """Check a frame and return it as H x W x 3 RGB uint8."""
    if encoding not in ENCODINGS:
        takes = ' or '.join(ENCODINGS)
        raise SegmentationError(
            f'unsupported image encoding {encoding!r}: the segmenter takes {takes}'
        )
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise SegmentationError('the frame must be a uint8 numpy array')
    if image.ndim != 3 or image.shape[2] != 3:
        raise SegmentationError(f'a {encoding} frame must be H x W x 3, got shape {image.shape}')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise SegmentationError(f'the frame is too small: {image.shape[1]} x {image.shape[0]}')
    return image[:, :, ::-1] if encoding == 'bgr8' else image


def _u8(array: object) -> npt.NDArray[np.uint8]:
    return np.asarray(array, dtype=np.uint8)


def _round16(value: float) -> int:
    return max(STRIDE, int(round(value / STRIDE)) * STRIDE)


class FloodSegmenter:
    """An onnxruntime session over the flood model.

    :raises SegmentationError: the model is missing or unreadable, or the config is invalid.
    """

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        import onnxruntime as ort

        self.config = config or SegmenterConfig()
        self.config.validate()
        path = resolve_model(self.config.model_path)
        if not path.is_file():
            raise SegmentationError(f'model file {path} not found')
        available = set(ort.get_available_providers())
        wanted = [PROVIDERS[p.lower()] for p in self.config.providers]
        self.skipped_providers = [p for p in wanted if p not in available]
        chosen = [p for p in wanted if p in available]
        if 'CPUExecutionProvider' not in chosen:
            chosen.append('CPUExecutionProvider')
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SegmentationError(f'cannot load model {path}: {exc}') from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        names = [output.name for output in outputs]
        if (
            len(inputs) != 1
            or inputs[0].shape[1] != 3
            or not (len(names) == 1 or 'water' in names)
        ):
            raise SegmentationError(
                f'{path} is not a flood model: expected one N x 3 x H x W input and one output '
                "(or an output named 'water')"
            )
        self._input = inputs[0].name
        #: The water probability (models with the 10-class output too name it 'water').
        self._output = 'water' if 'water' in names else names[0]
        if self.config.classes and 'classes' not in names:
            raise SegmentationError(
                f"{path} has no 'classes' output (10 FloodNet classes): it segments water only"
            )
        self._outputs = [self._output, 'classes'] if self.config.classes else [self._output]
        self.model_path = path
        self.providers: list[str] = list(self._session.get_providers())

    def segment(self, image: npt.NDArray[np.uint8], encoding: str = 'rgb8') -> Segmentation:
        """Segment one frame (H x W x 3 uint8, ``rgb8`` or ``bgr8``)."""
        start = time.perf_counter()
        rgb = as_rgb(image, encoding)
        if self.config.mode == 'tile':
            probability, classes, inference_ms = self._tiled(rgb)
        else:
            probability, classes, inference_ms = self._resized(rgb)
        mask = probability >= self.config.threshold
        total_ms = (time.perf_counter() - start) * 1e3
        return Segmentation(mask, probability, inference_ms, total_ms, classes)

    def segment_batch(
        self, images: list[npt.NDArray[np.uint8]], encoding: str = 'rgb8'
    ) -> list[Segmentation]:
        """Segment same-size frames in one onnxruntime run (resize mode; tile mode loops).

        The results equal those of `segment` per frame up to float rounding; inference_ms is
        the batch's time divided among the frames.
        """
        if not images:
            return []
        if len(images) == 1 or self.config.mode != 'resize':
            return [self.segment(image, encoding) for image in images]
        start = time.perf_counter()
        rgbs = [as_rgb(image, encoding) for image in images]
        h, w = rgbs[0].shape[:2]
        if any(rgb.shape[:2] != (h, w) for rgb in rgbs):
            raise SegmentationError('segment_batch needs frames of one size')
        size, interp = self._resize_target(h, w)
        smalls = [
            rgb if size == (w, h) else _u8(cv2.resize(rgb, size, interpolation=interp))
            for rgb in rgbs
        ]
        batch = np.ascontiguousarray(np.stack(smalls).transpose(0, 3, 1, 2), dtype=np.float32)
        run_start = time.perf_counter()
        outs = self._session.run(self._outputs, {self._input: batch})
        out = np.asarray(outs[0], dtype=np.float32)
        inference_ms = (time.perf_counter() - run_start) * 1e3 / len(images)
        classes: list[npt.NDArray[np.float32] | None] = (
            [np.asarray(c, np.float32) for c in outs[1]] if len(outs) > 1 else [None] * len(out)
        )
        probs = [
            p
            if p.shape == (h, w)
            else np.asarray(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
            for p in out[:, 0]
        ]
        total_ms = (time.perf_counter() - start) * 1e3 / len(images)
        return [
            Segmentation(p >= self.config.threshold, p, inference_ms, total_ms, c)
            for p, c in zip(probs, classes, strict=True)
        ]

    def _resize_target(self, h: int, w: int) -> tuple[tuple[int, int], int]:
        """Return the network input size (w, h) for a frame and the interpolation to reach it."""
        scale = self.config.max_side / max(h, w)
        size = (_round16(w * scale), _round16(h * scale))
        return size, cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR

    def _run(self, rgb: npt.NDArray[np.uint8]) -> tuple[_Planes, _Classes, float]:
        """Run the network on an image whose sides are multiples of 16.

        Return the water probability, the class probabilities (None unless asked) and the
        inference time (ms).
        """
        batch = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        start = time.perf_counter()
        outs = self._session.run(self._outputs, {self._input: batch})
        ms = (time.perf_counter() - start) * 1e3
        classes = np.asarray(outs[1][0], dtype=np.float32) if len(outs) > 1 else None
        return np.asarray(outs[0][0, 0], dtype=np.float32), classes, ms

    def _resized(self, rgb: npt.NDArray[np.uint8]) -> tuple[_Planes, _Classes, float]:
        h, w = rgb.shape[:2]
        size, interp = self._resize_target(h, w)
        small = rgb if size == (w, h) else _u8(cv2.resize(rgb, size, interpolation=interp))
        prob, classes, ms = self._run(small)
        if prob.shape != (h, w):
            prob = np.asarray(
                cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32
            )
        return prob, classes, ms

    def _tiled(self, rgb: npt.NDArray[np.uint8]) -> tuple[_Planes, _Classes, float]:
        h, w = rgb.shape[:2]
        tile, overlap = self.config.tile, self.config.overlap
        ph, pw = (
            max(tile, math.ceil(h / STRIDE) * STRIDE),
            max(tile, math.ceil(w / STRIDE) * STRIDE),
        )
        padded = _u8(cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_REFLECT_101))
        total = np.zeros((ph, pw), np.float32)
        weight = np.zeros((ph, pw), np.float32)
        q = CLASS_STRIDE
        class_total = (
            np.zeros((len(CLASSES), ph // q, pw // q), np.float32) if self.config.classes else None
        )
        step = tile - overlap
        ys = list(range(0, max(ph - tile, 0) + 1, step))
        xs = list(range(0, max(pw - tile, 0) + 1, step))
        if ys[-1] + tile < ph:
            ys.append(ph - tile)
        if xs[-1] + tile < pw:
            xs.append(pw - tile)
        # Weights fall off towards tile edges, where the network sees less context.
        ramp = np.minimum(np.arange(tile) + 1, np.arange(tile)[::-1] + 1).astype(np.float32)
        window = np.minimum.outer(ramp, ramp)
        small_window = window[q // 2 :: q, q // 2 :: q]
        elapsed = 0.0
        for y in ys:
            for x in xs:
                prob, classes, ms = self._run(padded[y : y + tile, x : x + tile])
                total[y : y + tile, x : x + tile] += prob * window
                weight[y : y + tile, x : x + tile] += window
                if class_total is not None and classes is not None:
                    rows, cols = slice(y // q, (y + tile) // q), slice(x // q, (x + tile) // q)
                    class_total[:, rows, cols] += classes * small_window
                elapsed += ms
        stitched = None
        if class_total is not None:
            small_weight = weight[q // 2 :: q, q // 2 :: q]
            hq, wq = math.ceil(h / q), math.ceil(w / q)
            stitched = (class_total / small_weight)[:, :hq, :wq].astype(np.float32)
        return (total / weight)[:h, :w].astype(np.float32), stitched, elapsed


def available_providers() -> list[str]:
    """Short names of the execution providers this onnxruntime build offers."""
    import onnxruntime as ort

    names = {v: k for k, v in PROVIDERS.items()}
    return [names[p] for p in ort.get_available_providers() if p in names]


def cpu_count() -> int:
    """Cores available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BinaryMetrics:
    """Pixel metrics of a predicted water mask against the truth (water is the positive class)."""

    iou: float
    f1: float
    precision: float
    recall: float
    accuracy: float
    pixels: int


def binary_metrics(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> BinaryMetrics:
    """IoU, F1, precision, recall and accuracy of boolean arrays of the same shape.

    Ratios with an empty denominator (no water predicted and none true) count as 1.0.
    """
    pred = np.asarray(predicted, dtype=bool)
    true = np.asarray(truth, dtype=bool)
    if pred.shape != true.shape:
        raise SegmentationError(f'prediction {pred.shape} and truth {true.shape} differ in shape')
    tp = int(np.count_nonzero(pred & true))
    fp = int(np.count_nonzero(pred & ~true))
    fn = int(np.count_nonzero(~pred & true))
    n = pred.size
    tn = n - tp - fp - fn

    def ratio(num: int, den: int) -> float:
        return num / den if den else 1.0

    return BinaryMetrics(
        iou=ratio(tp, tp + fp + fn),
        f1=ratio(2 * tp, 2 * tp + fp + fn),
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        accuracy=ratio(tp + tn, n),
        pixels=n,
    )
