"""PX4 SITL's facts that the stack's defaults follow: its home position and its MAVLink ports.

Defined once here; flight_control, swarm_coordinator, the built-in simulator, the demo and the
deployment graphs take their defaults from these (the config/*.yaml files repeat the values,
and tests keep them equal).
"""

from __future__ import annotations

from uav_flood.core.geo import GeoPoint

#: PX4 SITL's default home (Zurich): latitude, longitude (deg), altitude (m AMSL); the mission
#: origin when none is configured.
PX4_SITL_HOME = GeoPoint(47.397742, 8.545594, 488.0)
#: The same, as the text `--origin` takes ('lat,lon,alt').
PX4_SITL_HOME_TEXT = '47.397742,8.545594,488.0'
#: PX4 SITL instance i sends its offboard API link (MAVSDK) to UDP MAVLINK_BASE_PORT + i ...
MAVLINK_BASE_PORT = 14540
#: ... from UDP MAVLINK_BASE_PORT + LOCAL_PORT_OFFSET + i, where it listens (14580 + i).
LOCAL_PORT_OFFSET = 40
#: Every instance also sends to a ground station (QGroundControl) on this UDP port.
GCS_PORT = 14550


def offboard_port(instance: int, base_port: int = MAVLINK_BASE_PORT) -> int:
    """Return the UDP port PX4 SITL instance `instance` sends its offboard link to."""
    return base_port + instance


def local_port(instance: int, base_port: int = MAVLINK_BASE_PORT) -> int:
    """Return the UDP port PX4 SITL instance `instance` listens on for that link."""
    return base_port + LOCAL_PORT_OFFSET + instance


#: PX4 SITL runs faster than real time by this environment variable's factor; so does the
#: built-in simulator (`uav-flood sim` reads it too).
SPEED_FACTOR_ENV = 'PX4_SIM_SPEED_FACTOR'
#: The speed factors the built-in simulator takes (simulated seconds per wall second).
SPEED_FACTOR_RANGE = (0.01, 100.0)
#: The demo's speed factor: MAVSDK missions still pass at 5x against PX4 SITL, and so here.
DEMO_SPEED_FACTOR = 5.0
#: The demo's fastest: above it the nodes' wall-clock timeouts (link loss, discovery) no
#: longer hold on a 2-core machine.
DEMO_MAX_SPEED_FACTOR = 20.0
