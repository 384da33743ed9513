"""flight_control flown against a fake autopilot (its autopilot_factory): the retry paths.

The fake answers at once and fails its mission uploads as told, so the upload retries, their
exhaustion and a permanent refusal are exercised exactly, without a simulator or MAVLink.
"""

from __future__ import annotations

import threading
import time

from test_flight_control import node_runner, ORIGIN, publish_path, start_node, wait_status  # noqa: F401, I001

from uav_flood.autopilot.interface import (
    Autopilot,
    AutopilotError,
    FlightMode,
    LandedState,
    Telemetry,
)
from uav_flood.core.geo import GeoPoint
from uav_flood.core.mission_supervisor import UPLOAD_RETRY
from uav_flood.core.rotation import Quaternion
from uav_flood.testing import spin_until

#: A short square above the origin (map ENU, m).
PATH = [(0.0, 0.0, 30.0), (40.0, 0.0, 30.0), (40.0, 40.0, 30.0), (0.0, 40.0, 30.0)]


class FakeAutopilot(Autopilot):
    """On the ground at the origin, ready to arm; each upload raises the next code of `fail`."""

    def __init__(self, fail: list[str]) -> None:
        self.fail = list(fail)
        self.uploads = 0
        self.starts = 0
        self.url = ''
        self.closed = False
        self._lock = threading.Lock()
        self._armed = False
        self._mode = FlightMode.HOLD
        self._mission_total = 0

    def connect(self, url: str) -> None:
        self.url = url

    def close(self) -> None:
        self.closed = True

    def telemetry(self) -> Telemetry:
        with self._lock:
            return Telemetry(
                discovered=True,
                last_message_s=time.monotonic(),
                position=GeoPoint(ORIGIN.lat_deg, ORIGIN.lon_deg, ORIGIN.alt_m),
                attitude=Quaternion(1.0, 0.0, 0.0, 0.0),
                armed=self._armed,
                flight_mode=self._mode,
                landed_state=LandedState.ON_GROUND,
                battery_remaining=1.0,
                battery_voltage_v=16.2,
                home=ORIGIN,
                global_position_ok=True,
                armable=True,
                mission_current=0 if self._mode == FlightMode.MISSION else -1,
                mission_total=self._mission_total,
            )

    def status_texts(self) -> list:
        return []

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def takeoff(self, altitude_m: float) -> None:
        with self._lock:
            self._mode = FlightMode.TAKEOFF

    def land(self) -> None:
        with self._lock:
            self._mode = FlightMode.LAND

    def return_to_launch(self) -> None:
        with self._lock:
            self._mode = FlightMode.RETURN

    def hold(self) -> None:
        with self._lock:
            self._mode = FlightMode.HOLD

    def upload_mission(self, plan) -> None:
        with self._lock:
            self.uploads += 1
            if self.fail:
                code = self.fail.pop(0)
                raise AutopilotError(f'mission upload failed: {code.lower()}', code)
            self._mission_total = len(plan.items)

    def holds_mission(self, plan) -> bool:
        return False

    def start_mission(self) -> None:
        with self._lock:
            self.starts += 1
            self._mode = FlightMode.MISSION

    def upload_geofence(self, polygon) -> None:
        pass


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
    fake = FakeAutopilot(['TIMEOUT', 'PROTOCOL_ERROR'])
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
    fake = FakeAutopilot(['TIMEOUT'] * 10)
    _, probe = fly(ros_context, executor, node_runner, fake)
    # While it retries, the status says so (the coordinator's start timeout shows it too).
    wait_status(
        executor, probe, lambda s: 'mission upload attempt' in s['retrying'], 10.0, 'a retry'
    )
    wait_status(executor, probe, lambda s: s['mission_state'] == 'failed', 20.0, 'the failure')
    assert fake.uploads == UPLOAD_RETRY.attempts and fake.starts == 0
    assert f'after {UPLOAD_RETRY.attempts} attempts' in probe.status()['last_refusal']


def test_a_permanent_upload_refusal_is_not_retried(ros_context, executor, node_runner):  # noqa: F811
    fake = FakeAutopilot(['UNSUPPORTED'])
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
        return FakeAutopilot([])

    start_node(ros_context, executor, node_runner, url=bad, autopilot_factory=factory)
    assert seen['url'] == bad
