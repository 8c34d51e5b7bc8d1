"""Data pipeline for oriented boxes (DOTA / DIOR-R), mmrotate 1.x conventions.

Boxes are ``rbox`` ``(cx, cy, w, h, angle)`` in pixels, le90 (:mod:`geoperc.ops.rotated`: ``w >= h``,
angle in ``[-pi/2, pi/2)``, the width direction ``(cos a, sin a)`` with y pointing down). Every
geometric transform moves the image and the boxes together and brings the boxes back to le90.

``results`` keys (mmdet style): ``img`` ``(H, W, C)`` native dtype (R, G, B for 3-band PNG / JPEG, file
band order for GeoTIFF); ``gt_bboxes`` ``(N, 5)`` float32; ``gt_bboxes_labels`` ``(N,)`` int64;
``gt_ignore_flags`` ``(N,)`` bool; ``gt_difficulty`` ``(N,)`` int64; ``img_shape`` / ``ori_shape``.

The DOTA / MutDet training pipeline::

    LoadRotatedImage -> LoadRotatedAnnotations -> RResize((1024, 1024)) -> RRandomFlip(0.75, h/v/diag)
    [-> RRandomRotate90(0.5)] -> PackRotatedDetInputs        (pad to 32 in the data preprocessor)

Flips follow mmrotate (``RandomFlip(prob=0.75, direction=['horizontal', 'vertical', 'diagonal'])``:
each direction with probability 0.25). :class:`RPad` exists for pipelines that must pad on the CPU side;
with geoperc's :class:`~geoperc.models.data_preprocessors.GeoDataPreprocessor` padding there
(``pad_size_divisor=32``) is preferred, because the preprocessor records ``img_shape`` (the unpadded
size) that the DETR masks use.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import InstanceData

from geoperc.ops.rotated import corners_to_rbox, rbox_to_corners, regularize_le90
from geoperc.registry import TRANSFORMS
from geoperc.structures import GeoDataSample
from .base import BaseTransform, as_hwc, cv2_per_chunk
from .loading import imread_unchanged, is_raster

__all__ = ['LoadRotatedImage', 'LoadRotatedAnnotations', 'RResize', 'RRandomFlip', 'RRandomRotate90', 'RPad',
           'RFilterAnnotations', 'PackRotatedDetInputs', 'flip_rboxes', 'rot90_rboxes']


def _le90(boxes: np.ndarray) -> np.ndarray:
    return regularize_le90(boxes).astype(np.float32) if len(boxes) else np.zeros((0, 5), np.float32)


def flip_rboxes(boxes: np.ndarray, shape: Tuple[int, int], direction: str) -> np.ndarray:
    """Flip ``(N, 5)`` le90 boxes of an ``(H, W)`` image: ``'horizontal'`` (x -> W - x), ``'vertical'``
    (y -> H - y) or ``'diagonal'`` (both). A mirror negates the angle; both mirrors keep it."""
    H, W = shape
    b = np.array(boxes, np.float64).reshape(-1, 5)
    if direction in ('horizontal', 'diagonal'):
        b[:, 0] = W - b[:, 0]
    if direction in ('vertical', 'diagonal'):
        b[:, 1] = H - b[:, 1]
    if direction in ('horizontal', 'vertical'):
        b[:, 4] = -b[:, 4]
    elif direction != 'diagonal':
        raise ValueError(f"flip direction must be 'horizontal', 'vertical' or 'diagonal', got {direction!r}")
    return _le90(b)


def rot90_rboxes(boxes: np.ndarray, shape: Tuple[int, int], k: int) -> np.ndarray:
    """Boxes of an ``(H, W)`` image after ``np.rot90(img, k)`` (k quarter turns counter-clockwise on
    screen): one turn maps ``(x, y) -> (y, W - x)`` and the angle to ``angle - pi/2``."""
    b = np.array(boxes, np.float64).reshape(-1, 5)
    H, W = shape
    for _ in range(k % 4):
        x, y = b[:, 0].copy(), b[:, 1].copy()
        b[:, 0], b[:, 1] = y, W - x
        b[:, 4] -= math.pi / 2
        H, W = W, H
    return _le90(b)


@TRANSFORMS.register_module()
class LoadRotatedImage(BaseTransform):
    """``results['img_path']`` -> ``img`` ``(H, W, C)``: PNG / JPEG / BMP through OpenCV (R, G, B, native
    bit depth), GeoTIFF and other rasters through rasterio (any band count, native dtype; ``crs`` /
    ``transform`` / ``nodata`` added). Sets ``img_shape``, ``ori_shape``, ``band_count``.

    Args:
        to_float32: cast to float32 (default: keep the dtype; the preprocessor normalises).
        bands: 1-based bands of a raster to read (default all).
    """

    def __init__(self, to_float32: bool = False, bands: Optional[Sequence[int]] = None):
        self.to_float32 = to_float32
        self.bands = None if bands is None else tuple(int(b) for b in bands)

    def transform(self, results: Dict) -> Dict:
        path = results['img_path']
        if is_raster(path):
            import rasterio
            from geoperc.errors import RasterError
            try:
                with rasterio.open(path) as src:
                    img = src.read(self.bands).transpose(1, 2, 0) if self.bands else src.read().transpose(1, 2, 0)
                    results.setdefault('crs', src.crs.to_wkt() if src.crs else None)
                    results.setdefault('transform', tuple(src.transform)[:6])
                    results.setdefault('nodata', src.nodata)
            except rasterio.errors.RasterioIOError as e:
                raise RasterError(f'{path}: cannot read raster: {e}') from e
        else:
            img = as_hwc(imread_unchanged(path))
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['band_count'] = img.shape[2]
        return results


@TRANSFORMS.register_module()
class LoadRotatedAnnotations(BaseTransform):
    """Dataset ``instances`` (``bbox`` le90, ``bbox_label``, ``ignore_flag``, ``difficulty``) ->
    ``gt_bboxes`` / ``gt_bboxes_labels`` / ``gt_ignore_flags`` / ``gt_difficulty`` arrays.

    Args:
        box_key: ``'bbox'`` (the le90 rbox) or ``'polygon'`` (8 corners, converted to the minimum-area
            le90 rectangle).
    """

    def __init__(self, box_key: str = 'bbox'):
        if box_key not in ('bbox', 'polygon'):
            raise ValueError(f"box_key must be 'bbox' or 'polygon', got {box_key!r}")
        self.box_key = box_key

    def transform(self, results: Dict) -> Dict:
        inst = results.get('instances', [])
        if self.box_key == 'polygon':
            polys = np.array([i['polygon'] for i in inst], np.float64).reshape(-1, 4, 2)
            boxes = corners_to_rbox(polys).astype(np.float32) if len(polys) else np.zeros((0, 5), np.float32)
        else:
            boxes = np.array([i['bbox'] for i in inst], np.float32).reshape(-1, 5)
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = np.array([i['bbox_label'] for i in inst], np.int64)
        results['gt_ignore_flags'] = np.array([bool(i.get('ignore_flag', 0)) for i in inst], bool)
        results['gt_difficulty'] = np.array([int(i.get('difficulty', 0)) for i in inst], np.int64)
        return results


@TRANSFORMS.register_module()
class RResize(BaseTransform):
    """Resize the image and the boxes.

    Args:
        scale: target ``(w, h)`` (mmcv order). With ``keep_ratio`` the image is scaled by one factor so
            it fits inside ``scale`` (mmcv ``rescale``); otherwise to exactly ``scale``.
        keep_ratio: see ``scale``.
        interpolation: OpenCV interpolation name (``'bilinear'``).

    A uniform scale multiplies centres and sizes; an anisotropic one maps the corners and takes their
    minimum-area rectangle (what mmrotate does through quadrilaterals). Adds ``scale_factor`` (w, h).
    """

    _INTERP = {'nearest': 0, 'bilinear': 1, 'bicubic': 2, 'area': 3, 'lanczos': 4}

    def __init__(self, scale: Tuple[int, int] = (1024, 1024), keep_ratio: bool = True,
                 interpolation: str = 'bilinear'):
        self.scale = tuple(int(s) for s in scale)
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    def transform(self, results: Dict) -> Dict:
        import cv2
        img = results['img']
        H, W = img.shape[:2]
        if self.keep_ratio:
            s = min(max(self.scale) / max(H, W), min(self.scale) / min(H, W))
            nw, nh = int(W * s + 0.5), int(H * s + 0.5)
        else:
            nw, nh = self.scale
        sx, sy = nw / W, nh / H
        if (nw, nh) != (W, H):
            interp = self._INTERP[self.interpolation]
            results['img'] = cv2_per_chunk(lambda a: cv2.resize(a, (nw, nh), interpolation=interp), img)
        b = results.get('gt_bboxes')
        if b is not None and len(b):
            if abs(sx - sy) < 1e-9:
                b = np.array(b, np.float64)
                b[:, :4] *= sx
                results['gt_bboxes'] = _le90(b)
            else:
                c = rbox_to_corners(b) * np.array([sx, sy])
                results['gt_bboxes'] = corners_to_rbox(c).astype(np.float32)
        results['img_shape'] = (nh, nw)
        results['scale_factor'] = (sx, sy)
        results.pop('transform', None)  # the pixel grid no longer matches the raster's
        return results


@TRANSFORMS.register_module()
class RRandomFlip(BaseTransform):
    """Random flip of image and boxes.

    Args:
        prob: total flip probability (float), split evenly over ``direction``, or one per direction.
        direction: ``'horizontal'``, ``'vertical'``, ``'diagonal'`` or a list of them.
    """

    def __init__(self, prob: Union[float, Sequence[float]] = 0.75,
                 direction: Union[str, Sequence[str]] = ('horizontal', 'vertical', 'diagonal')):
        self.direction = [direction] if isinstance(direction, str) else list(direction)
        if isinstance(prob, (int, float)):
            self.prob = [float(prob) / len(self.direction)] * len(self.direction)
        else:
            self.prob = [float(p) for p in prob]
        if len(self.prob) != len(self.direction) or sum(self.prob) > 1 + 1e-9:
            raise ValueError(f'RRandomFlip: probabilities {self.prob} do not fit directions {self.direction}')
        for d in self.direction:
            if d not in ('horizontal', 'vertical', 'diagonal'):
                raise ValueError(f'RRandomFlip: unknown direction {d!r}')

    def transform(self, results: Dict) -> Dict:
        u = np.random.rand()
        chosen, acc = None, 0.0
        for d, p in zip(self.direction, self.prob):
            acc += p
            if u < acc:
                chosen = d
                break
        results['flip'] = chosen is not None
        results['flip_direction'] = chosen
        if chosen is None:
            return results
        img = results['img']
        if chosen == 'horizontal':
            img = img[:, ::-1]
        elif chosen == 'vertical':
            img = img[::-1]
        else:
            img = img[::-1, ::-1]
        results['img'] = np.ascontiguousarray(img)
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'] = flip_rboxes(results['gt_bboxes'], img.shape[:2], chosen)
        results.pop('transform', None)
        return results


@TRANSFORMS.register_module()
class RRandomRotate90(BaseTransform):
    """With probability ``prob`` turn image and boxes by 90, 180 or 270 degrees (uniformly)."""

    def __init__(self, prob: float = 0.5):
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() >= self.prob:
            results['rot90'] = 0
            return results
        k = int(np.random.randint(1, 4))
        img = results['img']
        shape = img.shape[:2]
        results['img'] = np.ascontiguousarray(np.rot90(img, k))
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'] = rot90_rboxes(results['gt_bboxes'], shape, k)
        results['img_shape'] = results['img'].shape[:2]
        results['rot90'] = k
        results.pop('transform', None)
        return results


@TRANSFORMS.register_module()
class RPad(BaseTransform):
    """Pad bottom / right to a multiple of ``size_divisor`` (boxes unchanged); sets ``pad_shape``."""

    def __init__(self, size_divisor: int = 32, pad_val: float = 0):
        self.size_divisor = size_divisor
        self.pad_val = pad_val

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        H, W = img.shape[:2]
        d = self.size_divisor
        Hp, Wp = (H + d - 1) // d * d, (W + d - 1) // d * d
        if (Hp, Wp) != (H, W):
            out = np.full((Hp, Wp) + img.shape[2:], self.pad_val, img.dtype)
            out[:H, :W] = img
            results['img'] = out
        results['pad_shape'] = (Hp, Wp)
        return results


@TRANSFORMS.register_module()
class RFilterAnnotations(BaseTransform):
    """Drop boxes smaller than ``min_size`` pixels (either side) or whose centre left the image.

    Args:
        keep_empty: keep an image that has no box left (default True, as mmrotate's configs).
    """

    def __init__(self, min_size: float = 1e-2, keep_empty: bool = True):
        self.min_size = min_size
        self.keep_empty = keep_empty

    def transform(self, results: Dict) -> Optional[Dict]:
        b = results.get('gt_bboxes')
        if b is None:
            return results
        H, W = results['img'].shape[:2]
        keep = (b[:, 2] >= self.min_size) & (b[:, 3] >= self.min_size) & (b[:, 0] >= 0) & (b[:, 0] < W) & \
            (b[:, 1] >= 0) & (b[:, 1] < H)
        for k in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'gt_difficulty'):
            if results.get(k) is not None:
                results[k] = results[k][keep]
        if not self.keep_empty and not keep.any():
            return None
        return results


@TRANSFORMS.register_module()
class PackRotatedDetInputs(BaseTransform):
    """Pack -> ``dict(inputs=(C, H, W) tensor (native dtype), data_samples=GeoDataSample)`` with
    ``gt_instances`` (``bboxes`` (N, 5) float32 le90 pixels, ``labels``, ``ignore_flags``, ``difficulty``)
    and the ``meta_keys`` present."""

    META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
                 'flip_direction', 'rot90', 'band_count', 'crs', 'transform', 'window', 'nodata', 'sample_idx',
                 'patch_offset', 'ori_img_id')

    def __init__(self, meta_keys: Sequence[str] = META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        img = as_hwc(results['img'])
        arr = np.ascontiguousarray(img.transpose(2, 0, 1))
        if arr.dtype == np.uint32:
            arr = arr.astype(np.int64)
        elif arr.dtype == np.uint16:
            arr = arr.astype(np.int32)
        sample = GeoDataSample()
        if 'gt_bboxes' in results:
            gi = InstanceData()
            gi.bboxes = torch.from_numpy(np.asarray(results['gt_bboxes'], np.float32).reshape(-1, 5))
            gi.labels = torch.from_numpy(np.asarray(results['gt_bboxes_labels'], np.int64))
            gi.ignore_flags = torch.from_numpy(np.asarray(results.get('gt_ignore_flags',
                                                                      np.zeros(len(gi.labels), bool)), bool))
            gi.difficulty = torch.from_numpy(np.asarray(results.get('gt_difficulty',
                                                                    np.zeros(len(gi.labels), np.int64)), np.int64))
            sample.gt_instances = gi
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta['img_shape'] = tuple(arr.shape[-2:]) if 'pad_shape' not in results else \
            tuple(results.get('img_shape', arr.shape[-2:]))
        sample.set_metainfo(meta)
        return dict(inputs=torch.from_numpy(arr), data_samples=sample)
