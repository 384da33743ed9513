"""Sorties: a drone's coverage path split into flights that each fit one battery (no rclpy).

A part larger than one battery is flown in several sorties. Each sortie takes off at home, climbs
to the drone's layer, flies (routed around no-fly zones) to where the previous sortie stopped,
sweeps on along the path as far as the battery allows with the reserve kept, and returns home
(PX4's RTL: climb to the return altitude, fly home, land); the battery is swapped on the ground
(`swap_time_s`) and the next sortie resumes where it stopped. A sortie flies as far as its battery
allows: it ends inside a leg, where the battery runs out, unless that would add less than
MIN_CUT_S of sweeping (then it ends at the waypoint and the next sortie starts that leg).

split_sorties() is greedy: each sortie flies as far as it can, so all but the last are full. Its
time model is the planner's (core.safety.EnergyModel legs, turn penalties), so a plan's times
and the energy check agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math

from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.coverage.sweep import count_turns
from uav_flood.core.mission import Enu
from uav_flood.core.safety import EnergyModel

__all__ = ['Sortie', 'split_sorties', 'total_time_s']

XY = tuple[float, float]
#: A sortie that has flown legs also flies part of the next leg when that part takes at least
#: this long (s); otherwise it ends at the waypoint.
MIN_CUT_S = 10.0
#: Routes a transit between two points around the no-fly zones: the polyline from a to b.
Router = Callable[[XY, XY], Sequence[XY]]


@dataclass(frozen=True)
class Sortie:
    """One flight of a drone's part.

    :param path: the mission's waypoints (map ENU, m): the transit's turning points from home
        to the sweep, the sweep, the transit's turning points back. Take-off at home before the
        first and PX4's return to launch after the last are not waypoints, as in a plan's path.
    :param sweep: the part of the drone's path this sortie covers (map ENU, m).
    :param resume_index: index in the drone's path where this sortie's sweep starts (the
        waypoint before, when a leg was cut).
    :param time_s: take-off to landing (s).
    :param energy_pct: battery used (%), the reserve not included.
    """

    path: tuple[Enu, ...]
    sweep: tuple[Enu, ...]
    resume_index: int
    time_s: float
    energy_pct: float


class _Flight:
    """The time of a sortie flying sweep points from home at one altitude and back."""

    def __init__(
        self,
        home: Enu,
        altitude_m: float,
        model: EnergyModel,
        turn_penalty_s: float,
        route: Router,
    ) -> None:
        self.home, self.altitude, self.model = home, altitude_m, model
        self.turn_penalty_s, self.route = turn_penalty_s, route
        self.top = Enu(home.east_m, home.north_m, altitude_m)

    def path(self, sweep: Sequence[Enu]) -> list[Enu]:
        """Return the waypoints of a sortie sweeping `sweep` (transits routed)."""
        home_xy = (self.home.east_m, self.home.north_m)
        first, last = sweep[0], sweep[-1]
        to = list(self.route(home_xy, (first.east_m, first.north_m)))[1:-1]
        back = list(self.route((last.east_m, last.north_m), home_xy))[1:-1]
        up = self.altitude
        return [
            *(Enu(x, y, up) for x, y in to),
            *sweep,
            *(Enu(x, y, up) for x, y in back),
        ]

    def time_s(self, path: Sequence[Enu]) -> float:
        """Return the time of a sortie flying `path` from home (s)."""
        model = self.model
        time_s = model.leg_time_s(self.home, self.top) + model.transit_time_s(self.top, path[0])
        time_s += sum(model.leg_time_s(p, q) for p, q in zip(path, path[1:], strict=False))
        time_s += model.planned_return_time_s(path[-1], self.home)
        points = [(self.home.east_m, self.home.north_m)]
        points += [(p.east_m, p.north_m) for p in path]
        points.append((self.home.east_m, self.home.north_m))
        return time_s + self.turn_penalty_s * count_turns(points)


def _along(p: Enu, q: Enu, t: float) -> Enu:
    return Enu(
        p.east_m + t * (q.east_m - p.east_m),
        p.north_m + t * (q.north_m - p.north_m),
        p.up_m + t * (q.up_m - p.up_m),
    )


def split_sorties(
    path: Sequence[Enu],
    home: Enu,
    model: EnergyModel,
    capacity_s: float,
    turn_penalty_s: float = 0.0,
    route: Router | None = None,
    count: int | None = None,
) -> list[Sortie]:
    """Split a drone's sweep `path` into sorties from `home` that each last <= capacity_s.

    :param path: the sweep waypoints (map ENU, m; one altitude), in flying order.
    :param home: where every sortie takes off and lands (map ENU, up = 0).
    :param capacity_s: the longest flight a battery allows with the reserve kept (s).
    :param route: transit router around no-fly zones (default: straight lines).
    :param count: split into this many sorties of about equal length (the shortest longest
        sortie) when the path needs no more; None: as few as the battery allows, all but the
        last full.
    :raises PlanningError: a point of the path is out of reach: flying there from home and back
        alone takes more than one battery.
    """
    fewest = _greedy(path, home, model, capacity_s, turn_penalty_s, route)
    if count is None or len(fewest) >= count or len(path) < 2:
        return fewest
    lo, hi = 0.0, max(s.time_s for s in fewest)
    best = fewest
    for _ in range(30):  # the shortest per-sortie limit that still needs <= count sorties
        mid = 0.5 * (lo + hi)
        try:
            trial = _greedy(path, home, model, mid, turn_penalty_s, route)
        except PlanningError:
            lo = mid
            continue
        if len(trial) <= count:
            best, hi = trial, mid
        else:
            lo = mid
        if hi - lo < 1.0:
            break
    return best


def _greedy(
    path: Sequence[Enu],
    home: Enu,
    model: EnergyModel,
    capacity_s: float,
    turn_penalty_s: float,
    route: Router | None,
) -> list[Sortie]:
    """Return the fewest sorties of at most capacity_s, each flying as far as it can."""
    if not path:
        return []
    if not (capacity_s > 0.0):
        raise PlanningError(f'a battery must allow some flight, got {capacity_s:.0f} s')
    straight: Router = route or (lambda a, b: [a, b])
    flight = _Flight(home, path[0].up_m, model, turn_penalty_s, straight)

    def fits(sweep: Sequence[Enu]) -> bool:
        return flight.time_s(flight.path(sweep)) <= capacity_s

    sorties: list[Sortie] = []
    start, start_point = 0, path[0]
    while True:
        if not fits([start_point]):
            raise PlanningError(
                f'the point ({start_point.east_m:.0f}, {start_point.north_m:.0f}) m is beyond '
                f'reach from home ({home.east_m:.0f}, {home.north_m:.0f}) m: going there and back '
                f'takes more than one battery ({capacity_s:.0f} s with the reserve)'
            )
        sweep = [start_point]
        end = start
        while end + 1 < len(path) and fits([*sweep, path[end + 1]]):
            end += 1
            sweep.append(path[end])
        cut = None
        if end + 1 < len(path):
            # The next leg does not fit whole: fly as much of it as the battery allows. A sortie
            # that has flown legs already stops at the waypoint instead when that is less than
            # MIN_CUT_S of flying (the next one then starts the leg afresh).
            lo, hi = 0.0, 1.0
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                if fits([*sweep, _along(path[end], path[end + 1], mid)]):
                    lo = mid
                else:
                    hi = mid
            gained_m = lo * math.dist(path[end][:2], path[end + 1][:2])
            if len(sweep) == 1 and gained_m < 1.0:
                raise PlanningError(
                    'a sweep leg cannot be flown at all on one battery from home: move home '
                    'closer to the area or plan with larger batteries'
                )
            if len(sweep) == 1 or gained_m >= MIN_CUT_S * model.cruise_speed_m_s:
                cut = _along(path[end], path[end + 1], lo)
                sweep.append(cut)
        flown = flight.path(sweep)
        time_s = flight.time_s(flown)
        sorties.append(Sortie(tuple(flown), tuple(sweep), start, time_s, model.energy_pct(time_s)))
        if end + 1 >= len(path):
            return sorties
        if cut is not None:
            start_point = cut
        else:
            start_point = path[end]
        start = end


def total_time_s(sorties: Sequence[Sortie], swap_time_s: float) -> float:
    """Return the time from the first take-off to the last landing (s), swaps included."""
    if not sorties:
        return 0.0
    return sum(s.time_s for s in sorties) + swap_time_s * (len(sorties) - 1)
