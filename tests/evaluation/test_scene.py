"""Scene evaluation end to end on the hand-built scene of conftest.py (known answers), the CLI
contract, and every kind of bad input (exit code 2, message naming the file)."""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from geoperc.evaluation.functional.objects import rbox_to_polygons
from geoperc.cli.eval_scene import main
from geoperc.evaluation.scene import evaluate_scene
from geoperc.io.vector import list_layers, read_vector, reproject, write_vector

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _refs(scene, path, crs='EPSG:32632', layer='buildings', extra=True, **kw):
    geoms, names = scene.ref_polygons(**kw)
    if crs != 'EPSG:32632':
        geoms = reproject(geoms, 'EPSG:32632', crs)
    attrs = {'class': ['building'] * len(geoms), 'name': names}
    if extra:  # a null and an empty geometry: skipped and counted
        geoms, attrs = geoms + [None, shapely.Polygon()], {k: v + ['x', 'y'] for k, v in attrs.items()}
    write_vector(path, geoms, crs, attrs, layer=layer)
    return path


def _run(argv):
    return main([*argv, '--quiet', '--no-report'])


def test_gpkg_multilayer_known_answer(hand_scene, capsys):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    write_vector(ref, [LineString([(500000, 5000000), (500100, 5000100)])], 'EPSG:32632', {'kind': ['road']},
                 layer='roads', append=True)
    out = hand_scene.dir / 'out'
    assert main(['--pred', hand_scene.pred, '--ref', ref, '--ref-layer', 'buildings', '--out', str(out)]) == 0
    assert 'object precision 0.5000 recall 0.5000 f1 0.5000' in capsys.readouterr().out
    m = json.loads((out / 'metrics.json').read_text())
    hand_scene.check(m, approx_iou=1e-12)
    assert m['notes']['reference']['counts'] == dict(features=7, null=1, empty=1, unreadable=0, non_polygonal=0,
                                                     repaired=1, degenerate=0)
    assert any('repaired 1 invalid' in s for s in m['notes']['messages'])
    assert not m['notes']['reference']['reprojected']
    assert m['notes']['area_crs'].startswith('EPSG:32632')
    # per-class pixel table and confusion matrix
    assert m['pixel']['confusion_matrix'] == [[7900, 400], [300, 900]]
    assert [c['name'] for c in m['pixel']['classes']] == ['background', 'foreground']
    # outputs: CSV rows, styled layers with attributes, error map, report
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    assert [(r['section'], r['class_name']) for r in rows] == [('pixel', 'foreground'), ('pixel', 'background'),
                                                              ('pixel', 'foreground'), ('object', 'all objects'),
                                                              ('object', 'foreground')]
    assert float(rows[0]['f1']) == pytest.approx(0.72) and rows[3]['tp'] == '2'
    gpkg = str(out / 'layers.gpkg')
    assert list_layers(gpkg) == ['true_positives', 'false_positives', 'misses', 'not_evaluated', 'layer_styles']
    tp = read_vector(gpkg, 'true_positives')
    assert sorted(np.round(tp.attributes['iou'], 9).tolist()) == [0.75, 1.0]
    assert sorted(tp.attributes['area'].tolist()) == [400.0, 400.0] and set(tp.attributes['class']) == {'foreground'}
    fp = read_vector(gpkg, 'false_positives')
    assert sorted(np.round(fp.attributes['iou'], 9).tolist()) == [0.0, round(1 / 3, 9)]
    miss = read_vector(gpkg, 'misses')
    assert sorted(miss.attributes['area'].tolist()) == [100.0, 400.0]  # the repaired bow-tie and B
    assert len(read_vector(gpkg, 'not_evaluated')) == 1
    assert {f for f in os.listdir(out)} >= {'metrics.json', 'metrics.csv', 'layers.gpkg', 'pixel_errors.tif',
                                             'report.png', 'report.html', 'styles'}
    assert sorted(os.listdir(out / 'styles')) == ['false_positives.qml', 'misses.qml', 'not_evaluated.qml',
                                                  'true_positives.qml']
    assert not [f for f in os.listdir(out) if f.startswith('.')]  # every temp file renamed
    import rasterio
    with rasterio.open(out / 'pixel_errors.tif') as src:
        code = src.read(1)
    assert [(code == k).sum() for k in (0, 1, 2, 3, 255)] == [7900, 900, 400, 300, 500]
    assert (out / 'report.png').read_bytes()[:4] == b'\x89PNG'


def test_qgis_source_string_as_ref(hand_scene):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    write_vector(ref, [shapely.box(0, 0, 1, 1)], 'EPSG:32632', {'k': [1]}, layer='other', append=True)
    out = hand_scene.dir / 'o'
    assert _run(['--pred', hand_scene.pred, '--ref', f'{ref}|layername=buildings', '--out', str(out)]) == 0
    hand_scene.check(json.loads((out / 'metrics.json').read_text()))
    # with a subset string, as QGIS writes a filtered layer's source: only A and E remain
    assert _run(['--pred', hand_scene.pred, '--ref', f'{ref}|layername=buildings|subset="name" IN (\'A\', \'E\')',
                 '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    assert (m['object']['tp'], m['object']['fp'], m['object']['fn']) == (2, 2, 0)


def test_all_touched_burns_more_reference_pixels(hand_scene):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    a = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'a'), report=False)['pixel']
    b = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'b'), all_touched=True, report=False)['pixel']
    assert not a['all_touched'] and b['all_touched']
    # every pixel a bow-tie diagonal crosses is added (20 rows x 2 diagonals x ~1 extra pixel each)
    assert b['tp'] + b['fn'] >= a['tp'] + a['fn'] + 20
    assert b['fp'] <= a['fp']


def test_shapefile_known_answer(hand_scene):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.shp'), extra=False)
    m = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'o'), report=False)
    hand_scene.check(m, approx_iou=1e-12)


def test_geojson_wgs84_reference_is_reprojected(hand_scene):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.geojson'), crs='EPSG:4326')
    m = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'o'), report=False)
    hand_scene.check(m, approx_iou=1e-6)
    assert m['notes']['reference']['reprojected'] and m['notes']['reference']['crs'].startswith('EPSG:4326')
    assert any('reprojected' in s and 'EPSG:4326' in s for s in m['notes']['messages'])


def test_reference_in_another_projected_crs(hand_scene):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'), crs='EPSG:3857')
    m = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'o'), report=False)
    hand_scene.check(m, approx_iou=1e-6)
    assert m['notes']['reference']['crs'].startswith('EPSG:3857')


def test_probability_raster(hand_scene):
    pred = hand_scene.write_pred(str(hand_scene.dir / 'probs.tif'), probs=True)
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), report=False)
    hand_scene.check(m, approx_iou=1e-12)
    assert any('thresholded at 0.5' in s for s in m['notes']['messages'])
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), threshold=0.95, report=False)
    assert m['pixel']['tp'] == 0 and m['object']['tp'] == 0 and m['object']['fn'] == 4


def test_geographic_prediction_measured_in_utm(hand_scene):
    geo = hand_scene.GEO
    pred = hand_scene.write_pred(str(hand_scene.dir / 'pred_ll.tif'), grid=geo)
    geoms, names = hand_scene.ref_polygons(grid=geo)
    ref = str(hand_scene.dir / 'refs_ll.geojson')
    write_vector(ref, geoms, 'EPSG:4326', {'name': names})
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), report=False)
    hand_scene.check(m, approx_iou=1e-4)  # IoU measured in UTM: 0.75 up to the map's non-linearity
    assert m['notes']['area_crs'].startswith('EPSG:32632') and m['notes']['area_unit'] == 'square metre'
    assert any('geographic' in s and 'UTM' in s for s in m['notes']['messages'])
    tp = read_vector(str(hand_scene.dir / 'o' / 'layers.gpkg'), 'true_positives')
    assert 0.78 * 1.11 * 400 < min(tp.attributes['area']) < 0.79 * 1.12 * 400  # m^2 of 20x20 1e-5 deg pixels


def test_multiclass_with_class_field(hand_scene):
    pred = hand_scene.write_pred(str(hand_scene.dir / 'mc.tif'), labels=dict(A=1, B=1, C=2, E=2))
    geoms, names = hand_scene.ref_polygons()
    cls = ['shed' if n == 'E' else 'house' for n in names]
    ref = str(hand_scene.dir / 'mc.gpkg')
    write_vector(ref, geoms, 'EPSG:32632', {'kind': cls}, layer='mc')
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), class_field='kind', classes=['house', 'shed'],
                       report=False)
    px, ob = m['pixel'], m['object']
    assert px['confusion_matrix'] == [[7900, 200, 200], [300, 600, 0], [0, 0, 300]]
    assert (px['tp'], px['fp'], px['fn']) == (900, 400, 300)  # foreground: class-agnostic collapse
    house, shed = px['classes'][1], px['classes'][2]
    assert house['name'] == 'house' and house['precision'] == 0.75 and house['recall'] == pytest.approx(600 / 900)
    assert shed['precision'] == 0.6 and shed['recall'] == 1.0
    per = {c['name']: c for c in ob['classes']}
    assert (per['house']['tp'], per['house']['fp'], per['house']['fn']) == (1, 1, 2)
    assert (per['shed']['tp'], per['shed']['fp'], per['shed']['fn']) == (1, 1, 0)
    assert (ob['tp'], ob['fp'], ob['fn']) == (2, 2, 2)
    # --classes in the other order swaps the ids: now every class disagrees with the raster
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), class_field='kind', classes=['shed', 'house'],
                       report=False)
    assert m['object']['tp'] == 0
    # without --classes, names are sorted (house=1, shed=2) and the mapping is stated
    m = evaluate_scene(pred, ref, str(hand_scene.dir / 'o'), class_field='kind', report=False)
    assert m['object']['tp'] == 2 and any('sorted order' in s for s in m['notes']['messages'])


def test_detector_boxes_gpkg_with_grid(hand_scene):
    from geoperc.io.vector import pixel_to_map
    from affine import Affine
    t = Affine(1, 0, 500000, 0, -1, 5000100)
    # rotated boxes (cx, cy, w, h, angle) in pixels; E is a 20x20 box given at 90 degrees
    boxes = [[20, 20, 20, 20, 0], [60, 20, 20, 20, 0], [15, 65, 10, 10, 0], [90, 90, 20, 20, math.pi / 2],
             [40, 90, 6, 6, 0.3]]
    polys = [pixel_to_map(p, t) for p in rbox_to_polygons(boxes)]
    pred = str(hand_scene.dir / 'dets.gpkg')
    write_vector(pred, polys, 'EPSG:32632', {'class': ['building'] * 5, 'score': [0.9, 0.8, 0.7, 0.6, 0.05]},
                 layer='detections')
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    out = hand_scene.dir / 'o'
    assert _run(['--pred', pred, '--ref', ref, '--ref-layer', 'buildings', '--grid', hand_scene.pred,
                 '--score-thr', '0.1', '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    hand_scene.check(m, approx_iou=1e-9)
    assert any('dropped 1 objects with score < 0.1' in s for s in m['notes']['messages'])
    tp = read_vector(str(out / 'layers.gpkg'), 'true_positives')
    assert sorted(tp.attributes['score'].tolist()) == [0.6, 0.9]
    # without a grid there are no pixel metrics, objects are still scored (F is no longer masked)
    assert _run(['--pred', pred, '--ref', ref, '--ref-layer', 'buildings', '--score-thr', '0.1',
                 '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    assert m['pixel']['f1'] is None and 'grid' in m['pixel']['skipped']
    assert (m['object']['tp'], m['object']['fp'], m['object']['fn']) == (2, 2, 3)


def test_change_scene_demo(tmp_path):
    """The synthetic change scene of geoperc.testing: its own label raster scores perfectly."""
    from geoperc.testing.change_scene import make_change_scene
    s = make_change_scene(str(tmp_path / 'scene'), size=(96, 112))
    m = evaluate_scene(s.label, s.reference, str(tmp_path / 'o'), ref_layer=s.reference_layer, report=False)
    assert m['pixel']['f1'] == 1.0 and m['object']['f1'] == 1.0 and m['object']['iou'] > 0.8


# ------------------------------------------------------------------------------- bad inputs
def _fails(argv, capsys, *needles):
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('geoperc eval-scene: error: ')
    for n in needles:
        assert n in err, err
    return err


def test_bad_inputs(hand_scene, capsys):
    d = hand_scene.dir
    ref = _refs(hand_scene, str(d / 'refs.gpkg'))
    write_vector(ref, [shapely.box(0, 0, 1, 1)], 'EPSG:32632', {'k': [1]}, layer='other', append=True)
    out = str(d / 'out')
    base = ['--pred', hand_scene.pred, '--out', out]
    # missing layer name: the available ones are listed
    _fails(base + ['--ref', ref, '--ref-layer', 'houses'], capsys, 'refs.gpkg', "no layer named 'houses'",
           'available: buildings, other')
    _fails(base + ['--ref', ref], capsys, 'refs.gpkg', 'holds 2 layers', 'buildings, other')
    _fails(base + ['--ref', ref, '--ref-layer', 'buildings', '--class-field', 'kind'], capsys,
           "no field 'kind'", 'class, name')
    # no CRS: a shapefile without .prj, a raster without CRS
    shp = _refs(hand_scene, str(d / 'nocrs.shp'), extra=False)
    os.remove(str(d / 'nocrs.prj'))
    _fails(base + ['--ref', shp], capsys, 'nocrs.shp', 'has no CRS')
    import rasterio
    with rasterio.open(hand_scene.pred) as src:
        arr, tr = src.read(), src.transform
    with rasterio.open(d / 'nocrs.tif', 'w', driver='GTiff', width=100, height=100, count=1, dtype='uint8',
                       transform=tr) as dst:
        dst.write(arr)
    _fails(['--pred', str(d / 'nocrs.tif'), '--ref', ref, '--ref-layer', 'buildings', '--out', out], capsys,
           'nocrs.tif', 'no CRS')
    # no overlap
    far = str(d / 'far.geojson')
    write_vector(far, [shapely.box(10.0, 50.0, 10.001, 50.001)], 'EPSG:4326', {'a': [1]})
    _fails(base + ['--ref', far], capsys, 'far.geojson', 'does not overlap the prediction', 'pred.tif')
    # empty reference layer (no features, or only null/empty/line geometries)
    empty = str(d / 'empty.gpkg')
    write_vector(empty, [], 'EPSG:32632', {'a': np.zeros(0, np.int64)}, layer='refs')
    _fails(base + ['--ref', empty], capsys, 'empty.gpkg', 'no usable polygons', '0 features')
    lines = str(d / 'lines.gpkg')
    write_vector(lines, [LineString([(500010, 5000010), (500020, 5000020)]), None], 'EPSG:32632', {'a': [1, 2]})
    _fails(base + ['--ref', lines], capsys, 'lines.gpkg', 'no usable polygons', '1 null', '1 non-polygonal')
    # unreadable inputs
    junk = d / 'junk.gpkg'
    junk.write_bytes(b'garbage')
    _fails(base + ['--ref', str(junk)], capsys, 'junk.gpkg', 'not a readable vector file')
    _fails(['--pred', str(d / 'missing.tif'), '--ref', ref, '--out', out], capsys, 'missing.tif', 'not found')
    bad = d / 'broken.qgz'
    bad.write_bytes(b'no zip')
    _fails(['--project', str(bad), '--pred-layer', 'p', '--ref-layer', 'r', '--out', out], capsys,
           'broken.qgz', 'not a readable .qgz')
    assert not os.path.exists(os.path.join(out, 'metrics.json'))  # nothing half-written


def test_usage_errors_exit_2(capsys):
    for argv in (['--out', 'x'], ['--pred', 'p.tif', '--out', 'x'], ['cfg.py', '--ref', 'r', '--out', 'x'],
                 ['cfg.py', 'ckpt.pth', '--ref', 'r', '--out', 'x']):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    assert 'usage:' in capsys.readouterr().err


def test_tool_script_subprocess(hand_scene):
    """tools/eval_scene.py as a script: exit status 2 and the message on stderr for bad input."""
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    tool = os.path.join(ROOT, 'tools', 'eval_scene.py')
    r = subprocess.run([sys.executable, tool, '--pred', hand_scene.pred, '--ref', ref, '--ref-layer', 'nope',
                        '--out', str(hand_scene.dir / 'o')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr.strip() == (f"geoperc eval-scene: error: {ref}: no layer named 'nope'; available: buildings")


def test_progress_is_logged(hand_scene, caplog):
    ref = _refs(hand_scene, str(hand_scene.dir / 'refs.geojson'), crs='EPSG:4326')
    with caplog.at_level('INFO', logger='geoperc.eval_scene'):
        assert main(['--pred', hand_scene.pred, '--ref', ref, '--out', str(hand_scene.dir / 'o'), '--no-report']) == 0
    text = caplog.text
    assert 'repaired 1 invalid polygons' in text and 'reprojected' in text and 'EPSG:4326' in text


# ------------------------------------------------------------------------ CONFIG CHECKPOINT
def _two_band_image(path, scene_kit):
    """Bands (background score, foreground score) whose arg-max is the hand scene's prediction."""
    import rasterio
    from rasterio.transform import from_origin
    with rasterio.open(scene_kit.write_pred(path + '.labels.tif')) as src:
        lab = src.read(1)
    img = np.stack([np.where(lab == 1, 60, 200), np.where(lab == 1, 200, 60)]).astype(np.uint8)
    img[:, lab == 255] = 0
    g = scene_kit.UTM
    with rasterio.open(path, 'w', driver='GTiff', width=100, height=100, count=2, dtype='uint8', nodata=0,
                       crs=g['crs'], transform=from_origin(g['x0'], g['y0'], g['res'], g['res'])) as dst:
        dst.write(img)
    return path


@pytest.mark.parametrize('kind', ['dense', 'boxes'])
def test_config_checkpoint_runs_the_model_first(hand_scene, kind):
    import torch
    pytest.importorskip('mmcv', reason='geoperc models need mmcv (built by tools/install.sh)')
    d = hand_scene.dir
    image = _two_band_image(str(d / 'image.tif'), hand_scene)
    if kind == 'dense':  # pred_probs = input bands, so the written labels are the hand prediction
        cfg_text = 'from geoperc.testing.models import IdentityDenseModel\nmodel = dict(type=IdentityDenseModel)\n'
    else:  # rotated boxes (cx, cy, w, h, angle) in raster pixels = the hand prediction's objects
        cfg_text = ('from geoperc.testing.models import FixedBoxModel\nmodel = dict(type=FixedBoxModel, boxes=['
                    '[20, 20, 20, 20, 0], [60, 20, 20, 20, 0], [15, 65, 10, 10, 0], [90, 90, 20, 20, 1.5707963]])\n')
    cfg = d / 'cfg.py'
    cfg.write_text(cfg_text)
    ckpt = str(d / 'model.pth')
    torch.save(dict(state_dict={}), ckpt)
    ref = _refs(hand_scene, str(d / 'refs.gpkg'))
    out = d / 'out'
    assert _run([str(cfg), ckpt, '--image', image, '--ref', ref, '--ref-layer', 'buildings', '--tile', '64',
                 '--overlap', '16', '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    hand_scene.check(m, approx_iou=1e-5)
    assert m['notes']['context']['model']['images'] == [image]
    written = 'prediction.gpkg' if kind == 'boxes' else 'prediction.tif'
    assert m['notes']['prediction']['path'] == str(out / written)
    # a checkpoint that does not exist is bad input, not a crash
    assert _run([str(cfg), str(d / 'missing.pth'), '--image', image, '--ref', ref, '--ref-layer', 'buildings',
                 '--out', str(out)]) == 2


def test_null_class_values_and_partial_overlap(hand_scene, capsys):
    geoms, names = hand_scene.ref_polygons()
    ref = str(hand_scene.dir / 'cls.gpkg')
    write_vector(ref, geoms, 'EPSG:32632', {'kind': [None if n == 'D' else 'house' for n in names]})
    m = evaluate_scene(hand_scene.pred, ref, str(hand_scene.dir / 'o'), class_field='kind', report=False)
    assert m['notes']['reference']['counts']['null_class'] == 1
    assert (m['object']['tp'], m['object']['fp'], m['object']['fn']) == (2, 2, 1)  # D (no class) left out
    assert m['pixel']['fn'] == FN_WITHOUT_D
    write_vector(ref, geoms, 'EPSG:32632', {'kind': [None] * len(geoms)})
    assert _run(['--pred', hand_scene.pred, '--ref', ref, '--class-field', 'kind', '--out',
                 str(hand_scene.dir / 'o')]) == 2
    assert "field 'kind' of layer 'cls' is empty" in capsys.readouterr().err
    # bounding boxes overlap but no polygon touches the raster: still "no overlap"
    ring = shapely.box(499000, 4999000, 501000, 5001000).difference(shapely.box(499900, 4999900, 500200, 5000200))
    write_vector(ref, [ring], 'EPSG:32632', {'kind': ['x']})
    assert _run(['--pred', hand_scene.pred, '--ref', ref, '--out', str(hand_scene.dir / 'o')]) == 2
    assert 'does not overlap the prediction' in capsys.readouterr().err


FN_WITHOUT_D = 200  # B's 200 missed pixels; D's 100 are no longer reference


def test_project_layer_crs_fills_in_for_files_without_one(hand_scene):
    """A GeoTIFF and a Shapefile without CRS, whose CRS the user set in QGIS (stored in the project)."""
    import rasterio
    d = hand_scene.dir
    with rasterio.open(hand_scene.pred) as src:
        arr, tr = src.read(), src.transform
    (d / 'data').mkdir()
    with rasterio.open(d / 'data' / 'pred.tif', 'w', driver='GTiff', width=100, height=100, count=1, dtype='uint8',
                       nodata=255, transform=tr) as dst:
        dst.write(arr)
    _refs(hand_scene, str(d / 'data' / 'refs.shp'), extra=False)
    os.remove(d / 'data' / 'refs.prj')
    srs = '<srs><spatialrefsys><authid>EPSG:32632</authid></spatialrefsys></srs>'
    (d / 'p.qgs').write_text(
        '<qgis version="3.22.16"><projectlayers>'
        f'<maplayer type="raster"><id>r</id><datasource>./data/pred.tif</datasource><layername>pred</layername>{srs}'
        '<provider>gdal</provider></maplayer>'
        f'<maplayer type="vector"><id>v</id><datasource>./data/refs.shp|layername=refs</datasource>'
        f'<layername>refs</layername>{srs}<provider encoding="UTF-8">ogr</provider></maplayer>'
        '</projectlayers></qgis>')
    out = d / 'out'
    assert _run(['--project', str(d / 'p.qgs'), '--pred-layer', 'pred', '--ref-layer', 'refs', '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    hand_scene.check(m, approx_iou=1e-12)
    assert m['notes']['prediction_crs'].startswith('EPSG:32632') and not m['notes']['reference']['reprojected']
