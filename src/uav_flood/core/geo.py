"""WGS84 <-> local ENU conversion about a mission origin (pyproj; no rclpy).

The local frame is the REP-103 `map` frame: x east, y north, z up, in metres, with its origin at
the mission origin (lat0, lon0, alt0). Horizontal positions use the azimuthal equidistant
projection centred on the origin, the same family PX4 uses for its local frame (PX4 uses a
sphere; here the WGS84 ellipsoid, so distances are exact to millimetres over tens of km).
Altitudes are AMSL metres; z is altitude minus alt0 (flat-earth vertical, as PX4's local z).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
import pyproj

from uav_flood.core.errors import UavFloodError


class GeoError(UavFloodError):
    """A geographic coordinate is out of range or not a number."""


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 position.

    :param lat_deg: latitude (deg, -90..90).
    :param lon_deg: longitude (deg, -180..180).
    :param alt_m: altitude above mean sea level (m).
    """

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0

    def __post_init__(self) -> None:
        """Reject NaN, infinite and out-of-range coordinates."""
        check_geodetic(self.lat_deg, self.lon_deg, self.alt_m)

    @classmethod
    def parse(cls, text: str) -> GeoPoint:
        """Parse 'LAT,LON[,ALT]' (degrees, degrees, metres AMSL), as typed on a command line."""
        parts = [p.strip() for p in text.split(',')]
        if len(parts) not in (2, 3):
            raise GeoError(f'expected LAT,LON or LAT,LON,ALT, got {text!r}')
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise GeoError(f'expected numbers in LAT,LON[,ALT], got {text!r}') from None
        return cls(*values)


def check_geodetic(lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> None:
    """Raise GeoError unless the coordinate is finite and in range (alt -500..20000 m)."""
    if not all(math.isfinite(v) for v in (lat_deg, lon_deg, alt_m)):
        raise GeoError(f'coordinate is not finite: ({lat_deg}, {lon_deg}, {alt_m})')
    if not -90.0 <= lat_deg <= 90.0:
        raise GeoError(f'latitude {lat_deg} out of range -90..90 deg')
    if not -180.0 <= lon_deg <= 180.0:
        raise GeoError(f'longitude {lon_deg} out of range -180..180 deg')
    if not -500.0 <= alt_m <= 20000.0:
        raise GeoError(f'altitude {alt_m} m out of range -500..20000 m AMSL')


class LocalFrame:
    """The map ENU frame about one origin, with vectorised conversions both ways.

    :param origin: the mission origin; map (0, 0, 0) is this point.
    """

    def __init__(self, origin: GeoPoint) -> None:
        self.origin = origin
        crs = pyproj.CRS.from_proj4(
            f'+proj=aeqd +lat_0={origin.lat_deg!r} +lon_0={origin.lon_deg!r} '
            '+x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs'
        )
        self._to_local = pyproj.Transformer.from_crs('EPSG:4326', crs, always_xy=True)
        self._to_geodetic = pyproj.Transformer.from_crs(crs, 'EPSG:4326', always_xy=True)

    def to_enu(
        self, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike = 0.0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Convert WGS84 (deg, deg, m AMSL) to map ENU (east, north, up in m)."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        east, north = self._to_local.transform(lon, lat)
        up = np.asarray(alt_m, dtype=np.float64) - self.origin.alt_m
        return np.asarray(east), np.asarray(north), np.broadcast_to(up, np.shape(east)).copy()

    def to_geodetic(
        self, east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike = 0.0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Convert map ENU (m) to WGS84 (lat deg, lon deg, alt m AMSL)."""
        east = np.asarray(east_m, dtype=np.float64)
        north = np.asarray(north_m, dtype=np.float64)
        lon, lat = self._to_geodetic.transform(east, north)
        alt = np.asarray(up_m, dtype=np.float64) + self.origin.alt_m
        return np.asarray(lat), np.asarray(lon), np.broadcast_to(alt, np.shape(lat)).copy()

    def point_to_enu(self, point: GeoPoint) -> tuple[float, float, float]:
        """Convert one GeoPoint to a map ENU tuple (m)."""
        e, n, u = self.to_enu(point.lat_deg, point.lon_deg, point.alt_m)
        return float(e), float(n), float(u)

    def enu_to_point(self, east_m: float, north_m: float, up_m: float = 0.0) -> GeoPoint:
        """Convert one map ENU position (m) to a GeoPoint."""
        lat, lon, alt = self.to_geodetic(east_m, north_m, up_m)
        return GeoPoint(float(lat), float(lon), float(alt))


#: Two mission origins closer than this (m) are the same one (a stored origin against a given).
SAME_ORIGIN_M = 1.0
#: The node parameters that carry the mission origin (flight_control, swarm_coordinator,
#: flood_mapper), in GeoPoint's order.
ORIGIN_PARAMETERS = ('origin_lat_deg', 'origin_lon_deg', 'origin_alt_m')


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Return the geodesic horizontal distance between two points (m, WGS84)."""
    _, _, dist = _GEOD.inv(a.lon_deg, a.lat_deg, b.lon_deg, b.lat_deg)
    return float(dist)


_GEOD = pyproj.Geod(ellps='WGS84')
