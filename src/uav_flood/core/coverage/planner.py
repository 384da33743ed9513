"""The swarm coverage planner: plan, replan and the metrics of a plan (map ENU, m; no rclpy).

plan_coverage() removes the no-fly zones (grown by a margin) from the area, sweeps what is left
with one boustrophedon route (sweep.py) and splits that route among the drones so that their
expected completion times balance (partition.py). Each drone flies its own altitude layer:
base_altitude_m + layer x altitude_step_m, so paths never conflict; the swath comes from the
lowest layer (base_altitude_m), which every higher drone covers with room to spare.

Expected completion time of a drone (s): core.safety.EnergyModel at the drone's speed (take-off
climb, transit from home or from where it is, the path, PX4's RTL home and the landing) plus
turn_penalty_s for every waypoint where the path turns by more than 30 deg (a multirotor brakes
and accelerates there). Cut positions are found on estimated times (straight transits), then
refined twice against the times of the planned paths (routed transits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
import itertools
import logging
import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from uav_flood.core.coverage.area import Area, polygons_of
from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.coverage.footprint import (
    Camera,
    check_altitude,
    check_overlap,
    reach_m,
    swath_geometry,
    swath_m,
)
from uav_flood.core.coverage.partition import imbalance, split_route
from uav_flood.core.coverage.sorties import Sortie, split_sorties, total_time_s
from uav_flood.core.coverage.sweep import build_route, count_turns, Route, Router, XY
from uav_flood.core.mission import Enu, MissionError, PathLimits, validate_path
from uav_flood.core.safety import EnergyModel

LOG = logging.getLogger(__name__)
REFINEMENTS = 2
SORTIE_REFINEMENTS = 8
#: How closely the time estimate finds where a sortie's battery runs out along the route (m).
SORTIE_TOLERANCE_M = 1.0
#: With sorties, a drone whose plan is shorter than the longest by more than this fraction flies
#: one sortie more in the next round; plans balanced within BALANCE_GOAL are preferred.
BALANCE_STEP = 0.05
#: A jump in a drone's estimated time this large for a few metres more route is a sortie more (s).
STEP_S = 30.0
BALANCE_GOAL = 0.1
#: Fleets up to this size try every order of their pieces along a petal route.
PETAL_ORDERS_UP_TO = 4


@dataclass(frozen=True)
class PlanConfig:
    """How to plan: altitudes, camera, overlap, no-fly margin, time and energy model.

    :param base_altitude_m: altitude of the lowest layer (m above the origin; ground is flat).
    :param altitude_step_m: separation between drones' altitude layers (m).
    :param overlap: side overlap of neighbouring legs (fraction, [0, 0.9)).
    :param camera: the nadir camera (footprint).
    :param no_fly_margin_m: distance kept from no-fly zones by sweep legs (m); transits keep
        half of it.
    :param turn_penalty_s: time added per turn of more than 30 deg (s).
    :param energy: battery model (drain, reserve, climb/descent speeds); cruise speed per drone.
    :param check_energy: refuse plans a battery cannot fly (False: plan geometry only).
    :param sliver_fraction: on replanning, uncovered strips narrower than this fraction of the
        swath are ignored.
    :param limits: the path limits flight_control enforces (altitude, distance, waypoints).
    :param sorties: when a drone's part needs more than its battery, split it into sorties that
        each fit one battery, with a swap at home between them (sorties.py), instead of
        refusing the plan; parts are then balanced on the total time, swaps included. Only
        for drones that start on the ground at home.
    :param swap_time_s: time on the ground between two sorties (landing to take-off) for the
        battery swap (s).
    :param frame_spacing_m: how far a drone may fly between two frames its segmentation
        actually processes (m), beyond what the overlap allows for: legs end that much later
        (reach_m). 0 for a computer that keeps up with the camera; cruise speed x its time per
        frame when it falls behind (10 drones' segmentation on 2 shared cores: about 4.5 s).
    """

    base_altitude_m: float = 60.0
    altitude_step_m: float = 5.0
    overlap: float = 0.2
    camera: Camera = field(default_factory=Camera)
    no_fly_margin_m: float = 5.0
    turn_penalty_s: float = 2.0
    energy: EnergyModel = field(default_factory=EnergyModel)
    check_energy: bool = True
    sliver_fraction: float = 0.2
    limits: PathLimits = field(default_factory=PathLimits)
    sorties: bool = False
    swap_time_s: float = 120.0
    frame_spacing_m: float = 0.0

    def __post_init__(self) -> None:
        """Reject options no plan can use."""
        check_altitude(self.base_altitude_m)
        check_overlap(self.overlap)
        for name in (
            'altitude_step_m',
            'no_fly_margin_m',
            'turn_penalty_s',
            'swap_time_s',
            'frame_spacing_m',
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise PlanningError(f'{name} must be >= 0, got {value}')
        if self.no_fly_margin_m <= 0.0:
            raise PlanningError('no_fly_margin_m must be > 0')
        if not 0.0 <= self.sliver_fraction < 1.0:
            raise PlanningError(f'sliver_fraction must be in [0, 1), got {self.sliver_fraction}')

    @property
    def swath_m(self) -> float:
        """Return the leg spacing at the base altitude (m)."""
        return swath_m(self.camera, self.base_altitude_m, self.overlap)

    @property
    def reach_m(self) -> float:
        """Return how far a leg may end inside the area at the base altitude (m).

        How far the camera sees ahead and behind, the overlap kept, less frame_spacing_m.
        """
        seen = reach_m(self.camera, self.base_altitude_m, self.overlap)
        return max(0.0, seen - self.frame_spacing_m)


@dataclass(frozen=True)
class Drone:
    """One drone of the fleet as the planner sees it.

    :param name: its name, e.g. 'uav0' (unique in the fleet).
    :param position: where it is (east, north: map ENU, m).
    :param battery_pct: remaining battery (%, 0..100).
    :param speed_m_s: cruise speed over the area (m/s).
    :param home: where it lands (east, north, m); None: at `position`.
    :param flying_altitude_m: its altitude when it is in the air (m above the origin); None when
        it is on the ground at `position`.
    :param layer: its altitude layer; None: its index in the fleet.
    """

    name: str
    position: tuple[float, float]
    battery_pct: float = 100.0
    speed_m_s: float = 4.4
    home: tuple[float, float] | None = None
    flying_altitude_m: float | None = None
    layer: int | None = None

    def __post_init__(self) -> None:
        """Reject a drone the planner cannot use."""
        if not self.name:
            raise PlanningError('a drone needs a name')
        values = [*self.position, *(self.home or ())]
        if len(self.position) != 2 or not all(math.isfinite(float(v)) for v in values):
            raise PlanningError(f'{self.name}: position must be finite (east, north) metres')
        if not (math.isfinite(self.battery_pct) and 0.0 <= self.battery_pct <= 100.0):
            raise PlanningError(f'{self.name}: battery must be 0..100 %, got {self.battery_pct}')
        if not (math.isfinite(self.speed_m_s) and self.speed_m_s > 0.0):
            raise PlanningError(f'{self.name}: speed must be > 0 m/s, got {self.speed_m_s}')

    @property
    def home_xy(self) -> XY:
        """Return where it lands (map ENU, m)."""
        return self.home if self.home is not None else self.position


@dataclass(frozen=True)
class DronePlan:
    """What one drone flies.

    :param drone: its name.
    :param altitude_m: its altitude layer (m above the origin).
    :param path: its waypoints (map ENU, m); empty when it got no part.
    :param part: the part of the area its sweep covers (map ENU polygon), possibly empty.
    :param length_m: horizontal length of the path (m).
    :param expected_time_s: take-off (or from where it is) to landed at home (s).
    :param energy_pct: battery the flight uses (%), reserve not included.
    :param turns: turns of more than 30 deg along the path.
    :param sorties: the flights the path is split into when one battery is not enough (see
        PlanConfig.sorties); empty: one flight, `path`. With sorties, `path` is the whole
        sweep as one line (for coverage and figures), expected_time_s the first take-off to
        the last landing with the swaps, and energy_pct the largest sortie's.
    """

    drone: str
    altitude_m: float
    path: tuple[Enu, ...]
    part: BaseGeometry
    length_m: float
    expected_time_s: float
    energy_pct: float
    turns: int
    sorties: tuple[Sortie, ...] = ()


@dataclass(frozen=True)
class PlanMetrics:
    """Figures of a plan, computed by the planner.

    :param area_m2: area to cover (m2): the area minus the no-fly zones and their margin (and,
        on replanning, minus what is covered).
    :param coverage: fraction of that area inside the swaths (legs buffered by swath / 2).
    :param total_length_m: sum of the drones' path lengths (m).
    :param lower_bound_m: area / swath (m): no path can be shorter.
    :param length_ratio: total_length_m / lower_bound_m.
    :param imbalance: (max - min) / max of the completion times of drones that got a part and
        are not held back by their battery.
    :param makespan_s: the longest expected completion time (s).
    """

    area_m2: float
    coverage: float
    total_length_m: float
    lower_bound_m: float
    length_ratio: float
    imbalance: float
    makespan_s: float


@dataclass(frozen=True)
class CoveragePlan:
    """A plan: per drone paths, the region they cover and the metrics.

    :param area: the area of interest and no-fly zones it was planned for.
    :param region: what the plan covers (map ENU): the area minus the zones and margin (minus
        what was covered, on replanning).
    :param drones: one DronePlan per drone, in fleet order.
    :param swath_m: leg spacing (m).
    :param sweep_angles_deg: sweep direction of each connected part (deg from east).
    :param metrics: coverage, lengths, times.
    :param config: the options used.
    """

    area: Area
    region: BaseGeometry
    drones: tuple[DronePlan, ...]
    swath_m: float
    sweep_angles_deg: tuple[float, ...]
    metrics: PlanMetrics
    config: PlanConfig

    def swaths(self) -> BaseGeometry:
        """Return what every path shows the camera (map ENU; footprint.swath_geometry)."""
        return _swaths([d.path for d in self.drones], self.swath_m, self.config.reach_m)

    def drone(self, name: str) -> DronePlan:
        """Return the plan of drone `name`."""
        for plan in self.drones:
            if plan.drone == name:
                return plan
        raise KeyError(name)


def free_region(area: Area, margin_m: float) -> BaseGeometry:
    """Return the area minus the no-fly zones grown by `margin_m` (map ENU).

    :raises PlanningError: the zones cover the whole area.
    """
    region = area.region
    if area.no_fly is not None:
        region = region.difference(area.no_fly.buffer(margin_m))
    parts = [p for p in polygons_of(region) if p.area > 1.0]
    if not parts:
        raise PlanningError('the no-fly zones cover the whole area: nothing left to map')
    return shapely.union_all(parts)


def plan_coverage(
    area: Area, drones: Sequence[Drone], config: PlanConfig | None = None
) -> CoveragePlan:
    """Plan the coverage of `area` by `drones`.

    :param area: the area of interest and its no-fly zones (map ENU).
    :param drones: the fleet (at least one drone).
    :param config: planning options (defaults: PlanConfig()).
    :raises PlanningError: no drones, bad options, an altitude layer above the limits, a path
        that flight_control would refuse, or a battery that cannot fly its part.
    """
    config = config or PlanConfig()
    region = free_region(area, config.no_fly_margin_m)
    return _plan(area, region, drones, config)


def replan_coverage(
    previous: CoveragePlan | Area,
    covered: BaseGeometry,
    drones: Sequence[Drone],
    config: PlanConfig | None = None,
) -> CoveragePlan:
    """Plan the uncovered remainder only, for the drones still healthy.

    Uncovered strips narrower than config.sliver_fraction x swath are ignored (an opening of
    the remainder by that width), so that the ragged edge of what was flown is not re-flown.

    :param previous: the plan being replaced (its area and options are reused), or an area.
    :param covered: what has been covered so far (map ENU polygon), e.g. flown legs buffered by
        swath / 2.
    :param drones: the healthy drones, with where they are and their battery now.
    :param config: options (default: the previous plan's, else PlanConfig()).
    """
    if isinstance(previous, CoveragePlan):
        area, config = previous.area, config or previous.config
    else:
        area, config = previous, config or PlanConfig()
    region = free_region(area, config.no_fly_margin_m)
    if covered is not None and not covered.is_empty:
        region = region.difference(covered)
    width = config.sliver_fraction * config.swath_m
    if width > 0.0:
        region = region.buffer(-0.5 * width).buffer(0.5 * width).intersection(region)
    parts = [p for p in polygons_of(region) if p.area > 1.0]
    if not parts:
        return _empty_plan(area, drones, config)
    return _plan(area, shapely.union_all(parts), drones, config, leftover=True)


def _check_fleet(drones: Sequence[Drone], config: PlanConfig) -> list[float]:
    if not drones:
        raise PlanningError('no drones to plan for: the fleet is empty')
    names = [d.name for d in drones]
    if len(set(names)) != len(names):
        raise PlanningError(f'drone names must be unique, got {names}')
    altitudes = [_altitude(d, i, config) for i, d in enumerate(drones)]
    for drone, altitude in zip(drones, altitudes, strict=True):
        if altitude > config.limits.max_altitude_m:
            raise PlanningError(
                f'{drone.name}: altitude layer {altitude:.0f} m is above the '
                f'{config.limits.max_altitude_m:g} m limit: lower base_altitude_m or '
                'altitude_step_m, or use fewer drones',
                drone.name,
            )
    return altitudes


def _altitude(drone: Drone, index: int, config: PlanConfig) -> float:
    layer = drone.layer if drone.layer is not None else index
    return config.base_altitude_m + layer * config.altitude_step_m


class _Timing:
    """Completion times of drones for pieces of the route (estimates and planned paths)."""

    def __init__(
        self,
        route: Route,
        drones: Sequence[Drone],
        altitudes: Sequence[float],
        config: PlanConfig,
    ) -> None:
        self.route = route
        self.drones = drones
        self.altitudes = altitudes
        self.config = config
        self.models = [replace(config.energy, cruise_speed_m_s=d.speed_m_s) for d in drones]
        self.offset_s = [0.0] * len(drones)
        # The fewest sorties each drone's estimate and plan use (see _with_sorties): raised by
        # _plan's rounds for a drone the split left short because one sortie more is a step.
        self.min_sorties = [1] * len(drones)
        self._chains: dict[tuple[int, float, bool], list[tuple[float, float]]] = {}
        # Per drone, what estimate() needs that does not depend on the piece: where it starts
        # and lands (m), the climb (or level change) to its layer and RTL's vertical part (s).
        self._starts = [self.start(i) for i in range(len(drones))]
        self._homes = [self.home(i) for i in range(len(drones))]
        self._climb_s = [
            model.leg_time_s(start, Enu(start.east_m, start.north_m, alt))
            for model, start, alt in zip(self.models, self._starts, altitudes, strict=True)
        ]
        self._return_s = [
            model.return_time_s(Enu(home.east_m, home.north_m, alt), home)
            for model, home, alt in zip(self.models, self._homes, altitudes, strict=True)
        ]

    def start(self, i: int) -> Enu:
        drone = self.drones[i]
        up = drone.flying_altitude_m if drone.flying_altitude_m is not None else 0.0
        return Enu(drone.position[0], drone.position[1], up)

    def home(self, i: int) -> Enu:
        x, y = self.drones[i].home_xy
        return Enu(x, y, 0.0)

    def _ends(self, i: int, a: float, b: float) -> tuple[XY, XY]:
        """Return the first and last point drone i flies of piece a..b (shorter transits)."""
        start, home = self._starts[i], self._homes[i]
        pa, pb = self.route.point_at(a), self.route.point_at(b)
        sx, sy, hx, hy = start.east_m, start.north_m, home.east_m, home.north_m
        forward = math.hypot(pa[0] - sx, pa[1] - sy) + math.hypot(hx - pb[0], hy - pb[1])
        backward = math.hypot(pb[0] - sx, pb[1] - sy) + math.hypot(hx - pa[0], hy - pa[1])
        return (pb, pa) if backward < forward else (pa, pb)

    def reversed_piece(self, i: int, a: float, b: float) -> bool:
        """Return True when drone i should fly its piece from b to a (shorter transits)."""
        first, _ = self._ends(i, a, b)
        return first != self.route.point_at(a)

    def estimate(self, i: int, a: float, b: float) -> float:
        """Return drone i's estimated completion time for piece a..b (s), straight transits.

        The same sum as measure() on a path without routed transits: climb to the layer,
        straight transits to and from the piece, the piece, RTL, and the turn penalties.
        """
        a, b = self.route.trim(a, b)
        if b - a <= 1e-6:
            return 0.0
        first, last = self._ends(i, a, b)
        start, home = self._starts[i], self._homes[i]
        model = self.models[i]
        out_m = math.hypot(first[0] - start.east_m, first[1] - start.north_m)
        back_m = math.hypot(home.east_m - last[0], home.north_m - last[1])
        time_s = self._climb_s[i] + self._return_s[i]
        time_s += model.transit_horizontal_s(out_m) + model.transit_horizontal_s(back_m)
        time_s += (b - a) / model.cruise_speed_m_s
        time_s += self.config.turn_penalty_s * (self.route.turns_between(a, b) + 2)
        if self.sorties_allowed(i):
            time_s = self._with_sorties(i, a, b, time_s)
        return time_s + self.offset_s[i]

    def _with_sorties(self, i: int, a: float, b: float, single_s: float) -> float:
        """Return the estimated total of drone i's sorties for piece a..b (s), swaps included.

        The route's own split_sorties: from the end of the piece it flies first, each sortie
        climbs, transits straight to where the last one stopped, sweeps on along the route as
        far as one battery allows with the reserve, transits home and lands; the battery is
        swapped between sorties. That time steps up where the piece needs one sortie more (the
        climb, the transits, the landing and the swap of that sortie): a drone the split leaves
        in such a step gets a higher `min_sorties`, and then flies that many sorties of equal
        length, a time that is continuous in the piece.
        """
        capacity = self.battery_s(i)
        fewest = self.min_sorties[i]
        if single_s <= capacity and fewest <= 1:
            return single_s
        s0, end = (b, a) if self.reversed_piece(i, a, b) else (a, b)
        swap_s = self.config.swap_time_s
        if fewest > 1:
            cuts = [s0 + (end - s0) * k / fewest for k in range(fewest + 1)]
            times = [self._sortie_s(i, p, q) for p, q in zip(cuts, cuts[1:], strict=False)]
            if max(times) <= capacity:
                return sum(times) + swap_s * (fewest - 1)
        # The full sorties before `end`, then the last one to it.
        chain = self._chain(i, s0, end > s0)
        forward = end > s0
        total_s, start = 0.0, s0
        for cut, time_s in chain:
            if (cut >= end) if forward else (cut <= end):
                break
            total_s += time_s + swap_s
            start = cut
        return total_s + self._sortie_s(i, start, end)

    def at_step(self, i: int, a: float, b: float) -> bool:
        """Return True when piece a..b of drone i ends where one sortie more is needed.

        That is, where growing the piece by a few metres at either end (what the route split
        could give it) makes drone i's estimated time jump by a sortie's overhead.
        """
        if not self.sorties_allowed(i):
            return False
        nudge, length = 2.0 * SORTIE_TOLERANCE_M, self.route.length_m
        now = self.estimate(i, a, b)
        grown = max(
            self.estimate(i, max(a - nudge, 0.0), b), self.estimate(i, a, min(b + nudge, length))
        )
        # Within one battery, a jump is a connection joining the piece, not a sortie.
        return grown - now > STEP_S and grown - self.offset_s[i] > self.battery_s(i)

    def _sortie_s(self, i: int, s0: float, s1: float) -> float:
        """Return the time of drone i's sortie sweeping the route from s0 to s1 (s)."""
        route, home, model = self.route, self._homes[i], self.models[i]
        lo, hi = (s0, s1) if s0 <= s1 else (s1, s0)
        time_s = self._climb_s[i] + self._return_s[i]
        time_s += self.config.turn_penalty_s * (route.turns_between(lo, hi) + 2)
        time_s += (hi - lo) / model.cruise_speed_m_s
        for s in (s0, s1):
            x, y = route.point_at(s)
            time_s += model.transit_horizontal_s(math.hypot(x - home.east_m, y - home.north_m))
        return time_s

    def _chain(self, i: int, s0: float, forward: bool) -> list[tuple[float, float]]:
        """Return drone i's full sorties sweeping the route from s0 on: (where each ends, s).

        Each sortie flies as far along the route as one battery allows with the reserve (to the
        route's end at most); a sortie that cannot even reach its first point (beyond reach)
        ends the chain. Cached: the route split asks for the same start many times.
        """
        key = (i, s0, forward)
        chain = self._chains.get(key)
        if chain is not None:
            return chain
        capacity = self.battery_s(i)
        chain = []
        limit = self.route.length_m if forward else 0.0
        start = s0
        while start != limit and self._sortie_s(i, start, start) <= capacity:
            if self._sortie_s(i, start, limit) <= capacity:
                break
            # The farthest point this sortie reaches (the time is nearly linear in it; turn
            # penalties add small steps).
            ok, bad = start, limit
            while abs(bad - ok) > SORTIE_TOLERANCE_M:
                mid = 0.5 * (ok + bad)
                if self._sortie_s(i, start, mid) <= capacity:
                    ok = mid
                else:
                    bad = mid
            if ok == start:
                break
            chain.append((ok, self._sortie_s(i, start, ok)))
            start = ok
        self._chains[key] = chain
        return chain

    def measure(self, i: int, path: Sequence[Enu]) -> tuple[float, int]:
        """Return drone i's completion time for a planned path (s) and its turn count."""
        if not path:
            return 0.0, 0
        model = self.models[i]
        start = self.start(i)
        time_s = model.leg_time_s(start, Enu(start.east_m, start.north_m, path[0].up_m))
        time_s += model.transit_time_s(Enu(start.east_m, start.north_m, path[0].up_m), path[0])
        time_s += sum(model.leg_time_s(p, q) for p, q in zip(path, path[1:], strict=False))
        time_s += model.planned_return_time_s(path[-1], self.home(i))
        points = [start[:2], *(p[:2] for p in path), self.home(i)[:2]]
        turns = count_turns(points)
        return time_s + self.config.turn_penalty_s * turns, turns

    def battery_s(self, i: int) -> float:
        """Return the longest flight drone i's battery allows, reserve kept (s)."""
        usable = self.drones[i].battery_pct - self.config.energy.reserve_pct
        return max(0.0, usable / self.config.energy.drain_pct_per_s)

    def sorties_allowed(self, i: int) -> bool:
        """Return whether drone i's part may be split into sorties (see PlanConfig.sorties)."""
        drone = self.drones[i]
        on_ground_at_home = (
            drone.flying_altitude_m is None and math.dist(drone.position, drone.home_xy) < 1e-6
        )
        return self.config.sorties and self.config.check_energy and on_ground_at_home

    def cap_s(self, i: int) -> float:
        """Return the longest time drone i may be given: one battery, or no limit with sorties."""
        if not self.config.check_energy or self.sorties_allowed(i):
            return math.inf
        return self.battery_s(i)


def _plan(
    area: Area,
    region: BaseGeometry,
    drones: Sequence[Drone],
    config: PlanConfig,
    leftover: bool = False,
) -> CoveragePlan:
    """Plan `region` (the free part of `area`, map ENU) for `drones`.

    :param leftover: `region` is what a replan left; when the sweep finds nothing to fly in
        it, the plan is empty instead of a PlanningError.
    """
    altitudes = _check_fleet(drones, config)
    swath = config.swath_m
    router = Router(area.no_fly, config.no_fly_margin_m)
    for drone in drones:
        for what, point in (('position', drone.position), ('home', drone.home_xy)):
            if router.inside(point):
                raise PlanningError(
                    f'{drone.name}: its {what} is inside a no-fly zone', drone.name
                )
    blocked = area.no_fly.buffer(config.no_fly_margin_m) if area.no_fly is not None else None
    centre = tuple(np.mean([d.position for d in drones], axis=0).tolist())
    turn_m = config.turn_penalty_s * float(np.mean([d.speed_m_s for d in drones]))
    # Petals (see sweep.petal_cells) when the fleet starts inside the area: pieces that begin
    # and end near the launch point. Both routes are planned and the better plan is kept.
    start = (centre[0], centre[1])
    petals = [False, True] if region.convex_hull.contains(Point(start)) else [False]
    caps: list[float] = []
    plans: list[DronePlan] | None = None
    for petal in petals:
        route = build_route(region, swath, router, blocked, start, turn_m, config.reach_m, petal)
        if len(route.points) == 0:
            if leftover:
                return _empty_plan(area, drones, config)
            raise PlanningError('the area is too small to sweep')
        line = LineString(route.points) if len(route.points) > 1 else None
        order = sorted(
            range(len(drones)),
            key=lambda i: line.project(Point(drones[i].position)) if line is not None else 0.0,
        )
        orders = [order]
        if petal and len(drones) <= PETAL_ORDERS_UP_TO:
            # A petal route passes the launch point several times: where each drone's piece
            # lies along it is not given by where the drones stand. Small fleets try every order.
            orders = [list(o) for o in itertools.permutations(order)]
        for order in orders:
            timing = _Timing(route, drones, altitudes, config)  # fresh offsets per order
            caps = [timing.cap_s(i) for i in range(len(drones))]  # the drones', not the route's
            candidate = _split_and_build(route, router, timing, region, config, caps, order)
            if plans is None or _rank(candidate, caps) < _rank(plans, caps):
                plans = candidate
    assert plans is not None
    _check_energy(plans, drones, config)
    paths = [p.path for p in plans]
    covered = _swaths(paths, swath, config.reach_m).intersection(region)
    total = sum(p.length_m for p in plans)
    bound = region.area / swath
    working = _working(plans, caps)
    metrics = PlanMetrics(
        area_m2=float(region.area),
        coverage=float(covered.area / region.area),
        total_length_m=total,
        lower_bound_m=bound,
        length_ratio=total / bound,
        imbalance=imbalance(working),
        makespan_s=max(p.expected_time_s for p in plans),
    )
    LOG.info(
        'planned %.0f m2 for %d drones: coverage %.2f%%, length %.0f m (%.2f x bound), '
        'imbalance %.1f%%',
        metrics.area_m2,
        len(drones),
        100.0 * metrics.coverage,
        total,
        metrics.length_ratio,
        100.0 * metrics.imbalance,
    )
    return CoveragePlan(area, region, tuple(plans), swath, route.angles_deg, metrics, config)


def _split_and_build(
    route: Route,
    router: Router,
    timing: _Timing,
    region: BaseGeometry,
    config: PlanConfig,
    caps: list[float],
    order: list[int],
) -> list[DronePlan]:
    """Split `route` among the drones, in `order` along it, so their times balance."""
    swath = config.swath_m
    plans: list[DronePlan] = []
    if len(route.points) == 1:
        plans = _plan_point(route, router, timing, region, swath, config, caps)
    else:
        # With sorties the time steps where a piece needs one sortie more: a drone the split
        # leaves more than BALANCE_STEP short of the longest flies one sortie more in the next
        # round (see _Timing._with_sorties). The offsets can move a cut across a step too: the
        # best plan of the rounds is kept (balanced first, then the shortest makespan).
        rounds = SORTIE_REFINEMENTS if config.sorties else REFINEMENTS
        best: list[DronePlan] | None = None
        for attempt in range(rounds + 1):
            pieces = split_route(route.length_m, order, timing.estimate, caps)
            plans = _build(pieces, route, router, timing, region, swath, config)
            if best is None or _rank(plans, caps) < _rank(best, caps):
                best = plans
            if attempt < rounds:
                for i, a, b in pieces:
                    estimate = timing.estimate(i, a, b) - timing.offset_s[i]
                    error = plans[i].expected_time_s - estimate if b > a else 0.0
                    # Half the previous offset kept: an offset that moves a piece to where
                    # the error differs (routed transits) would otherwise swing back and forth.
                    timing.offset_s[i] = (
                        error if attempt == 0 else 0.5 * (timing.offset_s[i] + error)
                    )
                if config.sorties:
                    longest = _makespan(plans)
                    for i, a, b in pieces:
                        short = longest - plans[i].expected_time_s
                        if b > a and short > BALANCE_STEP * longest and timing.at_step(i, a, b):
                            timing.min_sorties[i] = max(len(plans[i].sorties), 1) + 1
        plans = best if config.sorties and best is not None else plans
    return plans


def _build(
    pieces: list[tuple[int, float, float]],
    route: Route,
    router: Router,
    timing: _Timing,
    region: BaseGeometry,
    swath: float,
    config: PlanConfig,
) -> list[DronePlan]:
    plans: dict[int, DronePlan] = {}
    for i, a, b in pieces:
        a, b = route.trim(a, b)
        if b - a <= 1e-6:
            plans[i] = _no_part(timing, i)
            continue
        piece = route.piece(a, b)
        if timing.reversed_piece(i, a, b):
            piece = piece[::-1]
        plans[i] = _drone_plan(i, piece, router, timing, region, swath, config)
    return [plans[i] for i in range(len(timing.drones))]


def _plan_point(
    route: Route,
    router: Router,
    timing: _Timing,
    region: BaseGeometry,
    swath: float,
    config: PlanConfig,
    caps: Sequence[float],
) -> list[DronePlan]:
    """Plan a route of one point: a region within swath / 2 of its centre, one photo wide.

    The drone that is back soonest flies to the point and home (among those whose battery
    allows it, if any does); the others get nothing.
    """
    point = (float(route.points[0][0]), float(route.points[0][1]))
    candidates = [
        _drone_plan(i, [point], router, timing, region, swath, config)
        for i in range(len(timing.drones))
    ]
    fits = [i for i, p in enumerate(candidates) if p.expected_time_s <= caps[i]]
    chosen = min(fits or range(len(candidates)), key=lambda i: candidates[i].expected_time_s)
    return [candidates[i] if i == chosen else _no_part(timing, i) for i in range(len(candidates))]


def _no_part(timing: _Timing, i: int) -> DronePlan:
    """Return the plan of drone i when it gets no part: no path, nothing covered."""
    drone = timing.drones[i]
    return DronePlan(drone.name, timing.altitudes[i], (), Point().buffer(0), 0.0, 0.0, 0.0, 0)


def _drone_plan(
    i: int,
    piece: Sequence[XY],
    router: Router,
    timing: _Timing,
    region: BaseGeometry,
    swath: float,
    config: PlanConfig,
) -> DronePlan:
    """Return drone i's plan for sweeping `piece` (one point or more, map ENU) of the route."""
    drone, altitude = timing.drones[i], timing.altitudes[i]
    points = [
        *router.route(drone.position, piece[0]),
        *piece,
        *router.route(piece[-1], drone.home_xy),
    ]
    try:
        path = validate_path([(x, y, altitude) for x, y in points], config.limits)
    except MissionError as exc:
        raise PlanningError(
            f'{drone.name}: its path would be refused by flight_control: {exc.reason} '
            '(fly higher, add drones or split the area)',
            drone.name,
        ) from None
    time_s, turns = timing.measure(i, path)
    part = swath_geometry([piece], swath, config.reach_m).intersection(region)
    energy_pct = config.energy.energy_pct(time_s)
    sorties: tuple[Sortie, ...] = ()
    if timing.sorties_allowed(i) and (time_s > timing.battery_s(i) or timing.min_sorties[i] > 1):
        sorties = _sorties(i, piece, router, timing, config)
        time_s = total_time_s(sorties, config.swap_time_s)
        energy_pct = max(s.energy_pct for s in sorties)
    return DronePlan(
        drone=drone.name,
        altitude_m=altitude,
        path=path,
        part=part,
        length_m=_length([p[:2] for p in path]),
        expected_time_s=time_s,
        energy_pct=energy_pct,
        turns=turns,
        sorties=sorties,
    )


def _sorties(
    i: int, piece: Sequence[XY], router: Router, timing: _Timing, config: PlanConfig
) -> tuple[Sortie, ...]:
    """Split drone i's sweep of `piece` into sorties from its home (each path validated)."""
    drone, altitude = timing.drones[i], timing.altitudes[i]
    home = timing.home(i)
    sweep = [Enu(x, y, altitude) for x, y in piece]
    try:
        sorties = split_sorties(
            sweep,
            home,
            timing.models[i],
            timing.battery_s(i),
            config.turn_penalty_s,
            lambda a, b: [a, *router.route(a, b), b],
            count=timing.min_sorties[i],
        )
    except PlanningError as exc:
        raise PlanningError(f'{drone.name}: {exc}', drone.name) from None
    for k, sortie in enumerate(sorties, 1):
        try:
            validate_path(sortie.path, config.limits)
        except MissionError as exc:
            raise PlanningError(
                f'{drone.name}: sortie {k} would be refused by flight_control: {exc.reason}',
                drone.name,
            ) from None
    return tuple(sorties)


def _working(plans: Sequence[DronePlan], caps: Sequence[float]) -> list[float]:
    """Return the times of the drones that have a part and are not held by their battery."""
    return [
        p.expected_time_s
        for p, cap in zip(plans, caps, strict=True)
        if p.path and p.expected_time_s < cap * 0.999
    ]


def _rank(plans: Sequence[DronePlan], caps: Sequence[float]) -> tuple[bool, float]:
    """Return how good a plan is, lowest best: balanced within BALANCE_GOAL, then makespan."""
    return imbalance(_working(plans, caps)) > BALANCE_GOAL, _makespan(plans)


def _makespan(plans: Sequence[DronePlan]) -> float:
    return max((p.expected_time_s for p in plans), default=0.0)


def _check_energy(plans: list[DronePlan], drones: Sequence[Drone], config: PlanConfig) -> None:
    if not config.check_energy:
        return
    reserve = config.energy.reserve_pct
    # Name the drone that is shortest of battery: when the fleet cannot fly the area, the
    # others are filled up to their limit and the last one takes the rest.
    shortfalls = [
        (p.energy_pct + reserve - d.battery_pct, p, d)
        for p, d in zip(plans, drones, strict=True)
        if p.path and not p.sorties  # each sortie fits its battery by construction
    ]
    for short, plan, drone in sorted(shortfalls, key=lambda t: -t[0])[:1]:
        if short <= 1e-6:
            continue
        # When the whole fleet lacks the flight time, the drone filled last shows the rest of
        # the area as its own (issue 19 quotes "needs 18,145 s" for 5 km2 and 10 drones):
        # say what the fleet needs instead.
        energy = config.energy
        full_s = (100.0 - reserve) / energy.drain_pct_per_s
        needed_s = sum(p.expected_time_s for p in plans if p.path)
        has_s = sum(max(0.0, d.battery_pct - reserve) / energy.drain_pct_per_s for d in drones)
        if needed_s > has_s:
            raise PlanningError(
                f'the fleet cannot fly this area on one battery each: it needs about '
                f'{needed_s:.0f} s of flight in all, {needed_s / full_s:.1f} full batteries of '
                f'{full_s:.0f} s with the {reserve:.0f}% reserve, and its {len(drones)} '
                f'drone(s) have {has_s:.0f} s: fly it in sorties, add drones or batteries, or '
                'map a smaller area',
                drone.name,
            )
        if short > 1e-6:
            raise PlanningError(
                f'{drone.name} cannot fly its part: it needs {plan.energy_pct:.1f}% of battery '
                f'for {plan.expected_time_s:.0f} s + {reserve:.0f}% reserve, it has '
                f'{drone.battery_pct:.0f}% (short by {short:.1f}%): add drones or batteries, '
                'or map a smaller area',
                drone.name,
            )


def _empty_plan(area: Area, drones: Sequence[Drone], config: PlanConfig) -> CoveragePlan:
    altitudes = _check_fleet(drones, config)
    plans = tuple(
        DronePlan(d.name, alt, (), Point().buffer(0), 0.0, 0.0, 0.0, 0)
        for d, alt in zip(drones, altitudes, strict=True)
    )
    metrics = PlanMetrics(0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    return CoveragePlan(area, Point().buffer(0), plans, config.swath_m, (), metrics, config)


def _swaths(paths: Sequence[Sequence[Enu]], swath: float, reach: float) -> BaseGeometry:
    return swath_geometry([path for path in paths if path], swath, reach)


def _length(points: Sequence[Sequence[float]]) -> float:
    return sum(math.dist(p, q) for p, q in zip(points, points[1:], strict=False))
