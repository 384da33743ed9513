"""`uav-flood segment`: masks and overlays for folders of photos, skipping what cannot be read."""

import csv
import io
import subprocess
import sys

import cv2
import numpy as np
import pytest

from uav_flood.cli import main
from uav_flood.core.responder_layers import CLASSES
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
    from uav_flood.cli import build_parser
    from uav_flood.cli import segment as segment_cli

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


def test_classes_write_floodnet_labels_a_coloured_view_and_fractions(photos, tmp_path):
    out = tmp_path / 'out'
    args = (str(photos / 'a.jpg'), str(photos / 'b.png'), '--out', str(out), '--classes')
    code, log = run_segment(*args, '--threads', '1')
    assert code == 0, log
    rows = read_summary(out)
    for stem, src in (('a', photos / 'a.jpg'), ('b', photos / 'b.png')):
        photo = cv2.imread(str(src))
        labels = cv2.imread(str(out / f'{stem}_classes.png'), cv2.IMREAD_UNCHANGED)
        assert labels.shape == photo.shape[:2] and labels.dtype == np.uint8
        assert labels.max() <= 9 and len(np.unique(labels)) >= 3  # a real scene, several classes
        # The water classes (road-flooded 3, water 5) cover the water mask's pixels, mostly.
        water = cv2.imread(str(out / f'{stem}.png'), cv2.IMREAD_UNCHANGED) > 0
        assert np.mean(np.isin(labels, (3, 5)) == water) > 0.85
        view = cv2.imread(str(out / f'{stem}_classes_color.png'))
        assert view.shape[1] == photo.shape[1] and view.shape[0] > photo.shape[0]  # the legend
        row = rows[str(src)]
        fractions = [float(row[f'fraction_{name}']) for name in CLASSES]
        assert sum(fractions) == pytest.approx(1.0, abs=1e-3)
        counts = np.bincount(labels.ravel(), minlength=10) / labels.size
        assert fractions == pytest.approx(counts.tolist(), abs=1e-4)
    # Existing class files are not replaced without --force.
    code, _ = run_segment(*args)
    assert code == 2
    code, _ = run_segment(*args, '--force', '--no-overlay')
    assert code == 0


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


# -- hostile and broken input: refused with one line, exit 2, the inputs untouched -------------


def snapshot(folder):
    """Every file under folder (links not followed) -> its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture
def own_photos(photos, tmp_path):
    """A private copy of the photos: these tests point --out at it."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    for name in ('a.jpg', 'b.png'):
        (folder / name).write_bytes((photos / name).read_bytes())
    return folder


def huge_jpeg(photos, width=20000, height=20000):
    """A small JPEG whose frame header claims width x height: refused before decoding."""
    data = bytearray((photos / 'a.jpg').read_bytes())
    sof = data.index(b'\xff\xc0')
    data[sof + 5 : sof + 7] = height.to_bytes(2, 'big')
    data[sof + 7 : sof + 9] = width.to_bytes(2, 'big')
    return bytes(data)


def one_error_line(capsys, expected):
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert err.count('\n') == 1 and err.startswith('uav-flood segment: error: '), err
    assert expected in err, err
    return err


@pytest.mark.parametrize('where', ['same', 'inside', 'through_link', 'dot_dot'])
def test_out_in_an_input_folder_is_refused(own_photos, tmp_path, capsys, where):
    before = snapshot(own_photos)
    if where == 'same':
        out = own_photos
    elif where == 'inside':
        out = own_photos / 'masks'
    elif where == 'through_link':
        (tmp_path / 'link').symlink_to(own_photos)
        out = tmp_path / 'link' / 'masks'
    else:
        out = own_photos / 'masks' / '..'
    code = main(['segment', str(own_photos), '--out', str(out), '--force'])
    assert code == 2
    one_error_line(capsys, 'is inside the input folder')
    assert snapshot(own_photos) == before
    assert not (own_photos / 'masks').exists()


def test_an_output_that_is_an_input_file_is_refused_even_with_force(own_photos, capsys):
    before = snapshot(own_photos)
    # b.png's mask is <out>/b.png: with --out its own folder, the photo itself.
    code = main(['segment', str(own_photos / 'b.png'), '--out', str(own_photos), '--force'])
    assert code == 2
    one_error_line(capsys, 'would overwrite the input')
    assert snapshot(own_photos) == before


def test_existing_outputs_need_force(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    inputs = [str(photos / 'a.jpg'), str(photos / 'b.png'), '--out', str(out)]
    code, _ = run_segment(*inputs, '--threads', '1')
    assert code == 0
    capsys.readouterr()
    before = snapshot(out)
    assert main(['segment', *inputs]) == 2
    one_error_line(capsys, 'already holds a.png, a_overlay.jpg, b.png and 2 more; pass --force')
    assert snapshot(out) == before
    # Another file in --out is no reason to refuse; a run writing none of its names is fine.
    (out / 'notes.txt').write_text('kept')
    code, _ = run_segment(*inputs, '--force', '--threads', '1')
    assert code == 0 and (out / 'notes.txt').read_text() == 'kept'


def test_force_replaces_a_link_instead_of_writing_through_it(photos, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    precious = tmp_path / 'precious.png'
    precious.write_bytes(b'not to be overwritten')
    (out / 'b.png').symlink_to(precious)
    code, _ = run_segment(str(photos / 'b.png'), '--out', str(out), '--force', '--threads', '1')
    assert code == 0
    assert precious.read_bytes() == b'not to be overwritten'
    assert not (out / 'b.png').is_symlink() and cv2.imread(str(out / 'b.png')) is not None


def test_an_image_above_the_pixel_limit_alone_is_refused(photos, tmp_path, capsys):
    big = tmp_path / 'big.jpg'
    big.write_bytes(huge_jpeg(photos))
    out = tmp_path / 'out'
    assert main(['segment', str(big), '--out', str(out)]) == 2
    one_error_line(capsys, 'big.jpg: 20000 x 20000 = 400.0 MP is above the 50.0 MP limit')
    assert not out.exists()


def test_an_image_above_the_pixel_limit_is_skipped_among_others(photos, tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    (folder / 'a.jpg').write_bytes((photos / 'a.jpg').read_bytes())
    (folder / 'big.jpg').write_bytes(huge_jpeg(photos))
    # 12000 x 10000 PNG header: 120 MP.
    png = bytearray((photos / 'b.png').read_bytes())
    png[16:24] = (12000).to_bytes(4, 'big') + (10000).to_bytes(4, 'big')
    (folder / 'wide.png').write_bytes(bytes(png))
    out = tmp_path / 'out'
    code, log = run_segment(str(folder), '--out', str(out), '--no-overlay', '--threads', '1')
    assert code == 1
    assert 'skipped ' + str(folder / 'big.jpg') + ': 20000 x 20000 = 400.0 MP is above' in log
    rows = read_summary(out)
    assert rows[str(folder / 'wide.png')]['status'].startswith(
        'skipped: 12000 x 10000 = 120.0 MP is above the 50.0 MP limit'
    )
    assert rows[str(folder / 'a.jpg')]['status'] == 'ok'
    assert sorted(p.name for p in out.iterdir()) == ['a.png', 'segment_summary.csv']


def test_max_pixels_option(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    # a.jpg is 800 x 600 = 480 000 pixels.
    assert main(['segment', str(photos / 'a.jpg'), '--out', str(out), '--max-pixels', '400000'])
    one_error_line(capsys, '800 x 600 = 0.5 MP is above the 0.4 MP limit (--max-pixels 400000)')
    assert main(['segment', str(photos / 'a.jpg'), '--out', str(out), '--max-pixels', '0']) == 2
    one_error_line(capsys, '--max-pixels must be at least 1, got 0')
    code, _ = run_segment(str(photos / 'a.jpg'), '--out', str(out), '--max-pixels', '480000')
    assert code == 0


@pytest.mark.parametrize(
    ('name', 'expected'),
    [
        ('cut.jpg', 'cut.jpg: truncated JPEG (no end-of-image marker)'),
        ('broken.jpg', 'broken.jpg: not a readable image'),
    ],
)
def test_a_single_unusable_input_is_one_line(photos, tmp_path, capsys, name, expected):
    assert main(['segment', str(photos / name), '--out', str(tmp_path / 'out')]) == 2
    one_error_line(capsys, expected)
    assert not (tmp_path / 'out').exists()


def test_refusals_as_a_process_print_one_line(own_photos, child_env):
    before = snapshot(own_photos)
    proc = subprocess.run(
        [sys.executable, '-m', 'uav_flood.cli', 'segment', str(own_photos), '--out']
        + [str(own_photos)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.startswith(f'uav-flood segment: error: --out {own_photos} is inside')
    assert snapshot(own_photos) == before
