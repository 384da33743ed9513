"""Headless Chromium draws the exported map.html: water in about the expected share of pixels,
on a desktop window and, scaled to fit, on a phone's width.

The screenshot is saved in the test's tmp dir; with UAV_FLOOD_ARTIFACTS=DIR set it is also
copied to DIR/browser_view.png (CI keeps that folder as an artefact).
"""

import os
from pathlib import Path
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from uav_flood.cli import main
from uav_flood.core.flood_map import FloodMap
from uav_flood.core.georef import GridPatch
from uav_flood.export import WATER_BGR

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize('window', [(1100, 1200), (390, 844)], ids=['desktop', 'phone'])
def test_exported_page_is_drawn_in_headless_chromium(tmp_path, window):
    flood_map = FloodMap()
    data = np.zeros((200, 200), np.int8)
    data[:, :100] = 100  # the western half is water
    for _ in range(2):
        flood_map.apply(GridPatch(0.0, 0.0, 0.5, 200, 200, data))
    checkpoint = flood_map.save(tmp_path / 'map.npz')
    out = tmp_path / 'out'
    assert main(['export', str(checkpoint), '--origin', '47.4,8.5,0', '--out', str(out)]) == 0
    shot = tmp_path / 'browser_view.png'
    result = subprocess.run(
        [
            CHROMIUM,
            '--headless',
            '--disable-gpu',
            '--no-sandbox',
            '--hide-scrollbars',
            f'--user-data-dir={tmp_path / "profile"}',
            f'--screenshot={shot}',
            f'--window-size={window[0]},{window[1]}',
            (out / 'map.html').as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shot.exists(), result.stderr[-2000:]
    artefacts = os.environ.get('UAV_FLOOD_ARTIFACTS')
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artefacts) / f'browser_view_{window[0]}.png')
    image = cv2.imread(str(shot))
    assert image is not None and image.std() > 10, 'blank page'
    figure = cv2.imread(str(out / 'flood_map.png'))
    height, width = figure.shape[:2]
    if width > window[0]:  # a phone: the whole map, scaled to the screen's width (cut off,
        # its left part alone would be mostly water and miss the expected share)
        width, height = window[0], round(height * window[0] / width)
        figure = cv2.resize(figure, (width, height), interpolation=cv2.INTER_NEAREST)
    drawn = image[:height, :width]
    near = np.all(np.abs(drawn.astype(int) - WATER_BGR) <= 12, axis=2)
    # The map area is half water; in the figure it is about half of the map's pixels.
    expected = np.count_nonzero(np.all(figure == WATER_BGR, axis=2)) / near.size
    measured = np.count_nonzero(near) / near.size
    print(f'\nwater share in the browser {measured:.3f}, in the figure {expected:.3f}')
    assert expected > 0.3
    assert measured == pytest.approx(expected, abs=0.03)
