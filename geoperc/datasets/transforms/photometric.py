"""Photometric distortion for multi-date samples.

Unlike the geometric transforms, the distortion is drawn INDEPENDENTLY for each date by default. This
is deliberate: a brightness / contrast / colour difference between the dates of an unchanged pixel is
a *pseudo-change* (season, sun angle, sensor), and training on independently distorted dates teaches
the model that such differences are not change. Set ``same_for_all_dates=True`` to distort both dates
alike (what an mmseg ``PhotoMetricDistortion`` on the channel-concatenated pair does).

Pixels that carry no data (``valid_mask`` False, or every band equal to ``nodata``) are left
untouched so the data preprocessor still recognises them.
"""
from typing import Dict, Optional

import numpy as np

from geoperc.registry import TRANSFORMS
from .base import BaseTransform


@TRANSFORMS.register_module()
class MultiDatePhotoMetricDistortion(BaseTransform):
    """mmseg's ``PhotoMetricDistortion`` for any band count and dtype, per date.

    Steps, each with probability 0.5, in mmseg's order: brightness, contrast (before or after the
    colour steps, drawn at random), saturation, hue. Brightness and contrast apply to every band.
    Saturation and hue need an RGB image: they run only on 3-band uint8 dates and are skipped
    otherwise (multispectral data has no hue).

    Args:
        brightness_delta (int): brightness shift range, in 8-bit units; scaled to the data range
            for other dtypes (``value_range``).
        contrast_range (tuple): contrast factor range.
        saturation_range (tuple): saturation factor range (RGB uint8 only).
        hue_delta (int): hue shift range in OpenCV hue units (0..180) (RGB uint8 only).
        value_range (float, optional): the data's full-scale value, used to scale
            ``brightness_delta`` and to clip. Default: 255 for uint8; for other dtypes the maximum of
            the date being distorted (so 12-bit data in uint16 are not shifted by 16-bit amounts).
        same_for_all_dates (bool): draw one set of parameters for all dates (default False: an
            independent draw per date, a pseudo-change augmentation).
    """

    def __init__(self, brightness_delta: int = 32, contrast_range=(0.5, 1.5),
                 saturation_range=(0.5, 1.5), hue_delta: int = 18,
                 value_range: Optional[float] = None, same_for_all_dates: bool = False):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta
        self.value_range = value_range
        self.same_for_all_dates = same_for_all_dates

    def _draw(self) -> Dict:
        """One set of random parameters (None = step skipped)."""
        r = np.random
        p = dict(brightness=None, contrast=None, saturation=None, hue=None)
        if r.randint(2):
            p['brightness'] = r.uniform(-self.brightness_delta, self.brightness_delta)
        p['contrast_first'] = bool(r.randint(2))
        if r.randint(2):
            p['contrast'] = r.uniform(self.contrast_lower, self.contrast_upper)
        if r.randint(2):
            p['saturation'] = r.uniform(self.saturation_lower, self.saturation_upper)
        if r.randint(2):
            p['hue'] = int(r.randint(-self.hue_delta, self.hue_delta))
        return p

    def _range(self, img: np.ndarray) -> float:
        if self.value_range is not None:
            return float(self.value_range)
        if img.dtype == np.uint8:
            return 255.0
        m = float(np.max(img)) if img.size else 0.0
        return m if m > 0 else 1.0

    def _distort(self, img: np.ndarray, p: Dict) -> np.ndarray:
        import cv2
        dtype = img.dtype
        full = self._range(img)
        x = img.astype(np.float32)

        def clip(a):
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                return np.clip(a, max(info.min, 0), info.max)
            return a

        if p['brightness'] is not None:
            x = clip(x + p['brightness'] * full / 255.0)
        if p['contrast_first'] and p['contrast'] is not None:
            x = clip(x * p['contrast'])
        if dtype == np.uint8 and x.shape[2] == 3 and (p['saturation'] is not None or p['hue'] is not None):
            hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
            if p['saturation'] is not None:
                hsv[..., 1] = np.clip(hsv[..., 1] * p['saturation'], 0, 255)
            if p['hue'] is not None:
                hsv[..., 0] = (hsv[..., 0].astype(np.int32) + p['hue']) % 180
            x = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        if not p['contrast_first'] and p['contrast'] is not None:
            x = clip(x * p['contrast'])
        if np.issubdtype(dtype, np.integer):
            x = np.rint(x)
        return x.astype(dtype)

    @staticmethod
    def _nudge(nodata, dtype) -> float:
        if np.issubdtype(dtype, np.integer) and nodata >= np.iinfo(dtype).max:
            return nodata - 1
        return nodata + 1

    def transform(self, results: Dict) -> Dict:
        shared = self._draw() if self.same_for_all_dates else None
        nodata = results.get('nodata')
        valid = results.get('valid_mask')
        out = []
        for img in results['img']:
            p = shared if shared is not None else self._draw()
            new = self._distort(img, p)
            keep = None
            if nodata is not None:
                keep = (img == np.asarray(nodata, img.dtype)).all(axis=2)
            if valid is not None and valid.shape == img.shape[:2]:
                keep = ~valid if keep is None else (keep | ~valid)
            if keep is not None and keep.any():
                new[keep] = img[keep]
            if nodata is not None:  # a distorted valid pixel must not turn into nodata
                hit = (new == np.asarray(nodata, new.dtype)).all(axis=2)
                if keep is not None:
                    hit &= ~keep
                if hit.any():
                    new[hit, 0] = self._nudge(nodata, new.dtype)
            out.append(new)
        results['img'] = out
        return results
