"""DOTA splitting (mmrotate img_split semantics) on generated images and a GeoTIFF read by windows;
patch merging -> full-image mAP; DOTA-server submission files."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from geoperc.datasets.detection.dota import parse_dota_txt
from geoperc.datasets.detection.split import (merge_patch_results, parse_patch_id, poly_window_iof,
                                              sliding_windows, split_dataset, window_objects,
                                              write_dota_submission)
from geoperc.ops.rotated import rbox_to_corners


def test_windows_by_hand():
    # 2000 x 1000, 1024 / gap 200: step 824; x starts 0, 824, 1648 -> last moved back to 2000 - 1024 = 976
    w = sliding_windows(2000, 1000, [1024], [200])
    assert w.tolist() == [[0, 0, 1024, 1024], [824, 0, 1848, 1024], [976, 0, 2000, 1024]]
    # 3000 x 2500, 800 / gap 200: step 600; x 0..2400 -> 2200; y 0, 600, 1200, 1800 (1800 + 800 > 2500 -> 1700)
    w = sliding_windows(3000, 2500, [800], [200])
    xs, ys = sorted(set(w[:, 0].tolist())), sorted(set(w[:, 1].tolist()))
    assert xs == [0, 600, 1200, 1800, 2200] and ys == [0, 600, 1200, 1700] and len(w) == 20
    # a small image: the only window covers 0.24 of itself (< 0.6) but is kept as the best one
    assert sliding_windows(500, 500, [1024], [200]).tolist() == [[0, 0, 1024, 1024]]
    # two scales (rates 0.5, 1): sizes 2048 and 1024
    from geoperc.datasets.detection.split import expand_sizes
    assert expand_sizes([1024], [200], [0.5, 1.0]) == ([2048, 1024], [400, 200])


def test_object_assignment_iof():
    win = np.array([[0, 0, 100, 100], [80, 0, 180, 100]])
    polys = np.array([[10, 10, 30, 10, 30, 20, 10, 20],       # inside window 0 only
                      [90, 10, 110, 10, 110, 20, 90, 20],     # half in 0 (iof .5), fully in 1
                      [70, 50, 100, 50, 100, 60, 70, 60]], float)  # in 0 fully, in 1 iof 20/30
    iof = poly_window_iof(polys, win)
    assert np.allclose(iof, [[1, 0], [0.5, 1], [1, 2 / 3]], atol=1e-6)
    objs = window_objects(polys, win, iof_thr=0.7)
    assert objs[0][0].tolist() == [0, 2] and objs[1][0].tolist() == [1]
    assert objs[0][1].tolist() == [False, False]


def _scene_image(path, H, W, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    cv2.imwrite(path, img[..., ::-1])
    return img


def test_split_png_patches_and_labels(tmp_path):
    src = tmp_path / 'src'
    (src / 'images').mkdir(parents=True)
    (src / 'labelTxt').mkdir()
    img = _scene_image(str(src / 'images' / 'P0001.png'), 300, 500)
    boxes = np.array([[50, 50, 30, 10, 0.3], [240, 150, 40, 12, -0.5], [480, 280, 30, 10, 0.0]])
    with open(src / 'labelTxt' / 'P0001.txt', 'w') as f:
        f.write('imagesource:GoogleEarth\ngsd:0.5\n')
        for q, name in zip(rbox_to_corners(boxes).reshape(-1, 8), ['plane', 'ship', 'harbor']):
            f.write(' '.join(f'{v:.1f}' for v in q) + f' {name} 0\n')
    out = tmp_path / 'out'
    stats = split_dataset(str(src / 'images'), str(out), ann_dir=str(src / 'labelTxt'), sizes=[256], gaps=[56],
                          padding_value=7, progress=False)
    wins = sliding_windows(500, 300, [256], [56])
    assert stats == dict(images=1, windows=len(wins), written=len(wins))
    for x0, y0, x1, y1 in wins:
        pid = f'P0001__256__{x0}___{y0}'
        patch = cv2.imread(str(out / 'images' / (pid + '.png')))[..., ::-1]
        assert patch.shape == (256, 256, 3)
        h, w = min(y1, 300) - y0, min(x1, 500) - x0
        assert np.array_equal(patch[:h, :w], img[y0:y0 + h, x0:x1])
        assert (patch[h:] == 7).all() and (patch[:, w:] == 7).all()
        objs = parse_dota_txt(str(out / 'labelTxt' / (pid + '.txt')))['objects']
        iof = poly_window_iof(rbox_to_corners(boxes).reshape(-1, 8), np.array([[x0, y0, x1, y1]]))[:, 0]
        assert len(objs) == int((iof >= 0.7).sum())
        for poly, name, diff in objs:
            k = ['plane', 'ship', 'harbor'].index(name)
            assert np.allclose(poly.reshape(4, 2) + [x0, y0], rbox_to_corners(boxes[k:k + 1])[0], atol=0.06)
            assert diff == (2 if iof[k] < 1 else 0)
    # idempotent: a second run writes nothing
    again = split_dataset(str(src / 'images'), str(out), ann_dir=str(src / 'labelTxt'), sizes=[256], gaps=[56],
                          progress=False)
    assert again['written'] == 0
    assert not [f for f in os.listdir(out / 'images') if 'tmp' in f]


def test_split_geotiff_by_windows_keeps_georeferencing(tmp_path):
    import rasterio
    from rasterio.windows import Window

    from geoperc.datasets.detection.synth import make_synth_scene
    scene = make_synth_scene(str(tmp_path / 'scenes' / 'scene.tif'), size=(384, 448), seed=3)
    (tmp_path / 'labels').mkdir()
    os.replace(scene['label_txt'], tmp_path / 'labels' / 'scene.txt')
    stats = split_dataset(str(tmp_path / 'scenes'), str(tmp_path / 'tiles'), ann_dir=str(tmp_path / 'labels'),
                          sizes=[256], gaps=[64], ext='.tif', nproc=2, chunk=2, progress=False)
    assert stats['written'] == stats['windows'] == len(sliding_windows(448, 384, [256], [64]))
    n_objects = 0
    with rasterio.open(scene['path']) as src:
        for f in sorted(os.listdir(tmp_path / 'tiles' / 'images')):
            ori, x, y = parse_patch_id(osp.splitext(f)[0])
            with rasterio.open(tmp_path / 'tiles' / 'images' / f) as t:
                assert t.crs == src.crs
                assert t.transform == src.window_transform(Window(x, y, 256, 256))
                ref = src.read(window=Window(x, y, 256, 256), boundless=True, fill_value=104)
                assert np.array_equal(t.read()[0], ref[0])
            n_objects += len(parse_dota_txt(str(tmp_path / 'tiles' / 'labelTxt' / (osp.splitext(f)[0] + '.txt')))
                             ['objects'])
    assert n_objects >= len(scene['boxes'])  # every object lands in at least one patch (overlap repeats some)


def test_merge_patches_then_full_image_map_and_submission(tmp_path):
    from geoperc.evaluation.metrics import RotatedMAPMetric
    rng = np.random.default_rng(0)
    classes = ('plane', 'ship')
    W, H = 700, 500
    boxes = np.array([[60 + 110 * (i % 6), 60 + 120 * (i // 6), 40, 14, rng.uniform(-1.5, 1.5)] for i in range(24)])
    labels = np.arange(24) % 2
    ann = tmp_path / 'ann'
    ann.mkdir()
    with open(ann / 'P0007.txt', 'w') as f:
        for q, lab in zip(rbox_to_corners(boxes).reshape(-1, 8), labels):
            f.write(' '.join(f'{v:.2f}' for v in q) + f' {classes[lab]} 0\n')
    # patch predictions: every object of every window (repeated in overlaps), in patch coordinates
    wins = sliding_windows(W, H, [256], [56])
    objs = window_objects(rbox_to_corners(boxes).reshape(-1, 8), wins, 0.7)
    metric = RotatedMAPMetric(merge_patches=True, ann_dir=str(ann), outfile_prefix=str(tmp_path / 'sub'))
    metric.dataset_meta = dict(classes=classes)
    preds, repeats = [], 0
    for (x0, y0, _, _), (idx, _) in zip(wins, objs):
        b = boxes[idx].copy()
        b[:, :2] -= [x0, y0]
        b[:, :2] += rng.normal(0, 0.5, (len(b), 2))
        repeats += len(idx)
        preds.append(dict(pred_instances=dict(bboxes=b, scores=rng.uniform(0.5, 1, len(b)), labels=labels[idx]),
                          gt_instances=dict(bboxes=np.zeros((0, 5)), labels=np.zeros(0, int)),
                          metainfo=dict(img_id=f'P0007__256__{x0}___{y0}')))
    assert repeats > len(boxes)  # overlaps give duplicates that the merge must remove
    metric.process({}, preds)
    res = metric.compute_metrics(metric.results)
    assert res['AP50'] == pytest.approx(100.0)
    merged = merge_patch_results([dict(img_id=p['metainfo']['img_id'], **p['pred_instances']) for p in preds])
    assert len(merged['P0007']['bboxes']) == len(boxes)
    lines = open(tmp_path / 'sub' / 'Task1_plane.txt').read().splitlines()
    assert len(lines) == 12 and lines[0].split()[0] == 'P0007' and len(lines[0].split()) == 10
    assert osp.isfile(tmp_path / 'sub' / 'Task1.zip')
    # every class gets a file, empty or not
    paths = write_dota_submission(merged, classes, str(tmp_path / 'sub2'))
    assert [osp.basename(p) for p in paths] == ['Task1_plane.txt', 'Task1_ship.txt']
