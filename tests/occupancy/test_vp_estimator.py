"""The classical VP estimator finds the VP of generated road images with known geometry within a few pixels,
and data_prep/semantic_kitti/vanishing_points.py writes the released JSON format."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from geoperc.datasets.occupancy.vanishing_point import estimate_vanishing_point

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def road_image(vp, size=(370, 1220), seed=0):
    import cv2
    rng = np.random.default_rng(seed)
    H, W = size
    img = np.full((H, W, 3), 110, np.uint8)
    img[:int(vp[1])] = (200, 170, 140)  # sky
    img = (img + rng.normal(0, 4, img.shape)).clip(0, 255).astype(np.uint8)
    vx, vy = vp
    for x_bottom in (-300, 150, 450, 560, 700, 820, 1100, 1500):  # lane markings, road and kerb edges
        p0 = (int(x_bottom), H - 1)
        t = 0.75
        p1 = (int(x_bottom + (vx - x_bottom) * t), int(H - 1 + (vy - H + 1) * t))
        cv2.line(img, p0, p1, (240, 240, 240), 3, cv2.LINE_AA)
    for y_top in (20, 60, 300, 340):  # building edges (roof and base lines) towards the VP
        for x0 in (0, W - 1):
            t = 0.6
            cv2.line(img, (x0, y_top), (int(x0 + (vx - x0) * t), int(y_top + (vy - y_top) * t)), (60, 60, 60), 2,
                     cv2.LINE_AA)
    cv2.line(img, (0, int(vy) + 40), (W - 1, int(vy) + 40), (30, 30, 30), 2)  # a distracting horizontal line
    for x in (100, 1000):
        cv2.line(img, (x, 0), (x, H - 1), (20, 20, 20), 2)  # poles
    return img


@pytest.mark.parametrize('vp', [(610.0, 175.0), (540.0, 160.0), (700.0, 190.0)])
def test_finds_known_vp(vp):
    est, conf = estimate_vanishing_point(road_image(vp))
    assert est is not None and conf > 0.3
    assert np.hypot(*(est - np.array(vp))) < 4.0, est


def test_no_lines_gives_none():
    est, conf = estimate_vanishing_point(np.full((60, 80), 128, np.uint8))
    assert est is None and conf == 0.0


def test_cli_writes_released_format(tmp_path):
    import cv2
    seq = tmp_path / 'sequences' / '08'
    (seq / 'image_2').mkdir(parents=True)
    vps = [(610.0, 175.0), (560.0, 170.0)]
    for i, vp in enumerate(vps):
        cv2.imwrite(str(seq / 'image_2' / f'{i:06d}.png'), road_image(vp, seed=i))
    out = tmp_path / 'seq_08.json'
    r = subprocess.run([sys.executable, osp.join(ROOT, 'data_prep', 'semantic_kitti', 'vanishing_points.py'), str(seq),
                        '--out', str(out), '--no-progress'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert sorted(data) == ['SemanticKITTI/dataset/sequences/08/image_2/000000.png',
                            'SemanticKITTI/dataset/sequences/08/image_2/000001.png']
    for i, vp in enumerate(vps):
        v = data[f'SemanticKITTI/dataset/sequences/08/image_2/{i:06d}.png']
        assert len(v) == 1 and np.hypot(v[0][0] - vp[0], v[0][1] - vp[1]) < 4.0
    r = subprocess.run([sys.executable, osp.join(ROOT, 'data_prep', 'semantic_kitti', 'vanishing_points.py'),
                        str(tmp_path / 'nope'), '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and 'no .png images' in r.stderr
