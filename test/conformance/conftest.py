"""Fixtures of the PX4 conformance tests: the real PX4 recordings and their summaries."""

from px4_replay import reference
import pytest

from uav_flood.autopilot.tlog import summarise_files, TlogSummary


@pytest.fixture(scope='session')
def px4_mission() -> TlogSummary:
    """Return the summary of the real PX4 mission flight (autopilot and MAVSDK merged)."""
    return summarise_files(reference('mission-autopilot.tlog'), reference('mission-client.tlog'))


@pytest.fixture(scope='session')
def px4_lowbattery() -> TlogSummary:
    """Return the summary of the real PX4 low-battery flight (autopilot and MAVSDK merged)."""
    return summarise_files(
        reference('lowbattery-autopilot.tlog'), reference('lowbattery-client.tlog')
    )
