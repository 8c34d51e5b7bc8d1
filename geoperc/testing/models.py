"""Tiny models for tests, demos and benchmarks of the inference path (registered in ``MODELS``).

* :class:`IdentityDenseModel`: ``seg_logits`` = the input bands (all dates' bands concatenated), so a
  tiled round trip must reproduce the input raster exactly.
* :class:`FixedBoxModel`: reports fixed rotated boxes given in *raster* pixels, translated into each
  window whose pixels contain the box centre -- a box in an overlap is reported by every tile that sees
  it, as a real detector would, and the merger must keep it once.
* :class:`TinyConvSegModel`: a few 3x3 convolutions with softmax output, a stand-in for a real dense
  model (benchmarks, checkpoint loading).

All take the usual ``data_preprocessor`` and follow ``BaseModel.forward(inputs, data_samples, mode)``.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData

from geoperc.models.data_preprocessors.geo_preprocessor import GeoDataPreprocessor
from geoperc.registry import MODELS
from geoperc.structures.geo_data_sample import GeoDataSample

__all__ = ['IdentityDenseModel', 'FixedBoxModel', 'TinyConvSegModel']

_DEFAULT_PRE = dict(type=GeoDataPreprocessor)


def _samples(data_samples, n):
    return data_samples if data_samples is not None else [GeoDataSample() for _ in range(n)]


def _crop(sample, x):
    h, w = sample.metainfo.get('img_shape', x.shape[-2:])
    return x[..., :h, :w]


@MODELS.register_module()
class IdentityDenseModel(BaseModel):
    """Returns its (normalised, if the preprocessor normalises) input bands as ``seg_logits``.

    Inputs ``(B, C, H, W)`` or ``(B, T, C, H, W)`` -> ``seg_logits`` ``(T*C, h, w)`` per sample, padding
    removed; ``pred_sem_seg`` is the argmax, ``valid_mask`` is kept.
    """

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE), init_cfg=init_cfg)
        self.register_buffer('_dummy', torch.zeros(1), persistent=False)  # gives the model a device

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        x = inputs.flatten(1, 2) if inputs.dim() == 5 else inputs  # (B, T*C, H, W)
        if mode == 'tensor':
            return x
        if mode == 'loss':
            return dict(loss_zero=x.sum() * 0)
        samples = _samples(data_samples, x.shape[0])
        for xi, s in zip(x, samples):
            p = _crop(s, xi)
            s.seg_logits = PixelData(data=p)
            s.pred_sem_seg = PixelData(data=p.argmax(0, keepdim=True))
            if 'valid_mask' in s:
                s.valid_mask = PixelData(data=_crop(s, s.valid_mask.data))
        return samples


@MODELS.register_module()
class FixedBoxModel(BaseModel):
    """Detector stand-in: fixed le90 rotated boxes in raster pixels, reported by every window seeing them.

    Args:
        boxes: ``(N, 5)`` ``(cx, cy, w, h, angle)`` in raster pixels of the input.
        scores: ``(N,)`` (default 0.9 each); labels: ``(N,)`` (default 0).
        jitter: maximum per-window shift (pixels) of the reported centres, deterministic per window, to
            mimic a detector that sees a box slightly differently from two tiles.
    """

    def __init__(self, boxes: Sequence[Sequence[float]], scores: Optional[Sequence[float]] = None,
                 labels: Optional[Sequence[int]] = None, jitter: float = 0.0, data_preprocessor=None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE), init_cfg=init_cfg)
        b = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 5)
        self.register_buffer('boxes', b, persistent=False)
        self.register_buffer('scores', torch.as_tensor(scores if scores is not None else [0.9] * len(b),
                                                       dtype=torch.float32), persistent=False)
        self.register_buffer('labels', torch.as_tensor(labels if labels is not None else [0] * len(b),
                                                       dtype=torch.long), persistent=False)
        self.jitter = float(jitter)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'tensor':
            return inputs
        if mode == 'loss':
            return dict(loss_zero=inputs.float().sum() * 0)
        samples = _samples(data_samples, inputs.shape[0])
        for s in samples:
            col, row = s.metainfo.get('window', (0, 0, 0, 0))[:2]
            h, w = s.metainfo.get('img_shape', inputs.shape[-2:])
            b = self.boxes.clone()
            b[:, 0] -= col
            b[:, 1] -= row
            inside = (b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 0] < w) & (b[:, 1] < h)
            if self.jitter:
                g = torch.Generator().manual_seed(int(col) * 100003 + int(row))
                b[:, :2] += (torch.rand(len(b), 2, generator=g) * 2 - 1) * self.jitter
            inst = InstanceData()
            inst.bboxes = b[inside]
            inst.scores = self.scores[inside]
            inst.labels = self.labels[inside]
            s.pred_instances = inst
        return samples


@MODELS.register_module()
class TinyConvSegModel(BaseModel):
    """A small fully convolutional segmenter: ``depth`` 3x3 conv+ReLU layers and a 1x1 classifier.

    Works on one date ``(B, C, H, W)`` or stacks dates along channels ``(B, T, C, H, W)``.

    Args:
        in_channels: C * T, input channels after stacking dates.
        num_classes: K >= 2.
        width: hidden channels; depth: hidden layers.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: int = 16, depth: int = 2,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE), init_cfg=init_cfg)
        layers: List[nn.Module] = []
        c = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(c, num_classes, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        x = inputs.flatten(1, 2) if inputs.dim() == 5 else inputs
        logits = self.net(x)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            target = torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long()
            return dict(loss_ce=nn.functional.cross_entropy(logits, target, ignore_index=255))
        probs = logits.softmax(1)
        samples = _samples(data_samples, x.shape[0])
        for p, s in zip(probs, samples):
            p = _crop(s, p)
            s.seg_logits = PixelData(data=p)
            s.pred_sem_seg = PixelData(data=p.argmax(0, keepdim=True))
            if 'valid_mask' in s:
                s.valid_mask = PixelData(data=_crop(s, s.valid_mask.data))
        return samples
