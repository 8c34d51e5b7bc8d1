"""Loading transforms for multi-date change detection: images of every date and the change label."""
import os.path as osp
from typing import Dict, Optional, Sequence

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


def _alpha_channels(img: np.ndarray) -> Optional[int]:
    """0-based alpha channel of an OpenCV-decoded image (2 channels = grey + alpha, 4 = RGBA), else None."""
    return img.shape[2] - 1 if img.ndim == 3 and img.shape[2] in (2, 4) else None


def _choose(img: np.ndarray, bands, path: str) -> np.ndarray:
    bad = [b for b in bands if not 1 <= int(b) <= img.shape[2]]
    if bad:
        from geoperc.errors import DatasetError
        raise DatasetError(f'{path}: has {img.shape[2]} bands (1..{img.shape[2]}); cannot read band {bad[0]} '
                           f'of bands={list(bands)}')
    return img[..., [int(b) - 1 for b in bands]]


@TRANSFORMS.register_module()
class LoadMultiDateImages(BaseTransform):
    """Load the image of every date of a sample: ``results['img_path']`` (list of T paths) ->
    ``results['img']`` (list of T ``(H, W, C)`` arrays in their native dtype).

    GeoTIFF and other rasters are read through :mod:`geoperc.io.raster` (any band count, native dtype)
    with its mask rule: a pixel is valid where GDAL's dataset mask (per-dataset mask, nodata, alpha band)
    says it holds data, and an alpha band used as the mask is not one of the bands. When the dataset gives a
    ``window`` and a reference grid ``ref_grid`` (the GeoTIFF pair dataset), only that window is read,
    every date on the first date's grid (warped if its grid differs). PNG/JPEG go through OpenCV
    (``IMREAD_UNCHANGED``: 8/16 bit, any band count, in file order R, G, B, never BGR); the alpha channel of
    an RGBA / grey+alpha PNG is the valid mask (alpha > 0) and is dropped, the same rule.

    ``valid_mask`` is False where any date has no data or the window leaves the raster.

    Added keys: ``img``, ``img_shape``, ``ori_shape``, ``band_count``, ``valid_mask`` (when some pixel
    is invalid or a mask exists); for rasters read whole also ``crs``, ``transform``, ``nodata`` of the
    first date (if not already set).

    Args:
        to_float32 (bool): cast to float32 (default False: keep the native dtype; the data
            preprocessor normalises).
        resampling (str): rasterio resampling used when a date is warped onto the reference grid.
        bands (list[int], optional): 1-based bands to read (as GDAL counts), e.g. ``[1, 2, 3, 4]`` to read
            a band GDAL marks as alpha as data. Default: every band except the mask alpha band. A
            ``bands`` entry of the sample (set by ``GeoTIFFChangeDataset(bands=...)``) takes precedence.
    """

    def __init__(self, to_float32: bool = False, resampling: str = 'bilinear',
                 bands: Optional[Sequence[int]] = None):
        self.to_float32 = to_float32
        self.resampling = resampling
        self.bands = None if bands is None else [int(b) for b in bands]

    def _read_raster(self, path: str, results: Dict, bands):
        from geoperc.io.raster import GridReader
        if results.get('window') is not None:
            with GridReader(path, results.get('ref_grid'), bands, self.resampling) as rd:
                data, valid = rd.read(results['window'], fill=results.get('nodata'))
            return data.transpose(1, 2, 0), valid
        with GridReader(path, bands=bands) as rd:
            data, valid = rd.read((0, 0, rd.grid.width, rd.grid.height))
            grid = rd.grid.to_dict()
            results.setdefault('nodata', rd.nodata)
            masked = rd.mask != 'none'
        for k in ('crs', 'transform'):
            results.setdefault(k, grid[k])
        return data.transpose(1, 2, 0), (valid if masked else None)

    def _read_image(self, path: str, bands):
        img = imread_unchanged(path)
        if img.ndim == 2:
            img = img[..., None]
        if bands is not None:
            return _choose(img, bands, path), None
        a = _alpha_channels(img)
        if a is None:
            return img, None
        return np.delete(img, a, axis=2), img[..., a] > 0

    def transform(self, results: Dict) -> Dict:
        paths = results['img_path']
        if isinstance(paths, str):
            raise TypeError(f'img_path must be a list of one path per date, got the string {paths!r}')
        bands = results.get('bands') or self.bands
        imgs, valid = [], None
        for p in paths:
            if is_raster(p):
                img, v = self._read_raster(p, results, bands)
            else:
                img, v = self._read_image(p, bands)
                img = as_hwc(img)
            if v is not None:
                valid = v if valid is None else (valid & v)
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


_DEFAULT_MAPPING = {0: 0, 255: 1}
_UNSET = object()


@TRANSFORMS.register_module()
class LoadChangeLabel(BaseTransform):
    """Load the change label ``results['seg_map_path']`` into ``results['gt_seg_map']`` ((H, W) uint8:
    0 unchanged, 1 changed, ``ignore_index`` not scored).

    How file values become labels, in this order of precedence:

    * ``threshold``: ``value >= threshold`` -> 1, else 0. For JPEG labels (CDD's ``OUT``), whose
      compression leaves values near, not at, 0 and 255.
    * ``mapping``: a dict ``{file value: label}`` other than 0/255; a value outside it raises an error
      naming the file (a silently wrong label is worse than a stop).
    * the label encoding (:mod:`geoperc.datasets.change.labels`): ``'01'`` (0 / 1, 255 not scored) or
      ``'0255'`` (0 / 255 = changed). It is the dataset's ``label_encoding`` (carried by each sample as
      ``results['label_encoding']``, decided once per dataset, ``'auto'`` resolved from the values) when
      the sample has one, else this transform's ``label_encoding``; an explicit ``label_encoding`` here
      that contradicts the dataset's raises. ``'auto'`` here decides per file (whole images only).
      Without any setting: ``'0255'`` (the PNG releases), or ``'01'`` for the legacy ``mapping=None``.

    Multi-band labels (colour PNGs) are reduced with the maximum over bands. A list of paths is united:
    changed if any label says changed (S2Looking's ``label1`` / ``label2``). Raster labels are read with
    :mod:`geoperc.io.raster` (nearest resampling when warped); pixels outside the raster, the label's
    nodata / mask, and pixels where ``valid_mask`` is False become ``ignore_index``.

    Args:
        label_encoding (str, optional): ``'01'``, ``'0255'`` or ``'auto'``.
        mapping (dict | None): legacy value mapping; ``{0: 0, 255: 1}`` is ``'0255'``, ``None`` is ``'01'``.
        threshold (float, optional): binarise at this value (JPEG labels).
        ignore_index (int): label of pixels not scored (255).
    """

    def __init__(self, label_encoding: Optional[str] = None, mapping=_UNSET, threshold: Optional[float] = None,
                 ignore_index: int = 255):
        from geoperc.datasets.change.labels import check_name
        self.label_encoding = check_name(label_encoding)
        self.mapping = None
        self._legacy = None
        if mapping is None:
            self._legacy = '01'
        elif mapping is not _UNSET:
            m = {int(k): int(v) for k, v in dict(mapping).items()}
            if m == _DEFAULT_MAPPING:
                self._legacy = '0255'
            else:
                self.mapping = m
        self.threshold = threshold
        self.ignore_index = ignore_index
        self._warned = False

    def _read(self, path: str, results: Dict):
        if is_raster(path):
            from geoperc.io.raster import GridReader
            if results.get('window') is not None:
                with GridReader(path, results.get('ref_grid'), [1], 'nearest') as rd:
                    data, valid = rd.read(results['window'], fill=self.ignore_index)
                return data[0], valid
            with GridReader(path, bands=[1]) as rd:
                data, valid = rd.read((0, 0, rd.grid.width, rd.grid.height))
            return data[0], valid
        lab = imread_unchanged(path)
        if lab.ndim == 3:
            lab = lab.max(axis=2)
        return lab, None

    def _encoding(self, results: Dict) -> str:
        from geoperc.errors import DatasetError
        ds = results.get('label_encoding')
        ds = ds if ds in ('01', '0255') else None
        own = self.label_encoding
        if own in ('01', '0255'):
            if ds is not None and ds != own:
                raise DatasetError(f"LoadChangeLabel(label_encoding={own!r}) contradicts the dataset's "
                                   f"label_encoding={ds!r} for {results.get('seg_map_path')}; set it in one place")
            return own
        if ds is not None:
            return ds
        if own == 'auto':
            return 'auto'
        return self._legacy or '0255'

    def _convert(self, lab: np.ndarray, path: str, encoding: str, windowed: bool) -> np.ndarray:
        from geoperc.datasets.change import labels as L
        if self.threshold is not None:
            return (lab >= self.threshold).astype(np.uint8)
        if self.mapping is not None:
            values = np.unique(lab)
            bad = [v for v in values.tolist() if v not in self.mapping]
            if bad:
                from geoperc.errors import DatasetError
                raise DatasetError(f'{path}: label values {bad[:8]} are not in the mapping {self.mapping}; '
                                   f'JPEG labels need LoadChangeLabel(threshold=128)')
            lut_keys = np.array(list(self.mapping), dtype=np.int64)
            lut_vals = np.array([self.mapping[k] for k in lut_keys], dtype=np.uint8)
            order = np.argsort(lut_keys)
            idx = np.searchsorted(lut_keys[order], lab.astype(np.int64))
            return lut_vals[order][idx]
        if encoding == 'auto':
            if windowed:
                raise ValueError(f"{path}: label_encoding='auto' cannot be decided from one window; the dataset "
                                 'resolves it (GeoTIFFChangeDataset(label_encoding=...))')
            encoding = L.detect_encoding(np.unique(lab).tolist(), path, self.ignore_index)[0]
        elif encoding == '01' and not windowed and not self._warned:
            values = set(np.unique(lab).tolist())
            if 255 in values and 1 not in values:
                self._warned = True
                L._log(f"{path}: the only non-zero label value is 255, which label_encoding='01' reads as "
                       "'not scored'; if 255 marks change, set label_encoding='0255'")
        return L.encode(lab, encoding, path, self.ignore_index)

    def transform(self, results: Dict) -> Dict:
        paths = results['seg_map_path']
        paths = [paths] if isinstance(paths, str) else list(paths)
        encoding = self._encoding(results)
        windowed = results.get('window') is not None
        maps = []
        for p in paths:
            lab, valid = self._read(p, results)
            out = self._convert(lab, p, encoding, windowed)
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
