"""Tile -> model -> blend -> write: georeferencing, exact round trip, nodata, atomic output, bad inputs."""
import os

import numpy as np
import pytest
import rasterio
import torch
from mmengine.structures import PixelData
from rasterio.transform import from_origin

from geoperc.errors import GeoPercError
from geoperc.inference import InferenceError, infer_geotiff
from geoperc.inference.export import OutputPathError, needs_bigtiff
from geoperc.io.raster import RasterError
from geoperc.models.data_preprocessors.geo_preprocessor import GeoDataPreprocessor
from geoperc.testing.models import FixedBoxModel, IdentityDenseModel, IdentityRegressionModel, TinyConvSegModel

from infer_data import ORIGIN, RES, scene_array, wait_rows as _wait_rows, write_raster

KW = dict(tile=128, overlap=32, batch_size=3, block=64, progress=False)


def _valid(*arrays):
    return np.logical_and.reduce([~(a == 0).all(0) for a in arrays])


def _leftovers(folder, out):
    """Files other than the inputs that a failed run left next to ``out``."""
    names = set(os.listdir(folder))
    return sorted(n for n in names if n != os.path.basename(out) and (os.path.basename(out) in n or n.startswith('.')))


@pytest.mark.parametrize('blend', ['hann', 'linear', 'none'])
def test_identity_roundtrip_exact(tmp_path, scene, blend):
    path, a = scene
    out = str(tmp_path / 'out.tif')
    res = infer_geotiff(IdentityDenseModel().eval(), [path], out, output='probs', blend=blend, **KW)
    assert res['raster'] == out and res['stats']['tiles_run'] == res['stats']['tiles_total'] == 18
    with rasterio.open(path) as s, rasterio.open(out) as o:
        assert o.crs == s.crs and o.transform == s.transform and o.shape == s.shape
        assert o.count == 3 and o.dtypes[0] == 'float32' and np.isnan(o.nodata)
        assert o.profile['tiled'] and o.block_shapes[0] == (64, 64) and o.compression.name == 'deflate'
        b = o.read()
    valid = _valid(a)
    assert (~valid).sum() > 7000  # the scene really has nodata
    np.testing.assert_array_equal(b[:, valid], a[:, valid].astype(np.float32))  # exact, seams included
    assert np.isnan(b[:, ~valid]).all()                                         # nodata survives
    assert not os.path.exists(out + '.partial') and _leftovers(tmp_path, out) == []


def test_labels_argmax_and_nodata(tmp_path, scene):
    path, a = scene
    out = str(tmp_path / 'labels.tif')
    infer_geotiff(IdentityDenseModel().eval(), [path], out, output='labels', **KW)
    with rasterio.open(out) as o:
        assert o.dtypes[0] == 'uint8' and o.nodata == 255 and o.count == 1
        lab = o.read(1)
    valid = _valid(a)
    np.testing.assert_array_equal(lab[valid], a.argmax(0)[valid])
    assert (lab[~valid] == 255).all()


def test_two_dates_warped_second_date(tmp_path):
    """Change-detection input: date 2 on a shifted grid is aligned to date 1; the model sees (2, C, h, w)."""
    a1 = scene_array(1)
    a2 = scene_array(2, nodata_box=False)
    p1 = write_raster(str(tmp_path / 'd1.tif'), a1)
    # date 2 covers rows >= 30 and cols >= 50 of date 1 only (shifted origin, smaller extent)
    t2 = from_origin(ORIGIN[0] + 50 * RES, ORIGIN[1] - 30 * RES, RES, RES)
    p2 = write_raster(str(tmp_path / 'd2.tif'), a2[:, 30:, 50:], transform=t2)
    out = str(tmp_path / 'change.tif')
    seen = []

    class Spy(IdentityDenseModel):
        def predict_dense(self, inputs):
            seen.append(tuple(inputs.shape[1:]))
            return super().predict_dense(inputs)

    infer_geotiff(Spy(num_dates=2).eval(), [p1, p2], out, output='probs', **KW)
    assert set(seen) == {(2, 3, 128, 128)}
    with rasterio.open(out) as o:
        b = o.read()
    assert b.shape == (6, 300, 437)
    inside = np.zeros((300, 437), bool)
    inside[30:, 50:] = True
    valid = _valid(a1, a2) & inside
    np.testing.assert_array_equal(b[:3, valid], a1[:, valid].astype(np.float32))
    np.testing.assert_array_equal(b[3:, valid], a2[:, valid].astype(np.float32))
    assert np.isnan(b[:, ~valid]).all()  # outside date 2's footprint, or nodata on either date


class _SpyPre(GeoDataPreprocessor):
    seen = []

    def forward(self, data, training=False):
        _SpyPre.seen.append((tuple(data['inputs'].shape), data['inputs'].dtype, data.get('data_samples'),
                             tuple(data['valid_mask'].shape)))
        return super().forward(data, training)


def test_dense_kinds_get_one_batch_in_file_dtype_and_no_samples(tmp_path, scene):
    path, _ = scene
    _SpyPre.seen = []
    calls = []

    class Spy(IdentityDenseModel):
        def predict(self, *a, **k):  # tiled inference never asks for labels per window
            raise AssertionError('predict called')

        def predict_dense(self, inputs):
            calls.append(inputs.dtype)
            return super().predict_dense(inputs)

    res = infer_geotiff(Spy(data_preprocessor=_SpyPre()).eval(), [path], str(tmp_path / 'o.tif'), **KW)
    n = res['stats']['tiles_total']
    shapes = {m[0][1:] for m in _SpyPre.seen}
    assert shapes == {(3, 128, 128)} and {m[1] for m in _SpyPre.seen} == {torch.uint8}
    assert all(m[2] is None for m in _SpyPre.seen) and {m[3][1:] for m in _SpyPre.seen} == {(128, 128)}
    assert sum(m[0][0] for m in _SpyPre.seen) == n and len(calls) == -(-n // 3) and set(calls) == {torch.float32}


def test_boxes_get_geo_metainfo(tmp_path, scene):
    pytest.importorskip('mmcv.ops')
    path, _ = scene
    metas = []

    class Spy(FixedBoxModel):
        def test_step(self, data):
            for x, s in zip(data['inputs'], data['data_samples']):
                metas.append((tuple(x.shape), x.dtype, dict(s.metainfo)))
            return super().test_step(data)

    infer_geotiff(Spy([[10, 10, 4, 2, 0]]).eval(), [path], str(tmp_path / 'o.gpkg'), **KW)
    assert {m[0] for m in metas} == {(3, 128, 128)} and {m[1] for m in metas} == {torch.uint8}
    with rasterio.open(path) as s:
        for _, _, meta in metas:
            col, row, w, h = meta['window']
            assert meta['transform'] == tuple(s.transform @ rasterio.Affine.translation(col, row))[:6]
            assert rasterio.crs.CRS.from_wkt(meta['crs']) == s.crs and meta['nodata'] == 0
            assert meta['img_path'] == [path]
            assert meta['ori_shape'] == (min(h, 300 - row), min(w, 437 - col))


@pytest.mark.parametrize('dtype', ['uint16', 'float32'])
@pytest.mark.parametrize('blend', ['hann', 'linear'])
def test_regression_identity_exact_beyond_8_bits(tmp_path, dtype, blend):
    """Where one window covers a pixel (weight 1), the written value is the model's, bit for bit."""
    rng = np.random.default_rng(5)
    if dtype == 'uint16':
        a = rng.integers(1, 65535, (1, 300, 437)).astype(np.uint16)
    else:
        a = rng.uniform(-1e4, 1e4, (1, 300, 437)).astype(np.float32)  # full 24-bit mantissas
    path = write_raster(str(tmp_path / f'{dtype}.tif'), a, nodata=None, block=None)  # striped: stride 96
    out = str(tmp_path / 'depth.tif')
    res = infer_geotiff(IdentityRegressionModel().eval(), [path], out, blend=blend, **KW)
    assert res['stats']['kind'] == 'dense_regression'
    with rasterio.open(out) as o:
        assert o.count == 1 and o.dtypes[0] == 'float32'
        d = o.read(1)
    from geoperc.io.tiling import TileGrid
    grid = TileGrid((300, 437), 128, 32)
    cover = np.zeros((300, 437), int)
    for w in grid:
        cover[w.row_off:w.row_off + 128, w.col_off:w.col_off + 128] += 1
    single = cover == 1
    assert single.mean() > 0.4
    np.testing.assert_array_equal(d[single], a[0].astype(np.float32)[single])   # exact
    np.testing.assert_allclose(d, a[0].astype(np.float32), rtol=5e-7)             # overlaps: float32 rounding


def test_float64_input_written_as_float32_and_said(tmp_path):
    from mmengine.logging import MMLogger
    a = (np.random.default_rng(2).integers(-400, 400, (1, 60, 70)) / 8).astype(np.float64)
    path = write_raster(str(tmp_path / 'f64.tif'), a, nodata=None)
    out = str(tmp_path / 'o.tif')
    logger = MMLogger.get_instance('geoperc-test-f64', log_file=str(tmp_path / 'log.txt'))
    infer_geotiff(IdentityRegressionModel().eval(), [path], out, **KW)
    with rasterio.open(out) as o:
        assert o.dtypes[0] == 'float32'
        np.testing.assert_array_equal(o.read(1), a[0].astype(np.float32))
    for h in logger.handlers:
        h.flush()
    assert 'float64 input; the model and the outputs work in float32' in (tmp_path / 'log.txt').read_text()


def test_cog_and_bigtiff(tmp_path, scene):
    path, a = scene
    out = str(tmp_path / 'cog.tif')
    infer_geotiff(TinyConvSegModel(3, 2).eval(), [path], out, cog=True, **KW)
    with rasterio.open(out) as o:
        assert o.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
        assert o.crs.to_epsg() == 32632 and o.transform.c == ORIGIN[0]
    assert not needs_bigtiff((40000, 40000), 1, 'uint8')
    assert needs_bigtiff((40000, 40000), 2, 'float32')


def test_failure_leaves_no_output(tmp_path, scene):
    path, _ = scene
    out = str(tmp_path / 'fail.tif')

    class Boom(IdentityDenseModel):
        calls, at = 0, 4

        def predict_dense(self, inputs):
            Boom.calls += 1
            if Boom.calls == Boom.at:
                if Boom.at > 1:
                    _wait_rows(out, 1)
                raise RuntimeError('simulated crash')
            return super().predict_dense(inputs)

    with pytest.raises(RuntimeError, match='simulated crash'):
        infer_geotiff(Boom().eval(), [path], out, **KW)
    assert not os.path.exists(out)
    assert [n for n in os.listdir(tmp_path) if n.endswith('.tif') and n != 'scene.tif'] == []
    assert os.path.isdir(out + '.partial')  # a row was finished: kept for --resume
    # a run that fails before finishing any row leaves nothing behind
    Boom.calls, Boom.at = 0, 1
    with pytest.raises(RuntimeError, match='simulated crash'):
        infer_geotiff(Boom().eval(), [path], out, **KW)
    assert not os.path.exists(out + '.partial') and _leftovers(tmp_path, out) == []


@pytest.fixture
def bad_inputs(tmp_path):
    good = write_raster(str(tmp_path / 'good.tif'), scene_array(0, h=64, w=64))
    junk = tmp_path / 'junk.tif'
    junk.write_bytes(b'\x00not a raster' * 50)
    nocrs = write_raster(str(tmp_path / 'nocrs.tif'), scene_array(0, h=64, w=64), crs=None)
    far = write_raster(str(tmp_path / 'far.tif'), scene_array(0, h=64, w=64),
                       transform=from_origin(ORIGIN[0] + 1e6, ORIGIN[1], RES, RES))
    four = write_raster(str(tmp_path / 'four.tif'), scene_array(0, bands=4, h=64, w=64))
    return dict(good=good, missing=str(tmp_path / 'missing.tif'), junk=str(junk), nocrs=nocrs, far=far, four=four)


@pytest.mark.parametrize('case,exc,match', [
    ('missing', RasterError, r'missing.tif: file not found'),
    ('junk', RasterError, r'junk.tif: not a raster'),
    ('nocrs', RasterError, r'nocrs.tif: the raster has no CRS'),
    ('bands', RasterError, r'four.tif: has 4 bands per date but the model expects 3 \(IdentityDenseModel.in_channels\)'),
    ('far', RasterError, r'far.tif: does not overlap'),
    ('date_bands', RasterError, r'four.tif: has 4 bands but .*good.tif.* has 3'),
    ('no_folder', OutputPathError, r'nofolder.*out.tif: output folder .* does not exist'),
    ('unwritable', OutputPathError, r'out.tif: cannot write in the output folder'),
])
def test_bad_input_clear_error_no_output(tmp_path, bad_inputs, case, exc, match):
    b = bad_inputs
    inputs = {'missing': [b['missing']], 'junk': [b['junk']], 'nocrs': [b['nocrs']], 'bands': [b['four']],
              'far': [b['good'], b['far']], 'date_bands': [b['good'], b['four']]}.get(case, [b['good']])
    out = str(tmp_path / 'out.tif')
    if case == 'no_folder':
        out = str(tmp_path / 'nofolder' / 'out.tif')
    elif case == 'unwritable':
        ro = tmp_path / 'ro'
        ro.mkdir()
        os.chmod(ro, 0o555)
        out = str(ro / 'out.tif') if os.geteuid() != 0 else '/proc/out.tif'  # root ignores file modes
    model = IdentityDenseModel(in_channels=3, num_dates=len(inputs),
                               data_preprocessor=GeoDataPreprocessor(mean=[0.] * 3, std=[1.] * 3)).eval()
    before = set(os.listdir(tmp_path))
    with pytest.raises(exc, match=match) as info:
        infer_geotiff(model, inputs, out, **KW)
    assert isinstance(info.value, GeoPercError)
    assert not os.path.exists(out) and not os.path.exists(out + '.partial')
    assert set(os.listdir(tmp_path)) == before  # nothing written at all


def test_bad_settings(tmp_path, scene):
    path, _ = scene
    with pytest.raises(InferenceError, match='output must be'):
        infer_geotiff(IdentityDenseModel(), [path], str(tmp_path / 'o.tif'), output='rgb')
    with pytest.raises(InferenceError, match='the output path is an input'):
        infer_geotiff(IdentityDenseModel(), [path], path, **KW)


def test_float_nan_nodata_and_raster_smaller_than_tile(tmp_path):
    rng = np.random.default_rng(3)
    a = (rng.integers(-400, 400, (2, 50, 70)) / 8).astype(np.float32)  # few significant bits: exact blend
    a[:, 10:20, 30:40] = np.nan
    path = write_raster(str(tmp_path / 'f.tif'), a, nodata=float('nan'), block=16)
    seen = []

    class Spy(IdentityDenseModel):
        def predict_dense(self, inputs):
            seen.append(bool(torch.isfinite(inputs).all()))
            return super().predict_dense(inputs)

    out = str(tmp_path / 'o.tif')
    infer_geotiff(Spy().eval(), [path], out, output='probs', **KW)   # one 128 px window, mostly padding
    assert all(seen)                                                 # the model never sees NaN
    with rasterio.open(out) as o:
        b = o.read()
    valid = ~np.isnan(a).all(0)
    np.testing.assert_array_equal(b[:, valid], a[:, valid])
    assert np.isnan(b[:, ~valid]).all()


class _SlowFirstBatch(TinyConvSegModel):
    """The first batch is slow, so with several model workers later batches finish before it."""

    def __init__(self, **kw):
        super().__init__(**kw)
        import threading
        self._calls, self._lock = 0, threading.Lock()

    def predict_dense(self, inputs):
        import time
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            time.sleep(0.3)
        return super().predict_dense(inputs)


@pytest.mark.parametrize('output', ['probs', 'labels'])
def test_model_workers_do_not_change_the_result(tmp_path, scene, output):
    """Batches run concurrently (workers with one intra-op thread each) merge in batch order: the file is
    bitwise the one a single worker writes, though the first batch finishes last."""
    path, _ = scene
    torch.manual_seed(0)
    state = TinyConvSegModel(in_channels=3, num_classes=3, width=8).state_dict()
    digests = {}
    for workers in (1, 3):
        m = _SlowFirstBatch(in_channels=3, num_classes=3, width=8)
        m.load_state_dict(state)
        out = str(tmp_path / f'w{workers}.tif')
        res = infer_geotiff(m.eval(), [path], out, output=output, num_threads=workers, model_workers=workers, **KW)
        assert sum(k.startswith('cpu_model') for k in res['stats']) == workers - 1  # the extra workers ran
        with rasterio.open(out) as o:
            digests[workers] = o.read()
    np.testing.assert_array_equal(digests[1], digests[3])
    assert torch.get_num_threads() >= 1


def test_model_workers_setting(tmp_path, scene):
    with pytest.raises(InferenceError, match='model_workers'):
        infer_geotiff(IdentityDenseModel().eval(), [scene[0]], str(tmp_path / 'o.tif'), model_workers=0, **KW)
