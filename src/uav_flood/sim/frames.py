"""PX4's map projection: WGS84 <-> local north/east metres about an origin, in plain floats.

The same azimuthal equidistant projection on a sphere of radius 6371 km that PX4 uses for its
local frame (lib/geo MapProjection), so the simulator's LOCAL_POSITION_NED and
GLOBAL_POSITION_INT relate exactly as PX4's do. Pure math on floats: it runs at every telemetry
message, where pyproj would cost ten times more.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6371000.0


class MapProjection:
    """Project WGS84 positions to (north, east) metres about a reference point, and back.

    :param lat_deg: latitude of the reference (deg).
    :param lon_deg: longitude of the reference (deg).
    """

    def __init__(self, lat_deg: float, lon_deg: float) -> None:
        self.lat_deg = lat_deg
        self.lon_deg = lon_deg
        self._lat = math.radians(lat_deg)
        self._lon = math.radians(lon_deg)
        self._sin_lat = math.sin(self._lat)
        self._cos_lat = math.cos(self._lat)

    def project(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Return (north, east) in metres of a WGS84 position (deg)."""
        lat = math.radians(lat_deg)
        d_lon = math.radians(lon_deg) - self._lon
        sin_lat = math.sin(lat)
        cos_lat = math.cos(lat)
        cos_d_lon = math.cos(d_lon)
        arg = self._sin_lat * sin_lat + self._cos_lat * cos_lat * cos_d_lon
        c = math.acos(min(max(arg, -1.0), 1.0))
        k = 1.0 if abs(c) < 1e-12 else c / math.sin(c)
        north = (
            k * (self._cos_lat * sin_lat - self._sin_lat * cos_lat * cos_d_lon) * EARTH_RADIUS_M
        )
        east = k * cos_lat * math.sin(d_lon) * EARTH_RADIUS_M
        return north, east

    def reproject(self, north_m: float, east_m: float) -> tuple[float, float]:
        """Return (lat, lon) in degrees of a (north, east) position in metres."""
        x = north_m / EARTH_RADIUS_M
        y = east_m / EARTH_RADIUS_M
        c = math.hypot(x, y)
        if c < 1e-12:
            return self.lat_deg, self.lon_deg
        sin_c = math.sin(c)
        cos_c = math.cos(c)
        lat = math.asin(cos_c * self._sin_lat + x * sin_c * self._cos_lat / c)
        lon = self._lon + math.atan2(
            y * sin_c, c * self._cos_lat * cos_c - x * self._sin_lat * sin_c
        )
        return math.degrees(lat), math.degrees(lon)
