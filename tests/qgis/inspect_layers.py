"""Open layers with PyQGIS (Debian's system python3, headless) and print what QGIS sees, as JSON.

Usage: QT_QPA_PLATFORM=offscreen /usr/bin/python3 inspect_layers.py SPEC.json
SPEC.json: a list of {"uri": ..., "provider": "ogr" | "gdal"}. Output: one JSON list on stdout with,
per layer: valid, crs (authid), extent, and feature count / geometry type / renderer colour and the
styles stored in the data source (vector) or size / band count / renderer type (raster).
"""
import json
import sys

from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer, QgsWkbTypes


def describe(spec):
    if spec['provider'] == 'gdal':
        lyr = QgsRasterLayer(spec['uri'], 'r', 'gdal')
    else:
        lyr = QgsVectorLayer(spec['uri'], 'v', spec['provider'])
    out = dict(uri=spec['uri'], valid=lyr.isValid())
    if not lyr.isValid():
        return out
    e = lyr.extent()
    out.update(crs=lyr.crs().authid(), extent=[e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum()])
    if isinstance(lyr, QgsVectorLayer):
        out.update(feature_count=lyr.featureCount(), geometry_type=QgsWkbTypes.displayString(lyr.wkbType()),
                   fields=[f.name() for f in lyr.fields()], renderer=lyr.renderer().type())
        sym = lyr.renderer().symbol() if lyr.renderer().type() == 'singleSymbol' else None
        if sym is not None:
            fill = sym.symbolLayer(0)
            out['fill_rgba'] = list(fill.color().getRgb())
            out['stroke_rgba'] = list(fill.strokeColor().getRgb())
        n, ids, names, descs, err = lyr.listStylesInDatabase()
        out['db_styles'] = list(names)
        out['null_geometries'] = sum(1 for f in lyr.getFeatures() if not f.hasGeometry())
    else:
        out.update(width=lyr.width(), height=lyr.height(), band_count=lyr.bandCount(),
                   renderer=lyr.renderer().type(),
                   nodata=lyr.dataProvider().sourceNoDataValue(1) if lyr.dataProvider().sourceHasNoDataValue(1)
                   else None)
    return out


def main():
    specs = json.load(open(sys.argv[1]))
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(json.dumps([describe(s) for s in specs]))
    finally:
        app.exitQgis()


if __name__ == '__main__':
    main()
