"""The per-frame offload policy: segment a frame on board or send it to the ground edge server.

The policy keeps smoothed estimates from real traffic and decides per frame which gets a result
sooner (see docs/offloading.md):

- network: every edge result gives a transfer time = (result received - request sent) minus the
  server's reported queue wait and service time, for ``up + down`` bytes. A weighted least-squares
  fit over recent transfers, regularised towards a prior, gives ``rtt`` (intercept) and
  ``bandwidth`` (1 / slope); with frames of similar size the split between the two stays near the
  prior but the predicted transfer time of a typical frame is what was measured;
- edge load: queue length and mean service time from the server's /edge/status;
- local: EWMA of the measured on-board inference time; the local queue is the number of frames
  already waiting for the on-board model, the local wait the time until it finishes the frame
  it is segmenting.

Expected latencies::

    edge  = up_bytes / bw + rtt/2 + queue * service + service + down_bytes / bw + rtt/2
    local = local_wait + (local_queue + 1) * local_inference

A target is feasible when its expected latency plus ``deadline_margin_s`` is within the frame's
deadline (a target expected to finish just before the deadline misses it about half the time:
jitter, loss, and the time the frame already waited on board). Exactly one
feasible: take it; both: the faster (with a low battery, the edge whenever it is feasible, since
radio costs the battery less than running the model); neither: the sooner (a lost edge frame is
still segmented on board: hedge or timeout).

Failures: each edge request has a timeout (expected edge latency * (1 + timeout_factor) +
timeout_margin, capped by the deadline); a timeout or a refusal is a miss: the caller segments
that frame locally, so no frame's result is lost, and the edge is marked down (a timeout only if
the edge answered nothing else within that timeout: else it was a random loss). While down (or
while the estimates are stale) the policy sends a *probe* every ``probe_interval_s``: the frame
is segmented locally as usual and a copy goes to the edge only to measure it, so the policy
recovers when the link returns without risking the frame.

Hedging (``hedge``, on by default): a frame still at the edge ``hedge_margin_s`` after its
expected edge latency is probably lost or stuck, so the caller may start segmenting it on board
at once (:meth:`OffloadPolicy.hedge`) instead of waiting for the timeout; the first result is
used, the other discarded. The request stays in flight here, so its answer (or its timeout)
still updates the estimates and the edge-down judgement.

The edge server's result format string carries its timings (:func:`result_format`); refusals
read ``refused: <reason>``. No rclpy here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math

import cv2
import numpy as np
from numpy.typing import NDArray

from uav_flood.core.errors import ConfigError

#: Decision targets. ``probe``: segment locally and send a copy to the edge to measure it.
TARGETS = ('local', 'edge', 'probe')
MODES = ('adaptive', 'local', 'edge')
#: Why the edge server refuses a request (the text after ``refused: `` in the result format).
REFUSAL_REASONS = (
    'queue full',
    'deadline',
    'bad jpeg',
    'bad size',
    'too large',
    'unknown drone',
    'error',
)
#: Format string of a mask the edge server sends back (followed by its timings).
RESULT_FORMAT = 'mono8; png compressed'


def result_format(
    queue_s: float,
    service_s: float,
    mask_bytes: int | None = None,
    classes: tuple[int, int] | None = None,
) -> str:
    """Return the format string of an edge result with the server's timings.

    :param queue_s: time the request waited in the server's queue (s).
    :param service_s: time the server spent decoding, segmenting and encoding it (s).
    :param mask_bytes: with classes, the length of the water PNG at the start of the data.
    :param classes: (rows, cols) of the classes PNG after it (pack_classes), if there is one.
    """
    text = RESULT_FORMAT
    if classes is not None and mask_bytes is not None:
        text += f'; mask_bytes={mask_bytes}; classes={classes[0]}x{classes[1]}'
    return f'{text}; queue_ms={queue_s * 1e3:.2f}; service_ms={service_s * 1e3:.2f}'


def pack_classes(labels: NDArray[np.uint8], confidence: NDArray[np.uint8]) -> bytes:
    """Return an edge result's classes: a mono8 PNG, the class rows above the confidence rows.

    :param labels: (rows, cols) FloodNet class 0..9 of each cell of the model's class output.
    :param confidence: (rows, cols) that class's probability x 255.
    :raises ValueError: shapes that differ, or PNG encoding failed.
    """
    if labels.shape != confidence.shape or labels.ndim != 2:
        raise ValueError(f'labels {labels.shape} and confidence {confidence.shape} differ')
    ok, png = cv2.imencode('.png', np.vstack([labels, confidence]).astype(np.uint8))
    if not ok:
        raise ValueError('PNG encoding failed')
    return bytes(png.tobytes())


def unpack_classes(
    data: bytes, rows: int, cols: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """Return (labels, confidence) of pack_classes's PNG, or None if it is not that."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None or image.dtype != np.uint8 or image.shape != (2 * rows, cols):
        return None
    return np.ascontiguousarray(image[:rows]), np.ascontiguousarray(image[rows:])


def refusal_format(reason: str) -> str:
    """Return the format string of a refusal (``refused: queue full``)."""
    return f'refused: {reason}'


@dataclass(frozen=True)
class ResultInfo:
    """What an edge result's format string says.

    :param refused: the refusal reason, or '' for a mask.
    :param queue_s: server queue wait (s), NaN if not reported.
    :param service_s: server service time (s), NaN if not reported.
    :param mask_bytes: the water PNG's length when classes follow it, else -1.
    :param classes: (rows, cols) of the classes PNG after the mask, None if there is none.
    """

    refused: str
    queue_s: float = math.nan
    service_s: float = math.nan
    mask_bytes: int = -1
    classes: tuple[int, int] | None = None


def parse_result_format(text: str) -> ResultInfo:
    """Parse an edge result's format string (see result_format and refusal_format)."""
    text = text.strip()
    if text.startswith('refused:'):
        return ResultInfo(text[len('refused:') :].strip() or 'error')
    timings = {'queue_ms': math.nan, 'service_ms': math.nan}
    mask_bytes, classes = -1, None
    for part in text.split(';'):
        key, _, value = part.strip().partition('=')
        try:
            if key in timings:
                timings[key] = float(value)
            elif key == 'mask_bytes':
                mask_bytes = int(value)
            elif key == 'classes':
                rows, _, cols = value.partition('x')
                classes = (int(rows), int(cols))
        except ValueError:
            pass
    if mask_bytes < 0 or classes is None or min(classes) < 1:
        mask_bytes, classes = -1, None  # no usable classes: the mask alone
    return ResultInfo(
        '', timings['queue_ms'] / 1e3, timings['service_ms'] / 1e3, mask_bytes, classes
    )


class Ewma:
    """An exponentially weighted moving average that starts from a prior.

    :param prior: the value before any sample.
    :param alpha: weight of each new sample, in (0, 1].
    """

    def __init__(self, prior: float, alpha: float) -> None:
        self.value = prior
        self.alpha = alpha
        self.count = 0

    def update(self, sample: float) -> float:
        """Add a sample; the first replaces the prior. Return the new value."""
        self.value = sample if self.count == 0 else self.value + self.alpha * (sample - self.value)
        self.count += 1
        return self.value


class NetworkEstimator:
    """Round-trip time and bandwidth from transfers of known size and duration.

    A weighted least-squares fit of ``time = rtt + bytes * 8 / bandwidth`` over the last
    `window` transfers (weight ``decay ** age``), regularised towards the prior so that it is
    defined from the first sample on and the slope stays sensible when sizes hardly vary.

    :param prior_rtt_s: round-trip time before any measurement (s).
    :param prior_bandwidth_bps: bandwidth before any measurement (bit/s).
    :param window: transfers kept.
    :param decay: weight factor per transfer of age, in (0, 1].
    """

    def __init__(
        self,
        prior_rtt_s: float,
        prior_bandwidth_bps: float,
        window: int = 20,
        decay: float = 0.85,
    ) -> None:
        self._prior = (prior_rtt_s, 8.0 / prior_bandwidth_bps)
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)
        self._decay = decay
        self.rtt_s = prior_rtt_s
        self._slope = 8.0 / prior_bandwidth_bps  # s per byte

    @property
    def bandwidth_bps(self) -> float:
        """The bandwidth estimate (bit/s)."""
        return 8.0 / self._slope

    @property
    def samples(self) -> int:
        """Return the number of transfers in the fit."""
        return len(self._samples)

    def transfer_s(self, nbytes: float) -> float:
        """Return the expected network time of a round trip carrying `nbytes` in total (s)."""
        return self.rtt_s + nbytes * self._slope

    def update(self, nbytes: float, seconds: float) -> None:
        """Add a round trip that carried `nbytes` (up + down) in `seconds` of network time."""
        if not (math.isfinite(seconds) and seconds >= 0 and nbytes >= 0):
            return
        self._samples.append((float(nbytes), float(seconds)))
        a0, b0 = self._prior
        # Prior strength: like one sample at the typical size pinning rtt, and a slope prior.
        scale = max(x for x, _ in self._samples) or 1.0
        lam_a, lam_b = 0.02, 0.02 * scale * scale
        s_w = s_x = s_y = s_xx = s_xy = 0.0
        for age, (x, y) in enumerate(reversed(self._samples)):
            w = self._decay**age
            s_w += w
            s_x += w * x
            s_y += w * y
            s_xx += w * x * x
            s_xy += w * x * y
        # Normal equations of the regularised fit (a: rtt, b: s/byte).
        m11, m12, m22 = s_w + lam_a, s_x, s_xx + lam_b
        r1, r2 = s_y + lam_a * a0, s_xy + lam_b * b0
        det = m11 * m22 - m12 * m12
        if det <= 0:
            return
        a = (r1 * m22 - m12 * r2) / det
        b = (m11 * r2 - m12 * r1) / det
        if b <= 1e-12 or a < 0:
            # Clamp into the physical region and refit the other term alone.
            b = max(b, 8.0 / 10e9)
            a = max(0.0, (r1 - m12 * b) / m11)
        self.rtt_s, self._slope = a, b


@dataclass(frozen=True)
class PolicyConfig:
    """Offload policy settings (see the module docstring).

    :param mode: ``adaptive``, or ``local``/``edge`` to always choose that target.
    :param deadline_s: a frame's result is wanted within this time of its capture (s).
    :param alpha: EWMA weight of new samples of local inference, mask size and edge service.
    :param prior_rtt_s: round-trip time assumed before any measurement (s).
    :param prior_bandwidth_bps: bandwidth assumed before any measurement (bit/s).
    :param prior_local_s: on-board inference time assumed before any measurement (s).
    :param prior_service_s: edge service time assumed before the edge reports one (s).
    :param timeout_factor: relative margin of an edge request's timeout.
    :param timeout_margin_s: absolute margin of an edge request's timeout (s).
    :param probe_interval_s: time between probes while the edge is down or estimates stale (s).
    :param stale_after_s: estimates older than this (no edge result) are stale (s).
    :param status_stale_s: an edge status older than this is ignored (queue taken as empty) (s).
    :param battery_low: state of charge (0..1) below which the edge wins whenever feasible.
    :param deadline_margin_s: a target is feasible only if expected within the deadline minus
        this (s).
    :param hedge: segment an edge frame on board too when it is ``hedge_margin_s`` past its
        expected edge latency (spends on-board compute on frames the edge may still answer).
    :param hedge_margin_s: how long past its expected edge latency a frame is hedged (s).
    """

    mode: str = 'adaptive'
    deadline_s: float = 0.5
    alpha: float = 0.3
    prior_rtt_s: float = 0.1
    prior_bandwidth_bps: float = 5e6
    prior_local_s: float = 0.2
    prior_service_s: float = 0.05
    timeout_factor: float = 0.5
    timeout_margin_s: float = 0.05
    probe_interval_s: float = 1.0
    stale_after_s: float = 5.0
    status_stale_s: float = 2.0
    battery_low: float = 0.25
    deadline_margin_s: float = 0.05
    hedge: bool = True
    hedge_margin_s: float = 0.05

    def __post_init__(self) -> None:
        """Check every value; raise ConfigError naming the bad one."""
        if self.mode not in MODES:
            raise ConfigError(f'must be one of {", ".join(MODES)}, got {self.mode!r}', 'mode')
        positive = (
            'deadline_s',
            'prior_rtt_s',
            'prior_bandwidth_bps',
            'prior_local_s',
            'prior_service_s',
            'probe_interval_s',
            'stale_after_s',
            'status_stale_s',
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f'must be > 0, got {value}', name)
        if not 0 < self.alpha <= 1:
            raise ConfigError(f'must be in (0, 1], got {self.alpha}', 'alpha')
        for name in (
            'timeout_factor',
            'timeout_margin_s',
            'battery_low',
            'deadline_margin_s',
            'hedge_margin_s',
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f'must be >= 0, got {value}', name)


@dataclass(frozen=True)
class Decision:
    """What to do with one frame.

    :param target: ``local``, ``edge`` or ``probe`` (local, plus a measuring copy to the edge).
    :param reason: why, in words for the log.
    :param expected_edge_s: expected edge latency (s).
    :param expected_local_s: expected local latency (s).
    :param timeout_s: how long to wait for the edge before segmenting locally (s); 0 if local.
    :param hedge_s: after this long at the edge, segment the frame on board too (s); infinite
        if hedging is off or for ``local`` and ``probe`` (a probe is segmented locally anyway).
    """

    target: str
    reason: str
    expected_edge_s: float
    expected_local_s: float
    timeout_s: float = 0.0
    hedge_s: float = math.inf


@dataclass
class _Pending:
    sent_at: float
    timeout_at: float
    up_bytes: int
    probe: bool
    hedged: bool = False


class OffloadPolicy:
    """Decide per frame, track the edge requests in flight and learn from their outcomes.

    Frames are identified by any hashable key (the drone uses the frame's stamp in ns). Times
    are seconds on one monotonic clock chosen by the caller.

    :param config: the policy settings.
    """

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        c = self.config
        self.network = NetworkEstimator(c.prior_rtt_s, c.prior_bandwidth_bps)
        self.local_s = Ewma(c.prior_local_s, c.alpha)
        self.service_s = Ewma(c.prior_service_s, c.alpha)
        self.down_ratio = Ewma(0.25, c.alpha)  # mask bytes / frame bytes
        self.edge_queue = 0
        self._status_at = -math.inf
        self.edge_down = False
        self._last_good = -math.inf
        self._last_probe = -math.inf
        self._pending: dict[object, _Pending] = {}
        self._expired: set[object] = set()  # keys that timed out, to tell late from unknown
        self.decisions = dict.fromkeys(TARGETS, 0)
        self.hits = 0
        self.misses: dict[str, int] = {}
        self.late = 0
        self.probes_answered = 0
        self.hedges = 0
        self.hedges_answered = 0

    # -- observations ------------------------------------------------------------------------

    def observe_local(self, inference_s: float) -> None:
        """Record a measured on-board inference time (s)."""
        if math.isfinite(inference_s) and inference_s >= 0:
            self.local_s.update(inference_s)

    def observe_edge_status(self, now: float, queue_length: int, service_s: float) -> None:
        """Record the edge server's reported load (from /edge/status).

        :param now: when it was received (s).
        :param queue_length: requests waiting at the server.
        :param service_s: the server's mean service time per frame (s); NaN if unknown.
        """
        self.edge_queue = max(0, int(queue_length))
        if math.isfinite(service_s) and service_s > 0:
            self.service_s.update(service_s)
        self._status_at = now

    # -- decisions ---------------------------------------------------------------------------

    def expected_edge_s(self, now: float, frame_bytes: int) -> float:
        """Return the expected edge latency of a frame of `frame_bytes` (s)."""
        total = frame_bytes * (1.0 + self.down_ratio.value)
        fresh = now - self._status_at <= self.config.status_stale_s
        queue = self.edge_queue if fresh else 0
        return self.network.transfer_s(total) + (queue + 1) * self.service_s.value

    def expected_local_s(self, local_queue: int = 0, local_wait_s: float = 0.0) -> float:
        """Return the expected local latency (s).

        :param local_queue: frames waiting for the on-board model before this one.
        :param local_wait_s: time until the on-board model finishes its current frame (s).
        """
        wait = local_wait_s if math.isfinite(local_wait_s) and local_wait_s > 0 else 0.0
        return wait + (max(0, local_queue) + 1) * self.local_s.value

    def decide(
        self,
        now: float,
        frame_bytes: int,
        local_queue: int = 0,
        battery: float | None = None,
        local_wait_s: float = 0.0,
    ) -> Decision:
        """Decide where to segment one frame.

        :param now: the decision time (s).
        :param frame_bytes: the size of the frame's JPEG (bytes).
        :param local_queue: frames already waiting for the on-board model.
        :param battery: state of charge in [0, 1], or None if unknown.
        :param local_wait_s: time until the on-board model finishes its current frame (s).
        """
        c = self.config
        edge = self.expected_edge_s(now, frame_bytes)
        local = self.expected_local_s(local_queue, local_wait_s)
        timeout = min(edge * (1.0 + c.timeout_factor) + c.timeout_margin_s, c.deadline_s)
        if c.mode == 'local':
            return self._count(Decision('local', 'mode local', edge, local))
        hedge = min(edge + c.hedge_margin_s, timeout) if c.hedge else math.inf
        if c.mode == 'edge':
            return self._count(Decision('edge', 'mode edge', edge, local, timeout, hedge))
        stale = now - self._last_good > c.stale_after_s
        if self.edge_down or stale:
            if now - self._last_probe >= c.probe_interval_s:
                self._last_probe = now
                first = not self.edge_down and self._last_good == -math.inf
                if first and c.hedge and edge <= c.deadline_s + c.deadline_margin_s:
                    # The first contact, with the priors expecting the edge about in time: the
                    # frame goes to the edge and is hedged on board at once. Its answer measures
                    # the edge, and the first result wins: a cold on-board start no longer
                    # costs the first frame.
                    return self._count(
                        Decision(
                            'edge', 'first contact: edge and on board', edge, local, timeout, 0.0
                        )
                    )
                why = 'edge down' if self.edge_down else 'estimates stale'
                return self._count(Decision('probe', f'{why}: probe', edge, local, timeout))
            if self.edge_down:
                return self._count(Decision('local', 'edge down', edge, local))
        latest = c.deadline_s - c.deadline_margin_s
        edge_ok, local_ok = edge <= latest, local <= latest
        low = battery is not None and battery < c.battery_low
        if edge_ok and (not local_ok or edge < local or low):
            why = 'battery low' if low and edge >= local and local_ok else 'edge faster'
            if not local_ok:
                why = 'local misses the deadline'
            return self._count(Decision('edge', why, edge, local, timeout, hedge))
        if not edge_ok and not local_ok and edge < local:
            # Neither is expected in time: the sooner result has the better chance. A lost or
            # late edge frame is hedged or falls back on board, so its result is certain too.
            return self._count(
                Decision('edge', 'both late, edge sooner', edge, local, timeout, hedge)
            )
        if not edge_ok and c.hedge and edge <= c.deadline_s + c.deadline_margin_s:
            # The edge is marginal (expected about at the deadline) and the on-board model is
            # free: do both at once, the first result wins. The link carries the frame as it
            # would under always-edge, so the frame does at least as well as either alone.
            return self._count(
                Decision(
                    'edge', 'edge marginal: hedged on board at once', edge, local, timeout, 0.0
                )
            )
        why = 'local faster' if edge_ok else 'edge misses the deadline'
        return self._count(Decision('local', why, edge, local))

    def _count(self, decision: Decision) -> Decision:
        self.decisions[decision.target] += 1
        return decision

    # -- requests in flight ------------------------------------------------------------------

    def sent(self, key: object, now: float, up_bytes: int, decision: Decision) -> None:
        """Record that a frame went to the edge (after an ``edge`` or ``probe`` decision)."""
        self._pending[key] = _Pending(
            now, now + decision.timeout_s, up_bytes, decision.target == 'probe'
        )

    def hedge(self, key: object) -> bool:
        """Record that the caller started segmenting an edge frame on board too.

        The request stays in flight: its answer still measures the edge (and counts as a hit,
        whichever result the caller used), its timeout still marks the edge down.

        :returns: False if `key` is not an edge request in flight (then there is nothing to
            hedge: it was answered, timed out or is a probe).
        """
        pending = self._pending.get(key)
        if pending is None or pending.probe or pending.hedged:
            return False
        pending.hedged = True
        self.hedges += 1
        return True

    def result(self, key: object, now: float, down_bytes: int, info: ResultInfo) -> str:
        """Record an edge answer (a mask or a refusal); return what it was.

        :returns: ``hit`` (a mask in time: use it), ``probe`` (a probe's mask: the frame was
            segmented locally anyway), ``refused`` (the caller segments the frame locally; a
            refused probe needs nothing), ``late`` (after its timeout: already done locally) or
            ``unknown`` (no such request in flight). A hedged frame's answer is ``hit`` (or
            ``refused``): the caller uses it only if its on-board result is not out yet.
        """
        pending = self._pending.pop(key, None)
        if pending is None:
            if key in self._expired:
                self.late += 1
                return 'late'
            return 'unknown'
        if info.refused:
            if not pending.probe:
                self._miss(f'refused: {info.refused}')
            # The edge works but will not serve: treat it as down until a probe succeeds.
            self.edge_down = True
            return 'refused'
        server = (info.queue_s if math.isfinite(info.queue_s) else 0.0) + (
            info.service_s if math.isfinite(info.service_s) else 0.0
        )
        if math.isfinite(info.service_s) and info.service_s > 0:
            self.service_s.update(info.service_s)
        if pending.up_bytes > 0:
            self.down_ratio.update(down_bytes / pending.up_bytes)
        self.network.update(
            pending.up_bytes + down_bytes, max(0.0, now - pending.sent_at - server)
        )
        self._last_good = now
        self.edge_down = False
        if pending.probe:
            self.probes_answered += 1
            return 'probe'
        if pending.hedged:
            self.hedges_answered += 1
        self.hits += 1
        return 'hit'

    def expire(self, now: float) -> list[object]:
        """Return the keys of edge requests past their timeout (segment those frames locally).

        Probes that time out are forgotten without being returned: their frames were segmented
        locally already. A timeout marks the edge down, unless the edge answered another request
        within the timeout (then the request was lost at random, the edge is up).
        """
        due = [k for k, p in self._pending.items() if now >= p.timeout_at]
        fallback = []
        for key in due:
            pending = self._pending.pop(key)
            self._expired.add(key)
            # The edge answered another request within this one's timeout: a random loss
            # (lossy link, jitter), not an outage; the frame is still segmented on board.
            if now - self._last_good > pending.timeout_at - pending.sent_at:
                self.edge_down = True
            if not pending.probe:
                self._miss('timeout')
                fallback.append(key)
        if len(self._expired) > 1000:
            self._expired.clear()
        return fallback

    def in_flight(self) -> int:
        """Return the number of edge requests awaiting an answer."""
        return len(self._pending)

    def _miss(self, reason: str) -> None:
        self.misses[reason] = self.misses.get(reason, 0) + 1

    def stats(self) -> dict[str, str]:
        """Return counters and estimates for a status message (all strings)."""
        values = {f'decisions_{t}': str(n) for t, n in self.decisions.items()}
        values.update(
            {
                f'misses_{r.replace(" ", "_").replace(":", "")}': str(n)
                for r, n in self.misses.items()
            }
        )
        values.update(
            {
                'hits': str(self.hits),
                'misses': str(sum(self.misses.values())),
                'late_results': str(self.late),
                'probes_answered': str(self.probes_answered),
                'hedges': str(self.hedges),
                'hedges_answered': str(self.hedges_answered),
                'edge_down': str(self.edge_down).lower(),
                'rtt_ms': f'{self.network.rtt_s * 1e3:.1f}',
                'bandwidth_mbit_s': f'{self.network.bandwidth_bps / 1e6:.2f}',
                'edge_service_ms': f'{self.service_s.value * 1e3:.1f}',
                'edge_queue': str(self.edge_queue),
                'local_inference_ms': f'{self.local_s.value * 1e3:.1f}',
                'in_flight': str(len(self._pending)),
            }
        )
        return values
