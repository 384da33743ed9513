"""The tlog toolkit on the real PX4 recordings: it must find what the recordings' README states.

The facts below were read off /work/shared/px4_reference (PX4 v1.16 SITL, MAVSDK client); if the
toolkit mis-parsed modes, chunks, the mission protocol or rates, these would fail.
"""

import pytest
from tlog import TlogSummary

from uav_flood.autopilot import px4

# MAV_LANDED_STATE
ON_GROUND, IN_AIR, TAKEOFF, LANDING = 1, 2, 3, 4
# MAV_STATE
UNINIT, STANDBY, ACTIVE, CRITICAL = 0, 3, 4, 5
# MAV_CMD
REQUEST_MESSAGE, ARM_DISARM, SET_MESSAGE_INTERVAL, DO_SET_MODE = 512, 400, 511, 176

MISSION_TEXTS = [
    'Armed by external command',
    'Executing Mission',
    'Climb to 20.0 meters above home',
    'Takeoff detected',
    'Mission finished, loitering',
    'Returning to launch',
    # PX4 sent this one in two chunks (id 6, chunk_seq 0 and 1): the toolkit joins them.
    'RTL: start return at 511 m (21 m above destination)',
    'RTL: land at destination',
    'Landing detected',
    'Disarmed by landing',
]


def test_mission_mode_sequence(px4_mission: TlogSummary) -> None:
    assert px4_mission.mode_sequence == [
        px4.HOLD.name,
        px4.MISSION.name,
        px4.RTL.name,
        px4.HOLD.name,
    ]
    assert px4_mission.mode_sequence == ['AUTO.LOITER', 'AUTO.MISSION', 'AUTO.RTL', 'AUTO.LOITER']
    assert [e.value for e in px4_mission.arming] == [False, True, False]


def test_mission_heartbeat_fields(px4_mission: TlogSummary) -> None:
    beats = [e.value for e in px4_mission.heartbeats]
    assert {b.type for b in beats} == {2}  # MAV_TYPE_QUADROTOR
    assert {b.autopilot for b in beats} == {12}  # MAV_AUTOPILOT_PX4
    assert {b.base_mode for b in beats if b.armed} == {157}
    assert {b.base_mode for b in beats if not b.armed} == {29}
    for beat in beats:
        assert beat.base_mode == px4.Px4Mode.from_custom_mode(beat.custom_mode).base_mode(
            beat.armed
        )
    assert [b.system_status for b in beats] == [UNINIT, STANDBY, ACTIVE, ACTIVE, STANDBY]


def test_mission_landed_states(px4_mission: TlogSummary) -> None:
    assert px4_mission.landed_state_sequence == [ON_GROUND, TAKEOFF, IN_AIR, LANDING, ON_GROUND]
    takeoff, landed = px4_mission.landed_states[1].time_s, px4_mission.landed_states[-1].time_s
    assert landed - takeoff == pytest.approx(89, abs=1)
    # About 95 s from MAVSDK's first command to the disarm (README).
    disarmed = px4_mission.arming[-1].time_s
    assert disarmed - px4_mission.commands_sent[0].time_s == pytest.approx(95, abs=1.5)


def test_mission_upload_protocol(px4_mission: TlogSummary) -> None:
    upload = px4_mission.mission_upload()
    count = 9  # MAVSDK turned 4 waypoints into 9 MISSION_ITEM_INT (speed changes, RTL)
    assert [m.label for m in upload] == (
        ['client:MISSION_COUNT']
        + ['vehicle:MISSION_REQUEST_INT', 'client:MISSION_ITEM_INT'] * count
        + ['vehicle:MISSION_ACK']
    )
    requested = [m.seq for m in upload if m.type == 'MISSION_REQUEST_INT']
    sent = [m.seq for m in upload if m.type == 'MISSION_ITEM_INT']
    assert requested == sent == list(range(count))
    assert upload[-1].result == 0  # MAV_MISSION_ACCEPTED
    assert all(a.time_s <= b.time_s for a, b in zip(upload, upload[1:], strict=False))


def test_mission_progress(px4_mission: TlogSummary) -> None:
    # PX4 repeats MISSION_ITEM_REACHED about once a second; it reports the speed-change item that
    # follows each waypoint (1, 3, 5) and the RTL item (8), never waypoint 0.
    assert px4_mission.reached_sequence == [1, 3, 5, 8]
    assert [e.value for e in px4_mission.mission_current] == [0, 2, 4, 6, 8]
    assert 40 <= px4_mission.counts['MISSION_ITEM_REACHED'] <= 45


def test_mission_command_acks(px4_mission: TlogSummary) -> None:
    acks = [(a.command, a.result) for a in px4_mission.command_acks]
    assert acks == [
        (REQUEST_MESSAGE, 0),
        (REQUEST_MESSAGE, 0),
        (ARM_DISARM, 0),
        (SET_MESSAGE_INTERVAL, 0),
        (DO_SET_MODE, 0),
        # PX4 acknowledged MAVSDK's single DO_SET_MODE twice (12 ms apart).
        (DO_SET_MODE, 0),
    ]
    assert [e.value for e in px4_mission.commands_sent] == [
        REQUEST_MESSAGE,
        REQUEST_MESSAGE,
        ARM_DISARM,
        SET_MESSAGE_INTERVAL,
        DO_SET_MODE,
    ]
    for ack in px4_mission.command_acks[:5]:
        assert ack.request_time_s is not None
        assert 0 <= ack.time_s - ack.request_time_s < 0.05
    assert px4_mission.command_acks[-1].request_time_s is None
    assert px4_mission.command_acks[2].command_name == 'COMPONENT_ARM_DISARM'
    assert px4_mission.command_acks[2].result_name == 'ACCEPTED'


def test_mission_statustexts(px4_mission: TlogSummary) -> None:
    assert px4_mission.texts == MISSION_TEXTS
    assert {s.severity for s in px4_mission.statustexts} == {6}  # MAV_SEVERITY_INFO


# Messages per second while armed, as the README lists them ("~" values), with a 10 % band.
README_ARMED_RATES_HZ = {
    'ATTITUDE': 98,
    'HIGHRES_IMU': 50,
    'ATTITUDE_QUATERNION': 49,
    'GLOBAL_POSITION_INT': 48,
    'LOCAL_POSITION_NED': 30,
    'ODOMETRY': 30,
    'VFR_HUD': 10,
    'ALTITUDE': 10,
    'TIMESYNC': 10,
    'POSITION_TARGET_LOCAL_NED': 10,
    'ATTITUDE_TARGET': 10,
    'GPS_RAW_INT': 8,
    'SYS_STATUS': 5,
    'HEARTBEAT': 1,
    'MISSION_CURRENT': 1,
    'SYSTEM_TIME': 1,
    'ESTIMATOR_STATUS': 1,
    'HOME_POSITION': 0.5,
    'BATTERY_STATUS': 0.5,
}


@pytest.mark.parametrize('name,rate_hz', sorted(README_ARMED_RATES_HZ.items()))
def test_mission_rates(px4_mission: TlogSummary, name: str, rate_hz: float) -> None:
    assert px4_mission.armed_rates_hz[name] == pytest.approx(rate_hz, rel=0.1)


def test_mission_rates_overall(px4_mission: TlogSummary) -> None:
    # EXTENDED_SYS_STATE: ~1.3 Hz overall; MAVSDK set it to 1 Hz (SET_MESSAGE_INTERVAL) and PX4
    # also sends one at each landed-state change.
    assert px4_mission.rates_hz['EXTENDED_SYS_STATE'] == pytest.approx(1.3, rel=0.1)
    assert px4_mission.counts['AUTOPILOT_VERSION'] == 1  # once, on MAVSDK's REQUEST_MESSAGE
    assert px4_mission.counts['HEARTBEAT'] == pytest.approx(px4_mission.duration_s, abs=2)
    ((begin, end),) = px4_mission.armed_windows
    assert 90 < end - begin < 95


LOWBATTERY_FAILSAFE_TEXTS = [
    'Low battery',
    'Critical battery',
    'Failsafe activated: entering Hold for 5 seconds',
    'Emergency battery level',
    'Failsafe activated',
    'Landing detected',
    'Disarmed by landing',
]


def test_lowbattery_texts(px4_lowbattery: TlogSummary) -> None:
    texts = px4_lowbattery.texts
    assert texts[:4] == [
        'Armed by external command',
        'Executing Mission',
        'Climb to 25.0 meters above home',
        'Takeoff detected',
    ]
    failsafe = [t for t in texts if t in LOWBATTERY_FAILSAFE_TEXTS]
    # PX4 repeats "Low battery" once after the disarm, when the simulated battery recharges.
    assert failsafe == LOWBATTERY_FAILSAFE_TEXTS + ['Low battery']
    assert 'System does not support shutdown' in texts  # SITL cannot power off at emergency
    assert [s.text for s in px4_lowbattery.failsafe_texts] == [
        'Low battery',
        'Critical battery',
        'Failsafe activated: entering Hold for 5 seconds',
        'System does not support shutdown',
        'Emergency battery level',
        'Failsafe activated',
        'Low battery',
    ]
    assert [s.battery_pct for s in px4_lowbattery.failsafe_texts] == [16, 8, 8, 6, 5, 1, 11]
    severity = {s.text: s.severity for s in px4_lowbattery.statustexts}
    assert severity['Low battery'] == severity['Critical battery'] == 2  # MAV_SEVERITY_CRITICAL
    assert severity['Emergency battery level'] == 0  # MAV_SEVERITY_EMERGENCY


def test_lowbattery_timing(px4_lowbattery: TlogSummary) -> None:
    # README: "Low battery" at about 70 s of flight, "Critical battery" at 76 s.
    at = {s.text: s.time_s for s in reversed(px4_lowbattery.statustexts)}
    armed = at['Armed by external command']
    assert at['Low battery'] - armed == pytest.approx(70, abs=2)
    assert at['Critical battery'] - armed == pytest.approx(76, abs=2)
    # Hold for 5 seconds, then the LAND failsafe.
    hold, land = px4_lowbattery.modes[2], px4_lowbattery.modes[3]
    assert land.time_s - hold.time_s == pytest.approx(5, abs=1.1)


@pytest.mark.parametrize(
    'text,threshold_pct',
    [('Low battery', 15), ('Critical battery', 7), ('Emergency battery level', 5)],
)
def test_lowbattery_battery_at_thresholds(
    px4_lowbattery: TlogSummary, text: str, threshold_pct: float
) -> None:
    # BAT_LOW_THR 0.15, BAT_CRIT_THR 0.07, BAT_EMERGEN_THR 0.05: the last reported charge before
    # each warning is at or just above its threshold (16 %, 8 %, 5 % in the recording); the
    # charge interpolated to the moment of the text is within a percent of the threshold.
    status = next(s for s in px4_lowbattery.statustexts if s.text == text)
    assert status.battery_pct is not None
    assert threshold_pct <= status.battery_pct <= threshold_pct + 1
    battery = px4_lowbattery.battery_at(text)
    assert battery is not None
    assert battery == pytest.approx(threshold_pct, abs=1)
    assert status.battery_pct - 1 <= battery <= status.battery_pct


def test_lowbattery_modes(px4_lowbattery: TlogSummary) -> None:
    # Hold (AUTO.LOITER) for 5 s, then LAND; after the disarm PX4 reports the user's mode again.
    assert px4_lowbattery.mode_sequence == [
        'AUTO.LOITER',
        'AUTO.MISSION',
        'AUTO.LOITER',
        'AUTO.LAND',
        'AUTO.MISSION',
    ]
    assert [e.value for e in px4_lowbattery.arming] == [False, True, False]
    status = [e.value.system_status for e in px4_lowbattery.heartbeats]
    assert status == [STANDBY, ACTIVE, CRITICAL, CRITICAL, STANDBY]
    assert px4_lowbattery.landed_state_sequence == [
        ON_GROUND,
        TAKEOFF,
        IN_AIR,
        LANDING,
        ON_GROUND,
    ]


def test_lowbattery_mission(px4_lowbattery: TlogSummary) -> None:
    upload = px4_lowbattery.mission_upload()
    assert len([m for m in upload if m.type == 'MISSION_ITEM_INT']) == 24
    assert px4_lowbattery.reached_sequence == [1]
    assert [(a.command, a.result) for a in px4_lowbattery.command_acks] == [
        (REQUEST_MESSAGE, 0),
        (REQUEST_MESSAGE, 0),
        (ARM_DISARM, 0),
        (SET_MESSAGE_INTERVAL, 0),
        (DO_SET_MODE, 0),
        (DO_SET_MODE, 0),
    ]
