"""Convert Gazebo (gz-msgs) camera images to sensor_msgs/Image fields (no rclpy, no gz imports).

The input is a ``gz.msgs.Image`` or anything shaped like one (duck-typed): ``header.stamp.sec``
and ``.nsec``, ``header.data`` (repeated key/value pairs, ``frame_id`` among them), ``width``,
``height``, ``step`` (bytes per row, padding included), ``pixel_format_type`` and ``data``.

The pixel formats are gz-msgs' ``PixelFormatType`` enum, from ``proto/gz/msgs/image.proto`` of
gazebosim/gz-msgs (commit 2770d346b5134efef13de5b90ce46a8c7219e918, the ``gz/msgs`` layout used
since gz-msgs 9). The enum was copied from gz-common's ``Image::PixelFormatType`` in ign-msgs 3.1
and last changed in ign-msgs 4.0 (``BAYER_RGGR8`` renamed ``BAYER_BGGR8``, same number; gz-msgs
Changelog), so it is the same in gz-msgs 10 (Harmonic), 11 (Ionic) and 12 (Jetty). Each supported
format maps to its ``sensor_msgs/image_encodings`` name as ros_gz_bridge does
(ros_gz_bridge/src/convert/sensor_msgs.cpp), plus the float and Bayer formats that have an exact
ROS encoding; the rest are refused with the reason. Multi-byte samples are little-endian
(``is_bigendian`` 0), the byte order of every platform Gazebo runs on, as ros_gz_bridge assumes.

Unlike ros_gz_bridge, the row step is honoured: padded rows (step > width * bytes per pixel) keep
their padding in RosImage.data (sensor_msgs/Image allows it) and RosImage.pixels() drops it.
``to_rgb`` turns a converted frame into packed rgb8 or bgr8 for the segmentation pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import enum
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from uav_flood.core.errors import UavFloodError

__all__ = [
    'LAYOUTS',
    'OUTPUT_ENCODINGS',
    'REFUSED',
    'GzImageError',
    'PixelFormatType',
    'PixelLayout',
    'RosImage',
    'convert',
    'header_frame_id',
    'pixel_format',
    'to_rgb',
]

#: Encodings to_rgb can produce (sensor_msgs names).
OUTPUT_ENCODINGS = ('rgb8', 'bgr8')
#: builtin_interfaces/Time.sec is an int32.
_MAX_ROS_SEC = 2**31 - 1


class PixelFormatType(enum.IntEnum):
    """gz.msgs.PixelFormatType (gz-msgs proto/gz/msgs/image.proto), value for value."""

    UNKNOWN_PIXEL_FORMAT = 0
    L_INT8 = 1
    L_INT16 = 2
    RGB_INT8 = 3
    RGBA_INT8 = 4
    BGRA_INT8 = 5
    RGB_INT16 = 6
    RGB_INT32 = 7
    BGR_INT8 = 8
    BGR_INT16 = 9
    BGR_INT32 = 10
    R_FLOAT16 = 11
    RGB_FLOAT16 = 12
    R_FLOAT32 = 13
    RGB_FLOAT32 = 14
    BAYER_RGGB8 = 15
    BAYER_BGGR8 = 16
    BAYER_GBRG8 = 17
    BAYER_GRBG8 = 18


@dataclass(frozen=True)
class PixelLayout:
    """How the pixels of one gz format are laid out, and their sensor_msgs encoding.

    :param encoding: the sensor_msgs/image_encodings name.
    :param channels: samples per pixel.
    :param dtype: numpy dtype of one sample, little-endian ('u1', '<u2', '<f4').
    """

    encoding: str
    channels: int
    dtype: str

    @property
    def bytes_per_pixel(self) -> int:
        """Return the size of one pixel (bytes)."""
        return self.channels * np.dtype(self.dtype).itemsize


_P = PixelFormatType
#: The gz formats that have an exact sensor_msgs encoding.
LAYOUTS: Mapping[PixelFormatType, PixelLayout] = {
    _P.L_INT8: PixelLayout('mono8', 1, 'u1'),
    _P.L_INT16: PixelLayout('mono16', 1, '<u2'),
    _P.RGB_INT8: PixelLayout('rgb8', 3, 'u1'),
    _P.RGBA_INT8: PixelLayout('rgba8', 4, 'u1'),
    _P.BGRA_INT8: PixelLayout('bgra8', 4, 'u1'),
    _P.RGB_INT16: PixelLayout('rgb16', 3, '<u2'),
    _P.BGR_INT8: PixelLayout('bgr8', 3, 'u1'),
    _P.BGR_INT16: PixelLayout('bgr16', 3, '<u2'),
    _P.R_FLOAT32: PixelLayout('32FC1', 1, '<f4'),
    _P.RGB_FLOAT32: PixelLayout('32FC3', 3, '<f4'),
    _P.BAYER_RGGB8: PixelLayout('bayer_rggb8', 1, 'u1'),
    _P.BAYER_BGGR8: PixelLayout('bayer_bggr8', 1, 'u1'),
    _P.BAYER_GBRG8: PixelLayout('bayer_gbrg8', 1, 'u1'),
    _P.BAYER_GRBG8: PixelLayout('bayer_grbg8', 1, 'u1'),
}
_NO_FLOAT16 = 'sensor_msgs has no 16-bit float encoding'
_INT32 = (
    'sensor_msgs has no unsigned 32-bit encoding, and 32SC3 would lose the channel order '
    '(ros_gz_bridge refuses it too)'
)
#: The gz formats without a sensor_msgs encoding, and why.
REFUSED: Mapping[PixelFormatType, str] = {
    _P.UNKNOWN_PIXEL_FORMAT: 'pixel format not set (UNKNOWN_PIXEL_FORMAT)',
    _P.RGB_INT32: _INT32,
    _P.BGR_INT32: _INT32,
    _P.R_FLOAT16: _NO_FLOAT16,
    _P.RGB_FLOAT16: _NO_FLOAT16,
}
del _P

# cv2 demosaicing codes by ROS Bayer encoding. OpenCV names a pattern by the second row's second
# and third pixels, so RGGB is its BayerBG (cv_bridge uses the same table); the tests check each
# code on a mosaic made from a known colour.
_BAYER_TO_RGB = {
    'bayer_rggb8': cv2.COLOR_BayerBG2RGB,
    'bayer_bggr8': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg8': cv2.COLOR_BayerGR2RGB,
    'bayer_grbg8': cv2.COLOR_BayerGB2RGB,
}


class GzImageError(UavFloodError):
    """A gz image that cannot be converted.

    :param kind: a short category for counters: 'message', 'format', 'size', 'step', 'data',
        'stamp' or 'colour'.
    :param reason: what is wrong, in words.
    """

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RosImage:
    """The sensor_msgs/Image fields of one gz image, validated.

    :param width: columns (px).
    :param height: rows (px).
    :param encoding: sensor_msgs/image_encodings name.
    :param step: bytes per row, padding included.
    :param is_bigendian: 0: multi-byte samples are little-endian.
    :param data: the rows, step * height bytes.
    :param stamp_sec: the gz header stamp, seconds (simulation time in gz-sim).
    :param stamp_nanosec: the gz header stamp, nanoseconds in [0, 1e9).
    :param frame_id: the gz header's frame_id ('' when it has none).
    :param pixel_format: the gz pixel format it came from.
    """

    width: int
    height: int
    encoding: str
    step: int
    is_bigendian: int
    data: bytes
    stamp_sec: int
    stamp_nanosec: int
    frame_id: str
    pixel_format: PixelFormatType

    @property
    def layout(self) -> PixelLayout:
        """Return the pixel layout of this image's format."""
        return LAYOUTS[self.pixel_format]

    def pixels(self) -> NDArray[Any]:
        """Return the pixels as an H x W (one channel) or H x W x C array, padding dropped.

        The array is a read-only view of ``data`` when rows are packed, else a copy.
        """
        layout = self.layout
        rows = np.frombuffer(self.data, dtype=np.uint8).reshape(self.height, self.step)
        packed = rows[:, : self.width * layout.bytes_per_pixel]
        if self.step != self.width * layout.bytes_per_pixel:
            packed = np.ascontiguousarray(packed)
        array = packed.view(np.dtype(layout.dtype))
        if layout.channels == 1:
            return array.reshape(self.height, self.width)
        return array.reshape(self.height, self.width, layout.channels)


def pixel_format(value: Any) -> PixelFormatType:
    """Return the gz pixel format of an enum value, or refuse it.

    :param value: gz.msgs.Image.pixel_format_type (an int).
    :raises GzImageError: an unknown value or a format without a sensor_msgs encoding.
    """
    try:
        fmt = PixelFormatType(int(value))
    except (TypeError, ValueError):
        raise GzImageError(
            'format',
            f'unknown pixel_format_type {value!r} (gz-msgs defines 0..{max(PixelFormatType)})',
        ) from None
    if fmt in REFUSED:
        raise GzImageError('format', f'pixel format {fmt.name} refused: {REFUSED[fmt]}')
    return fmt


def header_frame_id(header: Any) -> str:
    """Return the frame_id of a gz.msgs.Header ('' when it has none).

    gz headers carry the frame as the first value of the ``data`` entry keyed 'frame_id'.
    """
    for entry in header.data:
        if entry.key == 'frame_id':
            return str(entry.value[0]) if len(entry.value) else ''
    return ''


def convert(msg: Any) -> RosImage:
    """Check a gz image and return its sensor_msgs/Image fields.

    A step of 0 (unset) is read as packed rows (width * bytes per pixel).

    :param msg: a gz.msgs.Image or an object with the same fields.
    :raises GzImageError: the message cannot be converted; ``kind`` says which check failed.
    """
    try:
        header = msg.header
        width, height, step = int(msg.width), int(msg.height), int(msg.step)
        raw_format = msg.pixel_format_type
        data = msg.data
        sec, nsec = int(header.stamp.sec), int(header.stamp.nsec)
        frame_id = header_frame_id(header)
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        raise GzImageError('message', f'not a gz.msgs.Image: {exc}') from None
    fmt = pixel_format(raw_format)
    layout = LAYOUTS[fmt]
    if width <= 0 or height <= 0:
        raise GzImageError('size', f'empty image: {width}x{height} px')
    row_bytes = width * layout.bytes_per_pixel
    if step == 0:
        step = row_bytes
    elif step < row_bytes:
        raise GzImageError(
            'step',
            f'step {step} B is shorter than a row of {width} {fmt.name} pixels ({row_bytes} B)',
        )
    if not isinstance(data, bytes | bytearray | memoryview):
        raise GzImageError('message', f'data must be bytes, got {type(data).__name__}')
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size != step * height:
        raise GzImageError(
            'data',
            f'data has {size} B, step * height = {step} * {height} = {step * height} B',
        )
    if not (0 <= sec <= _MAX_ROS_SEC and 0 <= nsec < 1_000_000_000):
        raise GzImageError('stamp', f'header stamp {sec} s {nsec} ns is not a valid ROS time')
    return RosImage(
        width=width,
        height=height,
        encoding=layout.encoding,
        step=step,
        is_bigendian=0,
        data=bytes(data),
        stamp_sec=sec,
        stamp_nanosec=nsec,
        frame_id=frame_id,
        pixel_format=fmt,
    )


def to_rgb(image: RosImage, encoding: str = 'rgb8') -> NDArray[np.uint8]:
    """Return a converted frame as a packed H x W x 3 uint8 array in rgb8 or bgr8 order.

    Grey frames are repeated into three channels, alpha is dropped, 16-bit samples keep their
    high byte (a linear 0..65535 -> 0..255 scale) and Bayer mosaics are demosaiced (bilinear).

    :param image: a converted frame.
    :param encoding: 'rgb8' or 'bgr8'.
    :raises GzImageError: a float frame (kind 'colour'), which has no colour rendering.
    :raises ValueError: an encoding other than rgb8/bgr8.
    """
    if encoding not in OUTPUT_ENCODINGS:
        raise ValueError(f'encoding must be one of {OUTPUT_ENCODINGS}, got {encoding!r}')
    source = image.encoding
    if source.startswith('32F'):
        raise GzImageError(
            'colour',
            f'{image.pixel_format.name} ({source}) frames are not colour images (a depth '
            'camera?): bridge a colour camera (SDF <format>R8G8B8</format>)',
        )
    pixels = image.pixels()
    if pixels.dtype.itemsize == 2:
        pixels = (pixels >> 8).astype(np.uint8)
    if source in _BAYER_TO_RGB:
        rgb = cv2.cvtColor(np.ascontiguousarray(pixels), _BAYER_TO_RGB[source])
    elif pixels.ndim == 2:
        rgb = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
    elif source.startswith('bgr'):
        rgb = pixels[:, :, 2::-1]
    else:
        rgb = pixels[:, :, :3]
    if encoding == 'bgr8':
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb, dtype=np.uint8)
