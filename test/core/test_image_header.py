"""Image sizes read from headers agree with OpenCV's decoder; broken headers give None."""

import io
import struct

import cv2
import numpy as np
import pytest

from uav_flood.core.image_header import ImageHeader, read_image_header

IMAGE = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)


def header_of(data: bytes) -> ImageHeader | None:
    return read_image_header(io.BytesIO(data))


@pytest.mark.parametrize(
    ('ext', 'params', 'kind'),
    [
        ('.jpg', [], 'jpeg'),
        ('.jpg', [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], 'jpeg'),
        ('.png', [], 'png'),
        ('.bmp', [], 'bmp'),
        ('.webp', [], 'webp'),  # lossy: VP8
        ('.webp', [cv2.IMWRITE_WEBP_QUALITY, 101], 'webp'),  # lossless: VP8L
        ('.tiff', [], 'tiff'),
        ('.gif', [], 'gif'),
    ],
)
def test_sizes_match_the_decoder(ext: str, params: list[int], kind: str) -> None:
    data = cv2.imencode(ext, IMAGE, params)[1].tobytes()
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert header_of(data) == ImageHeader(kind, decoded.shape[1], decoded.shape[0])
    assert header_of(data) == ImageHeader(kind, 53, 37)


def test_jpeg_segments_before_the_frame_are_skipped_by_length() -> None:
    data = cv2.imencode('.jpg', IMAGE)[1].tobytes()
    # A 60 KB APP1 segment (EXIF with a thumbnail) and fill bytes before the next marker.
    app1 = b'\xff\xe1' + struct.pack('>H', 60_002) + b'\xff\xc0' * 30_000
    padded = data[:2] + app1 + b'\xff\xff' + data[2:]
    assert header_of(padded) == ImageHeader('jpeg', 53, 37)


def test_crafted_headers() -> None:
    # Big-endian TIFF with SHORT sizes, and BigTIFF with LONG8 ones.
    entries = struct.pack('>HHIHH', 256, 3, 1, 640, 0) + struct.pack('>HHIHH', 257, 3, 1, 480, 0)
    tiff = b'MM\x00*' + struct.pack('>I', 8) + struct.pack('>H', 2) + entries
    assert header_of(tiff) == ImageHeader('tiff', 640, 480)
    entries = struct.pack('<HHQQ', 256, 16, 1, 70_000) + struct.pack('<HHQQ', 257, 16, 1, 9)
    bigtiff = b'II+\x00' + struct.pack('<HHQ', 8, 0, 16) + struct.pack('<Q', 2) + entries
    assert header_of(bigtiff) == ImageHeader('tiff', 70_000, 9)
    # WebP VP8X: canvas size minus one, 24 bits each.
    vp8x = b'RIFF' + b'\x00' * 4 + b'WEBPVP8X' + b'\x0a\x00\x00\x00' + b'\x10\x00\x00\x00'
    vp8x += (16382).to_bytes(3, 'little') + (99).to_bytes(3, 'little')
    assert header_of(vp8x) == ImageHeader('webp', 16383, 100)
    # BMP with the old 12-byte core header.
    bmp = b'BM' + b'\x00' * 12 + struct.pack('<IHHHH', 12, 300, 200, 1, 24) + b'\x00' * 8
    assert header_of(bmp) == ImageHeader('bmp', 300, 200)
    # A PNG whose IHDR claims 12000 x 10000 (what a segment run must refuse).
    png = bytearray(cv2.imencode('.png', IMAGE)[1].tobytes())
    png[16:24] = struct.pack('>II', 12000, 10000)
    assert header_of(bytes(png)) == ImageHeader('png', 12000, 10000)
    assert header_of(bytes(png)).pixels == 120_000_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    'data',
    [
        b'',
        b'\x89PNG not really',
        b'hello world' * 10,
        b'P6\n53 37\n255\n' + b'\x00' * 100,  # a format OpenCV reads and segment does not
        b'\xff\xd8\xff\xe0\x00\x10JFIF',  # cut before the frame header
        b'\xff\xd8\xff\xda\x00\x08',  # scan before any frame header
        b'\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x35',  # height 0 (DNL): libjpeg refuses it
        b'II*\x00\xff\xff\xff\x7f',  # IFD offset beyond the end
        b'RIFF\x00\x00\x00\x00WEBPVP8L',  # cut short
    ],
)
def test_unusable_headers_give_none(data: bytes) -> None:
    assert header_of(data) is None


def test_cut_jpeg_headers_never_raise() -> None:
    data = cv2.imencode('.jpg', IMAGE)[1].tobytes()
    sof = data.index(b'\xff\xc0')
    for cut in range(sof + 9):
        assert header_of(data[:cut]) is None
    assert header_of(data[: sof + 9]) == ImageHeader('jpeg', 53, 37)
