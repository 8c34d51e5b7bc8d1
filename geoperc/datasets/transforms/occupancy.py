"""Pipeline of camera-based semantic scene completion (VPOcc on SemanticKITTI / SSCBench-KITTI-360).

Mirrors the official VPOcc / Symphonies dataset ``__getitem__`` (as read for this project) as transforms:

* :class:`LoadSSCImage`: the RGB image, cropped top-left to ``image_shape`` (370 x 1220 SemanticKITTI,
  376 x 1408 KITTI-360) as the official ``img[:H, :W]``; ``cam_K`` is unchanged by a top-left crop.
* :class:`LoadSSCDepth`: the offline (stereo) depth ``.npy`` (VoxFormer / MobileStereoNet layout:
  ``depth_root/sequences/XX/NNNNNN.npy`` or ``depth_root/<drive>/NNNNNNNNNN.npy``), cropped the same way.
* :class:`LoadVanishingPoint`: keeps the dataset's ``vanishing_point`` (released JSON), reads one from
  ``vp_root`` or, when allowed, estimates it from the image (:mod:`geoperc.datasets.occupancy.vanishing_point`).
* :class:`LoadSSCTarget`: the target from ``gt_occ`` (the dataset), a ``.label``/``.invalid`` pair, or a
  preprocessed ``label_root/XX/NNNNNN_1_1.npy``; adds ``gt_occ_1_2`` (majority-rule 1:2) when asked.
  Invalid voxels are 255.
* :class:`RandomFlipSSC`: horizontal image flip with the official side effects (depth flipped, VP x ->
  ``W - x``, target flipped along the LiDAR y axis).
* :class:`PackSSCInputs`: ``inputs (3, H, W)`` uint8 and a data sample with ``gt_occ`` (+ ``gt_occ_1_2``)
  and the metainfo VPOcc reads (``cam_K``, ``T_velo_2_cam``, ``vanishing_point``, ``depth``,
  ``voxel_origin``).
"""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import BaseDataElement

from geoperc.errors import DatasetError
from geoperc.registry import TRANSFORMS
from geoperc.structures import GeoDataSample
from .base import BaseTransform

__all__ = ['LoadSSCImage', 'LoadSSCDepth', 'LoadVanishingPoint', 'LoadSSCTarget', 'RandomFlipSSC', 'PackSSCInputs']


def _read_rgb(path: str) -> np.ndarray:
    import cv2
    if not osp.isfile(path):
        raise DatasetError(f'{path}: image not found')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f'{path}: OpenCV could not decode the image')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@TRANSFORMS.register_module()
class LoadSSCImage(BaseTransform):
    """Read ``img_path`` as RGB uint8 ``(H, W, 3)`` and crop to ``image_shape`` ``(H, W)`` (None: keep)."""

    def __init__(self, image_shape: Optional[Sequence[int]] = None):
        self.image_shape = tuple(image_shape) if image_shape is not None else None

    def transform(self, results: Dict) -> Dict:
        img = _read_rgb(results['img_path'])
        results['ori_shape'] = img.shape[:2]
        if self.image_shape is not None:
            h, w = self.image_shape
            if img.shape[0] < h or img.shape[1] < w:
                raise DatasetError(f'{results["img_path"]}: image {img.shape[:2]} is smaller than image_shape '
                                   f'{self.image_shape}')
            img = img[:h, :w]
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadSSCDepth(BaseTransform):
    """Load the frame's depth map (metres, ``.npy`` float) into ``depth``, cropped to the image.

    Args:
        depth_root: folder of the depth maps.
        layout: ``'semantic_kitti'`` (``sequences/XX/NNNNNN.npy``) or ``'kitti360'`` (``<drive>/<frame>.npy``).
        optional: a missing file leaves ``depth`` unset (the model then proposes every in-view voxel)
            instead of raising.
    """

    def __init__(self, depth_root: str, layout: str = 'semantic_kitti', optional: bool = False):
        if layout not in ('semantic_kitti', 'kitti360'):
            raise ValueError(f"layout must be 'semantic_kitti' or 'kitti360', got {layout!r}")
        self.depth_root, self.layout, self.optional = depth_root, layout, optional

    def path_of(self, results: Dict) -> str:
        seq, fid = results['sequence'], results['frame_id']
        if self.layout == 'semantic_kitti':
            return osp.join(self.depth_root, 'sequences', seq, fid + '.npy')
        return osp.join(self.depth_root, seq, fid + '.npy')

    def transform(self, results: Dict) -> Dict:
        path = self.path_of(results)
        if not osp.isfile(path):
            if self.optional:
                return results
            raise DatasetError(f'{path}: depth map not found (offline stereo depth, VoxFormer layout)')
        depth = np.load(path).astype(np.float32)
        if depth.ndim != 2:
            raise DatasetError(f'{path}: depth must be (H, W), got {depth.shape}')
        h, w = results['img'].shape[:2]
        if depth.shape[0] < h or depth.shape[1] < w:
            raise DatasetError(f'{path}: depth {depth.shape} is smaller than the image {(h, w)}')
        results['depth'] = np.ascontiguousarray(depth[:h, :w])
        return results


@TRANSFORMS.register_module()
class LoadVanishingPoint(BaseTransform):
    """Make sure ``vanishing_point`` (x, y pixels) is set.

    Order: the dataset's value (released ``seq_XX.json`` through ``vp_root`` of the dataset); else
    ``vp_root`` here (``seq_XX.json``); else, with ``estimate=True``, the classical estimator on the
    image (falling back to ``fallback`` — default the principal point — when it finds no VP).
    """

    def __init__(self, vp_root: Optional[str] = None, estimate: bool = True, dataset: str = 'semantic_kitti',
                 fallback: str = 'principal_point'):
        self.vp_root, self.estimate, self.dataset, self.fallback = vp_root, estimate, dataset, fallback
        self._cache = {}

    def transform(self, results: Dict) -> Dict:
        if results.get('vanishing_point') is not None:
            results['vanishing_point'] = np.asarray(results['vanishing_point'], np.float64)
            results['vp_source'] = 'dataset'
            return results
        if self.vp_root is not None:
            from geoperc.io.semantic_kitti import read_vanishing_points
            seq, fid = results['sequence'], results['frame_id']
            f = osp.join(self.vp_root, f'seq_{seq}.json')
            if f not in self._cache:
                if not osp.isfile(f):
                    raise DatasetError(f'{f}: vanishing-point file not found')
                self._cache[f] = read_vanishing_points(f)
            tail = f'/{seq}/' if self.dataset == 'kitti360' else f'sequences/{seq}/'
            for k, v in self._cache[f].items():
                if tail in k.replace('\\', '/') and k.endswith(f'/{fid}.png'):
                    results['vanishing_point'], results['vp_source'] = v, 'file'
                    return results
            if not self.estimate:
                raise DatasetError(f'{f}: no vanishing point for frame {fid}')
        if not self.estimate:
            raise DatasetError(f'{results.get("img_path")}: no vanishing point (give vp_root or estimate=True)')
        from geoperc.datasets.occupancy.vanishing_point import estimate_vanishing_point
        vp, _ = estimate_vanishing_point(results['img'][..., ::-1])
        if vp is None:
            K = np.asarray(results['cam_K'])
            vp = np.array([K[0, 2], K[1, 2]], np.float64)
        results['vanishing_point'], results['vp_source'] = vp, 'estimated'
        return results


@TRANSFORMS.register_module()
class LoadSSCTarget(BaseTransform):
    """SSC target ``gt_occ`` (X, Y, Z) uint8, 255 = invalid; ``gt_occ_1_2`` when ``with_1_2``.

    Sources, first found: ``results['gt_occ']`` (the dataset read ``.label`` + ``.invalid``);
    ``label_root/<sequence>/<frame>_1_1.npy`` (the MonoScene / VoxFormer preprocessed targets, with
    ``_1_2.npy`` beside them); none (test split: nothing is set).
    """

    def __init__(self, label_root: Optional[str] = None, with_1_2: bool = False):
        self.label_root, self.with_1_2 = label_root, with_1_2

    def transform(self, results: Dict) -> Dict:
        from geoperc.io.semantic_kitti import downsample_label
        tgt = results.get('gt_occ')
        stem = None
        if self.label_root is not None:
            stem = osp.join(self.label_root, results['sequence'], results['frame_id'])
            if tgt is None and osp.isfile(stem + '_1_1.npy'):
                tgt = np.load(stem + '_1_1.npy')
        if tgt is None:
            return results
        tgt = np.asarray(tgt)
        tgt = np.where((tgt == 255) | (tgt < 0), 255, tgt).astype(np.uint8)
        results['gt_occ'] = tgt
        if self.with_1_2:
            if stem is not None and osp.isfile(stem + '_1_2.npy'):
                results['gt_occ_1_2'] = np.load(stem + '_1_2.npy').astype(np.uint8)
            else:
                results['gt_occ_1_2'] = downsample_label(tgt, 2)
        return results


@TRANSFORMS.register_module()
class RandomFlipSSC(BaseTransform):
    """Horizontal flip with probability ``prob`` (official: 0.5 in training)."""

    def __init__(self, prob: float = 0.5, seed: Optional[int] = None):
        self.prob = prob
        self._rng = np.random.default_rng(seed)

    def transform(self, results: Dict) -> Dict:
        flip = bool(self._rng.random() < self.prob)
        results['flip'] = flip
        if not flip:
            return results
        W = results['img'].shape[1]
        results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
        if results.get('depth') is not None:
            results['depth'] = np.ascontiguousarray(results['depth'][:, ::-1])
        if results.get('vanishing_point') is not None:
            vp = np.array(results['vanishing_point'], np.float64)
            vp[0] = W - vp[0]
            results['vanishing_point'] = vp
        for key in ('gt_occ', 'gt_occ_1_2'):
            if results.get(key) is not None:
                results[key] = np.ascontiguousarray(np.flip(results[key], axis=1))
        return results


@TRANSFORMS.register_module()
class PackSSCInputs(BaseTransform):
    """``dict(inputs=(3, H, W) uint8 tensor, data_samples=GeoDataSample)`` with ``gt_occ`` / ``gt_occ_1_2``
    (:class:`BaseDataElement` holding a long tensor) and the geometry in metainfo."""

    META_KEYS = ('sample_idx', 'img_path', 'sequence', 'frame_id', 'ori_shape', 'img_shape', 'flip', 'cam_K',
                 'T_velo_2_cam', 'vanishing_point', 'vp_source', 'depth', 'voxel_origin', 'voxel_size',
                 'grid_shape')

    def __init__(self, meta_keys: Sequence[str] = META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = GeoDataSample()
        for key in ('gt_occ', 'gt_occ_1_2'):
            if results.get(key) is not None:
                setattr(sample, key, BaseDataElement(data=torch.from_numpy(results[key].astype(np.int64))))
        meta = {}
        for k in self.meta_keys:
            if results.get(k) is None:
                continue
            v = results[k]
            if isinstance(v, np.ndarray) and v.dtype == np.float64:
                v = v.astype(np.float32)
            meta[k] = v
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)
