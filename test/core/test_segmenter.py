"""core.segmentation: the onnxruntime wrapper (sizes, encodings, modes, providers) and metrics."""

from pathlib import Path

import numpy as np
import pytest

from uav_flood.core.responder_layers import CLASSES
from uav_flood.core.segmentation import (
    available_providers,
    binary_metrics,
    default_model_path,
    FloodSegmenter,
    SegmentationError,
    SegmenterConfig,
)


@pytest.fixture(scope='module')
def segmenter():
    return FloodSegmenter(SegmenterConfig(threads=1))


@pytest.fixture(scope='module')
def photo():
    """Part of the shipped scene (FloodNet test-split tiles, RGB) and its water truth."""

    from uav_flood.sim.scene import FloodScene

    scene = FloodScene.load()
    rgb = np.ascontiguousarray(scene.rgb[:600, :800])
    return rgb, scene.water[:600, :800]


def test_the_shipped_model_is_in_the_package():
    path = default_model_path()
    assert path.is_file()
    assert path.stat().st_size < 5_000_000


@pytest.mark.parametrize('shape', [(480, 640), (375, 500), (97, 131), (2, 2), (1200, 300)])
def test_any_size_gives_a_mask_at_the_input_resolution(segmenter, shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    result = segmenter.segment(image)
    assert result.mask.shape == shape
    assert result.probability.shape == shape
    assert result.mask.dtype == bool
    assert np.all((result.probability >= 0) & (result.probability <= 1.0 + 1e-5))
    assert result.total_ms >= result.inference_ms > 0


def test_bgr8_is_rgb8_reversed(segmenter, photo):
    rgb, _ = photo
    a = segmenter.segment(rgb, 'rgb8')
    b = segmenter.segment(np.ascontiguousarray(rgb[:, :, ::-1]), 'bgr8')
    np.testing.assert_array_equal(a.mask, b.mask)
    # And the channel order matters to the model: swapping changes the probabilities.
    c = segmenter.segment(rgb, 'bgr8')
    assert not np.allclose(a.probability, c.probability)


@pytest.mark.parametrize(
    ('image', 'encoding', 'message'),
    [
        (np.zeros((10, 10, 3), np.uint8), 'mono8', 'unsupported image encoding'),
        (np.zeros((10, 10, 3), np.uint8), 'rgba8', 'unsupported image encoding'),
        (np.zeros((10, 10), np.uint8), 'rgb8', 'H x W x 3'),
        (np.zeros((10, 10, 4), np.uint8), 'rgb8', 'H x W x 3'),
        (np.zeros((10, 10, 3), np.float32), 'rgb8', 'uint8'),
        (np.zeros((1, 10, 3), np.uint8), 'rgb8', 'too small'),
    ],
)
def test_bad_frames_get_a_clear_error(segmenter, image, encoding, message):
    with pytest.raises(SegmentationError, match=message):
        segmenter.segment(image, encoding)


def test_model_finds_water_in_a_real_tile(segmenter, photo):
    rgb, truth = photo
    assert truth.mean() > 0.05  # the crop has water to find
    result = segmenter.segment(rgb)
    metrics = binary_metrics(result.mask, truth)
    # A floor well below the model's test-split IoU (MODEL_CARD.md): it catches a broken
    # pre-processing (channel order, normalisation, resize) without tracking the model.
    assert metrics.iou > 0.3, metrics


def test_tile_mode_matches_resize_mode_where_the_scale_is_the_same(photo):
    rgb, _ = photo
    tiled = FloodSegmenter(SegmenterConfig(mode='tile', tile=512, overlap=64, threads=1))
    whole = FloodSegmenter(SegmenterConfig(mode='resize', max_side=800, threads=1))
    a = tiled.segment(rgb).mask
    b = whole.segment(rgb).mask
    assert a.shape == b.shape == rgb.shape[:2]
    # Same scale, different context at tile borders: the masks agree almost everywhere.
    assert np.mean(a == b) > 0.9


def test_tile_mode_covers_frames_smaller_than_a_tile():
    seg = FloodSegmenter(SegmenterConfig(mode='tile', tile=256, overlap=32, threads=1))
    image = np.full((100, 700, 3), 120, np.uint8)
    assert seg.segment(image).mask.shape == (100, 700)


@pytest.mark.parametrize(
    ('config', 'message'),
    [
        (SegmenterConfig(providers=('gpu',)), 'unknown execution provider'),
        (SegmenterConfig(mode='crop'), 'mode must be one of'),
        (SegmenterConfig(threads=-1), 'threads'),
        (SegmenterConfig(max_side=8), 'max_side'),
        (SegmenterConfig(mode='tile', tile=100), 'multiple of 16'),
        (SegmenterConfig(tile=256, overlap=128), 'overlap'),
        (SegmenterConfig(threshold=1.0), 'threshold'),
        (SegmenterConfig(model_path='/nonexistent/model.onnx'), 'not found'),
    ],
)
def test_bad_configuration_is_refused(config, message):
    with pytest.raises(SegmentationError, match=message):
        FloodSegmenter(config)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bogus = tmp_path / 'model.onnx'
    bogus.write_bytes(b'not onnx at all')
    with pytest.raises(SegmentationError, match='cannot load model'):
        FloodSegmenter(SegmenterConfig(model_path=str(bogus)))


def test_missing_providers_fall_back_to_cpu():
    seg = FloodSegmenter(SegmenterConfig(providers=('tensorrt', 'cuda', 'cpu'), threads=1))
    assert seg.providers[-1] == 'CPUExecutionProvider'
    for name in ('tensorrt', 'cuda'):
        if name not in available_providers():
            assert any(name.lower() in p.lower() for p in seg.skipped_providers)
    assert 'cpu' in available_providers()


def test_binary_metrics_by_hand():
    pred = np.array([[1, 1, 0, 0]], bool)
    true = np.array([[1, 0, 1, 0]], bool)
    m = binary_metrics(pred, true)
    assert m.iou == pytest.approx(1 / 3)
    assert m.f1 == pytest.approx(0.5)
    assert m.precision == pytest.approx(0.5)
    assert m.recall == pytest.approx(0.5)
    assert m.accuracy == pytest.approx(0.5)
    empty = binary_metrics(np.zeros(4, bool), np.zeros(4, bool))
    assert empty.iou == empty.f1 == empty.accuracy == 1.0
    with pytest.raises(SegmentationError, match='differ in shape'):
        binary_metrics(np.zeros(3), np.zeros(4))


def test_a_batch_gives_the_same_masks_as_one_by_one(segmenter, photo):
    rgb, _ = photo
    frames = [
        np.ascontiguousarray(rgb[y : y + 240, x : x + 320])
        for y, x in ((0, 0), (300, 400), (100, 200))
    ]
    batch = segmenter.segment_batch(frames)
    for frame, result in zip(frames, batch, strict=True):
        single = segmenter.segment(frame)
        assert np.mean(single.mask == result.mask) > 0.999
        np.testing.assert_allclose(single.probability, result.probability, atol=1e-4)
    assert segmenter.segment_batch([]) == []
    with pytest.raises(SegmentationError, match='one size'):
        segmenter.segment_batch([frames[0], rgb[:100, :100]])


def test_shipped_models_are_found_by_name():
    from pathlib import Path

    from uav_flood.core.segmentation import default_model_path, resolve_model, SHIPPED_MODELS

    assert resolve_model('') == default_model_path() == default_model_path('accurate')
    assert resolve_model(' fast ') == default_model_path('fast')
    assert resolve_model('/tmp/other.onnx') == Path('/tmp/other.onnx')
    assert sorted(SHIPPED_MODELS) == ['accurate', 'fast']
    assert default_model_path('accurate').name == 'flood_seg.onnx'


def test_probability_mono8_has_16_levels_and_keeps_the_half_at_127():
    from uav_flood.core.segmentation import Segmentation

    prob = np.linspace(0.0, 1.0, 1001, dtype=np.float32).reshape(1, -1)
    result = Segmentation(prob >= 0.5, prob, 1.0, 1.0)
    mono8 = result.probability_mono8()
    assert set(np.unique(mono8).tolist()) == set(range(0, 256, 17))
    assert np.all(np.abs(mono8 / 255.0 - prob) <= 1 / 30 + 1e-6)  # half a level
    # A reader that takes > 127 as water keeps the 0.5 threshold within half a level.
    assert not (mono8 > 127)[prob < 0.5 - 1 / 30].any()
    assert (mono8 > 127)[prob > 0.5 + 1 / 30].all()


MINI = Path(__file__).resolve().parents[1] / 'data' / 'floodnet_mini'


@pytest.fixture(scope='module')
def class_segmenter():
    return FloodSegmenter(SegmenterConfig(threads=1, classes=True))


def test_class_probabilities_come_with_the_water_and_change_nothing_of_it(
    segmenter, class_segmenter, photo
):
    rgb, _ = photo  # 600 x 800: resized to 384 x 512, classes at a quarter of that
    plain, both = segmenter.segment(rgb), class_segmenter.segment(rgb)
    assert plain.classes is None
    np.testing.assert_array_equal(plain.probability, both.probability)
    assert both.classes.shape == (len(CLASSES), 96, 128) and both.classes.dtype == np.float32
    np.testing.assert_allclose(both.classes.sum(axis=0), 1.0, atol=1e-4)
    labels = both.class_labels()
    assert labels.shape == rgb.shape[:2] and labels.dtype == np.uint8 and labels.max() < 10
    # The water classes (road-flooded, water) where the water output says water, mostly.
    water_classes = np.isin(labels, (3, 5))
    assert np.mean(water_classes == both.mask) > 0.85
    with pytest.raises(SegmentationError, match='SegmenterConfig.classes'):
        plain.class_labels()


def test_class_probabilities_in_tile_mode_and_in_batches(class_segmenter, photo):
    rgb, _ = photo
    tiled = FloodSegmenter(
        SegmenterConfig(mode='tile', tile=512, overlap=64, threads=1, classes=True)
    ).segment(rgb)
    assert tiled.classes.shape == (len(CLASSES), 150, 200)
    np.testing.assert_allclose(tiled.classes.sum(axis=0), 1.0, atol=1e-4)
    whole = FloodSegmenter(SegmenterConfig(max_side=800, threads=1, classes=True)).segment(rgb)
    assert np.mean(tiled.class_labels() == whole.class_labels()) > 0.85
    batch = class_segmenter.segment_batch([rgb, rgb[:, ::-1].copy()])
    one = class_segmenter.segment(rgb)
    np.testing.assert_allclose(batch[0].classes, one.classes, atol=1e-4)
    assert batch[1].classes.shape == one.classes.shape


@pytest.mark.parametrize('image_id', ['6368', '6393'])
def test_class_labels_match_floodnets_on_its_test_images(class_segmenter, image_id):
    """FloodNet test-split images (downscaled to 256 x 192, test/data/floodnet_mini): the
    labels agree with FloodNet's on most pixels; a floor well below the model card's figures
    that catches a broken class order or resize."""
    import cv2

    bgr = cv2.imread(str(MINI / 'images' / f'{image_id}.jpg'))
    truth = cv2.imread(str(MINI / 'masks_orig' / f'{image_id}.png'), cv2.IMREAD_UNCHANGED)
    labels = class_segmenter.segment(np.ascontiguousarray(bgr[:, :, ::-1])).class_labels()
    assert labels.shape == truth.shape
    assert np.mean(labels == truth) > 0.85, np.bincount(labels.ravel(), minlength=10)
    road = truth == CLASSES.index('road-non-flooded')
    assert road.mean() > 0.1 and np.mean(labels[road] == truth[road]) > 0.6
