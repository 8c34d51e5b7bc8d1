"""A hand-built scene with known pixel and object answers, in several reference formats.

Grid: 100 x 100 pixels of 1 m in EPSG:32632 (or 1e-5 degree in EPSG:4326), columns 0-4 nodata.
Boxes are (col0, row0, col1, row1) in pixels, end-exclusive.

  object  prediction          reference             outcome
  A       10,10-30,30         10,10-30,30           match, IoU 1
  B       50,10-70,30         60,10-80,30           IoU 1/3 < 0.5: false positive + miss
  C       10,60-20,70         -                     false positive
  D       -                   bow-tie in 60,60-70,80 miss (invalid, repaired into 2 triangles, 100 px)
  E       80,80-100,100       80,85-100,100         match, IoU 0.75
  F       -                   0,40-4,50             inside nodata: not evaluated

Pixels: TP 400+200+300 = 900, FP 200+100+100 = 400, FN 200+100 = 300, valid 9500, TN 7900.
Objects: TP 2, FP 2, FN 2 -> P = R = F1 = 0.5, mean IoU of matches (1 + 0.75) / 2 = 0.875.
"""
import os
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

PRED = dict(A=(10, 10, 30, 30), B=(50, 10, 70, 30), C=(10, 60, 20, 70), E=(80, 80, 100, 100))
REF = dict(A=(10, 10, 30, 30), B=(60, 10, 80, 30), E=(80, 85, 100, 100), F=(0, 40, 4, 50))
BOWTIE = [(60, 60), (70, 80), (70, 60), (60, 80), (60, 60)]  # slope-2 diagonals miss every pixel centre
NODATA_COLS = 5
TP, FP, FN, TN = 900, 400, 300, 7900
UTM = dict(crs='EPSG:32632', x0=500000.0, y0=5000100.0, res=1.0)
GEO = dict(crs='EPSG:4326', x0=9.0, y0=45.001, res=1e-5)
QGIS_PY = os.environ.get('GEOPERC_QGIS_PYTHON', '/usr/bin/python3')  # Debian's python3 with PyQGIS
QGIS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'qgis')


def to_map(geom, grid):
    from affine import Affine

    from geoperc.io.vector import pixel_to_map
    return pixel_to_map(geom, Affine(grid['res'], 0, grid['x0'], 0, -grid['res'], grid['y0']))


def ref_polygons(grid=UTM, bowtie=True):
    """Reference polygons (map coordinates of ``grid``) in the order A, B, D, E, F, and their names."""
    names = ['A', 'B', 'D', 'E', 'F'] if bowtie else ['A', 'B', 'E', 'F']
    geoms = []
    for n in names:
        geoms.append(Polygon(BOWTIE) if n == 'D' else shapely.box(*REF[n]))
    return [to_map(g, grid) for g in geoms], names


def write_pred(path, grid=UTM, probs=False, labels=None):
    """The prediction raster: uint8 labels (nodata 255) or float32 probabilities (NaN nodata)."""
    import rasterio
    from rasterio.transform import from_origin
    lab = np.zeros((100, 100), np.uint8)
    for n, (c0, r0, c1, r1) in PRED.items():
        lab[r0:r1, c0:c1] = (labels or {}).get(n, 1)
    if probs:
        arr = np.where(lab > 0, 0.9, 0.1).astype(np.float32)
        arr[:, :NODATA_COLS] = np.nan
        nodata = float('nan')
    else:
        arr = lab
        arr[:, :NODATA_COLS] = 255
        nodata = 255
    with rasterio.open(path, 'w', driver='GTiff', width=100, height=100, count=1, dtype=arr.dtype,
                       crs=grid['crs'], transform=from_origin(grid['x0'], grid['y0'], grid['res'], grid['res']),
                       nodata=nodata) as dst:
        dst.write(arr, 1)
    return path


def pixel_scores():
    p, r = TP / (TP + FP), TP / (TP + FN)
    n = TP + FP + FN + TN
    po = (TP + TN) / n
    pe = ((TN + FP) * (TN + FN) + (TP + FN) * (TP + FP)) / n ** 2
    return dict(precision=p, recall=r, f1=2 * p * r / (p + r), iou=TP / (TP + FP + FN), oa=po,
                kappa=(po - pe) / (1 - pe))


def check_known_answer(m, approx_iou=1e-9):
    """Assert the metrics dict of the hand scene."""
    px, ob = m['pixel'], m['object']
    assert (px['tp'], px['fp'], px['fn']) == (TP, FP, FN)
    assert px['pixels'] == TP + FP + FN + TN
    for k, v in pixel_scores().items():
        assert px[k] == pytest.approx(v, abs=1e-12), k
    assert (ob['tp'], ob['fp'], ob['fn']) == (2, 2, 2)
    assert ob['precision'] == ob['recall'] == ob['f1'] == 0.5
    assert ob['iou'] == pytest.approx(0.875, abs=approx_iou)
    assert m['notes']['reference']['not_scored_objects'] == 1


@pytest.fixture(scope='session')
def scene_kit():
    return SimpleNamespace(ref_polygons=ref_polygons, write_pred=write_pred, to_map=to_map, check=check_known_answer,
                           UTM=UTM, GEO=GEO)


@pytest.fixture
def hand_scene(tmp_path, scene_kit):
    return SimpleNamespace(dir=tmp_path, pred=write_pred(str(tmp_path / 'pred.tif')), **vars(scene_kit))


def qgis_available():
    """(True, '') when Debian's system python3 can import PyQGIS, else (False, reason)."""
    if not os.path.exists(QGIS_PY):
        return False, f'{QGIS_PY} not found (install Debian packages qgis python3-qgis qgis-providers)'
    try:
        r = subprocess.run([QGIS_PY, '-c', 'import qgis.core'], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, QT_QPA_PLATFORM='offscreen'))
    except Exception as e:  # pragma: no cover
        return False, f'cannot run {QGIS_PY}: {e}'
    if r.returncode:
        return False, (f'{QGIS_PY} cannot import qgis.core (install Debian packages qgis python3-qgis '
                       f'qgis-providers): {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""}')
    return True, ''


def run_qgis(script, *args, timeout=180):
    """Run a helper of tests/qgis/ with Debian's PyQGIS, headless; returns its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'VIRTUAL_ENV'))}
    env.update(QT_QPA_PLATFORM='offscreen', XDG_RUNTIME_DIR=env.get('XDG_RUNTIME_DIR', '/tmp/runtime-qgis'))
    os.makedirs(env['XDG_RUNTIME_DIR'], mode=0o700, exist_ok=True)
    r = subprocess.run([QGIS_PY, os.path.join(QGIS_DIR, script), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f'{script} failed:\n{r.stdout}\n{r.stderr}'
    return r.stdout


@pytest.fixture(scope='session')
def qgis():
    ok, why = qgis_available()
    if not ok:
        pytest.skip(why)
    return SimpleNamespace(run=run_qgis, gdal=shutil.which('gdalinfo'))
