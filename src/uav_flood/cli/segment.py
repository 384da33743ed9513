"""`uav-flood segment`: water masks and overlays for a folder of photos, for operators.

For each input image it writes, in --out:

- ``<stem>.png``: the water mask at the photo's resolution, 255 = water, 0 = other;
- ``<stem>_overlay.jpg``: the photo with water tinted blue and outlined (unless --no-overlay);
- with --classes, ``<stem>_classes.png``: FloodNet's 10 classes, one byte per pixel (0
  background, 1 building-flooded, 2 building-non-flooded, 3 road-flooded, 4 road-non-flooded, 5
  water, 6 tree, 7 vehicle, 8 pool, 9 grass: FloodNet's own label encoding), and
  ``<stem>_classes_color.png``: the photo under the classes in FloodNet's colours, with a legend;

and at the end ``segment_summary.csv`` (one row per input: file, status, size, water fraction,
time; with --classes also each class's fraction of the photo). Unreadable files are reported
and skipped; the run goes on. Two inputs with the same stem (``a.jpg`` and ``a.png``, or the
same name in two folders) get ``<stem>-2`` and so on, never an overwrite; a file named twice is
segmented once. Exit code: 0 when every input was segmented, 1 when some were skipped, 2 when
nothing could be done (no inputs, bad options, model missing).

Before anything is written or the model loaded, it refuses (one line on stderr, exit 2):

- an --out that is an input folder or inside one (paths resolved, symbolic links followed): the
  masks would land among the photos, and replace any photo named like a mask;
- an --out that already holds a file this run would write (a mask, an overlay, the summary),
  unless --force; an output that is one of the input files, even with --force;
- inputs of which none can be segmented: every file unreadable, of an unknown format, cut short,
  or above --max-pixels.

Each image's size is read from its header (core.image_header) before it is decoded: one of more
than --max-pixels (default MAX_PIXELS) is skipped with a message, like an unreadable file.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
import io
import os
from pathlib import Path
import sys
import time
from typing import Any, TextIO

from uav_flood.core.image_header import ImageHeader, read_image_header
from uav_flood.core.user_files import input_overwritten

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp', '.webp')
WATER_TINT_BGR = (255, 140, 0)
OUTLINE_BGR = (255, 255, 0)
SUMMARY = 'segment_summary.csv'
#: Largest image segmented (pixels, --max-pixels): 50 MP holds a 45 MP survey camera (8192 x
#: 5460). A 50 MP JPEG peaks at 1.1 GB (resize mode) and 2.5 GB (tile mode); a 20000 x 20000
#: one (400 MP) took 23.9 GB.
MAX_PIXELS = 50_000_000
#: Bytes a file may have per pixel of --max-pixels: an uncompressed 16-bit RGBA TIFF has 8.
MAX_BYTES_PER_PIXEL = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `uav-flood segment` to `parser`."""
    parser.add_argument(
        'inputs', nargs='+', metavar='IMAGE_OR_DIR', help='image files and/or folders of images'
    )
    parser.add_argument('--out', required=True, metavar='DIR', help='output folder (created)')
    parser.add_argument(
        '--recursive', action='store_true', help='also look in sub-folders of folder inputs'
    )
    parser.add_argument(
        '--model',
        default='',
        metavar='FILE.onnx|NAME',
        help='ONNX model file, or a shipped model by name: accurate (the default) or fast',
    )
    parser.add_argument(
        '--mode',
        choices=('resize', 'tile'),
        default='resize',
        help='resize each photo to --max-side (default; matches the training imagery for '
        "photos like FloodNet's) or segment --tile windows at full resolution",
    )
    parser.add_argument(
        '--max-side',
        type=int,
        default=512,
        metavar='PX',
        help='longer side a photo is resized to in resize mode (default: %(default)s)',
    )
    parser.add_argument(
        '--tile', type=int, default=512, metavar='PX', help='tile size in tile mode (default: 512)'
    )
    parser.add_argument(
        '--threshold',
        type=float,
        default=0.5,
        help='water probability from which a pixel is water (default: %(default)s)',
    )
    parser.add_argument(
        '--threads', type=int, default=0, help='inference threads; 0 = all cores (default)'
    )
    parser.add_argument(
        '--providers',
        default='cpu',
        metavar='LIST',
        help='execution providers by preference, comma separated: tensorrt,cuda,cpu '
        '(default: cpu; missing ones are skipped with a note)',
    )
    parser.add_argument('--no-overlay', action='store_true', help='write only the masks')
    parser.add_argument(
        '--classes',
        action='store_true',
        help="also write FloodNet's 10 land-cover classes per pixel (<stem>_classes.png, "
        '0-9) and a coloured view with a legend (<stem>_classes_color.png)',
    )
    parser.add_argument(
        '--max-pixels',
        type=int,
        default=MAX_PIXELS,
        metavar='N',
        help='skip images of more pixels than this, read from the header before decoding '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace masks, overlays and the summary that --out already holds',
    )
    parser.add_argument('--quiet', action='store_true', help='no progress output, only errors')


@dataclass
class Outcome:
    """What happened to one input."""

    path: Path
    status: str  # 'ok' or 'skipped: <reason>'
    width: int = 0
    height: int = 0
    water_fraction: float = float('nan')
    ms: float = float('nan')
    mask: str = ''
    #: With --classes: each class's fraction of the photo (CLASSES order).
    class_fractions: tuple[float, ...] = ()


def collect_inputs(inputs: list[str], recursive: bool) -> tuple[list[Path], list[Outcome]]:
    """Expand folders into image files; return (files, outcomes for inputs that do not exist)."""
    files: list[Path] = []
    missing: list[Outcome] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = '**/*' if recursive else '*'
            found = sorted(
                p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(Outcome(path, 'skipped: no such file or folder'))
    seen: set[Path] = set()
    unique = []
    for path in files:  # a file named twice (directly and through its folder) is done once
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, missing


def input_folder_holding(out: Path, inputs: list[str]) -> str | None:
    """Return the input folder that `out` is, or is inside, if any (paths resolved)."""
    target = out.resolve()
    for item in inputs:
        folder = Path(item)
        if folder.is_dir():
            resolved = folder.resolve()
            if target == resolved or resolved in target.parents:
                return item
    return None


def unique_stems(files: list[Path]) -> dict[Path, str]:
    """Give every input an output stem; repeats get -2, -3... in input order."""
    used: set[str] = set()
    stems: dict[Path, str] = {}
    for path in files:
        stem, n = path.stem, 2
        while stem.lower() in used:
            stem = f'{path.stem}-{n}'
            n += 1
        used.add(stem.lower())
        stems[path] = stem
    return stems


class Progress:
    """A progress bar on a terminal, one line per item otherwise (CI logs)."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total = total
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.start = time.monotonic()

    def update(self, done: int, name: str, detail: str) -> None:
        """Show that `done` of `total` are finished, the last being `name`."""
        if self.quiet:
            return
        if self.tty:
            width = 30
            filled = round(width * done / max(self.total, 1))
            bar = '#' * filled + '-' * (width - filled)
            line = f'\r[{bar}] {done}/{self.total} {name[:40]:<40} {detail}'
            self.stream.write(line[:160])
            if done == self.total:
                self.stream.write('\n')
        else:
            self.stream.write(f'[{done}/{self.total}] {name}: {detail}\n')
        self.stream.flush()

    def note(self, message: str) -> None:
        """Print a message on its own line (also under the bar)."""
        if self.tty and not self.quiet:
            self.stream.write('\r\033[K')
        self.stream.write(message + '\n')
        self.stream.flush()


def probe_image(path: Path, max_pixels: int) -> tuple[ImageHeader | None, str]:
    """Return (header, '') or (None, why it will not be segmented), without decoding it.

    Reads the header (format and size) and, for a JPEG, its last KB: one without its
    end-of-image marker is refused, since libjpeg would decode the missing part as grey and the
    model would segment that as if it were ground.

    :param max_pixels: the largest width x height accepted.
    """
    tail = b''
    try:
        with path.open('rb') as stream:
            header = read_image_header(stream)
            size = os.fstat(stream.fileno()).st_size
            if header is not None and header.format == 'jpeg':
                stream.seek(max(0, size - 1024))
                tail = stream.read(1024)
    except OSError as exc:
        return None, f'cannot read it ({exc.strerror or exc})'
    if header is None:
        return None, 'not a readable image'
    if header.format == 'jpeg' and b'\xff\xd9' not in tail.rstrip(b'\x00'):
        return None, 'truncated JPEG (no end-of-image marker)'
    if header.pixels > max_pixels:
        return None, (
            f'{header.width} x {header.height} = {_megapixels(header.pixels)} is above the '
            f'{_megapixels(max_pixels)} limit (--max-pixels {max_pixels})'
        )
    if size > MAX_BYTES_PER_PIXEL * max_pixels + (1 << 20):
        return None, (
            f'the file has {size / 2**20:.0f} MB, more than an image of at most '
            f'{_megapixels(max_pixels)} needs (--max-pixels)'
        )
    return header, ''


def _megapixels(pixels: int) -> str:
    return f'{pixels / 1e6:.1f} MP' if pixels >= 100_000 else f'{pixels} pixels'


def read_image(path: Path, header: ImageHeader) -> tuple[Any, str]:
    """Return (BGR image, '') or (None, why it cannot be used), for a file probe_image passed.

    :param header: what probe_image read; a file whose decoded size differs from it (changed
        in between) is refused.
    """
    import cv2
    import numpy as np

    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f'cannot read it ({exc.strerror})'
    fresh = read_image_header(io.BytesIO(data))
    if fresh != header:  # replaced since it was probed: its size is not known to be safe
        return None, 'changed while being read'
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.size == 0:  # cv2 returns None for what it cannot decode
        return None, 'not a readable image'
    return bgr, ''


def overlay(bgr: object, mask: object) -> object:
    """Return the photo with water tinted and outlined (BGR uint8)."""
    import cv2
    import numpy as np

    image = np.asarray(bgr)
    water = np.asarray(mask, dtype=np.uint8)
    tinted = image.copy()
    tint = np.array(WATER_TINT_BGR, dtype=np.float32)
    sel = water > 0
    tinted[sel] = (0.5 * image[sel] + 0.5 * tint).astype(np.uint8)
    contours, _ = cv2.findContours(water, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(max(image.shape[:2]) / 500))
    cv2.drawContours(tinted, contours, -1, OUTLINE_BGR, thickness)
    return tinted


def classes_view(bgr: object, labels: object) -> object:
    """Return the photo half-covered by the classes' colours, with a legend below (BGR)."""
    import cv2
    import numpy as np

    from uav_flood.core.responder_layers import CLASS_COLOURS_RGB, CLASSES

    image = np.asarray(bgr)
    palette = np.array([c[::-1] for c in CLASS_COLOURS_RGB], dtype=np.float32)
    blended = (0.4 * image + 0.6 * palette[np.asarray(labels)]).astype(np.uint8)
    h, w = image.shape[:2]
    scale = max(0.35, w / 1600)
    row_h = round(28 * scale)
    per_row = 5
    legend = np.full((2 * row_h, w, 3), 255, np.uint8)
    cell = w // per_row
    for k, name in enumerate(CLASSES):
        x, y = (k % per_row) * cell, (k // per_row) * row_h
        box = round(0.6 * row_h)
        top = y + (row_h - box) // 2
        cv2.rectangle(legend, (x + 4, top), (x + 4 + box, top + box), palette[k].tolist(), -1)
        cv2.rectangle(legend, (x + 4, top), (x + 4 + box, top + box), (0, 0, 0), 1)
        cv2.putText(
            legend, name, (x + 8 + box, y + round(0.7 * row_h)), cv2.FONT_HERSHEY_SIMPLEX,
            0.45 * scale, (0, 0, 0), 1, cv2.LINE_AA,
        )  # fmt: skip
    return np.vstack([blended, legend])


def run(args: argparse.Namespace, stream: TextIO = sys.stderr) -> int:
    """Segment every input; return the exit code (0 all done, 1 some skipped, 2 nothing done)."""
    import cv2
    import numpy as np

    from uav_flood.core.responder_layers import CLASSES
    from uav_flood.core.segmentation import FloodSegmenter, SegmentationError, SegmenterConfig

    def error(message: str) -> int:
        print(f'uav-flood segment: error: {message}', file=sys.stderr)
        return 2

    files, outcomes = collect_inputs(args.inputs, args.recursive)
    if not files:
        return error(
            'no images found in '
            + ', '.join(args.inputs)
            + f' (looked for {", ".join(IMAGE_SUFFIXES)})'
        )
    if args.max_pixels < 1:
        return error(f'--max-pixels must be at least 1, got {args.max_pixels}')
    out = Path(args.out)
    folder = input_folder_holding(out, args.inputs)
    if folder is not None:
        return error(
            f'--out {out} is inside the input folder {folder}: the masks would be written '
            'among the photos; choose an --out outside it'
        )
    probes = {path: probe_image(path, args.max_pixels) for path in files}
    usable = [path for path in files if probes[path][0] is not None]
    if not usable:
        first = files[0]
        if len(files) == 1:
            return error(f'{first}: {probes[first][1]}')
        return error(
            f'none of the {len(files)} images can be segmented; the first, {first}: '
            f'{probes[first][1]}'
        )
    stems = unique_stems(files)
    planned = []
    for path in usable:
        planned.append(out / f'{stems[path]}.png')
        if not args.no_overlay:
            planned.append(out / f'{stems[path]}_overlay.jpg')
        if args.classes:
            planned.append(out / f'{stems[path]}_classes.png')
            planned.append(out / f'{stems[path]}_classes_color.png')
    planned.append(out / SUMMARY)
    clash = input_overwritten(planned, files)
    if clash is not None:
        return error(
            f'--out {out} would overwrite the input {clash[1]} with {clash[0].name}; '
            'choose another --out'
        )
    existing = [path for path in planned if path.exists() or path.is_symlink()]
    if existing and not args.force:
        names = ', '.join(path.name for path in existing[:3])
        if len(existing) > 3:
            names += f' and {len(existing) - 3} more'
        return error(
            f'--out {out} already holds {names}; pass --force to replace them, or choose '
            'another --out'
        )
    providers = tuple(p.strip().lower() for p in args.providers.split(',') if p.strip())
    try:
        config = SegmenterConfig(
            model_path=args.model,
            providers=providers or ('cpu',),
            threads=args.threads,
            mode=args.mode,
            max_side=args.max_side,
            tile=args.tile,
            overlap=min(64, args.tile // 4 // 16 * 16) if args.tile >= 32 else 0,
            threshold=args.threshold,
            classes=args.classes,
        )
        segmenter = FloodSegmenter(config)
    except SegmentationError as exc:
        return error(str(exc))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path in existing:  # --force: replaced, and a link is replaced, not followed
            path.unlink()
    except OSError as exc:
        return error(f'cannot write to the output folder {out}: {exc.strerror}')
    for outcome in outcomes:
        print(f'skipped {outcome.path}: {outcome.status[9:]}', file=stream)
    progress = Progress(len(files), stream, args.quiet)
    if not args.quiet:
        skipped = ', '.join(segmenter.skipped_providers)
        extra = f' (not available here: {skipped})' if skipped else ''
        progress.note(
            f'segmenting {len(files)} image(s) with {segmenter.model_path.name} on '
            f'{", ".join(segmenter.providers)}{extra} -> {out}'
        )
    for done, path in enumerate(files, start=1):
        outcome = Outcome(path, 'ok')
        outcomes.append(outcome)
        header, problem = probes[path]
        bgr = None
        if header is not None:
            bgr, problem = read_image(path, header)
        if bgr is None:
            outcome.status = f'skipped: {problem}'
            progress.note(f'skipped {path}: {problem}')
            progress.update(done, path.name, 'skipped')
            continue
        try:
            result = segmenter.segment(np.asarray(bgr, dtype=np.uint8), 'bgr8')
        except SegmentationError as exc:
            outcome.status = f'skipped: {exc}'
            progress.note(f'skipped {path}: {exc}')
            progress.update(done, path.name, 'skipped')
            continue
        mask = result.mask_mono8()
        stem = stems[path]
        mask_path = out / f'{stem}.png'
        written = cv2.imwrite(str(mask_path), mask)
        if written and not args.no_overlay:
            written = cv2.imwrite(
                str(out / f'{stem}_overlay.jpg'),
                np.asarray(overlay(bgr, mask)),
                [cv2.IMWRITE_JPEG_QUALITY, 90],
            )
        if written and args.classes:
            labels = result.class_labels()
            written = cv2.imwrite(str(out / f'{stem}_classes.png'), labels) and cv2.imwrite(
                str(out / f'{stem}_classes_color.png'), np.asarray(classes_view(bgr, labels))
            )
            counts = np.bincount(labels.ravel(), minlength=len(CLASSES))
            outcome.class_fractions = tuple(float(n) / labels.size for n in counts)
        if not written:
            return error(f'cannot write to {out} (disk full or no permission?)')
        outcome.width, outcome.height = int(bgr.shape[1]), int(bgr.shape[0])
        outcome.water_fraction = float(np.count_nonzero(mask)) / mask.size
        outcome.ms = result.total_ms
        outcome.mask = mask_path.name
        progress.update(
            done,
            path.name,
            f'water {100 * outcome.water_fraction:.1f} %, {result.total_ms:.0f} ms',
        )
    write_summary(out / SUMMARY, outcomes, args.classes)
    ok = [o for o in outcomes if o.status == 'ok']
    skipped_count = len(outcomes) - len(ok)
    if not args.quiet:
        elapsed = time.monotonic() - progress.start
        line = f'done: {len(ok)} segmented'
        if skipped_count:
            line += f', {skipped_count} skipped (see above)'
        progress.note(f'{line} in {elapsed:.1f} s; masks and {SUMMARY} in {out}')
    if not ok:
        return 2
    return 1 if skipped_count else 0


def write_summary(path: Path, outcomes: list[Outcome], classes: bool = False) -> None:
    """Write one CSV row per input (with `classes`, a `fraction_<class>` column per class)."""
    from uav_flood.core.responder_layers import CLASSES

    columns = [f'fraction_{name}' for name in CLASSES] if classes else []
    with path.open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(
            ['input', 'status', 'mask', 'width', 'height', 'water_fraction', 'ms', *columns]
        )
        for o in outcomes:
            fractions = [f'{v:.4f}' for v in o.class_fractions] or [''] * len(columns)
            writer.writerow(
                [
                    os.fspath(o.path),
                    o.status,
                    o.mask,
                    o.width or '',
                    o.height or '',
                    '' if o.status != 'ok' else f'{o.water_fraction:.4f}',
                    '' if o.status != 'ok' else f'{o.ms:.1f}',
                    *(fractions if columns else []),
                ]
            )
