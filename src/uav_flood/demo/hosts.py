"""Each drone on its own network host: Linux network namespaces joined to the ground by veth.

`uav-flood demo --drone-hosts` runs each drone's nodes (its simulated autopilot, flight_control,
camera, segmentation) in a network namespace of its own, joined to the ground station's (this
machine's) by a veth pair: a point-to-point link with its own addresses, 10.213.N.1 on the
ground side and 10.213.N.2 on drone N's side. ROS 2 traffic between a drone and the ground then
crosses a real network interface: Fast DDS over UDPv4 only (no shared memory between hosts,
FASTDDS_BUILTIN_TRANSPORTS=UDPv4), with static peers (ROS_STATIC_PEERS) and no multicast
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST keeps discovery off every other network), and a Fast
DDS profile that keeps up to 64 addresses per remote participant (Fast DDS keeps 4 by default:
the ground has one address per drone link, and a drone whose link address is not among the
first 4 the ground announces would never hear the ground's data). The MAVLink
link between a drone's autopilot and its flight_control stays on the drone (its loopback), as
a serial wire on a real drone does; the ground station's MAVLink link (the demo's, QGroundControl's
14550) crosses the radio.

A radio outage is the ground side of a drone's veth set down (`ip link set ... down`): every
packet between that drone and the ground is lost until it is set up again, while the drone flies
on. Needs root (CI runs as root) and iproute2's `ip`; `check_available()` says what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import re
import secrets
import shutil
import subprocess
import tempfile
import threading

from uav_flood.core.errors import UavFloodError

#: The first two octets of the drones' point-to-point networks: drone N uses 10.213.N.0/24.
SUBNET_PREFIX = '10.213'
#: Fast DDS settings for traffic between hosts: UDP only, discovery by static peers.
DDS_ENV = {'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
#: The Fast DDS default participant profile of every node on a drone or ground host.
DDS_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <participant profile_name="uav_flood_drone_hosts" is_default_profile="true">
      <rtps>
        <allocation>
          <remote_locators>
            <max_unicast_locators>64</max_unicast_locators>
            <max_multicast_locators>4</max_multicast_locators>
          </remote_locators>
        </allocation>
      </rtps>
    </participant>
  </profiles>
</dds>
"""

Runner = Callable[[Sequence[str]], None]


class HostsError(UavFloodError):
    """Drone hosts cannot be made here (not root, no `ip`, no namespaces), or a command failed."""


def _run(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise HostsError(f'{" ".join(argv)}: {result.stderr.strip() or result.returncode}')


#: Network namespaces of drone hosts are named NETNS_PREFIX-<tag>-<vehicle>.
NETNS_PREFIX = 'uavflood'


def remove_stale_hosts() -> list[str]:
    """Remove drone-host namespaces no process runs in (left by a demo that was killed).

    A demo killed with SIGKILL (a test's timeout, the OOM killer) cannot remove its hosts, and
    their networks would refuse every later --drone-hosts demo. A namespace with a process in it
    belongs to a demo that runs: it is kept. Return the names removed.
    """
    try:
        listed = subprocess.run(
            ['ip', 'netns', 'list'], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    removed = []
    for line in listed.splitlines():
        name = line.split(' ')[0]
        if not name.startswith(f'{NETNS_PREFIX}-'):
            continue
        try:
            pids = subprocess.run(
                ['ip', 'netns', 'pids', name], capture_output=True, text=True, timeout=10
            )
            if pids.returncode != 0 or pids.stdout.strip():
                continue  # in use, or not ours to judge
            # The kernel frees a deleted namespace's veth links (and their ground-side peers'
            # addresses) later, on its own: delete the ground sides first, so that their
            # networks are free when this returns.
            for peer in _ground_peers(name):
                subprocess.run(['ip', 'link', 'del', peer], capture_output=True, timeout=10)
            subprocess.run(['ip', 'netns', 'del', name], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        removed.append(name)
    return removed


def _ground_peers(netns: str) -> list[str]:
    """Return the ground-namespace names of the veth peers of the links in `netns`."""
    inside = subprocess.run(
        ['ip', '-n', netns, '-o', 'link', 'show'], capture_output=True, text=True, timeout=10
    ).stdout
    indexes = set(re.findall(r'@if(\d+):', inside))
    ground = subprocess.run(
        ['ip', '-o', 'link', 'show'], capture_output=True, text=True, timeout=10
    ).stdout
    peers = []
    for line in ground.splitlines():
        match = re.match(r'(\d+): ([^:@\s]+)', line)
        if match and match.group(1) in indexes:
            peers.append(match.group(2))
    return peers


def check_available() -> None:
    """Raise HostsError saying what is missing to make drone hosts on this machine."""
    if shutil.which('ip') is None:
        raise HostsError("drone hosts need iproute2's 'ip' command (apt install iproute2)")
    if os.geteuid() != 0:
        raise HostsError('drone hosts need root (network namespaces and veth links): use sudo')
    if not os.path.isdir('/proc/self/ns') or not os.path.exists('/proc/self/ns/net'):
        raise HostsError('this kernel has no network namespaces')


@dataclass(frozen=True)
class DroneHost:
    """One drone's network host.

    :param vehicle: the drone's name, e.g. 'uav1'.
    :param netns: the network namespace its nodes run in.
    :param ground_if: the ground side of its veth link (in the ground's namespace).
    :param drone_if: the drone side of its veth link (in `netns`).
    :param ground_ip: the ground's address on this link.
    :param drone_ip: the drone's address on this link.
    :param dds_profile: the Fast DDS profile file of the hosts (DDS_PROFILE).
    """

    vehicle: str
    netns: str
    ground_if: str
    drone_if: str
    ground_ip: str
    drone_ip: str
    dds_profile: str

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """Return `argv` run on this host (`ip netns exec NETNS ...`)."""
        return ['ip', 'netns', 'exec', self.netns, *argv]

    def env(self) -> dict[str, str]:
        """Return the environment of this drone's ROS nodes: the ground as their DDS peer."""
        return {
            **DDS_ENV,
            'FASTDDS_DEFAULT_PROFILES_FILE': self.dds_profile,
            'ROS_STATIC_PEERS': self.ground_ip,
        }


def ground_env(hosts: Iterable[DroneHost]) -> dict[str, str]:
    """Return the environment of the ground's ROS nodes (and the demo's): every drone a peer."""
    hosts = list(hosts)
    return {
        **DDS_ENV,
        'FASTDDS_DEFAULT_PROFILES_FILE': hosts[0].dds_profile if hosts else '',
        'ROS_STATIC_PEERS': ';'.join(host.drone_ip for host in hosts),
    }


class DroneHosts:
    """Make a network host per drone; remove them on close (a context manager).

    :param vehicles: the drones, 'uav0', 'uav1', ... (N in uavN numbers its network).
    :param tag: a short unique tag for the names (default: random), so that two demos do not
        collide.
    :param run: runs one command (default: subprocess, raising HostsError on failure).
    :param profile_dir: where the Fast DDS profile is written (default: the temporary folder).
    """

    def __init__(
        self,
        vehicles: Sequence[str],
        tag: str | None = None,
        run: Runner | None = None,
        profile_dir: Path | None = None,
    ) -> None:
        self.tag = tag or secrets.token_hex(2)
        self._run = run or _run
        folder = profile_dir if profile_dir is not None else Path(tempfile.gettempdir())
        self.profile = folder / f'uavflood-{self.tag}-fastdds.xml'
        self.hosts: dict[str, DroneHost] = {}
        for vehicle in vehicles:
            index = int(vehicle.removeprefix('uav'))
            if not 0 <= index <= 254:
                raise HostsError(f'{vehicle}: drone hosts number drones 0..254')
            net = f'{SUBNET_PREFIX}.{index}'
            self.hosts[vehicle] = DroneHost(
                vehicle=vehicle,
                netns=f'{NETNS_PREFIX}-{self.tag}-{vehicle}',
                ground_if=f'uf{index}g{self.tag}',
                drone_if=f'uf{index}d{self.tag}',
                ground_ip=f'{net}.1',
                drone_ip=f'{net}.2',
                dds_profile=str(self.profile),
            )
        self._made: list[DroneHost] = []
        #: Namespaces of killed demos that create() removed.
        self.stale_removed: list[str] = []
        # Only the real runner touches this machine's namespaces (tests pass their own).
        self._real = run is None
        self._down: set[str] = set()
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def __enter__(self) -> DroneHosts:
        self.create()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create(self) -> None:
        """Make every host: namespace, veth pair, addresses, links up.

        Hosts left by a killed demo (no process in them) are removed first.

        :raises HostsError: a command failed (what was made is removed again).
        """
        self.stale_removed = remove_stale_hosts() if self._real else []
        try:
            shown = subprocess.run(
                ['ip', '-o', '-4', 'addr', 'show'], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            shown = ''
        if f' {SUBNET_PREFIX}.' in shown:
            raise HostsError(
                f'the drone host networks ({SUBNET_PREFIX}.N.0/24) are in use: is another '
                '--drone-hosts demo running? One at a time per machine'
            )
        try:
            self.profile.write_text(DDS_PROFILE, encoding='utf-8')
        except OSError as exc:
            raise HostsError(f'cannot write the DDS profile {self.profile}: {exc}') from None
        try:
            for host in self.hosts.values():
                self._run(['ip', 'netns', 'add', host.netns])
                self._made.append(host)
                self._run(
                    ['ip', 'link', 'add', host.ground_if, 'type', 'veth', 'peer', 'name',
                     host.drone_if]
                )  # fmt: skip
                self._run(['ip', 'link', 'set', host.drone_if, 'netns', host.netns])
                self._run(['ip', 'addr', 'add', f'{host.ground_ip}/24', 'dev', host.ground_if])
                self._run(['ip', 'link', 'set', host.ground_if, 'up'])
                inside = ['ip', 'netns', 'exec', host.netns, 'ip']
                self._run([*inside, 'addr', 'add', f'{host.drone_ip}/24', 'dev', host.drone_if])
                self._run([*inside, 'link', 'set', host.drone_if, 'up'])
                self._run([*inside, 'link', 'set', 'lo', 'up'])
        except BaseException:
            self.close()
            raise

    def ground_env(self) -> dict[str, str]:
        """Return the environment of the ground's ROS nodes: every drone as a DDS peer."""
        return ground_env(self.hosts.values())

    def cut(self, vehicle: str) -> None:
        """Cut the radio link between `vehicle` and the ground (until `restore`)."""
        host = self.hosts[vehicle]
        with self._lock:
            self._run(['ip', 'link', 'set', host.ground_if, 'down'])
            self._down.add(vehicle)

    def restore(self, vehicle: str) -> None:
        """Bring the radio link between `vehicle` and the ground back."""
        host = self.hosts[vehicle]
        with self._lock:
            if vehicle not in self._down:
                return
            self._run(['ip', 'link', 'set', host.ground_if, 'up'])
            self._down.discard(vehicle)

    def outage(self, vehicle: str, seconds: float, done: Callable[[], None] | None = None) -> None:
        """Cut `vehicle`'s radio link now and restore it `seconds` (wall) later.

        :param done: called after the link is back (from a timer thread).
        """
        self.cut(vehicle)

        def back() -> None:
            try:
                self.restore(vehicle)
            except HostsError:
                pass  # closed meanwhile: the link is gone anyway
            if done is not None:
                done()

        timer = threading.Timer(seconds, back)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        """Remove every host made (its veth goes with its namespace); idempotent."""
        for timer in self._timers:
            timer.cancel()
        self.profile.unlink(missing_ok=True)
        while self._made:
            host = self._made.pop()
            for argv in (
                ['ip', 'link', 'del', host.ground_if],
                ['ip', 'netns', 'del', host.netns],
            ):
                try:
                    self._run(argv)
                except HostsError:
                    pass  # already gone (the veth goes with the namespace)
