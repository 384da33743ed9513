"""The simulator: N PX4-like vehicles on PX4 SITL's UDP ports, run by one background thread.

One thread serves every vehicle with a select() loop: it wakes at 50 Hz (wall) or when a
datagram arrives, advances simulated time by `speed_factor` times the wall time elapsed, steps
each vehicle and sends the telemetry that is due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import logging
import math
import select
import threading
import time
from typing import Any

from uav_flood.core import sitl
from uav_flood.core.errors import ConfigError
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.sim.state import VehicleState
from uav_flood.sim.vehicle import SimVehicle

__all__ = ['PX4_DEFAULT_HOME', 'SimConfig', 'Simulator', 'VehicleState']

log = logging.getLogger(__name__)

#: PX4 SITL's default home (Zurich), as in PX4's launch scripts.
PX4_DEFAULT_HOME = sitl.PX4_SITL_HOME
#: Wall seconds between two ticks of the loop.
TICK_S = 0.02
#: Longest physics step (simulated seconds); a tick at a high speed factor takes several.
MAX_STEP_S = 0.05
#: Longest wall time a tick may account for: after a stall, simulated time lags instead of
#: jumping (as PX4 lockstep waits for the simulator).
MAX_TICK_WALL_S = 0.25


@dataclass(frozen=True)
class SimConfig:
    """How many vehicles, where, on which ports, how fast.

    :param vehicles: number of vehicles (instances 0..N-1, system ids 1..N).
    :param origin: where vehicle 0 stands (WGS84, altitude AMSL of the ground).
    :param base_port: UDP port vehicle i sends to is base_port + i (PX4: 14540).
    :param local_base_port: UDP port vehicle i listens on is local_base_port + i; None means
        base_port + 40 (PX4: 14580).
    :param gcs_port: UDP port of a ground station every vehicle also sends to (PX4: 14550), or
        None for no ground-station link.
    :param host: address to bind and to send to.
    :param gcs_host: where the ground station is, when not at `host` (a drone simulated on
        its own network host sends its ground-station link over the network).
    :param first_instance: the PX4 instance number of the first vehicle (the others follow):
        one simulator per drone host simulates vehicle i alone with first_instance i.
    :param speed_factor: simulated seconds per wall second.
    :param spacing_m: vehicle i starts spacing_m * i metres east of the origin.
    :param wind_ne_m_s: constant wind (north, east) in m/s (where the air moves to).
    :param params: parameter overrides applied to every vehicle (PX4 names, UFS_*).
    :param seed: random seed (packet loss).
    """

    vehicles: int = 1
    origin: GeoPoint = PX4_DEFAULT_HOME
    base_port: int = sitl.MAVLINK_BASE_PORT
    local_base_port: int | None = None
    gcs_port: int | None = None
    host: str = '127.0.0.1'
    gcs_host: str | None = None
    first_instance: int = 0
    speed_factor: float = 1.0
    spacing_m: float = 5.0
    wind_ne_m_s: tuple[float, float] = (0.0, 0.0)
    params: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject values that cannot work, with a message a user can act on."""
        if not 1 <= self.vehicles <= 100:
            raise ConfigError(f'vehicles must be 1..100, got {self.vehicles}', source='vehicles')
        low, high = sitl.SPEED_FACTOR_RANGE
        if not (math.isfinite(self.speed_factor) and low <= self.speed_factor <= high):
            raise ConfigError(
                f'speed factor must be {low:g}..{high:g}, got {self.speed_factor}',
                source='speed_factor',
            )
        if not (math.isfinite(self.spacing_m) and 0.0 <= self.spacing_m <= 10000.0):
            raise ConfigError(f'spacing must be 0..10000 m, got {self.spacing_m}', 'spacing_m')
        if not all(math.isfinite(w) and abs(w) <= 50.0 for w in self.wind_ne_m_s):
            raise ConfigError(f'wind must be within 50 m/s, got {self.wind_ne_m_s}', 'wind')
        for label, port in (('base_port', self.base_port), ('local_base_port', self.local_port0)):
            if not 1 <= port <= 65535 - self.vehicles - self.first_instance:
                raise ConfigError(f'port {port} out of range for {self.vehicles} vehicles', label)
        if not 0 <= self.first_instance <= 99:
            raise ConfigError(
                f'first instance must be 0..99, got {self.first_instance}', 'instance'
            )
        if self.gcs_port is not None and not 1 <= self.gcs_port <= 65535:
            raise ConfigError(f'port {self.gcs_port} out of range', 'gcs_port')

    @property
    def local_port0(self) -> int:
        """Return the UDP port vehicle 0 listens on."""
        return (
            self.local_base_port
            if self.local_base_port is not None
            else self.base_port + sitl.LOCAL_PORT_OFFSET
        )

    def home_of(self, instance: int) -> GeoPoint:
        """Return where vehicle `instance` stands at boot."""
        if instance == 0 or self.spacing_m == 0.0:
            return self.origin
        return LocalFrame(self.origin).enu_to_point(instance * self.spacing_m, 0.0, 0.0)


class Simulator:
    """Run `config.vehicles` simulated vehicles in a background thread.

    :param config: what to simulate.
    :param on_text: called from the simulator thread with (vehicle, severity, text) for every
        STATUSTEXT a vehicle sends (the CLI prints them).
    """

    def __init__(
        self,
        config: SimConfig,
        on_text: Callable[[SimVehicle, int, str], None] | None = None,
    ) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._time_s = 0.0
        self.errors: list[BaseException] = []
        params = dict(config.params)
        params.setdefault('UFS_WIND_N', config.wind_ne_m_s[0])
        params.setdefault('UFS_WIND_E', config.wind_ne_m_s[1])
        self.vehicles: list[SimVehicle] = []
        try:
            for i in range(config.first_instance, config.first_instance + config.vehicles):
                self.vehicles.append(
                    SimVehicle(
                        instance=i,
                        start=config.home_of(i),
                        port=config.base_port + i,
                        local_port=config.local_port0 + i,
                        gcs_port=config.gcs_port,
                        host=config.host,
                        gcs_host=config.gcs_host,
                        params=params,
                        seed=config.seed,
                        lock=self._lock,
                        on_text=on_text,
                    )
                )
        except BaseException:
            self._close()
            raise
        self._by_sock = {
            link.sock.fileno(): (vehicle, link)
            for vehicle in self.vehicles
            for link in vehicle.links
        }

    @property
    def time_s(self) -> float:
        """Return the simulated seconds since start."""
        with self._lock:
            return self._time_s

    def start(self) -> Simulator:
        """Start the simulation thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='uav-flood-sim', daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._close()

    def _close(self) -> None:
        for vehicle in self.vehicles:
            vehicle.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Poll `predicate` (wall time) until it is true or `timeout_s` passes; return it."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() >= deadline or self._stop.is_set():
                return predicate()
            time.sleep(0.02)
        return True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the simulation still (the lock) for a consistent look at several vehicles."""
        with self._lock:
            yield

    def _run(self) -> None:
        socks = [v_link[1].sock for v_link in self._by_sock.values()]
        last = time.monotonic()
        next_tick = last + TICK_S
        while not self._stop.is_set():
            timeout = max(next_tick - time.monotonic(), 0.0)
            try:
                readable, _, _ = select.select(socks, [], [], timeout)
            except (OSError, ValueError):
                if self._stop.is_set():
                    break
                raise
            now = time.monotonic()
            if readable:
                self._receive(readable, now)
            if now < next_tick:
                continue
            wall_dt = min(now - last, MAX_TICK_WALL_S)
            last = now
            next_tick = next_tick + TICK_S if now - next_tick < TICK_S else now + TICK_S
            self._tick(wall_dt * self.config.speed_factor, now)

    def _receive(self, readable: list[Any], now: float) -> None:
        with self._lock:
            for sock in readable:
                vehicle, link = self._by_sock[sock.fileno()]
                for _ in range(64):
                    try:
                        data, addr = sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # e.g. ICMP port unreachable reported on the socket
                    self._guarded(vehicle, vehicle.handle_datagram, link, data, addr, now)

    def _tick(self, sim_dt: float, now: float) -> None:
        with self._lock:
            self._time_s += sim_dt
            for vehicle in self.vehicles:
                self._guarded(vehicle, vehicle.update, sim_dt, now, MAX_STEP_S)

    def _guarded(self, vehicle: SimVehicle, func: Callable[..., None], *args: Any) -> None:
        # A bug in one vehicle's handling must not stop the others: log it, keep it for tests.
        try:
            func(*args)
        except Exception as exc:  # noqa: BLE001
            if len(self.errors) < 100:
                self.errors.append(exc)
            log.exception('%s: simulator error', vehicle.name)
