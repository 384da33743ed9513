"""The error the coverage planner raises for input it cannot plan."""

from __future__ import annotations

from uav_flood.core.errors import UavFloodError


class PlanningError(UavFloodError):
    """An area, fleet or option cannot be planned; the message says why, in an operator's words.

    :param reason: what is wrong, e.g. 'overlap must be in [0, 0.9), got 0.95'.
    :param drone: the drone to blame, when one is (e.g. its battery cannot cover its part).
    """

    def __init__(self, reason: str, drone: str | None = None) -> None:
        self.reason = reason
        self.drone = drone
        super().__init__(reason)
