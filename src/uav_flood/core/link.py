"""A model of the radio link between a drone and the ground edge server, for emulation.

Kernel netem is not available on our machines, so the link emulator node relays messages and
asks this model when each one arrives. A :class:`LinkProfile` gives the link's bandwidth, one-way
delay, jitter, loss, bottleneck buffer and outages; a :class:`LinkScheduler` (one per direction)
is a deterministic, seedable simulation of that link:

- serialisation: a message of N bytes occupies the link for ``8 N / bandwidth`` seconds, and
  back-to-back messages queue behind each other (FIFO), as on a real bottleneck;
- buffer: a message that would wait longer than ``queue_limit_bytes`` of backlog is dropped
  (tail drop, reason ``queue``);
- delay and jitter: after serialisation it travels ``delay + N(0, jitter)`` seconds (never
  negative); arrivals keep their sending order, as netem with a rate does;
- loss: each message is lost with probability ``loss`` (after using the link's time, like a
  corrupted frame);
- outages: the link is down in fixed windows and/or periodically; a message that starts its
  transmission during an outage is dropped (``outage_mode: drop``) or held until the link
  returns (``outage_mode: hold``).

Profile files (``config/links/*.yaml``) hold one mapping; every key is optional except
``bandwidth_mbit_s``::

    name: degraded
    bandwidth_mbit_s: 3.0     # Mbit/s, each direction
    delay_ms: 150.0           # one-way propagation delay, ms
    jitter_ms: 20.0           # standard deviation of the delay, ms
    loss: 0.05                # probability a message is lost, 0..1
    queue_limit_kb: 1000      # bottleneck buffer, kB; 0 = unlimited
    outage_mode: drop         # drop or hold
    outage_period_s: 0.0      # s between outage starts; 0 = no periodic outages
    outage_duration_s: 0.0    # s each periodic outage lasts
    outage_offset_s: 0.0      # s from the link's start to the first periodic outage
    outages: [[10.0, 15.0]]   # extra outage windows [start_s, end_s] from the link's start

Times are seconds from the link's start (the emulator's epoch). No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
import random
import sys
from typing import Any

import yaml

from uav_flood.core.errors import ConfigError

OUTAGE_MODES = ('drop', 'hold')
#: Why a message did not arrive.
DROP_REASONS = ('loss', 'outage', 'queue')
PROFILE_KEYS = (
    'name',
    'bandwidth_mbit_s',
    'delay_ms',
    'jitter_ms',
    'loss',
    'queue_limit_kb',
    'outage_mode',
    'outage_period_s',
    'outage_duration_s',
    'outage_offset_s',
    'outages',
)


@dataclass(frozen=True)
class LinkProfile:
    """One direction's link characteristics (both directions of a link use the same profile).

    :param name: a label for logs and status.
    :param bandwidth_bps: bottleneck rate (bit/s).
    :param delay_s: one-way propagation delay (s).
    :param jitter_s: standard deviation of the delay (s).
    :param loss: probability that a message is lost, in [0, 1].
    :param queue_limit_bytes: bottleneck buffer (bytes); 0 means unlimited.
    :param outage_mode: ``drop`` or ``hold`` messages sent while the link is down.
    :param outage_period_s: period of the periodic outages (s); 0 disables them.
    :param outage_duration_s: length of each periodic outage (s).
    :param outage_offset_s: start of the first periodic outage (s from the link's start).
    :param outages: extra outage windows, (start, end) in s from the link's start.
    """

    name: str = 'link'
    bandwidth_bps: float = 20e6
    delay_s: float = 0.03
    jitter_s: float = 0.0
    loss: float = 0.0
    queue_limit_bytes: int = 1_000_000
    outage_mode: str = 'drop'
    outage_period_s: float = 0.0
    outage_duration_s: float = 0.0
    outage_offset_s: float = 0.0
    outages: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        """Check every value; raise ConfigError naming the bad one."""
        checks = (
            (math.isfinite(self.bandwidth_bps) and self.bandwidth_bps > 0, 'bandwidth_mbit_s'),
            (math.isfinite(self.delay_s) and self.delay_s >= 0, 'delay_ms'),
            (math.isfinite(self.jitter_s) and self.jitter_s >= 0, 'jitter_ms'),
            (0.0 <= self.loss <= 1.0, 'loss'),
            (self.queue_limit_bytes >= 0, 'queue_limit_kb'),
            (self.outage_mode in OUTAGE_MODES, 'outage_mode'),
            (math.isfinite(self.outage_period_s) and self.outage_period_s >= 0, 'outage_period_s'),
            (
                0 <= self.outage_duration_s <= self.outage_period_s or self.outage_period_s == 0,
                'outage_duration_s',
            ),
            (math.isfinite(self.outage_offset_s) and self.outage_offset_s >= 0, 'outage_offset_s'),
            (all(0 <= a < b for a, b in self.outages), 'outages'),
        )
        for ok, name in checks:
            if not ok:
                raise ConfigError(f'invalid value in link profile {self.name!r}', name)

    def in_outage(self, t: float) -> float | None:
        """Return when the outage covering time `t` ends (s), or None if the link is up."""
        end: float | None = None
        for start, stop in self.outages:
            if start <= t < stop:
                end = max(end or stop, stop)
        if self.outage_period_s > 0 and self.outage_duration_s > 0 and t >= self.outage_offset_s:
            phase = (t - self.outage_offset_s) % self.outage_period_s
            if phase < self.outage_duration_s:
                end = max(end or 0.0, t - phase + self.outage_duration_s)
        if end is not None:
            # Windows may abut or overlap: follow them to the end of the whole outage.
            later = self.in_outage(end)
            return later if later is not None and later > end else end
        return None

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = 'link profile') -> LinkProfile:
        """Build a profile from a profile file's mapping (units as in the file format).

        :raises ConfigError: an unknown key, a missing bandwidth or a value out of range.
        """
        if not isinstance(values, dict):
            raise ConfigError('a link profile must be a mapping of key: value', source)
        unknown = sorted(set(values) - set(PROFILE_KEYS))
        if unknown:
            raise ConfigError(
                f'unknown key(s) {unknown}; known: {", ".join(PROFILE_KEYS)}', source
            )
        if 'bandwidth_mbit_s' not in values:
            raise ConfigError('bandwidth_mbit_s is required', source)
        try:
            windows = tuple((float(a), float(b)) for a, b in values.get('outages') or ())
            return cls(
                name=str(values.get('name', Path(source).stem)),
                bandwidth_bps=float(values['bandwidth_mbit_s']) * 1e6,
                delay_s=float(values.get('delay_ms', 0.0)) / 1e3,
                jitter_s=float(values.get('jitter_ms', 0.0)) / 1e3,
                loss=float(values.get('loss', 0.0)),
                queue_limit_bytes=int(float(values.get('queue_limit_kb', 1000)) * 1000),
                outage_mode=str(values.get('outage_mode', 'drop')),
                outage_period_s=float(values.get('outage_period_s', 0.0)),
                outage_duration_s=float(values.get('outage_duration_s', 0.0)),
                outage_offset_s=float(values.get('outage_offset_s', 0.0)),
                outages=windows,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f'bad value: {exc}', source) from None
        except ConfigError as exc:
            raise ConfigError(f'{exc} (in {source})', exc.source) from None


def profile_dirs() -> list[Path]:
    """Directories searched for a profile given by name: the source tree's, then installed ones."""
    here = Path(__file__).resolve()
    dirs = [here.parents[3] / 'config' / 'links']
    try:  # a colcon install: share/ is where the ament index says
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory('uav_flood')) / 'config' / 'links')
    except (ImportError, LookupError, OSError, ValueError):
        pass
    dirs.append(Path(sys.prefix) / 'share' / 'uav_flood' / 'config' / 'links')
    return dirs


def load_profile(name_or_path: str) -> LinkProfile:
    """Load a profile from a YAML file, or by name (``good``) from config/links.

    :raises ConfigError: the file is missing or invalid.
    """
    path = Path(name_or_path)
    if path.suffix not in ('.yaml', '.yml'):
        found = [d / f'{name_or_path}.yaml' for d in profile_dirs()]
        existing = [p for p in found if p.is_file()]
        if not existing:
            known = sorted(
                {p.stem for d in profile_dirs() if d.is_dir() for p in d.glob('*.yaml')}
            )
            raise ConfigError(
                f'no link profile named {name_or_path!r}; known: {", ".join(known) or "none"}',
                'profile',
            )
        path = existing[0]
    if not path.is_file():
        raise ConfigError(f'link profile file {path} not found', 'profile')
    try:
        values = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f'cannot read link profile: {exc}', str(path)) from None
    return LinkProfile.from_mapping(values, str(path))


@dataclass(frozen=True)
class Delivery:
    """What happens to one message.

    :param arrival_s: when it arrives (s from the link's start), or None if it is dropped.
    :param reason: why it is dropped (one of DROP_REASONS), '' if it arrives.
    :param start_s: when its transmission started (s), after any queueing or hold.
    """

    arrival_s: float | None
    reason: str = ''
    start_s: float = 0.0


class LinkScheduler:
    """One direction of an emulated link: decides when (or whether) each message arrives.

    Deterministic for a given seed and sequence of calls. Calls must come in non-decreasing
    send time.

    :param profile: the link's characteristics.
    :param seed: seed of the loss and jitter draws.
    """

    def __init__(self, profile: LinkProfile, seed: int = 0) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self._busy_until = 0.0
        self._last_arrival = 0.0
        self.sent = 0
        self.delivered = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def backlog_bytes(self, t: float) -> float:
        """Return the bytes still waiting to be serialised at time `t` (s)."""
        return max(0.0, self._busy_until - t) * self.profile.bandwidth_bps / 8.0

    def send(self, t: float, nbytes: int) -> Delivery:
        """Offer a message of `nbytes` bytes at time `t` (s); return when it arrives.

        :param t: send time (s from the link's start).
        :param nbytes: the message's size on the wire (bytes).
        """
        p = self.profile
        self.sent += 1
        start = t
        end = p.in_outage(start)
        if end is not None:
            if p.outage_mode == 'drop':
                return self._drop('outage', start)
            start = end
        start = max(start, self._busy_until)
        if p.outage_mode == 'hold':
            # Queued behind others, it may now start inside a later outage.
            while (end := p.in_outage(start)) is not None:
                start = end
        elif p.in_outage(start) is not None:
            return self._drop('outage', start)
        if p.queue_limit_bytes and self.backlog_bytes(t) + nbytes > p.queue_limit_bytes:
            return self._drop('queue', start)
        self._busy_until = start + 8.0 * nbytes / p.bandwidth_bps
        # Draw both numbers every time, so loss does not shift the jitter sequence.
        lost = self._rng.random() < p.loss
        noise = self._rng.gauss(0.0, p.jitter_s) if p.jitter_s > 0 else 0.0
        if lost:
            return self._drop('loss', start)
        arrival = max(self._busy_until + max(0.0, p.delay_s + noise), self._last_arrival)
        self._last_arrival = arrival
        self.delivered += 1
        return Delivery(arrival, '', start)

    def _drop(self, reason: str, start: float) -> Delivery:
        self.dropped[reason] += 1
        return Delivery(None, reason, start)
