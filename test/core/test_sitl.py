"""core.sitl: PX4 SITL's home and port scheme, the one place the defaults come from."""

import pytest

from uav_flood.core import sitl
from uav_flood.core.geo import GeoPoint


def test_the_home_is_px4s_and_its_text_says_the_same():
    assert sitl.PX4_SITL_HOME == GeoPoint(47.397742, 8.545594, 488.0)
    assert GeoPoint.parse(sitl.PX4_SITL_HOME_TEXT) == sitl.PX4_SITL_HOME


def test_the_port_scheme_is_px4_sitls():
    # PX4 SITL instance i: offboard link to 14540 + i from 14580 + i; QGroundControl on 14550.
    assert [sitl.offboard_port(i) for i in range(3)] == [14540, 14541, 14542]
    assert [sitl.local_port(i) for i in range(3)] == [14580, 14581, 14582]
    assert sitl.GCS_PORT == 14550
    assert sitl.offboard_port(2, base_port=20000) == 20002
    assert sitl.local_port(2, base_port=20000) == 20042


def test_every_default_follows_it():
    from uav_flood.cli import demo as demo_cli
    from uav_flood.deploy.graphs import DEFAULT_ORIGIN
    from uav_flood.nodes.flight_control import PARAMETERS as FLIGHT
    from uav_flood.nodes.swarm_coordinator import PARAMETERS as SWARM
    from uav_flood.sim.simulator import PX4_DEFAULT_HOME, SimConfig

    home = sitl.PX4_SITL_HOME
    for table in (FLIGHT, SWARM):
        origin = GeoPoint(
            *(table[k][0] for k in ('origin_lat_deg', 'origin_lon_deg', 'origin_alt_m'))
        )
        assert origin == home
    assert FLIGHT['mavlink_base_port'][0] == sitl.MAVLINK_BASE_PORT
    assert DEFAULT_ORIGIN == PX4_DEFAULT_HOME == home
    assert GeoPoint.parse(demo_cli.DEFAULT_ORIGIN) == home
    assert SimConfig().base_port == sitl.MAVLINK_BASE_PORT


@pytest.mark.parametrize('factor', [0.001, 101.0, float('nan')])
def test_the_simulator_takes_speed_factors_in_the_one_range(factor):
    from uav_flood.core.errors import ConfigError
    from uav_flood.sim.simulator import SimConfig

    low, high = sitl.SPEED_FACTOR_RANGE
    with pytest.raises(ConfigError, match=f'must be {low:g}..{high:g}'):
        SimConfig(speed_factor=factor)
    SimConfig(speed_factor=high)


@pytest.mark.parametrize('factor', [0.001, 25.0, float('nan')])
def test_the_demo_takes_that_range_up_to_its_own_maximum(factor, tmp_path):
    from uav_flood.core.errors import ConfigError
    from uav_flood.demo.graph import DemoGraphConfig

    def config(speed: float) -> DemoGraphConfig:
        return DemoGraphConfig(
            drones=3, area_file=tmp_path / 'area.geojson', out_dir=tmp_path,
            origin=sitl.PX4_SITL_HOME, speed_factor=speed, base_port=20000, gcs_port=21000,
            link_profile='good', onboard_slowdown=1.0, camera_rate_hz=2.0, altitude_m=60.0,
            config_dir=tmp_path,
        )  # fmt: skip

    with pytest.raises(ConfigError, match=f'must be in .*{sitl.DEMO_MAX_SPEED_FACTOR:g}'):
        config(factor)
    assert config(sitl.DEMO_SPEED_FACTOR).speed_factor == 5.0
