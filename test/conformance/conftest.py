"""Fixtures of the PX4 conformance tests: the real PX4 recordings and their summaries."""

from pathlib import Path
import sys

# The MAVLink recording toolkit is a documented tool, tools/tlog.py; these tests import it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'tools'))

from px4_replay import reference  # noqa: E402
import pytest  # noqa: E402
from tlog import summarise_files, TlogSummary  # noqa: E402


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
