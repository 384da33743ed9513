"""The simulator's parameter table: PX4's defaults, the simulator's deviations, and UFS_* faults.

Values keep PX4's names and MAV_PARAM_TYPEs. Integers travel byte-wise encoded in the float field
of PARAM_VALUE / PARAM_SET, as PX4 does (AUTOPILOT_VERSION announces
MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import math
import struct

from uav_flood.core.errors import ConfigError
from uav_flood.sim.px4_defaults import PX4_DEFAULTS

#: MAV_PARAM_TYPE values the table uses.
INT32 = 6
REAL32 = 9

#: Where the simulator's defaults differ from PX4 SITL's, and why (docs/sim.md lists them).
SIM_OVERRIDES: dict[str, float] = {
    # PX4 SITL drains a full battery in 60 s and stops at 50 %: a test artefact. A real
    # multirotor of this class flies 20-30 minutes, so the default is 25 minutes to empty.
    'SIM_BAT_DRAIN': 1500.0,
    'SIM_BAT_MIN_PCT': 0.0,
}

#: The simulator's own parameters (fault injection and environment), with their types.
UFS_PARAMS: dict[str, tuple[float, int]] = {
    # Drop the whole link (both directions, every port) for this many simulated seconds.
    'UFS_LINK_DROP': (0.0, REAL32),
    # Random loss of each packet, in and out (%).
    'UFS_PKT_LOSS': (0.0, REAL32),
    # 1 kills the vehicle: it goes silent for good (a crash or a dead autopilot).
    'UFS_KILL': (0, INT32),
    # Multiplier of the battery drain rate (1 = nominal).
    'UFS_BAT_MULT': (1.0, REAL32),
    # Constant wind, north and east components (m/s, the direction the air moves to).
    'UFS_WIND_N': (0.0, REAL32),
    'UFS_WIND_E': (0.0, REAL32),
    # How a mission's RTL item runs: 0 as the PX4 of mission-autopilot.tlog ("Mission finished,
    # loitering", the item reached, the user's mode becomes Return: Hold after the landing);
    # 1 as PX4 main after the v1.16 branch point (fence-mission-autopilot.tlog: the navigator
    # returns on its own, the item is not reached, Mission again after the landing).
    'UFS_MIS_RTL_MAIN': (0, INT32),
    # A battery swap by the ground crew: this many simulated seconds after a disarm the battery
    # is full again (-1: never). PX4 SITL's battery simulator refills it the moment it disarms,
    # which is 0 here.
    'UFS_BAT_SWAP': (-1.0, REAL32),
}

_RANGES: dict[str, tuple[float, float]] = {
    'UFS_LINK_DROP': (0.0, 1e6),
    'UFS_PKT_LOSS': (0.0, 100.0),
    'UFS_KILL': (0, 1),
    'UFS_BAT_MULT': (0.0, 1000.0),
    'UFS_WIND_N': (-50.0, 50.0),
    'UFS_WIND_E': (-50.0, 50.0),
    'UFS_MIS_RTL_MAIN': (0, 1),
    'UFS_BAT_SWAP': (-1.0, 1e6),
    'SIM_BAT_DRAIN': (1.0, 1e6),
    'SIM_BAT_MIN_PCT': (0.0, 100.0),
}


def encode_bytewise(value: float, param_type: int) -> float:
    """Return the PARAM_VALUE float of `value`: INT32 is sent as its four bytes, as PX4 does."""
    if param_type == INT32:
        return float(struct.unpack('<f', struct.pack('<i', int(value)))[0])
    return float(value)


def decode_bytewise(wire_value: float, param_type: int) -> float:
    """Return the value a PARAM_SET float carries for a parameter of `param_type`."""
    if param_type == INT32:
        return float(struct.unpack('<i', struct.pack('<f', wire_value))[0])
    return float(wire_value)


class ParamStore:
    """A PX4-like parameter table (not thread-safe: the vehicle's lock guards it).

    :param overrides: NAME -> value applied over the defaults (e.g. SimConfig.params).
    """

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        table: dict[str, tuple[float, int]] = dict(PX4_DEFAULTS)
        for name, value in SIM_OVERRIDES.items():
            table[name] = (value, table[name][1])
        table.update(UFS_PARAMS)
        self._types = {name: ptype for name, (_, ptype) in table.items()}
        self._values = {name: value for name, (value, _) in table.items()}
        self.names: list[str] = sorted(table)
        self._index = {name: i for i, name in enumerate(self.names)}
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def type_of(self, name: str) -> int:
        """Return the MAV_PARAM_TYPE of `name`."""
        return self._types[self._check(name)]

    def index_of(self, name: str) -> int:
        """Return the param_index of `name` in PARAM_VALUE."""
        return self._index[self._check(name)]

    def get(self, name: str) -> float:
        """Return the value of `name` (an integral float for INT32 parameters)."""
        return self._values[self._check(name)]

    def get_int(self, name: str) -> int:
        """Return the value of `name` rounded to an int."""
        return int(round(self.get(name)))

    def set(self, name: str, value: float) -> float:
        """Set `name` to `value` and return the value stored (clamped to its range).

        :raises ConfigError: unknown name, or a value that is not a finite number.
        """
        name = self._check(name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f'{value!r} is not a number', source=name) from None
        if not math.isfinite(number):
            raise ConfigError(f'{value!r} is not a finite number', source=name)
        if self._types[name] == INT32:
            number = float(int(round(number)))
        low, high = _RANGES.get(name, (-math.inf, math.inf))
        number = min(max(number, low), high)
        self._values[name] = number
        return number

    def _check(self, name: str) -> str:
        if name not in self._types:
            raise ConfigError('no such parameter (see docs/sim.md for the list)', source=name)
        return name
