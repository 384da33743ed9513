"""core.link: delay, jitter and loss statistics, serialisation, buffer, outages, profile files."""

import statistics

import pytest

from uav_flood.core.errors import ConfigError
from uav_flood.core.link import LinkProfile, LinkScheduler, load_profile


def test_shipped_profiles_load_with_the_documented_numbers():
    good, degraded, outages = (load_profile(n) for n in ('good', 'degraded', 'outages'))
    assert (good.bandwidth_bps, good.delay_s, good.loss) == (20e6, 0.03, 0.0)
    assert (degraded.bandwidth_bps, degraded.delay_s, degraded.loss) == (3e6, 0.15, 0.05)
    assert outages.outage_period_s > 0 and outages.outage_duration_s > 0
    assert outages.in_outage(outages.outage_offset_s + 0.1) is not None
    assert good.in_outage(outages.outage_offset_s + 0.1) is None


def test_delay_jitter_and_loss_statistics_match_the_profile():
    profile = LinkProfile('t', bandwidth_bps=100e6, delay_s=0.15, jitter_s=0.02, loss=0.05)
    link = LinkScheduler(profile, seed=1)
    nbytes, delays, lost = 1000, [], 0
    for i in range(5000):
        t = i * 0.05  # far apart: no queueing, and order is not forced
        d = link.send(t, nbytes)
        if d.arrival_s is None:
            assert d.reason == 'loss'
            lost += 1
        else:
            delays.append(d.arrival_s - t - 8 * nbytes / profile.bandwidth_bps)
    assert lost / 5000 == pytest.approx(0.05, abs=0.01)
    assert statistics.mean(delays) == pytest.approx(0.15, abs=0.002)
    assert statistics.stdev(delays) == pytest.approx(0.02, rel=0.1)
    assert link.dropped['loss'] == lost and link.delivered == len(delays)


def test_same_seed_same_schedule_and_other_seed_differs():
    profile = LinkProfile('t', delay_s=0.1, jitter_s=0.03, loss=0.2)

    def run(seed):
        link = LinkScheduler(profile, seed)
        return [link.send(i * 0.1, 5000).arrival_s for i in range(200)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_back_to_back_messages_queue_behind_each_other():
    profile = LinkProfile('t', bandwidth_bps=8e6, delay_s=0.03)  # 1 byte per microsecond
    link = LinkScheduler(profile)
    arrivals = [link.send(0.0, 100_000).arrival_s for _ in range(5)]
    # 100 kB takes 0.1 s on the wire: the k-th message leaves after k+1 serialisations.
    assert arrivals == pytest.approx([0.1 * (k + 1) + 0.03 for k in range(5)])
    assert link.backlog_bytes(0.0) == pytest.approx(500_000)
    # After the backlog has drained, a message goes straight out again.
    assert link.send(1.0, 1000).arrival_s == pytest.approx(1.0 + 0.001 + 0.03)


def test_a_full_buffer_drops_the_tail():
    profile = LinkProfile('t', bandwidth_bps=8e6, delay_s=0.0, queue_limit_bytes=250_000)
    link = LinkScheduler(profile)
    results = [link.send(0.0, 100_000) for _ in range(4)]
    assert [r.arrival_s is not None for r in results] == [True, True, False, False]
    assert link.dropped['queue'] == 2


def test_outage_drops_in_drop_mode_and_holds_in_hold_mode():
    windows = ((1.0, 2.0),)
    drop = LinkScheduler(LinkProfile('d', delay_s=0.01, outages=windows))
    hold = LinkScheduler(LinkProfile('h', delay_s=0.01, outages=windows, outage_mode='hold'))
    assert drop.send(0.5, 100).arrival_s is not None
    assert drop.send(1.5, 100).arrival_s is None and drop.dropped['outage'] == 1
    assert drop.send(2.0, 100).arrival_s is not None  # the window's end is up again
    held = hold.send(1.5, 100)
    assert held.start_s == pytest.approx(2.0)
    assert held.arrival_s == pytest.approx(2.0 + 800 / 20e6 + 0.01)


def test_periodic_outages_repeat_and_abutting_windows_merge():
    p = LinkProfile('p', outage_period_s=10, outage_duration_s=3, outage_offset_s=5)
    assert p.in_outage(4.9) is None
    assert p.in_outage(5.0) == pytest.approx(8.0)
    assert p.in_outage(16.0) == pytest.approx(18.0)
    assert p.in_outage(18.5) is None
    merged = LinkProfile('m', outages=((1.0, 2.0), (2.0, 3.5)))
    assert merged.in_outage(1.2) == pytest.approx(3.5)


@pytest.mark.parametrize(
    'values, key',
    [
        ({'delay_ms': 10}, 'bandwidth_mbit_s'),
        ({'bandwidth_mbit_s': 0}, 'bandwidth_mbit_s'),
        ({'bandwidth_mbit_s': 1, 'loss': 1.5}, 'loss'),
        ({'bandwidth_mbit_s': 1, 'outage_mode': 'pause'}, 'outage_mode'),
        ({'bandwidth_mbit_s': 1, 'outages': [[3, 1]]}, 'outages'),
        ({'bandwidth_mbit_s': 1, 'delay': 5}, 'unknown key'),
        ({'bandwidth_mbit_s': 'fast'}, 'bad value'),
    ],
)
def test_bad_profiles_are_refused_with_the_key_named(values, key):
    with pytest.raises(ConfigError, match=key):
        LinkProfile.from_mapping(values, 'x.yaml')


def test_unknown_profile_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match='known: .*degraded'):
        load_profile('nonexistent')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('bandwidth_mbit_s: [1\n')
    with pytest.raises(ConfigError, match='cannot read'):
        load_profile(str(bad))
