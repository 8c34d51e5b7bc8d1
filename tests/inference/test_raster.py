import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from geoperc.io.raster import DateStack, RasterError, open_raster, raster_info, read_window, window_transform

from infer_data import CRS, ORIGIN, RES, scene_array, write_raster


def test_open_errors_name_the_file(tmp_path):
    missing = str(tmp_path / 'nope.tif')
    with pytest.raises(RasterError, match='nope.tif: file not found'):
        open_raster(missing)
    junk = tmp_path / 'junk.tif'
    junk.write_bytes(b'this is not a GeoTIFF' * 10)
    with pytest.raises(RasterError, match='junk.tif: not a raster'):
        open_raster(str(junk))
    nocrs = write_raster(str(tmp_path / 'nocrs.tif'), scene_array(h=20, w=20), crs=None)
    with pytest.raises(RasterError, match='nocrs.tif: the raster has no CRS'):
        open_raster(nocrs)
    assert issubclass(RasterError, ValueError)


def test_info_and_boundless_read(tmp_path, scene):
    path, a = scene
    with open_raster(path) as src:
        info = raster_info(src)
        assert info.shape == a.shape[1:] and info.count == 3 and info.nodata == 0
        assert info.block_shape == (64, 64) and info.crs == rasterio.crs.CRS.from_string(CRS)
        # window past the bottom-right corner: the outside is filled, the inside is the data
        win = Window(400, 280, 64, 32)
        out = read_window(src, win)
        assert out.shape == (3, 32, 64)
        np.testing.assert_array_equal(out[:, :20, :37], a[:, 280:, 400:])
        assert (out[:, 20:] == 0).all() and (out[:, :, 37:] == 0).all()
        assert (read_window(src, win, fill=7)[:, 20:] == 7).all()
        assert read_window(src, win, boundless=False).shape == (3, 20, 37)
        t = window_transform(info.transform, win)
        assert t @ (0, 0) == info.transform @ (400, 280)


def test_stack_same_grid_valid_mask(tmp_path):
    a1, a2 = scene_array(1), scene_array(2, nodata_box=False)
    a2[:, 0:10, 0:10] = 0  # nodata on date 2 only
    p1, p2 = write_raster(str(tmp_path / 'd1.tif'), a1), write_raster(str(tmp_path / 'd2.tif'), a2)
    with DateStack([p1, p2]) as st:
        px, valid = st.read(Window(0, 0, 128, 128))
        assert px.shape == (2, 3, 128, 128)
        exp = ~((a1[:, :128, :128] == 0).all(0) | (a2[:, :128, :128] == 0).all(0))
        np.testing.assert_array_equal(valid, exp)
        np.testing.assert_array_equal(px[1][:, valid], a2[:, :128, :128][:, valid])
        assert (px[:, :, ~valid] == 0).all()


def test_stack_warps_second_date(tmp_path, caplog):
    """Date 2 on another grid is warped to date 1's grid (logged); outside its footprint is invalid."""
    a1 = scene_array(3, nodata_box=False)
    # date 2: same CRS and resolution, extent shifted by (+40 px, +24 px) and cropped -> warp = pure shift
    a2 = a1[:, 24:224, 40:340].copy()
    t2 = from_origin(ORIGIN[0] + 40 * RES, ORIGIN[1] - 24 * RES, RES, RES)
    p1 = write_raster(str(tmp_path / 'd1.tif'), a1)
    p2 = write_raster(str(tmp_path / 'd2.tif'), a2, transform=t2)
    from rasterio.enums import Resampling
    caplog.set_level(logging.INFO, logger='t')
    with DateStack([p1, p2], resampling=Resampling.nearest, logger=logging.getLogger('t')) as st:
        px, valid = st.read(Window(0, 0, 437, 300))
    assert valid[24:224, 40:340].all() and valid.sum() == 200 * 300
    np.testing.assert_array_equal(px[1][:, valid], a1[:, valid])
    assert 'd2.tif: grid differs from' in caplog.text and 'warping it on the fly' in caplog.text
    # another CRS (UTM 32N -> 31N coordinates of the same place) is accepted and overlaps
    from rasterio.warp import calculate_default_transform, reproject
    dst_crs = 'EPSG:32631'
    with rasterio.open(p1) as s:
        tr, w, h = calculate_default_transform(s.crs, dst_crs, s.width, s.height, *s.bounds)
        out = np.zeros((3, h, w), np.uint8)
        reproject(a1, out, src_transform=s.transform, src_crs=s.crs, dst_transform=tr, dst_crs=dst_crs,
                  resampling=Resampling.nearest)
    p3 = write_raster(str(tmp_path / 'd3.tif'), out, crs=dst_crs, transform=tr)
    with DateStack([p1, p3]) as st:
        px, valid = st.read(Window(100, 100, 64, 64))
        assert valid.mean() > 0.9


def test_stack_refuses_bad_dates(tmp_path):
    a = scene_array(4, h=64, w=64)
    p1 = write_raster(str(tmp_path / 'd1.tif'), a)
    far = write_raster(str(tmp_path / 'far.tif'), a, transform=from_origin(ORIGIN[0] + 1e5, ORIGIN[1], RES, RES))
    with pytest.raises(RasterError, match='far.tif: does not overlap .*d1.tif'):
        DateStack([p1, far])
    four = write_raster(str(tmp_path / 'four.tif'), scene_array(5, bands=4, h=64, w=64))
    with pytest.raises(RasterError, match='four.tif: has 4 bands but .*d1.tif.* has 3'):
        DateStack([p1, four])
    with pytest.raises(RasterError, match='missing.tif: file not found'):
        DateStack([p1, str(tmp_path / 'missing.tif')])
