"""Split one sweep route among the drones so their expected completion times balance.

The region is swept by a single route (sweep.build_route); each drone gets one contiguous piece
of it (whole rows and at most two partial rows: a contiguous part of the area), in the order of
where the drones are along the route. Cut positions are found by a root search on the
completion time T: every drone but the last takes the longest piece it finishes within
min(T, its battery limit), the last takes the rest, and T is the smallest time for which the
last one also fits. A drone whose battery limits it below T gets less (water filling); one that
cannot even reach the route gets nothing.

Both searches (T, and each cut for a given T) are bracketed false-position (Illinois) searches
with a bisection fallback: the completion time of a piece is nearly linear in its length (turn
penalties add small steps), so they converge in a handful of evaluations, and never take more
than twice as many as plain bisection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

TimeFn = Callable[[int, float, float], float]
CUT_TOLERANCE_M = 0.01
TIME_TOLERANCE_S = 1e-3


def split_route(
    length_m: float, order: Sequence[int], time_s: TimeFn, caps_s: Sequence[float]
) -> list[tuple[int, float, float]]:
    """Return (drone index, start m, end m) pieces of a route, one per drone, in route order.

    :param length_m: the route length (m).
    :param order: drone indices in the order their pieces follow along the route.
    :param time_s: time_s(drone, a, b): that drone's completion time for the piece a..b (s);
        non-decreasing in b.
    :param caps_s: per drone (by index), the longest flight its battery allows (s, may be inf).
    """

    def fill(limit: float) -> tuple[list[float], float]:
        cuts: list[float] = []
        a = 0.0
        for drone in order[:-1]:
            target = min(limit, caps_s[drone])
            start = time_s(drone, a, a) - target
            if start > 0.0:
                cuts.append(a)
                continue
            end = time_s(drone, a, length_m) - target
            if end <= 0.0:
                a = length_m
            else:

                def excess(
                    b: float, drone: int = drone, a: float = a, target: float = target
                ) -> float:
                    return time_s(drone, a, b) - target

                a = _search(excess, a, start, length_m, end, CUT_TOLERANCE_M)
            cuts.append(a)
        return cuts, time_s(order[-1], a, length_m) if a < length_m else 0.0

    last = order[-1]
    if len(order) > 1:

        def late(limit: float) -> float:
            return fill(limit)[1] - min(limit, caps_s[last])

        upper = max(time_s(d, 0.0, length_m) for d in order)
        at_upper = late(upper)
        if at_upper <= 0.0:
            # At T = 0 the others take nothing: the last drone flies the whole route.
            at_zero = time_s(last, 0.0, length_m)
            tolerance = max(TIME_TOLERANCE_S, 1e-9 * upper)
            limit = _search(late, upper, at_upper, 0.0, at_zero, tolerance)
        else:
            limit = upper
        cuts, _ = fill(limit)
    else:
        cuts = []
    starts = [0.0, *cuts]
    ends = [*cuts, length_m]
    return [(d, a, b) for d, a, b in zip(order, starts, ends, strict=True)]


def _search(
    f: Callable[[float], float],
    x_ok: float,
    f_ok: float,
    x_bad: float,
    f_bad: float,
    tolerance: float,
) -> float:
    """Return the x closest to x_bad (within `tolerance`) at which f(x) <= 0 is known.

    f is monotone between x_ok (f_ok <= 0) and x_bad (f_bad > 0), in either direction; it may
    jump. The result is always a point where f was found <= 0 (x_ok itself at worst).
    """
    weight_ok = weight_bad = 1.0
    kept = ''
    previous_width = math.inf
    while abs(x_bad - x_ok) > tolerance:
        width = abs(x_bad - x_ok)
        fo, fb = f_ok * weight_ok, f_bad * weight_bad
        if width > 0.5 * previous_width or fb - fo <= 0.0:
            x = 0.5 * (x_ok + x_bad)
        else:
            x = x_ok + (x_bad - x_ok) * (-fo) / (fb - fo)
            # Stay a quarter tolerance inside the bracket: every step makes progress.
            lo, hi = min(x_ok, x_bad) + 0.25 * tolerance, max(x_ok, x_bad) - 0.25 * tolerance
            x = min(max(x, lo), hi)
        previous_width = width
        value = f(x)
        if value <= 0.0:
            x_ok, f_ok, weight_ok = x, value, 1.0
            weight_bad = 0.5 * weight_bad if kept == 'bad' else 1.0
            kept = 'bad'
        else:
            x_bad, f_bad, weight_bad = x, value, 1.0
            weight_ok = 0.5 * weight_ok if kept == 'ok' else 1.0
            kept = 'ok'
    return x_ok


def imbalance(times_s: Sequence[float]) -> float:
    """Return (max - min) / max of completion times (0 when balanced or no times)."""
    if not times_s or max(times_s) <= 0.0 or not all(math.isfinite(t) for t in times_s):
        return 0.0
    return (max(times_s) - min(times_s)) / max(times_s)
