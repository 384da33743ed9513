"""Feed every `uav-flood` command hostile and broken input; print what each one answers.

Run: .venv/bin/python bench/bad_input.py (prints a Markdown table and the machine; takes about a
minute, GNU time (/usr/bin/time) and 2.5 GB of memory for a moment, to encode the real 20000 x
20000 JPEG).

Every case runs the installed command as a process, in a scratch folder (so the messages show
short relative paths), and records its stderr (stdout for a case that succeeds), its exit status,
its wall time and its peak resident memory; the files a case must not touch are hashed before and
after. A case that prints a traceback, more than one line on stderr for a refusal, or changes its
input is reported below the table as a failure (exit status 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import hashlib
import json
import math
from pathlib import Path
import platform
import random
import subprocess
import sys
import tempfile
import time

from benchlib import cpu_model  # noqa: E402
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AOI = ROOT / 'test' / 'data' / 'aoi'
BIN = Path(sys.executable).parent / 'uav-flood'


@dataclass
class Case:
    """One bad input: how to make it, the command, and the files that must stay as they are."""

    kind: str
    command: str
    make: Callable[[Path], object] = lambda _: None
    untouched: list[str] = field(default_factory=list)


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document))


def square_m(path: Path, side_m: float) -> None:
    """Write a side_m x side_m square GeoJSON polygon at 47.4 N 8.5 E."""
    lat, lon = 47.4, 8.5
    d_lat = side_m / 111_320.0
    d_lon = side_m / (111_320.0 * math.cos(math.radians(lat)))
    ring = [[lon, lat], [lon + d_lon, lat], [lon + d_lon, lat + d_lat], [lon, lat + d_lat]]
    write_json(path, {'type': 'Polygon', 'coordinates': [[*ring, ring[0]]]})


def deep(path: Path) -> None:
    path.write_text('[' * 100_000 + ']' * 100_000)


def sparse(path: Path, size: int) -> None:
    with path.open('wb') as f:
        f.truncate(size)


def photos(folder: Path) -> None:
    from uav_flood.sim.scene import FloodScene

    bgr = FloodScene.load().rgb[:, :, ::-1]
    folder.mkdir(exist_ok=True)
    cv2.imwrite(str(folder / 'a.jpg'), bgr[:600, :800])
    cv2.imwrite(str(folder / 'b.png'), bgr[600:1000, 800:1400])


def huge_jpeg(path: Path) -> None:
    """Write a real 20000 x 20000 JPEG (grey: a few MB), as in the issue, in a child process."""
    code = (
        'import cv2, numpy as np, sys; image = np.full((20_000, 20_000, 3), 128, np.uint8); '
        'open(sys.argv[1], "wb").write(cv2.imencode(".jpg", image)[1].tobytes())'
    )
    subprocess.run([sys.executable, '-c', code, str(path)], check=True)


def cut_jpeg(path: Path) -> None:
    data = cv2.imencode('.jpg', np.full((300, 400, 3), 90, np.uint8))[1].tobytes()
    path.write_bytes(data[: len(data) // 2])


def recording(path: Path) -> None:
    from nav_msgs.msg import OccupancyGrid
    from rclpy.serialization import serialize_message

    from uav_flood.recording.mcap_io import McapRecordingWriter

    writer = McapRecordingWriter(path, chunk_size=2000)
    writer.add_channel('/uav0/flood_observation', 'nav_msgs/msg/OccupancyGrid')
    for i in range(20):
        msg = OccupancyGrid()
        msg.header.frame_id = 'map'
        msg.info.resolution = 0.5
        msg.info.width = msg.info.height = 20
        msg.info.origin.position.x = float(i)
        msg.data = [100 if (j + i) % 3 else 0 for j in range(400)]
        writer.write('/uav0/flood_observation', serialize_message(msg), 1000 + i, 1000 + i)
    writer.close()


def recording_with_map_claim(path: Path) -> None:
    from nav_msgs.msg import OccupancyGrid
    from rclpy.serialization import serialize_message

    from uav_flood.recording.mcap_io import McapRecordingWriter

    writer = McapRecordingWriter(path, chunk_size=2000)
    writer.add_channel('/uav0/flood_observation', 'nav_msgs/msg/OccupancyGrid')
    writer.add_channel('/flood_map', 'nav_msgs/msg/OccupancyGrid')
    msg = OccupancyGrid()
    msg.header.frame_id = 'map'
    msg.info.resolution = 0.5
    msg.info.width = msg.info.height = 20
    msg.data = [100] * 400
    writer.write('/uav0/flood_observation', serialize_message(msg), 1000, 1000)
    grid = OccupancyGrid()
    grid.header.frame_id = 'map'
    grid.info.resolution = 0.5
    grid.info.width = grid.info.height = 2**31
    writer.write('/flood_map', serialize_message(grid), 2000, 2000)
    writer.close()


def mangled(path: Path, how: str) -> None:
    recording(path)
    data = bytearray(path.read_bytes())
    if how == 'cut':
        data = data[: len(data) // 2]
    elif how == 'flip':
        from mcap.reader import make_reader

        with path.open('rb') as stream:
            summary = make_reader(stream).get_summary()
        assert summary is not None
        chunk = summary.chunk_indexes[0].chunk_start_offset
        data[chunk + 53 + 100] ^= 0x10  # past the chunk's 53-byte head: its zstd records
    elif how == 'schema':
        data = bytearray(bytes(data).replace(b'string frame_id', b'string Frame~id', 1))
    path.write_bytes(bytes(data))


def checkpoint(folder: Path) -> None:
    from uav_flood.core.flood_map import FloodMap
    from uav_flood.core.georef import GridPatch

    flood_map = FloodMap()
    data = np.zeros((200, 300), np.int8)
    data[50:150, 40:200] = 100
    flood_map.apply(GridPatch(-50.0, -30.0, 0.5, 300, 200, data))
    flood_map.save(folder / 'map.npz')


def zip_bomb(path: Path) -> None:
    """Write a checkpoint whose arrays claim 20000 x 20000 cells (800 MB each) in 15 KB."""
    import io
    import zipfile

    checkpoint(path.parent)
    with np.load(path.parent / 'map.npz') as archive:
        header = io.BytesIO()
        np.save(header, archive['header'])
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr('header.npy', header.getvalue())
        for name in ('water', 'dry'):
            member = io.BytesIO()
            shape = {'descr': '<u2', 'fortran_order': False, 'shape': (20_000, 20_000)}
            np.lib.format.write_array_header_1_0(member, shape)
            member.write(b'\x00' * 4096)
            bomb.writestr(f'{name}.npy', member.getvalue())


def bare_npy(path: Path) -> None:
    import io

    member = io.BytesIO()
    shape = {'descr': '<u2', 'fortran_order': False, 'shape': (100_000, 100_000)}
    np.lib.format.write_array_header_1_0(member, shape)
    path.write_bytes(member.getvalue())


def alias_bomb(path: Path) -> None:
    lines = ['    - a0: &a0 {' + ', '.join(f'k{j}: 1' for j in range(9)) + '}']
    for k in range(1, 9):
        lines.append(
            f'      a{k}: &a{k} {{' + ', '.join(f'k{j}: *a{k - 1}' for j in range(9)) + '}'
        )
    path.write_text(
        'nodes:\n  - name: x\n    executable: /bin/true\n    parameters:\n' + '\n'.join(lines)
    )


def both(*makers: Callable[[Path], object]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        for maker in makers:
            maker(folder)

    return make


def cases() -> list[Case]:
    area = AOI / 'convex_small.geojson'
    return [
        Case(
            'segment: --out is the input folder',
            'segment photos --out photos',
            lambda d: photos(d / 'photos'),
            ['photos/a.jpg', 'photos/b.png'],
        ),
        Case(
            'segment: --out inside the input folder, through a symbolic link',
            'segment photos --out link/masks',
            both(lambda d: photos(d / 'photos'), lambda d: (d / 'link').symlink_to(d / 'photos')),
            ['photos/a.jpg', 'photos/b.png'],
        ),
        Case(
            'segment: a mask would replace the input photo, with --force',
            'segment photos/b.png --out photos --force',
            lambda d: photos(d / 'photos'),
            ['photos/b.png'],
        ),
        Case(
            'segment: --out holds the masks of an earlier run',
            'segment photos --out masks',
            both(
                lambda d: photos(d / 'photos'),
                lambda d: subprocess.run(
                    [BIN, 'segment', 'photos', '--out', 'masks', '--quiet'], cwd=d, check=True
                ),
            ),
            ['masks/a.png', 'masks/segment_summary.csv'],
        ),
        Case(
            'segment: a real 20000 x 20000 JPEG (the issue: 23.9 GB)',
            'segment big.jpg --out masks',
            lambda d: huge_jpeg(d / 'big.jpg'),
            ['big.jpg'],
        ),
        Case(
            'segment: a JPEG cut short, the only input',
            'segment cut.jpg --out masks',
            lambda d: cut_jpeg(d / 'cut.jpg'),
        ),
        Case(
            'segment: --max-pixels 0',
            'segment photos --out masks --max-pixels 0',
            lambda d: photos(d / 'photos'),
        ),
        Case(
            'plan: a 10 m x 10 m area (was a GEOSException traceback)',
            'plan tiny.geojson --drones 3 --out out',
            lambda d: square_m(d / 'tiny.geojson', 10.0),
            ['tiny.geojson'],
        ),
        Case(
            'plan: JSON nested 100 000 deep (was a RecursionError traceback)',
            'plan deep.json --drones 1 --out out',
            lambda d: deep(d / 'deep.json'),
        ),
        Case(
            'plan: a 60 MB area file',
            'plan huge.geojson --drones 1 --out out',
            lambda d: sparse(d / 'huge.geojson', 60 * 2**20),
        ),
        Case(
            'plan: --out where plan.geojson is the area file',
            'plan out/plan.geojson --drones 2 --out out',
            both(
                lambda d: (d / 'out').mkdir(),
                lambda d: (d / 'out/plan.geojson').write_bytes(area.read_bytes()),
            ),
            ['out/plan.geojson'],
        ),
        Case(
            'plan: 10^9 drones',
            'plan area.geojson --drones 1000000000 --out out',
            lambda d: (d / 'area.geojson').write_bytes(area.read_bytes()),
        ),
        Case(
            'replay: a zero-length file',
            'replay empty.mcap --out r',
            lambda d: (d / 'empty.mcap').write_bytes(b''),
        ),
        Case(
            'replay: a recording cut in half',
            'replay cut.mcap --out r',
            lambda d: mangled(d / 'cut.mcap', 'cut'),
            ['cut.mcap'],
        ),
        Case(
            'replay: 4 KB of random bytes',
            'replay garbage.mcap --out r',
            lambda d: (d / 'garbage.mcap').write_bytes(random.Random(1).randbytes(4096)),
        ),
        Case(
            'replay: one bit flipped inside a compressed chunk',
            'replay flipped.mcap --out r',
            lambda d: mangled(d / 'flipped.mcap', 'flip'),
        ),
        Case(
            'replay: a garbled message schema',
            'replay schema.mcap --out r',
            lambda d: mangled(d / 'schema.mcap', 'schema'),
        ),
        Case(
            'replay: a /flood_map claiming 2^31 x 2^31 cells',
            'replay claim.mcap --out r --origin 47.4,8.5,0',
            lambda d: recording_with_map_claim(d / 'claim.mcap'),
        ),
        Case(
            'export: a 15 KB checkpoint claiming 20000 x 20000 cells',
            'export bomb.npz --origin 47.4,8.5,0 --out e',
            lambda d: zip_bomb(d / 'bomb.npz'),
        ),
        Case(
            'export: a bare .npy claiming 100000 x 100000 cells',
            'export bare.npz --origin 47.4,8.5,0 --out e',
            lambda d: bare_npy(d / 'bare.npz'),
        ),
        Case(
            'export: tracks nested 100 000 deep',
            'export map.npz --origin 47.4,8.5,0 --out e --tracks deep.json',
            both(checkpoint, lambda d: deep(d / 'deep.json')),
        ),
        Case(
            'export: a NaN in the tracks',
            'export map.npz --origin 47.4,8.5,0 --out e --tracks nan.json',
            both(
                checkpoint,
                lambda d: (d / 'nan.json').write_text('{"tracks": {"uav0": [[NaN, 0, 30]]}}'),
            ),
        ),
        Case(
            'export: --out where map.html is the tracks file',
            'export map.npz --origin 47.4,8.5,0 --out . --tracks map.html',
            both(checkpoint, lambda d: (d / 'map.html').write_text('{"tracks": {}}')),
            ['map.html', 'map.npz'],
        ),
        Case(
            'launch: YAML nested 100 000 deep',
            'launch deep.yaml',
            lambda d: deep(d / 'deep.yaml'),
        ),
        Case(
            'launch: a YAML alias bomb (9^9 parameters in 10 lines)',
            'launch --dry-run bomb.yaml',
            lambda d: alias_bomb(d / 'bomb.yaml'),
        ),
        Case(
            'launch: --record onto the graph file',
            'launch --dry-run --record graph.yaml graph.yaml',
            lambda d: (d / 'graph.yaml').write_text('nodes:\n  - executable: /bin/true\n'),
            ['graph.yaml'],
        ),
        Case(
            'demo: --write-graph onto the --area file',
            'demo --area area.geojson --write-graph area.geojson',
            lambda d: (d / 'area.geojson').write_bytes(area.read_bytes()),
            ['area.geojson'],
        ),
        Case(
            'demo: an --area nested 100 000 deep',
            'demo --area deep.json --write-graph g.yaml',
            lambda d: deep(d / 'deep.json'),
        ),
        Case(
            'gz-assets: a --scene nested 100 000 deep',
            'gz-assets --out gz --scene deep.yaml',
            lambda d: deep(d / 'deep.yaml'),
        ),
        Case('doctor: --timeout nan', 'doctor --timeout nan'),
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(case: Case, folder: Path) -> tuple[str, int, float, float, list[str]]:
    """Return (answer, exit status, wall s, peak MB, problems) of one case."""
    case.make(folder)
    before = {name: digest(folder / name) for name in case.untouched}
    # GNU time measures the command's own peak: a child of this (large) process would count the
    # memory it had before exec.
    timer = ['/usr/bin/time', '-f', '%M', '-o', str(folder / '.rss')]
    with (folder / '.stdout').open('w') as out, (folder / '.stderr').open('w') as err:
        start = time.perf_counter()
        code = subprocess.call(
            [*timer, str(BIN), *case.command.split()], cwd=folder, stdout=out, stderr=err
        )
        wall = time.perf_counter() - start
    peak_mb = float((folder / '.rss').read_text().split()[-1]) / 1024.0
    stderr = (folder / '.stderr').read_text()
    stdout = (folder / '.stdout').read_text()
    problems = []
    if 'Traceback' in stderr:
        problems.append('traceback')
    if code != 0 and stderr.count('\n') != 1:
        problems.append(f'{stderr.count(chr(10))} lines on stderr')
    for name, value in before.items():
        if digest(folder / name) != value:
            problems.append(f'{name} changed')
    answer = stderr.strip() if code else ' / '.join(stdout.strip().splitlines())
    return answer, code, wall, peak_mb, problems


def main() -> int:
    print(f'machine: {cpu_model()}, python {platform.python_version()}')
    print()
    print('| kind of bad input tried | command | the exact message it gets | exit status |')
    print('|---|---|---|---|')
    failures = []
    notes = []
    for case in cases():
        with tempfile.TemporaryDirectory() as scratch:
            answer, code, wall, peak_mb, problems = run(case, Path(scratch))
        message = answer.replace('|', '\\|')
        print(f'| {case.kind} | `uav-flood {case.command}` | `{message}` | {code} |', flush=True)
        notes.append(f'{case.command.split()[0]} {case.kind}: {wall:.2f} s, {peak_mb:.0f} MB')
        if problems:
            failures.append(f'{case.kind}: {", ".join(problems)}')
    print()
    print('wall time and peak resident memory of each command:')
    for note in notes:
        print(f'- {note}')
    for failure in failures:
        print(f'FAILED {failure}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
