"""Raster reads for multi-date datasets: whole images, windows on a reference grid, grid alignment.

The change datasets and their loading transforms call these functions; they are the only place where
the data pipeline opens a raster or does affine arithmetic (ARCHITECTURE.md, "one rule for data
flow").

A *grid* is ``dict(crs=WKT or None, transform=6-tuple, shape=(H, W))``. A *window* is
``(col_off, row_off, width, height)`` in pixels of a grid; it may extend past the grid (boundless
read): pixels outside are filled and reported invalid.

When a raster's grid differs from the reference grid (another CRS, resolution or origin, e.g. the
second date of a pair), it is read through a ``WarpedVRT`` onto the reference grid, so both dates of
a window cover the same ground pixel for pixel.
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

Window = Tuple[int, int, int, int]


def _affine(transform):
    from affine import Affine
    return transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])


def raster_grid(path: str) -> Dict:
    """The grid and band description of a raster file.

    Returns:
        dict: ``crs`` (WKT or None), ``transform`` (6-tuple), ``shape`` (H, W), ``count``,
        ``dtype`` (str), ``nodata`` (number or None), ``blocks`` (block height, width of band 1).
    """
    import rasterio
    with rasterio.open(path) as src:
        return dict(crs=src.crs.to_wkt() if src.crs else None,
                    transform=tuple(src.transform)[:6],
                    shape=(src.height, src.width),
                    count=src.count,
                    dtype=src.dtypes[0],
                    nodata=src.nodata,
                    blocks=tuple(src.block_shapes[0]))


def same_grid(a: Dict, b: Dict, tol: float = 1e-9) -> bool:
    """True when two grids have the same shape, CRS and transform (so no resampling is needed)."""
    if tuple(a['shape']) != tuple(b['shape']):
        return False
    if not np.allclose(a['transform'], b['transform'], rtol=0, atol=tol * max(1.0, abs(a['transform'][0]))):
        return False
    if (a['crs'] is None) != (b['crs'] is None):
        return False
    if a['crs'] is None:
        return True
    from rasterio.crs import CRS
    return CRS.from_user_input(a['crs']) == CRS.from_user_input(b['crs'])


def window_transform(transform: Sequence[float], col_off: float, row_off: float,
                     scale_x: float = 1.0, scale_y: float = 1.0) -> tuple:
    """Affine of a window whose top-left pixel is ``(col_off, row_off)`` of ``transform``, with pixels
    ``scale_x`` / ``scale_y`` times the source pixel size (after a resize by 1/scale)."""
    from affine import Affine
    t = _affine(transform) @ Affine.translation(col_off, row_off) @ Affine.scale(scale_x, scale_y)
    return tuple(t)[:6]


def read_image(path: str) -> Tuple[np.ndarray, Dict]:
    """Read every band of a raster: ``(C, H, W)`` in its native dtype, and its :func:`raster_grid`."""
    import rasterio
    with rasterio.open(path) as src:
        arr = src.read()
    return arr, raster_grid(path)


def _clip(window: Window, shape) -> Optional[Tuple[int, int, int, int]]:
    """Intersection of a window with a grid of ``shape`` as (c0, r0, c1, r1), or None."""
    c, r, w, h = window
    H, W = shape
    c0, r0, c1, r1 = max(c, 0), max(r, 0), min(c + w, W), min(r + h, H)
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, r0, c1, r1


def read_window(path: str, window: Window, ref: Optional[Dict] = None, fill: Optional[float] = None,
                resampling: str = 'bilinear', bands: Optional[Sequence[int]] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Read a window of ``path`` on the reference grid ``ref`` (default: the file's own grid).

    Args:
        path: raster file.
        window: ``(col_off, row_off, width, height)`` in pixels of ``ref``; may extend past it.
        ref: reference grid (``dict(crs, transform, shape)``). If the file's grid differs, the file is
            warped onto ``ref`` with ``resampling`` (use ``'nearest'`` for labels).
        fill: value for pixels outside the raster / without data. Default: the file's nodata, else 0.
        resampling: rasterio resampling name, used only when warping.
        bands: 1-based band indexes (default all).

    Returns:
        tuple: ``(data (C, h, w) native dtype, valid (h, w) bool)``; ``valid`` is False outside the
        raster and where the file's mask (nodata / alpha / internal mask) says no data.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NodataShadowWarning
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window as RWindow

    c, r, w, h = (int(v) for v in window)
    with rasterio.open(path) as src:
        own = dict(crs=src.crs.to_wkt() if src.crs else None, transform=tuple(src.transform)[:6],
                   shape=(src.height, src.width))
        ref = ref or own
        idx = list(bands) if bands is not None else list(range(1, src.count + 1))
        if fill is None:
            fill = src.nodata if src.nodata is not None else 0
        out = np.full((len(idx), h, w), fill, dtype=src.dtypes[0])
        valid = np.zeros((h, w), dtype=bool)
        box = _clip((c, r, w, h), ref['shape'])
        if box is None:
            return out, valid
        c0, r0, c1, r1 = box
        rw = RWindow(c0, r0, c1 - c0, r1 - r0)
        if same_grid(own, ref):
            ds, vrt = src, None
        else:
            if src.crs is None or ref['crs'] is None:
                raise ValueError(f'{path}: its grid differs from the reference grid and one of them has '
                                 f'no CRS, so it cannot be aligned')
            opts = dict(nodata=fill) if src.nodata is not None else dict(add_alpha=True)
            vrt = WarpedVRT(src, crs=ref['crs'], transform=_affine(ref['transform']),
                            width=ref['shape'][1], height=ref['shape'][0],
                            resampling=getattr(Resampling, resampling), **opts)
            ds = vrt
        try:
            with warnings.catch_warnings():
                # 4-band uint8 files get an alpha interpretation that their nodata shadows: fine, the
                # nodata value is what geoperc uses
                warnings.simplefilter('ignore', NodataShadowWarning)
                data = ds.read(idx, window=rw)
                # the dataset mask: a pixel is valid unless every band is nodata (or alpha / the
                # internal mask says so), the same rule as the data preprocessor's
                mask = ds.dataset_mask(window=rw) > 0
        finally:
            if vrt is not None:
                vrt.close()
        data = np.where(mask[None], data, np.asarray(fill, dtype=data.dtype))
        out[:, r0 - r:r1 - r, c0 - c:c1 - c] = data
        valid[r0 - r:r1 - r, c0 - c:c1 - c] = mask
    return out, valid
