"""Read recordings and the live view with the code of the Foxglove app and Lichtblick (npm).

test/js/package.json pins @mcap/core, @mcap/support, @foxglove/rosmsg,
@foxglove/rosmsg2-serialization, @foxglove/ws-protocol and ws. `installed()` runs `npm ci` there
once per machine (under a file lock, so parallel test workers wait for one install); `decode()`
runs test/js/decode_mcap.mjs on a file; `live_client()` returns test/js/live_client.mjs, a
Foxglove WebSocket client. Tests skip with the reason when Node.js or npm is missing; a failed
install fails.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parent / 'js'
#: Present once `npm ci` has finished (npm writes it last).
STAMP = JS_DIR / 'node_modules' / '.package-lock.json'


def installed() -> Path:
    """Install the pinned npm packages if needed; return the decoder script. Skips without npm."""
    node, npm = shutil.which('node'), shutil.which('npm')
    if node is None or npm is None:
        pytest.skip('Node.js and npm are needed to decode recordings as Foxglove does')
    with (JS_DIR / '.install.lock').open('w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock_file = JS_DIR / 'package-lock.json'
        if not STAMP.exists() or STAMP.stat().st_mtime < lock_file.stat().st_mtime:
            proc = subprocess.run(
                [npm, 'ci', '--no-audit', '--no-fund', '--ignore-scripts'],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert proc.returncode == 0, f'npm ci in {JS_DIR} failed:\n{proc.stderr[-2000:]}'
    return JS_DIR / 'decode_mcap.mjs'


def live_client() -> Path:
    """Install the pinned npm packages if needed; return the live-view client script."""
    installed()
    return JS_DIR / 'live_client.mjs'


def decode(path: Path) -> dict[str, Any]:
    """Return the decoder's summary of `path`: messages, decoded, and per topic the same."""
    script = installed()
    proc = subprocess.run(
        ['node', str(script), str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def undecoded(summary: dict[str, Any]) -> dict[str, str]:
    """Return {topic: first error} for every topic with a message the parsers could not read."""
    return {
        topic: str(entry['error'])
        for topic, entry in summary['topics'].items()
        if entry['decoded'] != entry['messages'] or entry['error']
    }
