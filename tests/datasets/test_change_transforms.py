"""Multi-date transforms: the same random parameters on every date and the label (T-consistency), any
band count, native dtypes, geo metainfo kept exact or dropped."""
import numpy as np
import pytest

from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                                         MultiDateRandomRotate90, MultiDateResize, PackChangeInputs)

H, W = 48, 64


def _results(bands=5, dtype=np.uint16, seed=0):
    """Date 2 = date 1; band 0 encodes the label (blocks of 200 = changed, 0 = unchanged), the other
    bands a unique pixel index, so any misalignment between dates / label shows."""
    rng = np.random.default_rng(seed)
    blocks = (rng.random((H // 8, W // 8)) < 0.4).astype(np.uint8)
    label = np.kron(blocks, np.ones((8, 8), np.uint8))
    img = np.zeros((H, W, bands), dtype)
    img[..., 0] = label * 200
    idx = np.arange(H * W).reshape(H, W)
    for b in range(1, bands):
        img[..., b] = (idx * (b + 1)) % 251 + 1
    valid = np.ones((H, W), bool)
    valid[:4] = False
    return dict(img=[img, img.copy()], gt_seg_map=label.copy(), valid_mask=valid, seg_fields=['gt_seg_map'],
                img_shape=(H, W), ori_shape=(H, W), img_path=['a.tif', 'b.tif'],
                transform=(0.5, 0.0, 1000.0, 0.0, -0.5, 2000.0), window=(100, 200, W, H), crs='EPSG:32632')


def _assert_consistent(r, exact=True):
    a, b = r['img']
    assert np.array_equal(a, b), 'dates diverged'
    lab = r['gt_seg_map']
    assert lab.shape == a.shape[:2] == r['valid_mask'].shape
    if exact:
        scored = lab != 255
        assert np.array_equal(a[..., 0][scored], (lab[scored] * 200).astype(a.dtype))
    else:  # bilinear image vs nearest label: interiors must agree
        assert np.all(lab[a[..., 0] == 200] == 1)
        assert (a[..., 0] == 200).sum() > 0
        # pixels the label marks changed carry (mostly) changed image values
        ch = lab == 1
        assert (a[..., 0][ch] > 100).mean() > 0.9


@pytest.mark.parametrize('seed', range(6))
def test_crop_consistent_and_geo_exact(seed):
    np.random.seed(seed)
    r = MultiDateRandomCrop(crop_size=(32, 40))(_results())
    _assert_consistent(r)
    x0, y0, x1, y1 = r['crop_bbox']
    assert r['img'][0].shape[:2] == (32, 40) == r['img_shape']
    assert r['transform'] == pytest.approx((0.5, 0.0, 1000.0 + 0.5 * x0, 0.0, -0.5, 2000.0 - 0.5 * y0))
    assert r['window'] == (100 + x0, 200 + y0, 40, 32)
    orig = _results()
    assert np.array_equal(r['img'][0], orig['img'][0][y0:y1, x0:x1])
    assert np.array_equal(r['valid_mask'], orig['valid_mask'][y0:y1, x0:x1])


def test_crop_cat_max_ratio():
    r0 = _results()
    r0['gt_seg_map'][:] = 0
    r0['gt_seg_map'][40:48, 56:64] = 1  # one small changed block in a corner

    def hits(ratio):
        n = 0
        for seed in range(40):
            np.random.seed(seed)
            r = {**r0, 'img': [i.copy() for i in r0['img']], 'gt_seg_map': r0['gt_seg_map'].copy()}
            n += int((MultiDateRandomCrop(crop_size=32, cat_max_ratio=ratio)(r)['gt_seg_map'] == 1).any())
        return n
    assert hits(0.99) > 3 * hits(1.0)  # crops holding >= 11 px of the block, retried


def test_crop_smaller_image():
    r = MultiDateRandomCrop(crop_size=128)(_results())
    assert r['img'][0].shape[:2] == (H, W)


@pytest.mark.parametrize('seed', range(8))
def test_flip_consistent(seed):
    np.random.seed(seed)
    r = MultiDateRandomFlip(prob=0.7, direction=['horizontal', 'vertical', 'diagonal'])(_results())
    _assert_consistent(r)
    o = _results()['img'][0]
    ref = {None: o, 'horizontal': o[:, ::-1], 'vertical': o[::-1], 'diagonal': o[::-1, ::-1]}[r['flip_direction']]
    assert np.array_equal(r['img'][0], ref)
    assert (r['transform'] is None) == r['flip']


def test_flip_both_branches_seen():
    seen = set()
    for seed in range(20):
        np.random.seed(seed)
        seen.add(MultiDateRandomFlip(prob=0.5, direction=['horizontal', 'vertical'])(_results())['flip_direction'])
    assert seen == {None, 'horizontal', 'vertical'}


@pytest.mark.parametrize('seed', range(6))
def test_rotate_consistent(seed):
    np.random.seed(seed)
    r = MultiDateRandomRotate(prob=1.0, degree=30)(_results(bands=6, dtype=np.uint8))
    _assert_consistent(r, exact=False)
    assert r['img'][0].shape == (H, W, 6) and r['img'][0].dtype == np.uint8
    if abs(r['rotate_angle']) > 5:
        assert (r['gt_seg_map'] == 255).any(), 'uncovered corners must be ignored'
        assert not r['valid_mask'].all()
    assert r['transform'] is None


def test_rotate_probability_zero_is_identity():
    r = MultiDateRandomRotate(prob=0.0, degree=30)(_results())
    assert np.array_equal(r['img'][0], _results()['img'][0]) and r['transform'] is not None


@pytest.mark.parametrize('seed', range(6))
def test_rotate90_consistent(seed):
    np.random.seed(seed)
    r = MultiDateRandomRotate90(prob=1.0)(_results())
    _assert_consistent(r)
    k = r['rot90_k']
    assert np.array_equal(r['img'][0], np.rot90(_results()['img'][0], k, axes=(0, 1)))
    assert r['img_shape'] == ((W, H) if k % 2 else (H, W))


def test_resize_consistent_and_geo():
    r = MultiDateResize(scale=(32, 24))(_results())  # (w, h)
    assert r['img'][0].shape == (24, 32, 5) and r['img'][0].dtype == np.uint16
    assert np.array_equal(r['img'][0], r['img'][1])
    assert set(np.unique(r['gt_seg_map'])) <= {0, 1}
    assert r['transform'] == pytest.approx((1.0, 0.0, 1000.0, 0.0, -1.0, 2000.0))
    r = MultiDateResize(scale=(128, 128), keep_ratio=True)(_results())
    assert r['img'][0].shape[:2] == (96, 128)


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16, np.float32])
def test_photometric_per_date_is_a_pseudo_change(dtype):
    differ = 0
    for seed in range(6):
        np.random.seed(seed)
        r = _results(bands=3, dtype=dtype)
        lab = r['gt_seg_map'].copy()
        r = MultiDatePhotoMetricDistortion()(r)
        a, b = r['img']
        assert a.dtype == dtype and a.shape == (H, W, 3)
        assert np.array_equal(r['gt_seg_map'], lab)
        differ += int(not np.array_equal(a, b))
    assert differ >= 3, 'dates must be distorted independently'


def test_photometric_shared_and_nodata_kept():
    for seed in range(6):
        np.random.seed(seed)
        r = _results(bands=4, dtype=np.uint8)
        r['nodata'] = 0
        r['img'][0][10:12, :, :] = 0
        r['img'][1][10:12, :, :] = 0
        r = MultiDatePhotoMetricDistortion(same_for_all_dates=True)(r)
        a, b = r['img']
        assert np.array_equal(a, b)
        assert (a[10:12] == 0).all() and np.array_equal(a[:4], _results(bands=4, dtype=np.uint8)['img'][0][:4])
        valid_rows = np.ones(H, bool)
        valid_rows[[10, 11, 0, 1, 2, 3]] = False
        assert not (a[valid_rows] == 0).all(axis=2).any(), 'a valid pixel became nodata'


def test_pack_native_dtype_and_fields():
    import torch
    r = _results(bands=7, dtype=np.uint16)
    r['nodata'] = 0
    out = PackChangeInputs()(r)
    x, s = out['inputs'], out['data_samples']
    assert x.shape == (2, 7, H, W) and x.dtype == torch.uint16
    assert s.gt_sem_seg.data.shape == (1, H, W) and s.gt_sem_seg.data.dtype == torch.int64
    assert s.valid_mask.data.dtype == torch.bool and not s.valid_mask.data[0, :4].any()
    assert s.metainfo['crs'] == 'EPSG:32632' and s.metainfo['window'] == (100, 200, W, H)
    assert s.metainfo['nodata'] == 0 and s.metainfo['img_shape'] == (H, W)


def test_pack_rejects_mismatched_dates():
    r = _results()
    r['img'][1] = r['img'][1][..., :3]
    with pytest.raises(ValueError, match='dates differ'):
        PackChangeInputs()(r)


def test_geometric_rejects_unaligned_dates():
    r = _results()
    r['img'][1] = r['img'][1][:40]
    with pytest.raises(ValueError, match='date 1 is'):
        MultiDateRandomFlip(prob=1.0)(r)


def test_load_any_band_count_and_dtype(tmp_path):
    import cv2
    import rasterio
    img16 = (np.arange(20 * 30 * 6, dtype=np.uint16).reshape(6, 20, 30) * 7)
    for name in ('a.tif', 'b.tif'):
        with rasterio.open(tmp_path / name, 'w', driver='GTiff', width=30, height=20, count=6,
                           dtype='uint16') as dst:
            dst.write(img16)
    r = LoadMultiDateImages()(dict(img_path=[str(tmp_path / 'a.tif'), str(tmp_path / 'b.tif')]))
    assert r['img'][0].shape == (20, 30, 6) and r['img'][0].dtype == np.uint16
    assert np.array_equal(r['img'][0], img16.transpose(1, 2, 0)) and r['band_count'] == 6
    # 16-bit single-band PNG and a grayscale label
    cv2.imwrite(str(tmp_path / 'g1.png'), img16[0])
    cv2.imwrite(str(tmp_path / 'g2.png'), img16[1])
    cv2.imwrite(str(tmp_path / 'l.png'), np.where(img16[0] % 2 == 0, 255, 0).astype(np.uint8))
    r = LoadMultiDateImages()(dict(img_path=[str(tmp_path / 'g1.png'), str(tmp_path / 'g2.png')]))
    r = LoadChangeLabel()({**r, 'seg_map_path': str(tmp_path / 'l.png')})
    assert r['img'][0].shape == (20, 30, 1) and r['img'][0].dtype == np.uint16
    assert np.array_equal(r['gt_seg_map'], (img16[0] % 2 == 0).astype(np.uint8))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        LoadMultiDateImages()(dict(img_path=[str(tmp_path / 'nope.png'), str(tmp_path / 'g2.png')]))
