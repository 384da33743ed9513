"""A fake Autopilot for tests of flight_control and of the pilot (no MAVLink, no simulator)."""

from __future__ import annotations

import threading
import time

from uav_flood.autopilot.interface import (
    Autopilot,
    AutopilotError,
    FlightMode,
    LandedState,
    Telemetry,
)
from uav_flood.core.geo import GeoPoint
from uav_flood.core.rotation import Quaternion


class FakeAutopilot(Autopilot):
    """On the ground at `home`, ready to arm; each upload raises the next code of `fail`.

    Its commands take effect at once; `in_air` puts it in the air (a restarted flight_control
    finds it flying its mission).
    """

    def __init__(self, home: GeoPoint, fail: list[str], in_air: bool = False) -> None:
        self.home = home
        self.fail = list(fail)
        self.in_air = in_air
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
                position=self.home,
                attitude=Quaternion(1.0, 0.0, 0.0, 0.0),
                armed=self._armed,
                flight_mode=self._mode,
                landed_state=LandedState.IN_AIR if self.in_air else LandedState.ON_GROUND,
                battery_remaining=1.0,
                battery_voltage_v=16.2,
                home=self.home,
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
            self.takeoff_altitude_m = altitude_m
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
        return self.in_air and self._mission_total == len(plan.items)

    def start_mission(self) -> None:
        with self._lock:
            self.starts += 1
            self._mode = FlightMode.MISSION

    def upload_geofence(self, polygon) -> None:
        pass
