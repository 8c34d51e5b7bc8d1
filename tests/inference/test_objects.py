"""Rotated boxes: le90 conversions, NMS vs a shapely reference, seams merged once, GeoPackage export."""
import glob
import math
import sys
import time

import numpy as np
import pytest
import rasterio
import shapely

from geoperc.ops.rotated import corners_to_rbox, rbox_to_corners, rbox_to_polygons, regularize_le90
from geoperc.testing.models import FixedBoxModel

from infer_data import scene_array, write_raster


def _iou(a, b):
    inter = shapely.area(shapely.intersection(a, b))
    return inter / (shapely.area(a) + shapely.area(b) - inter)


def _greedy_nms_shapely(boxes, scores, thr, labels):
    polys = rbox_to_polygons(boxes)
    keep = []
    for i in np.argsort(-scores, kind='stable'):
        if all(labels[i] != labels[k] or _iou(polys[i], polys[k]) <= thr for k in keep):
            keep.append(i)
    return np.array(keep)


def test_le90_conversions():
    b = np.array([[10, 20, 8, 4, 0.3], [5, 5, 2, 6, 0.1], [3, 4, 5, 2, math.pi / 2]])
    r = regularize_le90(b)
    assert (r[:, 2] >= r[:, 3]).all() and (r[:, 4] >= -math.pi / 2).all() and (r[:, 4] < math.pi / 2).all()
    # the same rectangle: identical corners as sets
    for x, y in zip(rbox_to_polygons(b), rbox_to_polygons(r)):
        assert x.equals_exact(y, 1e-9) or x.symmetric_difference(y).area < 1e-9
    np.testing.assert_allclose(corners_to_rbox(rbox_to_corners(r)), r, atol=1e-4)
    assert shapely.area(rbox_to_polygons(b)).tolist() == pytest.approx([32, 12, 10])


def test_missing_mmcv_ops_gives_clear_import_error(monkeypatch):
    from geoperc.ops.rotated import nms_rotated
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    with pytest.raises(ImportError, match=r'mmcv built with its compiled ops.*tools/install.sh'):
        nms_rotated(np.zeros((1, 5)), np.ones(1), 0.1)


def test_nms_matches_shapely_reference():
    pytest.importorskip('mmcv.ops')
    from geoperc.ops.rotated import grouped_nms_rotated, nms_rotated
    rng = np.random.default_rng(0)
    n = 300
    boxes = np.column_stack([rng.uniform(0, 200, n), rng.uniform(0, 200, n), rng.uniform(5, 30, n),
                             rng.uniform(3, 12, n), rng.uniform(-math.pi / 2, math.pi / 2, n)])
    scores = rng.random(n)
    labels = rng.integers(0, 3, n)
    ref = _greedy_nms_shapely(boxes, scores, 0.3, labels)
    keep = nms_rotated(boxes, scores, 0.3, labels)
    assert 0 < len(keep) < n
    assert set(keep.tolist()) == set(ref.tolist())
    assert np.array_equal(grouped_nms_rotated(boxes, scores, 0.3, labels, max_group=16), keep)
    # class-agnostic, and far from the origin (scene pixels of a huge raster): the same as shapely
    agn = _greedy_nms_shapely(boxes, scores, 0.3, np.zeros(n, int))
    assert len(agn) < len(ref)
    far = boxes + [2e5, 3e5, 0, 0, 0]
    assert set(nms_rotated(far, scores, 0.3).tolist()) == set(agn.tolist())


def test_box_spanning_seam_comes_out_once(tmp_path):
    pytest.importorskip('mmcv.ops')
    import pyogrio
    a = scene_array(0)
    path = write_raster(str(tmp_path / 'scene.tif'), a)
    # tiles 128 / overlap 32 -> seams at rows 96..128 and cols 96..128, 160..192 (block snap), ...
    boxes = [[112, 110, 40, 12, 0.4],     # in a four-tile overlap (seen by 4 windows)
             [300, 112, 30, 10, -1.0],    # on a row seam
             [40, 40, 20, 8, 0.0],        # inside the first tile only
             [430, 295, 10, 6, 0.2],      # at the bottom-right raster corner (edge windows are padded)
             [180, 60, 16, 6, 0.0]]       # centred on nodata (rows 40..90, cols 120..260) -> dropped
    model = FixedBoxModel(boxes, scores=[0.9, 0.8, 0.7, 0.6, 0.95], labels=[0, 1, 0, 1, 0], jitter=0.7).eval()
    model.dataset_meta = dict(classes=['car', 'ship'])
    reported = []
    step = model.test_step
    model.test_step = lambda data: [reported.append(len(s.pred_instances)) or s for s in step(data)]
    res = infer_geotiff_objects(model, path, str(tmp_path / 'boxes.tif'))
    assert sum(reported) >= 4 + 3 + 1  # the seam boxes really came from several windows
    vec = res['vector']
    assert vec.endswith('boxes.gpkg') and res['stats']['kind'] == 'rotated_boxes'
    df_meta = pyogrio.read_info(vec)
    assert df_meta['features'] == 4
    geoms, fields = _read(vec)
    assert fields['class'].tolist() == ['car', 'ship', 'car', 'ship']
    np.testing.assert_allclose(fields['score'], [0.9, 0.8, 0.7, 0.6])
    with rasterio.open(path) as s:
        assert rasterio.crs.CRS.from_user_input(pyogrio.read_info(vec)['crs']) == s.crs
        from geoperc.io.raster import pixel_to_map_coords
        expect = rbox_to_polygons(np.array(boxes[:4]), lambda c: pixel_to_map_coords(c, s.transform))
    for g, e in zip(geoms, expect):  # in map coordinates, within the jitter
        assert _iou(g, e) > 0.6 and g.centroid.distance(e.centroid) <= 0.7 * math.sqrt(2) * 0.5  # 0.5 m px


def infer_geotiff_objects(model, path, out, **kw):
    from geoperc.inference import infer_geotiff
    return infer_geotiff(model, [path], out, tile=128, overlap=32, batch_size=3, progress=False, **kw)


def _read(vec):
    import pyogrio.raw
    meta, _, geom, fields = pyogrio.raw.read(vec)
    return shapely.from_wkb(geom), dict(zip(meta['fields'], fields))


def test_objects_resume_same_result(tmp_path):
    pytest.importorskip('mmcv.ops')
    path = write_raster(str(tmp_path / 'scene.tif'), scene_array(0))
    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(0, 437, 60), rng.uniform(0, 300, 60), rng.uniform(6, 20, 60),
                             rng.uniform(3, 6, 60), rng.uniform(-1.5, 1.5, 60)])

    out = str(tmp_path / 'out.gpkg')

    class Boom(FixedBoxModel):
        n, crash = 0, True

        def test_step(self, data):
            Boom.n += 1
            if Boom.crash and Boom.n == 6:
                deadline = time.time() + 20  # let a window row reach the disk first
                while not glob.glob(out + '.partial/rows/t*.npz') and time.time() < deadline:
                    time.sleep(0.02)
                raise RuntimeError('crash')
            return super().test_step(data)

    ref = infer_geotiff_objects(FixedBoxModel(boxes.tolist()).eval(), path, str(tmp_path / 'ref.gpkg'))
    with pytest.raises(RuntimeError):
        infer_geotiff_objects(Boom(boxes.tolist()).eval(), path, out)
    Boom.crash = False
    res = infer_geotiff_objects(Boom(boxes.tolist()).eval(), path, out, resume=True)
    assert res['stats']['rows_resumed'] >= 1
    g1, f1 = _read(ref['vector'])
    g2, f2 = _read(out)
    assert len(g1) == len(g2) > 0 and all(a.equals_exact(b, 1e-9) for a, b in zip(g1, g2))
    assert f1['score'].tolist() == f2['score'].tolist()
