"""Legacy names of the data pipeline's raster reads; everything lives in :mod:`geoperc.io.raster`.

The change datasets and loading transforms read through :class:`geoperc.io.raster.GridReader` /
:func:`geoperc.io.raster.read_on_grid` (the grid, window and mask rule inference uses). What remains here
are thin delegations kept for callers that still import them:

* :func:`window_transform` in the ``(transform, col_off, row_off, scale_x, scale_y) -> 6-tuple`` form
  ``geoperc/datasets/transforms/geometric.py`` calls; new code:
  ``geoperc.io.raster.window_transform(transform, (col_off, row_off), scale=(sx, sy))`` (an Affine);
* :func:`raster_grid`, :func:`read_image` and :func:`same_grid`.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from . import raster as _r


def window_transform(transform: Sequence[float], col_off: float, row_off: float,
                     scale_x: float = 1.0, scale_y: float = 1.0) -> tuple:
    """6-tuple affine of the window at ``(col_off, row_off)`` with pixels ``scale_x`` x ``scale_y`` source
    pixels; delegates to :func:`geoperc.io.raster.window_transform`."""
    return tuple(_r.window_transform(transform, (col_off, row_off), (scale_x, scale_y)))[:6]


def raster_grid(path: str) -> Dict:
    """Grid and band description of a raster file as plain values: ``crs`` (WKT or None), ``transform``
    (6-tuple), ``shape``, ``count`` (bands read: alpha mask band excluded), ``dtype``, ``nodata``,
    ``blocks``, ``bands``, ``alpha_band``, ``mask``."""
    with _r.open_raster(path, require_crs=False) as src:
        info = _r.raster_info(src)
        blocks = tuple(src.block_shapes[0])
    return dict(info.grid.to_dict(), count=info.count, dtype=info.dtype, nodata=info.nodata, blocks=blocks,
                bands=info.bands, alpha_band=info.alpha_band, mask=info.mask)


def same_grid(a: Dict, b: Dict, tol: float = 1e-9) -> bool:
    """:func:`geoperc.io.raster.same_grid` of two grid dicts."""
    return _r.same_grid(a, b, tol)


def read_image(path: str) -> Tuple[np.ndarray, Dict]:
    """Every band of a raster ``(C, H, W)`` (native dtype, mask alpha band excluded) and its
    :func:`raster_grid`."""
    with _r.GridReader(path) as rd:
        data, _ = rd.read((0, 0, rd.grid.width, rd.grid.height))
    return data, raster_grid(path)
