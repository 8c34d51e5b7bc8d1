"""Issue 13, cases 1 and 2, with generated files in the real forms: GDAL masks and alpha bands are the
validity everywhere rasters are read (training windows, inference's DateStack, quick looks) and an alpha
band is not a model band; a 0/255 change label is never silently read as "all ignored"."""
import logging
import os.path as osp

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from geoperc.datasets.change import GeoTIFFChangeDataset, LEVIRCDDataset
from geoperc.datasets.transforms import LoadChangeLabel, LoadMultiDateImages, PackChangeInputs
from geoperc.errors import DatasetError, RasterError, RasterReadError
from geoperc.io.quicklook import read_overview
from geoperc.io.raster import DateStack, GridReader, read_on_grid
from geoperc.testing import datasets as gen
from geoperc.testing.change_scene import write_geotiff

H, W = 64, 96
T = from_origin(500000.0, 5000000.0, 0.5, 0.5)


def _rgb(seed=0):
    return np.random.default_rng(seed).integers(1, 255, (3, H, W), dtype=np.uint8)


def _footprint():
    """A flight-area footprint: alpha 255 inside a slanted band, 0 outside."""
    yy, xx = np.mgrid[0:H, 0:W]
    return ((xx + yy > 20) & (xx - yy < 60)).astype(np.uint8) * 255


@pytest.fixture
def rgba(tmp_path):
    rgb, alpha = _rgb(), _footprint()
    rgb[:, alpha == 0] = 0  # what an orthomosaic holds outside the flight area (black, not a valid 0)
    return write_geotiff(str(tmp_path / 'ortho_rgba.tif'), rgb, alpha=alpha), rgb, alpha


def test_rgba_alpha_is_the_mask_not_a_band(rgba):
    path, rgb, alpha = rgba
    with rasterio.open(path) as src:  # the file is what GDAL calls RGBA with an alpha mask
        assert src.colorinterp[3].name == 'alpha' and src.nodata is None
    with DateStack([path, path]) as st:
        assert st.info.count == 3 and st.bands == (1, 2, 3) and st.info.alpha_band == 4 and st.info.mask == 'alpha'
        px, valid = st.read(Window(-8, 0, W + 8, H))  # boundless on the left
    assert px.shape == (2, 3, H, W + 8)
    np.testing.assert_array_equal(valid[:, 8:], alpha > 0)
    assert not valid[:, :8].any()
    np.testing.assert_array_equal(px[1][:, :, 8:][:, alpha > 0], rgb[:, alpha > 0])
    # asked for explicitly, the alpha band is data (validity then from nodata: none here)
    with DateStack([path], bands=[1, 2, 3, 4]) as st:
        px, valid = st.read(Window(0, 0, W, H))
    assert px.shape == (1, 4, H, W) and valid.all() and np.array_equal(px[0, 3], alpha)
    with pytest.raises(RasterError, match=r'ortho_rgba.tif: has 4 bands .*cannot read band 5'):
        DateStack([path], bands=[1, 5])


def test_internal_mask_jpeg_cog_is_validity(tmp_path):
    rgb = _rgb(1)
    mask = _footprint() > 0
    path = write_geotiff(str(tmp_path / 'jpeg_masked.tif'), rgb, mask=mask, jpeg=True)
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
    data, valid = read_on_grid(path, (0, 0, W, H))
    np.testing.assert_array_equal(valid, mask)
    assert (data[:, ~mask] == 0).all()
    with DateStack([path]) as st:
        assert st.info.mask == 'mask'
        np.testing.assert_array_equal(st.read(Window(0, 0, W, H))[1], mask)


def test_warped_date2_keeps_its_alpha_footprint(tmp_path, rgba):
    """Date 2 (RGBA) on a grid shifted by (+10, +6) pixels: its alpha, warped, is the validity."""
    path, rgb, alpha = rgba
    d1 = write_geotiff(str(tmp_path / 'd1.tif'), _rgb(2), nodata=0)
    t2 = from_origin(500000.0 + 10 * 0.5, 5000000.0 - 6 * 0.5, 0.5, 0.5)
    d2 = write_geotiff(str(tmp_path / 'd2.tif'), rgb, alpha=alpha, transform=t2)
    with DateStack([d1, d2], resampling=rasterio.enums.Resampling.nearest, logger=logging.getLogger('t')) as st:
        px, valid = st.read(Window(0, 0, W, H))
    exp = np.zeros((H, W), bool)
    exp[6:, 10:] = alpha[:H - 6, :W - 10] > 0
    np.testing.assert_array_equal(valid, exp)
    np.testing.assert_array_equal(px[1][:, 6:, 10:][:, exp[6:, 10:]], rgb[:, :H - 6, :W - 10][:, exp[6:, 10:]])


def _pair_scene(tmp_path, label_values=(0, 255), alpha=True, nodata_label=None):
    rgb1, rgb2, fp = _rgb(3), _rgb(4), _footprint()
    lab = np.zeros((H, W), np.uint8)
    lab[20:40, 30:60] = label_values[1]
    kw = dict(alpha=fp) if alpha else {}
    write_geotiff(str(tmp_path / 'a.tif'), rgb1, **kw)
    write_geotiff(str(tmp_path / 'b.tif'), rgb2, **kw)
    write_geotiff(str(tmp_path / 'label.tif'), lab[None], nodata=nodata_label)
    return fp, lab


PIPE_LEGACY = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None), dict(type=PackChangeInputs)]


def test_training_windows_use_alpha_and_0255_labels(tmp_path, caplog):
    """The issue's case: RGBA dates and a 0/255 label through the GeoTIFF pipeline of the configs
    (``LoadChangeLabel(mapping=None)``): 3 bands, alpha as valid mask, change pixels read as change."""
    fp, lab = _pair_scene(tmp_path)
    pairs = [dict(a='a.tif', b='b.tif', label='label.tif')]
    ds = GeoTIFFChangeDataset(data_root=str(tmp_path), pairs=pairs, tile=128, pipeline=PIPE_LEGACY)
    assert ds.get_data_info(0)['label_encoding'] == '0255'
    out = ds[0]
    x, s = out['inputs'], out['data_samples']
    assert tuple(x.shape) == (2, 3, 128, 128)
    valid = s.valid_mask.data[0].numpy()
    np.testing.assert_array_equal(valid[:H, :W], fp > 0)
    gt = s.gt_sem_seg.data[0].numpy()
    exp = np.where(fp > 0, (lab == 255).astype(np.uint8), 255)
    np.testing.assert_array_equal(gt[:H, :W], exp)
    assert (gt[:H, :W] == 1).sum() == ((lab == 255) & (fp > 0)).sum() > 0
    # every band, alpha included, when asked
    ds4 = GeoTIFFChangeDataset(data_root=str(tmp_path), pairs=pairs, tile=128, bands=[1, 2, 3, 4],
                               pipeline=PIPE_LEGACY)
    assert tuple(ds4[0]['inputs'].shape) == (2, 4, 128, 128)


def test_label_encoding_is_explicit(tmp_path):
    _pair_scene(tmp_path, alpha=False)
    pairs = [dict(a='a.tif', b='b.tif', label='label.tif')]
    kw = dict(data_root=str(tmp_path), pairs=pairs, tile=128, pipeline=PIPE_LEGACY)
    # 0/255 read as 0/1 would ignore every change pixel: refused, naming the file
    with pytest.raises(DatasetError, match=r"label.tif: the only non-zero label value is 255, which "
                                           r"label_encoding='01' reads as 'not scored'"):
        GeoTIFFChangeDataset(label_encoding='01', **kw)
    with pytest.raises(DatasetError, match="label_encoding='bogus' is not one of"):
        GeoTIFFChangeDataset(label_encoding='bogus', **kw)
    ds = GeoTIFFChangeDataset(label_encoding='0255', **kw)
    assert (ds[0]['data_samples'].gt_sem_seg.data == 1).sum() == 20 * 30
    # a transform setting that contradicts the dataset's is refused
    pipe = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, label_encoding='01'), dict(type=PackChangeInputs)]
    ds = GeoTIFFChangeDataset(label_encoding='0255', **dict(kw, pipeline=pipe))
    with pytest.raises(DatasetError, match='contradicts'):
        ds[0]


def test_01_label_with_ignore_stays_01(tmp_path):
    """0/1 labels with 255 = not scored (geoperc's own GeoTIFF labels) resolve to '01' under 'auto'."""
    fp, lab = _pair_scene(tmp_path, label_values=(0, 1), alpha=False)
    with rasterio.open(tmp_path / 'label.tif', 'r+') as d:
        lab[:, :5] = 255
        d.write(lab, 1)
    ds = GeoTIFFChangeDataset(data_root=str(tmp_path), pairs=[dict(a='a.tif', b='b.tif', label='label.tif')],
                              tile=128, pipeline=PIPE_LEGACY)
    gt = ds[0]['data_samples'].gt_sem_seg.data[0].numpy()
    assert ds.get_data_info(0)['label_encoding'] == '01'
    assert (gt[:H, :5] == 255).all() and (gt[:H, :W] == 1).sum() == 20 * 30
    with pytest.raises(DatasetError, match=r"label values \[1\] are not 0/255.*use label_encoding='01'"):
        GeoTIFFChangeDataset(data_root=str(tmp_path), pairs=[dict(a='a.tif', b='b.tif', label='label.tif')],
                             tile=128, label_encoding='0255')


def test_folder_release_read_as_01_is_refused(tmp_path):
    root = gen.write_levircd(str(tmp_path), {'train': 2})
    with pytest.raises(DatasetError, match="only non-zero label value is 255"):
        LEVIRCDDataset(data_root=root, split='train', label_encoding='01')
    ds = LEVIRCDDataset(data_root=root, split='train', label_encoding='auto',
                        pipeline=[dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel), dict(type=PackChangeInputs)])
    assert ds.get_data_info(0)['label_encoding'] == '0255'
    assert (ds[0]['data_samples'].gt_sem_seg.data == 1).any()


def test_rgba_png_alpha_is_a_mask(tmp_path):
    import cv2
    root = gen.write_levircd(str(tmp_path), {'train': 1})
    p = osp.join(root, 'train', 'A', 'train_1.png')
    img = cv2.imread(p, cv2.IMREAD_UNCHANGED)
    a = np.full(img.shape[:2], 255, np.uint8)
    a[:, :10] = 0
    cv2.imwrite(p, np.dstack([img, a]))
    r = LoadMultiDateImages()(dict(img_path=[p, p.replace('/A/', '/B/')]))
    assert r['img'][0].shape[2] == 3 and not r['valid_mask'][:, :10].any() and r['valid_mask'][:, 10:].all()
    r = LoadMultiDateImages(bands=[1, 2, 3, 4])(dict(img_path=[p, p]))
    assert r['img'][0].shape[2] == 4 and 'valid_mask' not in r


def test_quicklook_uses_the_mask(rgba):
    path, rgb, alpha = rgba
    arr, valid = read_overview(path, max_size=W)
    assert arr.shape == (3, H, W)
    np.testing.assert_array_equal(valid, alpha > 0)


def test_truncated_file_names_file_and_window(tmp_path):
    """A GeoTIFF cut after its header: the read names the file and the window (issue 13, case 9)."""
    big = np.random.default_rng(5).integers(0, 255, (3, 256, 256), dtype=np.uint8)
    p = write_geotiff(str(tmp_path / 'cut.tif'), big, block=64)
    data = open(p, 'rb').read()
    open(p, 'wb').write(data[:len(data) // 2])
    with GridReader(p) as rd, pytest.raises(RasterReadError, match=r'cut.tif: reading the window at column \d+, '
                                                                    r'row \d+ .* truncated or corrupt'):
        for r0 in range(0, 256, 64):
            rd.read((0, r0, 256, 64))
