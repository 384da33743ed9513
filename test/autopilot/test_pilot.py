"""autopilot.pilot: commands and a path's mission through a fake autopilot, without ROS."""

from __future__ import annotations

import threading

import pytest

from fake_autopilot import FakeAutopilot  # noqa: I001
from uav_flood.autopilot.pilot import Pilot, PilotConfig, RefusedError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.mission import Enu, PathLimits
from uav_flood.core.mission_supervisor import MissionState
from uav_flood.core.safety import EnergyModel

HOME = GeoPoint(47.397742, 8.545594, 488.0)
PATH = (Enu(0.0, 0.0, 30.0), Enu(40.0, 0.0, 30.0), Enu(40.0, 40.0, 30.0), Enu(0.0, 40.0, 30.0))
CONFIG = PilotConfig(
    acceptance_radius_m=2.0,
    limits=PathLimits(2.0, 120.0, 2000.0),
    energy=EnergyModel(),
    mission_speed_m_s=5.0,
    takeoff_altitude_m=10.0,
    auto_start=True,
)


def pilot(fake, config=CONFIG, closing=None):
    lines = []
    made = Pilot(
        fake,
        config,
        LocalFrame(HOME),
        None,
        closing or threading.Event(),
        lambda level, text, throttle: lines.append((level, text)),
        lambda: 0,
    )
    return made, lines


def fly(p, path=PATH):
    """Hand a path over as flight_control does: received, then its upload started."""
    p.mission.path_received()
    p.mission.upload_started()
    p.fly_path(path, 0)


def test_commands_and_their_refusals():
    fake = FakeAutopilot(HOME, [])
    p, _ = pilot(fake)
    with pytest.raises(RefusedError, match='on the ground'):
        p.land()
    with pytest.raises(RefusedError, match='nothing to return from'):
        p.return_home()
    with pytest.raises(RefusedError, match='no mission uploaded'):
        p.start_mission()
    assert p.arm() == 'armed'
    with pytest.raises(RefusedError, match='already armed'):
        p.arm()
    assert p.takeoff() == 'taking off to 10 m above home' and fake.takeoff_altitude_m == 10.0
    fake.in_air = True
    assert p.land() == 'landing' and p.return_home() == 'returning to launch'
    with pytest.raises(RefusedError, match='already flying'):
        p.takeoff()


def test_a_path_is_uploaded_with_retries_and_started():
    fake = FakeAutopilot(HOME, ['BUSY'])
    p, lines = pilot(fake)
    fly(p)
    assert fake.uploads == 2 and fake.starts == 1
    assert p.mission.state is MissionState.STARTING
    assert any('mission upload: ' in text and 'attempt 2' in text for _, text in lines)


def test_retries_end_when_the_owner_closes():
    # (The policy spent is flown through flight_control: test_flight_control_fake.py.)
    fake = FakeAutopilot(HOME, ['TIMEOUT'] * 10)
    closing = threading.Event()
    p, _ = pilot(fake, closing=closing)
    closing.set()  # shutting down: the first retry wait ends the upload, quietly
    fly(p)
    assert fake.uploads == 1 and p.mission.state is MissionState.UPLOADING
    assert 'attempt 2' in p.mission.retrying


def test_a_path_beyond_the_battery_is_refused_before_any_upload():
    fake = FakeAutopilot(HOME, [])
    p, lines = pilot(fake)
    far = (Enu(0.0, 0.0, 30.0), Enu(1900.0, 0.0, 30.0), Enu(1900.0, 1900.0, 30.0))
    drained = PilotConfig(**{**CONFIG.__dict__, 'energy': EnergyModel(drain_pct_per_s=1.0)})
    p, lines = pilot(fake, drained)
    fly(p, far)
    assert fake.uploads == 0 and p.mission.state is MissionState.REFUSED
    assert 'beyond battery reach' in p.mission.last_refusal
    assert lines[-1][0] == 'warning'


def test_a_restarted_pilot_takes_up_the_mission_the_flying_vehicle_holds():
    fake = FakeAutopilot(HOME, [])
    p, _ = pilot(fake, PilotConfig(**{**CONFIG.__dict__, 'auto_start': False}))
    fly(p)
    assert fake.uploads == 1
    fake.in_air = True
    again, lines = pilot(fake)
    fly(again)
    assert fake.uploads == 1 and fake.starts == 0  # not uploaded, not started again
    assert again.mission.state is MissionState.UPLOADED
    assert 'took up the mission the vehicle is flying' in lines[-1][1]
