"""Fixtures for the simulator tests: simulators on free ports and pymavlink ground stations."""

from __future__ import annotations

import pytest
from simtest import GroundStation, SPEED

from uav_flood.sim import SimConfig, Simulator


@pytest.fixture
def make_sim(udp_ports):
    """Return `make(vehicles=1, speed=SPEED, **config) -> Simulator`, started on free ports.

    Every simulator is stopped after the test, and the test fails if its thread hit an error.
    """
    sims: list[Simulator] = []

    def make(
        vehicles: int = 1, speed: float = SPEED, start: bool = True, on_text=None, **kwargs
    ) -> Simulator:
        first = udp_ports(2 * vehicles)
        config = SimConfig(
            vehicles=vehicles,
            base_port=first,
            local_base_port=first + vehicles,
            speed_factor=speed,
            **kwargs,
        )
        sim = Simulator(config, on_text=on_text)
        sims.append(sim)
        return sim.start() if start else sim

    yield make
    for sim in sims:
        sim.stop()
    for sim in sims:
        assert sim.errors == [], f'the simulator thread failed: {sim.errors!r}'


@pytest.fixture
def gcs():
    """Return `connect(sim, instance=0) -> GroundStation` on that vehicle's port."""
    stations: list[GroundStation] = []

    def connect(sim: Simulator, instance: int = 0, **kwargs) -> GroundStation:
        station = GroundStation(sim.vehicles[instance].port, **kwargs)
        stations.append(station)
        station.wait('HEARTBEAT', 5.0)
        return station

    yield connect
    for station in stations:
        station.close()
