"""Raster IO: open with clear errors, boundless nodata-aware window reads, multi-date alignment.

Everything here is windowed: nothing reads a whole raster. The functions take and return plain numpy
arrays in the file's native dtype, ``(C, h, w)`` per date, and :class:`rasterio.windows.Window` objects
in the pixel grid of the *first* date (the reference grid of a multi-date stack).

* :func:`open_raster` opens a GeoTIFF (or any GDAL raster) and turns every way it can be unusable -- a
  missing path, a file that is not a raster, a raster without a CRS -- into :class:`RasterError` naming
  the file and the problem.
* :func:`read_window` reads a window that may extend past the raster edge. The part outside is filled
  with ``fill`` (nodata by default), and the in-raster part is read with one ordinary windowed read,
  which is much cheaper than GDAL's boundless VRT path.
* :class:`DateStack` opens the dates of a multi-temporal scene, aligns date 2.. to the first date's grid
  with :class:`rasterio.vrt.WarpedVRT` (windowed, on the fly, logged) when CRS, resolution or extent
  differ, refuses dates that do not overlap, and reads ``(T, C, h, w)`` windows plus a valid mask.
"""
import logging
import math
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

__all__ = ['RasterError', 'RasterInfo', 'open_raster', 'raster_info', 'read_window', 'window_transform',
           'window_bounds_in', 'DateStack', 'pixel_to_map_coords', 'torch_safe_dtype']


class RasterError(ValueError):
    """A raster cannot be used as given; the message names the file and the problem."""


@dataclass(frozen=True)
class RasterInfo:
    """What inference needs to know about a raster, without its pixels.

    Attributes:
        path: the file path.
        crs: :class:`rasterio.crs.CRS` of the raster.
        transform: affine pixel -> map transform of the full raster.
        shape: ``(H, W)`` in pixels.
        count: number of bands.
        dtype: numpy dtype name of the bands (e.g. ``'uint8'``).
        nodata: nodata value, or None.
        block_shape: ``(bh, bw)`` of the internal tiling when the file is tiled, else None (striped).
    """
    path: str
    crs: object
    transform: Affine
    shape: Tuple[int, int]
    count: int
    dtype: str
    nodata: Optional[float]
    block_shape: Optional[Tuple[int, int]]

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(left, bottom, right, top) in map units."""
        return _bounds(self.transform, *self.shape)


def _bounds(transform: Affine, H: int, W: int) -> Tuple[float, float, float, float]:
    xs, ys = zip(*(transform @ (c, r) for c, r in ((0, 0), (W, 0), (0, H), (W, H))))
    return min(xs), min(ys), max(xs), max(ys)


def open_raster(path: str):
    """Open a raster for reading; raise :class:`RasterError` naming the file if it is unusable.

    Args:
        path: path of a GeoTIFF (or any GDAL-readable raster).

    Returns:
        An open :class:`rasterio.io.DatasetReader` (close it, or use it as a context manager).

    Raises:
        RasterError: the file does not exist, is not a raster GDAL can read, has no bands, or has no CRS.
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
    if src.crs is None:
        src.close()
        raise RasterError(f'{path}: the raster has no CRS (coordinate reference system); '
                          'georeference it first, e.g. gdal_edit.py -a_srs EPSG:XXXX')
    return src


def raster_info(src) -> RasterInfo:
    """:class:`RasterInfo` of an open dataset (a reader or a :class:`WarpedVRT`)."""
    block = None
    try:
        bh, bw = src.block_shapes[0]
        if bh > 1 and bw < src.width:  # striped files have one-row (or few-row) full-width blocks
            block = (bh, bw)
    except Exception:  # VRTs may not report blocks
        block = None
    return RasterInfo(path=getattr(src, 'name', ''), crs=src.crs, transform=src.transform,
                      shape=(src.height, src.width), count=src.count, dtype=src.dtypes[0],
                      nodata=src.nodata, block_shape=block)


def window_transform(transform, window: Window) -> Affine:
    """Affine transform of ``window`` (which may start outside the raster) in the grid of ``transform``."""
    t = transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])
    return t @ Affine.translation(window.col_off, window.row_off)


def pixel_to_map_coords(coords: np.ndarray, transform) -> np.ndarray:
    """Vectorised (col, row) pixel coordinates ``(..., 2)`` -> map coordinates ``(..., 2)``."""
    t = transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])
    c, r = coords[..., 0], coords[..., 1]
    return np.stack([t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f], axis=-1)


def window_bounds_in(window: Window, shape: Tuple[int, int]) -> Optional[Window]:
    """The part of ``window`` inside a raster of ``shape`` (H, W), or None if they do not intersect."""
    H, W = shape
    c0, r0 = max(int(window.col_off), 0), max(int(window.row_off), 0)
    c1 = min(int(window.col_off + window.width), W)
    r1 = min(int(window.row_off + window.height), H)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def torch_safe_dtype(dtype) -> np.dtype:
    """The dtype to hand to torch: unsigned 16/32-bit ints have few torch kernels, widen them."""
    dtype = np.dtype(dtype)
    if dtype in (np.dtype('uint16'), np.dtype('uint32')):
        return np.dtype('int32') if dtype == np.dtype('uint16') else np.dtype('int64')
    return dtype


def read_window(src, window: Window, boundless: bool = True, fill=None, indexes=None,
                out_dtype=None) -> np.ndarray:
    """Read ``window`` as ``(C, h, w)``; with ``boundless`` the part outside the raster is ``fill``.

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
    dtype = np.dtype(out_dtype or src.dtypes[0])
    inner = window_bounds_in(window, (src.height, src.width))
    if not boundless:
        if inner is None:
            return np.empty((len(indexes), 0, 0), dtype)
        return src.read(indexes, window=inner, out_dtype=dtype)
    if fill is None:
        fill = src.nodata if src.nodata is not None else 0
    h, w = int(window.height), int(window.width)
    if inner is not None and (inner.width, inner.height) == (w, h):
        return src.read(indexes, window=inner, out_dtype=dtype)
    out = np.full((len(indexes), h, w), fill, dtype=dtype)
    if inner is not None:
        r, c = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
        out[:, r:r + inner.height, c:c + inner.width] = src.read(indexes, window=inner, out_dtype=dtype)
    return out


def _same_grid(a: RasterInfo, b: RasterInfo, tol: float = 1e-9) -> bool:
    if a.crs != b.crs or a.shape != b.shape:
        return False
    scale = max(abs(a.transform.a), abs(a.transform.e), 1e-12)
    return all(abs(x - y) <= tol * max(1.0, abs(x), abs(y)) or abs(x - y) <= 1e-6 * scale
               for x, y in zip(tuple(a.transform)[:6], tuple(b.transform)[:6]))


class DateStack:
    """The dates of a scene read together on the first date's pixel grid.

    Date 1 defines the grid (CRS, transform, shape). A later date on a different grid (CRS, resolution or
    extent) is warped on the fly to that grid with a :class:`~rasterio.vrt.WarpedVRT` -- windowed, nothing
    is written -- and a notice is logged. Dates whose footprints do not overlap are refused.

    A pixel is *valid* when it lies inside the raster and, on every date, not all of its bands equal that
    date's nodata value (nor lie outside a warped date's footprint). Invalid pixels are set to the first
    date's nodata value (0 without one, or when it is NaN) on every date, so the model sees one finite
    fill value.

    Args:
        paths: one path per date; the first defines the grid.
        resampling: resampling of warped dates (default bilinear, for imagery).
        logger: where alignment notices go (default the module logger and MMEngine's current logger).

    Raises:
        RasterError: a file is unusable (see :func:`open_raster`), dates have different band counts, or a
            date does not overlap the first.
    """

    def __init__(self, paths: Sequence[str], resampling: Resampling = Resampling.bilinear, logger=None):
        if not paths:
            raise RasterError('no input raster given')
        self.paths = [os.fspath(p) for p in paths]
        self._srcs, self._vrts = [], []
        self._alpha: List[bool] = []
        try:
            for p in self.paths:
                self._srcs.append(open_raster(p))
            ref = raster_info(self._srcs[0])
            self.info = ref
            self.readers = [self._srcs[0]]
            self._alpha.append(False)
            for p, src in zip(self.paths[1:], self._srcs[1:]):
                self.readers.append(self._align(ref, src, p, resampling, logger))
        except Exception:
            self.close()
            raise
        self.nodata = [r.nodata for r in self.readers]
        self.dtype = np.result_type(*[np.dtype(r.dtypes[0]) for r in self.readers])
        # one fill value for invalid pixels on every date; NaN would leak through convolutions
        self.fill = ref.nodata if ref.nodata is not None and not np.isnan(ref.nodata) else 0

    # -- construction ---------------------------------------------------------------------------
    def _align(self, ref: RasterInfo, src, path: str, resampling, logger):
        info = raster_info(src)
        if info.count != ref.count:
            raise RasterError(f'{path}: has {info.count} bands but {ref.path} (date 1) has {ref.count}; '
                              'every date needs the same bands')
        if _same_grid(ref, info):
            self._alpha.append(False)
            return src
        from rasterio.warp import transform_bounds
        from rasterio.vrt import WarpedVRT
        try:
            b = transform_bounds(info.crs, ref.crs, *info.bounds, densify_pts=21)
        except Exception as e:  # noqa: BLE001 - any PROJ failure means the footprints cannot be related
            raise RasterError(f'{path}: cannot transform its footprint to the CRS of {ref.path} ({e})') from e
        r = ref.bounds
        ix = min(b[2], r[2]) - max(b[0], r[0])
        iy = min(b[3], r[3]) - max(b[1], r[1])
        if not (ix > 0 and iy > 0) or not all(math.isfinite(v) for v in b):
            raise RasterError(f'{path}: does not overlap {ref.path} (date 1): footprint {tuple(round(v, 3) for v in b)} '
                              f'vs {tuple(round(v, 3) for v in r)} in {ref.crs}')
        overlap = ix * iy / max((r[2] - r[0]) * (r[3] - r[1]), 1e-30)
        msg = (f'{path}: grid differs from {ref.path} (CRS {info.crs} vs {ref.crs}, res '
               f'{abs(info.transform.a):.6g} vs {abs(ref.transform.a):.6g}, shape {info.shape} vs {ref.shape}); '
               f'warping it on the fly to the first date\'s grid ({resampling.name}); it covers '
               f'{100 * min(overlap, 1):.1f}% of the first date\'s extent')
        _log(msg, logger)
        H, W = ref.shape
        kw = dict(crs=ref.crs, transform=ref.transform, width=W, height=H, resampling=resampling)
        if info.nodata is not None:
            vrt = WarpedVRT(src, nodata=info.nodata, src_nodata=info.nodata, **kw)
            self._alpha.append(False)
        else:  # no nodata value to mark "outside the footprint": ask GDAL for an alpha band
            vrt = WarpedVRT(src, add_alpha=True, **kw)
            self._alpha.append(True)
        self._vrts.append(vrt)
        return vrt

    # -- reading --------------------------------------------------------------------------------
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
        C = self.info.count
        out = np.empty((self.num_dates, C, h, w), self.dtype)
        valid = np.zeros((h, w), bool)
        inner = window_bounds_in(window, self.info.shape)
        if inner is None:
            out.fill(self.fill)
            return out, valid
        r0, c0 = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
        sl = (slice(r0, r0 + inner.height), slice(c0, c0 + inner.width))
        valid[sl] = True
        for t, (reader, alpha, nd) in enumerate(zip(self.readers, self._alpha, self.nodata)):
            idx = list(range(1, C + 1)) + ([C + 1] if alpha else [])
            arr = read_window(reader, window, fill=self.fill if nd is None else nd, indexes=idx,
                              out_dtype=self.dtype)
            if alpha:
                valid &= arr[C] > 0
                arr = arr[:C]
            if nd is not None:
                invalid = np.isnan(arr) if np.isnan(nd) else arr == np.asarray(nd, self.dtype)
                valid &= ~invalid.all(axis=0)
            out[t] = arr
        if not valid.all():
            out[:, :, ~valid] = self.fill
        return out, valid

    def close(self):
        for d in self._vrts + self._srcs:
            try:
                d.close()
            except Exception:  # noqa: BLE001
                pass
        self._vrts, self._srcs = [], []

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
