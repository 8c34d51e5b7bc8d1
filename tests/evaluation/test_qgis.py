"""Round trips through a real QGIS (Debian's python3-qgis, driven headless as a subprocess).

1. QGIS opens what geoperc writes (the evaluation GeoPackage with its stored styles, the pixel error
   map and geoperc GeoTIFFs) and reads back the feature counts, CRS, extents and colours we expect.
2. geoperc evaluates a scene whose layers and .qgs/.qgz project were written by QGIS itself.
Skipped, with the reason, where /usr/bin/python3 cannot import qgis.core.
"""
import json
import os
import re

import pytest
import rasterio

from geoperc.evaluation.report import STYLE_DIR
from geoperc.cli.eval_scene import main
from geoperc.io.vector import read_vector, reproject, write_vector

pytestmark = pytest.mark.qgis


def _qml_rgba(name):
    text = open(os.path.join(STYLE_DIR, f'{name}.qml'), encoding='utf-8').read()
    fill = re.search(r'name="color" value="([\d,]+)"', text).group(1)
    stroke = re.search(r'name="outline_color" value="([\d,]+)"', text).group(1)
    return [int(v) for v in fill.split(',')], [int(v) for v in stroke.split(',')]


def _inspect(qgis, tmp_path, specs):
    p = tmp_path / 'inspect.json'
    p.write_text(json.dumps(specs))
    return json.loads(qgis.run('inspect_layers.py', p))


def test_qgis_opens_our_outputs(hand_scene, qgis, tmp_path):
    from geoperc.testing.change_scene import make_change_scene
    geoms, names = hand_scene.ref_polygons()
    ref = str(tmp_path / 'refs.geojson')
    write_vector(ref, reproject(geoms, 'EPSG:32632', 'EPSG:4326'), 'EPSG:4326', {'name': names})
    out = tmp_path / 'out'
    assert main(['--pred', hand_scene.pred, '--ref', ref, '--out', str(out), '--quiet', '--no-report']) == 0
    scene = make_change_scene(str(tmp_path / 'scene'), size=(64, 80), bands=3)
    layers = ['true_positives', 'false_positives', 'misses', 'not_evaluated']
    gpkg = str(out / 'layers.gpkg')
    specs = [dict(uri=f'{gpkg}|layername={n}', provider='ogr') for n in layers]
    rasters = [str(out / 'pixel_errors.tif'), scene.date1, scene.label]
    specs += [dict(uri=r, provider='gdal') for r in rasters]
    specs.append(dict(uri=f'{scene.reference}|layername={scene.reference_layer}', provider='ogr'))
    seen = _inspect(qgis, tmp_path, specs)
    assert all(s['valid'] for s in seen), seen
    for name, s, count in zip(layers, seen, (2, 2, 2, 1)):
        ours = read_vector(gpkg, name)
        assert s['feature_count'] == count == len(ours), name
        assert s['crs'] == 'EPSG:32632' and s['geometry_type'] == 'MultiPolygon'
        assert s['extent'] == pytest.approx(list(ours.bounds()), abs=1e-6)
        # the default style stored in the GeoPackage is what QGIS draws the layer with
        assert s['renderer'] == 'singleSymbol' and name in s['db_styles']
        fill, stroke = _qml_rgba(name)
        assert s['fill_rgba'] == fill and s['stroke_rgba'] == stroke, name
    assert {'iou', 'class', 'class_id', 'area'} <= set(seen[0]['fields'])
    err, date1, label, refs = seen[4:]
    assert (err['width'], err['height'], err['crs'], err['renderer'], err['nodata']) == (100, 100, 'EPSG:32632',
                                                                                       'paletted', 255)
    assert err['extent'] == pytest.approx([500000, 5000000, 500100, 5000100])
    for s, path in ((date1, scene.date1), (label, scene.label)):
        with rasterio.open(path) as src:
            b = src.bounds
            assert (s['width'], s['height'], s['band_count']) == (src.width, src.height, src.count)
        assert s['crs'] == 'EPSG:32632' and s['extent'] == pytest.approx([b.left, b.bottom, b.right, b.top])
    assert label['nodata'] == 255 and date1['band_count'] == 3
    assert refs['feature_count'] == len(read_vector(scene.reference, scene.reference_layer))


@pytest.fixture(scope='module')
def qgis_project(qgis, scene_kit, tmp_path_factory):
    """A scene saved by QGIS: GeoTIFF re-written by QGIS, GeoPackage (EPSG:4326, two layers),
    Shapefile (EPSG:3857), a memory layer, and the project as .qgs and .qgz."""
    d = tmp_path_factory.mktemp('qgis_scene')
    pred = scene_kit.write_pred(str(d / 'pred_src.tif'))
    geoms, names = scene_kit.ref_polygons()
    feats = [dict(wkt=g.wkt, name=n, **{'class': 'building'}) for g, n in zip(geoms, names)]
    feats.append(dict(wkt=None, name='no geometry', **{'class': 'building'}))
    spec = d / 'spec.json'
    spec.write_text(json.dumps(dict(out=str(d / 'qgis'), pred=pred, crs='EPSG:32632', features=feats)))
    return json.loads(qgis.run('make_project.py', spec))


@pytest.mark.parametrize('project', ['scene.qgs', 'scene.qgz'])
@pytest.mark.parametrize('ref_layer,ref_crs', [('buildings', 'EPSG:4326'), ('buildings_shp', 'EPSG:3857')])
def test_evaluate_project_written_by_qgis(qgis_project, project, ref_layer, ref_crs, hand_scene, tmp_path):
    assert qgis_project['sources']['buildings'] == '../data/refs.gpkg|layername=buildings'  # relative, as saved
    out = tmp_path / 'out'
    path = qgis_project['written'][project]
    assert main(['--project', path, '--pred-layer', 'prediction', '--ref-layer', ref_layer, '--out', str(out),
                 '--quiet', '--no-report']) == 0
    m = json.loads((out / 'metrics.json').read_text())
    hand_scene.check(m, approx_iou=1e-6)  # QGIS kept the nodata value, CRS and geometry; we reprojected back
    ref = m['notes']['reference']
    assert ref['reprojected'] and ref['crs'].startswith(ref_crs) and ref['counts']['repaired'] == 1
    assert ref['counts']['features'] == 6 and ref['counts']['null'] + ref['counts']['empty'] == 1
    ctx = m['notes']['context']
    assert ctx['project']['crs'].startswith('EPSG:3857') and ctx['project']['version'].startswith('3.')
    assert ctx['prediction_layer']['path'] == qgis_project['prediction']


def test_project_layer_errors(qgis_project, tmp_path, capsys):
    qgz = qgis_project['written']['scene.qgz']
    base = ['--project', qgz, '--out', str(tmp_path / 'o'), '--quiet']
    assert main(base + ['--pred-layer', 'prediction', '--ref-layer', 'scratch']) == 2
    assert 'scene.qgz' in capsys.readouterr().err
    assert main(base + ['--pred-layer', 'prediction', '--ref-layer', 'houses']) == 2
    err = capsys.readouterr().err
    assert "no layer named 'houses'" in err and "'buildings' (vector, ogr)" in err and "'roads'" in err
    assert main(base + ['--pred-layer', 'prediction', '--ref-layer', 'roads']) == 2  # lines only
    assert 'no usable polygons' in capsys.readouterr().err
