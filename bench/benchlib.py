"""Helpers shared by the benchmark scripts (imported from their own folder)."""

from pathlib import Path
import platform


def cpu_model() -> str:
    """Return the CPU's model name from /proc/cpuinfo, else platform's guess."""
    try:
        for line in Path('/proc/cpuinfo').read_text(encoding='utf-8').splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of `values`, the nearest rank (NaN if empty)."""
    if not values:
        return float('nan')
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
