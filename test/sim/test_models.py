"""The simulator's models without sockets: physics, battery, projection, plans, parameters."""

import math
import time

import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import distance_m, GeoPoint
from uav_flood.sim import mission as mis
from uav_flood.sim.battery import (
    Battery,
    BatteryConfig,
    WARNING_CRITICAL,
    WARNING_EMERGENCY,
    WARNING_LOW,
)
from uav_flood.sim.frames import MapProjection
from uav_flood.sim.params import decode_bytewise, encode_bytewise, INT32, ParamStore
from uav_flood.sim.physics import Limits, Multirotor, Setpoint

DT = 0.02


def run(body, setpoint, limits, seconds, wind=(0.0, 0.0)):
    """Step `body` and return the largest horizontal speed and acceleration seen."""
    top_speed = top_acc = 0.0
    for _ in range(int(seconds / DT)):
        vn, ve = body.vn, body.ve
        body.step(DT, setpoint, limits, wind)
        top_speed = max(top_speed, body.ground_speed)
        top_acc = max(top_acc, math.hypot(body.vn - vn, body.ve - ve) / DT)
    return top_speed, top_acc


def test_point_mass_respects_px4_speed_and_acceleration_limits():
    body = Multirotor()
    body.on_ground = False
    body.d = -10.0
    limits = Limits(speed_xy=5.0, acc_xy=3.0)
    top_speed, top_acc = run(body, Setpoint(position=(100.0, 0.0, -10.0)), limits, 40.0)
    assert top_speed == pytest.approx(5.0, abs=0.05)  # MPC_XY_CRUISE
    assert top_acc <= 3.0 + 1e-6  # MPC_ACC_HOR
    assert body.n == pytest.approx(100.0, abs=0.05)  # arrives without overshoot
    assert body.pitch == pytest.approx(0.0, abs=1e-3)
    # Climb at most MPC_Z_VEL_MAX_UP, descend at most MPC_Z_VEL_MAX_DN.
    rates = []
    for _ in range(int(10.0 / DT)):
        body.step(DT, Setpoint(position=(100.0, 0.0, -40.0)), Limits(speed_up=3.0), (0.0, 0.0))
        rates.append(-body.vd)
    assert max(rates) == pytest.approx(3.0, abs=0.01)
    rates = []
    for _ in range(int(10.0 / DT)):
        body.step(DT, Setpoint(position=(100.0, 0.0, -10.0)), Limits(speed_down=1.5), (0.0, 0.0))
        rates.append(body.vd)
    assert max(rates) == pytest.approx(1.5, abs=0.01)


def test_wind_tilts_the_vehicle_and_pushes_it_when_the_motors_stop():
    body = Multirotor()
    body.on_ground = False
    body.d = -20.0
    limits = Limits()
    run(body, Setpoint(position=(0.0, 0.0, -20.0)), limits, 10.0, wind=(0.0, 8.0))
    assert math.hypot(body.n, body.e) < 0.01  # the controller holds position
    assert body.roll < -math.radians(5.0)  # leaning west, into an eastward wind
    assert body.thrust_ratio > 1.0  # and it costs thrust
    for _ in range(int(3.0 / DT)):
        body.step(DT, None, limits, (0.0, 8.0))  # motors off: it falls and drifts
    assert body.on_ground and body.d == 0.0
    assert body.e > 1.0


def test_battery_warnings_come_when_the_px4_recording_says():
    # lowbattery recording: SIM_BAT_DRAIN 80 s; "Low battery" 69.6 s after arming,
    # "Critical battery" 76.1 s, emergency ("System does not support shutdown") 77.7 s.
    cfg = BatteryConfig(drain_s=80.0, min_fraction=0.0)
    battery = Battery()
    seen = {}
    t = 0.0
    while t < 90.0:
        battery.step(DT, cfg, armed=True, thrust_ratio=1.0)
        t += DT
        seen.setdefault(battery.warning, t)
    assert seen[WARNING_LOW] == pytest.approx(69.6, abs=1.0)
    assert seen[WARNING_CRITICAL] == pytest.approx(76.1, abs=1.0)
    assert seen[WARNING_EMERGENCY] == pytest.approx(77.7, abs=1.0)
    assert battery.voltage(cfg) == pytest.approx(4 * 3.6, abs=0.01)  # 14.4 V empty, as PX4
    idle = Battery()
    idle.step(100.0, cfg, armed=False, thrust_ratio=0.0)
    assert idle.charge == 1.0  # a disarmed vehicle does not drain
    fast = Battery()
    fast.step(10.0, BatteryConfig(drain_s=80.0, multiplier=2.0), armed=True, thrust_ratio=1.0)
    assert fast.charge == pytest.approx(0.75)


def test_default_battery_lasts_20_to_30_minutes_of_flight():
    cfg = BatteryConfig()  # SIM_BAT_DRAIN 1500 s
    battery = Battery()
    minutes = 0
    while battery.charge > BatteryConfig().emergency:
        battery.step(60.0, cfg, armed=True, thrust_ratio=1.03)  # cruise: a little above hover
        minutes += 1
    assert 20 <= minutes <= 30


def test_map_projection_round_trip_and_scale():
    proj = MapProjection(47.397742, 8.545594)
    lat, lon = proj.reproject(1000.0, -2000.0)
    north, east = proj.project(lat, lon)
    assert (north, east) == pytest.approx((1000.0, -2000.0), abs=1e-6)
    # PX4's sphere against the WGS84 ellipsoid: a fraction of a percent.
    far = GeoPoint(lat, lon)
    assert distance_m(GeoPoint(47.397742, 8.545594), far) == pytest.approx(
        math.hypot(1000.0, 2000.0), rel=5e-3
    )


def _item(seq, command, **kw):
    fields = {
        'seq': seq, 'frame': 6, 'command': command, 'current': 0, 'autocontinue': 1,
        'param1': 0.0, 'param2': 0.0, 'param3': 0.0, 'param4': 0.0,
        'x': 473977420, 'y': 85455940, 'z': 10.0,
    }  # fmt: skip
    fields.update(kw)
    return mis.MissionItem(**fields)


def test_plan_checks_follow_px4():
    ok = [_item(0, 22), _item(1, 16), _item(2, 178, frame=2), _item(3, 20, frame=2)]
    assert mis.check_plan(ok, mis.MISSION)[0] == mis.ACCEPTED
    assert mis.check_plan([_item(0, 31000)], mis.MISSION)[0] == mis.UNSUPPORTED
    assert mis.check_plan([_item(0, 16, frame=1)], mis.MISSION)[0] == mis.UNSUPPORTED_FRAME
    assert mis.check_plan([_item(0, 177, param1=5)], mis.MISSION)[0] == mis.INVALID_PARAM1
    square = [
        _item(i, 5001, param1=4.0, x=x, y=y, mission_type=1)
        for i, (x, y) in enumerate(((0, 0), (0, 1000), (1000, 1000), (1000, 0)))
    ]
    assert mis.check_plan(square, mis.FENCE)[0] == mis.ACCEPTED
    assert mis.check_plan(square[:3], mis.FENCE)[0] == mis.INVALID_PARAM1
    assert mis.check_plan([_item(0, 5003, param1=0.0)], mis.FENCE)[0] == mis.INVALID_PARAM1


def test_fence_inclusion_and_exclusion():
    box = mis.FenceShape(True, polygon=((0, 0), (0, 10), (10, 10), (10, 0)))
    hole = mis.FenceShape(False, center=(5.0, 5.0), radius_m=1.0)
    assert mis.inside_fence([box, hole], 2.0, 2.0)
    assert not mis.inside_fence([box, hole], 5.0, 5.5)  # in the exclusion circle
    assert not mis.inside_fence([box, hole], 12.0, 5.0)  # outside the inclusion polygon
    assert mis.inside_fence([hole], 20.0, 20.0)  # no inclusion shape: only exclusions count


def test_parameters_keep_px4_names_types_and_byte_wise_integers():
    params = ParamStore({'NAV_DLL_ACT': 2, 'UFS_PKT_LOSS': 150.0})
    assert params.get('MPC_XY_CRUISE') == 5.0
    assert params.get('BAT_CRIT_THR') == pytest.approx(0.07)
    assert params.type_of('COM_DL_LOSS_T') == INT32
    assert params.get('NAV_DLL_ACT') == 2
    assert params.get('UFS_PKT_LOSS') == 100.0  # clamped to its range
    assert params.get('SIM_BAT_DRAIN') == 1500.0  # the simulator's 25 minutes, not PX4's 60 s
    for value in (-1, 0, 2, 121212):
        wire = encode_bytewise(value, INT32)
        assert decode_bytewise(wire, INT32) == value
    with pytest.raises(ConfigError, match='no such parameter'):
        ParamStore({'NOT_A_PARAM': 1})
    with pytest.raises(ConfigError, match='finite'):
        params.set('MPC_XY_CRUISE', math.inf)


def test_one_vehicle_costs_well_under_a_tenth_of_a_core(make_sim):
    sim = make_sim(speed=1.0)
    sim.wait_until(lambda: sim.time_s > 0.5, 5.0)
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    sim.wait_until(lambda: time.monotonic() - wall0 > 2.0, 5.0)
    share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    assert share < 0.10
