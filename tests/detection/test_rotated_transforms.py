"""Box pipeline: every geometric transform keeps the le90 boxes on the pixels they were drawn on."""
import math

import cv2
import numpy as np
import pytest

from geoperc.datasets.transforms import (LoadRotatedAnnotations, LoadRotatedImage, PackRotatedDetInputs,
                                         RFilterAnnotations, RPad, RRandomFlip, RRandomRotate90, RResize)
from geoperc.datasets.transforms.rotated import flip_rboxes, rot90_rboxes
from geoperc.ops.rotated import rbox_to_corners

BOXES = np.array([[40.0, 30.0, 36.0, 10.0, 0.6], [90.0, 70.0, 24.0, 14.0, -1.2], [30.0, 80.0, 20.0, 6.0, 1.5]])


def _draw(boxes, shape):
    # box coordinates put pixel (i, j)'s centre at (j + 0.5, i + 0.5) (mmrotate's flip x -> W - x);
    # OpenCV puts it at (j, i): shift by half a pixel
    m = np.zeros(shape, np.uint8)
    for i, c in enumerate(rbox_to_corners(boxes)):
        cv2.fillPoly(m, [np.round((c - 0.5) * 16).astype(np.int32)], i + 1, shift=4)
    return m


def _results(shape=(100, 140)):
    img = _draw(BOXES, shape)
    return dict(img=np.stack([img, img * 2, img * 3], -1), gt_bboxes=BOXES.astype(np.float32),
                gt_bboxes_labels=np.array([0, 1, 2]), gt_ignore_flags=np.zeros(3, bool),
                gt_difficulty=np.zeros(3, np.int64), img_shape=shape)


def _check_consistent(res, tol=0.85):
    img = res['img'][..., 0]
    b = res['gt_bboxes']
    assert np.all(b[:, 2] >= b[:, 3]) and np.all(b[:, 4] >= -math.pi / 2) and np.all(b[:, 4] < math.pi / 2)
    for i in range(len(b)):
        drawn = _draw(b[i:i + 1], img.shape) > 0
        truth = img == i + 1
        iou = (drawn & truth).sum() / (drawn | truth).sum()
        assert iou > tol, (i, iou)


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_moves_boxes_with_pixels(direction):
    res = RRandomFlip(prob=1.0, direction=direction)(_results())
    assert res['flip_direction'] == direction
    _check_consistent(res)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_rotate90_moves_boxes_with_pixels(k, monkeypatch):
    monkeypatch.setattr(np.random, 'randint', lambda lo, hi: k)
    monkeypatch.setattr(np.random, 'rand', lambda: 0.0)
    res = RRandomRotate90(prob=1.0)(_results())
    assert res['rot90'] == k and res['img'].shape[:2] == ((140, 100) if k % 2 else (100, 140))
    _check_consistent(res)


def test_rotate90_four_times_is_identity():
    b = rot90_rboxes(BOXES, (100, 140), 4)
    assert np.allclose(b, BOXES, atol=1e-5)
    f = flip_rboxes(flip_rboxes(BOXES, (100, 140), 'horizontal'), (100, 140), 'horizontal')
    assert np.allclose(f, BOXES, atol=1e-5)


@pytest.mark.parametrize('scale,keep', [((280, 200), True), ((70, 80), False)])
def test_resize_scales_boxes(scale, keep):
    res = _results()
    res['img'] = res['img'].astype(np.float32)
    res = RResize(scale=scale, keep_ratio=keep, interpolation='nearest')(res)
    if keep:
        assert res['img'].shape[:2] == (200, 280) and res['scale_factor'] == (2.0, 2.0)
    else:
        assert res['img'].shape[:2] == (80, 70)
    res['img'] = np.round(res['img']).astype(np.uint8)
    _check_consistent(res, tol=0.7 if not keep else 0.85)


def test_pad_filter_and_pack():
    res = RPad(size_divisor=32)(_results())
    assert res['img'].shape[:2] == (128, 160) and res['pad_shape'] == (128, 160)
    res['gt_bboxes'] = np.concatenate([res['gt_bboxes'], [[200, 10, 5, 2, 0]]]).astype(np.float32)
    res['gt_bboxes_labels'] = np.append(res['gt_bboxes_labels'], 0)
    res['gt_ignore_flags'] = np.append(res['gt_ignore_flags'], False)
    res['gt_difficulty'] = np.append(res['gt_difficulty'], 0)
    res = RFilterAnnotations()(res)  # the centre at x=200 is outside
    assert len(res['gt_bboxes']) == 3
    out = PackRotatedDetInputs()(res)
    assert out['inputs'].shape == (3, 128, 160)
    gi = out['data_samples'].gt_instances
    assert gi.bboxes.shape == (3, 5) and gi.labels.tolist() == [0, 1, 2]
    assert out['data_samples'].metainfo['img_shape'] == (100, 140)


def test_load_from_dota_layout(tmp_path):
    from geoperc.datasets.detection import DOTADataset
    from geoperc.datasets.detection.synth import SYNTH_CLASSES, make_dota_synth
    make_dota_synth(str(tmp_path), splits=(('train', 3),), size=96)
    pipe = [dict(type=LoadRotatedImage), dict(type=LoadRotatedAnnotations), dict(type=PackRotatedDetInputs)]
    ds = DOTADataset(data_root=str(tmp_path / 'train'), metainfo=dict(classes=SYNTH_CLASSES), pipeline=pipe)
    item = ds[0]
    assert item['inputs'].shape == (3, 96, 96) and str(item['inputs'].dtype) == 'torch.uint8'
    s = item['data_samples']
    assert s.metainfo['img_id'] == 'S0000' and len(s.gt_instances.bboxes) >= 1
    # the box centres sit on object pixels (not on the background)
    img = item['inputs'].numpy().transpose(1, 2, 0).astype(int)
    for cx, cy, *_ in s.gt_instances.bboxes.numpy():
        px = img[int(cy), int(cx)]
        assert px.max() - px.min() > 80  # saturated class colour, background is grey
