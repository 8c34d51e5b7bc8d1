"""Decimated reads for quick looks (PNG overlays, reports): never the full raster in memory.

Reads go through :class:`geoperc.io.raster.GridReader`, so validity is the one mask rule (GDAL's
per-dataset mask, nodata, alpha band) and an alpha band is not shown as a colour band. Several rasters
shown side by side are read on one decimated grid -- the first raster's (:func:`overview_grid`): a raster
on another grid (CRS, resolution, extent: the case tiled inference supports) is read decimated and
reprojected onto it (:func:`read_overview_on`), the way inference aligns date 2 to date 1.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from .raster import Grid, GridReader, same_grid


def _decimated_shape(shape: Tuple[int, int], max_size: int) -> Tuple[int, int]:
    H, W = shape
    scale = max(1.0, max(W, H) / max_size)
    return max(1, round(H / scale)), max(1, round(W / scale))


def overview_grid(path: str, max_size: int = 1024) -> Grid:
    """The grid of ``path`` decimated so its longer side is at most ``max_size``."""
    from affine import Affine
    with GridReader(path) as rd:
        g = rd.grid
    h, w = _decimated_shape(g.shape, max_size)
    return Grid(g.crs, g.transform @ Affine.scale(g.width / w, g.height / h), (h, w))


def read_overview(path: str, max_size: int = 1024, bands: Optional[Sequence[int]] = None):
    """Read ``path`` decimated so its longer side is at most ``max_size`` (GDAL uses overviews when the
    file has them). Returns ``(array (C, h, w), valid (h, w) bool)``; band numbers are 1-based (default:
    every band but an alpha mask band)."""
    with GridReader(path, bands=bands) as rd:
        return rd.read_decimated(_decimated_shape(rd.grid.shape, max_size))


def read_overview_on(path: str, grid: Grid, bands: Optional[Sequence[int]] = None, resampling: str = 'nearest'):
    """``path`` read onto the decimated ``grid`` (of another raster): ``(array (C, h, w), valid (h, w))``.

    When ``path``'s own grid decimated to ``grid.shape`` is ``grid``, this is :func:`read_overview`;
    otherwise ``path`` is read decimated to about twice ``grid``'s pixel count and reprojected onto
    ``grid`` (``resampling``; nearest for labels), with its valid mask; pixels outside its footprint are
    invalid."""
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    with GridReader(path, bands=bands) as rd:
        own = rd.grid
        h, w = grid.shape
        mine = Grid(own.crs, own.transform @ Affine.scale(own.width / w, own.height / h), (h, w))
        if same_grid(mine, grid):
            return rd.read_decimated((h, w))
        sh, sw = _decimated_shape(own.shape, 2 * max(h, w))
        data, valid = rd.read_decimated((sh, sw))
        src_t = own.transform @ Affine.scale(own.width / sw, own.height / sh)
        crs = own.crs
    if crs is None or grid.crs is None:
        from geoperc.errors import RasterError
        raise RasterError(f'{path}: its grid differs from the first raster\'s and one of them has no CRS, so it '
                          'cannot be aligned')
    out = np.zeros((data.shape[0], h, w), data.dtype)
    ok = np.zeros((h, w), np.uint8)
    rs = getattr(Resampling, resampling)
    kw = dict(src_transform=src_t, src_crs=crs, dst_transform=grid.transform, dst_crs=grid.crs)
    for b in range(data.shape[0]):
        reproject(data[b], out[b], resampling=rs, src_nodata=None, dst_nodata=None, **kw)
    reproject(valid.astype(np.uint8), ok, resampling=Resampling.nearest, src_nodata=None, dst_nodata=None,
              init_dest_nodata=False, **kw)
    v = ok > 0
    out[:, ~v] = 0
    return out, v
