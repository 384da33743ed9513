"""core.offload: the per-frame policy on synthetic traces, its estimators and result formats."""

import heapq
import math

import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.core.offload import (
    NetworkEstimator,
    OffloadPolicy,
    parse_result_format,
    PolicyConfig,
    refusal_format,
    result_format,
    ResultInfo,
)

FRAME_BYTES = 60_000
MASK_BYTES = 8_000
LOCAL_S = 0.2


class World:
    """A synthetic drone + link + edge: frames every `period` s, results as the link allows."""

    def __init__(self, policy, rtt=0.06, bw=20e6, service=0.03, queue=0, up=lambda t: True):
        self.policy, self.rtt, self.bw, self.service = policy, rtt, bw, service
        self.queue, self.up = queue, up
        self.events = []  # (time, seq, key)
        self.seq = 0
        self.log = []  # (t, decision)
        self.fallbacks = []  # (key, t)
        self.edge_results = []  # (key, t, outcome)
        self.captured = {}
        self.unanswered = set()  # edge requests the link lost

    def edge_latency(self, t):
        net = self.rtt + 8 * (FRAME_BYTES + MASK_BYTES) / self.bw
        return net + (self.queue + 1) * self.service

    def run(self, until, period=0.1, step=0.01, battery=None):
        t, next_frame, next_status, k = 0.0, 0.0, 0.0, 0
        while t < until:
            while self.events and self.events[0][0] <= t:
                _, _, key = heapq.heappop(self.events)
                info = ResultInfo('', self.queue * self.service, self.service)
                self.edge_results.append((key, t, self.policy.result(key, t, MASK_BYTES, info)))
            for key in self.policy.expire(t):
                self.fallbacks.append((key, t))
            if t >= next_status - 1e-9:
                self.policy.observe_edge_status(t, self.queue, self.service)
                next_status += 0.5
            if t >= next_frame - 1e-9:
                decision = self.policy.decide(t, FRAME_BYTES, 0, battery)
                self.log.append((t, decision))
                self.captured[k] = t
                if decision.target in ('local', 'probe'):
                    self.policy.observe_local(LOCAL_S)
                if decision.target in ('edge', 'probe'):
                    self.policy.sent(k, t, FRAME_BYTES, decision)
                    if self.up(t) and self.up(t + self.edge_latency(t)):
                        self.seq += 1
                        heapq.heappush(self.events, (t + self.edge_latency(t), self.seq, k))
                    elif decision.target == 'edge':
                        self.unanswered.add(k)
                k += 1
                next_frame += period
            t = round(t + step, 6)

    def targets(self, start, end):
        return [d.target for t, d in self.log if start <= t < end]


def test_good_link_mostly_edge_and_results_before_the_deadline():
    policy = OffloadPolicy()
    world = World(policy)
    world.run(10.0)
    targets = world.targets(0, 10)
    assert targets.count('edge') / len(targets) > 0.9
    hits = [(k, t) for k, t, outcome in world.edge_results if outcome == 'hit']
    assert len(hits) >= 0.9 * len(targets)
    assert all(t - world.captured[k] <= 0.5 for k, t in hits)
    assert not world.fallbacks
    # The estimates learned the link: predicted edge latency within 10 ms of the truth.
    assert policy.expected_edge_s(10.0, FRAME_BYTES) == pytest.approx(
        world.edge_latency(10.0), abs=0.01
    )


def test_outage_all_local_within_one_timeout_then_recovery():
    policy = OffloadPolicy(PolicyConfig(probe_interval_s=1.0))
    world = World(policy, up=lambda t: not 5.0 <= t < 8.0)
    world.run(12.0)
    timeout = max(d.timeout_s for _, d in world.log)
    # After one timeout into the outage, no frame relies on the edge any more.
    assert set(world.targets(5.0 + timeout + 0.01, 8.0)) <= {'local', 'probe'}
    assert 'local' in world.targets(5.0 + timeout, 8.0)
    # Every edge frame lost in the outage got a local fallback no later than its timeout.
    lost = world.unanswered
    assert lost and {k for k, _ in world.fallbacks} == lost
    for key, t in world.fallbacks:
        assert t - world.captured[key] <= timeout + 0.011
    assert policy.misses == {'timeout': len(lost)}
    # Recovery: a probe after the link returns succeeds, and the policy offloads again.
    after = world.targets(8.0, 12.0)
    first_edge = next(t for t, d in world.log if t >= 8.0 and d.target == 'edge')
    assert first_edge < 8.0 + 1.0 + 0.5
    assert after[-10:] == ['edge'] * 10
    assert not policy.edge_down


def test_overloaded_edge_goes_local():
    policy = OffloadPolicy()
    world = World(policy, service=0.05, queue=12)  # ~0.7 s at the edge
    world.run(5.0)
    targets = world.targets(0.5, 5.0)
    assert targets.count('local') / len(targets) > 0.9
    assert policy.decide(5.0, FRAME_BYTES).target in ('local', 'probe')  # on board either way
    policy.edge_down, policy._last_good = False, 5.0
    assert policy.decide(5.0, FRAME_BYTES).reason == 'edge misses the deadline'


def test_deadline_too_tight_goes_local():
    # The edge would be faster (~90 ms) but a 50 ms deadline caps its timeout: edge requests
    # time out, the edge is marked down and frames stay on board (probes aside).
    policy = OffloadPolicy(PolicyConfig(deadline_s=0.05))
    world = World(policy)
    world.run(3.0)
    assert set(world.targets(0.0, 3.0)) <= {'local', 'probe'}
    assert world.targets(0.0, 3.0).count('local') > 20
    # Local meets a 150 ms deadline on a slow link, the edge does not: local.
    policy = OffloadPolicy(PolicyConfig(deadline_s=0.15, prior_local_s=0.1))
    world = World(policy, rtt=0.3, bw=3e6)
    world.run(3.0)
    assert world.targets(1.0, 3.0).count('local') >= 0.9 * len(world.targets(1.0, 3.0))


def test_edge_expected_just_inside_the_deadline_is_not_feasible():
    # The edge answered a probe in 470 ms (a degraded link): within the 500 ms deadline, but
    # within its jitter of it, so not feasible with the 50 ms margin. An on-board model that
    # meets the deadline wins; one that misses it too loses to the sooner edge.
    def measured(network_s, local_s=0.44, **config):
        policy = OffloadPolicy(PolicyConfig(**config))
        policy.edge_down = True  # the edge was down: it comes back through a probe
        policy.observe_local(local_s)
        first = policy.decide(0.0, FRAME_BYTES)
        assert first.target == 'probe'
        policy.sent(1, 0.0, FRAME_BYTES, first)
        assert policy.result(1, network_s + 0.02, MASK_BYTES, ResultInfo('', 0.0, 0.02)) == 'probe'
        return policy, policy.decide(0.1, FRAME_BYTES)

    policy, decision = measured(0.45, hedge=False)
    assert 0.45 < policy.expected_edge_s(0.1, FRAME_BYTES) < 0.5
    assert (decision.target, decision.reason) == ('local', 'edge misses the deadline')
    # With hedging (the default) a marginal edge and a free on-board model both take the frame
    # at once: sent to the edge and hedged on board from the start, the first result wins.
    decision = measured(0.45)[1]
    assert (decision.target, decision.reason) == ('edge', 'edge marginal: hedged on board at once')
    assert decision.hedge_s == 0.0 and decision.timeout_s <= 0.5
    # An edge expected well past the deadline (+ margin) is not worth the link: on board only.
    assert measured(0.6)[1].reason == 'edge misses the deadline'
    slow = measured(0.45, local_s=0.7)[1]
    assert (slow.target, slow.reason) == ('edge', 'both late, edge sooner')
    assert measured(0.45, local_s=0.7, deadline_margin_s=0.0)[1].reason == (
        'local misses the deadline'
    )
    assert measured(0.3)[1].target == 'edge'  # comfortably inside: the edge
    with pytest.raises(ConfigError, match='deadline_margin_s'):
        PolicyConfig(deadline_margin_s=-0.1)


def test_local_queue_and_low_battery_favour_the_edge():
    policy = OffloadPolicy(PolicyConfig(prior_rtt_s=0.05, prior_bandwidth_bps=20e6))
    policy.observe_edge_status(0.0, 0, 0.15)
    policy.observe_local(0.15)
    edge = policy.expected_edge_s(0.0, FRAME_BYTES)
    assert policy.expected_local_s(0) < edge < policy.expected_local_s(1)
    policy._last_good = 0.0  # fresh estimates: no probe
    assert policy.decide(0.0, FRAME_BYTES).target == 'local'
    assert policy.decide(0.0, FRAME_BYTES, local_queue=1).target == 'edge'
    low = policy.decide(0.0, FRAME_BYTES, battery=0.1)
    assert (low.target, low.reason) == ('edge', 'battery low')
    assert policy.decide(0.0, FRAME_BYTES, battery=0.9).target == 'local'


def test_refusal_is_a_miss_and_a_late_result_is_not_used():
    policy = OffloadPolicy(PolicyConfig(hedge=False))
    d = policy.decide(0.0, FRAME_BYTES)
    assert d.target == 'probe'  # no estimates, no hedging: the first edge contact is a probe
    # With hedging, the first contact goes to the edge and on board at once.
    first = OffloadPolicy().decide(0.0, FRAME_BYTES)
    assert (first.target, first.reason, first.hedge_s) == (
        'edge',
        'first contact: edge and on board',
        0.0,
    )
    assert policy.result('x', 0.1, 0, ResultInfo('queue full')) == 'unknown'
    policy._last_good = 0.0
    policy.observe_local(0.4)
    d = policy.decide(0.0, FRAME_BYTES)
    assert d.target == 'edge' and 0 < d.timeout_s <= 0.5
    policy.sent(1, 0.0, FRAME_BYTES, d)
    assert policy.result(1, 0.1, 0, parse_result_format(refusal_format('queue full'))) == 'refused'
    assert policy.misses == {'refused: queue full': 1} and policy.edge_down
    policy.sent(2, 1.0, FRAME_BYTES, d)
    assert policy.expire(1.0 + d.timeout_s) == [2]
    assert policy.result(2, 2.0, MASK_BYTES, ResultInfo('', 0.0, 0.01)) == 'late'
    assert policy.late == 1 and policy.hits == 0
    stats = policy.stats()
    assert stats['misses'] == '2' and stats['misses_refused_queue_full'] == '1'


def test_hedge_time_and_a_hedged_answer_still_measures_the_edge():
    policy = OffloadPolicy(PolicyConfig(mode='edge', hedge_margin_s=0.05))
    d = policy.decide(0.0, FRAME_BYTES)
    assert d.hedge_s == pytest.approx(d.expected_edge_s + 0.05) and d.hedge_s < d.timeout_s
    policy.sent('a', 0.0, FRAME_BYTES, d)
    assert policy.hedge('a') and not policy.hedge('a') and not policy.hedge('nothing')
    # Answered before its timeout (after the on-board result): a hit that measures the edge.
    assert policy.result('a', d.hedge_s + 0.01, MASK_BYTES, ResultInfo('', 0.0, 0.01)) == 'hit'
    assert policy.hits == 1 and policy.hedges == 1 and policy.hedges_answered == 1
    assert policy.network.samples == 1 and not policy.edge_down
    # Not answered: the timeout still marks the edge down, and a late answer does not re-open it.
    policy.sent('b', 1.0, FRAME_BYTES, d)
    assert policy.hedge('b')
    assert policy.expire(1.0 + d.timeout_s) == ['b'] and policy.edge_down
    assert policy.result('b', 1.0 + d.timeout_s + 0.1, MASK_BYTES, ResultInfo('')) == 'late'
    assert policy.edge_down and policy.hits == 1 and policy.misses == {'timeout': 1}
    stats = policy.stats()
    assert stats['hedges'] == '2' and stats['hedges_answered'] == '1'


def test_hedge_never_after_the_timeout_nor_for_probes_nor_when_off():
    capped = OffloadPolicy(PolicyConfig(mode='edge', timeout_factor=0.0, timeout_margin_s=0.0))
    d = capped.decide(0.0, FRAME_BYTES)
    assert d.hedge_s == d.timeout_s == pytest.approx(d.expected_edge_s)
    off = OffloadPolicy(PolicyConfig(mode='edge', hedge=False)).decide(0.0, FRAME_BYTES)
    assert math.isinf(off.hedge_s)
    policy = OffloadPolicy()
    policy.edge_down = True
    probe = policy.decide(0.0, FRAME_BYTES)
    assert probe.target == 'probe' and math.isinf(probe.hedge_s)
    policy.sent('p', 0.0, FRAME_BYTES, probe)
    assert not policy.hedge('p') and policy.hedges == 0
    with pytest.raises(ConfigError, match='hedge_margin_s'):
        PolicyConfig(hedge_margin_s=-0.01)


def test_fixed_modes_ignore_the_estimates():
    assert OffloadPolicy(PolicyConfig(mode='local')).decide(0.0, 1).target == 'local'
    edge = OffloadPolicy(PolicyConfig(mode='edge', deadline_s=0.01)).decide(0.0, 10**7)
    assert edge.target == 'edge' and edge.timeout_s == 0.01


def test_network_estimator_separates_rtt_and_bandwidth_with_varied_sizes():
    est = NetworkEstimator(0.1, 5e6)
    for i in range(40):
        nbytes = 20_000 + (i % 5) * 40_000
        est.update(nbytes, 0.04 + nbytes * 8 / 10e6)
    assert est.rtt_s == pytest.approx(0.04, abs=0.005)
    assert est.bandwidth_bps == pytest.approx(10e6, rel=0.03)
    est.update(1000, math.nan)  # ignored
    assert est.samples == 20


def test_result_format_round_trip_and_config_errors():
    info = parse_result_format(result_format(0.004, 0.0123))
    assert info.refused == '' and info.queue_s == pytest.approx(0.004)
    assert info.service_s == pytest.approx(0.0123)
    assert parse_result_format('refused: bad jpeg').refused == 'bad jpeg'
    assert math.isnan(parse_result_format('png').service_s)
    with pytest.raises(ConfigError, match='deadline_s'):
        PolicyConfig(deadline_s=0)
    with pytest.raises(ConfigError, match='mode'):
        PolicyConfig(mode='sometimes')


def test_local_wait_counts_towards_the_local_latency():
    policy = OffloadPolicy()
    policy.observe_local(0.2)
    assert policy.expected_local_s(1, 0.1) == pytest.approx(0.5)
    assert policy.expected_local_s(0, math.nan) == pytest.approx(0.2)
    policy._last_good = 0.0
    assert policy.decide(0.0, FRAME_BYTES).target == 'local'  # both feasible, local faster
    busy = policy.decide(0.0, FRAME_BYTES, local_wait_s=0.3)  # on board busy 0.3 s more
    assert busy.target == 'edge' and busy.expected_local_s == pytest.approx(0.5)


def test_a_random_loss_does_not_mark_a_working_edge_down():
    policy = OffloadPolicy(PolicyConfig(mode='edge'))
    d = policy.decide(0.0, FRAME_BYTES)
    policy.sent(1, 0.0, FRAME_BYTES, d)
    policy.sent(2, 0.1, FRAME_BYTES, d)
    assert policy.result(2, 0.1 + d.timeout_s / 2, MASK_BYTES, ResultInfo('', 0.0, 0.01)) == 'hit'
    assert policy.expire(d.timeout_s) == [1]  # lost, but the edge answered frame 2 meanwhile
    assert not policy.edge_down and policy.misses == {'timeout': 1}
    policy.sent(3, 1.0, FRAME_BYTES, d)  # nothing answered within its timeout: down
    assert policy.expire(1.0 + d.timeout_s) == [3] and policy.edge_down


def test_an_edge_result_carries_its_classes_after_the_mask():
    import cv2
    import numpy as np

    from uav_flood.core.offload import pack_classes, unpack_classes

    labels = np.array([[0, 9, 5], [3, 4, 1]], np.uint8)
    confidence = np.array([[255, 26, 0], [128, 7, 200]], np.uint8)
    packed = pack_classes(labels, confidence)
    back = unpack_classes(packed, 2, 3)
    np.testing.assert_array_equal(back[0], labels)
    np.testing.assert_array_equal(back[1], confidence)
    assert unpack_classes(packed, 3, 2) is None  # not the size announced
    assert unpack_classes(b'not a png', 2, 3) is None
    assert unpack_classes(b'', 2, 3) is None
    mask = cv2.imencode('.png', np.zeros((4, 4), np.uint8))[1].tobytes()
    info = parse_result_format(result_format(0.001, 0.002, len(mask), (2, 3)))
    assert (info.mask_bytes, info.classes) == (len(mask), (2, 3))
    assert info.service_s == pytest.approx(0.002)
    plain = parse_result_format(result_format(0.001, 0.002))
    assert (plain.mask_bytes, plain.classes) == (-1, None)
    for broken in ('mono8; png compressed; mask_bytes=x; classes=2x3',
                   'mono8; png compressed; mask_bytes=10; classes=0x3',
                   'mono8; png compressed; classes=2x3'):  # fmt: skip
        assert parse_result_format(broken).classes is None, broken
    with pytest.raises(ValueError, match='differ'):
        pack_classes(labels, confidence[:1])
