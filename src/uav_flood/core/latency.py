"""A fixed-bin latency histogram that travels as text and merges exactly across drones.

Each segmentation node counts every frame's latency (local and edge separately) into 5 ms bins
since it started and publishes the counts in its status as text. Summing the counts of several
drones gives the fleet's distribution, so the demo's p50/p95 are over every frame of the run, to
within one bin, rather than an average of per-drone percentiles.
"""

from __future__ import annotations

import math

#: Bin width (ms) and the number of bins; the last bin also holds everything slower.
BIN_MS = 5.0
BINS = 1000


class LatencyHistogram:
    """Counts of latencies (ms) in BIN_MS bins from 0; bin k holds [k * BIN_MS, (k+1) * BIN_MS)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    @property
    def total(self) -> int:
        """Return the number of samples."""
        return sum(self.counts.values())

    def add(self, latency_ms: float) -> None:
        """Count one latency (ms); negative or non-finite values count in bin 0 or the last."""
        if math.isnan(latency_ms):
            return
        k = BINS - 1 if latency_ms >= BINS * BIN_MS else max(int(latency_ms // BIN_MS), 0)
        self.counts[k] = self.counts.get(k, 0) + 1

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts to this one."""
        for k, n in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + n

    def quantile(self, q: float) -> float:
        """Return the upper edge of the bin holding the q-quantile (ms); nan if empty.

        :param q: in [0, 1].
        :raises ValueError: on q outside [0, 1].
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f'quantile {q} outside [0, 1]')
        total = self.total
        if total == 0:
            return math.nan
        rank = max(1, math.ceil(q * total))
        seen = 0
        for k in sorted(self.counts):
            seen += self.counts[k]
            if seen >= rank:
                return (k + 1) * BIN_MS
        return BINS * BIN_MS  # not reached

    def to_text(self) -> str:
        """Return the counts as 'bin:count' pairs separated by spaces (nonzero bins only)."""
        return ' '.join(f'{k}:{n}' for k, n in sorted(self.counts.items()))

    @classmethod
    def from_text(cls, text: str) -> LatencyHistogram:
        """Parse what to_text wrote.

        :raises ValueError: on malformed text.
        """
        hist = cls()
        for pair in text.split():
            key, _, value = pair.partition(':')
            k, n = int(key), int(value)
            if not 0 <= k < BINS or n < 0:
                raise ValueError(f'bad histogram entry {pair!r}')
            hist.counts[k] = hist.counts.get(k, 0) + n
        return hist
