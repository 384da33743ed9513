"""The offload scheduler: one drone's frames at the edge, from sending to a published result.

The policy (policy.OffloadPolicy) decides per frame and learns from the answers; the scheduler
owns everything between a frame sent and its one published result, in one table:

- the edge requests pending (frame, timeout, hedge time), each until its result is published;
- timeouts: a frame whose request expired goes to the on-board fallback queue (bounded:
  FALLBACK_LIMIT, the oldest dropped and counted); a probe that expired is forgotten (its frame
  was segmented on board anyway);
- hedging: a frame overdue at the edge is handed to the on-board model too, the oldest first;
  whichever result comes first is published, the other counted and dropped;
- refusals: the frame falls back on board (unless a hedge already runs it);
- the counters of the segmentation status (EDGE_COUNTERS) and the offload part of it.

Frames are opaque to the scheduler (any object; the node uses its checked frame). Keys are the
frames' stamps in ns; times are seconds on the caller's monotonic clock. Not thread-safe: the
caller serialises every call (the segmentation node holds its lock).
"""

from __future__ import annotations

from collections import deque, OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from uav_flood.core.errors import UavFloodError
from uav_flood.core.offload.policy import Decision, OffloadPolicy, ResultInfo

F = TypeVar('F')

#: At most this many frames wait for the local model after an edge miss; older ones are dropped
#: (counted as fallbacks_dropped) so that a long outage cannot grow the queue without bound.
FALLBACK_LIMIT = 16
#: Stamps of this many answered frames are kept to tell a duplicate result from an unknown one.
DONE_KEYS = 256

#: Edge offloading counters in the status: results used (hits) and not, and why.
EDGE_COUNTERS = (
    'edge_hits',  # an edge mask in time, published
    'fallbacks',  # frames segmented locally after a timeout or a refusal
    'fallbacks_dropped',  # frames dropped because FALLBACK_LIMIT frames waited already
    'results_late',  # a result after its frame's timeout (done locally already)
    'results_unknown',  # a result for a stamp never sent
    'results_duplicate',  # a second result for a stamp already answered
    'results_malformed',  # undecodable, oversized or wrong-size mask (ignored: it times out)
    'hedges_won_local',  # hedged frames whose on-board result came first (edge answer unused)
    'hedges_won_edge',  # hedged frames whose edge result came first (on-board result unused)
    'bytes_sent',  # JPEG bytes published to the edge
    'bytes_received',  # result bytes received
    'send_errors',  # a frame that could not be encoded or published (segmented locally)
)


class OffloadError(UavFloodError):
    """A frame cannot be sent to the edge (its stamp is at the edge already)."""


@dataclass
class EdgeRequest(Generic[F]):
    """A frame sent to the edge whose result is not published yet."""

    frame: F
    probe: bool
    sent_at: float
    timeout_at: float
    #: Segment it on board too from then on (inf: never).
    hedge_at: float
    #: The on-board model is segmenting it too.
    hedged: bool = False


@dataclass(frozen=True)
class ResultOutcome(Generic[F]):
    """What the caller does with one edge answer.

    :param publish: the frame whose edge mask to publish now (None: nothing to publish).
    :param fell_back: the frame went to the fallback queue (wake the on-board worker).
    :param refused: the edge's refusal reason ('' when it was no refusal).
    """

    publish: F | None = None
    fell_back: bool = False
    refused: str = ''


class OffloadScheduler(Generic[F]):
    """The edge requests of one drone, their timeouts, hedges and fallbacks (module docstring).

    :param policy: the per-frame policy; the scheduler tells it of every send, hedge, answer
        and timeout.
    :param fallback_limit: frames waiting for the on-board model at most (oldest dropped).
    :param done_keys: answered stamps remembered to tell duplicates from unknown results.
    """

    def __init__(
        self,
        policy: OffloadPolicy,
        fallback_limit: int = FALLBACK_LIMIT,
        done_keys: int = DONE_KEYS,
    ) -> None:
        self.policy = policy
        self._fallback_limit = fallback_limit
        self._done_limit = done_keys
        self._pending: dict[int, EdgeRequest[F]] = {}
        self._fallback: deque[F] = deque()
        self._done: OrderedDict[int, None] = OrderedDict()
        self._jpeg_estimate = 0
        self.counters = dict.fromkeys(EDGE_COUNTERS, 0)

    # -- what the worker has to do -------------------------------------------------------------

    @property
    def fallback_waiting(self) -> int:
        """Return the number of frames waiting for the on-board model after an edge miss."""
        return len(self._fallback)

    @property
    def pending(self) -> int:
        """Return the number of frames at the edge whose result is not published yet."""
        return len(self._pending)

    def due_s(self) -> float | None:
        """Return the next edge timeout or hedge time (s), or None when nothing waits for one."""
        times = [min(r.timeout_at, r.hedge_at) for r in self._pending.values() if not r.hedged]
        return min(times) if times else None

    def expire(self, now: float) -> int:
        """Move the frames whose edge request timed out to the fallback queue.

        A hedged frame stays pending (its on-board result, under way, is the answer); a probe
        that timed out is forgotten (its frame was segmented on board anyway).

        :returns: how many frames fell back.
        """
        expired = 0
        for key in self.policy.expire(now):
            if not isinstance(key, int):
                continue
            request = self._pending.get(key)
            if request is not None and not request.hedged:
                del self._pending[key]
                self._to_fallback(request.frame)
                expired += 1
        for key in [k for k, r in self._pending.items() if r.probe and r.timeout_at <= now]:
            del self._pending[key]
        return expired

    def next_on_board(self, now: float) -> tuple[F, int | None] | None:
        """Return the next edge frame the on-board model must segment, or None.

        A fallback first (key None: its result is published as it is); else the oldest frame
        overdue at the edge, marked hedged (its key: publish only if claim_on_board wins).
        """
        if self._fallback:
            return self._fallback.popleft(), None
        due = [
            (r.sent_at, key)
            for key, r in self._pending.items()
            if not r.hedged and not r.probe and r.hedge_at <= now
        ]
        if not due:
            return None
        key = min(due)[1]
        request = self._pending[key]
        request.hedged = True
        self.policy.hedge(key)
        return request.frame, key

    def claim_on_board(self, key: int) -> bool:
        """Return True if a hedged frame's on-board result is first (publish it), else False."""
        won = self._claim(key) is not None
        if won:
            self.counters['hedges_won_local'] += 1
        return won

    # -- sending -------------------------------------------------------------------------------

    def decide(
        self, now: float, default_bytes: int, local_queue: int, local_wait_s: float
    ) -> Decision:
        """Decide where a frame is segmented (policy.OffloadPolicy.decide).

        :param default_bytes: the JPEG size to assume before any frame was encoded.
        :param local_queue: frames waiting for the on-board model before this one (the fallback
            queue is added here).
        :param local_wait_s: time until the on-board model finishes its current frame (s).
        """
        estimate = self._jpeg_estimate or default_bytes
        queue = local_queue + len(self._fallback)
        return self.policy.decide(now, estimate, local_queue=queue, local_wait_s=local_wait_s)

    def sent(self, key: int, frame: F, now: float, nbytes: int, decision: Decision) -> None:
        """Record a frame published to the edge after an 'edge' or 'probe' decision.

        :raises OffloadError: a frame with this stamp is at the edge already.
        """
        if key in self._pending:
            raise OffloadError(f'a frame with stamp {key} ns is at the edge already')
        self.policy.sent(key, now, nbytes, decision)
        self._pending[key] = EdgeRequest(
            frame,
            decision.target == 'probe',
            now,
            now + decision.timeout_s,
            now + decision.hedge_s,
        )
        self._jpeg_estimate = nbytes
        self.counters['bytes_sent'] += nbytes

    def send_failed(self) -> None:
        """Count a frame that could not be encoded or published (segmented on board)."""
        self.counters['send_errors'] += 1

    # -- answers -------------------------------------------------------------------------------

    def wants_mask(self, key: int, nbytes: int) -> bool:
        """Count an answer's bytes; return True if its mask may be published (worth decoding)."""
        self.counters['bytes_received'] += nbytes
        request = self._pending.get(key)
        return request is not None and not request.probe

    def frame_of(self, key: int) -> F | None:
        """Return the frame of a pending edge request, or None."""
        request = self._pending.get(key)
        return request.frame if request is not None else None

    def malformed(self) -> None:
        """Count an answer whose mask (or classes) could not be used."""
        self.counters['results_malformed'] += 1

    def result(self, key: int, now: float, nbytes: int, info: ResultInfo) -> ResultOutcome[F]:
        """Take one edge answer (a mask or a refusal); say what to publish.

        The policy hears of every answer to a request in flight, also one whose frame was
        published from the on-board model first (a hedge), so its estimates keep learning. A
        mask is to be published only while its frame is pending: exactly one result per frame.
        """
        outcome = self.policy.result(key, now, nbytes, info)
        request = self._pending.get(key)
        if request is None:
            # Its result is out already (a hedge that won on board: the answer only measured
            # the edge), or after its timeout, or never sent.
            if outcome == 'late':
                self.counters['results_late'] += 1
            elif outcome == 'unknown':
                duplicate = key in self._done
                self.counters['results_duplicate' if duplicate else 'results_unknown'] += 1
            return ResultOutcome(refused=info.refused)
        if request.probe:
            del self._pending[key]  # measured; the frame was segmented on board anyway
            return ResultOutcome(refused=info.refused)
        if info.refused:
            if request.hedged:  # the on-board result, under way, is the answer
                return ResultOutcome(refused=info.refused)
            del self._pending[key]
            self._to_fallback(request.frame)
            return ResultOutcome(fell_back=True, refused=info.refused)
        claimed = self._claim(key)
        assert claimed is not None
        if claimed.hedged:
            self.counters['hedges_won_edge'] += 1
        return ResultOutcome(publish=claimed.frame)

    def published_edge(self) -> None:
        """Count an edge mask published."""
        self.counters['edge_hits'] += 1

    # -- status --------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Return the offload part of the segmentation status (policy estimates, counters)."""
        values: dict[str, Any] = {'offload_mode': self.policy.config.mode}
        values.update(self.policy.stats())
        values.update(self.counters)
        values['edge_misses'] = (
            sum(self.policy.misses.values())
            + self.counters['results_malformed']
            + self.counters['send_errors']
        )
        values['pending'] = len(self._pending)
        values['fallback_queue'] = len(self._fallback)
        return values

    # -- internals -----------------------------------------------------------------------------

    def _claim(self, key: int) -> EdgeRequest[F] | None:
        request = self._pending.pop(key, None)
        if request is not None:
            self._done[key] = None
            while len(self._done) > self._done_limit:
                self._done.popitem(last=False)
        return request

    def _to_fallback(self, frame: F) -> None:
        if len(self._fallback) >= self._fallback_limit:
            self._fallback.popleft()
            self.counters['fallbacks_dropped'] += 1
        self._fallback.append(frame)
        self.counters['fallbacks'] += 1
