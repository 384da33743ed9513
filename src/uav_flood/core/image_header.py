"""Image dimensions from the file header, read before anything is decoded (no rclpy).

Decoding allocates width x height x 3 bytes and more, whatever the file size: a 20000 x 20000
JPEG of a few MB took 23.9 GB in `uav-flood segment`. OpenCV has no call that reads only the
header (its own limit, OPENCV_IO_MAX_IMAGE_PIXELS, is read once when the library loads), and
Pillow is not a dependency, so the formats segment accepts are parsed here: JPEG (the SOFn
marker), PNG (IHDR), GIF (logical screen), BMP (the DIB header), WebP (VP8, VP8L, VP8X) and
TIFF, classic and BigTIFF (ImageWidth and ImageLength of the first image, the one OpenCV
decodes). The format is recognised from the content, not from the file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Literal

__all__ = ['ImageHeader', 'read_image_header']

# JPEG start-of-frame markers: baseline, extended, progressive, lossless, arithmetic...
# (0xC4 DHT, 0xC8 JPG and 0xCC DAC are not frames).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM, RSTn, SOI, EOI.
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])
# Segments read before giving up on finding a frame header (real files have about 10).
_MAX_SEGMENTS = 10_000
# TIFF IFD entries read (real first IFDs have about 20).
_MAX_TIFF_ENTRIES = 4096


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says.

    :param format: 'jpeg', 'png', 'gif', 'bmp', 'webp' or 'tiff'.
    :param width: pixels per row.
    :param height: rows.
    """

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Return width x height."""
        return self.width * self.height


def read_image_header(stream: BinaryIO) -> ImageHeader | None:
    """Return the format and size of the image in a seekable binary stream, or None.

    None means: not one of the formats above, or a header that is cut short or inconsistent
    (the decoder would refuse it too). Reads a few hundred bytes for most files; a JPEG's
    segments before its frame header are skipped by their lengths, not read.

    :param stream: the file, opened 'rb', at any position (it is read from the start).
    """
    stream.seek(0)
    start = stream.read(32)
    readers = (
        (b'\xff\xd8', _jpeg),
        (b'\x89PNG\r\n\x1a\n', _png),
        (b'GIF87a', _gif),
        (b'GIF89a', _gif),
        (b'BM', _bmp),
        (b'II*\x00', _tiff),
        (b'MM\x00*', _tiff),
        (b'II+\x00', _tiff),
        (b'MM\x00+', _tiff),
    )
    try:
        for magic, reader in readers:
            if start.startswith(magic):
                return _valid(reader(stream, start))
        if start[:4] == b'RIFF' and start[8:12] == b'WEBP':
            return _valid(_webp(start))
    except (EOFError, ValueError, IndexError):
        return None
    return None


def _valid(header: ImageHeader | None) -> ImageHeader | None:
    if header is None or header.width <= 0 or header.height <= 0:
        return None
    return header


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _jpeg(stream: BinaryIO, start: bytes) -> ImageHeader | None:
    stream.seek(2)
    for _ in range(_MAX_SEGMENTS):
        if _read(stream, 1) != b'\xff':
            return None
        marker = _read(stream, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(stream, 1)[0]
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        length = int.from_bytes(_read(stream, 2), 'big')
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            segment = _read(stream, 5)
            height = int.from_bytes(segment[1:3], 'big')
            width = int.from_bytes(segment[3:5], 'big')
            return ImageHeader('jpeg', width, height)
        stream.seek(length - 2, 1)
    return None


def _png(stream: BinaryIO, start: bytes) -> ImageHeader | None:
    if len(start) < 24 or start[12:16] != b'IHDR':
        return None
    return ImageHeader(
        'png', int.from_bytes(start[16:20], 'big'), int.from_bytes(start[20:24], 'big')
    )


def _gif(stream: BinaryIO, start: bytes) -> ImageHeader | None:
    if len(start) < 10:
        return None
    return ImageHeader(
        'gif', int.from_bytes(start[6:8], 'little'), int.from_bytes(start[8:10], 'little')
    )


def _bmp(stream: BinaryIO, start: bytes) -> ImageHeader | None:
    if len(start) < 26:
        return None
    dib = int.from_bytes(start[14:18], 'little')
    if dib == 12:  # BITMAPCOREHEADER: 16-bit sizes
        width = int.from_bytes(start[18:20], 'little')
        height = int.from_bytes(start[20:22], 'little')
    elif dib >= 40:  # BITMAPINFOHEADER and later: signed 32-bit, negative height = top-down
        width = int.from_bytes(start[18:22], 'little', signed=True)
        height = abs(int.from_bytes(start[22:26], 'little', signed=True))
    else:
        return None
    return ImageHeader('bmp', width, height)


def _webp(start: bytes) -> ImageHeader | None:
    chunk = start[12:16]
    if chunk == b'VP8X':
        width = int.from_bytes(start[24:27], 'little') + 1
        height = int.from_bytes(start[27:30], 'little') + 1
    elif chunk == b'VP8L':
        if start[20] != 0x2F:
            return None
        bits = int.from_bytes(start[21:25], 'little')
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b'VP8 ':
        if start[23:26] != b'\x9d\x01\x2a':
            return None
        width = int.from_bytes(start[26:28], 'little') & 0x3FFF
        height = int.from_bytes(start[28:30], 'little') & 0x3FFF
    else:
        return None
    return ImageHeader('webp', width, height)


def _tiff(stream: BinaryIO, start: bytes) -> ImageHeader | None:
    order: Literal['little', 'big'] = 'little' if start[:2] == b'II' else 'big'
    big = start[2:4] in (b'+\x00', b'\x00+')

    def number(data: bytes) -> int:
        return int.from_bytes(data, order)

    if big:
        offset = number(start[8:16])
        count_size, entry_size, value_at = 8, 20, 12
    else:
        offset = number(start[4:8])
        count_size, entry_size, value_at = 2, 12, 8
    stream.seek(offset)
    count = number(_read(stream, count_size))
    if count > _MAX_TIFF_ENTRIES:
        return None
    entries = _read(stream, count * entry_size)
    size: dict[int, int] = {}
    for index in range(count):
        entry = entries[index * entry_size : (index + 1) * entry_size]
        tag, kind = number(entry[0:2]), number(entry[2:4])
        if tag in (256, 257):
            if kind == 3:  # SHORT, left-justified in the value field
                size[tag] = number(entry[value_at : value_at + 2])
            elif kind == 4:  # LONG
                size[tag] = number(entry[value_at : value_at + 4])
            elif kind == 16:  # LONG8 (BigTIFF)
                size[tag] = number(entry[value_at : value_at + 8])
            else:
                return None
    if 256 not in size or 257 not in size:
        return None
    return ImageHeader('tiff', size[256], size[257])
