"""Geometric transforms that draw their random parameters ONCE per sample and apply them to every
date, the change label and the valid mask alike (so the dates stay co-registered and the label stays
on the pixels it describes).

Images use bilinear interpolation and ``pad_val`` for uncovered pixels; labels use nearest and 255
(ignored); ``valid_mask`` uses nearest and False. Any band count and the OpenCV dtypes (uint8,
uint16, int16, float32, float64; other dtypes go through float64) are supported.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from geoperc.registry import TRANSFORMS
from .base import BaseTransform, check_same_shape, cv2_per_chunk, seg_fields, seg_fill

_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _cv(fn, arr: np.ndarray) -> np.ndarray:
    """Apply an OpenCV image function to an (H, W[, C]) array of any band count and dtype."""
    squeeze = arr.ndim == 2
    if arr.dtype == bool:
        out = _cv(fn, arr.astype(np.uint8)) > 0
        return out
    if arr.dtype.type in _CV_DTYPES:
        out = cv2_per_chunk(fn, arr)
    else:
        out = cv2_per_chunk(fn, arr.astype(np.float64))
        if np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        out = out.astype(arr.dtype)
    return out[..., 0] if squeeze else out


def _geo_shift(results: Dict, x0: int, y0: int, w: int, h: int) -> None:
    """Keep ``transform`` / ``window`` exact after taking the sub-image at (x0, y0, w, h)."""
    from geoperc.io.raster import window_transform
    if results.get('transform') is not None:
        results['transform'] = tuple(window_transform(results['transform'], (x0, y0)))[:6]
    if results.get('window') is not None:
        sx, sy = results.get('geo_scale', (1.0, 1.0))
        c, r = results['window'][:2]
        results['window'] = (c + x0 * sx, r + y0 * sy, w * sx, h * sy)


def _geo_drop(results: Dict) -> None:
    """After a flip or rotation the sample no longer has an axis-aligned affine: drop it (training
    augmentations only; inference pipelines never flip or rotate)."""
    if results.get('transform') is not None:
        results['transform'] = None


@TRANSFORMS.register_module()
class MultiDateRandomCrop(BaseTransform):
    """Crop the same random ``crop_size`` (h, w) box from every date, the label and the valid mask.

    Args:
        crop_size (int | tuple): (h, w) of the crop. Images smaller than the crop are cropped to
            their size (as mmseg's ``RandomCrop``); the preprocessor pads batches.
        cat_max_ratio (float): if < 1, retry up to 10 boxes until no class covers more than this
            share of the labelled (non-ignored) pixels (mmseg semantics).
        ignore_index (int): label value excluded from ``cat_max_ratio``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]], cat_max_ratio: float = 1.0,
                 ignore_index: int = 255):
        self.crop_size = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        assert self.crop_size[0] > 0 and self.crop_size[1] > 0
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _bbox(self, H: int, W: int):
        mh, mw = max(H - self.crop_size[0], 0), max(W - self.crop_size[1], 0)
        y0, x0 = np.random.randint(0, mh + 1), np.random.randint(0, mw + 1)
        return y0, min(y0 + self.crop_size[0], H), x0, min(x0 + self.crop_size[1], W)

    def transform(self, results: Dict) -> Dict:
        check_same_shape(results, type(self).__name__)
        H, W = results['img'][0].shape[:2]
        box = self._bbox(H, W)
        if self.cat_max_ratio < 1.0 and results.get('gt_seg_map') is not None:
            for _ in range(10):
                y0, y1, x0, x1 = box
                labels, counts = np.unique(results['gt_seg_map'][y0:y1, x0:x1], return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                box = self._bbox(H, W)
        y0, y1, x0, x1 = box
        results['img'] = [np.ascontiguousarray(im[y0:y1, x0:x1]) for im in results['img']]
        for k in seg_fields(results):
            results[k] = np.ascontiguousarray(results[k][y0:y1, x0:x1])
        results['img_shape'] = (y1 - y0, x1 - x0)
        results['crop_bbox'] = (x0, y0, x1, y1)
        _geo_shift(results, x0, y0, x1 - x0, y1 - y0)
        return results


@TRANSFORMS.register_module()
class MultiDateRandomFlip(BaseTransform):
    """Flip every date, the label and the valid mask with probability ``prob``.

    Args:
        prob (float): probability of flipping.
        direction (str | list[str]): ``'horizontal'``, ``'vertical'`` or ``'diagonal'`` (both); with
            a list, one direction is drawn uniformly when a flip happens.
    """
    _DIRS = ('horizontal', 'vertical', 'diagonal')

    def __init__(self, prob: float = 0.5, direction: Union[str, Sequence[str]] = 'horizontal'):
        assert 0 <= prob <= 1
        dirs = [direction] if isinstance(direction, str) else list(direction)
        for d in dirs:
            if d not in self._DIRS:
                raise ValueError(f'flip direction must be one of {self._DIRS}, got {d!r}')
        self.prob = prob
        self.direction = dirs

    @staticmethod
    def flip(arr: np.ndarray, direction: str) -> np.ndarray:
        if direction == 'horizontal':
            out = arr[:, ::-1]
        elif direction == 'vertical':
            out = arr[::-1]
        else:
            out = arr[::-1, ::-1]
        return np.ascontiguousarray(out)

    def transform(self, results: Dict) -> Dict:
        check_same_shape(results, type(self).__name__)
        do = np.random.rand() < self.prob
        direction = self.direction[np.random.randint(len(self.direction))] if do else None
        results['flip'] = bool(do)
        results['flip_direction'] = direction
        if do:
            results['img'] = [self.flip(im, direction) for im in results['img']]
            for k in seg_fields(results):
                results[k] = self.flip(results[k], direction)
            _geo_drop(results)
        return results


@TRANSFORMS.register_module()
class MultiDateRandomRotate(BaseTransform):
    """Rotate every date, the label and the valid mask by the same random angle.

    Args:
        prob (float): probability of rotating.
        degree (float | tuple): range of angles (degrees, positive = clockwise as mmcv); a number
            ``d`` means ``(-d, d)``.
        pad_val (float): image value for uncovered pixels.
        seg_pad_val (int): label value for uncovered pixels (255: not scored).
        center (tuple, optional): rotation centre (x, y); default the image centre.
        auto_bound (bool): enlarge the canvas to keep the whole rotated image.
    """

    def __init__(self, prob: float, degree: Union[float, Tuple[float, float]], pad_val: float = 0,
                 seg_pad_val: int = 255, center: Optional[Tuple[float, float]] = None,
                 auto_bound: bool = False):
        assert 0 <= prob <= 1
        self.prob = prob
        self.degree = (-abs(degree), abs(degree)) if isinstance(degree, (int, float)) else tuple(degree)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.center = center
        self.auto_bound = auto_bound

    def _matrix(self, angle: float, H: int, W: int):
        import cv2
        center = self.center or ((W - 1) * 0.5, (H - 1) * 0.5)
        M = cv2.getRotationMatrix2D(center, -angle, 1.0)
        if self.auto_bound:
            cos, sin = abs(M[0, 0]), abs(M[0, 1])
            nW, nH = W * cos + H * sin, H * cos + W * sin
            M[0, 2] += (nW - W) * 0.5
            M[1, 2] += (nH - H) * 0.5
            W, H = int(np.round(nW)), int(np.round(nH))
        return M, H, W

    @staticmethod
    def warp(arr: np.ndarray, M, H: int, W: int, nearest: bool, fill: float) -> np.ndarray:
        import cv2
        flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return _cv(lambda a: cv2.warpAffine(a, M, (W, H), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                            borderValue=(fill,) * 4), arr)

    def transform(self, results: Dict) -> Dict:
        check_same_shape(results, type(self).__name__)
        if np.random.rand() >= self.prob:
            return results
        angle = np.random.uniform(*self.degree)
        H, W = results['img'][0].shape[:2]
        M, nH, nW = self._matrix(angle, H, W)
        results['img'] = [self.warp(im, M, nH, nW, False, self.pad_val) for im in results['img']]
        for k in seg_fields(results):
            fill = self.seg_pad_val if k == 'gt_seg_map' else seg_fill(k)
            results[k] = self.warp(results[k], M, nH, nW, True, fill)
        results['img_shape'] = (nH, nW)
        results['rotate_angle'] = float(angle)
        _geo_drop(results)
        return results


@TRANSFORMS.register_module()
class MultiDateRandomRotate90(BaseTransform):
    """Rotate every date, the label and the valid mask by the same random multiple of 90 degrees
    (k in {1, 2, 3}, counter-clockwise) with probability ``prob``. Lossless: no interpolation."""

    def __init__(self, prob: float = 0.5):
        assert 0 <= prob <= 1
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        check_same_shape(results, type(self).__name__)
        if np.random.rand() >= self.prob:
            return results
        k = int(np.random.randint(1, 4))
        rot = lambda a: np.ascontiguousarray(np.rot90(a, k, axes=(0, 1)))  # noqa: E731
        results['img'] = [rot(im) for im in results['img']]
        for f in seg_fields(results):
            results[f] = rot(results[f])
        results['img_shape'] = results['img'][0].shape[:2]
        results['rot90_k'] = k
        _geo_drop(results)
        return results


@TRANSFORMS.register_module()
class MultiDateResize(BaseTransform):
    """Resize every date (bilinear), the label and the valid mask (nearest) to the same size.

    Args:
        scale (tuple, optional): target ``(w, h)`` (mmcv order). With ``keep_ratio`` the image is
            scaled as large as possible within the long / short edges of ``scale``.
        scale_factor (float | tuple, optional): ``(fx, fy)`` or one factor, instead of ``scale``.
        keep_ratio (bool): keep the aspect ratio.
        interpolation (str): ``'bilinear'``, ``'nearest'``, ``'bicubic'`` or ``'area'`` for images.

    ``transform`` (the window's affine) is rescaled, so a resized GeoTIFF window stays georeferenced.
    """

    _INTERP = {'bilinear': 'INTER_LINEAR', 'nearest': 'INTER_NEAREST', 'bicubic': 'INTER_CUBIC',
               'area': 'INTER_AREA'}

    def __init__(self, scale: Optional[Tuple[int, int]] = None,
                 scale_factor: Optional[Union[float, Tuple[float, float]]] = None,
                 keep_ratio: bool = False, interpolation: str = 'bilinear'):
        if (scale is None) == (scale_factor is None):
            raise ValueError('give exactly one of scale and scale_factor')
        if interpolation not in self._INTERP:
            raise ValueError(f'interpolation must be one of {list(self._INTERP)}')
        self.scale = (scale, scale) if isinstance(scale, int) else scale
        self.scale_factor = scale_factor
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    def _size(self, H: int, W: int) -> Tuple[int, int]:
        if self.scale_factor is not None:
            fx, fy = ((self.scale_factor, self.scale_factor) if isinstance(self.scale_factor, (int, float))
                      else self.scale_factor)
            if self.keep_ratio:
                fy = fx
            return max(1, int(W * fx + 0.5)), max(1, int(H * fy + 0.5))
        w, h = self.scale
        if not self.keep_ratio:
            return int(w), int(h)
        f = min(max(w, h) / max(H, W), min(w, h) / min(H, W))
        return max(1, int(W * f + 0.5)), max(1, int(H * f + 0.5))

    def transform(self, results: Dict) -> Dict:
        import cv2
        check_same_shape(results, type(self).__name__)
        H, W = results['img'][0].shape[:2]
        nW, nH = self._size(H, W)
        interp = getattr(cv2, self._INTERP[self.interpolation])
        results['img'] = [_cv(lambda a: cv2.resize(a, (nW, nH), interpolation=interp), im)
                          for im in results['img']]
        for k in seg_fields(results):
            results[k] = _cv(lambda a: cv2.resize(a, (nW, nH), interpolation=cv2.INTER_NEAREST), results[k])
        sx, sy = W / nW, H / nH
        results['img_shape'] = (nH, nW)
        results['scale_factor'] = (nW / W, nH / H)
        gs = results.get('geo_scale', (1.0, 1.0))
        results['geo_scale'] = (gs[0] * sx, gs[1] * sy)
        if results.get('transform') is not None:
            from geoperc.io.raster import window_transform
            results['transform'] = tuple(window_transform(results['transform'], (0, 0), scale=(sx, sy)))[:6]
        return results
