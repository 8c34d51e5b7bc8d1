"""Loading transforms for multi-date change detection: images of every date and the change label."""
import os.path as osp
from typing import Dict, Optional

import numpy as np

from geoperc.registry import TRANSFORMS
from .base import BaseTransform, as_hwc

RASTER_SUFFIXES = ('.tif', '.tiff', '.vrt', '.img', '.jp2')


def is_raster(path: str) -> bool:
    """True for files read through rasterio (GeoTIFF & co), False for PNG/JPEG/BMP read with OpenCV."""
    return osp.splitext(str(path))[1].lower() in RASTER_SUFFIXES


def imread_unchanged(path: str) -> np.ndarray:
    """Read a PNG/JPEG with OpenCV keeping bit depth and band count; colour comes back R, G, B(, A)."""
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'OpenCV could not decode {path}')
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


@TRANSFORMS.register_module()
class LoadMultiDateImages(BaseTransform):
    """Load the image of every date of a sample: ``results['img_path']`` (list of T paths) ->
    ``results['img']`` (list of T ``(H, W, C)`` arrays in their native dtype).

    PNG/JPEG go through OpenCV (``IMREAD_UNCHANGED``: 8/16 bit, any band count; 3/4-band images are
    returned in file order R, G, B(, A), never BGR). GeoTIFF and other rasters go through
    :mod:`geoperc.io.pairs` (any band count, native dtype). When the dataset gives a ``window`` and a
    reference grid ``ref_grid`` (the GeoTIFF pair dataset), only that window is read, every date on
    the first date's grid (warped if its grid differs), and ``valid_mask`` is set False where any date
    has no data or the window leaves the raster.

    Added keys: ``img``, ``img_shape``, ``ori_shape``, ``band_count``; for rasters read whole also
    ``crs``, ``transform``, ``nodata`` of the first date (if not already set), and ``valid_mask``.

    Args:
        to_float32 (bool): cast to float32 (default False: keep the native dtype; the data
            preprocessor normalises).
        resampling (str): rasterio resampling used when a date is warped onto the reference grid.
    """

    def __init__(self, to_float32: bool = False, resampling: str = 'bilinear'):
        self.to_float32 = to_float32
        self.resampling = resampling

    def _read_raster(self, path: str, results: Dict):
        from geoperc.io.pairs import read_image, read_window
        if results.get('window') is not None:
            data, valid = read_window(path, results['window'], ref=results.get('ref_grid'),
                                      fill=results.get('nodata'), resampling=self.resampling)
            return data.transpose(1, 2, 0), valid
        data, grid = read_image(path)
        for k in ('crs', 'transform', 'nodata'):
            results.setdefault(k, grid[k])
        valid = None
        if grid['nodata'] is not None:
            valid = ~(data == np.asarray(grid['nodata'], data.dtype)).all(axis=0)
        return data.transpose(1, 2, 0), valid

    def transform(self, results: Dict) -> Dict:
        paths = results['img_path']
        if isinstance(paths, str):
            raise TypeError(f'img_path must be a list of one path per date, got the string {paths!r}')
        imgs, valid = [], None
        for p in paths:
            if is_raster(p):
                img, v = self._read_raster(p, results)
                if v is not None:
                    valid = v if valid is None else (valid & v)
            else:
                img = as_hwc(imread_unchanged(p))
            if self.to_float32:
                img = img.astype(np.float32)
            imgs.append(np.ascontiguousarray(img))
        results['img'] = imgs
        H, W = imgs[0].shape[:2]
        results['img_shape'] = (H, W)
        results['ori_shape'] = (H, W)
        results['band_count'] = imgs[0].shape[2]
        if valid is not None and valid.shape == (H, W):
            prev = results.get('valid_mask')
            results['valid_mask'] = valid if prev is None else (prev & valid)
        return results


@TRANSFORMS.register_module()
class LoadChangeLabel(BaseTransform):
    """Load the change label ``results['seg_map_path']`` into ``results['gt_seg_map']`` ((H, W) uint8:
    0 unchanged, 1 changed, ``ignore_index`` not scored).

    Value conversion, in this order of precedence:

    * ``threshold``: ``value >= threshold`` -> 1, else 0. For JPEG labels (CDD's ``OUT``), whose
      compression leaves values near, not at, 0 and 255.
    * ``mapping``: a dict ``{file value: label}``; the default ``{0: 0, 255: 1}`` reads the PNG
      releases (LEVIR-CD, CLCD, S2Looking, GZ-CD). A value outside the mapping raises an error that
      names the file (a silently wrong label is worse than a stop).
    * ``mapping=None``: the file already holds 0 / 1 / ``ignore_index`` (GeoTIFF label rasters).

    Multi-band labels (colour PNGs) are reduced with the maximum over bands. A list of paths is
    united: changed if any label says changed (S2Looking's ``label1`` / ``label2``). Raster labels
    read through a window are read with nearest resampling; pixels outside the raster, the label's
    nodata, and pixels where ``valid_mask`` is False become ``ignore_index``.
    """

    def __init__(self, mapping: Optional[Dict[int, int]] = {0: 0, 255: 1},  # noqa: B006 (copied)
                 threshold: Optional[float] = None, ignore_index: int = 255):
        self.mapping = None if mapping is None else {int(k): int(v) for k, v in dict(mapping).items()}
        self.threshold = threshold
        self.ignore_index = ignore_index

    def _read(self, path: str, results: Dict):
        if is_raster(path):
            from geoperc.io.pairs import read_image, read_window
            if results.get('window') is not None:
                data, valid = read_window(path, results['window'], ref=results.get('ref_grid'),
                                          fill=self.ignore_index, resampling='nearest', bands=[1])
                return data[0], valid
            data, grid = read_image(path)
            lab = data[0]
            valid = None if grid['nodata'] is None else lab != grid['nodata']
            return lab, valid
        lab = imread_unchanged(path)
        if lab.ndim == 3:
            lab = lab.max(axis=2)
        return lab, None

    def _convert(self, lab: np.ndarray, path: str) -> np.ndarray:
        if self.threshold is not None:
            return (lab >= self.threshold).astype(np.uint8)
        values = np.unique(lab)
        if self.mapping is None:
            bad = [v for v in values.tolist() if v not in (0, 1, self.ignore_index)]
            if bad:
                raise ValueError(f'{path}: label values {bad[:8]} are not 0/1/{self.ignore_index}; '
                                 f'give LoadChangeLabel a mapping or a threshold')
            return lab.astype(np.uint8)
        bad = [v for v in values.tolist() if v not in self.mapping]
        if bad:
            raise ValueError(f'{path}: label values {bad[:8]} are not in the mapping {self.mapping}; '
                             f'JPEG labels need LoadChangeLabel(threshold=128)')
        lut_keys = np.array(list(self.mapping), dtype=np.int64)
        lut_vals = np.array([self.mapping[k] for k in lut_keys], dtype=np.uint8)
        order = np.argsort(lut_keys)
        idx = np.searchsorted(lut_keys[order], lab.astype(np.int64))
        return lut_vals[order][idx]

    def transform(self, results: Dict) -> Dict:
        paths = results['seg_map_path']
        paths = [paths] if isinstance(paths, str) else list(paths)
        maps = []
        for p in paths:
            lab, valid = self._read(p, results)
            out = self._convert(lab, p)
            if valid is not None:
                out[~valid] = self.ignore_index
            maps.append(out)
        if len(maps) == 1:
            gt = maps[0]
        else:
            stack = np.stack(maps)
            changed = (stack == 1).any(axis=0)
            ignored = (stack == self.ignore_index).any(axis=0) & ~changed
            gt = np.where(changed, 1, np.where(ignored, self.ignore_index, 0)).astype(np.uint8)
        if results.get('valid_mask') is not None and results['valid_mask'].shape == gt.shape:
            gt[~results['valid_mask']] = self.ignore_index
        results['gt_seg_map'] = gt
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results
