"""A battery that drains like PX4's simulated one, plus the load of flight.

PX4's simulator (SIH and its battery simulator) drains the state of charge linearly over
SIM_BAT_DRAIN seconds while armed and never below SIM_BAT_MIN_PCT; the battery estimator then
reports it through a filter, which shows in the recording as a lag of about 1.7 s between the
charge and the reported percentage (warnings fire that much later). Here the drain also grows
with the power the rotors need (thrust^1.5, momentum theory), so fast flight, climbs and wind cost
more than hover, and a multiplier (fault injection) scales it.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

#: Time constant of the reported percentage (s), fitted to the lowbattery recording.
FILTER_TAU_S = 1.7

# PX4 battery_status warning levels.
WARNING_NONE = 0
WARNING_LOW = 1
WARNING_CRITICAL = 2
WARNING_EMERGENCY = 3


@dataclass
class BatteryConfig:
    """What the battery model reads from the parameters each step.

    :param drain_s: seconds of hover to drain a full battery (SIM_BAT_DRAIN).
    :param min_fraction: lowest state of charge the simulation allows (SIM_BAT_MIN_PCT / 100).
    :param multiplier: drain multiplier (UFS_BAT_MULT).
    :param cells: number of cells (BAT1_N_CELLS).
    :param v_full: cell voltage when full (BAT1_V_CHARGED, V).
    :param v_empty: cell voltage when empty (BAT1_V_EMPTY, V).
    :param low: BAT_LOW_THR (fraction).
    :param critical: BAT_CRIT_THR (fraction).
    :param emergency: BAT_EMERGEN_THR (fraction).
    """

    drain_s: float = 1500.0
    min_fraction: float = 0.0
    multiplier: float = 1.0
    cells: int = 4
    v_full: float = 4.05
    v_empty: float = 3.6
    low: float = 0.15
    critical: float = 0.07
    emergency: float = 0.05


class Battery:
    """State of charge, the reported (filtered) percentage and the warning level."""

    def __init__(self) -> None:
        #: True state of charge (0..1).
        self.charge = 1.0
        #: What the estimator reports (0..1), lagging the charge.
        self.remaining = 1.0
        #: Injected failure: the battery reads empty (MAV_CMD_INJECT_FAILURE, SYSTEM_BATTERY).
        self.failed = False
        self.warning = WARNING_NONE

    def step(self, dt: float, cfg: BatteryConfig, armed: bool, thrust_ratio: float) -> None:
        """Drain the battery by one step.

        :param dt: time step (s).
        :param cfg: current battery parameters.
        :param armed: whether the motors run (a disarmed vehicle does not drain).
        :param thrust_ratio: thrust over weight (1 in hover, 0 with motors off).
        """
        if armed:
            load = max(thrust_ratio, 0.3) ** 1.5
            self.charge -= dt * load * cfg.multiplier / max(cfg.drain_s, 1e-3)
        self.charge = min(max(self.charge, cfg.min_fraction, 0.0), 1.0)
        target = 0.0 if self.failed else self.charge
        alpha = 1.0 - math.exp(-dt / FILTER_TAU_S)
        self.remaining += (target - self.remaining) * alpha
        self.warning = self._level(cfg)

    def _level(self, cfg: BatteryConfig) -> int:
        # Warnings only get worse while the battery is in use, as PX4's battery estimator.
        level = WARNING_NONE
        if self.remaining < cfg.emergency:
            level = WARNING_EMERGENCY
        elif self.remaining < cfg.critical:
            level = WARNING_CRITICAL
        elif self.remaining < cfg.low:
            level = WARNING_LOW
        return max(level, self.warning)

    def swap(self) -> None:
        """Put in a full battery: the charge, the reported percentage and the warning reset."""
        self.charge = self.remaining = 1.0
        self.warning = WARNING_NONE

    def reset_warning(self) -> None:
        """Recompute the warning from scratch (after a failure is cleared)."""
        self.warning = WARNING_NONE

    def voltage(self, cfg: BatteryConfig) -> float:
        """Return the pack voltage the reported percentage corresponds to (V)."""
        cell = cfg.v_empty + (cfg.v_full - cfg.v_empty) * min(max(self.remaining, 0.0), 1.0)
        return cell * cfg.cells
