"""Tiled inference keyed off ``model.output_kind``: the merger registry, refusals, and the guarantees
(sharded ranks == one process, bitwise resume) for every kind."""
import threading

import numpy as np
import pytest
import rasterio
import torch

from geoperc.errors import GeoPercError, InferenceError
from geoperc.inference import MERGERS, infer_geotiff
from geoperc.inference import tiled as tiled_mod
from geoperc.inference.merge import DenseRegressionMerger, merger_class
from geoperc.models.base import VOXEL_LABELS, BaseGeoModel
from geoperc.testing.models import FixedBoxModel, IdentityDenseModel, IdentityRegressionModel, TinyConvSegModel

from infer_data import scene_array, sha256, wait_rows, write_raster

KW = dict(tile=128, overlap=32, batch_size=2, block=64, progress=False)


def test_registry_one_merger_per_kind():
    assert set(MERGERS) == {'dense_probs', 'dense_regression', 'rotated_boxes'}
    assert merger_class(IdentityRegressionModel()) is DenseRegressionMerger
    assert merger_class(TinyConvSegModel()).kind == 'dense_probs'
    assert merger_class(FixedBoxModel([[1, 1, 2, 2, 0]])).kind == 'rotated_boxes'


class _Voxels(BaseGeoModel):
    output_kind = VOXEL_LABELS

    def _forward(self, inputs, data_samples=None):
        return inputs

    def loss(self, inputs, data_samples):
        return {}

    def predict(self, inputs, data_samples=None):
        return []


def test_voxel_and_non_contract_models_are_refused(tmp_path, scene):
    path, _ = scene
    with pytest.raises(InferenceError, match=r'_Voxels predicts voxel_labels .*not a raster output.*tools/test.py'):
        infer_geotiff(_Voxels(3, 2).eval(), [path], str(tmp_path / 'o.tif'), **KW)

    class Plain(torch.nn.Module):
        pass

    with pytest.raises(InferenceError, match='Plain declares no output_kind'):
        infer_geotiff(Plain(), [path], str(tmp_path / 'o.tif'), **KW)
    assert list(tmp_path.iterdir()) == [tmp_path / 'scene.tif']


def test_dates_and_tile_checked_against_the_contract(tmp_path, scene):
    path, _ = scene
    with pytest.raises(InferenceError, match=r'takes 2 date\(s\) .*got 1'):
        infer_geotiff(IdentityDenseModel(num_dates=2).eval(), [path], str(tmp_path / 'o.tif'), **KW)
    from geoperc.models.data_preprocessors import GeoDataPreprocessor
    m = TinyConvSegModel(data_preprocessor=GeoDataPreprocessor(pad_size_divisor=32)).eval()
    assert m.size_divisor == 32
    with pytest.raises(InferenceError, match=r"tile 100 is not a multiple of the model's size_divisor 32; use --tile 96"):
        infer_geotiff(m, [path], str(tmp_path / 'o.tif'), **dict(KW, tile=100))


# -- sharded ranks, simulated in one process: two threads, each its own rank ---------------------------
def _sharded(monkeypatch, model_fn, inputs, out, **kw):
    local = threading.local()
    barrier = threading.Barrier(2, timeout=120)
    monkeypatch.setattr(tiled_mod, '_dist_info', lambda: (getattr(local, 'rank', 0), 2))
    monkeypatch.setattr(tiled_mod, '_barrier', lambda: barrier.wait())
    results, errors = {}, []

    def rank(r):
        local.rank = r
        try:
            results[r] = infer_geotiff(model_fn(), inputs, out, **kw)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            barrier.abort()

    ts = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize('kind', ['dense_probs', 'dense_regression', 'rotated_boxes'])
def test_two_ranks_equal_one_process(tmp_path, scene, monkeypatch, kind):
    if kind == 'rotated_boxes':
        pytest.importorskip('mmcv.ops')
    path, a = scene
    rng = np.random.default_rng(3)
    boxes = np.column_stack([rng.uniform(0, 437, 40), rng.uniform(0, 300, 40), rng.uniform(6, 20, 40),
                             rng.uniform(3, 6, 40), rng.uniform(-1.5, 1.5, 40)]).tolist()
    make = {'dense_probs': lambda: IdentityDenseModel().eval(),
            'dense_regression': lambda: IdentityRegressionModel(band=1).eval(),
            'rotated_boxes': lambda: FixedBoxModel(boxes, jitter=0.5).eval()}[kind]
    ext = '.gpkg' if kind == 'rotated_boxes' else '.tif'
    kw = dict(KW, output='probs')
    ref = infer_geotiff(make(), [path], str(tmp_path / f'ref{ext}'), **kw)
    res = _sharded(monkeypatch, make, [path], str(tmp_path / f'dist{ext}'), **kw)
    key = 'vector' if kind == 'rotated_boxes' else 'raster'
    assert res[1]['stats']['tiles_run'] < ref['stats']['tiles_total']   # rank 1 made only its share
    assert not (tmp_path / f'dist{ext}.partial').exists()
    if key == 'raster':
        assert sha256(res[0][key]) == sha256(ref[key])
    else:
        import pyogrio.raw
        f1 = pyogrio.raw.read(ref[key])
        f2 = pyogrio.raw.read(res[0][key])
        assert len(f1[2]) == len(f2[2]) > 0 and list(f1[2]) == list(f2[2])


# -- bitwise resume for every dense kind (boxes: test_objects.py) -----------------------------------
@pytest.mark.parametrize('model_cls', [IdentityRegressionModel, TinyConvSegModel])
def test_interrupt_then_resume_bitwise(tmp_path, model_cls):
    path = write_raster(str(tmp_path / 'tall.tif'), scene_array(7, h=500, w=200))
    out, ref = str(tmp_path / 'out.tif'), str(tmp_path / 'ref.tif')
    torch.manual_seed(0)
    model = model_cls().eval()
    kw = dict(KW, output='probs', batch_size=1)
    infer_geotiff(model, [path], ref, **kw)
    calls = [0]
    orig = model.predict_dense

    def boom(x):
        calls[0] += 1
        if calls[0] == 6:
            wait_rows(out, 2)
            raise KeyboardInterrupt
        return orig(x)

    model.predict_dense = boom
    with pytest.raises(KeyboardInterrupt):
        infer_geotiff(model, [path], out, **kw)
    assert (tmp_path / 'out.tif.partial').is_dir() and not (tmp_path / 'out.tif').exists()
    model.predict_dense = orig
    res = infer_geotiff(model, [path], out, resume=True, **kw)
    assert res['stats']['rows_resumed'] >= 2 and res['stats']['tiles_run'] < res['stats']['tiles_total']
    assert sha256(out) == sha256(ref)


# -- output codecs, validated before any work ------------------------------------------------------
class _Counting(IdentityDenseModel):
    calls = 0

    def predict_dense(self, inputs):
        _Counting.calls += 1
        return super().predict_dense(inputs)


@pytest.mark.parametrize('output,codec,match', [
    ('labels', 'jpeg', r'--compress jpeg: a lossy codec would change the uint8 output values .*deflate'),
    ('labels', 'WEBP', r'--compress WEBP: a lossy codec'),
    ('probs', 'jpeg', r'--compress jpeg: a lossy codec would change the float32'),
    ('labels', 'brotli9', r"--compress brotli9: GDAL's GTiff driver cannot write uint8 bands with it"),
])
def test_compress_refused_before_any_work(tmp_path, scene, output, codec, match):
    path, _ = scene
    _Counting.calls = 0
    with pytest.raises(GeoPercError, match=match):
        infer_geotiff(_Counting().eval(), [path], str(tmp_path / 'o.tif'), output=output, compress=codec, **KW)
    assert _Counting.calls == 0 and list(tmp_path.iterdir()) == [tmp_path / 'scene.tif']


@pytest.mark.parametrize('codec', ['zstd', 'LZW', 'none', 'lerc'])
def test_lossless_codecs_write(tmp_path, scene, codec):
    path, a = scene
    out = str(tmp_path / 'o.tif')
    infer_geotiff(IdentityDenseModel().eval(), [path], out, output='labels', compress=codec, **KW)
    with rasterio.open(out) as o:
        assert (o.compression.name.lower() if o.compression else 'none') == codec.lower()
        lab = o.read(1)
    valid = ~(a == 0).all(0)
    np.testing.assert_array_equal(lab[valid], a.argmax(0)[valid])


# -- georeferencing and corrupt files ---------------------------------------------------------------
def test_crs_without_geotransform_refused(tmp_path):
    p = str(tmp_path / 'nogt.tif')
    a = scene_array(0, h=64, w=64)
    with rasterio.open(p, 'w', driver='GTiff', width=64, height=64, count=3, dtype='uint8', crs='EPSG:32632') as d:
        d.write(a)
    with pytest.raises(GeoPercError, match=r'nogt.tif: the raster has a CRS but no geotransform'):
        infer_geotiff(IdentityDenseModel().eval(), [p], str(tmp_path / 'o.tif'), **KW)
    assert sorted(x.name for x in tmp_path.iterdir()) == ['nogt.tif']


def test_gcp_only_raster_gets_gdalwarp_advice(tmp_path):
    from rasterio.control import GroundControlPoint
    p = str(tmp_path / 'gcps.tif')
    a = scene_array(0, h=64, w=64)
    gcps = [GroundControlPoint(row=r, col=c, x=500000 + c * 0.5, y=5000000 - r * 0.5)
            for r, c in ((0, 0), (0, 63), (63, 0), (63, 63))]
    with rasterio.open(p, 'w', driver='GTiff', width=64, height=64, count=3, dtype='uint8') as d:
        d.write(a)
        d.gcps = (gcps, rasterio.crs.CRS.from_epsg(32632))
    with pytest.raises(GeoPercError, match=r'gcps.tif: .*4 ground control points only.*gdalwarp -r bilinear '):
        infer_geotiff(IdentityDenseModel().eval(), [p], str(tmp_path / 'o.tif'), **KW)


def test_truncated_geotiff_names_file_and_window_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(1, 255, (3, 512, 256), dtype=np.uint8)   # noise: deflate cannot shrink it
    p = write_raster(str(tmp_path / 'cut.tif'), a, block=64)
    size = (tmp_path / 'cut.tif').stat().st_size
    with open(p, 'r+b') as f:   # GDAL writes the header and tile index first: keep them, cut the pixels
        f.truncate(int(size * 0.15))
    with rasterio.open(p) as s:
        assert s.shape == (512, 256) and s.crs is not None   # the header is intact
    out = str(tmp_path / 'o.tif')
    with pytest.raises(GeoPercError, match=r'cut.tif: reading the window at column 0, row 0 .* failed; the file looks truncated or corrupt'):
        infer_geotiff(IdentityDenseModel().eval(), [p], out, **KW)
    assert sorted(x.name for x in tmp_path.iterdir()) == ['cut.tif']  # no output, no partial folder
