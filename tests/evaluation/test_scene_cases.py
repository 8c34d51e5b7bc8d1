"""Issue 13, cases 10-13 and 15, each reproduced with generated data in the form a user met it: a
Shapefile with corrupt records, a vector prediction of lines / points, multipart references, the
report's confusion matrix, and ``geoperc overlay`` with dates on different grids."""
import json

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point

from geoperc.cli.eval_scene import main
from geoperc.evaluation.scene import evaluate_scene
from geoperc.io.vector import read_vector, write_vector
from geoperc.testing.change_scene import corrupt_shapefile_record, write_geotiff


def _refs(scene, path, **kw):
    geoms, names = scene.ref_polygons(bowtie=False)
    write_vector(path, geoms, 'EPSG:32632', {'name': names}, **kw)
    return path, names


def test_shapefile_with_corrupt_records_is_read(hand_scene, capsys):
    """QGIS's ``water.shp`` case: corrupt records are skipped, counted and reported, the rest is scored."""
    shp, names = _refs(hand_scene, str(hand_scene.dir / 'water.shp'))
    # A, B, E, F: corrupt B's ring (GEOS cannot build it) and F's header (GDAL cannot decode it)
    corrupt_shapefile_record(shp, names.index('B'), 'points')
    corrupt_shapefile_record(shp, names.index('F'), 'header')
    lyr = read_vector(shp)
    assert lyr.counts['unreadable'] == 2 and lyr.counts['null'] == 0 and len(lyr) == 2
    assert lyr.counts['unreadable_records'] == [names.index('B'), names.index('F')]
    assert sorted(lyr.attributes['name'].tolist()) == ['A', 'E']
    out = hand_scene.dir / 'o'
    assert main(['--pred', hand_scene.pred, '--ref', shp, '--out', str(out), '--no-report']) == 0
    m = json.loads((out / 'metrics.json').read_text())
    assert m['notes']['reference']['counts']['unreadable'] == 2
    assert any('2 unreadable (corrupt)' in s for s in m['notes']['messages'])
    assert (m['object']['tp'], m['object']['fp'], m['object']['fn']) == (2, 2, 0)  # A and E matched


def test_line_and_point_predictions_are_refused(hand_scene, capsys):
    ref, _ = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    lines = str(hand_scene.dir / 'lines.gpkg')
    write_vector(lines, [LineString([(500010, 5000090), (500030, 5000070)])] * 2, 'EPSG:32632', {'class': [1, 1]})
    out = str(hand_scene.dir / 'o')
    assert main(['--pred', lines, '--ref', ref, '--out', out, '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.startswith('geoperc eval-scene: error: ') and 'lines.gpkg' in err
    assert '2 LineString geometries' in err and 'predictions must be polygons' in err and len(err.splitlines()) == 1
    # points (e.g. detector centres) with --grid: refused, pointing at --buffer-points
    pts = str(hand_scene.dir / 'points.gpkg')
    centres = [(500020, 5000080), (500060, 5000080), (500090, 5000010)]  # A, B and E of conftest
    write_vector(pts, [Point(c) for c in centres], 'EPSG:32632', {'class': [1] * 3})
    assert main(['--pred', pts, '--ref', ref, '--grid', hand_scene.pred, '--out', out, '--quiet']) == 2
    assert '--buffer-points' in capsys.readouterr().err
    # asked: discs of radius 10 m, scored on pixels and objects
    assert main(['--pred', pts, '--ref', ref, '--grid', hand_scene.pred, '--buffer-points', '10', '--out', out,
                 '--quiet', '--no-report', '--iou-thr', '0.3']) == 0
    m = json.loads((hand_scene.dir / 'o' / 'metrics.json').read_text())
    assert m['notes']['prediction']['counts']['buffered_points'] == 3
    assert m['pixel']['tp'] > 0 and m['object']['tp'] >= 1


def _parcels(tmp_path):
    """Cadastral-style reference: 3 parcels, two of them multipart (4 + 2 squares), and a prediction
    raster that reproduces every square exactly."""
    t = from_origin(500000.0, 5000100.0, 1.0, 1.0)
    squares = {0: [(10, 10), (10, 40), (40, 10), (40, 40)], 1: [(70, 10), (70, 40)], 2: [(70, 70)]}
    lab = np.zeros((100, 100), np.uint8)
    geoms = []
    from geoperc.io.vector import pixel_to_map
    for k, sq in squares.items():
        parts = [shapely.box(c, r, c + 15, r + 15) for c, r in sq]
        for c, r in sq:
            lab[r:r + 15, c:c + 15] = 1
        geoms.append(pixel_to_map(shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0], t))
    ref = str(tmp_path / 'parcels.gpkg')
    write_vector(ref, geoms, 'EPSG:32632', {'parcel': [1, 2, 3]}, geometry_type='MultiPolygon')
    pred = write_geotiff(str(tmp_path / 'pred.tif'), lab[None], transform=t, nodata=255)
    return pred, ref


def test_multipart_reference_explode(tmp_path):
    pred, ref = _parcels(tmp_path)
    m = evaluate_scene(pred, ref, str(tmp_path / 'a'), report=False)
    assert m['pixel']['f1'] == 1.0
    # a 2-part parcel matches one of its predicted parts at IoU 0.5; the 4-part one matches none
    assert (m['object']['tp'], m['object']['fp'], m['object']['fn']) == (2, 5, 1)
    assert 'each feature is one object' in m['object']['object_rule'] == m['notes']['object_rule']
    assert any('2 multipart features each count as one object' in s for s in m['notes']['messages'])
    m = evaluate_scene(pred, ref, str(tmp_path / 'b'), explode_multipart=True, report=True)
    assert m['object']['f1'] == 1.0 and m['object']['tp'] == 7 and m['object']['iou'] == pytest.approx(1.0)
    assert 'each part of a multipart feature is one object' in m['object']['object_rule']
    assert any('exploded into 7 objects of 3 features' in s for s in m['notes']['messages'])
    assert 'each part of a multipart feature' in (tmp_path / 'b' / 'report.html').read_text()
    assert main(['--pred', pred, '--ref', ref, '--explode-multipart', '--out', str(tmp_path / 'c'), '-q',
                 '--no-report']) == 0


def test_report_confusion_matrix_says_what_it_shows(hand_scene):
    """The cells hold raw counts *and* their share of the reference row; the title says so."""
    from geoperc.evaluation import report as rp
    from geoperc.evaluation.scene import (align_inputs, assign_classes, load_inputs, score_objects, score_pixels,
                                          SceneSettings, write_outputs, _notes)
    ref, _ = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    s = SceneSettings()
    inp = align_inputs(load_inputs(hand_scene.pred, ref, s))
    cls = assign_classes(inp, s)
    out = str(hand_scene.dir / 'o')
    import os
    os.makedirs(out)
    px = score_pixels(inp, cls, s, out)
    obj = score_objects(inp, cls, s)
    result = dict(pixel=px, object=obj.section, notes=_notes(inp, cls, obj, s))
    write_outputs(out, result, inp, cls, obj, report=True)
    cm = np.asarray(px['confusion_matrix'])
    fig = rp._figure(result, {k: ([], {}) for k in ('true_positives',)}, inp.extent)
    ax = fig.axes[0]
    title = ax.get_title()
    assert 'counts' in title and '% of the reference row' in title and title == rp.CONFUSION_TITLE
    texts = sorted(t.get_text() for t in ax.texts)
    norm = rp.row_normalised(cm)
    exp = sorted(f'{int(v)}\n{100 * norm[i, j]:.1f}% of row' for (i, j), v in np.ndenumerate(cm))
    assert texts == exp
    assert norm[1].sum() == pytest.approx(1.0) and norm[0, 0] == pytest.approx(cm[0, 0] / cm[0].sum())


def test_overlay_dates_on_different_grids(tmp_path, capsys):
    """``geoperc overlay`` with date 2 (and the prediction) on other grids: aligned to date 1's grid."""
    from geoperc.cli.overlay import main as overlay
    from geoperc.io.quicklook import overview_grid, read_overview, read_overview_on
    from geoperc.testing import make_change_scene
    s = make_change_scene(str(tmp_path / 'scene'), size=(96, 128), seed=2)
    with rasterio.open(s.date2) as src:
        b = src.read()
    # date 2 shifted 8 px right / 4 px down and padded; the prediction at twice the pixel size
    pad = np.zeros((b.shape[0], 96 + 8, 128 + 16), b.dtype)
    pad[:, 4:100, 8:136] = b
    d2 = write_geotiff(str(tmp_path / 'd2_shift.tif'), pad, nodata=0,
                       transform=from_origin(500000.0 - 8 * 0.5, 5000000.0 + 4 * 0.5, 0.5, 0.5))
    with rasterio.open(s.label) as src:
        lab = src.read(1)
    coarse = lab[::2, ::2].copy()
    pr = write_geotiff(str(tmp_path / 'pred_coarse.tif'), coarse[None], nodata=255,
                       transform=from_origin(500000.0, 5000000.0, 1.0, 1.0))
    g = overview_grid(s.date1, max_size=128)
    a2, v2 = read_overview_on(d2, g)
    a_ref, v_ref = read_overview(s.date2, max_size=128)
    np.testing.assert_array_equal(v2, v_ref)
    np.testing.assert_array_equal(a2[:, v2], a_ref[:, v_ref])
    p, vp = read_overview_on(pr, g, (1,))
    np.testing.assert_array_equal(p[0][vp], np.repeat(np.repeat(coarse, 2, 0), 2, 1)[vp])
    assert vp.mean() > 0.9
    out = tmp_path / 'ql.png'
    assert overlay([s.date1, d2, pr, '--reference', s.label, '--out', str(out)]) == 0 and out.exists()
    # a date that does not overlap date 1: one line, exit 2
    far = write_geotiff(str(tmp_path / 'far.tif'), b, nodata=0, transform=from_origin(600000.0, 5000000.0, 0.5, 0.5))
    assert not read_overview_on(far, g)[1].any()
    assert overlay([s.date1, far, pr, '--out', str(tmp_path / 'x.png')]) == 2
    assert not (tmp_path / 'x.png').exists()
    assert 'far.tif: has no valid pixel on the grid of' in capsys.readouterr().err


def test_evaluation_does_not_import_inference(hand_scene):
    """Scene evaluation runs without importing inference (only the CLI's CONFIG CHECKPOINT form does)."""
    import subprocess
    import sys
    ref, _ = _refs(hand_scene, str(hand_scene.dir / 'refs.gpkg'))
    code = ('import sys; from geoperc.evaluation.scene import evaluate_scene; '
            f'evaluate_scene({hand_scene.pred!r}, {ref!r}, {str(hand_scene.dir / "o")!r}, report=False); '
            'bad = sorted(m for m in sys.modules if m.startswith(("geoperc.inference", "torch"))); '
            'assert not bad, bad')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
