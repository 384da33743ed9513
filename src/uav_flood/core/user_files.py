"""Reading the JSON and YAML documents people hand to uav_flood, with limits (no rclpy).

Area, no-fly, geofence, tracks and graph files come from people and other tools. Read naively,
a file of several GB is loaded whole before any parser can refuse it, and JSON or YAML nested a
few thousand levels deep (``[[[[...]]]]``) makes Python's parsers raise RecursionError, which
no caller expects and which ends a command with a traceback. These readers stop at
MAX_DOCUMENT_BYTES and turn both into UserFileError, a UavFloodError with one line of text;
callers re-raise it as their own error type (PlanningError, MissionError, ConfigError).
"""

from __future__ import annotations

from collections.abc import Iterable
import json
import os
from pathlib import Path
from typing import Any

from uav_flood.core.errors import UavFloodError

__all__ = [
    'MAX_DOCUMENT_BYTES',
    'UserFileError',
    'input_overwritten',
    'load_json',
    'parse_json',
    'read_text',
]

#: Largest area, no-fly, geofence, tracks or graph file read (bytes). Real ones are KB to a
#: few MB: a 10 000-vertex polygon in GeoJSON is about 0.4 MB.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


class UserFileError(UavFloodError):
    """A file given as input that cannot be read, is too large, or is not parseable."""


def _megabytes(size: int) -> str:
    return f'{size / (1024 * 1024):.0f} MB' if size >= 1024 * 1024 else f'{size} bytes'


def read_text(
    path: str | os.PathLike[str], what: str = '', max_bytes: int = MAX_DOCUMENT_BYTES
) -> str:
    """Return the UTF-8 text of a file of at most `max_bytes` bytes.

    The size is checked before reading, and again while reading (a pipe or device has none).

    :param path: the file.
    :param what: what the file is, for messages ('geofence file'); messages name the path.
    :param max_bytes: the largest file accepted (bytes).
    :raises UserFileError: when the file cannot be read, is larger, or is not UTF-8.
    """
    name = f'{what} {path}' if what else str(path)
    too_large = f'{name} is larger than the {_megabytes(max_bytes)} limit for this kind of file'
    try:
        with Path(path).open('rb') as stream:
            if os.fstat(stream.fileno()).st_size > max_bytes:
                raise UserFileError(too_large)
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise UserFileError(f'cannot read {name}: {exc.strerror or exc}') from None
    if len(data) > max_bytes:
        raise UserFileError(too_large)
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise UserFileError(f'{name} is not UTF-8 text ({exc.reason})') from None


def parse_json(text: str | bytes, name: str) -> Any:
    """Return the parsed JSON of `text`.

    :param text: the document.
    :param name: what to call it in messages (a file name).
    :raises UserFileError: when it is not JSON or is nested too deeply for Python's parser.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise UserFileError(
            f'{name} is not usable JSON: it is nested too deeply (thousands of levels)'
        ) from None
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes
        raise UserFileError(f'{name} is not JSON: {exc}') from None


def load_json(
    path: str | os.PathLike[str], what: str = '', max_bytes: int = MAX_DOCUMENT_BYTES
) -> Any:
    """Return the parsed JSON of a file of at most `max_bytes` bytes.

    :param what: see read_text.
    :raises UserFileError: see read_text and parse_json.
    """
    return parse_json(read_text(path, what, max_bytes), f'{what} {path}' if what else str(path))


def input_overwritten(
    outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None]
) -> tuple[Path, Path] | None:
    """Return (output, input) for the first output file that is one of the input files.

    Paths are compared resolved (symbolic links followed, '..' removed), so ``out/../a.json``
    and a link to the input count as the input; inputs that are None are left out.
    """
    resolved = {Path(p).resolve(): Path(p) for p in inputs if p is not None}
    for output in outputs:
        original = resolved.get(Path(output).resolve())
        if original is not None:
            return Path(output), original
    return None
