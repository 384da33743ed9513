"""core.sitl: PX4 SITL's home and port scheme, the one place the defaults come from."""

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
    from uav_flood.demo import cli as demo_cli
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
