"""core.offload.OffloadScheduler: frames at the edge from sending to their one result, no ROS."""

from __future__ import annotations

import pytest

from uav_flood.core.offload import (
    Decision,
    OffloadError,
    OffloadPolicy,
    OffloadScheduler,
    PolicyConfig,
    ResultInfo,
)

MASK = ResultInfo(refused='', queue_s=0.0, service_s=0.03)


def edge(timeout_s=0.3, hedge_s=float('inf')):
    return Decision('edge', 'test', 0.1, 0.2, timeout_s=timeout_s, hedge_s=hedge_s)


PROBE = Decision('probe', 'test', 0.1, 0.2, timeout_s=0.3)


def scheduler(**kwargs) -> OffloadScheduler[str]:
    return OffloadScheduler(OffloadPolicy(PolicyConfig(mode='edge')), **kwargs)


def test_a_timed_out_frame_falls_back_on_board_and_its_late_answer_is_counted():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 40_000, edge())
    assert s.due_s() == pytest.approx(0.3) and s.pending == 1
    assert s.expire(0.2) == 0
    assert s.expire(0.31) == 1
    assert s.pending == 0 and s.fallback_waiting == 1
    assert s.next_on_board(0.31) == ('frame1', None)
    outcome = s.result(1, 0.5, 9_000, MASK)
    assert outcome.publish is None and s.counters['results_late'] == 1
    assert s.counters['fallbacks'] == 1 and s.counters['bytes_sent'] == 40_000


def test_a_probe_that_times_out_is_forgotten_its_frame_was_done_on_board():
    s = scheduler()
    s.sent(7, 'probe', 0.0, 40_000, PROBE)
    assert not s.wants_mask(7, 10)  # a probe's mask is never published
    assert s.expire(0.4) == 0
    assert s.pending == 0 and s.fallback_waiting == 0


def test_the_fallback_queue_is_bounded_and_drops_the_oldest():
    s = scheduler(fallback_limit=2)
    for key in (1, 2, 3):
        s.sent(key, f'frame{key}', 0.0, 1_000, edge())
    assert s.expire(1.0) == 3
    assert s.fallback_waiting == 2 and s.counters['fallbacks_dropped'] == 1
    assert [s.next_on_board(1.0)[0], s.next_on_board(1.0)[0]] == ['frame2', 'frame3']
    assert s.next_on_board(1.0) is None


def test_the_oldest_overdue_frame_is_hedged_and_the_first_result_wins():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge(hedge_s=0.1))
    s.sent(2, 'frame2', 0.05, 1_000, edge(hedge_s=0.1))
    assert s.due_s() == pytest.approx(0.1)
    assert s.next_on_board(0.09) is None
    assert s.next_on_board(0.2) == ('frame1', 1)
    assert s.policy.hedges == 1
    # Hedged: its timeout no longer sends it back on board, the worker has it.
    assert s.expire(0.36) == 1  # frame2, not hedged yet, falls back; frame1 stays
    assert s.next_on_board(0.36) == ('frame2', None)
    # On board first: its result is published, the edge's answer only measures the edge.
    assert s.claim_on_board(1)
    assert s.counters['hedges_won_local'] == 1
    assert s.pending == 0
    # frame3: the edge answers first; the on-board result that follows is not published.
    s.sent(3, 'frame3', 1.0, 1_000, edge(hedge_s=0.1))
    assert s.next_on_board(1.2) == ('frame3', 3)
    assert s.wants_mask(3, 9_000)
    assert s.result(3, 1.25, 9_000, MASK).publish == 'frame3'
    assert s.counters['hedges_won_edge'] == 1
    assert not s.claim_on_board(3)
    assert s.pending == 0


def test_a_hedged_frame_stays_pending_past_its_timeout():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge(hedge_s=0.1))
    assert s.next_on_board(0.15) == ('frame1', 1)
    assert s.expire(0.5) == 0 and s.pending == 1 and s.fallback_waiting == 0
    assert s.due_s() is None  # nothing to wake the worker for: it is segmenting it
    assert s.claim_on_board(1)


def test_a_refusal_sends_the_frame_on_board_unless_a_hedge_already_runs_it():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge(hedge_s=0.1))
    s.sent(2, 'frame2', 0.0, 1_000, edge(hedge_s=0.1))
    refused = ResultInfo(refused='queue full')
    outcome = s.result(1, 0.05, 0, refused)
    assert outcome.fell_back and outcome.refused == 'queue full' and outcome.publish is None
    assert s.next_on_board(0.05) == ('frame1', None)
    assert s.next_on_board(0.2) == ('frame2', 2)
    outcome = s.result(2, 0.25, 0, refused)
    assert not outcome.fell_back and s.fallback_waiting == 0
    assert s.claim_on_board(2)


def test_duplicate_and_unknown_answers_are_told_apart():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge())
    assert s.result(1, 0.1, 9_000, MASK).publish == 'frame1'
    assert s.result(1, 0.2, 9_000, MASK).publish is None
    assert s.result(99, 0.2, 9_000, MASK).publish is None
    assert s.counters['results_duplicate'] == 1 and s.counters['results_unknown'] == 1


def test_a_stamp_at_the_edge_already_is_refused():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge())
    with pytest.raises(OffloadError, match='at the edge already'):
        s.sent(1, 'again', 0.1, 1_000, edge())
    assert s.frame_of(1) == 'frame1'


def test_decide_counts_the_fallbacks_as_on_board_queue_and_learns_the_jpeg_size():
    s = OffloadScheduler(OffloadPolicy(PolicyConfig(mode='local', prior_local_s=0.2)))
    assert s.decide(0.0, 1_000, local_queue=0, local_wait_s=0.0).expected_local_s == 0.2
    s.sent(1, 'frame1', 0.0, 50_000, edge())
    s.expire(1.0)
    decision = s.decide(1.0, 1_000, local_queue=1, local_wait_s=0.1)
    assert decision.expected_local_s == pytest.approx(0.1 + 3 * 0.2)


def test_the_status_values():
    s = scheduler()
    s.sent(1, 'frame1', 0.0, 1_000, edge())
    s.malformed()
    s.send_failed()
    values = s.values()
    assert values['offload_mode'] == 'edge' and values['pending'] == 1
    assert values['edge_misses'] == 2 and values['fallback_queue'] == 0
    assert values['in_flight'] == '1'
