"""MavsdkAutopilot against the built-in simulator (no ROS), and the energy model's calibration."""

import time

import pytest

from uav_flood.autopilot.interface import FlightMode, LandedState
from uav_flood.autopilot.mavsdk_autopilot import MavsdkAutopilot
from uav_flood.core.geo import distance_m, GeoPoint, LocalFrame
from uav_flood.core.mission import build_mission, Enu, validate_path
from uav_flood.core.safety import EnergyModel, Geofence

ORIGIN = GeoPoint(47.397742, 8.545594, 488.0)
FRAME = LocalFrame(ORIGIN)
SPEED = 20.0


def wait(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.02)


@pytest.fixture
def vehicle_and_autopilot(udp_ports):
    sim_module = pytest.importorskip('uav_flood.sim')
    cfg = sim_module.SimConfig(
        vehicles=1, origin=ORIGIN, base_port=udp_ports(41), speed_factor=SPEED
    )
    with sim_module.Simulator(cfg) as sim:
        autopilot = MavsdkAutopilot(telemetry_rate_hz=10.0)
        try:
            autopilot.connect(f'udpin://127.0.0.1:{sim.vehicles[0].port}')

            def ready():
                t = autopilot.telemetry()
                # EXTENDED_SYS_STATE (the landed state) comes about once a second: wait for it too.
                return None not in (t.home, t.position, t.attitude, t.battery_remaining) and (
                    t.flight_mode is not FlightMode.UNKNOWN
                    and t.landed_state is not LandedState.UNKNOWN
                )

            wait(ready, 20.0, 'home, position, attitude, battery, mode and landed state')
            yield sim.vehicles[0], autopilot
        finally:
            autopilot.close()


@pytest.mark.parametrize('transit_speed', [0.0, 10.0])
def test_mission_flight_telemetry_and_energy_model(vehicle_and_autopilot, transit_speed):
    """Fly a mission through the Autopilot interface; the energy model must not under-estimate.

    This is the calibration of battery_drain_pct_per_s (docs/flight_control.md): the default
    0.07 %/s and the time model must cover what the simulator's battery really used. With a
    transit speed (flight_control's default 10 m/s), the 200 m out to the path and the 200 m back
    over home fly faster, with speed changes around them, and the model follows.
    """
    vehicle, autopilot = vehicle_and_autopilot
    telemetry = autopilot.telemetry()
    assert telemetry.discovered and telemetry.flight_mode is FlightMode.HOLD
    assert telemetry.landed_state is LandedState.ON_GROUND and not telemetry.armed
    assert telemetry.attitude is not None and telemetry.battery_remaining == pytest.approx(1.0)
    assert distance_m(telemetry.position, vehicle.state().home) < 0.5

    path = validate_path([(200, 0, 25), (200, 200, 25), (0, 200, 25)])
    plan = build_mission(path, FRAME, telemetry.home, transit_speed_m_s=transit_speed)
    fence = Geofence([(-20, -20), (220, -20), (220, 220), (-20, 220)], margin_m=5.0)
    autopilot.upload_geofence(fence.autopilot_fence_wgs84(FRAME))
    autopilot.upload_mission(plan)
    assert vehicle.state().mission_count == len(plan.items)
    # Like PX4 (fence-autostart-autopilot.tlog), the simulator checks a new mission against the
    # geofence just loaded before Mission mode is available: MISSION_CURRENT counts its items then.
    wait(lambda: autopilot.telemetry().mission_total == len(plan.items), 5.0, 'mission checked')
    autopilot.arm()
    start = vehicle.state()
    autopilot.start_mission()
    wait(lambda: autopilot.telemetry().flight_mode is FlightMode.MISSION, 5.0, 'mission mode')
    wait(lambda: autopilot.telemetry().in_air, 10.0, 'take-off')
    wait(lambda: not vehicle.state().armed, 60.0, 'landed and disarmed')
    end = vehicle.state()

    reached = autopilot.telemetry().mission_reached
    assert list(reached) == sorted(reached) and reached[-1] == len(plan.items) - 1
    flight_s = end.time_s - start.time_s
    used_pct = (start.battery_remaining - end.battery_remaining) * 100.0
    model = EnergyModel(transit_speed_m_s=transit_speed)
    home = Enu(*FRAME.point_to_enu(telemetry.home))
    model_s = model.mission_time_s(home, path)
    print(f'transit {transit_speed} m/s: flight {flight_s:.1f} s, model {model_s:.1f} s')
    # The time model is within 5 % of the real flight (it ignores braking at corners) ...
    assert model_s == pytest.approx(flight_s, rel=0.05)
    # ... and with the default drain it never asks for less battery than the flight used.
    assert model.energy_pct(model_s) >= used_pct
    assert model.energy_pct(model_s) < used_pct * 1.15
