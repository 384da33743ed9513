"""Write a file so a crash leaves the old content or the new, never a mix (no rclpy)."""

from __future__ import annotations

import os
from pathlib import Path
import tempfile


def write_atomic(path: str | os.PathLike[str], data: bytes | memoryview) -> Path:
    """Write `data` to `path` through a temporary file renamed over it, flushed to disk.

    The temporary file is in the same folder (a rename within one file system is atomic), is
    fsync'd before the rename, and the folder entry after it where the platform allows. The
    folder is created if needed.

    :raises OSError: the file cannot be written (the old one is then untouched).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f'.{target.name}.', suffix='.tmp', dir=target.parent)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return target
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
    return target
