"""Acceptance: MAVSDK (the native library, an independent MAVLink client) flies the simulator.

MAVSDK connects as it connects to PX4 SITL (udpin://0.0.0.0:PORT), waits for a healthy global
position and home, arms, takes off, uploads a 10-waypoint mission with the mission plugin (which
adds a DO_CHANGE_SPEED per waypoint and a final RETURN_TO_LAUNCH, as in the PX4 recording),
flies it, returns and lands; once with one vehicle and once with three at the same time.
"""

import math
import time

import pytest

from uav_flood.core.geo import LocalFrame

mavsdk = pytest.importorskip('mavsdk')
from mavsdk import ComponentType, Configuration, Mavsdk  # noqa: E402
from mavsdk.plugins.action import Action  # noqa: E402
from mavsdk.plugins.mission import Mission, MissionItem, MissionPlan  # noqa: E402
from mavsdk.plugins.telemetry import FlightMode, LandedState, Telemetry  # noqa: E402


def wait_for(predicate, timeout_s: float, what: str) -> None:
    """Poll `predicate` every 50 ms (wall); fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f'timed out after {timeout_s} s waiting for {what}')
        time.sleep(0.05)


class Pilot:
    """One MAVSDK instance flying one simulated vehicle."""

    def __init__(self, port: int) -> None:
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        self.mavsdk = Mavsdk(config)
        self.mavsdk.add_any_connection(f'udpin://0.0.0.0:{port}')
        self.system = self.mavsdk.first_autopilot(10.0)
        assert self.system is not None, f'no autopilot on udp {port}'
        self.telemetry = Telemetry(self.system)
        self.action = Action(self.system)
        self.mission = Mission(self.system)

    def close(self) -> None:
        self.mavsdk.destroy()

    def ready(self) -> bool:
        health = self.telemetry.health()
        return health.is_global_position_ok and health.is_home_position_ok and health.is_armable

    def plan(self, home, waypoints: int = 10) -> MissionPlan:
        # A lawnmower of 10 waypoints, 12 m apart, at 10 m: a flood survey in miniature.
        frame = LocalFrame(home)
        items = []
        for k in range(waypoints):
            point = frame.enu_to_point(15.0 * (k % 2), 12.0 * (k // 2 + 1))
            items.append(
                MissionItem(
                    latitude_deg=point.lat_deg,
                    longitude_deg=point.lon_deg,
                    relative_altitude_m=10.0,
                    speed_m_s=8.0,
                    is_fly_through=True,
                    acceptance_radius_m=2.0,
                )
            )
        return MissionPlan(items)


@pytest.fixture
def pilots():
    made: list[Pilot] = []

    def connect(port: int) -> Pilot:
        pilot = Pilot(port)
        made.append(pilot)
        return pilot

    yield connect
    for pilot in made:
        pilot.close()


def fly(sim, pilots_for: list[Pilot]) -> None:
    """Fly every pilot's vehicle through take-off, the mission, the return and the landing."""
    for pilot in pilots_for:
        wait_for(pilot.ready, 10.0, 'a healthy global position and home')
    homes = [v.state().home for v in sim.vehicles]
    for pilot, home in zip(pilots_for, homes, strict=True):
        pilot.mission.set_return_to_launch_after_mission(True)
        pilot.mission.upload_mission(pilot.plan(home))
    for pilot in pilots_for:
        pilot.action.set_takeoff_altitude(8.0)
        pilot.action.arm()
        pilot.action.takeoff()
    for pilot in pilots_for:
        wait_for(lambda p=pilot: p.telemetry.position().relative_altitude_m > 7.0, 15.0, 'takeoff')
        assert pilot.telemetry.armed()
        assert pilot.telemetry.in_air()
    for pilot in pilots_for:
        pilot.mission.start_mission()
    for pilot in pilots_for:
        wait_for(pilot.mission.is_mission_finished, 30.0, 'the end of the mission')
        progress = pilot.mission.mission_progress()
        assert (progress.current, progress.total) == (10, 10)
    for pilot in pilots_for:
        wait_for(lambda p=pilot: not p.telemetry.armed(), 30.0, 'the return, landing, disarm')
        assert pilot.telemetry.landed_state() == LandedState.ON_GROUND
        assert not pilot.telemetry.in_air()
        assert pilot.telemetry.flight_mode() == FlightMode.HOLD
    for vehicle in sim.vehicles:
        state = vehicle.state()
        north, east, down = state.position_ned
        assert math.hypot(north, east) < 2.0, 'it landed at home'
        assert down == 0.0
        assert state.mission_state == 5  # COMPLETE
        assert 0.85 < state.battery_remaining < 1.0
        assert state.failsafe is None


def test_mavsdk_flies_a_mission_returns_and_lands(make_sim, pilots):
    sim = make_sim()
    fly(sim, [pilots(sim.vehicles[0].port)])


def test_mavsdk_flies_three_vehicles_at_once(make_sim, pilots):
    sim = make_sim(vehicles=3)
    flown = [pilots(v.port) for v in sim.vehicles]
    assert [p.system.get_system_id() for p in flown] == [1, 2, 3]
    fly(sim, flown)
