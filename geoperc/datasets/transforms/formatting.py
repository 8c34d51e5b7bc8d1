"""Packing: the pipeline's ``results`` dict -> ``dict(inputs, data_samples)`` for the runner."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine.structures import PixelData

from geoperc.registry import TRANSFORMS
from geoperc.structures import GeoDataSample
from .base import BaseTransform

DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'band_count',
                     'crs', 'transform', 'window', 'nodata', 'scene_shape', 'scene_id', 'flip',
                     'flip_direction', 'scale_factor')


@TRANSFORMS.register_module()
class PackChangeInputs(BaseTransform):
    """Pack a multi-date sample.

    Returns ``dict(inputs=Tensor (T, C, H, W), data_samples=GeoDataSample)``:

    * ``inputs`` keeps the native dtype (uint8 / uint16 / float ...); the data preprocessor casts,
      normalises per band and turns nodata into ``valid_mask``. Dates with different dtypes are
      promoted to a common one; dates with different band counts or sizes are an error.
    * ``gt_sem_seg``: ``PixelData`` ``(1, H, W)`` long (0 / 1 / 255), when a label was loaded.
    * ``valid_mask``: ``PixelData`` ``(1, H, W)`` bool, when the loader produced one.
    * metainfo: the ``meta_keys`` present in ``results`` (geo keys: ``crs``, ``transform``,
      ``window``, ``nodata``; see :data:`geoperc.structures.GEO_META_KEYS`).
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        imgs = results['img']
        shapes = {im.shape for im in imgs}
        if len(shapes) != 1:
            raise ValueError(f'dates differ in (H, W, C): {[im.shape for im in imgs]} '
                             f'({results.get("img_path")})')
        dtype = np.result_type(*[im.dtype for im in imgs])
        arr = np.stack([np.ascontiguousarray(im.transpose(2, 0, 1)) for im in imgs]).astype(dtype, copy=False)
        if arr.dtype == np.uint32:  # torch has no full uint32 support
            arr = arr.astype(np.int64)
        inputs = torch.from_numpy(np.ascontiguousarray(arr))
        sample = GeoDataSample()
        if results.get('gt_seg_map') is not None:
            gt = torch.from_numpy(results['gt_seg_map'].astype(np.int64))[None]
            sample.gt_sem_seg = PixelData(data=gt)
        if results.get('valid_mask') is not None:
            sample.valid_mask = PixelData(data=torch.from_numpy(np.ascontiguousarray(results['valid_mask']))[None])
        meta = {k: results[k] for k in self.meta_keys if k in results}
        if 'img_shape' not in meta:
            meta['img_shape'] = tuple(inputs.shape[-2:])
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)
