"""The built-in PX4-compatible multirotor simulator (docs/sim.md).

    from uav_flood.sim import Simulator, SimConfig
    with Simulator(SimConfig(vehicles=3, speed_factor=5.0)) as sim:
        sim.vehicles[0].state()

The names are imported on first use, so that `uav-flood --help` does not load pymavlink.
"""

from __future__ import annotations

import importlib
from typing import Any, TYPE_CHECKING

if TYPE_CHECKING:
    from uav_flood.sim.simulator import PX4_DEFAULT_HOME, SimConfig, Simulator
    from uav_flood.sim.state import VehicleState
    from uav_flood.sim.vehicle import DEFAULT_RATES_HZ, SimVehicle

_WHERE = {
    'DEFAULT_RATES_HZ': 'uav_flood.sim.vehicle',
    'PX4_DEFAULT_HOME': 'uav_flood.sim.simulator',
    'SimConfig': 'uav_flood.sim.simulator',
    'Simulator': 'uav_flood.sim.simulator',
    'SimVehicle': 'uav_flood.sim.vehicle',
    'VehicleState': 'uav_flood.sim.state',
}

__all__ = [
    'DEFAULT_RATES_HZ',
    'PX4_DEFAULT_HOME',
    'SimConfig',
    'Simulator',
    'SimVehicle',
    'VehicleState',
]


def __getattr__(name: str) -> Any:
    """Import the public names lazily (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(module), name)
