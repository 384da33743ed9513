"""PX4 custom-mode encoding, checked against what a real PX4 SITL sent (px4_reference)."""

import pytest

from uav_flood.autopilot import px4


@pytest.mark.parametrize(
    'mode,custom_mode,name',
    [
        (px4.MISSION, 0x04040000, 'AUTO.MISSION'),
        (px4.HOLD, 0x03040000, 'AUTO.LOITER'),
        (px4.LAND, 0x06040000, 'AUTO.LAND'),
        (px4.RTL, 0x05040000, 'AUTO.RTL'),
        (px4.POSCTL, 0x00030000, 'POSCTL'),
        (px4.OFFBOARD, 0x00060000, 'OFFBOARD'),
    ],
)
def test_custom_mode_round_trip(mode: px4.Px4Mode, custom_mode: int, name: str) -> None:
    assert mode.custom_mode == custom_mode
    assert px4.Px4Mode.from_custom_mode(custom_mode) == mode
    assert mode.name == name


def test_base_mode_matches_recording() -> None:
    # mission-autopilot.tlog: 29 while disarmed in AUTO.LOITER, 157 armed in AUTO.MISSION.
    assert px4.HOLD.base_mode(armed=False) == 29
    assert px4.MISSION.base_mode(armed=True) == 157


def test_unknown_modes_have_names() -> None:
    assert px4.Px4Mode(42).name == 'UNKNOWN(42.0)'
    assert px4.Px4Mode(4, 77).name == 'AUTO.UNKNOWN(77)'
