"""link_emulator: relays edge traffic between drones and the edge server through an emulated link.

Kernel netem is not available on our machines, so this node stands between the two sides and
imposes a link profile (core.link: bandwidth, delay, jitter, loss, outages; config/links/*.yaml):

- uplink: /<vehicle>/edge/uplink (the drone publishes its requests here) -> /<vehicle>/edge/request
- downlink: /<vehicle>/edge/result (the edge server's answers) -> /<vehicle>/edge/downlink

Each vehicle and direction has its own seeded LinkScheduler (deterministic per `seed`). A
callback only asks the scheduler when the message arrives and pushes it on a heap; a delivery
thread publishes each message at its arrival time (callbacks never sleep). Dropped messages are
counted by reason. /edge/link_status (DiagnosticArray, 1 Hz) reports per vehicle and direction
the messages relayed and dropped and their mean delay.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any

from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CompressedImage

from uav_flood.core.errors import ConfigError
from uav_flood.core.link import DROP_REASONS, LinkProfile, LinkScheduler, load_profile
from uav_flood.nodes import names
from uav_flood.nodes.conversions import diagnostic_array, StatusPublisher
from uav_flood.nodes.params import declare_read_only, parse_vehicles
from uav_flood.nodes.spin import spin_node, stop_worker

# name: (default, description). Defaults equal config/link_emulator.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'vehicles': (['uav0', 'uav1', 'uav2'], 'Namespaces whose edge traffic is relayed.'),
    'profile': (
        'good',
        'Link profile: a name in config/links (good, degraded, outages) or a file.',
    ),
    'seed': (0, 'Seed of the loss and jitter draws (same seed, same link).'),
    'overhead_bytes': (64, 'Bytes added to each message on the wire (headers).'),
    'status_period_s': (1.0, 'Period (s) of /edge/link_status.'),
}
DIRECTIONS = ('uplink', 'downlink')


class _Direction:
    """One vehicle's link in one direction: its scheduler, publisher and counters."""

    def __init__(self, profile: LinkProfile, seed: int, publisher: Publisher) -> None:
        self.link = LinkScheduler(profile, seed)
        self.publisher = publisher
        self.relayed = 0
        self.delay_sum_s = 0.0


class LinkEmulatorNode(Node):
    """Relay edge requests and results with the delay, loss and outages of a link profile."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('link_emulator', **kwargs)
        values = declare_read_only(self, PARAMETERS)
        vehicles = list(parse_vehicles(values['vehicles']))
        if int(values['overhead_bytes']) < 0 or not float(values['status_period_s']) > 0:
            raise ConfigError('overhead_bytes must be >= 0 and status_period_s > 0')
        self.profile = load_profile(str(values['profile']))
        self._overhead = int(values['overhead_bytes'])
        seed = int(values['seed'])

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Direction, CompressedImage, float]] = []
        self._order = itertools.count()
        self._stopping = False
        self._t0 = time.monotonic()
        self.links: dict[tuple[str, str], _Direction] = {}
        topics = {
            'uplink': (names.EDGE_UPLINK, names.EDGE_REQUEST),
            'downlink': (names.EDGE_RESULT, names.EDGE_DOWNLINK),
        }
        for index, vehicle in enumerate(vehicles):
            for offset, direction in enumerate(DIRECTIONS):
                source, target = topics[direction]
                publisher = self.create_publisher(
                    CompressedImage, f'/{vehicle}/{target.name}', target.qos
                )
                link = _Direction(self.profile, seed * 1000 + 2 * index + offset, publisher)
                self.links[(vehicle, direction)] = link
                self.create_subscription(
                    CompressedImage,
                    f'/{vehicle}/{source.name}',
                    lambda msg, link=link: self._on_message(link, msg),
                    source.qos,
                )
        self._status_pub = StatusPublisher(self, names.EDGE_LINK_STATUS)
        self.create_timer(float(values['status_period_s']), self._publish_status)
        self._thread = threading.Thread(target=self._deliver, name='link_emulator', daemon=True)
        self._thread.start()
        p = self.profile
        self.get_logger().info(
            f'relaying {", ".join(vehicles)} over link {p.name!r}: '
            f'{p.bandwidth_bps / 1e6:g} Mbit/s, {p.delay_s * 1e3:g} ms +- '
            f'{p.jitter_s * 1e3:g} ms, loss {p.loss:.0%}, outages '
            f'{"periodic" if p.outage_period_s else "none"}'
            f'{f" + {len(p.outages)} windows" if p.outages else ""} ({p.outage_mode}), seed {seed}'
        )

    def now_s(self) -> float:
        """Return the link's time (s since the node started)."""
        return time.monotonic() - self._t0

    def _on_message(self, link: _Direction, msg: CompressedImage) -> None:
        with self._wake:
            sent = self.now_s()
            delivery = link.link.send(sent, len(msg.data) + self._overhead)
            if delivery.arrival_s is None:
                return
            heapq.heappush(self._heap, (delivery.arrival_s, next(self._order), link, msg, sent))
            self._wake.notify()

    def _deliver(self) -> None:
        """Publish each message at its arrival time (runs on its own thread)."""
        while True:
            with self._wake:
                while not self._stopping:
                    wait = self._heap[0][0] - self.now_s() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._stopping:
                    return
                _, _, link, msg, sent = heapq.heappop(self._heap)
                link.relayed += 1
                link.delay_sum_s += self.now_s() - sent
            try:
                link.publisher.publish(msg)
            except Exception as exc:  # noqa: BLE001  (context shut down under us: stop quietly)
                self.get_logger().warning(f'relay failed: {exc}', throttle_duration_sec=5.0)

    def status_values(self) -> dict[str, str]:
        """Return per vehicle and direction: sent, relayed, mean delay, drops by reason."""
        values: dict[str, str] = {'profile': self.profile.name}
        with self._lock:
            for (vehicle, direction), link in self.links.items():
                key = f'{vehicle}_{direction}'
                values[f'{key}_sent'] = str(link.link.sent)
                values[f'{key}_relayed'] = str(link.relayed)
                mean = link.delay_sum_s / link.relayed * 1e3 if link.relayed else float('nan')
                values[f'{key}_delay_ms_mean'] = f'{mean:.1f}'
                for reason in DROP_REASONS:
                    values[f'{key}_dropped_{reason}'] = str(link.link.dropped[reason])
            values['in_flight'] = str(len(self._heap))
        return values

    def _publish_status(self) -> None:
        values = self.status_values()
        self._status_pub.publish(
            diagnostic_array(
                self.get_fully_qualified_name(),
                'link',
                'OK',
                f'link {self.profile.name}, {values["in_flight"]} messages in flight',
                values,
                self.get_clock().now().to_msg(),
            )
        )

    def destroy_node(self) -> None:
        """Stop and join the delivery thread, then destroy the node."""
        stop_worker(self, '_thread')
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run link_emulator until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    # Single-threaded executor: callbacks only schedule; the node's thread publishes on time.
    spin_node('link_emulator', LinkEmulatorNode, args)


if __name__ == '__main__':
    main()
