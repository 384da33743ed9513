"""Bad input gets a PlanningError with a clear message, never a traceback from deep inside."""

import json
from pathlib import Path
import subprocess
import sys

import pytest
from shapely.geometry import box, Polygon

from uav_flood.core.coverage import Area, Drone, plan_coverage, PlanConfig, PlanningError
from uav_flood.core.geo import GeoPoint, LocalFrame

FRAME = LocalFrame(GeoPoint(29.76, -95.37, 0.0))
AOI = Path(__file__).resolve().parents[2] / 'data' / 'aoi'


def polygon_doc(ring: list[list[float]]) -> dict[str, object]:
    return {'type': 'Polygon', 'coordinates': [ring]}


@pytest.mark.parametrize(
    ('doc', 'message'),
    [
        (
            polygon_doc(
                [
                    [-95.37, 29.76],
                    [-95.36, 29.77],
                    [-95.36, 29.76],
                    [-95.37, 29.77],
                    [-95.37, 29.76],
                ]
            ),
            'not a simple polygon',
        ),
        (polygon_doc([]), 'fewer than 4 positions'),
        ({'type': 'FeatureCollection', 'features': []}, 'no area polygon'),
        (
            polygon_doc([[-95.37, 95.0], [-95.36, 29.77], [-95.36, 29.76], [-95.37, 95.0]]),
            'latitude 95.0 out of range',
        ),
        (
            polygon_doc([[-195.0, 29.76], [-95.36, 29.77], [-95.36, 29.76], [-195.0, 29.76]]),
            'longitude -195.0 out of range',
        ),
    ],
)
def test_bad_polygons(doc: dict[str, object], message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        Area.from_geojson(doc, FRAME)


def test_zero_drones() -> None:
    with pytest.raises(PlanningError, match='fleet is empty'):
        plan_coverage(Area(box(0, 0, 100, 100)), [])


@pytest.mark.parametrize('overlap', [-0.1, 0.9, 1.5, float('nan')])
def test_overlap_outside_range(overlap: float) -> None:
    with pytest.raises(PlanningError, match=r'overlap must be in \[0, 0.9\)'):
        PlanConfig(overlap=overlap)


def test_no_fly_zones_covering_the_whole_area() -> None:
    area = Area(box(0, 0, 100, 100), no_fly=box(-10, -10, 110, 110))
    with pytest.raises(PlanningError, match='cover the whole area'):
        plan_coverage(area, [Drone('uav0', (-50.0, -50.0))])


def test_an_area_beyond_the_fleets_batteries_is_refused_with_the_fleets_figures() -> None:
    """Not the last drone's share of the rest ("uav9 needs 18145 s"): what the fleet needs."""
    import re

    area = Area(box(0, 0, 2000, 2000))
    drones = [Drone('uav0', (0.0, 0.0), 90.0), Drone('uav1', (0.0, 0.0), 60.0)]
    with pytest.raises(PlanningError, match='the fleet cannot fly this area on one battery each'):
        plan_coverage(area, drones, PlanConfig(base_altitude_m=30.0))
    try:
        plan_coverage(area, drones, PlanConfig(base_altitude_m=30.0))
    except PlanningError as exc:
        message, blamed = str(exc), exc.drone
    assert blamed in ('uav0', 'uav1')
    needed, batteries, count, has = re.search(
        r'needs about (\d+) s of flight in all, ([\d.]+) full batteries of 1143 s with the 20% '
        r'reserve, and its (\d) drone\(s\) have (\d+) s',
        message,
    ).groups()
    # (90 - 20) % and (60 - 20) % at 0.07 %/s
    assert int(has) == round((70.0 + 40.0) / 0.07) and count == '2'
    assert float(batteries) == pytest.approx(int(needed) / (80.0 / 0.07), abs=0.06)
    # The flight the area takes, roughly: the geometry-only plan's total, within 10 %.
    free = plan_coverage(area, drones, PlanConfig(base_altitude_m=30.0, check_energy=False))
    total = sum(d.expected_time_s for d in free.drones)
    assert int(needed) == pytest.approx(total, rel=0.10)


def test_low_battery_drone_gets_less_area() -> None:
    area = Area(box(0, 0, 300, 300))
    drones = [Drone('uav0', (0.0, 0.0), 100.0), Drone('uav1', (0.0, 0.0), 45.0)]
    plan = plan_coverage(area, drones, PlanConfig(base_altitude_m=30.0))
    full, low = plan.drones
    assert low.part.area < full.part.area
    assert low.energy_pct + 20.0 <= 45.0 + 1e-6
    assert plan.metrics.coverage >= 0.995


def test_self_intersecting_map_polygon() -> None:
    with pytest.raises(PlanningError, match='not a simple polygon'):
        Area(Polygon([(0, 0), (100, 100), (100, 0), (0, 100)]))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'uav_flood.cli', 'plan', *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_plan(tmp_path: Path) -> None:
    out = tmp_path / 'out'
    result = run_cli(
        str(AOI / 'no_fly.geojson'),
        '--drones',
        '3',
        '--out',
        str(out),
        '--altitude',
        '40',
        '--no-energy-check',
    )
    assert result.returncode == 0, result.stderr
    assert 'uav2' in result.stdout and 'coverage 100.00 %' in result.stdout
    doc = json.loads((out / 'plan.geojson').read_text())
    lines = [f for f in doc['features'] if f['geometry']['type'] == 'LineString']
    assert [f['properties']['drone'] for f in lines] == ['uav0', 'uav1', 'uav2']
    for f in lines:
        assert set(f['properties']) >= {
            'drone',
            'altitude_m',
            'swath_m',
            'length_m',
            'expected_time_s',
        }
        lon, lat = f['geometry']['coordinates'][0]
        assert 29.7 < lat < 29.8 and -95.4 < lon < -95.3
    assert any(f['geometry']['type'] == 'Polygon' for f in doc['features'])
    assert (out / 'plan.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_cli_plans_from_the_ground_resolution_wanted(tmp_path: Path) -> None:
    from uav_flood.core.coverage.footprint import altitude_for_gsd, Camera, gsd_cm

    out = tmp_path / 'out'
    result = run_cli(
        str(AOI / 'convex_small.geojson'), '--drones', '2', '--out', str(out), '--gsd-cm', '5'
    )
    assert result.returncode == 0, result.stderr
    # 5 cm/px with the 640 px, 70 deg camera: 640 x 0.05 m / (2 tan 35 deg) = 22.85 m
    assert altitude_for_gsd(Camera(), 5.0) == pytest.approx(22.85, abs=0.01)
    assert gsd_cm(Camera(), altitude_for_gsd(Camera(), 5.0)) == pytest.approx(5.0)
    assert 'ground resolution 5.0 cm/px at 23 m to 6.1 cm/px at 28 m' in result.stdout
    assert 'the flood model sees 6.2-7.6 cm/px' in result.stdout
    assert 'warning' not in result.stderr
    doc = json.loads((out / 'plan.geojson').read_text())
    lines = [f['properties'] for f in doc['features'] if f['geometry']['type'] == 'LineString']
    assert [round(p['gsd_cm'], 1) for p in lines] == [5.0, 6.1]
    assert lines[0]['altitude_m'] == pytest.approx(22.85, abs=0.01)


def test_cli_warns_when_the_model_never_saw_such_a_resolution(tmp_path: Path) -> None:
    # 2 cm/px from the camera is 2.5 cm/px once the frame is shrunk to 512 px: below 4
    fine = run_cli(
        str(AOI / 'convex_small.geojson'),
        '--drones',
        '1',
        '--out',
        str(tmp_path / 'fine'),
        '--gsd-cm',
        '2',
        '--no-energy-check',
    )
    assert fine.returncode == 0, fine.stderr
    assert 'warning: the flood model was trained at 4-30 cm/px' in fine.stderr
    assert 'at 2.5 cm/px its accuracy is unmeasured' in fine.stderr
    usual = run_cli(
        str(AOI / 'convex_small.geojson'), '--drones', '1', '--out', str(tmp_path / 'usual')
    )
    assert usual.returncode == 0 and 'warning' not in usual.stderr
    assert 'ground resolution 13.1 cm/px at 60 m' in usual.stdout


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['--overlap', '0.95'], 'overlap must be in'),
        (['--drones', '0'], '--drones must be at least 1'),
        (['--home', '95,0'], '--home'),
        (['--gsd-cm', '5', '--altitude', '50'], 'give --altitude or --gsd-cm, not both'),
        (['--gsd-cm', '0'], 'ground resolution must be > 0 cm per pixel'),
        (['--gsd-cm', 'nan'], 'ground resolution must be > 0 cm per pixel'),
        (['--max-altitude', '-1'], '--max-altitude must be > 0 m'),
        # 2 drones 5 m apart at 118 m: the second would fly at 123 m
        (['--altitude', '118'], 'the highest flies at 123.0 m, above --max-altitude 120 m'),
        (['--gsd-cm', '26'], '--gsd-cm 26 needs 118.8 m; with 2 drone(s) 5 m apart the highest'),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = [str(AOI / 'convex_small.geojson'), '--drones', '2', '--out', str(tmp_path)]
    if '--drones' in args:
        base = [str(AOI / 'convex_small.geojson'), '--out', str(tmp_path)]
    result = run_cli(*base, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize('how', ['deep', 'huge', 'out_is_input', 'out_link', 'many_drones'])
def test_cli_hostile_input_exits_2_with_one_line(tmp_path: Path, how: str) -> None:
    area = tmp_path / 'area.geojson'
    area.write_text((AOI / 'convex_small.geojson').read_text())
    out = tmp_path / 'out'
    args = [str(area), '--drones', '2', '--out', str(out)]
    message = {
        'deep': 'is not usable JSON: it is nested too deeply',
        'huge': 'is larger than the 50 MB limit for this kind of file',
        'out_is_input': 'would overwrite the input',
        'out_link': 'would overwrite the input',
        'many_drones': '--drones must be at most 1000, got 1000000000',
    }[how]
    if how == 'deep':
        area.write_text('[' * 100_000 + ']' * 100_000)
    elif how == 'huge':
        with area.open('r+b') as f:
            f.truncate(51 * 1024 * 1024)
    elif how == 'out_is_input':
        area = tmp_path / 'plan.geojson'
        area.write_text((AOI / 'convex_small.geojson').read_text())
        args = [str(area), '--drones', '2', '--out', str(tmp_path)]
    elif how == 'out_link':
        out.mkdir()
        (out / 'plan.png').symlink_to(area)
    else:
        args[2] = '1000000000'
    before = area.read_bytes()
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith('uav-flood plan: error: ')
    assert len(result.stderr.strip().splitlines()) == 1 and 'Traceback' not in result.stderr
    assert message in result.stderr
    assert area.read_bytes() == before
    assert not (out / 'plan.geojson').exists()
