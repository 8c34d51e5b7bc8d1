"""Legacy name kept for ``geoperc/datasets/transforms/geometric.py``; raster reads live in
:mod:`geoperc.io.raster` (the change datasets and loading transforms read through
:class:`geoperc.io.raster.GridReader`, the reader tiled inference uses).

:func:`window_transform` here is the ``(transform, col_off, row_off, scale_x, scale_y) -> 6-tuple`` call
form of :func:`geoperc.io.raster.window_transform` (one implementation); new code calls
``geoperc.io.raster.window_transform(transform, (col_off, row_off), scale=(sx, sy))``, which returns an
Affine.
"""
from typing import Sequence

from . import raster as _r


def window_transform(transform: Sequence[float], col_off: float, row_off: float,
                     scale_x: float = 1.0, scale_y: float = 1.0) -> tuple:
    """6-tuple affine of the window at ``(col_off, row_off)`` with pixels ``scale_x`` x ``scale_y`` source
    pixels; delegates to :func:`geoperc.io.raster.window_transform`."""
    return tuple(_r.window_transform(transform, (col_off, row_off), (scale_x, scale_y)))[:6]
