"""core.gz_image: gz.msgs.Image -> sensor_msgs/Image fields, for every gz pixel format (no ROS)."""

from types import SimpleNamespace

import numpy as np
import pytest

from uav_flood.core.gz_image import (
    convert,
    GzImageError,
    LAYOUTS,
    PixelFormatType,
    REFUSED,
    RosImage,
    to_rgb,
)

# gz-msgs proto/gz/msgs/image.proto, enum PixelFormatType, written out again by hand.
PROTO_ENUM = {
    'UNKNOWN_PIXEL_FORMAT': 0,
    'L_INT8': 1,
    'L_INT16': 2,
    'RGB_INT8': 3,
    'RGBA_INT8': 4,
    'BGRA_INT8': 5,
    'RGB_INT16': 6,
    'RGB_INT32': 7,
    'BGR_INT8': 8,
    'BGR_INT16': 9,
    'BGR_INT32': 10,
    'R_FLOAT16': 11,
    'RGB_FLOAT16': 12,
    'R_FLOAT32': 13,
    'RGB_FLOAT32': 14,
    'BAYER_RGGB8': 15,
    'BAYER_BGGR8': 16,
    'BAYER_GBRG8': 17,
    'BAYER_GRBG8': 18,
}
# gz format -> (sensor_msgs encoding, channels, numpy dtype): ros_gz_bridge's table plus the
# exact float/Bayer encodings of sensor_msgs/image_encodings.hpp.
EXPECTED = {
    'L_INT8': ('mono8', 1, 'u1'),
    'L_INT16': ('mono16', 1, '<u2'),
    'RGB_INT8': ('rgb8', 3, 'u1'),
    'RGBA_INT8': ('rgba8', 4, 'u1'),
    'BGRA_INT8': ('bgra8', 4, 'u1'),
    'RGB_INT16': ('rgb16', 3, '<u2'),
    'BGR_INT8': ('bgr8', 3, 'u1'),
    'BGR_INT16': ('bgr16', 3, '<u2'),
    'R_FLOAT32': ('32FC1', 1, '<f4'),
    'RGB_FLOAT32': ('32FC3', 3, '<f4'),
    'BAYER_RGGB8': ('bayer_rggb8', 1, 'u1'),
    'BAYER_BGGR8': ('bayer_bggr8', 1, 'u1'),
    'BAYER_GBRG8': ('bayer_gbrg8', 1, 'u1'),
    'BAYER_GRBG8': ('bayer_grbg8', 1, 'u1'),
}
W, H = 7, 5  # odd sizes, so row lengths are not multiples of anything convenient


def gz_image(pixels, fmt, step=None, pad=0, sec=12, nsec=345, frame_id='x500_0::camera_link'):
    """Build a duck-typed gz.msgs.Image holding `pixels` (H x W [x C], little-endian)."""
    array = np.ascontiguousarray(pixels)
    height, width = array.shape[:2]
    row = array.reshape(height, -1).view(np.uint8)
    if pad:
        row = np.concatenate([row, np.full((height, pad), 0xEE, np.uint8)], axis=1)
    data = np.ascontiguousarray(row).tobytes()
    header = SimpleNamespace(
        stamp=SimpleNamespace(sec=sec, nsec=nsec),
        data=[
            SimpleNamespace(key='seq', value=['3']),
            SimpleNamespace(key='frame_id', value=[frame_id]),
        ],
    )
    return SimpleNamespace(
        header=header,
        width=width,
        height=height,
        step=row.shape[1] if step is None else step,
        pixel_format_type=int(PixelFormatType[fmt]),
        data=data,
    )


def sample(fmt, rng, width=W, height=H):
    encoding, channels, dtype = EXPECTED[fmt]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype.endswith('f4'):
        return rng.normal(10.0, 5.0, shape).astype(dtype)
    info = np.iinfo(np.dtype(dtype))
    return rng.integers(0, info.max, shape, endpoint=True).astype(dtype)


def test_enum_matches_the_proto_value_for_value():
    assert {f.name: f.value for f in PixelFormatType} == PROTO_ENUM


def test_every_format_is_either_mapped_or_refused():
    assert set(LAYOUTS) | set(REFUSED) == set(PixelFormatType)
    assert not set(LAYOUTS) & set(REFUSED)
    assert {f.name: (lay.encoding, lay.channels, lay.dtype) for f, lay in LAYOUTS.items()} == (
        EXPECTED
    )


@pytest.mark.parametrize('fmt', sorted(EXPECTED))
@pytest.mark.parametrize('pad', [0, 5])
def test_every_supported_format_converts_losslessly(fmt, pad):
    rng = np.random.default_rng(PROTO_ENUM[fmt])
    pixels = sample(fmt, rng)
    msg = gz_image(pixels, fmt, pad=pad)
    image = convert(msg)
    encoding, channels, dtype = EXPECTED[fmt]
    bpp = channels * np.dtype(dtype).itemsize
    assert isinstance(image, RosImage)
    assert image.encoding == encoding
    assert image.pixel_format is PixelFormatType[fmt]
    assert (image.width, image.height) == (W, H)
    assert image.step == W * bpp + pad == msg.step
    assert image.is_bigendian == 0
    assert image.data == msg.data  # padding kept: sensor_msgs/Image allows step > width * bpp
    assert (image.stamp_sec, image.stamp_nanosec) == (12, 345)
    assert image.frame_id == 'x500_0::camera_link'
    out = image.pixels()
    assert out.dtype == np.dtype(dtype)
    assert out.shape == pixels.shape
    assert np.array_equal(out, pixels)


def test_little_endian_samples_are_read_as_such():
    msg = gz_image(np.zeros((1, 2), '<u2'), 'L_INT16')
    msg.data = bytes([0x34, 0x12, 0xFF, 0x00])
    assert convert(msg).pixels().tolist() == [[0x1234, 0x00FF]]


def test_step_zero_means_packed_rows():
    pixels = np.arange(W * H * 3, dtype=np.uint8).reshape(H, W, 3)
    image = convert(gz_image(pixels, 'RGB_INT8', step=0))
    assert image.step == W * 3
    assert np.array_equal(image.pixels(), pixels)


def test_frame_id_missing_is_empty():
    msg = gz_image(np.zeros((2, 2), np.uint8), 'L_INT8')
    msg.header.data = [SimpleNamespace(key='seq', value=['1'])]
    assert convert(msg).frame_id == ''


@pytest.mark.parametrize('fmt', sorted(f.name for f in REFUSED))
def test_formats_without_a_ros_encoding_are_refused_with_the_reason(fmt):
    msg = gz_image(np.zeros((2, 2), np.uint8), 'L_INT8')
    msg.pixel_format_type = PROTO_ENUM[fmt]
    with pytest.raises(GzImageError) as err:
        convert(msg)
    assert err.value.kind == 'format'
    assert fmt in err.value.reason
    assert len(err.value.reason) > len(fmt) + 20  # says why, not just which


@pytest.mark.parametrize(
    ('change', 'kind', 'words'),
    [
        ({'pixel_format_type': 42}, 'format', 'unknown pixel_format_type 42'),
        ({'width': 0}, 'size', 'empty image'),
        ({'height': 0, 'data': b''}, 'size', 'empty image'),
        ({'step': W * 3 - 1}, 'step', 'shorter than a row'),
        ({'data': bytes(W * 3 * H - 1)}, 'data', 'step * height'),
        ({'data': bytes(W * 3 * H + 1)}, 'data', 'step * height'),
        ({'step': W * 3 + 2}, 'data', 'step * height'),  # step says padded, data is packed
        ({'data': list(range(W * 3 * H))}, 'message', 'bytes'),
        ({'width': 'wide'}, 'message', 'not a gz.msgs.Image'),
    ],
)
def test_malformed_images_are_refused_with_a_reason(change, kind, words):
    msg = gz_image(np.zeros((H, W, 3), np.uint8), 'RGB_INT8')
    for name, value in change.items():
        setattr(msg, name, value)
    with pytest.raises(GzImageError) as err:
        convert(msg)
    assert err.value.kind == kind
    assert words in str(err.value)


@pytest.mark.parametrize(('sec', 'nsec'), [(-1, 0), (1, 1_000_000_000), (2**31, 0), (0, -5)])
def test_invalid_stamps_are_refused(sec, nsec):
    msg = gz_image(np.zeros((2, 2), np.uint8), 'L_INT8', sec=sec, nsec=nsec)
    with pytest.raises(GzImageError) as err:
        convert(msg)
    assert err.value.kind == 'stamp'


def test_not_an_image_at_all():
    with pytest.raises(GzImageError) as err:
        convert(SimpleNamespace(width=1))
    assert err.value.kind == 'message'


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize('out', ['rgb8', 'bgr8'])
def test_to_rgb_colour_formats(pad, out):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 255, (H, W, 3), endpoint=True).astype(np.uint8)
    alpha = rng.integers(0, 255, (H, W, 1), endpoint=True).astype(np.uint8)
    want = rgb if out == 'rgb8' else rgb[:, :, ::-1]
    cases = {
        'RGB_INT8': rgb,
        'BGR_INT8': rgb[:, :, ::-1],
        'RGBA_INT8': np.concatenate([rgb, alpha], axis=2),
        'BGRA_INT8': np.concatenate([rgb[:, :, ::-1], alpha], axis=2),
        # 16-bit: the high byte is the 8-bit value, the low byte is noise that must vanish.
        'RGB_INT16': (rgb.astype('<u2') << 8) | 0x7F,
        'BGR_INT16': (rgb[:, :, ::-1].astype('<u2') << 8) | 0x80,
    }
    for fmt, pixels in cases.items():
        got = to_rgb(convert(gz_image(pixels, fmt, pad=pad)), out)
        assert got.dtype == np.uint8 and got.shape == (H, W, 3), fmt
        assert got.flags.c_contiguous, fmt
        assert np.array_equal(got, want), fmt


def test_to_rgb_grey_formats():
    grey = np.arange(W * H, dtype=np.uint8).reshape(H, W) * 3
    for fmt, pixels in (('L_INT8', grey), ('L_INT16', grey.astype('<u2') * 257)):
        got = to_rgb(convert(gz_image(pixels, fmt, pad=1)), 'rgb8')
        assert np.array_equal(got, np.stack([grey] * 3, axis=2)), fmt


def bayer_mosaic(rgb, pattern):
    """Sample an RGB image through a Bayer filter: pattern 'rggb' = R G on even rows, G B odd."""
    channel = {'r': 0, 'g': 1, 'b': 2}
    out = np.empty(rgb.shape[:2], np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[pattern[2 * dy + dx]]]
    return out


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_mosaics_demosaic_to_the_right_colours(pattern):
    colour = np.array([200, 110, 30], np.uint8)
    rgb = np.broadcast_to(colour, (8, 10, 3))
    msg = gz_image(bayer_mosaic(rgb, pattern), f'BAYER_{pattern.upper()}8', pad=2)
    got = to_rgb(convert(msg), 'rgb8')
    assert got.shape == (8, 10, 3)
    # Away from the border, bilinear demosaicing of a flat colour gives the colour back.
    assert np.abs(got[2:-2, 2:-2].astype(int) - colour.astype(int)).max() <= 1
    bgr = to_rgb(convert(msg), 'bgr8')
    assert np.array_equal(bgr, got[:, :, ::-1])


@pytest.mark.parametrize('fmt', ['R_FLOAT32', 'RGB_FLOAT32'])
def test_float_frames_have_no_colour_rendering(fmt):
    image = convert(gz_image(sample(fmt, np.random.default_rng(1)), fmt))
    with pytest.raises(GzImageError) as err:
        to_rgb(image, 'rgb8')
    assert err.value.kind == 'colour'
    assert 'R8G8B8' in err.value.reason


def test_to_rgb_refuses_other_output_encodings():
    image = convert(gz_image(np.zeros((2, 2, 3), np.uint8), 'RGB_INT8'))
    with pytest.raises(ValueError, match='rgb8'):
        to_rgb(image, 'mono8')
