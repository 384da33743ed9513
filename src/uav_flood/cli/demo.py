"""`uav-flood demo`: fly a simulated swarm over the labelled flood and write a mission folder.

The whole stack runs, each node in its own process (the node-graph runner, runner/), on the
built-in simulator: plan, upload, fly, segment on board and at the edge, fuse, land. This process
watches the statuses (demo/monitor.py), shows a progress table, injects the optional fault,
stops the graph when every drone is at rest and writes the map, the recording and the report.
See docs/demo.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import faulthandler
import json
import math
import os
from pathlib import Path
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from uav_flood import __version__
from uav_flood.core import geojson, sitl
from uav_flood.core.coverage import Area, first_vertex
from uav_flood.core.errors import ConfigError, UavFloodError
from uav_flood.core.evaluation import area_cells, score_map
from uav_flood.core.geo import GeoPoint, LocalFrame
from uav_flood.core.georef import GridPatch, GridSpec
from uav_flood.core.responder_layers import LandCoverGrid
from uav_flood.core.user_files import input_overwritten, load_json, UserFileError
from uav_flood.demo.gcs import GroundStation
from uav_flood.demo.graph import (
    CROWDED_FRAME_SPACING_M,
    CROWDED_FROM_DRONES,
    DEFAULT_SWAP_TIME_S,
    demo_graph,
    DemoGraphConfig,
    graph_yaml,
)
from uav_flood.demo.hosts import check_available, DroneHosts, HostsError
from uav_flood.demo.progress import FailPlan, Fleet
from uav_flood.demo.report import (
    build_report,
    layers_report,
    recording_summary,
    RunFacts,
    write_report,
)
from uav_flood.runner.resources import UsageLog
from uav_flood.runner.spec import load_graph
from uav_flood.runner.supervisor import Supervisor
from uav_flood.testing import udp_port_free

PROG = 'uav-flood demo'
#: PX4 SITL's home, where the built-in simulator puts vehicle 0 by default.
DEFAULT_ORIGIN = sitl.PX4_SITL_HOME_TEXT
#: The --quick variant: the middle of the scene and a shorter timeout.
QUICK_AREA_M = (150.0, 90.0)
CONTROL_PERIOD_S = 0.25
#: From this many drones on, each drone's nodes share one process unless told otherwise.
GROUP_FROM_DRONES = 5
#: How often the node processes' memory and CPU are sampled (wall s).
RESOURCE_PERIOD_S = 2.0
#: How long nodes get to stop after SIGINT before SIGTERM (s).
SIGINT_TIMEOUT_S = 10.0
#: Altitude of the lowest layer (m).
ALTITUDE_M = 60.0
#: After the node graph stops, every thread's stack is printed if the demo is still busy this
#: long later (s): the teardown and the report take a few seconds.
TEARDOWN_DUMP_S = 120.0
#: The truth grid the map is scored on: the mapper's cell size (config/flood_mapper.yaml).
TRUTH_RESOLUTION_M = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood demo` to `parser`."""
    parser.add_argument('--drones', type=int, default=3, metavar='N', help='drones (default 3)')
    parser.add_argument(
        '--area',
        metavar='FILE.geojson',
        help='area of interest (GeoJSON polygon, WGS84); default: the labelled flood scene',
    )
    parser.add_argument(
        '--fail',
        action='append',
        default=[],
        metavar='TARGET@WHEN[:FAULT[=SIZE]]',
        help="inject a fault when the swarm's coverage reaches WHEN (PCT%%) or at 'start' "
        '(repeatable; docs/demo.md). A drone (uav2@40%%): battery (default: PX4 battery '
        'failure, it lands), kill (the autopilot dies), packet-loss=P%% (MAVLink), '
        'link-drop=Ns (MAVLink silent), radio-outage=Ns (its network link to the ground cut: '
        'needs --drone-hosts). A node process (flood_mapper@50%%): kill (SIGKILL; the runner '
        'restarts it)',
    )
    parser.add_argument(
        '--drone-hosts',
        action='store_true',
        help='run each drone (its autopilot and nodes) on its own network host: a Linux network '
        'namespace with a veth link to the ground, ROS 2 over UDP with static peers (needs root '
        'and iproute2; docs/demo.md)',
    )
    parser.add_argument(
        '--group-drone-nodes',
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each drone's flight_control, sim_camera and segmentation in one process "
        '(a node group) instead of one process each: less memory and CPU, a faster start '
        f'(default: grouped from {GROUP_FROM_DRONES} drones on, not with --drone-hosts; '
        'docs/demo.md)',
    )
    parser.add_argument(
        '--out',
        type=Path,
        metavar='DIR',
        help='mission folder, new or empty (default: ./mission-<UTC time>)',
    )
    parser.add_argument(
        '--quick',
        action='store_true',
        help=f'only the middle {QUICK_AREA_M[0]:g} m x {QUICK_AREA_M[1]:g} m of the scene '
        '(about a minute; the tests run this)',
    )
    parser.add_argument(
        '--speed-factor',
        type=float,
        metavar='X',
        help=f'simulated seconds per wall second (default {sitl.DEMO_SPEED_FACTOR:g})',
    )
    parser.add_argument(
        '--link',
        default='good',
        metavar='PROFILE',
        help='drone-to-edge link: good, degraded, outages or a profile file (default good)',
    )
    parser.add_argument(
        '--onboard-slowdown',
        type=float,
        default=6.0,
        metavar='X',
        help="EMULATION: the drones' computer is X times slower than this machine's CPU "
        '(default 6, about a Jetson-class CPU core), which is what makes offloading pay',
    )
    parser.add_argument(
        '--camera-rate',
        type=float,
        default=3.0,
        metavar='HZ',
        help='camera frames per wall second per drone (default 3: one frame per 7 m of flight '
        'at 5x)',
    )
    parser.add_argument(
        '--battery',
        type=float,
        metavar='S',
        help='simulated seconds of hover a full battery lasts (default 1500, 25 min); a '
        'smaller battery makes the coordinator fly each part in sorties with swaps between',
    )
    parser.add_argument(
        '--swap-time',
        type=float,
        default=DEFAULT_SWAP_TIME_S,
        metavar='S',
        help='simulated seconds from landing until the simulated crew has swapped the battery '
        f'(default {DEFAULT_SWAP_TIME_S:g}); the coordinator then sends the next sortie',
    )
    parser.add_argument(
        '--frame-spacing',
        type=float,
        metavar='M',
        help='how far a drone may fly between two frames its segmentation processes, beyond '
        "what the overlap allows for (m; the coordinator's frame_spacing_m: sweep legs end "
        f'that much later); default 0, {CROWDED_FRAME_SPACING_M:g} from {CROWDED_FROM_DRONES} '
        "drones on, when this machine runs every drone's segmentation",
    )
    parser.add_argument(
        '--origin',
        metavar='LAT,LON,ALT',
        help=f'map origin and home of uav0 (default {DEFAULT_ORIGIN}, or the centre of --area)',
    )
    parser.add_argument(
        '--base-port',
        type=int,
        default=sitl.MAVLINK_BASE_PORT,
        metavar='P',
        help='MAVLink: drone i on UDP P+i and P+40+i, as PX4 SITL (default 14540)',
    )
    parser.add_argument(
        '--gcs-port',
        type=int,
        default=sitl.GCS_PORT,
        metavar='P',
        help="the simulator's ground-station port, where the demo listens (default 14550)",
    )
    parser.add_argument(
        '--timeout',
        type=float,
        metavar='S',
        help='give up after S wall seconds (default 600, --quick 240)',
    )
    parser.add_argument(
        '--status-period',
        type=float,
        default=5.0,
        metavar='S',
        help='seconds between progress tables (default 5)',
    )
    parser.add_argument(
        '--verbose', action='store_true', help="show every node's log lines, not only warnings"
    )
    parser.add_argument(
        '--write-graph',
        type=Path,
        metavar='FILE.yaml',
        help='write the node graph (for uav-flood launch or ros2 launch) and exit',
    )


class _NodeOutput:
    """Where node output goes: warnings, errors and the runner's own lines (all with --verbose)."""

    def __init__(self, out: TextIO, verbose: bool) -> None:
        self._out, self._verbose = out, verbose

    def write(self, text: str) -> int:
        keep = self._verbose or any(
            word in text for word in ('[WARN]', '[ERROR]', '[FATAL]', '[launch]')
        )
        if keep and '] started ' not in text:
            self._out.write(text)
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def _scene_area(origin: GeoPoint, quick: bool) -> dict[str, Any]:
    """Return the scene's area (or its quick middle part) as GeoJSON in WGS84."""
    from uav_flood.sim.scene import FloodScene

    e0, n0, e1, n1 = FloodScene.load().bounds_enu
    if quick:
        ce, cn = (e0 + e1) / 2, (n0 + n1) / 2
        half_e, half_n = QUICK_AREA_M[0] / 2, QUICK_AREA_M[1] / 2
        e0, e1, n0, n1 = ce - half_e, ce + half_e, cn - half_n, cn + half_n
    frame = LocalFrame(origin)
    name = 'the middle of the flood scene' if quick else 'the flood scene'
    area = geojson.geometry(Polygon([(e0, n0), (e1, n0), (e1, n1), (e0, n1)]), frame)
    return geojson.feature_collection([geojson.feature(area, {'name': name})])


def _user_area(path: Path, origin_text: str | None) -> tuple[dict[str, Any], GeoPoint]:
    """Return an --area file's GeoJSON and the origin: --origin, else the area's centre.

    :raises UavFloodError: unreadable file, no area polygon in it, a bad --origin.
    """
    try:
        document = load_json(path)
    except UserFileError as exc:
        raise ConfigError(str(exc), '--area') from None
    if not isinstance(document, dict):
        raise ConfigError(f'{path} is not a GeoJSON object', '--area')
    if origin_text:
        return document, GeoPoint.parse(origin_text)
    # The same reader as the coordinator, in a frame about a vertex, to find the centre.
    frame = LocalFrame(first_vertex(document))
    centre = Area.from_geojson(document, frame).region.centroid
    return document, frame.enu_to_point(float(centre.x), float(centre.y))


def _prepare_out(out: Path) -> None:
    """Create the mission folder; refuse one that holds files (never overwrite a mission)."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f'{out} exists and is not a folder', '--out')
        if any(out.iterdir()):
            raise ConfigError(
                f'{out} is not empty; give a new folder (a mission is never overwritten)', '--out'
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f'cannot create {out}: {exc.strerror}', '--out') from None


class _Mission:
    """The control loop, in a thread beside the supervisor: progress, fault, completion."""

    def __init__(
        self,
        supervisor: Supervisor,
        fleet: Fleet,
        lock: threading.Lock,
        gcs: GroundStation,
        timeout_s: float,
        status_period_s: float,
        out: TextIO,
        hosts: DroneHosts | None = None,
    ) -> None:
        self.supervisor, self.fleet, self.lock, self.gcs = supervisor, fleet, lock, gcs
        self.hosts = hosts
        self.timeout_s, self.status_period_s, self.out = timeout_s, status_period_s, out
        self.start = time.monotonic()
        self.complete = False
        self.stop_reason = ''
        self.sim_first_armed: float | None = None
        self.sim_last_busy: float | None = None
        #: Memory and CPU of the node processes, sampled every RESOURCE_PERIOD_S.
        self.resources = UsageLog()
        self._next_sample = self.start + RESOURCE_PERIOD_S
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name='demo-control', daemon=True)

    def print(self, text: str) -> None:
        self.out.write(f'[demo] {text}\n')
        self.out.flush()

    def _run(self) -> None:
        next_table = self.start + min(self.status_period_s, 5.0)
        while not self._stop.wait(CONTROL_PERIOD_S):
            try:
                if self._step(next_table):
                    return
            except Exception as exc:  # noqa: BLE001  (this loop also enforces the timeout)
                self.print(f'control loop error (going on): {exc!r}')
            if time.monotonic() >= next_table:
                next_table = time.monotonic() + self.status_period_s
            if time.monotonic() - self.start > self.timeout_s and not self.stop_reason:
                # Only when a step kept failing: the step itself gives up in time.
                self.stop_reason = f'timeout after {self.timeout_s:.0f} s'
                self.supervisor.request_shutdown('demo timeout')
                return

    def _step(self, next_table: float) -> bool:
        """Run one control step; return True once the mission is over (shutdown requested)."""
        now = time.monotonic()
        if now >= self._next_sample:
            self._next_sample = now + RESOURCE_PERIOD_S
            self.resources.add(self.supervisor.pids())
        sim = self.gcs.sim_time_s()
        with self.lock:
            if sim is not None:
                self.fleet.note_sim_time(sim)
            fault = self.fleet.fault_due()
            finished = self.fleet.finished(now)
            flew = any(d.flew for d in self.fleet.drones.values())
            at_rest = all(d.at_rest() for d in self.fleet.drones.values())
            table = self.fleet.table(now - self.start, sim) if now >= next_table else None
        if sim is not None and flew:
            if self.sim_first_armed is None:
                self.sim_first_armed = sim
            if not at_rest or self.sim_last_busy is None:
                self.sim_last_busy = sim
        if table is not None:
            self.print('\n'.join(table))
        if fault is not None:
            self._inject(fault)
        if finished:
            self.complete = True
            with self.lock:
                self.stop_reason = f'every drone at rest: {self.fleet.rest_summary()}'
            self.print(f'mission complete: {self.stop_reason}')
            self.supervisor.request_shutdown('mission complete')
            return True
        if now - self.start > self.timeout_s:
            self.stop_reason = f'timeout after {self.timeout_s:.0f} s'
            self.print(f'giving up: {self.stop_reason} (see the logs in the mission folder)')
            self.supervisor.request_shutdown('demo timeout')
            return True
        return False

    def _inject(self, plan: FailPlan) -> None:
        try:
            if plan.node:
                result = self.supervisor.kill_node(plan.target)
            elif plan.fault == 'radio-outage':
                if self.hosts is None:
                    raise ValueError('a radio outage needs --drone-hosts')
                seconds = plan.value

                def back() -> None:
                    with self.lock:
                        self.fleet.radio_down.discard(plan.target)
                    self.print(f'{plan.target}: radio link back after {seconds:g} s')

                with self.lock:
                    self.fleet.radio_down.add(plan.target)
                self.hosts.outage(plan.target, seconds, back)
                result = f'radio link to the ground cut for {seconds:g} s (wall)'
            else:
                system_id = int(plan.target.removeprefix('uav')) + 1
                result = self.gcs.inject(system_id, plan.fault, plan.value)
        except (ValueError, KeyError, HostsError) as exc:
            result = f'not injected: {exc}'
        with self.lock:
            self.fleet.mark_injected(plan, time.monotonic(), result)
            coverage = self.fleet.coverage_pct
        self.print(f'FAULT {plan.describe()} at {coverage:.1f} % coverage: {result}')

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=2.0)


def _final_map(checkpoint: Path) -> Any:
    """Return the mapper's final checkpoint as a FloodMap, or None if there is none."""
    from uav_flood.export import load_map

    return load_map(checkpoint) if checkpoint.is_file() else None


def run(args: argparse.Namespace) -> int:  # noqa: C901  (one straight sequence of steps)
    """Run the demo; return the exit code (0 complete, 1 incomplete or a node failed, 2 usage)."""
    out_stream = sys.stdout
    try:
        quick = bool(args.quick)
        speed = args.speed_factor if args.speed_factor is not None else sitl.DEMO_SPEED_FACTOR
        timeout = args.timeout if args.timeout is not None else (240.0 if quick else 600.0)
        if not timeout > 0:
            raise ConfigError(f'{timeout}: must be > 0', '--timeout')
        if not args.status_period > 0:
            raise ConfigError(f'{args.status_period}: must be > 0', '--status-period')
        if args.area:
            area_json, origin = _user_area(Path(args.area), args.origin)
            area_name = Path(args.area).name
        else:
            origin = GeoPoint.parse(args.origin or DEFAULT_ORIGIN)
            area_json = _scene_area(origin, quick)
            area_name = area_json['features'][0]['properties']['name']
        area_enu = Area.from_geojson(area_json, LocalFrame(origin)).region
        vehicles = [f'uav{i}' for i in range(args.drones)]
        if args.drone_hosts:
            try:
                check_available()
            except HostsError as exc:
                raise ConfigError(str(exc), '--drone-hosts') from None
        out = args.out or Path(
            datetime.datetime.now(datetime.UTC).strftime('mission-%Y%m%d-%H%M%S')
        )
        out = out.resolve()
        config_dir = _config_dir()
        speeds = _speeds(config_dir)
        graph_config = DemoGraphConfig(
            drones=args.drones,
            area_file=out / 'area.geojson',
            out_dir=out,
            origin=origin,
            speed_factor=speed,
            base_port=args.base_port,
            gcs_port=args.gcs_port,
            link_profile=args.link,
            onboard_slowdown=args.onboard_slowdown,
            camera_rate_hz=args.camera_rate,
            altitude_m=ALTITUDE_M,
            config_dir=config_dir,
            battery_s=args.battery,
            swap_time_s=args.swap_time,
            frame_spacing_m=args.frame_spacing,
            group_drones=(
                args.group_drone_nodes
                if args.group_drone_nodes is not None
                else args.drones >= GROUP_FROM_DRONES and not args.drone_hosts
            ),
        )
        hosts = DroneHosts(vehicles, profile_dir=out) if args.drone_hosts else None
        if hosts is not None:
            graph_config = dataclasses.replace(graph_config, drone_hosts=hosts.hosts)
        graph = demo_graph(graph_config)
        labels = [_label(node) for node in graph['nodes']]
        fails = [FailPlan.parse(text, vehicles, labels) for text in args.fail]
        for plan in fails:
            if plan.fault == 'radio-outage' and hosts is None:
                raise ConfigError(
                    f"{plan.describe()}: a radio outage cuts a drone host's network link: "
                    'add --drone-hosts',
                    '--fail',
                )
        if args.write_graph is not None:
            clash = input_overwritten([args.write_graph], [args.area])
            if clash is not None:
                raise ConfigError(
                    f'{args.write_graph} is the --area file: writing the graph there would '
                    'destroy it',
                    '--write-graph',
                )
            area_file = out / 'area.geojson'
            area_text = json.dumps(area_json, indent=1)
            if area_file.exists() and area_file.read_text(encoding='utf-8') != area_text:
                raise ConfigError(
                    f'{area_file} exists with another area: the graph would fly that one; '
                    'choose another --out',
                    '--write-graph',
                )
            header = (
                f'The demo mission graph ({args.drones} drones), written by {PROG} '
                f'--write-graph.\nIt reads the area from {area_file} (written beside it) and '
                f'writes into {out}.'
            )
            out.mkdir(parents=True, exist_ok=True)
            area_file.write_text(area_text, encoding='utf-8')
            args.write_graph.write_text(graph_yaml(graph, header), encoding='utf-8')
            print(
                f'wrote {args.write_graph} and {area_file}; run it with: uav-flood launch '
                f'{args.write_graph}'
            )
            return 0
        from uav_flood.core.link import load_profile

        load_profile(args.link)  # a bad profile is a usage error here, not a dead node later
        ports = [args.gcs_port] + [
            p
            for i in range(args.drones)
            for p in (sitl.offboard_port(i, args.base_port), sitl.local_port(i, args.base_port))
        ]
        busy = [p for p in ports if not udp_port_free(p)]
        if busy:
            raise ConfigError(
                f'UDP port(s) {", ".join(map(str, busy))} in use (PX4 SITL or another demo '
                'running?); choose others with --base-port and --gcs-port',
                'ports',
            )
        _prepare_out(out)
        (out / 'area.geojson').write_text(json.dumps(area_json, indent=1), encoding='utf-8')
        (out / 'graph.yaml').write_text(
            graph_yaml(graph, f'Node graph of this mission, written by {PROG}.'),
            encoding='utf-8',
        )
        spec = load_graph(out / 'graph.yaml')
        truth, inside = _truth(area_enu)
    except (ConfigError, UavFloodError) as exc:
        print(f'{PROG}: error: {exc}', file=sys.stderr, flush=True)
        return 2

    fleet = Fleet(vehicles, fails)
    lock = threading.Lock()
    (out / 'logs').mkdir(exist_ok=True)
    supervisor = Supervisor(
        spec,
        out=_NodeOutput(out_stream, args.verbose),  # type: ignore[arg-type]
        log_dir=out / 'logs',
        # 15 processes stopping at once on 2 loaded cores: a node finishing an on-board
        # inference can take more than the runner's default 3 s.
        sigint_timeout=SIGINT_TIMEOUT_S,
    )
    settings = {
        'drones': args.drones,
        'area': area_name,
        'area_m2': round(float(area_enu.area), 1),
        'speed_factor': speed,
        'link_profile': args.link,
        'onboard_slowdown': args.onboard_slowdown,
        'camera_rate_hz': args.camera_rate,
        'quick': quick,
        'fail': ' '.join(args.fail),
        'drone_hosts': bool(hosts),
        'origin': f'{origin.lat_deg},{origin.lon_deg},{origin.alt_m}',
        'uav_flood_version': __version__,
        'started_utc': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
    }
    print(
        f'[demo] {args.drones} drones over {area_name} ({area_enu.area / 1e4:.2f} ha), '
        f'simulator at {speed:g}x, link {args.link}; mission folder {out}',
        flush=True,
    )
    print(f'[demo] starting {len(spec.nodes)} node processes (logs in {out / "logs"})', flush=True)
    started = time.monotonic()
    if hosts is not None:
        try:
            hosts.create()
        except HostsError as exc:
            print(f'{PROG}: error: --drone-hosts: {exc}', file=sys.stderr)
            return 2
        if hosts.stale_removed:
            print(
                f'[demo] removed drone hosts a killed demo left behind: '
                f'{", ".join(hosts.stale_removed)}',
                flush=True,
            )
        # The demo's own ROS node (the monitor) is on the ground host too.
        os.environ.update(hosts.ground_env())
        print(
            '[demo] drone hosts: '
            + ', '.join(f'{h.vehicle} {h.drone_ip} ({h.netns})' for h in hosts.hosts.values()),
            flush=True,
        )
    try:
        gcs = GroundStation(args.gcs_port, '0.0.0.0' if hosts is not None else '127.0.0.1')
    except OSError as exc:
        if hosts is not None:
            hosts.close()
        print(f'{PROG}: error: ground-station port {args.gcs_port}: {exc}', file=sys.stderr)
        return 2
    from uav_flood.demo.monitor import MonitorThread

    monitor = MonitorThread(fleet, lock, truth, inside)
    mission = _Mission(
        supervisor, fleet, lock, gcs, timeout, args.status_period, out_stream, hosts
    )
    previous = _install_signals(supervisor, mission)
    mission.thread.start()
    try:
        supervisor.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        # Should anything below hang, every thread's stack goes to stderr (the demo goes on
        # waiting: a test's timeout or Ctrl-C ends it), so the hang can be found.
        faulthandler.dump_traceback_later(TEARDOWN_DUMP_S)
        mission.stop()
        if hosts is not None:  # first: nothing else needs them, and a later hang must not
            hosts.close()  # leave them behind for the next demo
        monitor.close()
        gcs.close()
    wall = time.monotonic() - started
    if not mission.stop_reason:
        mission.stop_reason = 'the node graph stopped (a required node exited or Ctrl-C)'

    print('[demo] writing the map and the report', flush=True)
    notes = []
    flood_map = _final_map(out / 'flood_map.npz')
    score = None
    layers = None
    if flood_map is not None and flood_map.bounds_cells is not None:
        # The answer is about the area: what the cameras saw beyond it (here, the grey around
        # the simulated scene) stays in flood_map.npz and mission.mcap, not in the product.
        cleared = flood_map.forget_outside(lambda e, n: shapely.contains_xy(area_enu, e, n))
        notes.append(f'{cleared} observed cells outside the area are left out of map/')
        score = score_map(flood_map.to_occupancy(), truth, inside)
        from uav_flood.export import export, load_tracks

        tracks_file = out / 'flood_map.npz.tracks.json'
        tracks = load_tracks(tracks_file) if tracks_file.exists() else {}
        land_cover = _final_land_cover(out / 'flood_map.npz.classes.npz', area_enu)
        if land_cover is not None:
            water_m2 = (
                float(np.count_nonzero(flood_map.water_mask(0.5))) * flood_map.resolution_m**2
            )
            layers = layers_report(land_cover, _class_truth(area_enu), inside, score, water_m2)
        export(
            flood_map,
            origin,
            out / 'map',
            tracks,
            title='Flood map (uav-flood demo)',
            land_cover=land_cover,
        )
    else:
        notes.append('the mapper left no map: nothing was observed')
    sim_time = (
        mission.sim_last_busy - mission.sim_first_armed
        if mission.sim_first_armed is not None and mission.sim_last_busy is not None
        else math.nan
    )
    facts = RunFacts(
        settings=settings,
        complete=mission.complete,
        stop_reason=mission.stop_reason,
        wall_time_s=wall,
        mission_time_s=sim_time,
        lower_bound_time_s=_lower_bound(fleet, args.drones, ALTITUDE_M, speeds),
        processes=supervisor.outcomes(),
        notes=notes,
        forced_at_shutdown=supervisor.forced_stops(),
        resources=mission.resources,
        layers=layers,
    )
    report = build_report(facts, fleet, score, recording_summary(out / 'mission.mcap'))
    paths = write_report(report, out)
    _print_summary(report, out, paths, out_stream)
    # A node killed on purpose (--fail NODE@...:kill) and restarted cleanly is what was asked for.
    killed = {plan.target for plan in fails if plan.node}
    unexpected = [
        label
        for label in report['nodes_failed']
        if label not in killed or report['processes'][label]['exit_code'] != 0
    ]
    faulthandler.cancel_dump_traceback_later()
    ok = report['complete'] and not unexpected
    return 0 if ok else 1


def _label(node: dict[str, Any]) -> str:
    """Return a graph node's label as the runner makes it ('uav1/segmentation').

    A node of a group runs in the group's process, which the group's name labels.
    """
    if 'group' in node:
        return str(node['group'])
    if 'label' in node:
        return str(node['label'])
    namespace = str(node.get('namespace') or '').strip('/')
    return f'{namespace}/{node["executable"]}' if namespace else str(node['executable'])


def _config_dir() -> Path:
    """Return the folder of the node parameter files: the source tree's, else an installed one."""
    from uav_flood.runner.spec import share_dirs

    candidates = [Path(__file__).resolve().parents[3] / 'config']
    candidates += [d / 'config' for d in share_dirs('uav_flood')]
    for folder in candidates:
        if (folder / 'flight_control.yaml').is_file():
            return folder
    looked = ', '.join(str(c) for c in candidates)
    raise ConfigError(f'node parameter files not found (looked in {looked})', 'config')


def _final_land_cover(path: Path, area_enu: BaseGeometry) -> LandCoverGrid | None:
    """Return the mapper's final land cover inside the area (-1 outside), None if none."""
    from uav_flood.export import load_land_cover

    if not path.is_file():
        return None
    cover = load_land_cover(path, TRUTH_RESOLUTION_M)
    labels = np.asarray(cover.labels).copy()
    rows, cols = labels.shape
    res = cover.resolution_m
    grid = GridPatch(cover.origin_east, cover.origin_north, res, cols, rows, labels)
    outside = ~area_cells(grid, area_enu)
    labels[outside] = -1
    confidence = np.where(outside, 0.0, cover.confidence).astype(np.float32)
    return LandCoverGrid(labels, confidence, cover.origin_east, cover.origin_north, res)


def _class_truth(area_enu: BaseGeometry) -> GridPatch:
    """Return the scene's class truth over the area's bounds (the grid of _truth)."""
    from uav_flood.sim.scene import FloodScene

    grid = GridSpec(resolution_m=TRUTH_RESOLUTION_M)
    return FloodScene.load().truth_patch(grid, tuple(area_enu.bounds), classes=True)


def _truth(area_enu: BaseGeometry) -> tuple[GridPatch, NDArray[np.bool_]]:
    """Return the scene's ground truth over the area's bounds and the area's cells."""
    from uav_flood.sim.scene import FloodScene

    grid = GridSpec(resolution_m=TRUTH_RESOLUTION_M)
    truth = FloodScene.load().truth_patch(grid, tuple(area_enu.bounds))
    return truth, area_cells(truth, area_enu)


def _speeds(config_dir: Path) -> tuple[float, float, float]:
    """Return the coordinator's cruise, climb and descent speeds (m/s) from its parameter file."""
    import yaml

    try:
        text = (config_dir / 'swarm_coordinator.yaml').read_text(encoding='utf-8')
        params = yaml.safe_load(text)['/**']['ros__parameters']
        return (
            float(params['cruise_speed_m_s']),
            float(params['climb_speed_m_s']),
            float(params['descent_speed_m_s']),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f'unreadable speeds: {exc}', str(config_dir)) from None


def _lower_bound(
    fleet: Fleet, drones: int, altitude_m: float, speeds: tuple[float, float, float]
) -> float:
    """Return the shortest conceivable mission time (simulated s).

    Climb to the altitude, sweep the area with the drones together at cruise speed without a
    single turn or transit (area / swath / (drones x cruise speed)), descend: no plan can be
    faster. Speeds are the coordinator's (config/swarm_coordinator.yaml), which the demo keeps.
    """
    area, swath = fleet.swarm.area_m2, fleet.swarm.swath_m
    if area is None or swath is None:
        return math.nan
    cruise, climb, descent = speeds
    return area / swath / (drones * cruise) + altitude_m / climb + altitude_m / descent


def _install_signals(supervisor: Supervisor, mission: _Mission) -> dict[int, Any]:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        mission.stop_reason = f'stopped by {signal.Signals(signum).name}'
        supervisor.request_shutdown(signal.Signals(signum).name)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, on_signal)
    return previous


def _print_summary(report: dict[str, Any], out: Path, paths: list[Path], stream: TextIO) -> None:
    lat = report['latency_ms']

    def f(value: Any, digits: int = 3) -> str:
        return f'{value:.{digits}f}' if isinstance(value, float) else str(value)

    lines = [
        'mission complete'
        if report['complete']
        else f'mission NOT complete: {report["stop_reason"]}',
        f'coverage {f(report["coverage_pct"], 2)} % of the area, map IoU {f(report["map_iou"])} '
        f'(precision {f(report["map_precision"])}, recall {f(report["map_recall"])})',
        f'mission time {f(report["mission_time_s"], 0)} s simulated (lower bound '
        f'{f(report["lower_bound_time_s"], 0)} s: {f(report["mission_time_over_bound"], 2)} x), '
        f'wall {f(report["wall_time_s"], 0)} s',
        f'frames local/edge {report["frames"]["local"]}/{report["frames"]["edge"]}, latency ms '
        f'local p50/p95 {lat["local_p50"]}/{lat["local_p95"]}, edge p50/p95 '
        f'{lat["edge_p50"]}/{lat["edge_p95"]}',
        'drones: '
        + ', '.join(
            f'{d["name"]} {"landed" if d["landed"] else "NOT landed"}'
            f'{" disarmed" if d["disarmed"] else " ARMED"}'
            f'{" (failed: " + d["fault"] + ")" if d["failed"] else ""}'
            for d in report['drones']
        ),
    ]
    layers = report.get('layers')
    if layers:
        building = layers['flooded_building']
        flooded, passable = layers['flooded_road'], layers['passable_road']
        lines.append(
            f'layers: {building["count"]} flooded buildings (truth {building["truth_count"]}, '
            f'IoU {f(building["iou"])}); roads {f(passable["length_km"], 2)} km passable (IoU '
            f'{f(passable["iou"])}), {f(flooded["length_km"], 2)} km flooded (IoU '
            f'{f(flooded["iou"])})'
        )
    if report['nodes_failed']:
        lines.append(f'nodes that failed or were restarted: {", ".join(report["nodes_failed"])}')
    for label, sig in report['nodes_stopped_by_force'].items():
        lines.append(
            f'warning: {label} did not stop when asked and was stopped with {sig}; every '
            'observation had been saved, so nothing was lost (its thread stacks are in the log)'
        )
    lines += [f'wrote {p}' for p in paths]
    lines.append(f'map: {out / "map" / "flood_map.png"}, {out / "map" / "flood.geojson"}')
    stream.write(''.join(f'[demo] {line}\n' for line in lines))
    stream.flush()
