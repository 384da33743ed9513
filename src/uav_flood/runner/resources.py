"""Memory and CPU of a graph's processes, read from /proc (Linux; no ROS).

Each node process is counted with its descendants (flight_control's mavsdk_server, for one):
memory as PSS (proportional set size: a page shared by n processes counts 1/n in each, so the
processes' figures add up to what the graph really uses), CPU as user + system seconds since the
process started. Where /proc cannot be read (another OS, a process gone), there is no figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from pathlib import Path

PROC = Path('/proc')
#: Clock ticks per second of /proc/<pid>/stat's times.
CLOCK_TICKS = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


@dataclass(frozen=True)
class Usage:
    """What one process and its descendants use now.

    :param pss_mb: proportional set size (MiB).
    :param cpu_s: user + system CPU seconds so far.
    :param processes: how many processes were counted.
    """

    pss_mb: float
    cpu_s: float
    processes: int


def _children() -> dict[int, list[int]]:
    """Return parent pid -> child pids of every process now."""
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None:
            tree.setdefault(int(stat[1]), []).append(int(entry.name))
    return tree


def _stat(pid: int) -> list[str] | None:
    """Return /proc/<pid>/stat's fields after the command name (state, ppid, ...), or None."""
    try:
        text = (PROC / str(pid) / 'stat').read_text()
    except OSError:
        return None
    return text[text.rfind(')') + 2 :].split()


def _pss_kb(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / 'smaps_rollup').read_text().splitlines():
            if line.startswith('Pss:'):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cpu_s(pid: int) -> float:
    stat = _stat(pid)
    if stat is None:
        return 0.0
    # utime and stime are fields 14 and 15 of stat; 11 and 12 after the command name.
    return (int(stat[11]) + int(stat[12])) / CLOCK_TICKS


def usage(pids: Mapping[str, int]) -> dict[str, Usage]:
    """Return the usage of each labelled process with its descendants (labels that can be read).

    :param pids: label -> pid of the processes to measure.
    """
    if not PROC.is_dir():
        return {}
    tree = _children()
    result: dict[str, Usage] = {}
    for label, pid in pids.items():
        if not (PROC / str(pid)).is_dir():
            continue
        family, todo = [], [pid]
        while todo:
            current = todo.pop()
            family.append(current)
            todo += tree.get(current, [])
        result[label] = Usage(
            pss_mb=sum(_pss_kb(p) for p in family) / 1024.0,
            cpu_s=sum(_cpu_s(p) for p in family),
            processes=len(family),
        )
    return result


class UsageLog:
    """Samples of usage() over a run: the peak memory and the CPU time of every process.

    CPU seconds add up over the processes a label had (a respawned node's earlier process
    counts with the CPU it had used when last sampled).
    """

    def __init__(self) -> None:
        self.samples = 0
        #: The largest sum of every process's PSS in one sample (MiB).
        self.peak_total_mb = 0.0
        self._peak_mb: dict[str, float] = {}
        self._cpu: dict[str, dict[int, float]] = {}

    def add(self, pids: Mapping[str, int]) -> None:
        """Sample the processes `pids` (label -> pid) now."""
        sample = usage(pids)
        if not sample:
            return
        self.samples += 1
        self.peak_total_mb = max(self.peak_total_mb, sum(u.pss_mb for u in sample.values()))
        for label, use in sample.items():
            self._peak_mb[label] = max(self._peak_mb.get(label, 0.0), use.pss_mb)
            self._cpu.setdefault(label, {})[pids[label]] = use.cpu_s

    def per_label(self) -> dict[str, dict[str, float]]:
        """Return label -> {'peak_pss_mb', 'cpu_s'} (rounded to 0.1)."""
        return {
            label: {
                'peak_pss_mb': round(peak, 1),
                'cpu_s': round(sum(self._cpu.get(label, {}).values()), 1),
            }
            for label, peak in sorted(self._peak_mb.items())
        }
