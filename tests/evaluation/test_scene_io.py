"""Inputs of scene evaluation: vector layers, CRS handling, QGIS project files, strip-wise rasters."""
import os
import sqlite3
import zipfile

import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon

from geoperc.errors import RasterError
from geoperc.io import scene as gs
from geoperc.io.qgis_project import QgisProjectError, read_qgis_project
from geoperc.io.vector import (VectorReadError, list_layers, local_metric_crs, read_vector, reproject, same_crs,
                               write_styled_gpkg, write_vector)


def test_gpkg_layers_by_name_and_cleaning_counts(tmp_path):
    p = str(tmp_path / 'refs.gpkg')
    bowtie = Polygon([(0, 0), (10, 20), (10, 0), (0, 20), (0, 0)])
    geoms = [shapely.box(0, 0, 1, 1), bowtie, None, Polygon(), Point(3, 3), LineString([(0, 0), (1, 1)])]
    write_vector(p, geoms, 'EPSG:32632', {'class': ['a', 'b', 'c', 'd', 'e', 'f']}, layer='buildings')
    write_vector(p, [LineString([(0, 0), (5, 5)])], 'EPSG:32632', {'kind': ['road']}, layer='roads', append=True)
    assert list_layers(p) == ['buildings', 'roads']
    with pytest.raises(VectorReadError, match=r'refs.gpkg: holds 2 layers.*available: buildings, roads'):
        read_vector(p)
    with pytest.raises(VectorReadError, match=r"refs.gpkg: no layer named 'houses'; available: buildings, roads"):
        read_vector(p, 'houses')
    with pytest.raises(VectorReadError, match=r"no field 'label'; available fields: class"):
        read_vector(p, 'buildings', columns=['label'])
    v = read_vector(p, 'buildings', columns=['class'])
    assert v.counts == dict(features=6, null=1, empty=1, unreadable=0, non_polygonal=2, repaired=1, degenerate=0)
    assert v.attributes['class'].tolist() == ['a', 'b'] and len(v) == 2
    assert v.geometries[1].geom_type == 'MultiPolygon' and v.geometries[1].area == pytest.approx(100)
    assert same_crs(v.crs, 'EPSG:32632')
    assert len(read_vector(p, 'buildings', where="class = 'b'")) == 1  # a QGIS subset string


def test_shapefile_with_and_without_prj(tmp_path):
    p = str(tmp_path / 'refs.shp')
    write_vector(p, [shapely.box(500000, 5000000, 500010, 5000010)], 'EPSG:32632', {'cls': [1]})
    v = read_vector(p)
    assert v.layer == 'refs' and same_crs(v.crs, 'EPSG:32632') and v.attributes['cls'].tolist() == [1]
    os.remove(str(tmp_path / 'refs.prj'))
    assert read_vector(p).crs is None
    assert same_crs(read_vector(p, crs='EPSG:32632').crs, 'EPSG:32632')  # e.g. the CRS a QGIS project gives


def test_geojson_wgs84_reprojected_to_utm(tmp_path):
    p = str(tmp_path / 'refs.geojson')
    ll = shapely.box(9.0, 45.0, 9.001, 45.001)
    write_vector(p, [ll], 'EPSG:4326', {'class': ['x']})
    v = read_vector(p)
    assert same_crs(v.crs, 'EPSG:4326')
    u = v.to_crs('EPSG:32632')
    assert u.reprojected_from.startswith('EPSG:4326')
    tr = Transformer.from_crs('EPSG:4326', 'EPSG:32632', always_xy=True)
    expect = np.array([tr.transform(x, y) for x, y in ll.exterior.coords])
    assert np.allclose(np.asarray(u.geometries[0].exterior.coords), expect, atol=1e-6)
    assert 78 * 110 < u.geometries[0].area < 80 * 112  # 0.001 deg at 45N: ~78.8 m x ~111.1 m


def test_local_metric_crs_and_reprojection_errors():
    assert local_metric_crs((9.0, 45.0, 9.01, 45.01), 'EPSG:4326') == CRS.from_epsg(32632)
    assert local_metric_crs((-70.0, -33.0, -69.9, -32.9), 'EPSG:4326') == CRS.from_epsg(32719)
    with pytest.raises(ValueError, match='non-finite'):
        reproject([shapely.box(0, 90.5, 1, 91)], 'EPSG:4326', 'EPSG:3857')  # latitude > 90


def test_styled_gpkg_has_qgis_layer_styles(tmp_path):
    p = str(tmp_path / 'out.gpkg')
    write_styled_gpkg(p, {'tp': ([shapely.box(0, 0, 1, 1)], {'iou': np.array([0.5])}),
                          'fp': ([], {'iou': np.zeros(0)})}, 'EPSG:32632', {'tp': '<qgis>tp</qgis>', 'fp': '<qgis/>'})
    assert list_layers(p) == ['tp', 'fp', 'layer_styles']
    with sqlite3.connect(p) as c:
        rows = c.execute('select f_table_name, f_geometry_column, styleQML, useAsDefault from layer_styles').fetchall()
        types = dict(c.execute('select table_name, data_type from gpkg_contents').fetchall())
    assert rows == [('tp', 'geom', '<qgis>tp</qgis>', 1), ('fp', 'geom', '<qgis/>', 1)]
    assert types == {'tp': 'features', 'fp': 'features', 'layer_styles': 'attributes'}
    assert not [f for f in os.listdir(tmp_path) if f.startswith('.')]  # temp file renamed away


QGS = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis projectname="" version="3.22.16-Białowieża">
  <projectCrs><spatialrefsys nativeFormat="Wkt"><authid>EPSG:3857</authid></spatialrefsys></projectCrs>
  <projectlayers>
    <maplayer type="raster"><id>pred_1</id><datasource>./pred.tif</datasource><layername>prediction</layername>
      <srs><spatialrefsys><authid>EPSG:32632</authid></spatialrefsys></srs><provider>gdal</provider></maplayer>
    <maplayer type="vector" geometry="Polygon"><id>bld_2</id>
      <datasource>../data/refs.gpkg|layername=buildings|subset="class" = 'b'</datasource>
      <layername>buildings</layername><srs><spatialrefsys><wkt>{wkt}</wkt></spatialrefsys></srs>
      <provider encoding="UTF-8">ogr</provider></maplayer>
    <maplayer type="vector"><id>shp_3</id><datasource>{abs_shp}|layerid=0</datasource><layername>old</layername>
      <provider encoding="UTF-8">ogr</provider></maplayer>
    <maplayer type="vector"><id>mem_4</id><datasource>Polygon?crs=EPSG:4326&amp;uid={{x}}</datasource>
      <layername>scratch</layername><provider encoding="">memory</provider></maplayer>
    <maplayer type="vector"><id>gone_5</id><datasource>./missing.gpkg|layername=x</datasource>
      <layername>gone</layername><provider encoding="UTF-8">ogr</provider></maplayer>
  </projectlayers>
</qgis>
"""


def test_qgis_project_layers_paths_and_crs(tmp_path):
    (tmp_path / 'proj').mkdir()
    (tmp_path / 'data').mkdir()
    (tmp_path / 'proj' / 'pred.tif').write_bytes(b'')
    (tmp_path / 'data' / 'refs.gpkg').write_bytes(b'')
    shp = str(tmp_path / 'data' / 'old.shp')
    open(shp, 'w').close()
    text = QGS.format(wkt=CRS.from_epsg(4326).to_wkt(), abs_shp=shp)
    qgs = tmp_path / 'proj' / 'scene.qgs'
    qgs.write_text(text, encoding='utf-8')
    qgz = tmp_path / 'proj' / 'scene.qgz'
    with zipfile.ZipFile(qgz, 'w') as z:
        z.writestr('scene.qgs', text)
        z.writestr('scene.qgd', b'')
    for path in (qgs, qgz):
        pr = read_qgis_project(str(path))
        assert same_crs(pr.crs, 'EPSG:3857') and len(pr.layers) == 5
        pred = pr.layer('prediction')
        assert (pred.type, pred.provider, pred.path) == ('raster', 'gdal', str(tmp_path / 'proj' / 'pred.tif'))
        assert same_crs(pred.crs, 'EPSG:32632')
        b = pr.layer('buildings')
        assert b.path == str(tmp_path / 'data' / 'refs.gpkg') and b.sublayer == 'buildings'
        assert b.options == {'subset': '"class" = \'b\''} and same_crs(b.crs, 'EPSG:4326')
        assert pr.layer('bld_2') is b  # by id too
        old = pr.layer('old')
        assert old.path == shp and old.options == {'layerid': '0'} and old.crs is None
        with pytest.raises(QgisProjectError, match=r"no layer named 'roads'; available: 'prediction' \(raster, gdal\)"):
            pr.layer('roads')
        with pytest.raises(QgisProjectError, match='temporary \\(memory\\) layer'):
            pr.layer('scratch')
        with pytest.raises(QgisProjectError, match=r'missing.gpkg, which does not exist'):
            pr.layer('gone')


@pytest.mark.parametrize('name,content,match', [
    ('bad.qgz', b'PK\x03\x04 broken zip', 'not a readable .qgz'),
    ('bad.qgz', b'<qgis/>', 'not a readable .qgz'),
    ('bad.qgs', b'<qgis><projectlayers>', 'XML error'),
    ('bad.qgs', b'<html></html>', 'not a QGIS project'),
    ('bad.qgs', b'<qgis version="3.22"></qgis>', 'has no map layers'),
])
def test_unreadable_projects(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(QgisProjectError, match=match) as e:
        read_qgis_project(str(p))
    assert str(p) in str(e.value)


def test_qgz_without_qgs(tmp_path):
    p = tmp_path / 'empty.qgz'
    with zipfile.ZipFile(p, 'w') as z:
        z.writestr('readme.txt', 'x')
    with pytest.raises(QgisProjectError, match='holds no .qgs project'):
        read_qgis_project(str(p))


def _blobs(path, h=53, w=47):
    import rasterio
    from rasterio.transform import from_origin
    rng = np.random.default_rng(1)
    lab = (rng.random((h, w)) < 0.45).astype(np.uint8) * rng.integers(1, 3, (h, w)).astype(np.uint8)
    lab[:, :2] = 255
    with rasterio.open(path, 'w', driver='GTiff', width=w, height=h, count=1, dtype='uint8', nodata=255,
                       crs='EPSG:32632', transform=from_origin(1000, 2000, 2, 2)) as dst:
        dst.write(lab, 1)
    return lab


def test_strip_vectorisation_equals_whole_raster(tmp_path):
    lab = _blobs(str(tmp_path / 'b.tif'))
    grid = gs.open_grid(str(tmp_path / 'b.tif'))
    whole = gs.vectorize_labels(grid, rows=10000)
    for rows in (1, 4, 7):
        strips = gs.vectorize_labels(grid, rows=rows)
        assert len(strips[0]) == len(whole[0]) and sorted(strips[1]) == sorted(whole[1])
        for c in (1, 2):
            a = shapely.union_all([g for g, v in zip(whole[0], whole[1]) if v == c])
            b = shapely.union_all([g for g, v in zip(strips[0], strips[1]) if v == c])
            assert a.symmetric_difference(b).area == 0
            assert b.area == 4 * (lab == c).sum()  # 2 m pixels
        assert shapely.union_all(strips[2]).area == 4 * (lab == 255).sum()  # nodata columns


def test_aligned_strips_and_error_map(tmp_path):
    import rasterio
    lab = _blobs(str(tmp_path / 'b.tif'))
    grid = gs.open_grid(str(tmp_path / 'b.tif'))
    ref = [shapely.box(1000, 2000 - 40, 1040, 2000)]  # top-left 20x20 pixels
    strips = list(gs.aligned_strips(grid, ref, [1], rows=6))
    assert [s.row0 for s in strips] == list(range(0, 53, 6))
    refm = np.concatenate([s.ref for s in strips])
    assert refm[:20, :20].all() and refm.sum() == 400
    pred = np.concatenate([s.pred for s in strips])
    valid = np.concatenate([s.valid for s in strips])
    assert (valid == (lab != 255)).all() and (pred == np.where(lab == 255, 0, lab)).all()
    with gs.ErrorMapWriter(str(tmp_path / 'err.tif'), grid) as em:
        for s in strips:
            em.write(s, s.pred, s.ref)
    with rasterio.open(tmp_path / 'err.tif') as src:
        code = src.read(1)
        assert src.colormap(1)[2][:3] == (220, 30, 30) and same_crs(src.crs, 'EPSG:32632')
    v = lab != 255
    r = refm > 0
    assert (code == 255).sum() == (~v).sum()
    assert (code == 1).sum() == (v & r & (lab == 1)).sum() and (code == 4).sum() == (v & r & (lab == 2)).sum()
    assert (code == 2).sum() == (v & ~r & (lab > 0)).sum() and (code == 3).sum() == (v & r & (lab == 0)).sum()


def test_raster_errors(tmp_path):
    import rasterio
    with pytest.raises(RasterError, match='file not found'):
        gs.open_grid(str(tmp_path / 'nope.tif'))
    (tmp_path / 'junk.tif').write_bytes(b'not a tiff')
    with pytest.raises(RasterError, match='junk.tif: not a raster GDAL can read'):
        gs.open_grid(str(tmp_path / 'junk.tif'))
    with rasterio.open(tmp_path / 'nocrs.tif', 'w', driver='GTiff', width=4, height=4, count=1, dtype='uint8') as d:
        d.write(np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(RasterError, match='nocrs.tif: the raster has no CRS'):
        gs.open_grid(str(tmp_path / 'nocrs.tif'))
