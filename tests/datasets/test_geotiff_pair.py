"""GeoTIFF pair dataset: windows with their own affine / CRS / nodata, boundless edges, date-2 alignment."""
import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from geoperc.datasets.change import GeoTIFFChangeDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDateRandomCrop,
                                         MultiDateRandomFlip, PackChangeInputs)
from geoperc.testing import make_change_scene

PIPE = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None), dict(type=PackChangeInputs)]


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    return make_change_scene(str(tmp_path_factory.mktemp('scene')), size=(200, 300), bands=4, blocksize=64)


def _pairs(scene, b=None):
    return [dict(a='date1.tif', b=b or 'date2.tif', label='label.tif')]


def _full(path):
    with rasterio.open(path) as src:
        return src.read()


def test_windows_cover_scene_with_exact_affine(scene):
    root = scene.date1.rsplit('/', 1)[0]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, overlap=0, pipeline=PIPE)
    assert len(ds) == 2 * 3  # ceil(200/128) x ceil(300/128)
    a, b, lab = _full(scene.date1), _full(scene.date2), _full(scene.label)[0]
    x0, _, c0, _, y0, f0 = 0.5, 0, 500000.0, 0, -0.5, 5000000.0
    covered = np.zeros(scene.shape, int)
    for i in range(len(ds)):
        out = ds[i]
        x, s = out['inputs'], out['data_samples']
        c, r, w, h = s.metainfo['window']
        assert (w, h) == (128, 128) and x.shape == (2, 4, 128, 128) and x.dtype == torch.uint8
        assert s.metainfo['transform'] == pytest.approx((0.5, 0.0, 500000.0 + 0.5 * c, 0.0, -0.5, 5000000.0 - 0.5 * r))
        assert rasterio.crs.CRS.from_wkt(s.metainfo['crs']) == rasterio.crs.CRS.from_epsg(32632)
        assert s.metainfo['nodata'] == 0 and s.metainfo['img_path'][1].endswith('date2.tif')
        hh, ww = min(h, 200 - r), min(w, 300 - c)
        assert np.array_equal(x[0, :, :hh, :ww].numpy(), a[:, r:r + hh, c:c + ww])
        assert np.array_equal(x[1, :, :hh, :ww].numpy(), b[:, r:r + hh, c:c + ww])
        gt = s.gt_sem_seg.data[0].numpy()
        valid = s.valid_mask.data[0].numpy()
        inside = np.zeros((h, w), bool)
        inside[:hh, :ww] = True
        # outside the raster: nodata fill, invalid, ignored
        assert (x[:, :, ~inside] == 0).all() and not valid[~inside].any() and (gt[~inside] == 255).all()
        # inside: valid unless a date is all-nodata; label as written (255 where nodata)
        nod = (a[:, r:r + hh, c:c + ww] == 0).all(0) | (b[:, r:r + hh, c:c + ww] == 0).all(0)
        assert np.array_equal(valid[:hh, :ww], ~nod)
        exp = lab[r:r + hh, c:c + ww].copy()
        exp[nod] = 255
        assert np.array_equal(gt[:hh, :ww], exp)
        covered[r:r + hh, c:c + ww] += 1
    assert (covered == 1).all(), 'overlap=0 scores every pixel exactly once'


def test_overlap_windows(scene):
    root = scene.date1.rsplit('/', 1)[0]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, overlap=64)
    wins = [ds.get_data_info(i)['window'] for i in range(len(ds))]
    assert {w[0] for w in wins} == {0, 64, 128, 192} and {w[1] for w in wins} == {0, 64, 128}
    assert all(w[2:] == (128, 128) for w in wins)


def test_crop_keeps_geo_exact(scene):
    root = scene.date1.rsplit('/', 1)[0]
    pipe = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None),
            dict(type=MultiDateRandomCrop, crop_size=32), dict(type=PackChangeInputs)]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, pipeline=pipe)
    a = _full(scene.date1)
    np.random.seed(3)
    out = ds[4]
    s = out['data_samples']
    c, r, w, h = (int(v) for v in s.metainfo['window'])
    assert (w, h) == (32, 32)
    assert s.metainfo['transform'] == pytest.approx((0.5, 0.0, 500000.0 + 0.5 * c, 0.0, -0.5, 5000000.0 - 0.5 * r))
    assert np.array_equal(out['inputs'][0].numpy(), a[:, r:r + 32, c:c + 32])


def test_flip_drops_transform(scene):
    root = scene.date1.rsplit('/', 1)[0]
    pipe = [dict(type=LoadMultiDateImages), dict(type=MultiDateRandomFlip, prob=1.0), dict(type=PackChangeInputs)]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, pipeline=pipe)
    assert ds[0]['data_samples'].metainfo['transform'] is None


def test_date2_aligned_to_date1_grid(scene, tmp_path):
    """Date 2 stored on a shifted, larger grid is read on date 1's grid pixel for pixel."""
    b = _full(scene.date2)
    pad = np.zeros((b.shape[0], 200 + 40, 300 + 40), b.dtype)
    pad[:, 20:220, 20:320] = b
    shifted = tmp_path / 'date2_shifted.tif'
    with rasterio.open(shifted, 'w', driver='GTiff', width=340, height=240, count=4, dtype='uint8', nodata=0,
                       crs='EPSG:32632', transform=from_origin(500000.0 - 10.0, 5000000.0 + 10.0, 0.5, 0.5)) as dst:
        dst.write(pad)
    root = scene.date1.rsplit('/', 1)[0]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene, b=str(shifted)), tile=128, pipeline=PIPE)
    assert ds.scenes[0]['align_b'] and not ds.scenes[0]['align_label']
    ref = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, pipeline=PIPE)
    for i in (0, 4):
        assert torch.equal(ds[i]['inputs'], ref[i]['inputs'])


def test_date2_in_another_crs(scene, tmp_path):
    """Date 2 in EPSG:4326 is warped onto date 1's UTM grid (bilinear): close to the original."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject
    out = tmp_path / 'date2_4326.tif'
    with rasterio.open(scene.date2) as src:
        t, w, h = calculate_default_transform(src.crs, 'EPSG:4326', src.width, src.height, *src.bounds,
                                              resolution=(0.5 / 111320 / 2, 0.5 / 111320 / 2))
        prof = src.profile.copy()
        prof.update(crs='EPSG:4326', transform=t, width=w, height=h)
        with rasterio.open(out, 'w', **prof) as dst:
            for k in range(1, src.count + 1):
                reproject(rasterio.band(src, k), rasterio.band(dst, k), resampling=Resampling.nearest)
    root = scene.date1.rsplit('/', 1)[0]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene, b=str(out)), tile=128, pipeline=PIPE)
    ref = GeoTIFFChangeDataset(data_root=root, pairs=_pairs(scene), tile=128, pipeline=PIPE)
    x, y = ds[4]['inputs'][1].float(), ref[4]['inputs'][1].float()
    inner = (slice(None), slice(4, 68), slice(4, 124))  # the in-raster part of window (128, 128)
    assert (x[inner] - y[inner]).abs().mean() < 6.0


def test_errors_name_paths(scene, tmp_path):
    root = scene.date1.rsplit('/', 1)[0]
    with pytest.raises(FileNotFoundError, match='nope.tif'):
        GeoTIFFChangeDataset(data_root=root, pairs=[dict(a='date1.tif', b='nope.tif')])
    three = tmp_path / 'three.tif'
    with rasterio.open(three, 'w', driver='GTiff', width=10, height=10, count=3, dtype='uint8',
                       crs='EPSG:32632', transform=from_origin(500000.0, 5000000.0, 0.5, 0.5)) as dst:
        dst.write(np.ones((3, 10, 10), np.uint8))
    with pytest.raises(ValueError, match='has 4 bands but .*three.tif has 3'):
        GeoTIFFChangeDataset(data_root=root, pairs=[dict(a='date1.tif', b=str(three))])
    with pytest.raises(ValueError, match='at least one pair'):
        GeoTIFFChangeDataset(pairs=[])


def test_unlabelled_scene_and_dataloader(scene):
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    root = scene.date1.rsplit('/', 1)[0]
    ds = GeoTIFFChangeDataset(data_root=root, pairs=[dict(a='date1.tif', b='date2.tif')], tile=96,
                              pipeline=[dict(type=LoadMultiDateImages), dict(type=PackChangeInputs)], test_mode=True)
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=pseudo_collate)))
    assert len(batch['inputs']) == 3 and batch['inputs'][0].shape == (2, 4, 96, 96)
    assert all('gt_sem_seg' not in s for s in batch['data_samples'])
