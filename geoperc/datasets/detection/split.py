"""DOTA image splitting, patch-result merging and DOTA-server submission files.

Splitting has the semantics of mmrotate's ``tools/data/dota/split/img_split.py`` (read from its code):

* windows: for each ``size`` / ``gap`` (each divided by every ``rate``: ``int(size / rate)``), step
  ``size - gap``; along an axis of length ``L`` there are ``1`` windows if ``L <= size`` else
  ``ceil((L - size) / step + 1)``, starting at ``k * step``, the last moved back to ``L - size`` when it
  would pass the edge; windows whose part inside the image covers at most ``img_rate_thr`` (0.6) of
  their area are dropped, unless no window passes, in which case the best ones are kept;
* objects: an object (its polygon) goes to a window when ``area(polygon & window) / area(polygon) >=
  iof_thr`` (0.7); it keeps its full polygon, shifted to patch coordinates; an object not wholly inside
  (iof < 1) is written with difficulty ``2`` (mmrotate's "truncated" mark);
* patches: ``<id>__<size>__<x>___<y>.<ext>``, padded to ``size`` x ``size`` with ``padding_value`` (unless
  ``no_padding``); labels in DOTA ``labelTxt`` form (``x1 y1 ... x4 y4 class difficulty``); the patch is
  not resized (a rate only changes the window size; the training pipeline's resize scales it).

Images are read window by window through rasterio (:func:`geoperc.io.raster.read_window`): PNG / JPEG
/ TIFF alike, so a 50k x 50k GeoTIFF orthomosaic never sits in memory. A GeoTIFF split to ``.tif``
patches keeps its georeferencing (each patch gets its window's transform and the CRS). Work is spread
over processes by chunks of windows (one big scene uses every process); every file is written to a
temporary name and renamed, and existing patches are skipped, so an interrupted split resumes.

Merging (mmrotate ``DOTAMetric`` with ``merge_patches=True``): the offset is read back from the patch id
(``__<x>___<y>``), boxes are shifted to the full image and class-wise rotated NMS (IoU 0.1) runs per
image. :func:`write_dota_submission` writes the DOTA server's Task 1 files ``Task1_<class>.txt`` (one
line per detection: ``image score x1 y1 x2 y2 x3 y3 x4 y4``).
"""
import math
import os
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from geoperc.errors import DatasetError
from geoperc.io.atomic import atomic_write

__all__ = ['sliding_windows', 'poly_window_iof', 'window_objects', 'split_image', 'split_dataset',
           'patch_id', 'parse_patch_id', 'merge_patch_results', 'write_dota_submission', 'expand_sizes']

_PATCH_RE = re.compile(r'^(?P<ori>.+?)__(?P<size>\d+)__(?P<x>-?\d+)___(?P<y>-?\d+)$')


def expand_sizes(sizes: Sequence[int], gaps: Sequence[int], rates: Sequence[float] = (1.0,)
                 ) -> Tuple[List[int], List[int]]:
    """mmrotate: ``sizes += [int(size / rate) for size in sizes]`` for each rate (gaps alike)."""
    if len(sizes) != len(gaps):
        raise ValueError(f'sizes {list(sizes)} and gaps {list(gaps)} must have the same length')
    s, g = [], []
    for rate in rates:
        s += [int(size / rate) for size in sizes]
        g += [int(gap / rate) for gap in gaps]
    return s, g


def sliding_windows(width: int, height: int, sizes: Sequence[int], gaps: Sequence[int],
                    img_rate_thr: float = 0.6, eps: float = 0.01) -> np.ndarray:
    """``(N, 4)`` int64 windows ``(x0, y0, x1, y1)`` (see the module docstring)."""
    wins = []
    for size, gap in zip(sizes, gaps):
        if size <= gap:
            raise ValueError(f'window size {size} must exceed the gap {gap}')
        step = size - gap
        starts = []
        for L in (width, height):
            n = 1 if L <= size else math.ceil((L - size) / step + 1)
            st = [step * i for i in range(n)]
            if len(st) > 1 and st[-1] + size > L:
                st[-1] = L - size
            starts.append(st)
        xs, ys = starts
        start = np.array([(x, y) for x in xs for y in ys], np.int64)
        wins.append(np.concatenate([start, start + size], axis=1))
    wins = np.concatenate(wins, axis=0)
    inside = wins.copy()
    inside[:, 0::2] = np.clip(inside[:, 0::2], 0, width)
    inside[:, 1::2] = np.clip(inside[:, 1::2], 0, height)
    rates = ((inside[:, 2] - inside[:, 0]) * (inside[:, 3] - inside[:, 1])) / \
        ((wins[:, 2] - wins[:, 0]) * (wins[:, 3] - wins[:, 1]))
    if not (rates > img_rate_thr).any():
        rates[np.abs(rates - rates.max()) < eps] = 1
    return wins[rates > img_rate_thr]


def poly_window_iof(polys: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """``(N, 8)`` polygons x ``(M, 4)`` windows -> ``(N, M)`` ``area(poly & window) / area(poly)``."""
    import shapely
    polys = np.asarray(polys, np.float64).reshape(-1, 8)
    windows = np.asarray(windows, np.float64).reshape(-1, 4)
    if not len(polys) or not len(windows):
        return np.zeros((len(polys), len(windows)))
    ring = polys.reshape(-1, 4, 2)
    p = shapely.polygons(np.concatenate([ring, ring[:, :1]], 1))
    bad = ~shapely.is_valid(p)
    if bad.any():
        p[bad] = shapely.make_valid(p[bad])
    w = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
    out = np.zeros((len(polys), len(windows)))
    tree = shapely.STRtree(w)
    pi, wi = tree.query(p, predicate='intersects')
    if len(pi):
        inter = shapely.area(shapely.intersection(p[pi], w[wi]))
        out[pi, wi] = inter / np.clip(shapely.area(p[pi]), 1e-6, None)
    return out


def window_objects(polys: np.ndarray, windows: np.ndarray, iof_thr: float = 0.7
                   ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per window: ``(indices of its objects, truncated flags)`` (``iof >= iof_thr``; truncated: iof < 1)."""
    iof = poly_window_iof(polys, windows)
    out = []
    for j in range(len(windows)):
        idx = np.flatnonzero(iof[:, j] >= iof_thr)
        out.append((idx, iof[idx, j] < 1))
    return out


def patch_id(img_id: str, size: int, x: int, y: int) -> str:
    return f'{img_id}__{size}__{x}___{y}'


def parse_patch_id(pid: str) -> Tuple[str, int, int]:
    """``'P0003__1024__824___0'`` -> ``('P0003', 824, 0)``."""
    m = _PATCH_RE.match(pid)
    if m is None:
        raise DatasetError(f'{pid!r} is not a DOTA patch id (<image>__<size>__<x>___<y>)')
    return m.group('ori'), int(m.group('x')), int(m.group('y'))


def _fmt(v: float) -> str:
    return f'{v:.1f}' if float(v).is_integer() else f'{v:.4f}'.rstrip('0')


def _write_patch(path: str, data: np.ndarray, src, window, georef: bool) -> None:
    """``data`` (C, h, w) -> ``path``: GeoTIFF through rasterio (with the window's georeferencing when
    ``georef``), PNG / JPEG through OpenCV (1, 3 or 4 bands, R G B order in, written as the file wants)."""
    ext = osp.splitext(path)[1].lower()
    tmp = f'{path[:-len(ext)]}.tmp{os.getpid()}{ext}'
    if ext in ('.tif', '.tiff'):
        import rasterio
        from rasterio.windows import transform as wtransform
        prof = dict(driver='GTiff', height=data.shape[1], width=data.shape[2], count=data.shape[0],
                    dtype=data.dtype.name, compress='deflate')
        if georef and src.crs is not None:
            prof.update(crs=src.crs, transform=wtransform(window, src.transform))
        if src.nodata is not None:
            prof['nodata'] = src.nodata
        with rasterio.open(tmp, 'w', **prof) as dst:
            dst.write(data)
    else:
        import cv2
        if data.shape[0] not in (1, 3, 4):
            raise DatasetError(f'{src.name}: {data.shape[0]} bands cannot go into {ext} patches; split to .tif')
        img = data.transpose(1, 2, 0)
        if img.shape[2] == 3:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGBA2BGRA)
        if not cv2.imwrite(tmp, np.ascontiguousarray(img)):
            raise OSError(f'could not write {tmp}')
    os.replace(tmp, path)


def _split_task(task: dict) -> int:
    """Worker: cut one chunk of windows of one image; returns the patches written."""
    from rasterio.windows import Window

    from geoperc.io.raster import open_raster, read_window
    written = 0
    polys, names, diffs = task['polys'], task['names'], task['diffs']
    with open_raster(task['img_path'], require_crs=False) as src:
        for (x0, y0, x1, y1), (idx, trunc) in zip(task['windows'], task['objects']):
            pid = patch_id(task['img_id'], x1 - x0, x0, y0)
            img_out = osp.join(task['img_dir'], pid + task['ext'])
            ann_out = osp.join(task['ann_dir'], pid + '.txt') if task['ann_dir'] else None
            if task['skip_existing'] and osp.isfile(img_out) and (ann_out is None or osp.isfile(ann_out)):
                continue
            if task['no_padding']:
                w = Window(x0, y0, min(x1, src.width) - x0, min(y1, src.height) - y0)
                data = read_window(src, w, boundless=False)
            else:
                w = Window(x0, y0, x1 - x0, y1 - y0)
                fill = task['padding_value']
                data = read_window(src, w, boundless=True, fill=fill if np.isscalar(fill) else 0)
                if not np.isscalar(fill):  # one value per band, outside the image only
                    inside = np.zeros(data.shape[1:], bool)
                    inside[:max(0, min(y1, src.height) - y0), :max(0, min(x1, src.width) - x0)] = True
                    for b, v in enumerate(fill[:data.shape[0]]):
                        data[b][~inside] = v
            _write_patch(img_out, data, src, w, task['georef'])
            if ann_out is not None:
                lines = []
                for i, t in zip(idx, trunc):
                    p = polys[i].reshape(4, 2) - np.array([x0, y0])
                    d = '2' if t else str(int(diffs[i]))
                    lines.append(' '.join(_fmt(v) for v in p.reshape(-1)) + f' {names[i]} {d}')
                atomic_write(ann_out, ''.join(ln + '\n' for ln in lines))
            written += 1
    return written


def split_image(img_path: str, out_dir: str, objects: Optional[Sequence[Tuple[np.ndarray, str, int]]] = None,
                sizes: Sequence[int] = (1024,), gaps: Sequence[int] = (200,), rates: Sequence[float] = (1.0,),
                img_rate_thr: float = 0.6, iof_thr: float = 0.7, padding_value=(104, 116, 124),
                no_padding: bool = False, ext: str = '.png', skip_existing: bool = True,
                chunk: int = 64, img_id: Optional[str] = None) -> List[dict]:
    """Plan the patches of one image (windows, objects) as worker tasks; see :func:`split_dataset`.

    Args:
        objects: ``(polygon (8,), class name, difficulty)`` in image pixels (None: no labels written).
        padding_value: one value, or one per band (mmrotate's configs: 104, 116, 124).
    """
    from geoperc.io.raster import open_raster
    with open_raster(img_path, require_crs=False) as src:
        width, height = src.width, src.height
    s, g = expand_sizes(sizes, gaps, rates)
    windows = sliding_windows(width, height, s, g, img_rate_thr)
    objects = list(objects or [])
    polys = np.array([o[0] for o in objects], np.float64).reshape(-1, 8)
    empty = (np.zeros(0, int), np.zeros(0, bool))
    objs = window_objects(polys, windows, iof_thr) if objects else [empty] * len(windows)
    img_id = img_id or osp.splitext(osp.basename(img_path))[0]
    img_dir = osp.join(out_dir, 'images')
    ann_dir = osp.join(out_dir, 'labelTxt')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    ext = ext if ext.startswith('.') else '.' + ext
    pv = padding_value if np.isscalar(padding_value) else list(padding_value)
    tasks = []
    for k in range(0, len(windows), chunk):
        tasks.append(dict(img_path=img_path, img_id=img_id, windows=windows[k:k + chunk].tolist(),
                          objects=objs[k:k + chunk], polys=polys, names=[o[1] for o in objects],
                          diffs=[o[2] for o in objects], img_dir=img_dir, ann_dir=ann_dir, ext=ext,
                          padding_value=pv, no_padding=no_padding, skip_existing=skip_existing,
                          georef=ext in ('.tif', '.tiff')))
    return tasks


def split_dataset(img_dir: str, out_dir: str, ann_dir: Optional[str] = None, nproc: int = 1,
                  progress: bool = True, img_suffix: Sequence[str] = ('.png', '.jpg', '.tif', '.tiff', '.bmp'),
                  **kwargs) -> Dict[str, int]:
    """Split every image of ``img_dir`` (labels from the DOTA ``labelTxt`` folder ``ann_dir``) into
    ``out_dir/images`` and ``out_dir/labelTxt``.

    Args:
        nproc: worker processes (chunks of windows are spread over them).
        progress: tqdm bar over windows.
        **kwargs: :func:`split_image` arguments (sizes, gaps, rates, img_rate_thr, iof_thr, padding_value,
            no_padding, ext, skip_existing, chunk).

    Returns:
        ``dict(images, windows, written)``.

    Raises:
        DatasetError: a missing folder, no image, or an unreadable label file.
    """
    from .dota import parse_dota_txt
    if not osp.isdir(img_dir):
        raise DatasetError(f'{img_dir}: image folder not found')
    if ann_dir is not None and not osp.isdir(ann_dir):
        raise DatasetError(f'{ann_dir}: label folder not found')
    imgs = sorted(f for f in os.listdir(img_dir) if osp.splitext(f)[1].lower() in img_suffix
                  and not f.startswith('.') and '.tmp' not in f)
    if not imgs:
        raise DatasetError(f'{img_dir}: no images ({", ".join(img_suffix)})')
    tasks = []
    for f in imgs:
        stem = osp.splitext(f)[0]
        objects = None
        if ann_dir is not None:
            txt = osp.join(ann_dir, stem + '.txt')
            if osp.isfile(txt):
                try:
                    objects = parse_dota_txt(txt)['objects']
                except ValueError as e:
                    raise DatasetError(str(e)) from e
            else:
                objects = []
        tasks += split_image(osp.join(img_dir, f), out_dir, objects=objects, **kwargs)
        if ann_dir is None:
            for t in tasks:
                if t['img_id'] == stem:
                    t['ann_dir'] = None
    total = sum(len(t['windows']) for t in tasks)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit='win', desc=f'split {osp.basename(osp.normpath(img_dir))}')
    written = 0
    if nproc > 1 and len(tasks) > 1:
        import multiprocessing as mp
        with mp.get_context('spawn').Pool(nproc) as pool:
            for t, n in zip(tasks, pool.imap(_split_task, tasks)):
                written += n
                if bar is not None:
                    bar.update(len(t['windows']))
    else:
        for t in tasks:
            written += _split_task(t)
            if bar is not None:
                bar.update(len(t['windows']))
    if bar is not None:
        bar.close()
    return dict(images=len(imgs), windows=total, written=written)


def merge_patch_results(results: Iterable[dict], iou_thr: float = 0.1) -> Dict[str, dict]:
    """Patch detections -> full-image detections.

    Args:
        results: ``dict(img_id=<patch id>, bboxes (N, 5) le90 patch pixels, scores (N,), labels (N,))``;
            an ``img_id`` that is not a patch id is taken as a full image with offset 0.
        iou_thr: class-wise rotated NMS threshold (mmrotate DOTAMetric: 0.1).

    Returns:
        ``{image id: dict(bboxes, scores, labels)}`` (numpy, highest score first).
    """
    from geoperc.ops.rotated import nms_rotated
    groups = defaultdict(list)
    for r in results:
        pid = str(r['img_id'])
        try:
            ori, x, y = parse_patch_id(pid)
        except DatasetError:
            ori, x, y = pid, 0, 0
        b = np.asarray(r['bboxes'], np.float64).reshape(-1, 5).copy()
        b[:, 0] += x
        b[:, 1] += y
        groups[ori].append((b, np.asarray(r['scores'], np.float64).reshape(-1),
                            np.asarray(r['labels'], np.int64).reshape(-1)))
    out = {}
    for ori, parts in groups.items():
        b = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts])
        lab = np.concatenate([p[2] for p in parts])
        keep = nms_rotated(b, s, iou_thr, lab) if len(b) else np.zeros(0, np.int64)
        out[ori] = dict(bboxes=b[keep], scores=s[keep], labels=lab[keep])
    return out


def write_dota_submission(merged: Dict[str, dict], class_names: Sequence[str], out_dir: str,
                          zip_name: Optional[str] = None) -> List[str]:
    """DOTA server Task 1 files ``out_dir/Task1_<class>.txt`` (every class, empty ones too), lines
    ``<image> <score> x1 y1 x2 y2 x3 y3 x4 y4``; optionally zipped to ``out_dir/<zip_name>``.

    Returns:
        The written paths.
    """
    from geoperc.ops.rotated import rbox_to_corners
    os.makedirs(out_dir, exist_ok=True)
    lines = {c: [] for c in range(len(class_names))}
    for img_id in sorted(merged):
        d = merged[img_id]
        corners = rbox_to_corners(d['bboxes']).reshape(-1, 8)
        for q, sc, lab in zip(corners, d['scores'], d['labels']):
            lines[int(lab)].append(f'{img_id} {sc:.4f} ' + ' '.join(f'{v:.2f}' for v in q))
    paths = []
    for c, name in enumerate(class_names):
        p = osp.join(out_dir, f'Task1_{name}.txt')
        atomic_write(p, ''.join(ln + '\n' for ln in lines[c]))
        paths.append(p)
    if zip_name:
        import zipfile
        zp = osp.join(out_dir, zip_name)
        tmp = zp + '.tmp'
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
            for p in paths:
                z.write(p, osp.basename(p))
        os.replace(tmp, zp)
        paths.append(zp)
    return paths
