"""core.frame_stats: the segmentation node's counters and timings, without ROS."""

import pytest

from uav_flood.core.frame_stats import FPS_WINDOW_S, FrameStats, SKIP_REASONS


def test_results_are_counted_by_outcome_and_source():
    stats = FrameStats()
    assert stats.frame_done('local', 0.0, 0.2, 150.0, ground=True, sent=True)
    assert not stats.frame_done('edge', 0.1, 0.4, None, ground=True, sent=False)
    assert not stats.frame_done('local', 0.3, 0.5, 120.0, ground=False, sent=False)
    assert (stats.frames_processed, stats.observations_published, stats.no_ground) == (3, 1, 1)
    values = stats.values(0.5)
    assert values['inference_ms_mean'] == '135.0' and values['inference_ms_max'] == '150.0'
    assert values['latency_ms_last'] == '200.0'
    assert {f'skipped_{r}' for r in SKIP_REASONS} <= set(values)
    assert 'latency_local_hist' in values and 'latency_edge_hist' in values


def test_rate_is_over_the_window_and_percentiles_per_source():
    stats = FrameStats()
    for k in range(11):  # 2 results a second for 5 s
        stats.frame_done('local', k * 0.5 - 0.1, k * 0.5, 100.0, ground=True, sent=True)
    assert stats.fps(5.0) == pytest.approx(2.0)
    assert stats.fps(5.0 + 2 * FPS_WINDOW_S) == 0.0
    percentiles = stats.latency_percentiles()
    assert percentiles['latency_local_ms_p50'] == '100.0'
    assert percentiles['latency_edge_ms_p95'] == 'nan'
    empty = FrameStats().values(0.0)
    assert empty['fps'] == '0.00' and empty['inference_ms_mean'] == 'nan'
