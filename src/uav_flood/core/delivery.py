"""Exactly-once delivery of flood observations: the drone's outbox, the mapper's ledger (no rclpy).

An observation is identified by its vehicle and the stamp of its source frame in integer
nanoseconds (`stamp_ns`): a vehicle's camera takes one frame per instant and the segmentation
node publishes one observation per frame (an edge result and an on-board hedge of the same frame
never both), so the pair is unique. The id travels in the message itself (the vehicle is the
topic's namespace, the stamp the header's), so no custom message is needed; acknowledgements
are lists of stamps (std_msgs/Int64MultiArray) on a per-vehicle topic.

Drone side, `Outbox`: every observation is kept (bounded in observations and bytes) until the
mapper acknowledges it, and re-sent when no acknowledgement came: after ack_timeout_s, then with
the wait doubling up to max_backoff_s; re-sends are paced by a token bucket (messages and bytes
per second) so the backlog of a long outage does not swamp the link when it returns. An ack
after a silence longer than ack_timeout_s is taken as "the link is back": everything waiting in
backoff becomes due at once (still paced). When the outbox is full the oldest observation is
dropped and counted (`dropped_full`), never silently.

Mapper side, `DeliveryLedger`: remembers the ids it fused per vehicle (a bounded window, see
below) to fuse each id once, and acknowledges only what is durable: with a checkpoint file, an
id is acknowledged once a checkpoint holding it is on disk (`mark_durable`), so a mapper killed
between fusing and saving gets the observation re-sent after its restart. Refused observations
are a final decision and acknowledged at once; observations the mapper cannot judge yet (no pose
known) are neither fused nor acknowledged, so the drone re-sends them.

The window: per vehicle at most `window` ids are remembered; beyond that the smallest stamps
(the oldest frames) that are already durable are forgotten and the vehicle's `floor` rises to the
largest stamp forgotten. An id at or below the floor that is not remembered is refused as
`expired` (counted, acknowledged): it may have been fused already. With the default 20000 ids a
vehicle segmenting 2 frames a second would need to fuse 20000 newer observations (about 2.8 h)
while one observation still waited in its outbox for that to happen.

`save_state` / `load_state` write and read the ledger (and whatever else the mapper adds) beside
the map checkpoint; see docs/flood_map.md ("Delivery guarantees").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import enum
import heapq
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Generic, TypeVar
import zipfile
import zlib

import numpy as np
from numpy.typing import NDArray

from uav_flood.core.atomic_file import write_atomic
from uav_flood.core.errors import ConfigError, UavFloodError

__all__ = [
    'DeliveryLedger',
    'DeliveryStateError',
    'Outbox',
    'OutboxConfig',
    'Seen',
    'STATE_FORMAT',
    'STATE_VERSION',
    'load_state',
    'message_bytes',
    'save_state',
    'stamp_ns',
]

#: Bytes counted for one kept observation besides its cells: the message object, its header
#: and the outbox entry (generous: a Python OccupancyGrid with its fields is under 1 KiB).
MESSAGE_OVERHEAD_BYTES = 1024
STATE_FORMAT = 'uav_flood.delivery'
STATE_VERSION = 1
#: Largest array a state file may hold (values; refused before it is read).
_MAX_STATE_VALUES = 40_000_000

P = TypeVar('P')


class DeliveryStateError(UavFloodError):
    """A delivery state file is unreadable: corrupt, truncated, another format or version.

    :param path: the file.
    :param message: what is wrong.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f'delivery state {path}: {message}')


def stamp_ns(sec: int, nanosec: int) -> int:
    """Return a builtin_interfaces/Time's fields as integer nanoseconds: an observation's id."""
    return int(sec) * 1_000_000_000 + int(nanosec)


def message_bytes(cells: int) -> int:
    """Return the bytes an outbox counts for an observation of `cells` cells (int8 each)."""
    return int(cells) + MESSAGE_OVERHEAD_BYTES


# ---- drone side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxConfig:
    """The drone-side store-and-forward bounds and timing.

    :param max_pending: most observations kept awaiting an acknowledgement; 0 turns the outbox
        off (each observation is published once and forgotten).
    :param max_bytes: most bytes kept (message_bytes of each), whichever bound is hit first.
    :param ack_timeout_s: first re-send this long after a send without acknowledgement (s);
        must exceed the mapper's acknowledgement delay (its checkpoint_interval_s).
    :param max_backoff_s: the wait between re-sends doubles up to this (s).
    :param resend_rate_hz: at most this many re-sends a second (first sends are not paced).
    :param resend_bytes_per_s: at most this many re-sent bytes a second (bytes/s).
    :param recent_ids: ids of this many recent observations are remembered to refuse a second
        observation with the same id (a collision) after the first was acknowledged.
    :raises ConfigError: a value out of range (named by field).
    """

    max_pending: int = 2000
    max_bytes: int = 64 * 2**20
    ack_timeout_s: float = 6.0
    max_backoff_s: float = 30.0
    resend_rate_hz: float = 20.0
    resend_bytes_per_s: float = 250_000.0
    recent_ids: int = 4096

    def __post_init__(self) -> None:
        """Check the ranges."""
        if self.max_pending < 0:
            raise ConfigError(f'must be >= 0, got {self.max_pending}', 'max_pending')
        if self.max_bytes < 1:
            raise ConfigError(f'must be >= 1, got {self.max_bytes}', 'max_bytes')
        for name in ('ack_timeout_s', 'max_backoff_s', 'resend_rate_hz', 'resend_bytes_per_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {value}', name)
        if self.max_backoff_s < self.ack_timeout_s:
            raise ConfigError(
                f'must be >= ack_timeout_s ({self.ack_timeout_s}), got {self.max_backoff_s}',
                'max_backoff_s',
            )
        if self.recent_ids < 1:
            raise ConfigError(f'must be >= 1, got {self.recent_ids}', 'recent_ids')

    @property
    def enabled(self) -> bool:
        """Return whether observations are kept until acknowledged."""
        return self.max_pending > 0


@dataclass
class _Entry(Generic[P]):
    payload: P
    size_bytes: int
    sends: int  # how often it was published, the first send included
    due_s: float  # next re-send (monotonic s)


class _Bucket:
    """A token bucket with one second of burst; a send may overdraw it (a large message)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.at: float | None = None

    def refill(self, now_s: float) -> None:
        if self.at is not None:
            self.tokens = min(self.capacity, self.tokens + (now_s - self.at) * self.rate)
        self.at = now_s


class Outbox(Generic[P]):
    """Observations sent and not yet acknowledged, re-sent with backoff and pacing.

    Not thread-safe: the node calls it under its own lock. Times are monotonic seconds.

    :param config: bounds and timing.
    """

    def __init__(self, config: OutboxConfig | None = None) -> None:
        self.config = config or OutboxConfig()
        self._entries: OrderedDict[int, _Entry[P]] = OrderedDict()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._bytes = 0
        self._messages = _Bucket(self.config.resend_rate_hz)
        self._byte_budget = _Bucket(self.config.resend_bytes_per_s)
        self._last_ack_s: float | None = None
        self.added = 0
        self.acked = 0
        self.resent = 0
        self.resent_bytes = 0
        self.dropped_full = 0
        self.collisions = 0
        self.acks_unknown = 0

    def __len__(self) -> int:
        """Return how many observations await an acknowledgement."""
        return len(self._entries)

    def __contains__(self, obs_id: object) -> bool:
        """Return whether an id awaits an acknowledgement."""
        return obs_id in self._entries

    @property
    def pending_bytes(self) -> int:
        """Return the bytes held (message_bytes of each observation kept)."""
        return self._bytes

    def add(self, obs_id: int, payload: P, size_bytes: int, now_s: float) -> bool:
        """Take an observation that the caller publishes now (its first send).

        When the outbox is full, the oldest observations are dropped (counted in
        dropped_full) until this one fits; one larger than max_bytes on its own is sent once
        and not kept (counted too).

        :param obs_id: the observation's stamp (ns).
        :param payload: what to re-send (the message).
        :param size_bytes: its size for the byte bound (message_bytes).
        :returns: False if the id was seen recently (a collision: counted, not to be sent).
        """
        obs_id = int(obs_id)
        if obs_id in self._entries or obs_id in self._recent:
            self.collisions += 1
            return False
        self._recent[obs_id] = None
        while len(self._recent) > self.config.recent_ids:
            self._recent.popitem(last=False)
        self.added += 1
        if not self.config.enabled:
            return True
        if size_bytes > self.config.max_bytes:
            self.dropped_full += 1
            return True
        while self._entries and (
            len(self._entries) >= self.config.max_pending
            or self._bytes + size_bytes > self.config.max_bytes
        ):
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.size_bytes
            self.dropped_full += 1
        self._entries[obs_id] = _Entry(payload, size_bytes, 1, now_s + self.config.ack_timeout_s)
        self._bytes += size_bytes
        return True

    def ack(self, ids: Iterable[int], now_s: float) -> int:
        """Forget acknowledged observations; return how many were pending.

        An acknowledgement after a silence longer than ack_timeout_s means the link is back:
        every observation already re-sent at least once becomes due now (still paced).
        """
        count = 0
        for obs_id in ids:
            entry = self._entries.pop(int(obs_id), None)
            if entry is None:
                self.acks_unknown += 1
                continue
            self._bytes -= entry.size_bytes
            count += 1
        self.acked += count
        silent = self._last_ack_s is None or now_s - self._last_ack_s > self.config.ack_timeout_s
        self._last_ack_s = now_s
        if count and silent:
            for entry in self._entries.values():
                if entry.sends >= 2:
                    entry.due_s = min(entry.due_s, now_s)
        return count

    def due(self, now_s: float) -> list[tuple[int, P]]:
        """Return the observations to re-send now, oldest first, within the pacing budget.

        Each returned observation counts as re-sent; its next re-send waits twice as long as the
        last (ack_timeout_s, 2x, 4x ... up to max_backoff_s).
        """
        out: list[tuple[int, P]] = []
        if not self._entries:
            return out
        self._messages.refill(now_s)
        self._byte_budget.refill(now_s)
        for obs_id, entry in self._entries.items():
            if self._messages.tokens < 1.0 or self._byte_budget.tokens <= 0.0:
                break
            if entry.due_s > now_s:
                continue
            self._messages.tokens -= 1.0
            self._byte_budget.tokens -= entry.size_bytes
            wait = self.config.ack_timeout_s * 2.0 ** min(entry.sends, 30)
            entry.sends += 1
            entry.due_s = now_s + min(self.config.max_backoff_s, wait)
            self.resent += 1
            self.resent_bytes += entry.size_bytes
            out.append((obs_id, entry.payload))
        return out

    def stats(self) -> dict[str, int]:
        """Return the counters, as published in segmentation/status (outbox_<key>)."""
        return {
            'pending': len(self._entries),
            'pending_bytes': self._bytes,
            'added': self.added,
            'acked': self.acked,
            'resent': self.resent,
            'resent_bytes': self.resent_bytes,
            'dropped_full': self.dropped_full,
            'id_collisions': self.collisions,
            'acks_unknown': self.acks_unknown,
        }


# ---- mapper side ------------------------------------------------------------------------------


class Seen(enum.StrEnum):
    """What the ledger knows of an arriving id."""

    NEW = 'new'  # never fused: check it and fuse it
    DUPLICATE = 'duplicate'  # fused already (counted; acknowledged once durable)
    EXPIRED = 'expired'  # at or below the vehicle's floor: may have been fused (counted, acked)


class DeliveryLedger:
    """Which observation ids the mapper fused, which are durable, and what to acknowledge.

    Sequence numbers are the map's `observations_applied` right after an observation was fused
    (strictly increasing); a checkpoint holding `observations_applied` = N holds every fusion
    with sequence number <= N.

    :param vehicles: the vehicle names.
    :param window: most ids remembered per vehicle (see the module docstring).
    :param immediate: every fusion is durable at once (no checkpoint file): acknowledge at once.
    :raises ConfigError: window < 1.
    """

    def __init__(self, vehicles: Iterable[str], window: int = 20_000, immediate: bool = False):
        if window < 1:
            raise ConfigError(f'must be >= 1, got {window}', 'dedupe_window')
        self.window = int(window)
        self.immediate = immediate
        self.vehicles = tuple(vehicles)
        self._fused: dict[str, dict[int, int]] = {v: {} for v in self.vehicles}
        self._heaps: dict[str, list[int]] = {v: [] for v in self.vehicles}
        self.floor: dict[str, int] = dict.fromkeys(self.vehicles, -1)
        self._awaiting: list[tuple[int, str, int]] = []  # (seq, vehicle, id), seq ascending
        self._acks: dict[str, dict[int, None]] = {v: {} for v in self.vehicles}
        self.durable_seq = 0
        self.fused = 0
        self.duplicates = 0
        self.expired = 0
        self.acked = 0

    def remembered(self, vehicle: str) -> int:
        """Return how many ids of a vehicle the ledger holds."""
        return len(self._fused[vehicle])

    @property
    def awaiting_checkpoint(self) -> int:
        """Return how many fused observations wait for a checkpoint before their ack."""
        return len(self._awaiting)

    def known(self, vehicle: str, obs_id: int) -> bool:
        """Return whether an id is fused already or too old to be (check() without counting)."""
        return obs_id in self._fused[vehicle] or obs_id <= self.floor[vehicle]

    def check(self, vehicle: str, obs_id: int) -> Seen:
        """Classify an arriving id; count duplicates and expired ids and queue their acks."""
        seq = self._fused[vehicle].get(obs_id)
        if seq is not None:
            self.duplicates += 1
            if seq <= self.durable_seq or self.immediate:
                self._acks[vehicle][obs_id] = None
            return Seen.DUPLICATE
        if obs_id <= self.floor[vehicle]:
            self.expired += 1
            self._acks[vehicle][obs_id] = None
            return Seen.EXPIRED
        return Seen.NEW

    def record_fused(self, vehicle: str, obs_id: int, seq: int) -> None:
        """Remember a fused id with its sequence number; ack it now or once durable."""
        self._fused[vehicle][obs_id] = seq
        heapq.heappush(self._heaps[vehicle], obs_id)
        self.fused += 1
        if self.immediate:
            self.durable_seq = max(self.durable_seq, seq)
            self._acks[vehicle][obs_id] = None
        else:
            self._awaiting.append((seq, vehicle, obs_id))
        self._evict(vehicle)

    def record_final(self, vehicle: str, obs_id: int) -> None:
        """Acknowledge an id decided for good without fusing it (refused)."""
        self._acks[vehicle][obs_id] = None

    def mark_durable(self, seq: int) -> int:
        """Record that a checkpoint holding sequence numbers <= seq is on disk; return new acks."""
        self.durable_seq = max(self.durable_seq, int(seq))
        done = 0
        while done < len(self._awaiting) and self._awaiting[done][0] <= self.durable_seq:
            _, vehicle, obs_id = self._awaiting[done]
            self._acks[vehicle][obs_id] = None
            done += 1
        del self._awaiting[:done]
        for vehicle in self.vehicles:
            self._evict(vehicle)
        return done

    def take_acks(self, vehicle: str, limit: int) -> list[int]:
        """Return up to `limit` ids of a vehicle to acknowledge now (counted as acked)."""
        queue = self._acks[vehicle]
        out: list[int] = []
        while queue and len(out) < limit:
            obs_id = next(iter(queue))
            del queue[obs_id]
            out.append(obs_id)
        self.acked += len(out)
        return out

    def acks_queued(self) -> int:
        """Return how many acknowledgements wait to be published."""
        return sum(len(q) for q in self._acks.values())

    def _evict(self, vehicle: str) -> None:
        """Forget the smallest durable ids beyond the window; raise the floor to them."""
        fused, heap = self._fused[vehicle], self._heaps[vehicle]
        while len(fused) > self.window and heap:
            smallest = heap[0]
            if fused[smallest] > self.durable_seq and not self.immediate:
                return  # not durable yet: held a while longer beyond the window
            heapq.heappop(heap)
            del fused[smallest]
            self.floor[vehicle] = max(self.floor[vehicle], smallest)

    # ---- persistence --------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """Return the ledger as a JSON-able header part and arrays (for save_state)."""
        header: dict[str, Any] = {
            'vehicles': list(self.vehicles),
            'floors': dict(self.floor),
            'counters': {'duplicates': self.duplicates, 'expired': self.expired},
        }
        arrays: dict[str, NDArray[Any]] = {}
        for index, vehicle in enumerate(self.vehicles):
            items = sorted(self._fused[vehicle].items())
            arrays[f'ids_{index}'] = np.array([i for i, _ in items], dtype=np.int64)
            arrays[f'seqs_{index}'] = np.array([s for _, s in items], dtype=np.int64)
        return header, arrays

    def restore(
        self, header: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]], max_seq: int
    ) -> int:
        """Load a saved ledger, keeping only fusions the map checkpoint holds (seq <= max_seq).

        Vehicles not in this ledger are ignored; ids fused after the checkpoint was written are
        forgotten, so their re-sends are fused again. Everything kept is durable.

        :returns: how many ids were kept.
        :raises DeliveryStateError: never; ValueError/KeyError/TypeError on malformed content.
        """
        saved = [str(v) for v in header['vehicles']]
        floors = {str(k): int(v) for k, v in dict(header['floors']).items()}
        kept = 0
        for index, vehicle in enumerate(saved):
            if vehicle not in self._fused:
                continue
            ids = np.asarray(arrays[f'ids_{index}'], dtype=np.int64)
            seqs = np.asarray(arrays[f'seqs_{index}'], dtype=np.int64)
            if ids.shape != seqs.shape or ids.ndim != 1:
                raise ValueError(f'ids and seqs of {vehicle} differ in shape')
            keep = seqs <= max_seq
            fused = dict(zip(ids[keep].tolist(), seqs[keep].tolist(), strict=True))
            self._fused[vehicle] = fused
            self._heaps[vehicle] = list(fused)
            heapq.heapify(self._heaps[vehicle])
            self.floor[vehicle] = floors.get(vehicle, -1)
            kept += len(fused)
        counters = dict(header.get('counters', {}))
        self.duplicates = int(counters.get('duplicates', 0))
        self.expired = int(counters.get('expired', 0))
        self.durable_seq = max(self.durable_seq, int(max_seq))
        return kept


# ---- the state file ---------------------------------------------------------------------------


def save_state(
    path: str | os.PathLike[str], header: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]
) -> Path:
    """Write a state file atomically (temporary file, fsync, rename, fsync of the folder).

    :param path: the file (.npz: a zip of arrays, each member with a CRC-32).
    :param header: JSON-able values; `format` and `version` are added.
    :param arrays: named arrays (names: letters, digits, underscores).
    """
    target = Path(path)
    head = {**header, 'format': STATE_FORMAT, 'version': STATE_VERSION}
    buffer = io.BytesIO()
    members: dict[str, Any] = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    members['header'] = np.frombuffer(json.dumps(head).encode('utf-8'), dtype=np.uint8)
    np.savez(buffer, **members)
    return write_atomic(target, buffer.getbuffer())


def load_state(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Read a state file written by save_state; return its header and arrays.

    :raises FileNotFoundError: no file.
    :raises DeliveryStateError: unreadable, another format or version, an array too large.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f'no delivery state at {source}')
    try:
        if not zipfile.is_zipfile(source):
            raise DeliveryStateError(source, 'not a state file (.npz: a zip archive of arrays)')
        with zipfile.ZipFile(source) as zipped:
            for info in zipped.infolist():
                with zipped.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version != (1, 0):
                        raise DeliveryStateError(source, f'{info.filename}: format {version}')
                    shape, _, _ = np.lib.format.read_array_header_1_0(member)
                if math.prod(shape) > _MAX_STATE_VALUES:
                    raise DeliveryStateError(
                        source, f'{info.filename}: array of shape {shape} is too large'
                    )
        with np.load(source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(arrays.pop('header').tobytes().decode('utf-8'))
    except DeliveryStateError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        UnicodeDecodeError,
        RecursionError,
        NotImplementedError,
        RuntimeError,
    ) as error:
        raise DeliveryStateError(source, f'unreadable ({type(error).__name__}: {error})') from None
    if not isinstance(header, dict) or header.get('format') != STATE_FORMAT:
        raise DeliveryStateError(source, 'not a uav_flood delivery state')
    if header.get('version') != STATE_VERSION:
        raise DeliveryStateError(source, f'version {header.get("version")!r}, not {STATE_VERSION}')
    return header, arrays
