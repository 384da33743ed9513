"""`uav-flood plan` writes QGroundControl .plan files: QGC 4.x's fields, the sweep round-trips."""

import json
from pathlib import Path

import numpy as np
import pytest

from uav_flood import cli
from uav_flood.core.coverage import Area, first_vertex
from uav_flood.core.geo import GeoPoint, LocalFrame

AOI = Path(__file__).resolve().parents[2] / 'data' / 'aoi'

#: The keys QGroundControl's PlanMasterController and its managers require when they load a file
#: (QGC 4.x: fileType/version/groundStation, mission/geoFence/rallyPoints with their versions).
PLAN_KEYS = {'fileType', 'version', 'groundStation', 'mission', 'geoFence', 'rallyPoints'}
MISSION_KEYS = {
    'version',
    'firmwareType',
    'vehicleType',
    'cruiseSpeed',
    'hoverSpeed',
    'items',
    'plannedHomePosition',
}
ITEM_KEYS = {'type', 'autoContinue', 'command', 'frame', 'params', 'doJumpId'}


@pytest.mark.parametrize('name', ['holes', 'no_fly'])
def test_every_drone_gets_a_plan_qgc_opens_with_its_sweep(tmp_path, capsys, name):
    area_file = AOI / f'{name}.geojson'
    out = tmp_path / 'out'
    code = cli.main(['plan', str(area_file), '--drones', '8', '--out', str(out)])
    assert code == 0
    assert '(QGroundControl: File > Open)' in capsys.readouterr().out
    home = first_vertex(str(area_file))
    frame = LocalFrame(GeoPoint(home.lat_deg, home.lon_deg, 0.0))
    paths = {
        f['properties']['drone']: f['geometry']['coordinates']
        for f in json.loads((out / 'plan.geojson').read_text())['features']
        if f['geometry']['type'] == 'LineString'
    }
    assert sorted(p.name for p in out.glob('*.plan')) == [f'{d}.plan' for d in sorted(paths)]
    for drone, line in paths.items():
        plan = json.loads((out / f'{drone}.plan').read_text())
        assert PLAN_KEYS <= set(plan) and plan['fileType'] == 'Plan' and plan['version'] == 1
        mission = plan['mission']
        assert MISSION_KEYS <= set(mission) and mission['version'] == 2
        assert (mission['firmwareType'], mission['vehicleType']) == (12, 2)  # PX4, quadrotor
        assert mission['plannedHomePosition'][:2] == pytest.approx([home.lat_deg, home.lon_deg])
        items = mission['items']
        for k, item in enumerate(items, 1):
            assert ITEM_KEYS <= set(item) and item['type'] == 'SimpleItem'
            assert item['doJumpId'] == k and len(item['params']) == 7
            assert item['frame'] == (2 if item['command'] == 178 else 3)  # MISSION, REL_ALT
        commands = [item['command'] for item in items]
        # takeoff, speed up for the transit, the sweep at PX4's mission speed, the transit back
        # over home at 10 m/s, RTL: as flight_control uploads it
        sweep = [item for item in items if item['command'] == 16][:-1]
        speeds = [item['params'][1] for item in items if item['command'] == 178]
        if len(sweep) > 1:
            assert commands == [22, 178, 16, 178] + [16] * (len(sweep) - 1) + [178, 16, 20]
            assert speeds == [10.0, 5.0, 10.0]
        else:
            assert commands == [22, 178, 16, 16, 20] and speeds == [10.0]
        over_home = [i for i in items if i['command'] == 16][-1]['params'][4:6]
        assert over_home == pytest.approx([home.lat_deg, home.lon_deg], abs=1e-8)
        # Round trip: the waypoints are the planned path (to a millimetre), at one altitude.
        waypoints = np.asarray([item['params'][4:6] for item in sweep])
        east, north, _ = frame.to_enu(waypoints[:, 0], waypoints[:, 1])
        lon, lat = np.asarray(line).T
        want_e, want_n, _ = frame.to_enu(lat, lon)
        assert np.allclose(east, want_e, atol=1e-3) and np.allclose(north, want_n, atol=1e-3)
        assert len({item['params'][6] for item in items if item['command'] in (16, 22)}) == 1
        # The geofence: the area as inclusion, its holes as exclusions, rings open.
        fences = plan['geoFence']['polygons']
        area = Area.from_geojson(str(area_file), frame)
        assert sum(f['inclusion'] for f in fences) == len(getattr(area.region, 'geoms', [0]))
        assert sum(not f['inclusion'] for f in fences) >= 1
        for fence in fences:
            assert fence['polygon'][0] != fence['polygon'][-1] and len(fence['polygon']) >= 3
    # Each drone at its own layer (60, 65, 70 ... m above home).
    altitudes = {
        d: json.loads((out / f'{d}.plan').read_text())['mission']['items'][0]['params'][6]
        for d in paths
    }
    assert altitudes == {d: 60.0 + 5.0 * int(d.removeprefix('uav')) for d in paths}


def test_the_plan_figure_has_a_title_scale_legend_and_home(tmp_path, capsys):
    import cv2

    from uav_flood.cli.plan import AREA_BGR, COLOURS_BGR, NO_FLY_BGR

    out = tmp_path / 'out'
    assert cli.main(['plan', str(AOI / 'no_fly.geojson'), '--drones', '6', '--out', str(out)]) == 0
    figure = cv2.imread(str(out / 'plan.png'))
    footer = figure[-60:]
    # The legend's swatches: area, no-fly, each drone's colour; the scale bar is black.
    for colour in (AREA_BGR, NO_FLY_BGR, *COLOURS_BGR[:6]):
        assert np.all(footer == colour, axis=2).sum() >= 100, colour
    assert np.all(footer[:, :200] == 0, axis=2).sum() > 300  # the bar, left
    assert np.all(figure[:50] < 100, axis=2).sum() > 300  # the title and the north arrow
