"""The harness helpers themselves, without ROS."""

import pytest

from uav_flood.testing import (
    DOMAIN_ID_MAX,
    DOMAIN_ID_MIN,
    DomainIdAllocator,
    MAX_WORKERS,
    ros_env,
    spin_until,
    worker_index,
)


@pytest.mark.parametrize('worker, expected', [('gw0', 0), ('gw3', 3), ('master', 0), (None, 0)])
def test_worker_index(worker, expected, monkeypatch):
    monkeypatch.delenv('PYTEST_XDIST_WORKER', raising=False)
    assert worker_index(worker) == expected


def test_domain_ids_are_disjoint_across_workers_and_cycle_within_one():
    blocks = []
    for worker in range(MAX_WORKERS):
        allocator = DomainIdAllocator(worker)
        ids = [allocator.allocate() for _ in range(12)]
        assert len(set(ids)) == 12, 'consecutive tests of one worker must differ'
        blocks.append(set(ids))
        assert all(DOMAIN_ID_MIN <= i <= DOMAIN_ID_MAX for i in ids)
    for a in range(len(blocks)):
        for b in range(a + 1, len(blocks)):
            assert not blocks[a] & blocks[b]
    allocator = DomainIdAllocator(0)
    first = allocator.allocate()
    assert [allocator.allocate() for _ in range(11)][-1] != first
    assert allocator.allocate() == first  # wraps after its block of 12


def test_domain_id_allocator_rejects_bad_worker():
    with pytest.raises(ValueError):
        DomainIdAllocator(MAX_WORKERS)


class FakeExecutor:
    def __init__(self):
        self.spins = 0

    def spin_once(self, timeout_sec):
        assert 0 < timeout_sec <= 0.05
        self.spins += 1


def test_spin_until_stops_when_predicate_holds():
    ex = FakeExecutor()
    assert spin_until(ex, lambda: ex.spins >= 3, 5.0)
    assert ex.spins == 3


def test_spin_until_times_out():
    ex = FakeExecutor()
    assert not spin_until(ex, lambda: False, 0.2)
    assert ex.spins >= 1


def test_ros_env_sets_domain_and_localhost():
    env = ros_env(42, base={'PATH': '/bin'})
    assert env == {
        'PATH': '/bin',
        'ROS_DOMAIN_ID': '42',
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'PYTHONUNBUFFERED': '1',
    }


def test_udp_port_allocator_blocks_are_free_and_disjoint() -> None:
    import socket

    from uav_flood.testing import UdpPortAllocator

    a, b = UdpPortAllocator(0), UdpPortAllocator(1)
    first = a.allocate(6)
    second = a.allocate(6)
    other = b.allocate(6)
    assert (
        len({*range(first, first + 6), *range(second, second + 6), *range(other, other + 6)}) == 18
    )
    assert all(14540 > p or p > 14600 for p in (first, second, other))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(('127.0.0.1', first + 12))  # the next block of worker 0 is busy: skipped
        third = a.allocate(6)
        assert not third <= first + 12 < third + 6
