"""A minimal transform base, so the data pipeline does not need mmcv.

Same contract as ``mmcv.transforms.BaseTransform``: subclasses implement ``transform(results)``
returning the updated ``results`` dict (or ``None`` to drop the sample); calling the object calls
``transform``. mmengine's ``Compose`` accepts these objects or their configs.

Conventions of the ``results`` dict in geoperc's change pipelines (mmseg-like):

* ``img``: list of T arrays ``(H, W, C)``, native dtype, bands in file order (a 3-band PNG is R, G,
  B: no BGR anywhere); every date has the same ``(H, W)``.
* ``img_path``: list of T paths. ``seg_map_path``: path (or list of paths, united) of the label.
* ``gt_seg_map``: ``(H, W)`` uint8 labels (0 unchanged, 1 changed, 255 ignore).
* ``valid_mask``: optional ``(H, W)`` bool, False where a date has no data.
* ``seg_fields``: names of the per-pixel label-like arrays every geometric transform applies to, with
  their fill value in ``SEG_FILL`` (labels 255, masks 0).
* geo metainfo (``crs``, ``transform``, ``window``, ``nodata``) from the GeoTIFF dataset; transforms
  that move pixels keep ``transform`` / ``window`` exact (crop, resize) or drop the transform (flip,
  rotation: the window no longer has an axis-aligned affine).
"""
from typing import Dict, List, Optional

import numpy as np

# fill value of each per-pixel field when a geometric transform uncovers pixels
SEG_FILL = {'gt_seg_map': 255, 'valid_mask': 0}


class BaseTransform:
    """Base class of geoperc's data transforms (mmcv-compatible ``transform`` / ``__call__``)."""

    def __call__(self, results: Dict) -> Optional[Dict]:
        return self.transform(results)

    def transform(self, results: Dict) -> Optional[Dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{self.__class__.__name__}({args})'


def seg_fields(results: Dict) -> List[str]:
    """The per-pixel label-like fields present in ``results`` (``gt_seg_map``, ``valid_mask``, ...)."""
    names = list(results.get('seg_fields', []))
    for k in ('gt_seg_map', 'valid_mask'):
        if k in results and k not in names:
            names.append(k)
    return [k for k in names if results.get(k) is not None]


def seg_fill(name: str) -> int:
    return SEG_FILL.get(name, 255)


def as_hwc(img: np.ndarray) -> np.ndarray:
    return img[..., None] if img.ndim == 2 else img


def cv2_per_chunk(fn, img: np.ndarray) -> np.ndarray:
    """Apply an OpenCV function to an ``(H, W, C)`` image of any band count.

    Several OpenCV geometric functions handle at most 4 channels; the bands are processed in chunks
    of 4 and concatenated, and a single band keeps its channel axis.
    """
    img = as_hwc(img)
    outs = []
    for s in range(0, img.shape[2], 4):
        part = np.ascontiguousarray(img[..., s:s + 4])
        o = fn(part)
        outs.append(as_hwc(o))
    return np.concatenate(outs, axis=2) if len(outs) > 1 else outs[0]


def check_same_shape(results: Dict, name: str) -> None:
    """All dates and per-pixel fields must share (H, W) before a geometric transform."""
    imgs = results['img']
    H, W = imgs[0].shape[:2]
    for i, im in enumerate(imgs):
        if im.shape[:2] != (H, W):
            raise ValueError(f'{name}: date {i} is {im.shape[:2]} but date 0 is {(H, W)} '
                             f'({results.get("img_path")}); align the dates first')
    for k in seg_fields(results):
        if results[k].shape[:2] != (H, W):
            raise ValueError(f'{name}: {k} is {results[k].shape[:2]} but the images are {(H, W)} '
                             f'({results.get("seg_map_path")})')
