"""Split one sweep route among the drones so their expected completion times balance.

The region is swept by a single route (sweep.build_route); each drone gets one contiguous piece
of it (whole rows and at most two partial rows: a contiguous part of the area), in the order of
where the drones are along the route. Cut positions are found by bisection on the completion
time T: every drone but the last takes the longest piece it finishes within min(T, its battery
limit), the last takes the rest, and T is the smallest time for which the last one also fits.
A drone whose battery limits it below T gets less (water filling); one that cannot even reach
the route gets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

TimeFn = Callable[[int, float, float], float]
ITERATIONS = 32


def split_route(
    length_m: float, order: Sequence[int], time_s: TimeFn, caps_s: Sequence[float]
) -> list[tuple[int, float, float]]:
    """Return (drone index, start m, end m) pieces of a route, one per drone, in route order.

    :param length_m: the route length (m).
    :param order: drone indices in the order their pieces follow along the route.
    :param time_s: time_s(drone, a, b): that drone's completion time for the piece a..b (s).
    :param caps_s: per drone (by index), the longest flight its battery allows (s, may be inf).
    """

    def fill(limit: float) -> tuple[list[float], float]:
        cuts: list[float] = []
        a = 0.0
        for drone in order[:-1]:
            target = min(limit, caps_s[drone])
            if time_s(drone, a, a) > target:
                cuts.append(a)
                continue
            lo, hi = a, length_m
            if time_s(drone, a, hi) <= target:
                lo = hi
            else:
                for _ in range(ITERATIONS):
                    mid = 0.5 * (lo + hi)
                    if time_s(drone, a, mid) <= target:
                        lo = mid
                    else:
                        hi = mid
            cuts.append(lo)
            a = lo
        return cuts, time_s(order[-1], a, length_m) if a < length_m else 0.0

    last = order[-1]
    upper = max(time_s(d, 0.0, length_m) for d in order)
    lo, hi = 0.0, upper
    for _ in range(ITERATIONS):
        mid = 0.5 * (lo + hi)
        _, last_time = fill(mid)
        if last_time <= min(mid, caps_s[last]):
            hi = mid
        else:
            lo = mid
    cuts, _ = fill(hi)
    starts = [0.0, *cuts]
    ends = [*cuts, length_m]
    return [(d, a, b) for d, a, b in zip(order, starts, ends, strict=True)]


def imbalance(times_s: Sequence[float]) -> float:
    """Return (max - min) / max of completion times (0 when balanced or no times)."""
    if not times_s or max(times_s) <= 0.0 or not all(math.isfinite(t) for t in times_s):
        return 0.0
    return (max(times_s) - min(times_s)) / max(times_s)
