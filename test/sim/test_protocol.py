"""The simulator's MAVLink protocol, seen by a pymavlink ground station as PX4 would answer it."""

import math
import time

import pytest
from simtest import download, fly_to, item, NAN, param_set, param_value, upload

from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import LocalFrame
from uav_flood.sim import vehicle as sim_vehicle

ACCEPTED, TEMPORARILY_REJECTED, DENIED, UNSUPPORTED, FAILED = 0, 1, 2, 3, 4
HOLD = 0x03040000
MISSION = 0x04040000


def test_heartbeat_ids_and_px4_mode_encoding(make_sim, gcs):
    sim = make_sim(vehicles=2)
    for instance in (0, 1):
        station = gcs(sim, instance)
        hb = station.wait('HEARTBEAT', where=lambda m: m.get_srcComponent() == 1)
        assert (hb.get_srcSystem(), hb.get_srcComponent()) == (instance + 1, 1)
        assert hb.get_msgbuf()[0] == 0xFD  # MAVLink 2
        assert (hb.type, hb.autopilot, hb.mavlink_version) == (2, 12, 3)  # quadrotor, PX4
        assert (hb.base_mode, hb.custom_mode) == (29, HOLD)  # PX4 boots disarmed in Hold
    station = gcs(sim, 0)
    # While disarmed PX4 accepts any mode, here Mission without a mission (arming fails later).
    since = station.mark()
    assert station.command(176, 1, 4, 4) == ACCEPTED
    station.wait('HEARTBEAT', where=lambda m: m.custom_mode == MISSION, since=since)
    assert station.command(400, 1.0) == TEMPORARILY_REJECTED
    # SET_MODE (the old message) works too, and so does Offboard while disarmed.
    since = station.mark()
    station.conn.mav.set_mode_send(1, 1, HOLD)
    station.wait('HEARTBEAT', where=lambda m: m.custom_mode == HOLD, since=since)
    assert station.command(176, 1, 6, 0) == ACCEPTED
    station.wait('HEARTBEAT', where=lambda m: m.custom_mode == 0x00060000, since=since)
    # Arming in Offboard without a setpoint stream is refused, as PX4's proof of life wants.
    station.until(lambda: sim.time_s > 4.0, 5.0)
    assert station.command(400, 1.0) == TEMPORARILY_REJECTED
    assert station.command(176, 1, 4, 3) == ACCEPTED
    assert station.command(400, 1.0) == ACCEPTED
    armed = station.wait('HEARTBEAT', where=lambda m: m.base_mode & 128)
    assert (armed.base_mode, armed.custom_mode) == (157, HOLD)
    # No RC: the manual modes cannot run while armed, and an unknown AUTO sub mode is refused.
    assert station.command(176, 1, 3, 0) == TEMPORARILY_REJECTED
    assert 'Switching to Position is currently not available' in station.texts
    assert station.command(176, 1, 4, 7) == TEMPORARILY_REJECTED
    assert station.command(400, 0.0) == ACCEPTED  # still on the ground: disarm is fine


def test_autopilot_version_home_and_unknown_messages_on_request(make_sim, gcs):
    sim = make_sim()
    station = gcs(sim)
    since = station.mark()
    station.conn.mav.command_long_send(1, 1, 512, 0, 148, 0, 0, 0, 0, 0, 0)
    version = station.wait('AUTOPILOT_VERSION', since=since)
    ack = station.wait('COMMAND_ACK', where=lambda m: m.command == 512, since=since)
    assert ack.result == ACCEPTED
    assert (ack.target_system, ack.target_component) == (255, 190)
    for bit in (4, 8, 16, 8192, 16384, 32768):  # MISSION_INT, COMMAND_INT, PARAM_BYTEWISE, ...
        assert version.capabilities & bit
    assert not version.capabilities & 32  # no FTP: the simulator does not implement it
    assert version.flight_sw_version == 17825984  # PX4 v1.16, as recorded
    station.until(lambda: sim.vehicles[0].state().home is not None, 5.0, 'home')
    assert station.command(512, 242) == ACCEPTED
    home = station.last['HOME_POSITION']
    assert home.latitude == round(47.397742 * 1e7)
    assert station.command(512, 105) == FAILED  # HIGHRES_IMU is not simulated
    assert station.command(520, 1) == ACCEPTED  # the older capabilities request
    assert station.command(31010) == UNSUPPORTED  # MAV_CMD_USER_1


def test_set_message_interval_changes_a_stream_rate(make_sim, gcs):
    sim = make_sim()  # streams run in wall time, whatever the speed factor
    station = gcs(sim)

    def rate(kind, seconds=0.8):
        station.pump(0.3)  # let the previous rate run out
        before = station.counts.get(kind, 0)
        station.pump(seconds)
        return (station.counts.get(kind, 0) - before) / seconds

    station.until(lambda: sim.vehicles[0].state().home is not None, 5.0, 'a global position')
    assert rate('GLOBAL_POSITION_INT') == pytest.approx(10.0, abs=3.0)
    assert station.command(511, 33, 40000) == ACCEPTED  # 25 Hz
    assert rate('GLOBAL_POSITION_INT') == pytest.approx(25.0, abs=6.0)
    assert station.command(511, 33, -1) == ACCEPTED  # off
    assert rate('GLOBAL_POSITION_INT', 0.4) == 0.0
    assert station.command(511, 33, 0) == ACCEPTED  # default
    assert rate('GLOBAL_POSITION_INT') == pytest.approx(10.0, abs=3.0)
    assert rate('ODOMETRY', 0.4) == 0.0  # off by default
    assert station.command(511, 331, 100000) == ACCEPTED
    assert rate('ODOMETRY') == pytest.approx(10.0, abs=3.0)
    assert station.command(511, 105, 100000) == FAILED  # not a simulated message


def test_parameter_protocol_read_set_list(make_sim, gcs):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    mav = station.conn.mav
    mav.param_request_read_send(1, 1, b'MPC_XY_CRUISE', -1)
    cruise = station.wait('PARAM_VALUE', where=lambda m: m.param_id == 'MPC_XY_CRUISE')
    assert (cruise.param_value, cruise.param_type) == (5.0, 9)
    count = cruise.param_count
    since = station.mark()
    mav.param_request_read_send(1, 1, b'', cruise.param_index)
    again = station.wait(
        'PARAM_VALUE', where=lambda m: m.param_index == cruise.param_index, since=since
    )
    assert again.param_id == 'MPC_XY_CRUISE'
    mav.param_request_read_send(1, 1, b'NAV_DLL_ACT', -1)
    dll = station.wait('PARAM_VALUE', where=lambda m: m.param_id == 'NAV_DLL_ACT')
    assert (param_value(dll), dll.param_type) == (0, 6)  # PX4's default, INT32 byte-wise
    assert param_set(station, 'NAV_DLL_ACT', 2, int32=True) == 2
    assert vehicle.get_param('NAV_DLL_ACT') == 2
    assert param_set(station, 'RTL_RETURN_ALT', 42.5, int32=False) == 42.5
    # A REAL32 write to an INT32 parameter is refused (PX4 checks the type): value unchanged.
    assert param_set(station, 'NAV_DLL_ACT', 3.0, int32=False) == 2
    mav.param_request_list_send(1, 1)
    seen = set()
    deadline = time.monotonic() + 5.0
    while len(seen) < count and time.monotonic() < deadline:
        seen |= {m.param_index for m in station.pump(0.1) if m.get_type() == 'PARAM_VALUE'}
    assert seen == set(range(count))
    assert vehicle.set_param('COM_DL_LOSS_T', 5) == 5
    with pytest.raises(ConfigError, match='NO_SUCH_PARAM'):
        vehicle.set_param('NO_SUCH_PARAM', 1)


def test_arming_needs_gps_and_home(make_sim, gcs):
    sim = make_sim(start=False)
    vehicle = sim.vehicles[0]
    vehicle.set_gps(False)
    sim.start()
    station = gcs(sim)
    station.until(lambda: sim.time_s > 5.0, 3.0)
    assert station.command(400, 1.0) == TEMPORARILY_REJECTED
    assert 'Arming denied: Resolve system health failures first' in station.texts
    assert 'HOME_POSITION' not in station.counts
    assert 'GLOBAL_POSITION_INT' not in station.counts  # no estimate, no global position
    assert station.wait('GPS_RAW_INT').fix_type == 1  # NO_FIX
    health = station.wait('SYS_STATUS').onboard_control_sensors_health
    assert not health & 32  # GPS
    assert not health & (1 << 28)  # PREARM_CHECK
    vehicle.set_gps(True)
    station.wait('HOME_POSITION', 5.0)
    station.until(lambda: station.last['SYS_STATUS'].onboard_control_sensors_health & 1 << 28, 5)
    assert station.command(400, 1.0) == ACCEPTED
    assert 'Armed by external command' in station.texts


def test_arm_and_disarm_while_flying_then_land(make_sim, gcs):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    fly_to(station, sim, 5.0)
    assert station.command(400, 1.0) == ACCEPTED  # already armed: PX4 answers ACCEPTED
    assert station.command(400, 0.0) == TEMPORARILY_REJECTED
    assert 'Disarming denied: not landed' in station.texts
    since = station.mark()
    assert station.command(21, 0, 0, 0, NAN, NAN, NAN, NAN) == ACCEPTED  # land here
    station.wait('EXTENDED_SYS_STATE', 3.0, lambda m: m.landed_state == 4)  # LANDING
    station.until(lambda: not vehicle.state().armed, 20.0, 'the landing and disarm')
    texts = station.texts
    assert texts.index('Landing at current position') < texts.index('Landing detected')
    assert texts.index('Landing detected') < texts.index('Disarmed by landing')
    disarmed = station.wait('HEARTBEAT', 3.0, lambda m: not m.base_mode & 128, since)
    assert disarmed.custom_mode == HOLD  # Land becomes Hold after the disarm
    assert vehicle.state().landed_state == 1


def test_mission_fence_and_rally_round_trip_and_clear(make_sim, gcs):
    sim = make_sim()
    station = gcs(sim)
    frame = LocalFrame(sim.config.origin)
    p = [frame.enu_to_point(e, n) for e, n in ((0, 30), (30, 30), (-30, -30), (30, -30))]
    mission = [
        item(0, 22, alt=10.0),  # takeoff
        item(1, 16, p[0].lat_deg, p[0].lon_deg, 12.0, (0.0, 2.0, 0.0, NAN)),
        item(2, 178, params=(1.0, 8.0, -1.0, 0.0), frame=2),  # change speed
        item(3, 19, p[1].lat_deg, p[1].lon_deg, 15.0, (3.0, 0.0, 0.0, NAN)),  # loiter 3 s
        item(4, 20, frame=2),  # return
    ]
    result, requested = upload(station, mission)
    assert result == ACCEPTED
    assert requested == [0, 1, 2, 3, 4]
    back = download(station)
    assert [(m.seq, m.command, m.frame, m.x, m.y) for m in back] == [
        (i['seq'], i['command'], i['frame'], i['x'], i['y']) for i in mission
    ]
    assert back[3].param1 == 3.0 and back[1].z == 12.0
    current = station.wait('MISSION_CURRENT', 3.0, lambda m: m.total == 5)
    assert (current.seq, current.mission_state) == (0, 2)  # NOT_STARTED
    fence = [
        item(i, 5001, q.lat_deg, q.lon_deg, params=(4.0, 0.0, 0.0, 0.0), frame=5, mtype=1)
        for i, q in enumerate(p)
    ] + [item(4, 5004, p[0].lat_deg, p[0].lon_deg, params=(5.0, 0, 0, 0), frame=5, mtype=1)]
    assert upload(station, fence, mission_type=1)[0] == ACCEPTED
    assert [m.command for m in download(station, 1)] == [5001] * 4 + [5004]
    rally = [item(0, 5100, p[2].lat_deg, p[2].lon_deg, 10.0, frame=6, mtype=2)]
    assert upload(station, rally, mission_type=2)[0] == ACCEPTED
    assert len(download(station, 2)) == 1
    since = station.mark()
    station.conn.mav.mission_clear_all_send(1, 1, 255)
    assert station.wait('MISSION_ACK', since=since).type == ACCEPTED
    assert [len(download(station, t)) for t in (0, 1, 2)] == [0, 0, 0]
    # PX4's checks: unknown commands, and polygons whose vertex count does not add up.
    assert upload(station, [item(0, 31000, p[0].lat_deg, p[0].lon_deg, 10)])[0] == UNSUPPORTED
    assert upload(station, fence[:2], mission_type=1)[0] == 6  # MAV_MISSION_INVALID_PARAM1
    assert len(download(station)) == 0


def test_mission_upload_retries_and_times_out(make_sim, gcs, monkeypatch):
    monkeypatch.setattr(sim_vehicle, 'MISSION_TIMEOUT_S', 1.0)
    sim = make_sim()
    station = gcs(sim)
    mav = station.conn.mav
    items = [item(0, 16, 47.3978, 8.5456, 10.0), item(1, 16, 47.3979, 8.5456, 10.0)]
    since = station.mark()
    mav.mission_count_send(1, 1, 2, 0)
    # Say nothing: PX4 asks again every 250 ms.
    first = station.wait('MISSION_REQUEST_INT', 2.0, since=since)
    again = station.wait('MISSION_REQUEST_INT', 2.0, since=since)
    assert first.seq == again.seq == 0
    assert upload(station, items)[0] == ACCEPTED  # a fresh upload replaces the stale one
    since = station.mark()
    mav.mission_count_send(1, 1, 2, 0)
    station.wait('MISSION_REQUEST_INT', 2.0, since=since)
    station.until(lambda: 'Operation timeout' in station.texts, 4.0, 'the protocol timeout')
    assert len(download(station)) == 2  # the plan before the failed upload is kept


def test_reposition_then_return_to_launch(make_sim, gcs):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    fly_to(station, sim, 10.0)
    target = LocalFrame(vehicle.state().home).enu_to_point(0.0, 40.0)
    alt = vehicle.state().home.alt_m + 15.0
    # MAV_CMD_DO_REPOSITION as COMMAND_INT (MAVSDK's goto_location); the mode-change flag is due.
    since = station.mark()
    station.conn.mav.command_int_send(
        1,
        1,
        0,
        192,
        0,
        0,
        -1,
        1,
        0,
        NAN,
        int(target.lat_deg * 1e7),
        int(target.lon_deg * 1e7),
        alt,
    )
    ack = station.wait('COMMAND_ACK', where=lambda m: m.command == 192, since=since)
    assert ack.result == ACCEPTED
    station.until(lambda: vehicle.state().position_ned[0] > 39.0, 20.0, 'the reposition')
    assert vehicle.state().relative_alt_m == pytest.approx(15.0, abs=0.5)
    assert vehicle.state().mode.name == 'AUTO.LOITER'
    assert station.command(192, -1, 0, 0, NAN, NAN, NAN, NAN) == UNSUPPORTED  # no flag
    since = station.mark()
    assert station.command(20) == ACCEPTED
    # 40 m out, the 45 degree cone allows 40 m: PX4 climbs to RTL_RETURN_ALT (30 m).
    station.until(lambda: 'RTL: land at destination' in station.texts, 20.0, 'the return')
    start = next(t for t in station.texts if t.startswith('RTL: start return'))
    assert start == 'RTL: start return at 518 m (30 m above destination)'
    station.until(lambda: not vehicle.state().armed, 40.0, 'the landing')
    north, east, _ = vehicle.state().position_ned
    assert math.hypot(north, east) < 2.0
    assert station.texts.index('Returning to launch') < station.texts.index('Disarmed by landing')
    disarmed = station.wait('HEARTBEAT', 3.0, lambda m: not m.base_mode & 128, since)
    assert disarmed.custom_mode == HOLD  # Return becomes Hold after the disarm


def test_statustext_chunks_long_texts_as_px4(make_sim, gcs):
    sim = make_sim()
    station = gcs(sim)
    text = 'RTL: start return at 511 m (21 m above destination)'  # 52 characters with the tab
    since = station.mark()
    with sim.paused():
        sim.vehicles[0].autopilot.say(6, text)
    first = station.wait('STATUSTEXT', where=lambda m: m.text.startswith('RTL'), since=since)
    second = station.wait('STATUSTEXT', since=since)
    assert (first.severity, first.chunk_seq, second.chunk_seq) == (6, 0, 1)
    assert first.id == second.id
    assert first.text + second.text == text + '\t'  # PX4 ends texts that have events in a tab
    assert station.texts[-1] == text


def test_timesync_and_ping_are_answered(make_sim, gcs):
    sim = make_sim()
    station = gcs(sim)
    station.conn.mav.timesync_send(0, 123456789)
    reply = station.wait('TIMESYNC', where=lambda m: m.ts1 == 123456789)
    assert reply.tc1 > 0
    station.conn.mav.ping_send(42, 7, 0, 0)
    pong = station.wait('PING', where=lambda m: m.seq == 7)
    assert (pong.time_usec, pong.target_system) == (42, 255)


def test_mission_start_flies_takeoff_waypoint_loiter_and_land_items(make_sim, gcs):
    sim = make_sim()
    vehicle = sim.vehicles[0]
    station = gcs(sim)
    station.until(lambda: sim.time_s > 3.5, 5.0)
    frame = LocalFrame(vehicle.state().home)
    north, corner = frame.enu_to_point(0.0, 15.0), frame.enu_to_point(10.0, 15.0)
    mission = [
        item(0, 22, alt=6.0),  # takeoff
        item(1, 16, north.lat_deg, north.lon_deg, 6.0),
        item(2, 178, params=(1.0, 3.0, -1.0, 0.0), frame=2),  # 3 m/s from here on
        item(3, 19, corner.lat_deg, corner.lon_deg, 6.0, (2.0, 0.0, 0.0, NAN)),  # loiter 2 s
        item(4, 21, corner.lat_deg, corner.lon_deg, 0.0),  # land there
    ]
    assert upload(station, mission)[0] == ACCEPTED
    since = station.mark()
    assert station.command(300, 0, 4) == ACCEPTED  # MAV_CMD_MISSION_START arms, as PX4
    station.until(lambda: not vehicle.state().armed and vehicle.state().time_s > 20, 30.0, 'end')
    station.pump(2.5)  # PX4 repeats the last MISSION_ITEM_REACHED at 1 Hz
    reached = []
    while True:
        try:
            reached.append(station.wait('MISSION_ITEM_REACHED', 0.0, since=since).seq)
        except pytest.fail.Exception:
            break
    # The DO item right after the waypoint is reached in the same step: PX4 reports the last.
    firsts = [s for i, s in enumerate(reached) if i == 0 or reached[i - 1] != s]
    assert firsts == [0, 2, 3, 4]
    assert reached.count(4) >= 3
    assert 'Armed by mission start' in station.texts
    assert 'Executing Mission' in station.texts
    assert not any(t.startswith('Climb to') for t in station.texts)  # the plan has a takeoff
    current = station.last['MISSION_CURRENT']
    assert (current.seq, current.total, current.mission_state) == (4, 5, 5)  # COMPLETE
    n, e, _ = vehicle.state().position_ned
    assert math.hypot(n - 15.0, e - 10.0) < 1.0  # landed on the land item
    disarmed = station.wait('HEARTBEAT', 3.0, lambda m: not m.base_mode & 128, since)
    assert disarmed.custom_mode == MISSION  # PX4 stays in Mission after a mission landing
