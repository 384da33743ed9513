"""runner/resources.py: memory (PSS) and CPU of a process with its children, from /proc."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

from uav_flood.runner.resources import usage, UsageLog

pytestmark = pytest.mark.skipif(not Path('/proc/self/smaps_rollup').exists(), reason='Linux')

BUSY_CHILD = """
import sys, time
block = bytearray(64 * 1024 * 1024)  # 64 MiB, touched: resident
for i in range(0, len(block), 4096):
    block[i] = 1
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print('ready', flush=True)
sys.stdin.read()
"""


def test_a_process_counts_with_its_children_memory_and_cpu():
    parent = subprocess.Popen(
        [sys.executable, '-c', 'import subprocess, sys; '
         f'subprocess.run([sys.executable, "-c", {BUSY_CHILD!r}])'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == 'ready'
        measured = usage({'parent': parent.pid, 'gone': 2**22 + 1})
        assert set(measured) == {'parent'}  # a pid that does not exist has no figure
        family = measured['parent']
        assert family.processes == 2
        assert family.pss_mb > 64.0  # the child's 64 MiB block is counted with its parent
        assert family.cpu_s >= 0.3
        log = UsageLog()
        log.add({'parent': parent.pid})
        log.add({'parent': parent.pid, 'me': os.getpid()})
        assert log.samples == 2 and log.peak_total_mb > family.pss_mb
        per = log.per_label()
        assert per['parent']['peak_pss_mb'] == pytest.approx(family.pss_mb, abs=2.0)
        assert per['parent']['cpu_s'] >= 0.3  # one pid: its latest figure, not a sum of samples
        assert per['parent']['cpu_s'] < 2 * family.cpu_s + 0.2
    finally:
        parent.stdin.close()
        parent.wait(timeout=10)
