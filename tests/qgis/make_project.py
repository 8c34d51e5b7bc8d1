"""Write a scene the way a QGIS user would: layers saved by QGIS, a .qgs and a .qgz project.

Usage: QT_QPA_PLATFORM=offscreen /usr/bin/python3 make_project.py SPEC.json
SPEC.json: {"out": folder, "pred": GeoTIFF to re-save through QGIS, "crs": CRS of the features,
"features": [{"wkt": ..., "class": ..., "name": ...}, ...]}.

Writes (paths relative between project/ and data/, as QGIS stores them by default):
  data/prediction.tif     the prediction re-written by QgsRasterFileWriter
  data/refs.gpkg          layers "buildings" (reprojected by QGIS to EPSG:4326) and "roads" (lines)
  data/refs_3857.shp      the same buildings as a Shapefile in EPSG:3857
  project/scene.qgs, project/scene.qgz   project (CRS EPSG:3857) with those layers + a memory layer
Prints JSON: the datasource string QGIS saved for each layer.
"""
import json
import os
import sys

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature,
                       QgsGeometry, QgsProject, QgsRasterFileWriter, QgsRasterLayer, QgsRasterPipe,
                       QgsVectorFileWriter, QgsVectorLayer)


def save(layer, path, name, crs, project, append=False):
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = 'GPKG' if path.endswith('.gpkg') else 'ESRI Shapefile'
    opts.layerName = name
    opts.ct = QgsCoordinateTransform(layer.crs(), QgsCoordinateReferenceSystem(crs), project)
    if append:
        opts.actionOnExistingFile = QgsVectorFileWriter.CreateOrOverwriteLayer
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, project.transformContext(), opts)
    if err[0] != QgsVectorFileWriter.NoError:
        raise RuntimeError(f'{path}: {err}')


def main():
    spec = json.load(open(sys.argv[1]))
    out = spec['out']
    data, proj_dir = os.path.join(out, 'data'), os.path.join(out, 'project')
    os.makedirs(data, exist_ok=True)
    os.makedirs(proj_dir, exist_ok=True)
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()

    # raster re-written by QGIS (keeps CRS, extent and the nodata value)
    src = QgsRasterLayer(spec['pred'], 'src', 'gdal')
    assert src.isValid(), spec['pred']
    pipe = QgsRasterPipe()
    pipe.set(src.dataProvider().clone())
    tif = os.path.join(data, 'prediction.tif')
    w = QgsRasterFileWriter(tif)
    err = w.writeRaster(pipe, src.width(), src.height(), src.extent(), src.crs(), project.transformContext())
    assert err == QgsRasterFileWriter.NoError, err

    # reference polygons digitised in the scene CRS, saved by QGIS in other CRSs
    mem = QgsVectorLayer(f'Polygon?crs={spec["crs"]}&field=class:string&field=name:string', 'mem', 'memory')
    feats = []
    for f in spec['features']:
        feat = QgsFeature(mem.fields())
        if f.get('wkt'):
            feat.setGeometry(QgsGeometry.fromWkt(f['wkt']))  # invalid (bow-tie) geometries kept as drawn
        feat.setAttributes([f['class'], f['name']])
        feats.append(feat)
    mem.dataProvider().addFeatures(feats)
    gpkg = os.path.join(data, 'refs.gpkg')
    save(mem, gpkg, 'buildings', 'EPSG:4326', project)
    roads = QgsVectorLayer(f'LineString?crs={spec["crs"]}&field=kind:string', 'roads', 'memory')
    road = QgsFeature(roads.fields())
    road.setGeometry(QgsGeometry.fromWkt('LINESTRING (500000 5000000, 500100 5000100)'))
    road.setAttributes(['road'])
    roads.dataProvider().addFeatures([road])
    save(roads, gpkg, 'roads', 'EPSG:4326', project, append=True)
    shp = os.path.join(data, 'refs_3857.shp')
    save(mem, shp, 'refs_3857', 'EPSG:3857', project)

    # the project: relative paths (QGIS default), project CRS different from every layer
    project.setCrs(QgsCoordinateReferenceSystem('EPSG:3857'))
    layers = [QgsRasterLayer(tif, 'prediction', 'gdal'),
              QgsVectorLayer(f'{gpkg}|layername=buildings', 'buildings', 'ogr'),
              QgsVectorLayer(f'{gpkg}|layername=roads', 'roads', 'ogr'),
              QgsVectorLayer(shp, 'buildings_shp', 'ogr'),
              QgsVectorLayer(f'Polygon?crs={spec["crs"]}', 'scratch', 'memory')]
    for lyr in layers:
        assert lyr.isValid(), lyr.name()
        project.addMapLayer(lyr)
    written = {}
    for name in ('scene.qgs', 'scene.qgz'):
        path = os.path.join(proj_dir, name)
        assert project.write(path), project.error()
        written[name] = path
    pr = QgsProject.instance()
    sources = {lyr.name(): pr.pathResolver().writePath(lyr.source()) for lyr in pr.mapLayers().values()}
    print(json.dumps(dict(written=written, sources=sources, prediction=tif, gpkg=gpkg, shapefile=shp)), flush=True)
    # every file is written and closed; skip QGIS's teardown, which can crash headless PyQGIS 3.22
    os._exit(0)


if __name__ == '__main__':
    main()
