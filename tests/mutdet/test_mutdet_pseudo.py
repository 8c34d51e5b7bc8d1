"""MutDet step 1: masks -> minimum-area rotated boxes, the classical generator, the patch run."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest

from geoperc.errors import DatasetError, SettingsError
from geoperc.models.detection.mutdet_pseudo import (ClassicalMaskGenerator, MaskGenerator, SamMaskGenerator,
                                                    build_mask_generator, generate_pseudo_boxes, mask_to_poly,
                                                    masks_to_polys, sliding_windows)
from geoperc.ops.rotated import corners_to_rbox, rbox_to_corners


def _rect_mask(H, W, box):
    import cv2
    m = np.zeros((H, W), np.uint8)
    cv2.fillPoly(m, [np.round(rbox_to_corners(np.asarray(box)[None])[0] * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


def _iou(a, b):
    import shapely
    pa, pb = shapely.Polygon(rbox_to_corners(a[None])[0]), shapely.Polygon(rbox_to_corners(b[None])[0])
    return pa.intersection(pb).area / pa.union(pb).area


@pytest.mark.parametrize('box', [(40.0, 30.0, 36.0, 12.0, 0.0), (50.3, 47.8, 50.0, 20.0, math.radians(30)),
                                 (60.0, 50.0, 30.0, 29.0, math.radians(-70))])
def test_mask_to_poly_recovers_rectangle(box):
    m = _rect_mask(100, 120, box)
    poly = mask_to_poly(m)
    got = corners_to_rbox(poly.reshape(1, 4, 2))[0]
    # centre within half a pixel, sides within the one-pixel contour offset (contour runs through pixel centres)
    assert np.allclose(got[:2], box[:2], atol=0.6)
    assert np.all(np.abs(got[2:4] - np.asarray(box[2:4])) < 1.6)
    if box[2] - box[3] > 3:  # angle is defined for clearly non-square boxes
        d = (got[4] - box[4] + math.pi / 2) % math.pi - math.pi / 2
        assert abs(d) < math.radians(3)
    assert _iou(got, np.asarray(box)) > 0.9


def test_masks_to_polys_order_and_clip():
    small = _rect_mask(64, 64, (10, 10, 8, 6, 0.0))
    big = _rect_mask(64, 64, (40, 40, 30, 20, 0.3))
    edge = np.zeros((64, 64), bool)
    edge[0:5, 0:9] = True  # touches the border: corners clipped at 0
    empty = np.zeros((64, 64), bool)
    polys = masks_to_polys([small, empty, big, edge])
    assert polys.shape == (3, 8)
    areas = [corners_to_rbox(p.reshape(1, 4, 2))[0, 2:4].prod() for p in polys]
    assert areas == sorted(areas, reverse=True)  # largest mask first (official order)
    assert polys.min() >= 0


def test_sliding_windows_match_mmrotate_semantics():
    # 1000 px with patch 800 / gap 200: starts 0 and 200 (the last window moved back to the edge)
    wins = sliding_windows(900, 1000, 800, 200)
    assert sorted(wins) == [(0, 0, 800, 800), (0, 100, 800, 900), (200, 0, 1000, 800), (200, 100, 1000, 900)]
    assert sliding_windows(500, 300, 800, 200) == [(0, 0, 800, 800)]  # small images: one padded patch
    assert sorted(w[0] for w in sliding_windows(800, 2000, 800, 200)) == [0, 600, 1200]
    with pytest.raises(SettingsError):
        sliding_windows(10, 10, 100, 100)


def _scene(tmp_path, H=300, W=340, seed=0):
    from geoperc.models.detection.mutdet_data import synth_object_image
    rng = np.random.default_rng(seed)
    img, boxes, labels = synth_object_image(rng, (H, W), n_objects=10)
    return img, boxes


def test_classical_generator_finds_objects(tmp_path):
    img, boxes = _scene(tmp_path)
    polys = masks_to_polys(ClassicalMaskGenerator()(img))
    found = corners_to_rbox(polys.reshape(-1, 4, 2))
    best = [max(_iou(b, f) for f in found) for b in boxes]
    # every generated object is recovered as a tight rotated box
    assert np.mean(np.array(best) > 0.7) >= 0.9, best
    assert len(found) < 4 * len(boxes)  # the background is not shattered into many boxes


def test_generate_is_idempotent_and_resumable(tmp_path):
    import cv2
    img, _ = _scene(tmp_path, 300, 340)
    src = tmp_path / 'src'
    src.mkdir()
    cv2.imwrite(str(src / 'a.png'), img[..., ::-1])
    cv2.imwrite(str(src / 'b.png'), img[:200, :220, ::-1].copy())
    out = str(tmp_path / 'out')
    gen = ClassicalMaskGenerator()
    r1 = generate_pseudo_boxes([str(src)], out, gen, patch=200, gap=50, progress=False)
    names = sorted(os.listdir(osp.join(out, 'labelTxt')))
    # a: 300 x 340 -> y starts 0, 100; x starts 0, 140 -> 4 patches; b: 200 x 220 -> x 0, 20 -> 2
    assert r1['patches'] == r1['done'] == 6 and len(names) == 6
    assert 'a__200__140___100.txt' in names and 'b__200__20___0.txt' in names
    first = {n: open(osp.join(out, 'labelTxt', n)).read() for n in names}
    assert all(line.split()[8:] == ['object', '0'] for t in first.values() for line in t.splitlines())
    assert sum(len(t.splitlines()) for t in first.values()) == r1['boxes'] > 0
    patch = cv2.imread(osp.join(out, 'images', 'a__200__140___100.png'))[..., ::-1]
    assert np.array_equal(patch, img[100:300, 140:340])
    # rerun: nothing to do
    r2 = generate_pseudo_boxes([str(src)], out, gen, patch=200, gap=50, progress=False)
    assert r2['done'] == 0 and r2['skipped'] == 6
    # interrupted run: one patch missing -> only it is redone, with the same result
    os.unlink(osp.join(out, 'labelTxt', names[1]))
    r3 = generate_pseudo_boxes([str(src)], out, gen, patch=200, gap=50, progress=False)
    assert r3['done'] == 1
    assert {n: open(osp.join(out, 'labelTxt', n)).read() for n in names} == first
    assert not [f for f in os.listdir(osp.join(out, 'labelTxt')) if f.startswith('.')]  # no temp files
    man = json.load(open(osp.join(out, 'pseudo_boxes.json')))
    assert man['settings']['generator']['method'] == 'classical' and len(man['patches']) == 6
    # other settings into the same folder are refused unless overwrite
    with pytest.raises(SettingsError, match='other settings'):
        generate_pseudo_boxes([str(src)], out, ClassicalMaskGenerator(color_radius=30), patch=200, gap=50,
                              progress=False)
    r4 = generate_pseudo_boxes([str(src)], out, ClassicalMaskGenerator(color_radius=30), patch=200, gap=50,
                               progress=False, overwrite=True)
    assert r4['done'] == 6


def test_parallel_equals_serial(tmp_path):
    import cv2
    img, _ = _scene(tmp_path, 240, 240, seed=3)
    src = tmp_path / 'src'
    src.mkdir()
    cv2.imwrite(str(src / 'a.png'), img[..., ::-1])
    a = generate_pseudo_boxes([str(src)], str(tmp_path / 's'), patch=160, gap=40, progress=False)
    b = generate_pseudo_boxes([str(src)], str(tmp_path / 'p'), patch=160, gap=40, workers=2, progress=False)
    assert a['done'] == b['done'] == 4
    for n in os.listdir(tmp_path / 's' / 'labelTxt'):
        assert open(tmp_path / 's' / 'labelTxt' / n).read() == open(tmp_path / 'p' / 'labelTxt' / n).read()


def test_geotiff_scene_uint16_by_windows(tmp_path):
    import rasterio
    from rasterio.transform import from_origin
    img, boxes = _scene(tmp_path, 260, 300, seed=5)
    path = str(tmp_path / 'scene.tif')
    data = (img.transpose(2, 0, 1).astype(np.uint16) * 40 + 100)
    nir = np.full((1,) + data.shape[1:], 900, np.uint16)
    with rasterio.open(path, 'w', driver='GTiff', width=300, height=260, count=4, dtype='uint16',
                       crs='EPSG:32632', transform=from_origin(500000, 4000000, 0.5, 0.5), tiled=True,
                       blockxsize=64, blockysize=64) as dst:
        dst.write(np.concatenate([data, nir]))
    r = generate_pseudo_boxes([path], str(tmp_path / 'out'), patch=200, gap=100, progress=False)
    assert r['patches'] == 4 and r['boxes'] > 0
    import cv2
    p = cv2.imread(str(tmp_path / 'out' / 'images' / 'scene__200__100___60.png'))
    assert p.shape == (200, 200, 3) and p.dtype == np.uint8 and p.std() > 10  # stretched, not saturated


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match='not found'):
        generate_pseudo_boxes([str(tmp_path / 'missing')], str(tmp_path / 'o'), progress=False)
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(DatasetError, match='bad.png'):
        generate_pseudo_boxes([str(tmp_path / 'bad.png')], str(tmp_path / 'o'), progress=False)
    with pytest.raises(SettingsError, match='unknown mask generator'):
        build_mask_generator('selective-search')


def test_sam_generator_checks_package_and_file(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith('segment_anything'):
            raise ImportError('no module')
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, '__import__', fake)
    with pytest.raises(SettingsError, match='segment-anything'):
        SamMaskGenerator(str(tmp_path / 'sam.pth'))
    monkeypatch.setattr(builtins, '__import__', real)
    import sys
    import types
    monkeypatch.setitem(sys.modules, 'segment_anything', types.ModuleType('segment_anything'))
    with pytest.raises(SettingsError, match='sam_vit_h.pth: SAM checkpoint file not found'):
        SamMaskGenerator(str(tmp_path / 'sam_vit_h.pth'))


def test_pluggable_generator(tmp_path):
    import cv2

    class Fixed(MaskGenerator):
        name = 'fixed'

        def __call__(self, img):
            return [_rect_mask(img.shape[0], img.shape[1], (50, 40, 30, 10, 0.5))]
    src = tmp_path / 'a.png'
    cv2.imwrite(str(src), np.zeros((100, 100, 3), np.uint8))
    generate_pseudo_boxes([str(src)], str(tmp_path / 'o'), Fixed(), patch=100, gap=0, label='SAMObject',
                          progress=False)
    lines = open(tmp_path / 'o' / 'labelTxt' / 'a__100__0___0.txt').read().splitlines()
    assert len(lines) == 1 and lines[0].endswith('SAMObject 0')
    box = corners_to_rbox(np.array([float(v) for v in lines[0].split()[:8]]).reshape(1, 4, 2))[0]
    assert _iou(box, np.array([50, 40, 30, 10, 0.5])) > 0.85
