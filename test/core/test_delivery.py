"""Delivery core: the drone's outbox (bounds, backoff, pacing) and the mapper's ledger (no ROS)."""

import numpy as np
import pytest

from uav_flood.core.delivery import (
    DeliveryLedger,
    DeliveryStateError,
    load_state,
    message_bytes,
    Outbox,
    OutboxConfig,
    save_state,
    Seen,
    stamp_ns,
)
from uav_flood.core.errors import ConfigError


def test_stamp_ns_is_the_id():
    assert stamp_ns(1, 5) == 1_000_000_005
    assert stamp_ns(1_700_000_000, 999_999_999) == 1_700_000_000_999_999_999


@pytest.mark.parametrize(
    'field, value',
    [
        ('max_pending', -1),
        ('max_bytes', 0),
        ('ack_timeout_s', 0.0),
        ('ack_timeout_s', float('nan')),
        ('max_backoff_s', 1.0),  # below the default ack timeout
        ('resend_rate_hz', 0.0),
        ('resend_bytes_per_s', -5.0),
        ('recent_ids', 0),
    ],
)
def test_outbox_config_refuses_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        OutboxConfig(**{field: value})


def test_kept_until_acked_then_forgotten():
    box = Outbox(OutboxConfig(ack_timeout_s=1.0, max_backoff_s=4.0))
    for k in range(3):
        assert box.add(k, f'obs{k}', 100, now_s=0.0)
    assert len(box) == 3 and box.pending_bytes == 300
    assert box.ack([0, 2, 99], now_s=0.5) == 2
    assert len(box) == 1 and 1 in box and box.pending_bytes == 100
    stats = box.stats()
    assert stats['acked'] == 2 and stats['acks_unknown'] == 1 and stats['pending'] == 1


def test_resend_backoff_doubles_up_to_the_cap():
    box = Outbox(OutboxConfig(ack_timeout_s=1.0, max_backoff_s=4.0))
    box.add(7, 'x', 10, now_s=0.0)
    sends = [t / 10 for t in range(0, 200) if box.due(t / 10)]
    # Sent at 0; re-sent after 1 s, then waits of 2, 4, 4, 4 ... s.
    assert sends == [1.0, 3.0, 7.0, 11.0, 15.0, 19.0]
    assert box.stats()['resent'] == 6


def test_full_outbox_drops_the_oldest_and_counts_it():
    box = Outbox(OutboxConfig(max_pending=3, max_bytes=1000))
    for k in range(5):
        box.add(k, k, 100, now_s=0.0)
    assert len(box) == 3 and [k for k in range(5) if k in box] == [2, 3, 4]
    assert box.stats()['dropped_full'] == 2
    # The byte bound too: 450-byte observations, 1000 bytes: two fit.
    box = Outbox(OutboxConfig(max_pending=100, max_bytes=1000))
    for k in range(4):
        box.add(k, k, 450, now_s=0.0)
    assert [k for k in range(4) if k in box] == [2, 3] and box.pending_bytes == 900
    assert box.dropped_full == 2
    # One larger than the whole bound is sent once, not kept, and counted.
    assert box.add(10, 'huge', 5000, now_s=0.0)
    assert 10 not in box and box.dropped_full == 3 and len(box) == 2


def test_an_id_seen_before_is_a_collision_and_not_sent():
    """An edge result and an on-board hedge of one frame share a stamp: only one goes out."""
    box = Outbox(OutboxConfig(recent_ids=4))
    assert box.add(5, 'edge result', 10, now_s=0.0)
    assert not box.add(5, 'hedge result', 10, now_s=0.1)
    box.ack([5], now_s=0.2)
    assert not box.add(5, 'late copy', 10, now_s=0.3)  # acked, but still remembered
    assert box.stats()['id_collisions'] == 2 and box.stats()['added'] == 1


def test_outbox_off_sends_once_and_keeps_nothing():
    box = Outbox(OutboxConfig(max_pending=0))
    assert box.add(1, 'a', 10, now_s=0.0)
    assert len(box) == 0 and box.due(100.0) == []
    assert not box.add(1, 'a again', 10, now_s=0.0)


def test_resends_are_paced_by_messages_and_bytes():
    config = OutboxConfig(
        ack_timeout_s=5.0, max_backoff_s=100.0, resend_rate_hz=10.0, resend_bytes_per_s=1e9
    )
    box = Outbox(config)
    for k in range(100):
        box.add(k, k, message_bytes(1000), now_s=0.0)
    sent = []
    t = 5.0
    while t < 8.0 + 1e-9:
        sent += [k for k, _ in box.due(t)]
        t = round(t + 0.1, 3)
    # 1 s of burst (10) then 10 a second for 3 s: about 40, oldest first, none twice.
    assert 38 <= len(sent) <= 42 and sent == list(range(len(sent)))
    # Bytes: 10 kB/s of 2024-byte messages: 5 a second.
    box = Outbox(
        OutboxConfig(
            ack_timeout_s=1.0, max_backoff_s=100.0, resend_rate_hz=1000.0, resend_bytes_per_s=1e4
        )
    )
    for k in range(100):
        box.add(k, k, message_bytes(1000), now_s=0.0)
    count = sum(len(box.due(round(1.0 + 0.1 * i, 3))) for i in range(31))
    assert 18 <= count <= 22


def test_an_ack_after_a_silence_makes_the_backlog_due_at_once():
    """The link came back: what waits in backoff goes out now (paced), not after the backoff."""
    box = Outbox(OutboxConfig(ack_timeout_s=1.0, max_backoff_s=30.0, resend_rate_hz=1000.0))
    for k in range(5):
        box.add(k, k, 10, now_s=0.0)
    for t in (1.0, 3.0, 7.0, 15.0):  # outage: re-sent into the void, backoff grows to 16 s
        assert len(box.due(t)) == 5
    assert box.due(20.0) == []
    box.add(9, 9, 10, now_s=20.0)  # sent once just now: not yet in backoff
    assert box.ack([0], now_s=20.5) == 1  # the first ack after 20 s of silence
    assert sorted(k for k, _ in box.due(20.5)) == [1, 2, 3, 4]
    # A second ack soon after is no silence: nothing more is pulled forward.
    box.ack([1], now_s=20.6)
    assert box.due(20.6) == []
    assert [k for k, _ in box.due(21.0)] == [9]  # its own first timeout


def test_ledger_dedupes_and_acks_only_durable_fusions():
    ledger = DeliveryLedger(['uav0', 'uav1'], window=100)
    assert ledger.check('uav0', 10) == Seen.NEW
    ledger.record_fused('uav0', 10, seq=1)
    ledger.record_fused('uav1', 10, seq=2)  # the same stamp of another vehicle is another id
    assert ledger.take_acks('uav0', 10) == []  # not in a checkpoint yet
    assert ledger.check('uav0', 10) == Seen.DUPLICATE
    assert ledger.take_acks('uav0', 10) == []  # a duplicate of a non-durable one: later
    assert ledger.awaiting_checkpoint == 2
    assert ledger.mark_durable(1) == 1
    assert ledger.take_acks('uav0', 10) == [10] and ledger.take_acks('uav1', 10) == []
    assert ledger.check('uav0', 10) == Seen.DUPLICATE  # its ack was lost: acked again
    assert ledger.take_acks('uav0', 10) == [10]
    ledger.mark_durable(2)
    assert ledger.take_acks('uav1', 10) == [10]
    assert (ledger.fused, ledger.duplicates, ledger.acked) == (2, 2, 3)
    ledger.record_final('uav1', 11)  # refused: acknowledged at once
    assert ledger.take_acks('uav1', 10) == [11]


def test_ledger_without_checkpoint_acks_at_once():
    ledger = DeliveryLedger(['uav0'], immediate=True)
    ledger.record_fused('uav0', 3, seq=1)
    assert ledger.take_acks('uav0', 10) == [3]
    assert ledger.check('uav0', 3) == Seen.DUPLICATE
    assert ledger.take_acks('uav0', 10) == [3]


def test_take_acks_is_batched():
    ledger = DeliveryLedger(['uav0'], immediate=True)
    for k in range(25):
        ledger.record_fused('uav0', k, seq=k + 1)
    assert ledger.take_acks('uav0', 10) == list(range(10))
    assert ledger.acks_queued() == 15


def test_window_forgets_the_oldest_durable_stamps_and_raises_the_floor():
    ledger = DeliveryLedger(['uav0'], window=3)
    for seq, obs_id in enumerate([50, 10, 40, 30, 20], start=1):
        ledger.record_fused('uav0', obs_id, seq)
    # Nothing durable yet: nothing may be forgotten (a restart could need it).
    assert ledger.remembered('uav0') == 5 and ledger.floor['uav0'] == -1
    ledger.mark_durable(5)
    assert ledger.take_acks('uav0', 10) == [50, 10, 40, 30, 20]
    assert ledger.remembered('uav0') == 3 and ledger.floor['uav0'] == 20
    assert ledger.check('uav0', 10) == Seen.EXPIRED  # forgotten: may have been fused
    assert ledger.check('uav0', 15) == Seen.EXPIRED  # below the floor, never seen: unknowable
    assert ledger.check('uav0', 30) == Seen.DUPLICATE
    assert ledger.check('uav0', 35) == Seen.NEW
    assert ledger.expired == 2 and ledger.take_acks('uav0', 10) == [10, 15, 30]


def test_ledger_state_round_trip_keeps_only_what_the_checkpoint_holds(tmp_path):
    ledger = DeliveryLedger(['uav0', 'uav1'], window=10)
    for seq, (vehicle, obs_id) in enumerate(
        [('uav0', 1), ('uav1', 1), ('uav0', 2), ('uav0', 3), ('uav1', 4)], start=1
    ):
        ledger.record_fused(vehicle, obs_id, seq)
    ledger.check('uav0', 1)
    header, arrays = ledger.state()
    path = save_state(tmp_path / 'd.npz', {'ledger': header}, arrays)
    loaded_header, loaded_arrays = load_state(path)
    # The map checkpoint holds fusions 1..3: ids fused after it (uav0 3, uav1 4) are forgotten
    # so that their re-sends are fused again.
    again = DeliveryLedger(['uav1', 'uav0', 'uav9'], window=10)
    assert again.restore(loaded_header['ledger'], loaded_arrays, max_seq=3) == 3
    assert again.check('uav0', 1) == Seen.DUPLICATE and again.check('uav0', 2) == Seen.DUPLICATE
    assert again.check('uav1', 1) == Seen.DUPLICATE
    assert again.check('uav0', 3) == Seen.NEW and again.check('uav1', 4) == Seen.NEW
    assert again.duplicates == 1 + 3  # the saved count goes on
    assert again.take_acks('uav0', 10) == [1, 2]  # everything restored is durable


@pytest.mark.parametrize(
    'content',
    [b'', b'not a zip at all', b'PK\x03\x04' + b'\x00' * 40],
)
def test_corrupt_state_file_is_refused(tmp_path, content):
    path = tmp_path / 'bad.npz'
    path.write_bytes(content)
    with pytest.raises(DeliveryStateError):
        load_state(path)


def test_state_of_another_format_or_version_is_refused(tmp_path):
    np.savez(tmp_path / 'other.npz', header=np.frombuffer(b'{"format": "x"}', np.uint8))
    with pytest.raises(DeliveryStateError, match='not a uav_flood delivery state'):
        load_state(tmp_path / 'other.npz')
    save_state(tmp_path / 'ok.npz', {}, {})
    header, _ = load_state(tmp_path / 'ok.npz')
    assert header['version'] == 1
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / 'missing.npz')
