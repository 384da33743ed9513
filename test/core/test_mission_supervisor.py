"""The mission state machine, its retry rules and readiness, without ROS or MAVLink."""

import itertools
import threading

import pytest

from uav_flood.core.mission_supervisor import (
    ACK_STATES,
    FAILED_STATES,
    is_transient,
    MissionState,
    MissionSupervisor,
    readiness,
    RetryPolicy,
    START_RETRY,
    TransitionError,
    UPLOAD_RETRY,
)
from uav_flood.core.status_schema import VehicleStatus

PLAN = object()
OTHER_PLAN = object()


def uploaded() -> MissionSupervisor[object]:
    supervisor: MissionSupervisor[object] = MissionSupervisor()
    supervisor.path_received()
    supervisor.upload_started()
    supervisor.uploaded(PLAN)
    return supervisor


def test_the_happy_path_ends_completed():
    supervisor: MissionSupervisor[object] = MissionSupervisor()
    assert supervisor.state is MissionState.NONE and supervisor.plan is None
    supervisor.path_received()
    supervisor.upload_started()
    supervisor.uploaded(PLAN, attempts=2)
    assert supervisor.snapshot() == (MissionState.UPLOADED, PLAN, '')
    assert supervisor.attempts == 2
    supervisor.start_requested()
    assert supervisor.state is MissionState.STARTING
    assert supervisor.observe(PLAN, flying_mission=False, all_reached=False) is None
    assert supervisor.observe(PLAN, flying_mission=True, all_reached=False) is (
        MissionState.ACTIVE
    )
    assert supervisor.observe(PLAN, flying_mission=True, all_reached=True) is (
        MissionState.COMPLETED
    )
    assert supervisor.observe(PLAN, flying_mission=False, all_reached=True) is None


def test_observation_of_a_replaced_plan_is_ignored():
    supervisor = uploaded()
    supervisor.start_requested()
    assert supervisor.observe(OTHER_PLAN, flying_mission=True, all_reached=True) is None
    assert supervisor.state is MissionState.STARTING


def test_upload_failure_is_an_explicit_state_with_its_reason():
    supervisor: MissionSupervisor[object] = MissionSupervisor()
    supervisor.path_received()
    supervisor.upload_started()
    supervisor.fail('mission upload failed: timeout (after 4 attempts)')
    assert supervisor.state is MissionState.FAILED
    assert 'after 4 attempts' in supervisor.last_refusal
    # The coordinator reads it as a drone that will not fly its path.
    status = VehicleStatus.parse({'mission_state': supervisor.state.value})
    assert status.mission_state in FAILED_STATES
    # A new path starts over.
    supervisor.path_received()
    assert supervisor.state is MissionState.PENDING


def test_start_failure_is_an_explicit_state():
    supervisor = uploaded()
    supervisor.start_requested()
    supervisor.fail('auto_start failed: denied (Switching to Mission is currently not available)')
    assert supervisor.state is MissionState.FAILED
    assert supervisor.plan is PLAN  # still uploaded: the start_mission service can try again
    supervisor.start_requested()
    assert supervisor.state is MissionState.STARTING


@pytest.mark.parametrize(
    ('steps', 'bad'),
    [
        ([], MissionSupervisor.upload_started),
        ([MissionSupervisor.path_received], MissionSupervisor.fail),
        ([], MissionSupervisor.fail),
    ],
)
def test_transitions_outside_the_table_are_refused(steps, bad):
    supervisor: MissionSupervisor[object] = MissionSupervisor()
    for step in steps:
        step(supervisor)
    before = supervisor.state
    with pytest.raises(TransitionError):
        bad(supervisor, 'why') if bad is MissionSupervisor.fail else bad(supervisor)
    assert supervisor.state is before


def test_start_without_a_plan_is_refused():
    supervisor: MissionSupervisor[object] = MissionSupervisor()
    supervisor.path_received()
    with pytest.raises(TransitionError, match='no mission uploaded'):
        supervisor.start_requested()


def test_a_refused_path_keeps_the_previous_plan_and_says_why():
    supervisor = uploaded()
    supervisor.refuse('waypoint 2 is outside the geofence')
    assert supervisor.snapshot() == (
        MissionState.REFUSED,
        PLAN,
        'mission refused: waypoint 2 is outside the geofence',
    )
    supervisor.note_refusal('start_mission: refused: already flying')
    assert supervisor.state is MissionState.REFUSED
    assert supervisor.last_refusal == 'start_mission: refused: already flying'


def test_state_values_are_the_status_contract():
    # The coordinator and the demo read these strings off the status topic.
    assert {s.value for s in MissionState} == {
        'none',
        'pending',
        'uploading',
        'uploaded',
        'starting',
        'active',
        'completed',
        'refused',
        'failed',
    }
    # Each is read back as itself through the status schema.
    for state in MissionState:
        parsed = VehicleStatus.parse(VehicleStatus(mission_state=state).values()).mission_state
        assert parsed is state
    assert {s.value for s in FAILED_STATES} == {'refused', 'failed'}
    assert ACK_STATES > FAILED_STATES


def test_concurrent_writers_leave_a_consistent_state():
    supervisor = uploaded()

    def churn() -> None:
        for _ in range(500):
            supervisor.path_received()
            supervisor.refuse('x')

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert supervisor.state is MissionState.REFUSED


@pytest.mark.parametrize(
    ('code', 'upload', 'transient'),
    [
        # PX4's MAV_RESULT_TEMPORARILY_REJECTED as MAVSDK's action and mission plugins name it.
        ('COMMAND_DENIED', False, True),
        ('DENIED', False, True),
        ('TEMPORARILY_REJECTED', False, True),
        ('TIMEOUT', False, True),
        ('NOT_CONNECTED', False, True),
        ('COMMAND_DENIED_NOT_LANDED', False, False),
        ('UNSUPPORTED', False, False),
        (None, False, False),
        ('TIMEOUT', True, True),
        ('PROTOCOL_ERROR', True, True),
        ('TRANSFER_CANCELLED', True, True),
        ('TOO_MANY_MISSION_ITEMS', True, False),
        ('INVALID_ARGUMENT', True, False),
        ('UNSUPPORTED', True, False),
    ],
)
def test_transient_failures(code, upload, transient):
    assert is_transient(code, upload) is transient


def test_retry_policy_backs_off_within_its_bounds():
    policy = RetryPolicy(attempts=6, first_delay_s=0.5, factor=2.0, max_delay_s=3.0)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
    short = RetryPolicy(attempts=10, first_delay_s=1.0, factor=2.0, max_delay_s=4.0, deadline_s=8)
    assert list(short.delays()) == [1.0, 2.0, 4.0]  # a 4th wait would end past 8 s
    assert list(RetryPolicy(attempts=1, first_delay_s=1.0).delays()) == []


def test_the_defaults_cover_px4s_transient_refusals():
    # PX4 refuses arming for about 4 s after boot (boot-autopilot.tlog) and Mission mode for
    # under a second after a fence upload (fence-autostart): the start retries outlast both,
    # and retry often enough not to lose seconds.
    start = list(START_RETRY.delays())
    assert sum(start) >= 20.0
    assert start[0] <= 0.5
    assert sum(itertools.islice(start, 4)) < 2.5
    upload = list(UPLOAD_RETRY.delays())
    assert len(upload) == UPLOAD_RETRY.attempts - 1 and sum(upload) <= 10.0


@pytest.mark.parametrize(
    ('args', 'ready', 'words'),
    [
        ((True, True, True, ''), True, ''),
        (
            (False, False, False, ''),
            False,
            'no global position estimate yet; no home position yet',
        ),
        (
            (False, True, True, 'Arming denied: Resolve system health failures first'),
            False,
            'PX4: Arming denied: Resolve system health failures first',
        ),
        ((False, True, True, ''), False, 'pre-arm checks failing'),
    ],
)
def test_readiness_gives_the_most_useful_reason(args, ready, words):
    result = readiness(*args)
    assert result.ready is ready
    assert result.reason == words


def test_bad_retry_policies_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0, first_delay_s=1.0)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=3, first_delay_s=1.0, factor=0.5)
