"""Panorama transforms keep RGB, depth and validity aligned; the official roll / flip / colour rules."""
import numpy as np
import pytest
import torch

from geoperc.datasets.transforms import (PackPanoDepthInputs, PanoRandomChannelPermute, PanoRandomFlip,
                                         PanoRandomGamma, PanoRandomYawRoll, PanoResize)


def pano(H=8, W=16):
    cols = np.arange(W)
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = cols * 10          # column code
    img[..., 1] = np.arange(H)[:, None] * 20
    img[..., 2] = 7
    depth = np.tile(1.0 + cols / 10.0, (H, 1)).astype(np.float32)
    valid = np.ones((H, W), bool)
    valid[:, 3] = False
    depth[:, 3] = 0
    return dict(img=img, gt_depth=depth, depth_valid=valid, img_path='x.png')


def assert_aligned(r, W=16):
    col = r['img'][..., 0].astype(int) // 10
    ok = r['depth_valid']
    np.testing.assert_allclose(r['gt_depth'][ok], 1.0 + col[ok] / 10.0, rtol=1e-6)
    assert (col[~ok] == 3).all()


def test_flip_and_roll_keep_fields_aligned():
    np.random.seed(0)
    seen_rolls, seen_flips = set(), set()
    for _ in range(40):
        r = PanoRandomYawRoll()(PanoRandomFlip(0.5)(pano()))
        assert_aligned(r)
        seen_rolls.add(r['yaw_roll'])
        seen_flips.add(r['flip'])
    assert seen_rolls == {0, 4, 8, 12}      # multiples of W / 4 only (official)
    assert seen_flips == {True, False}
    r = PanoRandomFlip(1.0)(pano())
    assert r['img'][0, 0, 0] == 150 and r['gt_depth'][0, 0] == pytest.approx(2.5)
    np.random.seed(3)
    r = PanoRandomYawRoll()(pano())
    dx = r['yaw_roll']
    assert r['img'][0, dx % 16, 0] == 0  # column 0 moved to column dx


def test_colour_transforms_leave_geometry_alone():
    np.random.seed(1)
    base = pano()
    outs = [PanoRandomChannelPermute(prob=1.0)(pano()) for _ in range(10)]
    for r in outs:
        assert sorted(r['img'][0, 5]) == sorted(base['img'][0, 5])
        np.testing.assert_array_equal(r['gt_depth'], base['gt_depth'])
    assert any(not np.array_equal(r['img'], base['img']) for r in outs)
    np.random.seed(2)
    r = PanoRandomGamma(prob=1.0)(pano())
    x = base['img'].astype(np.float32) / 255
    ratio = np.log(np.clip(r['img'][..., 0][:, 1:] / 255, 1e-6, None)) / np.log(x[..., 0][:, 1:])
    g = ratio[0, 4]
    assert 0.5 <= g <= 1.0 and np.allclose(ratio[:, :-1], g, atol=1e-3)  # one gamma 1/p, p in [1, 2]
    assert PanoRandomGamma(prob=0.0)(pano())['img'].dtype == np.uint8


def test_resize_keeps_only_fully_valid_depth():
    r = PanoResize((4, 8))(pano())
    assert r['img'].shape == (4, 8, 3) and r['gt_depth'].shape == (4, 8)
    # target column 1 covers source columns 2 and 3 (3 invalid) -> invalid; column 2 covers 4, 5
    assert not r['depth_valid'][:, 1].any() and r['depth_valid'][:, 2].all()
    np.testing.assert_allclose(r['gt_depth'][:, 2], 1.0 + 4.5 / 10, rtol=1e-6)
    assert (r['gt_depth'][~r['depth_valid']] == 0).all()


def test_pack_puts_depth_and_validity_in_the_sample():
    out = PackPanoDepthInputs()(PanoRandomYawRoll(prob=0.0)(pano()))
    x, s = out['inputs'], out['data_samples']
    assert x.shape == (3, 8, 16) and x.dtype == torch.uint8
    assert s.gt_depth.data.shape == (1, 8, 16) and s.gt_depth.data.dtype == torch.float32
    assert s.depth_valid.data.dtype == torch.bool and not s.depth_valid.data[0, :, 3].any()
    assert 'valid_mask' not in s  # depth validity never blanks the input (see the module docstring)
    assert s.metainfo['img_shape'] == (8, 16) and s.metainfo['yaw_roll'] == 0
