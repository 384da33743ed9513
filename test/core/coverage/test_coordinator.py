"""core.coverage.coordinator: the swarm coordinator's decisions, driven without ROS."""

from __future__ import annotations

from dataclasses import dataclass, field

from shapely.geometry import box

from uav_flood.core.coverage import Area, PlanConfig
from uav_flood.core.coverage.coordinator import Coordinator
from uav_flood.core.status_schema import CONNECTED, VehicleStatus


@dataclass(frozen=True)
class Config:
    vehicles: tuple[str, ...] = ('uav0', 'uav1')
    plan: PlanConfig = field(default_factory=PlanConfig)
    cruise_speed_m_s: float = 5.0
    status_timeout_s: float = 3.0
    fleet_wait_s: float = 5.0
    replan_on_loss: bool = True
    start_timeout_s: float = 60.0
    readmit_after_s: float = 5.0
    max_readmissions: int = 3
    readmit_min_battery_pct: float = 35.0
    state_file: str = ''
    auto_resume: bool = True
    map_gap_rounds: int = 0
    map_gap_min_m2: float = 25.0
    map_quiet_s: float = 5.0


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, text: str, **_: object) -> None:
        self.lines.append(('info', text))

    def warning(self, text: str, **_: object) -> None:
        self.lines.append(('warning', text))

    def error(self, text: str, **_: object) -> None:
        self.lines.append(('error', text))


READY = VehicleStatus(
    connection=CONNECTED, armed=False, landed_state='on_ground', ready_to_arm=True
)


def rig():
    clock = [100.0]
    sent: list[tuple[str, int, int]] = []
    log = Log()
    coordinator = Coordinator(
        Config(),
        log,
        lambda: int(clock[0] * 1e9),
        lambda name, path, stamp: sent.append((name, len(path), stamp)),
        lambda: None,
        '/swarm/battery_swapped',
    )
    return coordinator, clock, sent, log


def report(coordinator, names=('uav0', 'uav1')):
    for k, name in enumerate(names):
        coordinator.on_status(name, READY)
        coordinator.on_pose(name, 10.0 * k, 0.0, 0.0)
        coordinator.on_battery(name, 1.0)


def test_it_plans_once_the_area_and_the_fleet_are_known_and_sends_one_stamp():
    coordinator, clock, sent, _ = rig()
    report(coordinator)
    coordinator.check()
    assert sent == [] and coordinator.swarm_status().state == 'waiting for the area of interest'
    coordinator.set_area(Area(box(0.0, 0.0, 300.0, 200.0)))
    coordinator.check()
    assert sorted(name for name, _, _ in sent) == ['uav0', 'uav1']
    assert len({stamp for _, _, stamp in sent}) == 1 and sent[0][2] == int(100e9)
    status = coordinator.swarm_status()
    assert status.busy and status.drone('uav0').state == 'sent'


def test_a_silent_drone_is_lost_and_its_part_flown_by_the_other():
    coordinator, clock, sent, log = rig()
    report(coordinator)
    coordinator.set_area(Area(box(0.0, 0.0, 300.0, 200.0)))
    coordinator.check()
    sent.clear()
    clock[0] += 10.0  # uav1 says nothing more; uav0 keeps reporting
    coordinator.on_status('uav0', READY)
    coordinator.on_pose('uav0', 0.0, 0.0, 0.0)
    coordinator.check()
    assert coordinator.swarm_status().drone('uav1').lost
    assert [name for name, _, _ in sent] == ['uav0']
    assert coordinator.swarm_status().replans == 1
    assert any(
        level == 'error' and 'uav1 lost: status silent' in text for level, text in log.lines
    )


def test_an_operator_swap_with_nothing_waiting_is_refused():
    coordinator, _, _, _ = rig()
    assert coordinator.battery_swapped() == (False, 'no drone is waiting for a battery swap')
