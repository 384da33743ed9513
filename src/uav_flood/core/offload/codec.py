"""The bytes between a drone and the edge: a frame as JPEG out, the mask PNG of a result in."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

#: A mask PNG may be this much larger than its raw pixels (headers, an incompressible mask).
PNG_SLACK_BYTES = 65536


class CodecError(ValueError):
    """A frame that cannot be encoded, or a result whose mask cannot be used."""


def encode_jpeg(pixels: NDArray[np.uint8], encoding: str, quality: int) -> bytes:
    """Return an rgb8 or bgr8 frame as JPEG bytes.

    :raises CodecError: OpenCV could not encode it.
    """
    bgr = pixels if encoding == 'bgr8' else pixels[..., ::-1]
    ok, jpeg = cv2.imencode('.jpg', np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CodecError('JPEG encoding failed')
    return bytes(jpeg.tobytes())


def decode_mask(data: bytes, mask_bytes: int, height: int, width: int) -> NDArray[np.uint8]:
    """Return the mono8 water probability of an edge result for a `height` x `width` frame.

    :param data: the result's bytes: the mask PNG, then the classes when mask_bytes >= 0.
    :param mask_bytes: the PNG's length when classes follow it (-1: the whole data).
    :raises CodecError: why it cannot be used (too large, not a PNG, the wrong size or type).
    """
    size = len(data) if mask_bytes < 0 else mask_bytes
    if size > min(len(data), width * height + PNG_SLACK_BYTES):
        raise CodecError(f'{size} bytes for a {width}x{height} mask')
    buffer = np.frombuffer(data[:size], np.uint8)
    mask = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if mask is None:
        raise CodecError('not a PNG')
    if mask.dtype != np.uint8 or mask.shape != (height, width):
        raise CodecError(f'mask {mask.shape} {mask.dtype}, frame {height}x{width}')
    return np.asarray(mask, np.uint8)
