"""Vector IO and vector CRS handling.

Reads any OGR vector format through pyogrio (GeoPackage with several layers, Shapefile, GeoJSON, ...),
picks a layer by name, repairs invalid polygons, skips (and counts) null, empty and *unreadable*
geometries (a corrupt Shapefile record, which QGIS and ogr2ogr skip too), refuses or buffers
non-polygonal layers when asked, explodes multipart features into one object per part
(:func:`explode_multipart`), reprojects with pyproj, writes GeoPackages with QGIS styles, and converts
geometries between pixel and map coordinates. Nothing outside ``geoperc/io`` does CRS or affine math
(affine coercion: :func:`geoperc.io.raster.as_affine`).
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely import affinity

#: File suffix -> OGR driver for the formats geoperc writes.
#: GeoPackage version written: 1.2 opens without warnings in the GDAL of older QGIS releases (3.22's 3.6).
GPKG_VERSION = '1.2'
WRITE_DRIVERS = {'.gpkg': 'GPKG', '.shp': 'ESRI Shapefile', '.geojson': 'GeoJSON', '.json': 'GeoJSON'}


from geoperc.errors import VectorError

from .raster import as_affine as _affine

#: legacy name of :class:`geoperc.errors.VectorError`
VectorReadError = VectorError


def pixel_to_map(geom, transform):
    """Geometry in (col, row) pixel coordinates -> map coordinates of ``transform``."""
    a = _affine(transform)
    return affinity.affine_transform(geom, [a.a, a.b, a.d, a.e, a.c, a.f])


def map_to_pixel(geom, transform):
    """Geometry in map coordinates -> (col, row) pixel coordinates of ``transform``."""
    a = ~_affine(transform)
    return affinity.affine_transform(geom, [a.a, a.b, a.d, a.e, a.c, a.f])


# ----------------------------------------------------------------------------------------- CRS
def to_crs(crs):
    """Anything pyproj understands (EPSG code, WKT, ``rasterio.crs.CRS``, ``pyproj.CRS``) -> ``pyproj.CRS``;
    ``None`` stays ``None``."""
    from pyproj import CRS
    if crs is None or crs == '':
        return None
    if isinstance(crs, CRS):
        return crs
    if hasattr(crs, 'to_wkt'):  # rasterio.crs.CRS
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)


def same_crs(a, b) -> bool:
    """True when two CRSs are the same up to axis order (e.g. ESRI WKT of a .prj vs EPSG)."""
    a, b = to_crs(a), to_crs(b)
    if a is None or b is None:
        return a is b
    return a == b or a.equals(b, ignore_axis_order=True)


def crs_label(crs) -> str:
    """Short human name: ``EPSG:32632 (WGS 84 / UTM zone 32N)`` or the CRS name."""
    crs = to_crs(crs)
    if crs is None:
        return 'none'
    auth = crs.to_authority(min_confidence=70)
    return f'{auth[0]}:{auth[1]} ({crs.name})' if auth else crs.name


def reproject(geometries: Sequence, src_crs, dst_crs) -> List:
    """Reproject shapely geometries vertex by vertex (``always_xy``: x = easting/longitude).

    Edges are not densified: a straight edge stays straight in the target CRS, which is also how
    QGIS draws a layer reprojected on the fly.
    """
    from pyproj import Transformer
    tr = Transformer.from_crs(to_crs(src_crs), to_crs(dst_crs), always_xy=True)
    if not len(geometries):
        return []

    def fn(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(np.asarray(list(geometries), dtype=object), fn)
    if not np.all(np.isfinite(shapely.bounds(out))):
        raise ValueError(f'reprojection from {crs_label(src_crs)} to {crs_label(dst_crs)} '
                         'produced non-finite coordinates (geometries outside the CRS area of use?)')
    return list(out)


def transform_bounds(bounds: Tuple[float, float, float, float], src_crs, dst_crs):
    """(left, bottom, right, top) in ``src_crs`` -> enclosing bounds in ``dst_crs`` (edges densified)."""
    from pyproj import Transformer
    tr = Transformer.from_crs(to_crs(src_crs), to_crs(dst_crs), always_xy=True)
    return tr.transform_bounds(*bounds, densify_pts=21)


def local_metric_crs(bounds: Tuple[float, float, float, float], crs):
    """The WGS 84 UTM zone holding the centre of ``bounds`` (given in ``crs``), as ``pyproj.CRS``:
    where areas and IoU are measured when the data's own CRS is geographic."""
    from pyproj import CRS
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info
    w, s, e, n = transform_bounds(bounds, crs, 'EPSG:4326')
    lon, lat = (w + e) / 2, (s + n) / 2
    info = query_utm_crs_info(datum_name='WGS 84', area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not info:
        raise ValueError(f'no UTM zone for lon={lon:.4f} lat={lat:.4f}')
    return CRS.from_epsg(int(info[0].code))


# ----------------------------------------------------------------------------------------- read
def list_layers(path: str) -> List[str]:
    """Names of the vector layers in ``path`` (a GeoPackage may hold several)."""
    import pyogrio
    if not os.path.exists(path):
        raise VectorReadError(f'{path}: file not found')
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as e:  # pyogrio.errors.DataSourceError and friends
        raise VectorReadError(f'{path}: not a readable vector file ({e})') from e


@dataclass
class VectorLayer:
    """Polygons of one layer, cleaned, with their attributes and counts of what cleaning did.

    ``geometries[i]`` belongs to feature ``fids[i]`` with ``attributes[name][i]``. ``counts`` has
    ``features`` (records in the layer), ``null`` and ``empty`` (skipped), ``unreadable`` (corrupt
    records GDAL cannot decode, skipped; ``unreadable_records`` lists them), ``non_polygonal``
    (points/lines skipped), ``buffered_points`` (points turned into discs when asked), ``repaired``
    (invalid made valid) and ``degenerate`` (nothing polygonal left after repair, skipped).
    """
    path: str
    layer: str
    crs: object
    geometries: List
    fids: np.ndarray
    attributes: Dict[str, np.ndarray]
    counts: Dict[str, int] = field(default_factory=dict)
    reprojected_from: Optional[str] = None

    def __len__(self):
        return len(self.geometries)

    def bounds(self) -> Tuple[float, float, float, float]:
        b = shapely.bounds(np.asarray(self.geometries, dtype=object))
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))

    def to_crs(self, dst_crs) -> 'VectorLayer':
        """Reprojected copy (no-op copy when the CRS is already ``dst_crs``)."""
        if same_crs(self.crs, dst_crs):
            return self
        if self.crs is None:
            raise VectorReadError(f'{self.path} (layer {self.layer!r}): layer has no CRS, cannot reproject')
        try:
            geoms = reproject(self.geometries, self.crs, dst_crs)
        except Exception as e:
            raise VectorReadError(f'{self.path} (layer {self.layer!r}): cannot reproject to '
                                  f'{crs_label(dst_crs)}: {e}') from e
        geoms, n_fixed = repair_polygons(geoms)[:2]  # vertex transforms can fold thin slivers
        out = VectorLayer(self.path, self.layer, to_crs(dst_crs), geoms, self.fids, self.attributes,
                          dict(self.counts), crs_label(self.crs))
        out.counts['repaired_after_reprojection'] = n_fixed
        return out


def polygonal_part(geom):
    """The polygonal part of a geometry (Polygon/MultiPolygon) or None when it has none."""
    if geom is None or geom.is_empty:
        return None
    t = geom.geom_type
    if t in ('Polygon', 'MultiPolygon'):
        return geom
    if t == 'GeometryCollection':
        parts = [polygonal_part(g) for g in geom.geoms]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        return shapely.union_all(parts) if len(parts) > 1 else parts[0]
    return None


def repair_polygons(geometries: Sequence) -> Tuple[List, int, int]:
    """``make_valid`` every invalid polygon and keep its polygonal part.

    Returns (geometries, number repaired, number left degenerate); degenerate ones become None.
    A self-intersecting "bow-tie" becomes a MultiPolygon of its two triangles.
    """
    out, n_fixed, n_bad = [], 0, 0
    for g in geometries:
        if g is not None and not g.is_valid:
            n_fixed += 1
            g = polygonal_part(shapely.make_valid(g))
            if g is None or g.area == 0:
                n_bad += 1
                g = None
        out.append(g)
    return out, n_fixed, n_bad


def _raw_read(path, layer, columns, where, skip=0, max_features=None):
    import pyogrio.raw
    return pyogrio.raw.read(path, layer=layer, columns=columns, force_2d=True, return_fids=True,
                            where=where or None, skip_features=skip, max_features=max_features)


def _read_records(path: str, layer: str, columns, where, n_features: int):
    """``(meta, fids, wkb, field data, unreadable)``: the layer's records, skipping the ones GDAL cannot
    decode. The whole layer is read at once; only when that fails is it read in chunks, and a failing
    chunk is bisected down to the single corrupt records (so a few bad records cost a few reads)."""
    try:
        meta, fids, wkb, data = _raw_read(path, layer, columns, where)
        return meta, fids, wkb, data, []
    except Exception as first:  # noqa: BLE001 - any decoding failure: retry record range by range
        if n_features is None or n_features <= 0:
            raise first
    good, bad = [], []

    def read(start, n):
        try:
            good.append(_raw_read(path, layer, columns, where, skip=start, max_features=n))
        except Exception as e:  # noqa: BLE001
            if n == 1:
                bad.append((start, ' '.join(str(e).split())[:200]))
                return
            read(start, n // 2)
            read(start + n // 2, n - n // 2)

    for s0 in range(0, n_features, 4096):
        read(s0, min(4096, n_features - s0))
    if not good:
        raise VectorError(f'{path} (layer {layer!r}): no record can be read ({bad[0][1] if bad else "unknown error"})')
    meta = good[0][0]
    fids = np.concatenate([np.asarray(g[1]) for g in good if g[1] is not None]) if good[0][1] is not None else None
    wkb = np.concatenate([np.asarray(g[2], dtype=object) for g in good])
    data = [np.concatenate([g[3][k] for g in good]) for k in range(len(good[0][3]))]
    return meta, fids, wkb, data, bad


def _shp_claimed_shapes(path: str, records: Sequence[int]) -> List[int]:
    """Of the Shapefile ``records`` (0-based) GDAL returned without geometry, those whose record header
    does not say "null shape" (type 0): corrupt records, not null geometries. Reads 4 bytes per record
    through the ``.shx`` index; [] when the index cannot be read."""
    import struct
    shx = os.path.splitext(path)[0] + ('.shx' if path.endswith('.shp') else '.SHX')
    try:
        out = []
        with open(shx, 'rb') as fx, open(path, 'rb') as fs:
            size = os.fstat(fs.fileno()).st_size
            for i in records:
                fx.seek(100 + 8 * int(i))
                entry = fx.read(8)
                if len(entry) < 8:
                    out.append(int(i))
                    continue
                off = struct.unpack('>i', entry[:4])[0] * 2
                if off + 12 > size:
                    out.append(int(i))
                    continue
                fs.seek(off + 8)
                if struct.unpack('<i', fs.read(4))[0] != 0:
                    out.append(int(i))
        return out
    except (OSError, struct.error):
        return []


def read_vector(path: str, layer: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                crs=None, where: Optional[str] = None, non_polygonal: str = 'skip',
                buffer_points: Optional[float] = None) -> VectorLayer:
    """Read the polygons of one layer of any OGR vector file, cleaned for evaluation.

    Args:
        path (str): GeoPackage, Shapefile, GeoJSON or any other OGR-readable file.
        layer (str, optional): layer name; required when the file holds several layers. A wrong
            name raises :class:`VectorError` listing the layers that exist.
        columns (list[str], optional): attribute columns to read (default: all). A missing one
            raises, listing the fields that exist.
        crs (optional): CRS to assume when the file carries none (e.g. the layer CRS stored in a
            QGIS project for a Shapefile without ``.prj``).
        where (str, optional): OGR SQL filter (a QGIS layer's ``subset`` string).
        non_polygonal (str): ``'skip'`` (count and skip points / lines: reference layers) or
            ``'refuse'`` (raise :class:`VectorError` naming the geometry types: prediction layers).
        buffer_points (float, optional): turn points into discs of this radius (layer units) instead
            of skipping / refusing them.

    Null, empty, unreadable (corrupt records) and non-polygonal geometries are skipped; invalid polygons
    are repaired with ``make_valid``; ``VectorLayer.counts`` says how many of each.
    """
    import pyogrio
    layers = list_layers(path)
    if not layers:
        raise VectorError(f'{path}: contains no vector layers')
    if layer is None:
        if len(layers) > 1:
            raise VectorError(f'{path}: holds {len(layers)} layers, choose one by name; available: '
                              + ', '.join(layers))
        layer = layers[0]
    elif layer not in layers:
        raise VectorError(f'{path}: no layer named {layer!r}; available: ' + ', '.join(layers))
    if non_polygonal not in ('skip', 'refuse'):
        raise ValueError(f'non_polygonal must be skip or refuse, got {non_polygonal!r}')
    try:
        info = pyogrio.read_info(path, layer=layer)
        fields = [str(f) for f in info['fields']]
        if columns is not None:
            missing = [c for c in columns if c not in fields]
            if missing:
                raise VectorError(f'{path} (layer {layer!r}): no field {missing[0]!r}; available fields: '
                                  + (', '.join(fields) or '(none)'))
        n_feat = None if where else int(info.get('features', -1))
        meta, fids, wkb, data, bad = _read_records(path, layer, columns, where, n_feat)
    except VectorError:
        raise
    except Exception as e:
        raise VectorError(f'{path} (layer {layer!r}): cannot read ({e})') from e
    if meta.get('geometry_type') is None or wkb is None:
        raise VectorError(f'{path} (layer {layer!r}): is a table without geometries')
    wkb = np.asarray(wkb, dtype=object)
    geoms = shapely.from_wkb(wkb, on_invalid='ignore') if len(wkb) else np.empty(0, object)
    counts = dict(features=len(geoms) + len(bad), null=0, empty=0, unreadable=len(bad), non_polygonal=0,
                  repaired=0, degenerate=0)
    unreadable_records = [i for i, _ in bad]
    if path.lower().endswith('.shp') and not where and not bad:
        nulls = [i for i in range(len(wkb)) if wkb[i] is None]
        corrupt = set(_shp_claimed_shapes(path, nulls)) if nulls else set()
        for i in corrupt:  # GDAL could not decode the record ("Corrupted .shp file"): not a null shape
            wkb[i] = b''
    keep, cleaned, kinds = [], [], {}
    for i, g in enumerate(geoms):
        if g is None:
            if wkb[i] is None:
                counts['null'] += 1
            else:  # WKB GDAL returned but GEOS cannot parse: a corrupt record too
                counts['unreadable'] += 1
                unreadable_records.append(int(fids[i]) if fids is not None else i)
            continue
        if g.is_empty:
            counts['empty'] += 1
            continue
        t = g.geom_type
        if buffer_points is not None and t in ('Point', 'MultiPoint'):
            g = g.buffer(float(buffer_points))
            counts['buffered_points'] = counts.get('buffered_points', 0) + 1
            t = g.geom_type
        poly = polygonal_part(g) if g.is_valid else g
        if t not in ('Polygon', 'MultiPolygon', 'GeometryCollection') or (g.is_valid and poly is None):
            counts['non_polygonal'] += 1
            kinds[t] = kinds.get(t, 0) + 1
            continue
        keep.append(i)
        cleaned.append(poly)
    if kinds and non_polygonal == 'refuse':
        what = ', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))
        pts = any('Point' in k for k in kinds)
        raise VectorError(f'{path} (layer {layer!r}): holds {what} geometries of {counts["features"]} features; '
                          'predictions must be polygons (object IoU and pixel metrics need areas)'
                          + ('; pass --buffer-points R to score points as discs of radius R' if pts else ''))
    cleaned, counts['repaired'], _ = repair_polygons(cleaned)
    good = [j for j, g in enumerate(cleaned) if g is not None]
    counts['degenerate'] = len(cleaned) - len(good)
    idx = np.asarray([keep[j] for j in good], dtype=np.int64)
    fids = np.asarray(fids)[idx] if fids is not None else idx
    attrs = {str(n): np.asarray(col)[idx] for n, col in zip(meta['fields'], data)}
    file_crs = to_crs(meta.get('crs'))
    out = VectorLayer(path, layer, file_crs if file_crs is not None else to_crs(crs),
                      [cleaned[j] for j in good], fids, attrs, counts)
    if unreadable_records:
        out.counts['unreadable_records'] = sorted(unreadable_records)[:100]
    return out


def explode_multipart(layer: VectorLayer) -> VectorLayer:
    """One object per polygon part: a MultiPolygon feature becomes one entry per part, with the feature's
    fid and attributes repeated and ``counts['multipart_features']`` / ``counts['parts']`` set."""
    geoms, src = [], []
    n_multi = 0
    for i, g in enumerate(layer.geometries):
        parts = [p for p in getattr(g, 'geoms', [g]) if p.geom_type == 'Polygon' and not p.is_empty]
        n_multi += len(parts) > 1
        geoms.extend(parts)
        src.extend([i] * len(parts))
    idx = np.asarray(src, dtype=np.int64)
    counts = dict(layer.counts, multipart_features=n_multi, parts=len(geoms))
    return VectorLayer(layer.path, layer.layer, layer.crs, geoms, np.asarray(layer.fids)[idx],
                       {k: np.asarray(v)[idx] for k, v in layer.attributes.items()}, counts, layer.reprojected_from)


# ---------------------------------------------------------------------------------------- write
def _wkb_array(geometries: Sequence) -> np.ndarray:
    if not len(geometries):
        return np.empty(0, dtype=object)
    return np.asarray(shapely.to_wkb(np.asarray(list(geometries), dtype=object)), dtype=object)


def write_vector(path: str, geometries: Sequence, crs, attributes: Optional[Dict[str, Sequence]] = None,
                 layer: Optional[str] = None, append: bool = False,
                 geometry_type: Optional[str] = None) -> str:
    """Write geometries (+ attribute columns) to a GeoPackage/Shapefile/GeoJSON, driver from the suffix.

    Writes to a temporary file and renames when complete unless ``append`` adds a layer to an
    existing GeoPackage. ``geometry_type`` (e.g. ``'MultiPolygon'``) declares the layer type; QGIS
    splits layers of unknown type into one sub-layer per geometry type, so declare it for outputs.
    """
    import pyogrio.raw
    attributes = attributes or {}
    geoms = _wkb_array(geometries)
    fields = {k: np.asarray(v) for k, v in attributes.items()}
    crs_str = to_crs(crs).to_wkt() if crs is not None else None
    ext = os.path.splitext(path)[1].lower()
    driver = WRITE_DRIVERS.get(ext)
    if driver is None:
        raise ValueError(f'{path}: unknown vector format {ext!r} (use .gpkg, .shp or .geojson)')
    if geometry_type is None and driver == 'ESRI Shapefile':  # one geometry type per file
        types = {g.geom_type for g in shapely.from_wkb(geoms) if g is not None} if len(geoms) else {'Polygon'}
        if len(types) == 1:
            geometry_type = types.pop()
        elif types <= {'Polygon', 'MultiPolygon'}:
            geometry_type = 'MultiPolygon'
        else:
            raise ValueError(f'{path}: a Shapefile holds one geometry type, got {sorted(types)}')
    geometry_type = geometry_type or 'Unknown'
    if geometry_type and geometry_type.startswith('Multi'):
        geoms = _wkb_array([_as_multi(g) for g in shapely.from_wkb(geoms)]) if len(geoms) else geoms
    kwargs = dict(driver=driver, crs=crs_str, geometry_type=geometry_type)
    if driver == 'GPKG':  # default layer name: the final file's stem, not the temporary file's
        kwargs['layer'] = layer or os.path.splitext(os.path.basename(path))[0]
        if not (append and os.path.exists(path)):
            kwargs['dataset_options'] = {'VERSION': GPKG_VERSION}
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


def _as_multi(g):
    if g is None or g.geom_type.startswith('Multi'):
        return g
    if g.geom_type == 'Polygon':
        return shapely.MultiPolygon([g])
    return g


def write_styled_gpkg(path: str, layers: Dict[str, Tuple[Sequence, Dict[str, Sequence]]], crs,
                      styles: Optional[Dict[str, str]] = None, geometry_type: str = 'MultiPolygon') -> str:
    """Write several layers to one GeoPackage, each with a default QGIS style, atomically.

    Args:
        path (str): output ``.gpkg``; written as a temporary file and renamed when complete.
        layers (dict): layer name -> (geometries, {field: values}); empty layers are kept.
        crs: CRS of every layer.
        styles (dict, optional): layer name -> QML text, stored in the GeoPackage's
            ``layer_styles`` table (the schema QGIS uses) as the layer's default style, so QGIS
            draws the layer with it when the file is opened.
    """
    import pyogrio.raw
    d, b = os.path.split(os.path.abspath(path))
    tmp = os.path.join(d, f'.{b}.tmp.gpkg')
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        for name, (geoms, attrs) in layers.items():
            write_vector(tmp, geoms, crs, attrs, layer=name, append=True, geometry_type=geometry_type)
        if styles:
            rows = [(name, qml) for name, qml in styles.items() if name in layers]
            n = len(rows)
            cols = dict(f_table_catalog=np.array([''] * n, dtype=object),
                        f_table_schema=np.array([''] * n, dtype=object),
                        f_table_name=np.array([r[0] for r in rows], dtype=object),
                        f_geometry_column=np.array(['geom'] * n, dtype=object),
                        styleName=np.array([r[0] for r in rows], dtype=object),
                        styleQML=np.array([r[1] for r in rows], dtype=object),
                        styleSLD=np.array([''] * n, dtype=object),
                        useAsDefault=np.ones(n, dtype=bool),
                        description=np.array(['geoperc eval-scene'] * n, dtype=object),
                        owner=np.array([''] * n, dtype=object), ui=np.array([''] * n, dtype=object),
                        update_time=np.full(n, np.datetime64('1970-01-01T00:00:00')))
            pyogrio.raw.write(tmp, None, field_data=list(cols.values()), fields=list(cols.keys()),
                              driver='GPKG', layer='layer_styles', geometry_type=None,
                              layer_options={'FID': 'id'})
            import sqlite3  # GeoPackage DATETIME must be ISO 8601 UTC with 'Z', which OGR does not write here
            with sqlite3.connect(tmp) as con:
                con.execute("UPDATE layer_styles SET update_time = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
            con.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
