"""PX4's failsafes in the simulator: low battery, data link loss, geofence, GPS loss, offboard."""

import math
import time

import pytest
from simtest import fly_to, item, ModeLog, NAN, subsequence, TextLog, upload

from uav_flood.core.geo import LocalFrame

ACCEPTED, TEMPORARILY_REJECTED, DENIED = 0, 1, 2
HOLD, RTL, LAND = 'AUTO.LOITER', 'AUTO.RTL', 'AUTO.LAND'


def reposition(station, vehicle, north_m: float, east_m: float, height_m: float) -> None:
    """Send MAV_CMD_DO_REPOSITION (COMMAND_INT, change-mode flag) to a point about home."""
    home = vehicle.state().home
    target = LocalFrame(home).enu_to_point(east_m, north_m)
    since = station.mark()
    station.conn.mav.command_int_send(
        vehicle.system_id, 1, 0, 192, 0, 0, -1, 1, 0, NAN,
        int(target.lat_deg * 1e7), int(target.lon_deg * 1e7), home.alt_m + height_m,
    )  # fmt: skip
    ack = station.wait('COMMAND_ACK', where=lambda m: m.command == 192, since=since)
    assert ack.result == ACCEPTED


def test_low_battery_warns_holds_then_lands_as_the_px4_recording(make_sim, gcs):
    # The recording's settings, faster: a full battery lasts 40 s (80 s there), may run empty.
    log = TextLog()
    sim = make_sim(params={'SIM_BAT_DRAIN': 40.0, 'SIM_BAT_MIN_PCT': 0.0}, on_text=log)
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    modes = ModeLog(vehicle)
    at_low = []

    def watch():
        modes.poll()
        if 'Low battery' in station.texts and not at_low:
            at_low.append(vehicle.state().battery_remaining)
        return not vehicle.state().armed and 'Disarmed by landing' in station.texts

    fly_to(station, sim, 10.0)
    station.until(watch, 30.0, 'the battery failsafe to land and disarm the vehicle')
    assert subsequence(
        [
            'Low battery',
            'Critical battery',
            'Failsafe activated: entering Hold for 5 seconds',
            'System does not support shutdown',
            'Emergency battery level',
            'Failsafe activated',
            'Landing detected',
            'Disarmed by landing',
            'Low battery',  # PX4 repeats the warning once disarmed
        ],
        station.texts,
    ), station.texts
    # Critical -> Hold for COM_FAIL_ACT_T; emergency came during the hold: Land, never Return.
    assert RTL not in modes.names
    assert subsequence([HOLD, LAND, HOLD], modes.names)
    hold_at = log.time_of('Failsafe activated: entering Hold for 5 seconds')
    assert log.time_of('Failsafe activated', after=hold_at) - hold_at == pytest.approx(
        5.0, abs=0.1
    )
    # With an 80 s battery PX4 said these 69.6, 76.1 and 78.1 s after arming, each about 1.7 s
    # (its estimator's lag) after the charge crossed 15, 7 and 5 %: the same with 40 s here.
    armed_at = log.time_of('Armed by external command')
    for text, px4_s in (
        ('Low battery', 69.6),
        ('Critical battery', 76.1),
        ('Emergency battery level', 78.1),
    ):
        expected = (px4_s - 1.7) * 40.0 / 80.0 + 1.7
        assert log.time_of(text) - armed_at == pytest.approx(expected, abs=1.5), text
    assert at_low[0] == pytest.approx(0.15, abs=0.02)
    assert station.last['BATTERY_STATUS'].charge_state == 4  # EMERGENCY


def test_critical_battery_returns_home_with_the_drain_multiplier(make_sim, gcs):
    # 25 minutes of battery drained 50 times faster; it stops at 6 %: critical, never emergency.
    sim = make_sim(params={'SIM_BAT_MIN_PCT': 6.0})
    vehicle = sim.vehicles[0]
    vehicle.set_battery_drain(50.0)
    station = gcs(sim)
    modes = ModeLog(vehicle)
    fly_to(station, sim, 10.0)
    reposition(station, vehicle, 25.0, 0.0, 10.0)
    station.until(lambda: modes.poll() or not vehicle.state().armed, 40.0, 'return and land')
    assert subsequence([HOLD, RTL, HOLD], modes.names), modes.changes
    assert LAND not in modes.names
    assert 'Emergency battery level' not in station.texts
    assert math.hypot(*vehicle.state().position_ned[:2]) < 2.0
    assert vehicle.state().battery_remaining == pytest.approx(0.06, abs=0.01)


def test_battery_swap_refills_it_swap_seconds_after_the_disarm(make_sim, gcs):
    # Returned at 6 % (critical), landed, disarmed: the crew swaps it 8 simulated s later.
    sim = make_sim(params={'SIM_BAT_MIN_PCT': 6.0, 'UFS_BAT_SWAP': 8.0})
    vehicle = sim.vehicles[0]
    vehicle.set_battery_drain(50.0)
    station = gcs(sim)
    fly_to(station, sim, 10.0)
    reposition(station, vehicle, 25.0, 0.0, 10.0)
    station.until(lambda: not vehicle.state().armed, 40.0, 'return, land and disarm')
    disarmed_at = vehicle.state().time_s
    assert vehicle.state().battery_remaining == pytest.approx(0.06, abs=0.01)
    station.until(lambda: vehicle.state().battery_remaining > 0.99, 10.0, 'the swap')
    assert vehicle.state().time_s - disarmed_at == pytest.approx(8.0, abs=1.0)
    # A fresh battery: no warning left, and it arms and flies again.
    vehicle.set_battery_drain(1.0)
    station.until(lambda: station.last['BATTERY_STATUS'].battery_remaining == 100, 5.0, 'full')
    assert station.last['BATTERY_STATUS'].charge_state == 1  # MAV_BATTERY_CHARGE_STATE_OK
    fly_to(station, sim, 10.0)
    assert vehicle.state().armed


def test_battery_is_never_swapped_by_default(make_sim, gcs):
    sim = make_sim(params={'SIM_BAT_MIN_PCT': 6.0})
    vehicle = sim.vehicles[0]
    vehicle.set_battery_drain(50.0)
    station = gcs(sim)
    fly_to(station, sim, 10.0)
    station.until(lambda: not vehicle.state().armed, 40.0, 'land and disarm')
    disarmed_at = vehicle.state().time_s
    station.until(lambda: vehicle.state().time_s - disarmed_at > 15.0, 10.0, '15 s on the ground')
    assert vehicle.state().battery_remaining == pytest.approx(0.06, abs=0.01)


def test_data_link_loss_returns_home_with_nav_dll_act_2(make_sim, gcs):
    texts = []
    sim = make_sim(
        params={'NAV_DLL_ACT': 2.0, 'COM_DL_LOSS_T': 5.0},
        on_text=lambda vehicle, severity, text: texts.append(text.rstrip('\t')),
    )
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    modes = ModeLog(vehicle)
    fly_to(station, sim, 10.0)
    reposition(station, vehicle, 20.0, 0.0, 10.0)
    station.until(lambda: vehicle.state().position_ned[0] > 19.0, 10.0, 'the reposition')
    vehicle.drop_link(35.0)  # simulated s: longer than the loss detection and the 5 s hold
    station.until(lambda: modes.poll() or RTL in modes.names, 8.0, 'the link-loss failsafe')
    assert not vehicle.state().link_up
    assert vehicle.state().failsafe == 'gcs_link_lost'
    assert subsequence(
        [
            'Connection to ground station lost',
            'Failsafe activated: entering Hold for 5 seconds',
            'Failsafe activated',
            'RTL: start return at 508 m (20 m above destination)',  # the 45 degree cone
        ],
        texts,
    ), texts
    station.until(lambda: 'Data link regained' in station.texts, 8.0, 'the link to come back')
    assert vehicle.state().mode.name in (RTL, HOLD)  # the return goes on (PX4 keeps it)
    station.until(lambda: not vehicle.state().armed, 20.0, 'the landing at home')
    assert math.hypot(*vehicle.state().position_ned[:2]) < 2.0
    modes.poll()
    assert subsequence([HOLD, RTL, HOLD], modes.names)


def test_geofence_polygon_holds_and_max_distance_returns(make_sim, gcs):
    sim = make_sim(vehicles=2)
    fenced, limited = sim.vehicles
    station0, station1 = gcs(sim, 0), gcs(sim, 1)
    frame = LocalFrame(fenced.state().home)
    corners = [frame.enu_to_point(e, n) for e, n in ((-20, -20), (20, -20), (20, 20), (-20, 20))]
    fence = [
        item(i, 5001, c.lat_deg, c.lon_deg, params=(4.0, 0.0, 0.0, 0.0), frame=5, mtype=1)
        for i, c in enumerate(corners)
    ]
    assert upload(station0, fence, mission_type=1)[0] == ACCEPTED
    limited.set_param('GF_MAX_HOR_DIST', 15.0)
    limited.set_param('GF_ACTION', 3)  # Return
    fly_to(station0, sim, 8.0, 0)
    fly_to(station1, sim, 8.0, 1)
    modes = ModeLog(limited)
    reposition(station0, fenced, 40.0, 0.0, 8.0)
    reposition(station1, limited, 0.0, 40.0, 8.0)

    def both():
        modes.poll()
        station1.pump(0.0)
        return fenced.state().failsafe == 'geofence' and RTL in modes.names

    station0.until(both, 15.0, 'both geofence breaches')
    station1.pump(0.1)
    # GF_ACTION 2 (PX4's default): Hold right away, just outside the fence.
    assert 'Geofence violation' in station0.texts and 'Failsafe activated' in station0.texts
    station0.until(lambda: abs(fenced.state().velocity_ned[0]) < 0.2, 10.0, 'the hold')
    assert fenced.state().mode.name == HOLD
    assert 20.0 < fenced.state().position_ned[0] < 25.0
    # GF_ACTION 3 with GF_MAX_HOR_DIST: Hold for COM_FAIL_ACT_T, then Return.
    assert 'Failsafe activated: entering Hold for 5 seconds' in station1.texts
    assert subsequence([HOLD, RTL], modes.names)
    station1.until(lambda: not limited.state().armed, 20.0, 'the return of the limited vehicle')
    assert math.hypot(*limited.state().position_ned[:2]) < 2.0


def test_injected_gps_and_battery_failures(make_sim, gcs):
    sim = make_sim(vehicles=2)
    gps_vehicle, battery_vehicle = sim.vehicles
    station0, station1 = gcs(sim, 0), gcs(sim, 1)
    fly_to(station0, sim, 10.0, 0)
    fly_to(station1, sim, 10.0, 1)
    # MAV_CMD_INJECT_FAILURE: FAILURE_UNIT_SENSOR_GPS / SYSTEM_BATTERY, FAILURE_TYPE_OFF.
    assert station0.command(420, 4, 1, 0) == ACCEPTED
    assert station1.command(420, 100, 1, 0, target=2) == ACCEPTED
    assert not gps_vehicle.state().gps_ok
    # PX4 dead-reckons for EKF2_NOAID_TOUT (5 s), then descends without a position (AUTO.LAND).
    station0.until(lambda: gps_vehicle.state().mode.name == LAND, 5.0, 'the GPS-loss descent')
    assert gps_vehicle.state().failsafe == 'position_lost'
    assert station0.wait('GPS_RAW_INT', since=station0.mark()).fix_type == 1
    count = station0.counts.get('GLOBAL_POSITION_INT', 0)
    station0.pump(0.5)
    assert station0.counts.get('GLOBAL_POSITION_INT', 0) == count  # no global position any more
    # The empty battery: low, critical, emergency in a row; Hold 5 s, then Land.
    station1.until(lambda: battery_vehicle.state().mode.name == LAND, 10.0, 'the battery land')
    station1.pump(0.1)
    assert subsequence(['Emergency battery level', 'Failsafe activated'], station1.texts)
    station0.until(
        lambda: not gps_vehicle.state().armed and not battery_vehicle.state().armed,
        30.0,
        'both landings',
    )
    assert station0.command(400, 1.0) == TEMPORARILY_REJECTED  # still no GPS
    assert station0.command(420, 4, 0, 0) == ACCEPTED  # GPS back
    station0.until(lambda: station0.command(400, 1.0) == ACCEPTED, 5.0, 'arming with GPS')
    battery_vehicle.set_param('SYS_FAILURE_EN', 0)
    assert station1.command(420, 4, 1, 0, target=2) == DENIED  # as PX4 without SYS_FAILURE_EN


def test_offboard_needs_a_setpoint_stream_and_fails_safe_when_it_stops(make_sim, gcs):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    fly_to(station, sim, 5.0)
    assert station.command(176, 1, 6, 0) == TEMPORARILY_REJECTED  # no proof of life yet
    mav = station.conn.mav
    # Position 10 m north at 8 m (LOCAL_NED, velocity/acceleration/yaw rate ignored).
    mask = 8 | 16 | 32 | 64 | 128 | 256 | 2048

    def stream(seconds: float, mask: int = mask, north: float = 10.0, vn: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            mav.set_position_target_local_ned_send(
                0, 1, 1, 1, mask, north, 0, -8, vn, 0, 0, 0, 0, 0, 0, 0
            )
            station.pump(0.05)

    stream(0.3)
    assert station.command(176, 1, 6, 0) == ACCEPTED
    station.until(
        lambda: stream(0.05) or math.dist(vehicle.state().position_ned, (10, 0, -8)) < 0.5,
        10.0,
        'the offboard setpoint',
    )
    assert vehicle.state().mode.name == 'OFFBOARD'
    # A velocity setpoint (position ignored): 3 m/s north for 10 simulated seconds.
    stream(1.0, mask=1 | 2 | 4 | 64 | 128 | 256 | 2048, vn=3.0)
    assert vehicle.state().velocity_ned[0] == pytest.approx(3.0, abs=0.1)
    assert vehicle.state().position_ned[0] > 30.0
    stream(0.1, north=30.0)
    # The stream stops: after COM_OF_LOSS_T PX4 falls back (COM_OBL_RC_ACT 0; no RC: Hold).
    station.until(lambda: vehicle.state().mode.name == HOLD, 3.0, 'the offboard-loss failsafe')
    assert 'Failsafe activated' in station.texts
    station.until(lambda: abs(vehicle.state().velocity_ned[0]) < 0.05, 5.0, 'the hold')
    held = vehicle.state().position_ned
    stream(0.3)  # a returning stream does not switch back: PX4 changed the user's mode
    assert vehicle.state().mode.name == HOLD
    assert math.dist(vehicle.state().position_ned, held) < 0.2
