"""Helpers of the inference tests: tiny georeferenced rasters for the inference tests (written by code, a few hundred pixels)."""
import glob
import hashlib
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W = 300, 437           # not divisible by the tile sizes used
CRS = 'EPSG:32632'
ORIGIN = (500000.0, 5000000.0)
RES = 0.5


def write_raster(path, arr, crs=CRS, transform=None, nodata=0, block=64, dtype=None):
    """Write ``(C, H, W)`` to a tiled GeoTIFF; ``crs=None`` writes one without a CRS."""
    import rasterio
    from rasterio.transform import from_origin
    arr = np.asarray(arr)
    transform = transform or from_origin(ORIGIN[0], ORIGIN[1], RES, RES)
    prof = dict(driver='GTiff', width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                dtype=dtype or arr.dtype.name, transform=transform, nodata=nodata, compress='deflate')
    if block:
        prof.update(tiled=True, blockxsize=block, blockysize=block)
    if crs is not None:
        prof['crs'] = crs
    with rasterio.open(path, 'w', **prof) as d:
        d.write(arr)
    return path


def scene_array(seed=0, bands=3, h=H, w=W, nodata_box=True):
    """uint8 bands in [1, 254] with a nodata (0) rectangle and a nodata corner."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 255, (bands, h, w), dtype=np.uint8)
    if nodata_box:
        a[:, 40:90, 120:260] = 0
        a[:, -25:, :30] = 0
    return a


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_py(args, timeout=120, env=None, **kw):
    """Run ``python args...`` with the repo on the path; returns the CompletedProcess."""
    e = dict(os.environ)
    e['PYTHONPATH'] = os.pathsep.join([ROOT] + [p for p in e.get('PYTHONPATH', '').split(os.pathsep) if p])
    e.update(env or {})
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=kw.pop('cwd', ROOT), **kw)



def wait_rows(out, n, timeout=20, pattern='r*.npy'):
    """Wait until ``n`` finished units of ``out`` are in its partial folder (or ``timeout`` s)."""
    deadline = time.time() + timeout
    while len(glob.glob(os.path.join(out + '.partial', 'rows', pattern))) < n and time.time() < deadline:
        time.sleep(0.02)
