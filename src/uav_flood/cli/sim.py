"""`uav-flood sim`: run the simulator standalone on PX4 SITL's ports until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from uav_flood.core import sitl
from uav_flood.core.errors import ConfigError, UavFloodError

if TYPE_CHECKING:
    from uav_flood.sim.simulator import SimConfig, Simulator

SPEED_ENV = sitl.SPEED_FACTOR_ENV
#: PX4 SITL's default home (simulator.PX4_DEFAULT_HOME), as text: building the parser of
#: `uav-flood` must not import the simulator.
DEFAULT_ORIGIN = sitl.PX4_SITL_HOME_TEXT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood sim` to `parser`."""
    parser.add_argument(
        '--vehicles', type=int, default=1, metavar='N', help='number of vehicles (default: 1)'
    )
    parser.add_argument(
        '--origin',
        default=DEFAULT_ORIGIN,
        metavar='LAT,LON,ALT',
        help="where vehicle 0 stands, altitude AMSL (default: PX4 SITL's home, %(default)s)",
    )
    parser.add_argument(
        '--base-port',
        type=int,
        default=sitl.MAVLINK_BASE_PORT,
        metavar='P',
        help='vehicle i sends to UDP P+i and listens on P+40+i, like PX4 (default: %(default)s)',
    )
    parser.add_argument(
        '--local-base-port',
        type=int,
        default=None,
        metavar='P',
        help='vehicle i listens on UDP P+i (default: base port + 40)',
    )
    parser.add_argument(
        '--speed-factor',
        default=None,
        metavar='X',
        help=f'simulated seconds per wall second (default: ${SPEED_ENV} or 1.0)',
    )
    parser.add_argument(
        '--spacing',
        default='5.0',
        metavar='M',
        help='vehicle i starts i*M metres east of the origin (default: %(default)s)',
    )
    parser.add_argument(
        '--wind',
        default='0,0',
        metavar='N,E',
        help='constant wind towards north and east, m/s (default: %(default)s)',
    )
    gcs = parser.add_mutually_exclusive_group()
    gcs.add_argument(
        '--gcs',
        dest='gcs',
        action='store_true',
        default=True,
        help='also send to a ground station (QGroundControl) on --gcs-port (default)',
    )
    gcs.add_argument('--no-gcs', dest='gcs', action='store_false', help='no ground-station link')
    parser.add_argument(
        '--gcs-port',
        type=int,
        default=sitl.GCS_PORT,
        metavar='P',
        help='ground station port (14550)',
    )
    parser.add_argument(
        '--param',
        action='append',
        default=[],
        metavar='NAME=VALUE',
        help='set a PX4 or UFS_* parameter on every vehicle (repeatable), e.g. NAV_DLL_ACT=2',
    )
    parser.add_argument(
        '--host', default='127.0.0.1', help='address to use (default: %(default)s)'
    )
    parser.add_argument(
        '--gcs-host',
        default=None,
        metavar='ADDR',
        help='the ground station is at ADDR, not at --host (a drone on its own network host)',
    )
    parser.add_argument(
        '--instance',
        type=int,
        default=0,
        metavar='K',
        help='PX4 instance number of the first vehicle: ports, system id and spawn position '
        'follow it (default: 0); one simulator per drone host runs --vehicles 1 --instance i',
    )
    parser.add_argument('--seed', type=int, default=0, help='random seed (packet loss)')
    parser.add_argument(
        '--duration',
        default=None,
        metavar='S',
        help='stop after S wall seconds and print the CPU used (default: run until Ctrl-C)',
    )
    parser.add_argument(
        '--quiet', action='store_true', help='print only the start-up lines and warnings'
    )
    # A node graph may give the simulator a namespace (one simulator per drone host): the
    # runner then appends ROS arguments, which mean nothing here.
    parser.add_argument('--ros-args', nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


class UsageError(UavFloodError):
    """A command-line value is malformed."""


def _number(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f'{option}: expected a number, got {text!r}') from None
    if not math.isfinite(value):
        raise UsageError(f'{option}: expected a finite number, got {text!r}')
    return value


def _pair(text: str, option: str) -> tuple[float, float]:
    parts = text.split(',')
    if len(parts) != 2:
        raise UsageError(f'{option}: expected two numbers N,E, got {text!r}')
    return _number(parts[0], option), _number(parts[1], option)


def _params(items: list[str]) -> dict[str, float]:
    from uav_flood.sim.params import ParamStore

    params: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition('=')
        name = name.strip().upper()
        if not sep or not name:
            raise UsageError(f'--param: expected NAME=VALUE, got {item!r}')
        params[name] = _number(value.strip(), f'--param {name}')
        try:
            ParamStore({name: params[name]})
        except ConfigError as exc:
            raise UsageError(f'--param {exc}') from None
    return params


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the SimConfig the options describe.

    :raises UavFloodError: a malformed or out-of-range value (the message names the option).
    """
    from uav_flood.core.geo import GeoPoint
    from uav_flood.sim.simulator import SimConfig

    try:
        origin = GeoPoint.parse(args.origin)
    except UavFloodError as exc:
        raise UsageError(f'--origin: {exc}') from None
    speed_text = args.speed_factor if args.speed_factor is not None else os.environ.get(SPEED_ENV)
    option = '--speed-factor' if args.speed_factor is not None else f'${SPEED_ENV}'
    speed = _number(speed_text, option) if speed_text else 1.0
    return SimConfig(
        vehicles=args.vehicles,
        origin=origin,
        base_port=args.base_port,
        local_base_port=args.local_base_port,
        gcs_port=args.gcs_port if args.gcs else None,
        host=args.host,
        gcs_host=args.gcs_host,
        first_instance=args.instance,
        speed_factor=speed,
        spacing_m=_number(args.spacing, '--spacing'),
        wind_ne_m_s=_pair(args.wind, '--wind'),
        params=_params(args.param),
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """Run the simulator as `args` says; return the exit code (0, or 2 for bad input)."""
    from uav_flood.sim.simulator import Simulator

    try:
        config = config_from_args(args)
        duration = _number(args.duration, '--duration') if args.duration is not None else None
        sim = Simulator(config)
    except UavFloodError as exc:
        print(f'uav-flood sim: error: {exc}', file=sys.stderr)
        return 2
    _setup_logging(args.quiet)
    _print_banner(sim, config)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    wall0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        sim.start()
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    share = 100.0 * cpu / wall if wall > 0 else 0.0
    print(
        f'Stopped after {wall:.1f} s ({sim.time_s:.1f} simulated s); CPU {share:.1f}% of one core '
        f'({share / config.vehicles:.2f}% per vehicle).',
        flush=True,
    )
    return 0


def _print_banner(sim: Simulator, config: SimConfig) -> None:
    for vehicle in sim.vehicles:
        home = config.home_of(vehicle.instance)
        gcs = f', GCS udp {config.gcs_port}' if config.gcs_port is not None else ''
        print(
            f'{vehicle.name}: instance {vehicle.instance}, sysid {vehicle.system_id}, '
            f'listens on udp {config.host}:{vehicle.local_port}, sends to udp {vehicle.port}'
            f'{gcs}, home {home.lat_deg:.7f},{home.lon_deg:.7f},{home.alt_m:.1f}',
            flush=True,
        )
    print(
        f'Simulating {config.vehicles} vehicle(s) at {config.speed_factor:g}x real time; '
        'connect with MAVSDK udpin://0.0.0.0:PORT. Ctrl-C to stop.',
        flush=True,
    )


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime('%H:%M:%S', time.localtime(record.created))
        return f'{stamp} {record.getMessage().rstrip()}'


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger('uav_flood.sim')
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
