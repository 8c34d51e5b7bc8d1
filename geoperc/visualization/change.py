"""Quick-look PNG for change detection: before | after | prediction | reference."""
import os
from typing import Optional, Sequence

import numpy as np


def _stretch(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C, H, W) any dtype -> (H, W, 3) float in [0, 1] with a 2-98 % stretch per band."""
    img = img.astype(np.float32)
    if img.shape[0] < 3:  # grey (or two bands: the first shown as grey)
        img = np.repeat(img[:1], 3, 0)
    img = img[:3]
    out = np.zeros_like(img)
    for b in range(img.shape[0]):
        v = img[b][valid] if valid.any() else img[b].ravel()
        lo, hi = np.percentile(v, (2, 98)) if v.size else (0, 1)
        out[b] = np.clip((img[b] - lo) / max(hi - lo, 1e-6), 0, 1)
    out[:, ~valid] = 0
    return out.transpose(1, 2, 0)


def change_overlay(before: np.ndarray, after: np.ndarray, pred: np.ndarray, out_png: str,
                   reference: Optional[np.ndarray] = None, valid: Optional[np.ndarray] = None,
                   title: str = '') -> str:
    """Write a 3- or 4-panel PNG. ``pred``/``reference``: (H, W) with 1 = change, 0 = none, other values
    (nodata) shown dark. In the prediction panel, with a reference: green = hit, red = false alarm,
    blue = miss."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    valid = np.ones(pred.shape, bool) if valid is None else valid
    panels = [('before', _stretch(before, valid)), ('after', _stretch(after, valid))]
    p = pred == 1
    if reference is not None:
        r = reference == 1
        rgb = np.zeros(pred.shape + (3,), np.float32)
        rgb[p & r] = (0.1, 0.8, 0.2)
        rgb[p & ~r] = (0.9, 0.1, 0.1)
        rgb[~p & r] = (0.2, 0.4, 1.0)
        panels.append(('prediction (green hit, red false alarm, blue miss)', rgb))
        panels.append(('reference', np.repeat(r[..., None], 3, -1).astype(np.float32)))
    else:
        panels.append(('prediction', np.repeat(p[..., None], 3, -1).astype(np.float32)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.3))
    for ax, (name, im) in zip(axes, panels):
        ax.imshow(im, interpolation='nearest')
        ax.set_title(name, fontsize=9)
        ax.axis('off')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    tmp = out_png + '.tmp.png'
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png


def change_overlay_from_files(before: str, after: str, pred: str, out_png: str,
                              reference: Optional[str] = None, max_size: int = 1024,
                              rgb_bands: Optional[Sequence[int]] = None) -> str:
    """The same from GeoTIFFs, read decimated (works for scenes far larger than memory).

    Date 1 defines the grid, as in tiled inference: date 2, the prediction and the reference are read onto
    date 1's decimated grid (reprojected when their CRS, resolution or extent differ; nearest for the
    masks). Validity is the mask rule of :mod:`geoperc.io.raster` on every input (an alpha band is a mask,
    not a colour). ``rgb_bands``: 1-based bands shown as RGB (default the first three bands read).
    """
    from geoperc.io.quicklook import overview_grid, read_overview_on
    grid = overview_grid(before, max_size)
    bands = None if rgb_bands is None else tuple(rgb_bands)
    a, va = read_overview_on(before, grid, bands)
    b, vb = read_overview_on(after, grid, bands, resampling='bilinear')
    p, vp = read_overview_on(pred, grid, (1,))
    ref = read_overview_on(reference, grid, (1,))[0][0] if reference else None
    for path, v in ((after, vb), (pred, vp)):
        if not v.any():
            from geoperc.errors import RasterError
            raise RasterError(f'{path}: has no valid pixel on the grid of {before} (date 1): it does not overlap '
                              'date 1, or holds only nodata there')
    return change_overlay(a[:3], b[:3], p[0], out_png, ref, va & vb & vp)
