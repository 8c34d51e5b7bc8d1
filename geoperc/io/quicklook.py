"""Decimated reads for quick looks (PNG overlays, reports): never the full raster in memory."""
import warnings
from typing import Optional, Tuple

import numpy as np


def read_overview(path: str, max_size: int = 1024, bands: Optional[Tuple[int, ...]] = None):
    """Read ``path`` decimated so its longer side is at most ``max_size`` (GDAL uses overviews when the
    file has them). Returns ``(array (C, h, w), valid (h, w) bool)``; band numbers are 1-based."""
    import rasterio
    from rasterio.enums import Resampling
    with rasterio.open(path) as src:
        scale = max(1.0, max(src.width, src.height) / max_size)
        h, w = max(1, round(src.height / scale)), max(1, round(src.width / scale))
        idx = list(bands) if bands else list(range(1, src.count + 1))
        arr = src.read(idx, out_shape=(len(idx), h, w), resampling=Resampling.nearest)
        with warnings.catch_warnings():  # nodata shadowing an alpha band is what we want here
            warnings.simplefilter('ignore', rasterio.errors.NodataShadowWarning)
            mask = src.read_masks(1, out_shape=(h, w), resampling=Resampling.nearest) > 0
    return arr, mask
