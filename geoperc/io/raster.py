"""The one raster layer: grids, windows, band choice, the validity (mask) rule, aligned windowed reads.

Everything that opens a raster goes through this module -- the training datasets
(``geoperc/datasets/change/geotiff_pair.py`` and the loading transforms), tiled inference
(:class:`DateStack`), scene evaluation (``geoperc/io/scene.py``) and quick looks
(``geoperc/io/quicklook.py``) -- so they agree on what a pixel is, where it is and whether it holds data.

Vocabulary
----------
* :class:`Grid` -- ``(crs, transform, shape)``: the pixel grid of a raster. :func:`same_grid` says
  whether two grids are the same (no resampling needed).
* A *window* is a :class:`rasterio.windows.Window` (or a ``(col_off, row_off, width, height)`` tuple) in
  the pixels of a grid; it may extend past the grid (a boundless read: the outside is filled and
  invalid). :func:`window_transform` gives a window's affine (optionally of pixels ``scale`` times larger,
  after a resize), :func:`clip_window` its part inside a grid (rasterio's ``windows.transform`` /
  ``windows.crop``), :func:`as_affine` turns any 6/9-tuple into an :class:`~affine.Affine`.
* :class:`RasterInfo` -- a raster as geoperc reads it: grid, the bands read, dtype, nodata, and where
  validity comes from.

The mask rule (one rule, everywhere)
------------------------------------
A pixel is *valid* when it lies inside the raster and GDAL's dataset mask says it holds data
(rasterio ``dataset_mask`` / ``read_masks``), which GDAL derives, in this order, from

1. a per-dataset mask (an internal TIFF mask, e.g. a JPEG-compressed COG, or a ``.msk`` sidecar);
2. the nodata value: a pixel is invalid when *every* band equals nodata (NaN nodata: every band NaN);
3. an alpha band (RGBA orthomosaics, ``gdalwarp -dstalpha``): invalid where alpha is 0.

(GDAL ranks nodata before alpha: a file with both uses nodata -- rasterio's ``NodataShadowWarning``.)
The alpha band GDAL uses as the mask is *not* one of the bands read ("model bands") unless asked for
explicitly with ``bands=`` (1-based, as GDAL counts); an alpha band asked for as data is data, and
validity then comes from nodata alone. Beware that GDAL writes 4-band 8-bit GeoTIFFs as RGBA by default
(``PHOTOMETRIC=RGB`` + alpha extra sample): a 4-band RGB+NIR file without nodata therefore reads as 3
bands + mask; pass ``bands=[1, 2, 3, 4]`` or fix the file (``gdal_edit.py -colorinterp_4 undefined``).
A date on another grid is read through a :class:`~rasterio.vrt.WarpedVRT` whose mask follows the same
rule (its source's nodata, alpha or mask, plus "outside the source footprint").

Reading
-------
* :func:`open_raster` opens a raster and turns every way it can be unusable into
  :class:`~geoperc.errors.RasterError` naming the file.
* :func:`read_window` -- a boundless read of an open dataset (no mask).
* :class:`GridReader` -- one raster read on a reference grid (warped when its grid differs): ``read(window)
  -> (data (C, h, w), valid (h, w))`` with the mask rule; read failures mid-file become
  :class:`~geoperc.errors.RasterReadError` naming the file and the window. :func:`read_on_grid` is the
  one-shot form the data pipeline uses.
* :class:`DateStack` -- the dates of a scene on the first date's grid, ``read(window) -> (T, C, h, w),
  valid``, for tiled inference.
"""
import logging
import math
import os
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio import windows as rwindows
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import NodataShadowWarning, RasterioIOError
from rasterio.windows import Window

from geoperc.errors import RasterError, RasterReadError

__all__ = ['RasterError', 'RasterReadError', 'Grid', 'RasterInfo', 'Window', 'as_affine', 'window_transform',
           'clip_window', 'window_bounds_in', 'same_grid', 'open_raster', 'raster_info', 'select_bands',
           'mask_alpha_band', 'read_window', 'GridReader', 'read_on_grid', 'check_overlap', 'DateStack',
           'pixel_to_map_coords', 'torch_safe_dtype']

WindowLike = Union[Window, Sequence[float]]


# ------------------------------------------------------------------------------------------ grids
def as_affine(transform) -> Affine:
    """An :class:`~affine.Affine` from an Affine, a GDAL-order-free 6-tuple ``(a, b, c, d, e, f)`` or a
    9-tuple (the only affine coercion in geoperc)."""
    return transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])


def _as_window(window: WindowLike) -> Window:
    if isinstance(window, Window):
        return window
    w = tuple(window)
    if len(w) == 2:
        return Window(w[0], w[1], 0, 0)
    return Window(*w[:4])


def window_transform(transform, window: WindowLike, scale: Tuple[float, float] = (1.0, 1.0)) -> Affine:
    """Affine of ``window`` (it may start outside the raster) in the grid of ``transform``.

    Args:
        transform: the grid's affine (Affine or 6-tuple).
        window: a :class:`Window`, ``(col_off, row_off, width, height)`` or ``(col_off, row_off)``.
        scale: ``(sx, sy)``: the window's pixels are ``sx`` x ``sy`` source pixels (after resizing the
            window by ``1 / scale``).

    Returns:
        The window's :class:`~affine.Affine` (``tuple(t)[:6]`` for metainfo).
    """
    w = _as_window(window)  # (rasterio.windows.transform does this with the deprecated Affine "*")
    t = as_affine(transform) @ Affine.translation(w.col_off, w.row_off)
    if tuple(scale) != (1.0, 1.0):
        t = t @ Affine.scale(*scale)
    return t


def clip_window(window: WindowLike, shape: Tuple[int, int]) -> Optional[Window]:
    """The part of ``window`` inside a raster of ``shape`` (H, W), with integer offsets, or None when
    they do not intersect."""
    H, W = int(shape[0]), int(shape[1])
    w = _as_window(window)
    c = rwindows.crop(Window(int(w.col_off), int(w.row_off), int(w.width), int(w.height)), H, W)
    if c.width <= 0 or c.height <= 0:
        return None
    return Window(int(c.col_off), int(c.row_off), int(c.width), int(c.height))


#: the name tiled inference imports
window_bounds_in = clip_window


@dataclass(frozen=True)
class Grid:
    """A pixel grid: ``crs`` (:class:`rasterio.crs.CRS` or None), ``transform`` (:class:`Affine`),
    ``shape`` ``(H, W)``."""
    crs: object
    transform: Affine
    shape: Tuple[int, int]

    @classmethod
    def of(cls, src) -> 'Grid':
        """The grid of an open dataset (a reader or a :class:`WarpedVRT`)."""
        return cls(src.crs, src.transform, (int(src.height), int(src.width)))

    @classmethod
    def from_dict(cls, d: Dict) -> 'Grid':
        """From ``dict(crs=WKT/EPSG/None, transform=6-tuple, shape=(H, W))`` (dataset metainfo)."""
        from rasterio.crs import CRS
        crs = d.get('crs')
        crs = None if crs in (None, '') else (crs if isinstance(crs, CRS) else CRS.from_user_input(crs))
        return cls(crs, as_affine(d['transform']), (int(d['shape'][0]), int(d['shape'][1])))

    def to_dict(self) -> Dict:
        """Plain values (WKT, 6-tuple, shape) for dataset metainfo and JSON."""
        return dict(crs=self.crs.to_wkt() if self.crs else None, transform=tuple(self.transform)[:6],
                    shape=tuple(self.shape))

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(left, bottom, right, top) in map units (exact for rotated grids: the four corners)."""
        return _bounds(self.transform, *self.shape)

    def window_transform(self, window: WindowLike, scale=(1.0, 1.0)) -> Affine:
        return window_transform(self.transform, window, scale)


def _bounds(transform: Affine, H: int, W: int) -> Tuple[float, float, float, float]:
    xs, ys = zip(*(transform @ (c, r) for c, r in ((0, 0), (W, 0), (0, H), (W, H))))
    return min(xs), min(ys), max(xs), max(ys)


def _grid(g) -> Grid:
    if isinstance(g, Grid):
        return g
    if isinstance(g, dict):
        return Grid.from_dict(g)
    if hasattr(g, 'grid'):
        return g.grid
    raise TypeError(f'not a grid: {type(g).__name__}')


def same_grid(a, b, tol: float = 1e-9) -> bool:
    """True when two grids (:class:`Grid`, :class:`RasterInfo` or grid dicts) have the same shape, CRS
    and transform, up to ``tol`` relative (or a millionth of a pixel), so no resampling is needed."""
    a, b = _grid(a), _grid(b)
    if tuple(a.shape) != tuple(b.shape):
        return False
    if (a.crs is None) != (b.crs is None) or (a.crs is not None and a.crs != b.crs):
        return False
    px = max(abs(a.transform.a), abs(a.transform.e), 1e-12)
    return all(abs(x - y) <= tol * max(1.0, abs(x), abs(y)) or abs(x - y) <= 1e-6 * px
               for x, y in zip(tuple(a.transform)[:6], tuple(b.transform)[:6]))


@dataclass(frozen=True)
class RasterInfo:
    """A raster as geoperc reads it, without its pixels.

    Attributes:
        path: the file path.
        crs: :class:`rasterio.crs.CRS` of the raster (or None).
        transform: affine pixel -> map transform of the full raster.
        shape: ``(H, W)`` in pixels.
        count: number of bands *read* (the model's bands: alpha excluded unless asked, or ``bands=``).
        dtype: numpy dtype name of the bands read (e.g. ``'uint8'``).
        nodata: nodata value, or None.
        block_shape: ``(bh, bw)`` of the internal tiling when the file is tiled, else None (striped).
        bands: the 1-based band numbers read, in order.
        alpha_band: the alpha band GDAL uses as the mask (1-based), or None.
        mask: where validity comes from: ``'none'`` (every pixel inside is valid), ``'nodata'``,
            ``'alpha'``, ``'mask'`` (per-dataset mask) or ``'gdal'`` (GDAL's per-band masks).
        file_count: number of bands in the file.
    """
    path: str
    crs: object
    transform: Affine
    shape: Tuple[int, int]
    count: int
    dtype: str
    nodata: Optional[float]
    block_shape: Optional[Tuple[int, int]]
    bands: Tuple[int, ...] = ()
    alpha_band: Optional[int] = None
    mask: str = 'none'
    file_count: int = 0

    @property
    def grid(self) -> Grid:
        return Grid(self.crs, self.transform, tuple(self.shape))

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(left, bottom, right, top) in map units."""
        return _bounds(self.transform, *self.shape)


# ------------------------------------------------------------------------------------------ bands
def mask_alpha_band(src) -> Optional[int]:
    """The alpha band (1-based) GDAL uses as the dataset mask, or None (no alpha, or nodata shadows it)."""
    flags = src.mask_flag_enums
    if not flags or MaskFlags.alpha not in flags[0]:
        return None
    for i, ci in enumerate(src.colorinterp):
        if ci == ColorInterp.alpha:
            return i + 1
    return src.count  # GDAL's rule for 2- and 4-band files when the interpretation is not stored


def select_bands(src, bands: Optional[Sequence[int]] = None, path: str = '') -> Tuple[Tuple[int, ...], Optional[int]]:
    """``(bands read, mask alpha band)``: ``bands`` (1-based) when given, else every band except the alpha
    band GDAL uses as the mask. Raises :class:`RasterError` for band numbers the file does not have."""
    alpha = mask_alpha_band(src)
    path = path or getattr(src, 'name', '')
    if bands is None:
        sel = tuple(b for b in range(1, src.count + 1) if b != alpha)
        if not sel:
            raise RasterError(f'{path}: its only band is an alpha (mask) band; no data bands to read')
        return sel, alpha
    try:
        sel = tuple(int(b) for b in bands)
    except (TypeError, ValueError) as e:
        raise RasterError(f'{path}: bands must be 1-based band numbers, got {bands!r}') from e
    if not sel:
        raise RasterError(f'{path}: bands= is empty')
    bad = [b for b in sel if not 1 <= b <= src.count]
    if bad:
        raise RasterError(f'{path}: has {src.count} bands (numbered 1..{src.count}, as GDAL counts); '
                          f'cannot read band {bad[0]} of bands={list(sel)}')
    return sel, alpha


def _mask_kind(ds, bands: Sequence[int], alpha: Optional[int]) -> str:
    flags = ds.mask_flag_enums
    used = [flags[b - 1] for b in bands]
    if all(f == [MaskFlags.all_valid] for f in used):
        return 'none'
    if alpha is not None and any(MaskFlags.alpha in f for f in used):
        return 'alpha' if alpha not in bands else ('nodata' if ds.nodata is not None else 'none')
    if any(MaskFlags.per_dataset in f for f in used):
        return 'mask'
    if all(MaskFlags.nodata in f for f in flags) and ds.nodata is not None:
        return 'nodata'
    return 'gdal'


# ------------------------------------------------------------------------------------------ open
def open_raster(path: str, require_crs: bool = True, require_transform: bool = False, crs=None):
    """Open a raster for reading; raise :class:`RasterError` naming the file if it is unusable.

    Args:
        path: path of a GeoTIFF (or any GDAL-readable raster).
        require_crs: refuse a raster without a CRS (unless ``crs`` is given to assume).
        require_transform: refuse a raster without a geotransform (identity or singular affine).
        crs: a CRS to assume when the file has none (e.g. the layer CRS a QGIS project stores); only
            used by this check, the dataset is returned as is.

    Returns:
        An open :class:`rasterio.io.DatasetReader` (close it, or use it as a context manager).

    Raises:
        RasterError: the file does not exist, is not a raster GDAL can read, has no bands, has no CRS, or
            (``require_transform``) no georeferencing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise RasterError(f'{path}: file not found')
    if os.path.isdir(path):
        raise RasterError(f'{path}: is a directory, not a raster file')
    try:
        src = rasterio.open(path)
    except RasterioIOError as e:
        raise RasterError(f'{path}: not a raster GDAL can read ({str(e).splitlines()[0]})') from e
    if src.count == 0:
        src.close()
        raise RasterError(f'{path}: the raster has no bands')
    if require_crs and src.crs is None and crs is None:
        src.close()
        raise RasterError(f'{path}: the raster has no CRS (coordinate reference system); assign one (QGIS: '
                          'Raster > Projections > Assign Projection, or gdal_edit.py -a_srs EPSG:XXXX)')
    if require_transform and (src.transform.is_identity or src.transform.determinant == 0):
        src.close()
        raise RasterError(f'{path}: the raster has no georeferencing (identity or singular geotransform)'
                          + ('; it has GCPs only: warp it first, e.g. gdalwarp -r bilinear IN OUT'
                             if src.gcps[0] else ''))
    return src


def _block_shape(src) -> Optional[Tuple[int, int]]:
    try:
        bh, bw = src.block_shapes[0]
        if bh > 1 and bw < src.width:  # striped files have one-row (or few-row) full-width blocks
            return (bh, bw)
    except Exception:  # noqa: BLE001 - VRTs may not report blocks
        pass
    return None


def raster_info(src, bands: Optional[Sequence[int]] = None) -> RasterInfo:
    """:class:`RasterInfo` of an open dataset (a reader or a :class:`WarpedVRT`) read with ``bands``."""
    sel, alpha = select_bands(src, bands)
    dtype = np.result_type(*[np.dtype(src.dtypes[b - 1]) for b in sel]).name
    return RasterInfo(path=getattr(src, 'name', ''), crs=src.crs, transform=src.transform,
                      shape=(src.height, src.width), count=len(sel), dtype=dtype, nodata=src.nodata,
                      block_shape=_block_shape(src), bands=sel, alpha_band=alpha,
                      mask=_mask_kind(src, sel, alpha), file_count=src.count)


def pixel_to_map_coords(coords: np.ndarray, transform) -> np.ndarray:
    """Vectorised (col, row) pixel coordinates ``(..., 2)`` -> map coordinates ``(..., 2)``."""
    t = as_affine(transform)
    c, r = coords[..., 0], coords[..., 1]
    return np.stack([t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f], axis=-1)


def torch_safe_dtype(dtype) -> np.dtype:
    """The dtype to hand to torch: unsigned 16/32-bit ints have few torch kernels, widen them."""
    dtype = np.dtype(dtype)
    if dtype in (np.dtype('uint16'), np.dtype('uint32')):
        return np.dtype('int32') if dtype == np.dtype('uint16') else np.dtype('int64')
    return dtype


def read_window(src, window: Window, boundless: bool = True, fill=None, indexes=None,
                out_dtype=None) -> np.ndarray:
    """Read ``window`` as ``(C, h, w)`` (no mask); with ``boundless`` the part outside the raster is ``fill``.

    Args:
        src: an open dataset.
        window: window in the dataset's pixel grid; may extend past its edges when ``boundless``.
        boundless: allow windows past the edges (else the window is clipped to the raster).
        fill: value outside the raster; defaults to the dataset nodata, or 0 without nodata.
        indexes: band indexes (1-based) to read; default all bands.
        out_dtype: dtype of the returned array (default the dataset's).

    Returns:
        Array of shape ``(C, window.height, window.width)`` (clipped shape when not boundless).
    """
    if indexes is None:
        indexes = list(range(1, src.count + 1))
    dtype = np.dtype(out_dtype or src.dtypes[indexes[0] - 1])
    inner = clip_window(window, (src.height, src.width))
    if not boundless:
        if inner is None:
            return np.empty((len(indexes), 0, 0), dtype)
        return _read(src, list(indexes), inner, dtype)
    if fill is None:
        fill = src.nodata if src.nodata is not None else 0
    h, w = int(window.height), int(window.width)
    if inner is not None and (inner.width, inner.height) == (w, h):
        return _read(src, list(indexes), inner, dtype)
    out = np.full((len(indexes), h, w), fill, dtype=dtype)
    if inner is not None:
        r, c = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
        out[:, r:r + inner.height, c:c + inner.width] = _read(src, list(indexes), inner, dtype)
    return out


def _read(ds, indexes, window: Window, dtype, path: str = '') -> np.ndarray:
    try:
        return ds.read(indexes, window=window, out_dtype=dtype)
    except RasterioIOError as e:
        raise RasterReadError(_read_failed(path or getattr(ds, 'name', ''), window, e)) from e


def _read_failed(path: str, window: Window, e: Exception) -> str:
    msg = ' '.join(str(e).split())
    return (f'{path}: reading the window at column {int(window.col_off)}, row {int(window.row_off)} '
            f'({int(window.width)} x {int(window.height)} px) failed; the file looks truncated or corrupt '
            f'({msg[:200]})')


# ------------------------------------------------------------------------------------------ aligned reads
def _not_all_nodata(data: np.ndarray, nodata) -> np.ndarray:
    """GDAL's nodata mask rule on ``(C, h, w)``: valid where some band differs from nodata (NaN: is not NaN).
    Band by band with ``|=`` (a reduction over the band axis is several times slower)."""
    if isinstance(nodata, float) and math.isnan(nodata):
        valid = ~np.isnan(data[0])
        for b in data[1:]:
            valid |= ~np.isnan(b)
        return valid
    nd = np.asarray(nodata).astype(data.dtype)
    valid = data[0] != nd
    for b in data[1:]:
        valid |= b != nd
    return valid


def _resampling(r) -> Resampling:
    return r if isinstance(r, Resampling) else getattr(Resampling, str(r))


class GridReader:
    """One raster read on a reference grid, with the mask rule of this module.

    The raster is read as is when its grid is the reference grid, else through a :class:`WarpedVRT` onto
    it (windowed, on the fly; nothing is written). ``read(window)`` returns ``(data (C, h, w), valid (h,
    w))`` for a window of the reference grid that may extend past it.

    Args:
        src: an open dataset, or a path (opened here, closed by :meth:`close`).
        grid: the reference :class:`Grid` (or grid dict); default the raster's own.
        bands: 1-based bands to read (default: all but the mask alpha band).
        resampling: used when warping (``'bilinear'`` for imagery, ``'nearest'`` for labels).
        require_crs: refuse a raster without a CRS (only when opening from a path).
    """

    def __init__(self, src, grid=None, bands: Optional[Sequence[int]] = None,
                 resampling='bilinear', require_crs: bool = False):
        self._own = not hasattr(src, 'read')
        self.src = open_raster(src, require_crs=require_crs) if self._own else src
        self.path = os.fspath(src) if self._own else getattr(src, 'name', '')
        self.vrt = None
        try:
            self.bands, self.alpha_band = select_bands(self.src, bands, self.path)
            own = Grid.of(self.src)
            self.grid = _grid(grid) if grid is not None else own
            self.warped = not same_grid(own, self.grid)
            self.ds = self._warp(_resampling(resampling)) if self.warped else self.src
            self.nodata = self.src.nodata
            self.dtype = np.result_type(*[np.dtype(self.src.dtypes[b - 1]) for b in self.bands])
            ds_alpha = mask_alpha_band(self.ds) if self.warped else self.alpha_band
            self.mask = _mask_kind(self.ds, self.bands, ds_alpha)
            self._mask_alpha = ds_alpha
        except Exception:
            self.close()
            raise

    def _warp(self, resampling):
        from rasterio.vrt import WarpedVRT
        if self.src.crs is None or self.grid.crs is None:
            raise RasterError(f'{self.path}: its grid differs from the reference grid and one of them has no '
                              'CRS, so it cannot be aligned')
        if self.alpha_band is not None and self.alpha_band in self.bands:
            raise RasterError(f'{self.path}: band {self.alpha_band} is its alpha band; it cannot be read as data '
                              'while the raster is warped onto another grid')
        H, W = self.grid.shape
        kw = dict(crs=self.grid.crs, transform=self.grid.transform, width=W, height=H, resampling=resampling)
        if self.src.nodata is not None:  # nodata marks both "no data" and "outside the footprint"
            vrt = WarpedVRT(self.src, nodata=self.src.nodata, src_nodata=self.src.nodata, **kw)
        elif self.alpha_band is not None:  # the source alpha is warped into the VRT's alpha band
            vrt = WarpedVRT(self.src, src_alpha=self.alpha_band, **kw)
        else:  # no nodata value: GDAL's destination alpha marks the source footprint (and source mask)
            vrt = WarpedVRT(self.src, add_alpha=True, **kw)
        self.vrt = vrt
        return vrt

    @property
    def count(self) -> int:
        return len(self.bands)

    def info(self) -> RasterInfo:
        """:class:`RasterInfo` on the reference grid."""
        return RasterInfo(path=self.path, crs=self.grid.crs, transform=self.grid.transform,
                          shape=tuple(self.grid.shape), count=len(self.bands), dtype=np.dtype(self.dtype).name,
                          nodata=self.nodata, block_shape=None if self.warped else _block_shape(self.src),
                          bands=self.bands, alpha_band=self.alpha_band, mask=self.mask,
                          file_count=self.src.count)

    def _valid(self, window: Window, data: np.ndarray) -> np.ndarray:
        """The mask rule on the in-raster ``window`` of :attr:`ds` (``data`` = the bands just read)."""
        h, w = int(window.height), int(window.width)
        kind = self.mask
        if kind == 'none':
            return np.ones((h, w), bool)
        if kind == 'alpha':
            return _read(self.ds, [self._mask_alpha], window, None, self.path)[0] > 0
        if kind == 'nodata' and len(self.bands) == self.ds.count - (1 if self._mask_alpha else 0) \
                and sorted(self.bands) == list(range(1, len(self.bands) + 1)):
            return _not_all_nodata(data, self.nodata)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', NodataShadowWarning)
                if kind == 'mask':
                    return self.ds.read_masks(self.bands[0], window=window) > 0
                return self.ds.dataset_mask(window=window) > 0
        except RasterioIOError as e:
            raise RasterReadError(_read_failed(self.path, window, e)) from e

    def read(self, window: WindowLike, fill=None, out_dtype=None) -> Tuple[np.ndarray, np.ndarray]:
        """Read ``window`` (reference-grid pixels; may extend past the grid).

        Args:
            window: :class:`Window` or ``(col_off, row_off, width, height)``.
            fill: value of invalid pixels (outside the raster or masked); default nodata, else 0.
            out_dtype: dtype of the returned data (default the bands' dtype).

        Returns:
            ``(data (C, h, w), valid (h, w) bool)``.
        """
        window = _as_window(window)
        h, w = int(window.height), int(window.width)
        dtype = np.dtype(out_dtype or self.dtype)
        if fill is None:
            fill = self.nodata if self.nodata is not None else 0
        if isinstance(fill, float) and math.isnan(fill) and not np.issubdtype(dtype, np.floating):
            fill = 0
        fillv = np.asarray(fill).astype(dtype)
        inner = clip_window(window, self.grid.shape)
        if inner is None:
            return np.full((len(self.bands), h, w), fillv, dtype), np.zeros((h, w), bool)
        data = _read(self.ds, list(self.bands), inner, dtype, self.path)
        valid_in = self._valid(inner, data)
        if not valid_in.all():
            data[:, ~valid_in] = fillv
        if (inner.width, inner.height) == (w, h):
            return data, valid_in
        out = np.full((len(self.bands), h, w), fillv, dtype)
        valid = np.zeros((h, w), bool)
        r, c = int(inner.row_off - int(window.row_off)), int(inner.col_off - int(window.col_off))
        out[:, r:r + inner.height, c:c + inner.width] = data
        valid[r:r + inner.height, c:c + inner.width] = valid_in
        return out, valid

    def read_decimated(self, out_shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
        """The whole raster read to ``out_shape`` (h, w) with nearest resampling (GDAL uses overviews when
        the file has them): ``(data (C, h, w), valid (h, w))`` with the mask rule, invalid pixels 0."""
        h, w = int(out_shape[0]), int(out_shape[1])
        full = Window(0, 0, self.ds.width, self.ds.height)
        kw = dict(out_shape=(h, w), resampling=Resampling.nearest)
        try:
            data = self.ds.read(list(self.bands), out_shape=(len(self.bands), h, w), resampling=Resampling.nearest)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', NodataShadowWarning)
                if self.mask == 'none':
                    valid = np.ones((h, w), bool)
                elif self.mask == 'alpha':
                    valid = self.ds.read(self._mask_alpha, **kw) > 0
                elif self.mask == 'mask':
                    valid = self.ds.read_masks(self.bands[0], **kw) > 0
                elif self.mask == 'nodata' and sorted(self.bands) == list(range(1, self.ds.count + 1)):
                    valid = _not_all_nodata(data, self.nodata)
                else:
                    valid = self.ds.dataset_mask(**kw) > 0
        except RasterioIOError as e:
            raise RasterReadError(_read_failed(self.path, full, e)) from e
        data[:, ~valid] = 0
        return data, valid

    def close(self):
        for d in (self.vrt, self.src if self._own else None):
            if d is not None:
                try:
                    d.close()
                except Exception:  # noqa: BLE001
                    pass
        self.vrt = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_on_grid(path: str, window: WindowLike, grid=None, bands: Optional[Sequence[int]] = None,
                 fill=None, resampling='bilinear') -> Tuple[np.ndarray, np.ndarray]:
    """One window of ``path`` on ``grid`` (default its own): ``(data (C, h, w) native dtype, valid (h, w))``
    with the module's mask rule; see :class:`GridReader`."""
    with GridReader(path, grid, bands, resampling) as r:
        return r.read(window, fill)


def check_overlap(info: RasterInfo, ref: RasterInfo, path: str, ref_path: str) -> float:
    """Fraction of ``ref``'s extent that ``info`` covers; :class:`RasterError` when they do not overlap or
    the footprint cannot be transformed to ``ref``'s CRS."""
    from rasterio.warp import transform_bounds
    try:
        b = transform_bounds(info.crs, ref.crs, *info.bounds, densify_pts=21)
    except Exception as e:  # noqa: BLE001 - any PROJ failure means the footprints cannot be related
        raise RasterError(f'{path}: cannot transform its footprint to the CRS of {ref_path} ({e})') from e
    r = ref.bounds
    ix = min(b[2], r[2]) - max(b[0], r[0])
    iy = min(b[3], r[3]) - max(b[1], r[1])
    if not (ix > 0 and iy > 0) or not all(math.isfinite(v) for v in b):
        raise RasterError(f'{path}: does not overlap {ref_path} (date 1): footprint {tuple(round(v, 3) for v in b)} '
                          f'vs {tuple(round(v, 3) for v in r)} in {ref.crs}')
    return min(1.0, ix * iy / max((r[2] - r[0]) * (r[3] - r[1]), 1e-30))


def alignment_notice(info: RasterInfo, ref: RasterInfo, path: str, ref_path: str, resampling) -> str:
    """The line logged when ``path`` is warped onto ``ref``'s grid (after :func:`check_overlap`)."""
    cover = check_overlap(info, ref, path, ref_path)
    return (f'{path}: grid differs from {ref_path} (CRS {info.crs} vs {ref.crs}, res '
            f'{abs(info.transform.a):.6g} vs {abs(ref.transform.a):.6g}, shape {info.shape} vs {ref.shape}); '
            f'warping it on the fly to the first date\'s grid ({_resampling(resampling).name}); it covers '
            f'{100 * cover:.1f}% of the first date\'s extent')


# ------------------------------------------------------------------------------------------ dates
class DateStack:
    """The dates of a scene read together on the first date's pixel grid.

    Date 1 defines the grid (CRS, transform, shape). A later date on a different grid (CRS, resolution or
    extent) is warped on the fly to that grid (:class:`GridReader`) and a notice is logged. Dates whose
    footprints do not overlap are refused.

    A pixel is *valid* when, on every date, the module's mask rule says it holds data (inside the raster;
    GDAL's per-dataset mask, nodata or alpha band; inside a warped date's footprint). Invalid pixels are
    set to the first date's nodata value (0 without one, or when it is NaN) on every date, so the model
    sees one finite fill value. The alpha band a date uses as its mask is not read as a band.

    Args:
        paths: one path per date; the first defines the grid.
        resampling: resampling of warped dates (default bilinear, for imagery).
        logger: where alignment notices go (default the module logger and MMEngine's current logger).
        bands: 1-based band numbers to read on every date (default: every band but the mask alpha band).

    Attributes:
        info: :class:`RasterInfo` of what is read: date 1's grid, ``count`` = bands read per date,
            ``bands``, ``alpha_band`` (date 1's mask alpha band, excluded), ``mask`` (date 1's validity
            source), ``file_count``.
        bands: the band numbers read (the same on every date).
        readers: one :class:`GridReader` per date.

    Raises:
        RasterError: a file is unusable (see :func:`open_raster`), a band number does not exist, dates have
            different band counts, or a date does not overlap the first.
    """

    def __init__(self, paths: Sequence[str], resampling: Resampling = Resampling.bilinear, logger=None,
                 bands: Optional[Sequence[int]] = None):
        if not paths:
            raise RasterError('no input raster given')
        self.paths = [os.fspath(p) for p in paths]
        self.readers: List[GridReader] = []
        srcs = []
        try:
            for p in self.paths:
                srcs.append(open_raster(p))
            first = GridReader(srcs[0], bands=bands)
            self.readers.append(first)
            ref = first.info()
            for p, src in zip(self.paths[1:], srcs[1:]):
                sel, alpha = select_bands(src, bands, p)
                if len(sel) != len(first.bands):
                    note = lambda a: f' besides its alpha band {a}' if a else ''  # noqa: E731
                    raise RasterError(f'{p}: has {len(sel)} bands{note(alpha)} but {ref.path} (date 1) has '
                                      f'{len(first.bands)}{note(first.alpha_band)}; every date needs the same bands')
                info = raster_info(src, bands)
                if not same_grid(ref, info):
                    _log(alignment_notice(info, ref, p, ref.path, resampling), logger)
                self.readers.append(GridReader(src, ref.grid, bands, resampling))
        except Exception:
            self.close()
            for s in srcs:
                s.close()
            raise
        self._srcs = srcs
        self.bands = first.bands
        self.nodata = [r.nodata for r in self.readers]
        self.dtype = np.result_type(*[r.dtype for r in self.readers])
        self.info = RasterInfo(ref.path, ref.crs, ref.transform, ref.shape, ref.count, np.dtype(self.dtype).name,
                               ref.nodata, ref.block_shape, ref.bands, ref.alpha_band, ref.mask, ref.file_count)
        # one fill value for invalid pixels on every date; NaN would leak through convolutions
        nd = ref.nodata
        self.fill = nd if nd is not None and not np.isnan(nd) else 0

    @property
    def num_dates(self) -> int:
        return len(self.readers)

    def read(self, window: Window) -> Tuple[np.ndarray, np.ndarray]:
        """Read one window on every date.

        Args:
            window: window in the first date's grid (may extend past the edges).

        Returns:
            ``(pixels, valid)``: pixels ``(T, C, h, w)`` in the common dtype, invalid pixels set to
            :attr:`fill`; valid ``(h, w)`` bool.
        """
        h, w = int(window.height), int(window.width)
        out = np.empty((self.num_dates, self.info.count, h, w), self.dtype)
        valid = np.ones((h, w), bool)
        for t, r in enumerate(self.readers):
            out[t], v = r.read(window, fill=self.fill, out_dtype=self.dtype)
            valid &= v
        if not valid.all():
            out[:, :, ~valid] = np.asarray(self.fill).astype(self.dtype)
        return out, valid

    def close(self):
        for r in self.readers:
            r.close()
        for s in getattr(self, '_srcs', []):
            try:
                s.close()
            except Exception:  # noqa: BLE001
                pass
        self._srcs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _log(msg: str, logger=None):
    if logger is not None:
        logger.info(msg)
        return
    try:
        from mmengine.logging import print_log
        print_log(msg, logger='current', level=logging.WARNING)
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning(msg)
