"""flight_control flown against a fake autopilot (its autopilot_factory): the retry paths.

The fake answers at once and fails its mission uploads as told, so the upload retries, their
exhaustion and a permanent refusal are exercised exactly, without a simulator or MAVLink.
"""

from __future__ import annotations

from test_flight_control import node_runner, ORIGIN, publish_path, start_node, wait_status  # noqa: F401, I001

from fake_autopilot import FakeAutopilot  # noqa: I001
from uav_flood.core.mission_supervisor import UPLOAD_RETRY
from uav_flood.testing import spin_until

#: A short square above the origin (map ENU, m).
PATH = [(0.0, 0.0, 30.0), (40.0, 0.0, 30.0), (40.0, 40.0, 30.0), (0.0, 40.0, 30.0)]


def fly(ros_context, executor, node_runner, fake):  # noqa: F811
    node, probe = start_node(
        ros_context,
        executor,
        node_runner,
        url='udpin://127.0.0.1:1',
        autopilot_factory=lambda params, log: fake,
        auto_start=True,
    )
    assert fake.url == 'udpin://127.0.0.1:1'
    wait_status(executor, probe, lambda s: s.get('connection') == 'connected', 10.0, 'the link')
    publish_path(executor, probe, PATH)
    return node, probe


def test_transient_upload_failures_are_retried_until_the_mission_flies(
    ros_context,
    executor,
    node_runner,  # noqa: F811
):
    fake = FakeAutopilot(ORIGIN, ['TIMEOUT', 'PROTOCOL_ERROR'])
    _, probe = fly(ros_context, executor, node_runner, fake)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'active', 20.0, 'the mission')
    assert fake.uploads == 3 and fake.starts == 1
    status = probe.status()
    assert status['retrying'] == '' and status['last_refusal'] == ''


def test_an_upload_that_keeps_timing_out_fails_the_mission_after_the_policys_attempts(
    ros_context,
    executor,
    node_runner,  # noqa: F811
):
    fake = FakeAutopilot(ORIGIN, ['TIMEOUT'] * 10)
    _, probe = fly(ros_context, executor, node_runner, fake)
    # While it retries, the status says so (the coordinator's start timeout shows it too).
    wait_status(
        executor, probe, lambda s: 'mission upload attempt' in s['retrying'], 10.0, 'a retry'
    )
    wait_status(executor, probe, lambda s: s['mission_state'] == 'failed', 20.0, 'the failure')
    assert fake.uploads == UPLOAD_RETRY.attempts and fake.starts == 0
    assert f'after {UPLOAD_RETRY.attempts} attempts' in probe.status()['last_refusal']


def test_a_permanent_upload_refusal_is_not_retried(ros_context, executor, node_runner):  # noqa: F811
    fake = FakeAutopilot(ORIGIN, ['UNSUPPORTED'])
    _, probe = fly(ros_context, executor, node_runner, fake)
    wait_status(executor, probe, lambda s: s['mission_state'] == 'failed', 10.0, 'the failure')
    assert fake.uploads == 1 and fake.starts == 0
    assert 'unsupported' in probe.status()['last_refusal']
    assert not spin_until(executor, lambda: fake.uploads > 1, 2.0)


def test_the_factory_gets_the_nodes_parameters(ros_context, executor, node_runner):  # noqa: F811
    bad = 'not a url: the fake does not mind'
    seen = {}

    def factory(params, log):
        seen['url'] = params.connection_url
        return FakeAutopilot(ORIGIN, [])

    start_node(ros_context, executor, node_runner, url=bad, autopilot_factory=factory)
    assert seen['url'] == bad
