"""Transforms for equirectangular RGB + depth panoramas (360-degree depth, OmniFusion's loaders).

The panorama datasets (:mod:`geoperc.datasets.depth.pano`) read the files; their ``results`` hold:

* ``img``: ``(H, W, 3)`` uint8 in the dataset's ``channel_order`` (OmniFusion's loaders use cv2, BGR);
* ``gt_depth``: ``(H, W)`` float32 metres in the dataset's own scale, 0 where the file has no value;
* ``depth_valid``: ``(H, W)`` bool, ``min_depth < d <= max_depth`` (OmniFusion: 0.3 m and 8 / 10 m).

Every geometric transform here moves all three (and ``valid_mask`` if present) together.

Official augmentation (``dataset_loader_{stanford,matterport,360d}.py`` of ``yuliangguo/OmniFusion``),
all drawn with ``np.random`` (seeded by MMEngine per worker):

* :class:`PanoRandomFlip`: horizontal flip with probability 0.5 (a mirrored room is a room);
* :class:`PanoRandomYawRoll`: a yaw rotation, ``np.roll`` by ``randint(W) // (W // 4) * (W // 4)``
  columns, i.e. one of 0, 90, 180, 270 degrees; the panorama stays seamless;
* colour: :class:`PanoRandomChannelPermute` (Stanford2D3D / Matterport3D loaders' ``permute_color``:
  with probability 1/4 a random permutation of the three channels) and :class:`PanoRandomGamma` (360D
  loader's ``gamma``: ``p ~ U(1, 2)``, and with probability 1/2 the image becomes ``(img / 255) **
  (1 / p)``; as written, the gamma is applied only on that branch). The official training scripts
  enable only flip and roll; the colour transforms are there to reproduce the loaders' options.

:class:`PanoResize` resizes to the loaders' fixed size (``cv2.INTER_AREA``, official for RGB); depth
is averaged over valid source pixels only and stays valid only where every source pixel was valid (the
official loader area-averages the raw file values, missing ones included, and lets its range mask
drop the contaminated pixels). :class:`PackPanoDepthInputs` makes ``inputs`` ``(3, H, W)`` and a
:class:`~geoperc.structures.GeoDataSample` with ``gt_depth`` and ``depth_valid`` :class:`PixelData`
``(1, H, W)``. The validity of the *depth* is deliberately not called ``valid_mask``: the data
preprocessor treats ``valid_mask`` as "the input pixel has data" and blanks the image there, which would
show the network where the ground truth is missing.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import PixelData

from geoperc.registry import TRANSFORMS
from geoperc.structures import GeoDataSample
from .base import BaseTransform

__all__ = ['PIXEL_FIELDS', 'PanoResize', 'PanoRandomFlip', 'PanoRandomYawRoll', 'PanoRandomChannelPermute',
           'PanoRandomGamma', 'PackPanoDepthInputs']

#: per-pixel fields moved together by the geometric transforms
PIXEL_FIELDS = ('img', 'gt_depth', 'depth_valid', 'valid_mask')

DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'depth_path', 'ori_shape', 'img_shape', 'erp_roll', 'flip',
                     'yaw_roll', 'list_line', 'area')


def _fields(results: Dict):
    return [k for k in PIXEL_FIELDS if results.get(k) is not None]


def _check(results: Dict, name: str) -> Tuple[int, int]:
    shapes = {k: results[k].shape[:2] for k in _fields(results)}
    if len(set(shapes.values())) > 1:
        raise ValueError(f'{name}: panorama fields differ in size {shapes} ({results.get("img_path")})')
    return next(iter(shapes.values()))


@TRANSFORMS.register_module()
class PanoResize(BaseTransform):
    """Resize a panorama to ``scale`` = ``(H, W)`` (the official loaders' fixed size, e.g. 512 x 1024).

    RGB with ``cv2.INTER_AREA``; depth as the mean of the valid source pixels in each target pixel's area,
    valid only where all of them were valid (``depth_valid``; 0 depth elsewhere).
    """

    def __init__(self, scale: Sequence[int]):
        self.scale = (int(scale[0]), int(scale[1]))

    def transform(self, results: Dict) -> Dict:
        import cv2
        H, W = _check(results, type(self).__name__)
        if (H, W) == self.scale:
            return results
        size = (self.scale[1], self.scale[0])
        interp = cv2.INTER_AREA if self.scale[0] <= H else cv2.INTER_LINEAR
        results['img'] = cv2.resize(results['img'], size, interpolation=interp)
        if results.get('gt_depth') is not None:
            d = results['gt_depth'].astype(np.float32)
            v = results['depth_valid'] if results.get('depth_valid') is not None else d > 0
            v = (v & (d > 0)).astype(np.float32)
            num = cv2.resize(d * v, size, interpolation=interp)
            den = cv2.resize(v, size, interpolation=interp)
            valid = den >= 1 - 1e-4
            results['gt_depth'] = np.where(valid, num / np.maximum(den, 1e-6), 0).astype(np.float32)
            results['depth_valid'] = valid
        if results.get('valid_mask') is not None:
            results['valid_mask'] = cv2.resize(results['valid_mask'].astype(np.uint8), size,
                                               interpolation=cv2.INTER_NEAREST).astype(bool)
        results['img_shape'] = self.scale
        return results


@TRANSFORMS.register_module()
class PanoRandomFlip(BaseTransform):
    """Mirror the panorama left-right with probability ``prob`` (official 0.5)."""

    def __init__(self, prob: float = 0.5):
        assert 0 <= prob <= 1
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        _check(results, type(self).__name__)
        do = bool(np.random.rand() < self.prob)
        results['flip'] = do
        if do:
            for k in _fields(results):
                results[k] = np.ascontiguousarray(results[k][:, ::-1])
        return results


@TRANSFORMS.register_module()
class PanoRandomYawRoll(BaseTransform):
    """Rotate the panorama about the vertical axis by rolling columns: ``dx = randint(W) // (W // steps)
    * (W // steps)`` (official ``steps=4``: multiples of a quarter turn). ``prob`` applies the draw at all
    (official 1.0; a draw of 0 leaves the image as is). The shift is recorded as ``yaw_roll``."""

    def __init__(self, steps: int = 4, prob: float = 1.0):
        assert steps >= 1 and 0 <= prob <= 1
        self.steps = steps
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        _, W = _check(results, type(self).__name__)
        dx = 0
        if np.random.rand() < self.prob:
            step = max(W // self.steps, 1)
            dx = int(np.random.randint(W)) // step * step
        results['yaw_roll'] = dx
        if dx:
            for k in _fields(results):
                results[k] = np.roll(results[k], dx, axis=1)
        return results


@TRANSFORMS.register_module()
class PanoRandomChannelPermute(BaseTransform):
    """With probability ``prob`` (official 1/4), permute the image channels at random
    (``permute_color`` of the official Stanford2D3D / Matterport3D loaders)."""

    def __init__(self, prob: float = 0.25):
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() < self.prob:
            idx = np.random.permutation(results['img'].shape[2])
            results['img'] = np.ascontiguousarray(results['img'][:, :, idx])
        return results


@TRANSFORMS.register_module()
class PanoRandomGamma(BaseTransform):
    """The official 360D loader's gamma: ``p ~ U(gamma_range)``; with probability ``prob`` the image
    becomes ``255 * (img / 255) ** (1 / p)`` (float32), otherwise it is left as is (the loader applies
    the gamma only on the inverted branch)."""

    def __init__(self, gamma_range: Sequence[float] = (1.0, 2.0), prob: float = 0.5):
        self.gamma_range = (float(gamma_range[0]), float(gamma_range[1]))
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        p = np.random.uniform(*self.gamma_range)
        if np.random.rand() < self.prob:
            img = results['img'].astype(np.float32) / 255.0
            results['img'] = (np.power(np.clip(img, 0, None), 1.0 / p) * 255.0).astype(np.float32)
        return results


@TRANSFORMS.register_module()
class PackPanoDepthInputs(BaseTransform):
    """``results`` -> ``dict(inputs=(C, H, W) tensor in the image's dtype, data_samples=GeoDataSample)``
    with ``gt_depth`` (``(1, H, W)`` float32 metres) and ``depth_valid`` (``(1, H, W)`` bool) when a depth
    was loaded, ``valid_mask`` only if the dataset produced an *input* validity mask, and metainfo."""

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        H, W = _check(results, type(self).__name__)
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = GeoDataSample()
        depth: Optional[np.ndarray] = results.get('gt_depth')
        if depth is not None:
            sample.gt_depth = PixelData(data=torch.from_numpy(np.ascontiguousarray(depth, np.float32))[None])
            valid = results.get('depth_valid')
            valid = depth > 0 if valid is None else valid.astype(bool) & (depth > 0)
            sample.depth_valid = PixelData(data=torch.from_numpy(np.ascontiguousarray(valid))[None])
        if results.get('valid_mask') is not None:
            sample.valid_mask = PixelData(data=torch.from_numpy(np.ascontiguousarray(results['valid_mask']))[None])
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta['img_shape'] = (H, W)
        meta.setdefault('ori_shape', (H, W))
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)
