"""The status contract shared by flight_control (writer) and its readers (core.status_schema)."""

from __future__ import annotations

import pytest

from uav_flood.core.mission_supervisor import MissionState
from uav_flood.core.status_schema import (
    BUSY_MISSION_STATES,
    LINK_LOST,
    parse_waypoints,
    STARTING_STATES,
    VehicleStatus,
)

FLYING = VehicleStatus(
    connection='connected',
    link_age_s=0.12,
    armed=True,
    flight_mode='mission',
    landed_state='in_air',
    battery_pct=87.5,
    energy_margin_pct=21.0,
    home_set=True,
    ready_to_arm=True,
    failsafe='none',
    mission_state=MissionState.ACTIVE,
    path_stamp='1700000000000000000',
    mission_waypoint_current=3,
    mission_waypoint_total=12,
    mission_waypoints_reached=(0, 1, 2),
    mission_item_current=4,
    mission_item_total=14,
)


def test_a_status_survives_its_key_values():
    values = FLYING.values()
    assert values['mission_state'] == 'active' and values['armed'] == 'true'
    assert values['mission_waypoints_reached'] == '0,1,2' and values['battery_pct'] == '87.5'
    assert VehicleStatus.parse(values) == FLYING
    assert all(isinstance(v, str) for v in values.values())


def test_unknowns_are_written_as_words_and_read_back_as_unknown():
    values = VehicleStatus(connection='waiting for autopilot').values()
    assert values['link_age_s'] == 'never' and values['battery_pct'] == 'unknown'
    assert values['ready_to_arm'] == 'unknown' and values['armed'] == 'unknown'
    assert values['mission_state'] == 'none' and values['failsafe'] == 'none'
    status = VehicleStatus.parse(values)
    assert status.link_age_s is None and status.battery_pct is None and status.armed is None
    assert status.mission_state == MissionState.NONE and not status.in_failsafe


@pytest.mark.parametrize(
    'values',
    [
        {},
        {'battery_pct': 'nan', 'armed': 'yes', 'mission_waypoint_total': 'x'},
        {'mission_state': 'from a newer version', 'mission_waypoints_reached': '1,a,,3'},
    ],
)
def test_a_malformed_or_partial_status_reads_as_unknown_never_raises(values):
    status = VehicleStatus.parse(values)
    assert status.battery_pct is None and status.armed is None
    assert status.mission_waypoint_total == -1
    assert status.present is bool(values)
    if 'mission_state' in values:
        assert status.mission_state is None and status.mission_waypoints_reached == (1, 3)


def test_the_questions_readers_ask():
    assert VehicleStatus.parse({'connection': LINK_LOST}).link_lost
    assert VehicleStatus.parse({'flight_mode': 'return'}).homebound
    assert not VehicleStatus.parse({'flight_mode': 'mission'}).homebound
    assert VehicleStatus.parse({'failsafe': 'battery critical'}).in_failsafe
    assert not VehicleStatus.parse({'failsafe': ''}).in_failsafe
    assert VehicleStatus.parse({'landed_state': 'on_ground'}).on_ground
    assert VehicleStatus.of(FLYING) is FLYING
    assert VehicleStatus.of({'armed': 'false'}).armed is False


def test_mission_state_groups():
    assert MissionState.ACTIVE in BUSY_MISSION_STATES
    assert MissionState.ACTIVE not in STARTING_STATES
    assert MissionState.COMPLETED not in BUSY_MISSION_STATES
    assert STARTING_STATES < BUSY_MISSION_STATES


@pytest.mark.parametrize(
    ('text', 'expected'), [('', []), ('0,1,2', [0, 1, 2]), (' 4 , x, -1', [4, -1])]
)
def test_parse_waypoints_skips_bad_items(text, expected):
    assert parse_waypoints(text) == expected


def test_the_swarm_status_survives_its_key_values():
    from uav_flood.core.status_schema import DroneEntry, SWARM_CHECKING_MAP, SwarmStatus

    status = SwarmStatus(
        state=SWARM_CHECKING_MAP,
        coverage_pct=99.5,
        time_left_s=12.0,
        replans=2,
        map_gap_rounds=1,
        map_seen_pct=99.91,
        last_replan_reason='uav1 lost: status silent',
        last_replan_latency_ms=35.0,
        area_m2=54000.0,
        swath_m=41.2,
        drones={
            'uav0': DroneEntry('done', 0, 175.2),
            'uav1': DroneEntry('lost: status silent', 1, 180.0),
            'uav2': DroneEntry('swap', 0, 150.0, '2/3', 'waiting for a battery swap'),
        },
    )
    values = status.values()
    assert values['uav2_sortie'] == '2/3' and values['uav1_readmissions'] == '1'
    assert values['coverage_pct'] == '99.5' and values['time_left_s'] == '12'
    parsed = SwarmStatus.parse(values, ['uav0', 'uav1', 'uav2', 'uav9'])
    assert parsed == status
    assert parsed.busy and parsed.drone('uav1').lost and parsed.drone('uav1').spare
    assert parsed.drone('uav2').sortie_of == (2, 3) and parsed.drone('uav0').sortie_of is None
    assert parsed.drone('uav9').state == '' and not parsed.drone('uav9').spare


def test_a_swarm_status_before_a_plan_and_a_malformed_one():
    from uav_flood.core.status_schema import DroneEntry, SwarmStatus

    waiting = SwarmStatus(
        state='waiting for the fleet (1/2 reporting)',
        swath_m=41.2,
        drones={'uav0': DroneEntry('reporting'), 'uav1': DroneEntry('not heard')},
    )
    values = waiting.values()
    assert values['time_left_s'] == 'unknown' and values['area_m2'] == ''
    assert 'uav0_readmissions' not in values and not SwarmStatus.parse(values, ['uav0']).busy
    bad = SwarmStatus.parse({'coverage_pct': 'x', 'replans': '-3', 'uav0': 'idle'}, ['uav0'])
    assert bad.coverage_pct == 0.0 and bad.replans == 0 and bad.drone('uav0').spare
