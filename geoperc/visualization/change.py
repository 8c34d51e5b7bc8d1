"""Quick-look PNG for change detection: before | after | prediction | reference."""
import os
from typing import Optional, Sequence

import numpy as np


def _stretch(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C, H, W) any dtype -> (H, W, 3) float in [0, 1] with a 2-98 % stretch per band."""
    img = img.astype(np.float32)
    if img.shape[0] == 1:
        img = np.repeat(img, 3, 0)
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
                              rgb_bands: Sequence[int] = (1, 2, 3)) -> str:
    """The same from GeoTIFFs, read decimated (works for scenes far larger than memory)."""
    from geoperc.io.quicklook import read_overview
    a, va = read_overview(before, max_size, rgb_bands)
    b, vb = read_overview(after, max_size, rgb_bands)
    p, vp = read_overview(pred, max_size, (1,))
    ref = read_overview(reference, max_size, (1,))[0][0] if reference else None
    return change_overlay(a, b, p[0], out_png, ref, va & vb & vp)


def main(argv=None):
    """``geoperc overlay`` / ``tools/change_overlay.py``: quick-look PNG of a change result."""
    import argparse
    p = argparse.ArgumentParser(prog='geoperc overlay', description='before | after | prediction | reference '
                                'PNG of a change-detection result (GeoTIFFs of any size, read decimated)')
    p.add_argument('before', help='date-1 GeoTIFF')
    p.add_argument('after', help='date-2 GeoTIFF')
    p.add_argument('pred', help='change mask GeoTIFF (1 = change), e.g. from tools/infer_geotiff.py')
    p.add_argument('--reference', help='reference label GeoTIFF on the same grid (1 = change)')
    p.add_argument('--bands', default='1,2,3', help='1-based bands shown as RGB (default 1,2,3)')
    p.add_argument('--max-size', type=int, default=1024, help='longer side of each panel in pixels')
    p.add_argument('--out', required=True, help='output PNG')
    args = p.parse_args(argv)
    for f in (args.before, args.after, args.pred, args.reference):
        if f and not os.path.isfile(f):
            raise SystemExit(f'error: {f}: file not found')
    bands = tuple(int(b) for b in args.bands.split(','))
    out = change_overlay_from_files(args.before, args.after, args.pred, args.out, args.reference,
                                    args.max_size, bands)
    print(out)
    return 0
