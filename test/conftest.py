"""Fixtures shared by every test: isolated ROS 2 domains, rclpy contexts and executors."""

import os
from pathlib import Path
import sys
import tempfile

import pytest

from uav_flood.testing import DomainIdAllocator, ros_env, UdpPortAllocator, worker_index

# Keep ROS 2 traffic and logs of the test run on this machine and out of the user's home.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='uav-flood-test-roslog-'))
# Every test process (and its children) starts outside the ROS 2 domain of the user.
os.environ['ROS_DOMAIN_ID'] = '0'

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent

_allocator: DomainIdAllocator | None = None
_port_allocator: UdpPortAllocator | None = None


@pytest.fixture
def domain_id(worker_id: str) -> int:
    """Return a ROS_DOMAIN_ID no other test of this run is using right now."""
    global _allocator
    if _allocator is None:
        _allocator = DomainIdAllocator(worker_index(worker_id))
    return _allocator.allocate()


@pytest.fixture
def udp_ports(worker_id: str):
    """Return a function `allocate(count) -> first port` of consecutive free UDP ports.

    Use it for every MAVLink port a test opens: never the fixed PX4 ports (14540+, 14550).
    """
    global _port_allocator
    if _port_allocator is None:
        _port_allocator = UdpPortAllocator(worker_index(worker_id))
    return _port_allocator.allocate


@pytest.fixture
def child_env(domain_id: int) -> dict[str, str]:
    """Return the environment for child processes that must join this test's domain."""
    return ros_env(domain_id)


@pytest.fixture
def ros_context(domain_id: int):
    """Yield an initialised rclpy Context on this test's own domain; shut it down after."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@pytest.fixture
def executor(ros_context):
    """Yield a SingleThreadedExecutor bound to the test's context; shut down (with nodes) after."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=ros_context)
    try:
        yield executor
    finally:
        for node in list(executor.get_nodes()):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown(timeout_sec=1.0)


@pytest.fixture
def bin_dir() -> Path:
    """Return the directory holding the console scripts of the environment running the tests."""
    return BIN_DIR


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give xdist_group tests their '@group' node id suffix, so --dist loadgroup keeps a group on
    one worker (the demo end to end and the deadline tests, one after the other).

    pytest-xdist 3.8 sets `item._nodeid`, which pytest 9 no longer reads (a node id is
    `item._id` now): without this the groups were silently spread over the workers, and two
    `--drone-hosts` demos collided on their networks.
    """
    if not getattr(config.option, 'loadgroup', False) and config.getvalue('dist') != 'loadgroup':
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # an older pytest: xdist's own suffix works there
        return
    for item in items:
        groups = sorted(
            {
                str(mark.args[0] if mark.args else mark.kwargs.get('name', 'default'))
                for mark in item.iter_markers('xdist_group')
            }
        )
        if groups and '@' not in item.nodeid:
            item._id = coerce_node_id(f'{item.nodeid}@{"_".join(groups)}')
