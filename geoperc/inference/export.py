"""Writers for inference results that keep the source CRS and transform.

* :class:`GeoTiffWriter`: a tiled, compressed GeoTIFF written block row by block row into a temporary
  file next to the output and renamed over it on :meth:`~GeoTiffWriter.commit` (optionally converted to a
  Cloud Optimized GeoTIFF first), so a crash never leaves a half-written file at the output path. BigTIFF
  is chosen when the uncompressed data could pass 4 GB.
* :func:`write_boxes_gpkg`: rotated boxes in raster pixels -> polygons in the source CRS in a GeoPackage
  with ``class``, ``label`` and ``score`` fields.
"""
import functools
import os
import tempfile
import uuid
import warnings
from typing import Optional, Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from geoperc.errors import SettingsError
from geoperc.io.raster import RasterInfo, pixel_to_map_coords

__all__ = ['GeoTiffWriter', 'write_boxes_gpkg', 'temp_path', 'check_writable', 'needs_bigtiff', 'check_compress',
           'OutputPathError', 'LOSSY_CODECS']

_TIFF_LIMIT = 4 * 1024 ** 3

#: GTiff codecs that change values (JPEG always; WEBP unless WEBP_LOSSLESS, which geoperc never sets).
#: LERC is lossless at its default MAX_Z_ERROR=0, the only setting geoperc uses.
LOSSY_CODECS = ('jpeg', 'webp')
_CANDIDATES = ('deflate', 'zstd', 'lzw', 'lzma', 'packbits', 'lerc', 'lerc_deflate', 'lerc_zstd', 'none')
_PREDICTOR_CODECS = ('deflate', 'zstd', 'lzw', 'lzma')


class OutputPathError(SettingsError, OSError):
    """The output path cannot be written (missing folder, a directory, no permission)."""


@functools.lru_cache(maxsize=None)
def _probe_codec(name: str, dtype: str) -> Optional[str]:
    """None when GDAL's GTiff driver writes ``dtype`` with ``name`` (and really compresses), else why not."""
    from rasterio.errors import NotGeoreferencedWarning
    path = f'/vsimem/geoperc-codec-{uuid.uuid4().hex}.tif'
    try:
        with rasterio.Env(CPL_DEBUG=False), warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            with rasterio.open(path, 'w', driver='GTiff', width=16, height=16, count=1, dtype=np.dtype(dtype).name,
                               compress=name, tiled=True, blockxsize=16, blockysize=16) as d:
                d.write(np.zeros((1, 16, 16), dtype))
            with rasterio.open(path) as r:
                got = r.compression
    except Exception as e:  # noqa: BLE001 - GDAL refuses the combination
        return ' '.join(str(e).split())[:200] or type(e).__name__
    finally:
        try:
            rasterio.shutil.delete(path)
        except Exception:  # noqa: BLE001
            pass
    if name != 'none' and got is None:
        return 'not a codec this GDAL knows'
    return None


def check_compress(compress: Optional[str], dtype, lossless: bool = True) -> str:
    """Validate a GeoTIFF codec for ``dtype`` against GDAL's GTiff driver, before any work is done.

    Args:
        compress: codec name (case-insensitive), ``None``/``'none'`` for no compression.
        dtype: the output band dtype (``uint8`` labels, ``float32`` scores / values).
        lossless: refuse codecs that change values (:data:`LOSSY_CODECS`); geoperc's outputs are labels
            and measurements, where a lossy codec invents classes and values.

    Returns:
        The codec name, lower case.

    Raises:
        SettingsError: a lossy codec, an unknown codec, or one GDAL cannot use for ``dtype``; the
            message lists the codecs that work for ``dtype`` here.
    """
    import rasterio.shutil  # noqa: F401 (delete)
    name = 'none' if compress is None else str(compress).strip().lower()
    dt = np.dtype(dtype).name

    def usable():
        return ', '.join(c for c in _CANDIDATES if _probe_codec(c, dt) is None)

    if lossless and name in LOSSY_CODECS:
        raise SettingsError(f'--compress {compress}: a lossy codec would change the {dt} output values (new '
                            f'classes appear in labels); use a lossless one: {usable()}')
    why = _probe_codec(name, dt)
    if why is not None:
        raise SettingsError(f'--compress {compress}: GDAL\'s GTiff driver cannot write {dt} bands with it '
                            f'({why}); codecs that work for {dt}: {usable()}')
    return name


def temp_path(path: str, suffix: str = '.tmp') -> str:
    """A hidden temporary path in the output's folder (same file system, so ``os.replace`` is atomic)."""
    d, b = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(b)
    return os.path.join(d, f'.{stem}{suffix}{ext}')


def check_writable(path: str):
    """Raise :class:`OutputPathError` naming ``path`` if it cannot be written."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise OutputPathError(f'{path}: output folder {d} does not exist')
    if os.path.isdir(path):
        raise OutputPathError(f'{path}: output path is a directory')
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputPathError(f'{path}: existing output file is not writable')
    try:  # os.access is not enough (root, read-only mounts): really create a file there
        fd, probe = tempfile.mkstemp(prefix='.geoperc-write-test-', dir=d)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OutputPathError(f'{path}: cannot write in the output folder {d} ({e.strerror})') from e


def needs_bigtiff(shape, count: int, dtype) -> bool:
    """True when the uncompressed pixels (plus headroom for tile indexes) could pass 4 GB."""
    H, W = shape
    return H * W * count * np.dtype(dtype).itemsize * 1.02 + 2 ** 20 > _TIFF_LIMIT


class GeoTiffWriter:
    """Tiled, compressed GeoTIFF on the grid of ``info``, written by windows, committed atomically.

    Args:
        path: final output path.
        info: grid of the source (CRS, transform, shape).
        count: number of bands.
        dtype: band dtype (``'uint8'`` labels, ``'float32'`` scores).
        nodata: nodata value (255 for labels, NaN for scores).
        block: internal block size (square, multiple of 16).
        compress: GDAL compression (``'deflate'``, ``'zstd'``, ``'lzw'``, ...; see :func:`check_compress`).
        cog: convert to a Cloud Optimized GeoTIFF (with overviews) on commit.
        descriptions: optional band descriptions.
    """

    def __init__(self, path: str, info: RasterInfo, count: int, dtype, nodata, block: int = 256,
                 compress: str = 'deflate', cog: bool = False, descriptions: Optional[Sequence[str]] = None):
        self.path = os.path.abspath(path)
        self.tmp = temp_path(self.path)
        self.cog = cog
        self.compress = compress
        self.dtype = np.dtype(dtype)
        self.bigtiff = needs_bigtiff(info.shape, count, dtype)
        float_ = self.dtype.kind == 'f'
        codec = str(compress or 'none').lower()
        profile = dict(driver='GTiff', width=info.shape[1], height=info.shape[0], count=count,
                       dtype=self.dtype.name, crs=info.crs, transform=info.transform, nodata=nodata,
                       tiled=True, blockxsize=block, blockysize=block, compress=codec,
                       interleave='band' if count > 1 else 'pixel', BIGTIFF='YES' if self.bigtiff else 'NO')
        if codec in _PREDICTOR_CODECS:
            profile['predictor'] = 3 if float_ else 1
        self.profile = profile
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
        self._dst = rasterio.open(self.tmp, 'w', **profile)
        if descriptions:
            for i, d in enumerate(descriptions, 1):
                self._dst.set_band_description(i, d)

    def write(self, array: np.ndarray, row_off: int, col_off: int = 0):
        """Write ``(count, h, w)`` at ``(row_off, col_off)``."""
        _, h, w = array.shape
        self._dst.write(array.astype(self.dtype, copy=False), window=Window(col_off, row_off, w, h))

    def commit(self) -> str:
        """Close, convert to COG if asked, and atomically move to the output path."""
        self._dst.close()
        src = self.tmp
        if self.cog:
            from rasterio.shutil import copy as gdal_copy
            cog_tmp = temp_path(self.path, '.cog.tmp')
            resampling = 'NEAREST' if self.dtype.kind in 'ui' else 'AVERAGE'
            opts = dict(COMPRESS=str(self.compress or 'none').upper(), BLOCKSIZE=self.profile['blockxsize'],
                        OVERVIEW_RESAMPLING=resampling, BIGTIFF='YES' if self.bigtiff else 'NO')
            if 'predictor' in self.profile:
                opts['PREDICTOR'] = 'YES' if self.dtype.kind == 'f' else 'NO'
            gdal_copy(self.tmp, cog_tmp, driver='COG', **opts)
            os.remove(self.tmp)
            src = cog_tmp
        os.replace(src, self.path)
        return self.path

    def abort(self):
        """Close and delete the temporary file (nothing appears at the output path)."""
        try:
            self._dst.close()
        except Exception:  # noqa: BLE001
            pass
        for p in (self.tmp, temp_path(self.path, '.cog.tmp')):
            if os.path.exists(p):
                os.remove(p)


def write_boxes_gpkg(path: str, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, info: RasterInfo,
                     class_names: Optional[Sequence[str]] = None, layer: str = 'detections') -> str:
    """Rotated boxes in raster pixels -> polygons in the source CRS, written to a GeoPackage.

    Fields: ``class`` (name when ``class_names`` is known, else the label as text), ``label`` (int) and
    ``score`` (float). Written to a temporary file and renamed (see :func:`geoperc.io.vector.write_vector`).
    """
    from geoperc.io.vector import write_vector
    from geoperc.ops.rotated import rbox_to_polygons
    polys = rbox_to_polygons(boxes, lambda c: pixel_to_map_coords(c, info.transform))
    labels = np.asarray(labels, np.int64)
    if class_names is not None:
        names = [class_names[i] if 0 <= i < len(class_names) else str(i) for i in labels]
    else:
        names = [str(i) for i in labels]
    attrs = dict(label=labels.astype(np.int32), score=np.asarray(scores, np.float64))
    attrs = {'class': np.asarray(names, dtype=object), **attrs}
    return write_vector(path, list(polys), info.crs, attrs, layer=layer)
