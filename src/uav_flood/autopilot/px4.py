"""PX4's flight modes as they travel in HEARTBEAT.custom_mode, and their base_mode flags.

PX4 packs its main mode in bits 16-23 and its sub mode in bits 24-31 of custom_mode
(px4_custom_mode.h); e.g. 0x04040000 is AUTO.MISSION. Recorded from a real PX4 v1.16 SITL
(../shared/px4_reference): base_mode 29 disarmed and 157 armed in AUTO modes.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum


class MainMode(enum.IntEnum):
    """PX4_CUSTOM_MAIN_MODE_*."""

    MANUAL = 1
    ALTCTL = 2
    POSCTL = 3
    AUTO = 4
    ACRO = 5
    OFFBOARD = 6
    STABILIZED = 7


class AutoSubMode(enum.IntEnum):
    """PX4_CUSTOM_SUB_MODE_AUTO_* (sub modes of MainMode.AUTO)."""

    READY = 1
    TAKEOFF = 2
    LOITER = 3
    MISSION = 4
    RTL = 5
    LAND = 6
    FOLLOW_TARGET = 8
    PRECLAND = 9


# MAV_MODE_FLAG bits (MAVLink common.xml).
FLAG_CUSTOM_MODE_ENABLED = 1
FLAG_TEST_ENABLED = 2
FLAG_AUTO_ENABLED = 4
FLAG_GUIDED_ENABLED = 8
FLAG_STABILIZE_ENABLED = 16
FLAG_HIL_ENABLED = 32
FLAG_MANUAL_INPUT_ENABLED = 64
FLAG_SAFETY_ARMED = 128


@dataclass(frozen=True)
class Px4Mode:
    """A PX4 flight mode: main mode and sub mode (0 where the main mode has none)."""

    main: int
    sub: int = 0

    @property
    def custom_mode(self) -> int:
        """Return HEARTBEAT.custom_mode for this mode."""
        return (self.main & 0xFF) << 16 | (self.sub & 0xFF) << 24

    @classmethod
    def from_custom_mode(cls, custom_mode: int) -> Px4Mode:
        """Decode HEARTBEAT.custom_mode."""
        return cls((custom_mode >> 16) & 0xFF, (custom_mode >> 24) & 0xFF)

    @property
    def name(self) -> str:
        """Return PX4's name of the mode, as QGroundControl shows it ('AUTO.MISSION')."""
        try:
            main = MainMode(self.main).name
        except ValueError:
            return f'UNKNOWN({self.main}.{self.sub})'
        if self.main != MainMode.AUTO:
            return main
        try:
            return f'AUTO.{AutoSubMode(self.sub).name}'
        except ValueError:
            return f'AUTO.UNKNOWN({self.sub})'

    def base_mode(self, armed: bool) -> int:
        """Return HEARTBEAT.base_mode as PX4 (rotary wing) reports it in this mode."""
        flags = FLAG_CUSTOM_MODE_ENABLED | FLAG_STABILIZE_ENABLED
        if self.main in (MainMode.AUTO, MainMode.OFFBOARD):
            flags |= FLAG_AUTO_ENABLED | FLAG_GUIDED_ENABLED
        elif self.main == MainMode.POSCTL:
            flags |= FLAG_MANUAL_INPUT_ENABLED | FLAG_GUIDED_ENABLED
        elif self.main in (MainMode.MANUAL, MainMode.ALTCTL, MainMode.STABILIZED):
            flags |= FLAG_MANUAL_INPUT_ENABLED
        elif self.main == MainMode.ACRO:
            flags = FLAG_CUSTOM_MODE_ENABLED | FLAG_MANUAL_INPUT_ENABLED
        return flags | (FLAG_SAFETY_ARMED if armed else 0)


MANUAL = Px4Mode(MainMode.MANUAL)
ALTCTL = Px4Mode(MainMode.ALTCTL)
POSCTL = Px4Mode(MainMode.POSCTL)
OFFBOARD = Px4Mode(MainMode.OFFBOARD)
STABILIZED = Px4Mode(MainMode.STABILIZED)
READY = Px4Mode(MainMode.AUTO, AutoSubMode.READY)
TAKEOFF = Px4Mode(MainMode.AUTO, AutoSubMode.TAKEOFF)
HOLD = Px4Mode(MainMode.AUTO, AutoSubMode.LOITER)  # "Hold" in QGC, AUTO.LOITER on the wire
MISSION = Px4Mode(MainMode.AUTO, AutoSubMode.MISSION)
RTL = Px4Mode(MainMode.AUTO, AutoSubMode.RTL)
LAND = Px4Mode(MainMode.AUTO, AutoSubMode.LAND)
