"""`uav-flood segment`: masks and overlays for folders of photos, skipping what cannot be read."""

import csv
import io
import subprocess

import cv2
import numpy as np
import pytest

from uav_flood.cli import main
from uav_flood.sim.scene import FloodScene


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """Photos cut from the shipped scene (FloodNet test tiles), a junk file, a sub-folder."""
    scene = FloodScene.load()
    folder = tmp_path_factory.mktemp('photos')
    bgr = scene.rgb[:, :, ::-1]
    cv2.imwrite(str(folder / 'a.jpg'), bgr[:600, :800])
    cv2.imwrite(str(folder / 'b.png'), bgr[600:1000, 800:1400])
    (folder / 'broken.jpg').write_bytes(b'\x89PNG not really')
    # A real JPEG cut short: libjpeg would decode the rest as grey; it must be skipped.
    whole = cv2.imencode('.jpg', bgr[:300, :400])[1].tobytes()
    (folder / 'cut.jpg').write_bytes(whole[: len(whole) // 2])
    (folder / 'notes.txt').write_text('not an image, not looked at')
    sub = folder / 'sub'
    sub.mkdir()
    cv2.imwrite(str(sub / 'a.jpg'), bgr[800:1100, :400])
    return folder


def run_segment(*args):
    stream = io.StringIO()
    from uav_flood import segment_cli
    from uav_flood.cli import build_parser

    parsed = build_parser().parse_args(['segment', *args])
    return segment_cli.run(parsed, stream), stream.getvalue()


def read_summary(out):
    with (out / 'segment_summary.csv').open() as f:
        return {row['input']: row for row in csv.DictReader(f)}


def test_masks_overlays_and_summary(photos, tmp_path):
    out = tmp_path / 'out'
    code, log = run_segment(str(photos), '--out', str(out), '--threads', '1')
    assert code == 1  # broken.jpg and cut.jpg were skipped
    assert 'skipped' in log and 'broken.jpg' in log and 'not a readable image' in log
    assert 'cut.jpg: truncated JPEG (no end-of-image marker)' in log
    assert '[4/4]' in log and 'done: 2 segmented, 2 skipped' in log
    assert not (out / 'cut.png').exists()
    for stem, src in (('a', photos / 'a.jpg'), ('b', photos / 'b.png')):
        mask = cv2.imread(str(out / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        photo = cv2.imread(str(src))
        assert mask.shape == photo.shape[:2] and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        overlay = cv2.imread(str(out / f'{stem}_overlay.jpg'))
        assert overlay.shape == photo.shape
    assert not (out / 'sub').exists() and not (out / 'a-2.png').exists()  # not recursive
    rows = read_summary(out)
    assert rows[str(photos / 'broken.jpg')]['status'] == 'skipped: not a readable image'
    a = rows[str(photos / 'a.jpg')]
    assert a['status'] == 'ok' and a['mask'] == 'a.png' and a['width'] == '800'
    mask = cv2.imread(str(out / 'a.png'), cv2.IMREAD_UNCHANGED)
    assert float(a['water_fraction']) == pytest.approx(np.mean(mask > 0), abs=1e-4)


def test_recursive_same_stems_never_overwrite(photos, tmp_path):
    out = tmp_path / 'out'
    code, _ = run_segment(
        str(photos / 'a.jpg'), str(photos), '--recursive', '--out', str(out), '--no-overlay'
    )
    assert code == 1
    rows = read_summary(out)
    # a.jpg named twice is done once; sub/a.jpg gets its own name.
    masks = {k: r['mask'] for k, r in rows.items() if r['status'] == 'ok'}
    assert masks == {
        str(photos / 'a.jpg'): 'a.png',
        str(photos / 'b.png'): 'b.png',
        str(photos / 'sub' / 'a.jpg'): 'a-2.png',
    }
    assert not list(out.glob('*_overlay.jpg'))
    assert cv2.imread(str(out / 'a-2.png'), 0).shape == (300, 400)
    assert cv2.imread(str(out / 'a.png'), 0).shape == (600, 800)


def test_nothing_to_do_is_exit_2_with_a_message(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    code = main(['segment', str(tmp_path / 'empty'), '--out', str(tmp_path / 'o')])
    assert code == 2
    assert 'no images found' in capsys.readouterr().err
    code = main(['segment', str(tmp_path), '--out', str(tmp_path / 'o'), '--model', 'x.onnx'])
    assert code == 2


def test_a_missing_model_is_a_clear_error(photos, tmp_path, capsys):
    code = main(['segment', str(photos / 'a.jpg'), '--out', str(tmp_path), '--model', 'no.onnx'])
    assert code == 2
    err = capsys.readouterr().err
    assert 'model file no.onnx not found' in err and 'Traceback' not in err


def test_the_installed_command(photos, tmp_path, bin_dir, child_env):
    proc = subprocess.run(
        [str(bin_dir / 'uav-flood'), 'segment', str(photos / 'b.png'), '--out', str(tmp_path)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'b.png').exists()
    assert '[1/1] b.png: water' in proc.stderr
