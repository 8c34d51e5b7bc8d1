"""Vector IO (GeoPackage / Shapefile / GeoJSON through pyogrio) and pixel <-> map geometry conversion."""
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import shapely
from affine import Affine
from shapely import affinity


def _affine(transform) -> Affine:
    return transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])


def pixel_to_map(geom, transform):
    """Geometry in (col, row) pixel coordinates -> map coordinates of ``transform``."""
    a = _affine(transform)
    return affinity.affine_transform(geom, [a.a, a.b, a.d, a.e, a.c, a.f])


def map_to_pixel(geom, transform):
    """Geometry in map coordinates -> (col, row) pixel coordinates of ``transform``."""
    a = ~_affine(transform)
    return affinity.affine_transform(geom, [a.a, a.b, a.d, a.e, a.c, a.f])


def write_vector(path: str, geometries: Sequence, crs, attributes: Optional[Dict[str, Sequence]] = None,
                 layer: Optional[str] = None, append: bool = False) -> str:
    """Write geometries (+ attribute columns) to a GeoPackage/Shapefile/GeoJSON, driver from the suffix.

    Writes to a temporary file and renames when complete unless ``append`` adds a layer to an
    existing GeoPackage.
    """
    import pyogrio.raw
    attributes = attributes or {}
    geoms = np.asarray(shapely.to_wkb(list(geometries)), dtype=object) if len(geometries) else np.empty(0, object)
    fields = {k: np.asarray(v) for k, v in attributes.items()}
    crs_str = crs.to_wkt() if hasattr(crs, 'to_wkt') else crs
    ext = os.path.splitext(path)[1].lower()
    driver = {'.gpkg': 'GPKG', '.shp': 'ESRI Shapefile', '.geojson': 'GeoJSON', '.json': 'GeoJSON'}.get(ext)
    if driver is None:
        raise ValueError(f'{path}: unknown vector format {ext!r} (use .gpkg, .shp or .geojson)')
    kwargs = dict(driver=driver, crs=crs_str, geometry_type='Unknown' if driver != 'ESRI Shapefile' else None)
    if layer is not None and driver == 'GPKG':
        kwargs['layer'] = layer
    if append:
        pyogrio.raw.write(path, geoms, field_data=list(fields.values()), fields=list(fields.keys()),
                      append=False, **kwargs)
        return path
    d, b = os.path.split(os.path.abspath(path))
    tmp = os.path.join(d, f'.{b}.tmp{ext}')
    pyogrio.raw.write(tmp, geoms, field_data=list(fields.values()), fields=list(fields.keys()), **kwargs)
    if driver == 'ESRI Shapefile':  # several sidecar files
        stem_tmp, stem = tmp[:-len(ext)], path[:-len(ext)]
        for side in ('.shp', '.shx', '.dbf', '.prj', '.cpg'):
            if os.path.exists(stem_tmp + side):
                os.replace(stem_tmp + side, stem + side)
    else:
        os.replace(tmp, path)
    return path
