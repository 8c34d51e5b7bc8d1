"""Align a prediction raster and reference polygons on the prediction's pixel grid.

Everything here streams over strips of rows, so memory follows the strip, not the scene:
:func:`aligned_strips` yields the prediction labels, the rasterised reference and the valid mask of
each strip; :func:`vectorize_labels` turns a label raster into polygons (strip by strip, merging the
pieces that meet at strip seams); :class:`ErrorMapWriter` writes a coloured per-pixel error map.
"""
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import shapely
from affine import Affine

from geoperc.errors import RasterError

from .raster import Grid, GridReader, RasterInfo, open_raster, raster_info, window_transform
from .vector import crs_label, pixel_to_map, to_crs

#: Codes of the pixel error map and the colours QGIS shows them in.
ERROR_CODES = {0: ('correct background', (0, 0, 0, 0)), 1: ('true positive', (0, 170, 0, 255)),
               2: ('false positive', (220, 30, 30, 255)), 3: ('miss', (30, 90, 230, 255)),
               4: ('wrong class', (240, 160, 0, 255))}
ERROR_NODATA = 255
VECTOR_SUFFIXES = ('.gpkg', '.shp', '.geojson', '.json', '.fgb', '.kml', '.gml', '.sqlite', '.tab', '.mif')


#: legacy name: scene inputs raise :class:`geoperc.errors.RasterError`
RasterReadError = RasterError


def is_vector_path(path: str) -> bool:
    """True for the file suffixes of vector formats (a prediction GeoPackage of detector boxes)."""
    return path.lower().endswith(VECTOR_SUFFIXES)


@dataclass
class RasterGrid:
    """A prediction or image raster as scene evaluation reads it: its :class:`~geoperc.io.raster.RasterInfo`
    (the one grid type), the CRS to measure in (the file's, or the one assumed for a file without) and how
    labels are read from it.

    ``kind`` is ``'labels'`` (integer classes, 0 = background), ``'probs'`` (float scores:
    one band thresholded, several bands arg-maxed with band 1 = background) or ``'image'``
    (only the grid and the valid mask are used). Validity is the mask rule of :mod:`geoperc.io.raster`.
    """
    info: RasterInfo
    crs: object  # pyproj.CRS
    kind: str

    @property
    def path(self) -> str:
        return self.info.path

    @property
    def transform(self) -> Affine:
        return self.info.transform

    @property
    def width(self) -> int:
        return self.info.shape[1]

    @property
    def height(self) -> int:
        return self.info.shape[0]

    @property
    def count(self) -> int:
        return self.info.count

    @property
    def dtype(self) -> str:
        return self.info.dtype

    @property
    def nodata(self):
        return self.info.nodata

    @property
    def grid(self) -> Grid:
        return self.info.grid

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        return tuple(float(v) for v in self.footprint().bounds)

    def footprint(self):
        """The raster's outline as a polygon in its CRS (exact for rotated grids too)."""
        return pixel_to_map(shapely.box(0, 0, self.width, self.height), self.transform)

    def strip_transform(self, row0: int) -> Affine:
        return window_transform(self.transform, (0, row0))

    def strips(self, rows: Optional[int] = None) -> Iterator[Tuple[int, int]]:
        """(first row, number of rows) of each strip; ``rows=None`` picks about 2 megapixels a strip."""
        rows = rows or max(16, (1 << 21) // max(self.width, 1))
        for r0 in range(0, self.height, rows):
            yield r0, min(rows, self.height - r0)

    def reader(self) -> GridReader:
        """A :class:`~geoperc.io.raster.GridReader` of the bands this kind reads (close it)."""
        return GridReader(self.path, bands=[1] if self.kind in ('labels', 'image') else self.info.bands)


def open_grid(path: str, kind: str = 'auto', crs=None) -> RasterGrid:
    """Describe a raster without reading its pixels; ``kind='auto'`` picks labels for integer
    and probs for float data; ``crs`` is assumed when the file has none (e.g. the layer CRS a QGIS
    project stores). Raises :class:`~geoperc.errors.RasterError` for unreadable files and rasters
    without a CRS or georeferencing."""
    with open_raster(path, require_crs=True, require_transform=True, crs=crs) as src:
        info = raster_info(src)
        file_crs = src.crs
    crs = file_crs if file_crs is not None else crs
    if kind == 'auto':
        kind = 'probs' if np.issubdtype(np.dtype(info.dtype), np.floating) else 'labels'
    if kind not in ('labels', 'probs', 'image'):
        raise ValueError(f'unknown raster kind {kind!r}')
    return RasterGrid(info, to_crs(crs), kind)


def read_labels(grid: RasterGrid, row0: int, nrows: int, threshold: float = 0.5, src: Optional[GridReader] = None):
    """Labels (int32; ``None`` for an image grid) and valid mask (bool) of rows [row0, row0+nrows).

    Validity is the mask rule of :mod:`geoperc.io.raster` (nodata, NaN nodata, alpha band, GDAL's mask);
    invalid pixels get label 0; a uint8 label raster without declared nodata treats 255 as nodata
    (geoperc's convention); non-finite probabilities are invalid.
    """
    own = src is None
    rd = grid.reader() if own else src
    try:
        data, valid = rd.read((0, row0, grid.width, nrows))
        if grid.kind == 'image':
            return None, valid
        if grid.kind == 'labels':
            lab = data[0]
            nodata = grid.nodata if grid.nodata is not None else (255 if grid.dtype == 'uint8' else None)
            if nodata is not None:
                valid &= lab != nodata
            return np.where(valid, lab, 0).astype(np.int32), valid
        p = data.astype(np.float32)
        valid &= np.isfinite(p).all(0)
        if grid.nodata is not None and np.isfinite(grid.nodata):
            valid &= ~(p == grid.nodata).any(0)
        p = np.nan_to_num(p)
        lab = (p[0] >= threshold) if grid.count == 1 else p.argmax(0)
        return np.where(valid, lab, 0).astype(np.int32), valid
    finally:
        if own:
            rd.close()


def rasterize(geometries: Sequence, values: Sequence[int], transform: Affine, shape: Tuple[int, int],
              all_touched: bool = False) -> np.ndarray:
    """Burn polygons (map coordinates) with their class values onto a grid; 0 elsewhere (int32).
    Where polygons overlap, the later one wins."""
    from rasterio import features
    if not len(geometries):
        return np.zeros(shape, np.int32)
    return features.rasterize(list(zip(geometries, (int(v) for v in values))), out_shape=shape,
                              transform=transform, fill=0, all_touched=all_touched, dtype='int32')


@dataclass
class Strip:
    row0: int
    pred: np.ndarray
    ref: np.ndarray
    valid: np.ndarray


def _query(tree, geoms, values, box):
    if tree is None:
        return [], []
    idx = np.sort(tree.query(box))
    return [geoms[i] for i in idx], [values[i] for i in idx]


def aligned_strips(grid: RasterGrid, ref_geoms: Sequence, ref_values: Sequence[int],
                   pred_geoms: Optional[Sequence] = None, pred_values: Optional[Sequence[int]] = None,
                   all_touched: bool = False, threshold: float = 0.5,
                   rows: Optional[int] = None) -> Iterator[Strip]:
    """Prediction, rasterised reference and valid mask of each strip of the grid.

    The reference polygons (already in the grid's CRS) are burnt with the strip's own transform, so
    pixel (r, c) of every array is the same ground cell. For an ``'image'`` grid the prediction is
    the burnt ``pred_geoms`` (e.g. detector boxes).
    """
    ref_geoms, pred_geoms = list(ref_geoms), list(pred_geoms or [])
    ref_tree = shapely.STRtree(ref_geoms) if ref_geoms else None
    pred_tree = shapely.STRtree(pred_geoms) if pred_geoms else None
    with grid.reader() as src:
        for r0, n in grid.strips(rows):
            t = grid.strip_transform(r0)
            box = pixel_to_map(shapely.box(0, 0, grid.width, n), t)
            lab, valid = read_labels(grid, r0, n, threshold, src=src)
            ref = rasterize(*_query(ref_tree, ref_geoms, ref_values, box), t, (n, grid.width), all_touched)
            if grid.kind == 'image':
                lab = rasterize(*_query(pred_tree, pred_geoms, list(pred_values or []), box), t,
                                (n, grid.width), all_touched)
            yield Strip(r0, lab, ref, valid)


def _shapes(arr, mask, r0):
    from rasterio import features
    for geo, v in features.shapes(arr, mask=mask, connectivity=4, transform=Affine.translation(0, r0)):
        yield shapely.geometry.shape(geo), int(v)


def vectorize_labels(grid: RasterGrid, threshold: float = 0.5, rows: Optional[int] = None,
                     binarize: bool = False) -> Tuple[List, List[int], List]:
    """Polygons of the connected regions (4-connectivity) of each class > 0, and of the nodata area.

    Works strip by strip; a region cut by a strip seam is re-assembled by a union of the pieces
    touching that seam, so the result equals vectorising the whole raster at once.

    Returns:
        tuple: (polygons in map coordinates, their classes, nodata polygons in map coordinates).
    """
    done, seam = [], {}
    with grid.reader() as src:
        for r0, n in grid.strips(rows):
            lab, valid = read_labels(grid, r0, n, threshold, src=src)
            if grid.kind != 'image':
                if binarize:
                    lab = (lab > 0).astype(np.int32)
                lab = np.where(valid, lab, -1).astype(np.int32)  # -1: nodata region
            else:
                lab = np.where(valid, 0, -1).astype(np.int32)
            mask = lab != 0
            if not mask.any():
                continue
            for poly, v in _shapes(lab, mask, r0):
                _, miny, _, maxy = poly.bounds
                if (r0 > 0 and miny == r0) or (r0 + n < grid.height and maxy == r0 + n):
                    seam.setdefault(v, []).append(poly)
                else:
                    done.append((poly, v))
    for v, polys in seam.items():
        merged = shapely.union_all(polys)
        done.extend((p, v) for p in getattr(merged, 'geoms', [merged]))
    done.sort(key=lambda pv: (pv[0].bounds[1], pv[0].bounds[0], pv[1]))  # row-major, deterministic
    objs = [(pixel_to_map(p, grid.transform), v) for p, v in done if v > 0]
    nodata = [pixel_to_map(p, grid.transform) for p, v in done if v < 0]
    return [p for p, _ in objs], [v for _, v in objs], nodata


class ErrorMapWriter:
    """Streams a paletted uint8 GeoTIFF of per-pixel outcomes (see ``ERROR_CODES``) on the grid.

    Written to a temporary file and renamed into place on a clean exit of the ``with`` block.
    """

    def __init__(self, path: str, grid: RasterGrid):
        import rasterio
        self.path, self.grid = path, grid
        d, b = os.path.split(os.path.abspath(path))
        self.tmp = os.path.join(d, f'.{b}.tmp.tif')
        tiled = grid.width >= 256 and grid.height >= 256
        profile = dict(driver='GTiff', width=grid.width, height=grid.height, count=1, dtype='uint8',
                       crs=grid.crs.to_wkt(), transform=grid.transform, nodata=ERROR_NODATA,
                       compress='deflate', tiled=tiled, photometric='palette')
        if tiled:
            profile.update(blockxsize=256, blockysize=256)
        self.dst = rasterio.open(self.tmp, 'w', **profile)
        self.dst.write_colormap(1, {k: c for k, (_, c) in ERROR_CODES.items()})
        self.dst.update_tags(1, **{f'code_{k}': name for k, (name, _) in ERROR_CODES.items()})

    def write(self, strip: Strip, pred: np.ndarray, ref: np.ndarray):
        from rasterio.windows import Window
        code = np.full(pred.shape, ERROR_NODATA, np.uint8)
        v = strip.valid
        code[v & (pred == 0) & (ref == 0)] = 0
        code[v & (pred > 0) & (ref == pred)] = 1
        code[v & (pred > 0) & (ref == 0)] = 2
        code[v & (pred == 0) & (ref > 0)] = 3
        code[v & (pred > 0) & (ref > 0) & (ref != pred)] = 4
        self.dst.write(code, 1, window=Window(0, strip.row0, self.grid.width, pred.shape[0]))

    def close(self, keep: bool = True):
        if self.dst is not None:
            self.dst.close()
            self.dst = None
            if keep:
                os.replace(self.tmp, self.path)
            elif os.path.exists(self.tmp):
                os.remove(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.close(keep=exc_type is None)


def describe_grid(grid: RasterGrid) -> dict:
    """JSON-friendly summary of a grid for the metrics notes."""
    return dict(path=grid.path, crs=crs_label(grid.crs), kind=grid.kind, width=grid.width,
                height=grid.height, pixel_size=[abs(grid.transform.a), abs(grid.transform.e)],
                bounds=list(grid.bounds))
