"""A synthetic bi-temporal scene: objects appear between two dates, under pseudo-changes.

Date 2 differs from date 1 by (a) new objects (rotated rectangles of a "roof" colour: the real change),
(b) a seasonal per-band gain/offset and an illumination gradient, (c) sensor noise -- (b) and (c) are
pseudo-changes a change detector must ignore. Some objects exist on both dates (no change).
"""
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


def _smooth_noise(rng, H, W, bands, scale=32):
    """Low-frequency texture, (bands, H, W) in [0, 1]."""
    import cv2
    h, w = max(2, H // scale), max(2, W // scale)
    small = rng.random((bands, h, w)).astype(np.float32)
    return np.stack([cv2.resize(b, (W, H), interpolation=cv2.INTER_CUBIC) for b in small]).clip(0, 1)


def _rotated_rect(cx, cy, w, h, angle):
    from shapely.geometry import Polygon
    c, s = np.cos(angle), np.sin(angle)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return Polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts])


def _burn_ids(polys, H, W, first):
    """(H, W) int32: ``first + i`` inside polygon i, 0 elsewhere."""
    from rasterio import features
    if not polys:
        return np.zeros((H, W), np.int32)
    return features.rasterize([(p, first + i) for i, p in enumerate(polys)], out_shape=(H, W), fill=0,
                              dtype='int32')


def synth_change_pair(rng: np.random.Generator, H: int = 64, W: int = 64, bands: int = 3,
                      n_new: Tuple[int, int] = (1, 4), n_static: Tuple[int, int] = (0, 3),
                      size_range: Tuple[float, float] = (0.12, 0.3), pseudo_change: float = 1.0,
                      size_px: Optional[Tuple[float, float]] = None):
    """One pair: (img1 (C,H,W) uint8, img2 (C,H,W) uint8, label (H,W) uint8 in {0,1}, new polygons in
    pixel coordinates (col, row)).

    Object sides are ``size_range`` x the short image side, or ``size_px`` pixels when given (use it for
    large scenes). Objects never touch each other (rejection sampling with a 2 px gap), so every new
    polygon is exactly one connected change region of the label: the reference polygons and the label
    raster agree object for object."""
    base = 60 + 120 * _smooth_noise(rng, H, W, bands, scale=max(4, H // 4))
    placed = []

    def objects(n):
        out = []
        for _ in range(n):
            for _try in range(50):
                if size_px is not None:
                    w, h = rng.uniform(*size_px, size=2)
                else:
                    w, h = rng.uniform(*size_range, size=2) * min(H, W)
                cx, cy = rng.uniform(w / 2, W - w / 2), rng.uniform(h / 2, H - h / 2)
                poly = _rotated_rect(cx, cy, w, h, rng.uniform(0, np.pi))
                if not any(poly.distance(q) < 2 for q in placed):
                    placed.append(poly)
                    out.append(poly)
                    break
        return out

    static = objects(int(rng.integers(n_static[0], n_static[1] + 1)))
    new = objects(int(rng.integers(n_new[0], n_new[1] + 1)))
    # every object has its own roof colour (bright or dark), the same on both dates up to radiometry
    roofs = [rng.uniform(170, 250, size=bands) if rng.random() < 0.5 else rng.uniform(10, 70, size=bands)
             for _ in range(len(static) + len(new))]
    ids_static = _burn_ids(static, H, W, 1)
    ids_new = _burn_ids(new, H, W, len(static) + 1)
    m_static = ids_static > 0
    m_new = (ids_new > 0) & ~m_static
    palette = np.stack([np.zeros(bands)] + roofs).T  # (bands, 1 + n): index 0 = background
    # date 2: seasonal gain/offset per band + illumination gradient + noise (pseudo-changes)
    gain = 1 + pseudo_change * rng.uniform(-0.25, 0.25, size=(bands, 1, 1))
    offset = pseudo_change * rng.uniform(-25, 25, size=(bands, 1, 1))
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    grad = 1 + pseudo_change * 0.15 * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy)
    img1 = base.copy()
    img1[:, m_static] = palette[:, ids_static[m_static]]
    img2 = base * gain * grad + offset
    img2[:, m_static] = (palette[:, ids_static[m_static]] * gain[:, :, 0] + offset[:, :, 0])
    img2[:, m_new] = (palette[:, ids_new[m_new]] * gain[:, :, 0] + offset[:, :, 0]) * rng.uniform(0.9, 1.1)
    noise = 4 * pseudo_change
    img1 = img1 + rng.normal(0, noise, img1.shape)
    img2 = img2 + rng.normal(0, noise, img2.shape)
    to8 = lambda a: np.clip(a, 1, 255).astype(np.uint8)  # 0 is reserved for nodata
    return to8(img1), to8(img2), m_new.astype(np.uint8), new


@dataclass
class ChangeScene:
    date1: str
    date2: str
    label: str
    reference: str
    reference_layer: str
    crs: str
    transform: tuple
    shape: Tuple[int, int]
    bands: int
    nodata: int


def make_change_scene(out_dir: str, size: Tuple[int, int] = (384, 448), bands: int = 4,
                      crs: str = 'EPSG:32632', res: float = 0.5, origin=(500000.0, 5000000.0),
                      nodata: int = 0, seed: int = 0, blocksize: int = 128,
                      nodata_corner: bool = True) -> ChangeScene:
    """Write a two-date multi-band GeoTIFF scene in a projected CRS with nodata, its label raster
    (0 unchanged, 1 changed, 255 no data) and the reference polygons of the new objects (GeoPackage,
    layer ``changes``, field ``class``). Files: ``date1.tif``, ``date2.tif``, ``label.tif``,
    ``reference.gpkg``."""
    import rasterio
    from rasterio.transform import from_origin

    from geoperc.io.vector import pixel_to_map, write_vector

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    H, W = size
    n_new = max(4, H * W // 9000)
    img1, img2, label, polys = synth_change_pair(rng, H, W, bands, n_new=(n_new, n_new),
                                                 n_static=(n_new // 2, n_new // 2), size_px=(14, 40))
    if nodata_corner:  # a no-data wedge at the top-left of date 2 (e.g. a swath edge)
        yy, xx = np.mgrid[0:H, 0:W]
        wedge = (xx + yy) < min(H, W) // 5
        img2[:, wedge] = nodata
        img1[:, :, :3] = nodata  # and a thin strip missing on date 1
        invalid = wedge.copy()
        invalid[:, :3] = True
        label = np.where(invalid, 255, label).astype(np.uint8)
    transform = from_origin(origin[0], origin[1], res, res)
    profile = dict(driver='GTiff', height=H, width=W, crs=crs, transform=transform, tiled=True,
                   blockxsize=blocksize, blockysize=blocksize, compress='deflate')
    paths = {}
    for name, arr, nd in (('date1', img1, nodata), ('date2', img2, nodata), ('label', label[None], 255)):
        p = os.path.join(out_dir, f'{name}.tif')
        with rasterio.open(p, 'w', count=arr.shape[0], dtype=arr.dtype, nodata=nd, **profile) as dst:
            dst.write(arr)
        paths[name] = p
    ref = os.path.join(out_dir, 'reference.gpkg')
    geoms = [pixel_to_map(p, transform) for p in polys]
    write_vector(ref, geoms, crs, {'class': ['building'] * len(geoms)}, layer='changes')
    return ChangeScene(paths['date1'], paths['date2'], paths['label'], ref, 'changes', crs,
                       tuple(transform)[:6], (H, W), bands, nodata)


# ------------------------------------------------------------------- rasters and vectors in real-world forms
def write_geotiff(path: str, arr: np.ndarray, crs: str = 'EPSG:32632', transform=None, nodata=None,
                  alpha: Optional[np.ndarray] = None, mask: Optional[np.ndarray] = None, jpeg: bool = False,
                  block: int = 32, **profile) -> str:
    """Write ``(C, H, W)`` as a tiled GeoTIFF in one of the forms real files come in.

    Args:
        alpha: ``(H, W)`` uint8 written as an extra *alpha* band (``PHOTOMETRIC=RGB``, ``ALPHA=YES``): a drone
            orthomosaic / ``gdalwarp -dstalpha`` output (0 = no data).
        mask: ``(H, W)`` bool written as an internal per-dataset TIFF mask (``GDAL_TIFF_INTERNAL_MASK``), as
            JPEG-compressed COGs carry (True = data).
        jpeg: JPEG (YCbCr) compression for 3-band uint8 (lossy; use with ``mask``).
    """
    import rasterio
    from rasterio.transform import from_origin
    arr = np.asarray(arr)
    H, W = arr.shape[1:]
    prof = dict(driver='GTiff', width=W, height=H, count=arr.shape[0] + (alpha is not None), dtype=arr.dtype.name,
                crs=crs, transform=transform or from_origin(500000.0, 5000000.0, 0.5, 0.5), tiled=True,
                blockxsize=block, blockysize=block, nodata=nodata)
    if alpha is not None:
        prof.update(photometric='RGB' if arr.shape[0] == 3 else 'MINISBLACK', alpha='YES')
    if jpeg:
        prof.update(compress='jpeg', photometric='ycbcr')
    else:
        prof.setdefault('compress', 'deflate')
    prof.update(profile)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, 'w', **prof) as dst:
            dst.write(arr, list(range(1, arr.shape[0] + 1)))
            if alpha is not None:
                from rasterio.enums import ColorInterp
                dst.write(np.asarray(alpha, arr.dtype), arr.shape[0] + 1)
                ci = list(dst.colorinterp)
                ci[-1] = ColorInterp.alpha
                dst.colorinterp = ci
            if mask is not None:
                dst.write_mask(np.asarray(mask, bool))
    return path


def corrupt_shapefile_record(path: str, index: int, how: str = 'points') -> None:
    """Overwrite bytes of record ``index`` (0-based) of a polygon Shapefile in place, the way a damaged
    ``.shp`` looks (QGIS's training ``water.shp``): ``'points'`` shrinks a ring's point count so the ring
    no longer closes (GDAL reads it, GEOS refuses it); ``'header'`` writes a point count larger than the
    record (GDAL: "Corrupted .shp file", no geometry)."""
    import struct
    shx = path[:-4] + '.shx'
    with open(shx, 'rb') as f:
        f.seek(100 + 8 * index)
        off = struct.unpack('>i', f.read(4))[0] * 2 + 8  # record content after its 8-byte header
    with open(path, 'r+b') as f:
        f.seek(off + 40)  # shape type 4, bbox 32, numParts 4 -> numPoints
        if how == 'points':
            f.write(struct.pack('<i', 2))
        elif how == 'header':
            f.seek(off + 36)
            f.write(struct.pack('<ii', 10 ** 6, 5 * 10 ** 7))
        else:
            raise ValueError(f'unknown corruption {how!r}')
