"""Tiny models on the model contract (``geoperc/models/base.py``) for tests, demos and benchmarks.

* :class:`IdentityDenseModel` (``dense_probs``): ``pred_probs`` = the input bands (all dates' bands
  concatenated), so a tiled round trip must reproduce the input raster exactly. Not probabilities: a
  test instrument for the inference path.
* :class:`IdentityRegressionModel` (``dense_regression``): ``pred_depth`` = one input band, for exact
  round trips of float/uint16 regression outputs.
* :class:`TinyConvSegModel` (``dense_probs``): a few 3x3 convolutions with softmax output, a stand-in
  for a real dense model (benchmarks, checkpoint loading, learning tests).
* :class:`FixedBoxModel` (``rotated_boxes``): reports fixed rotated boxes given in *raster* pixels,
  translated into each window whose pixels contain the box centre -- a box in an overlap is reported by
  every tile that sees it, as a real detector would, and the merger must keep it once.

All take the usual ``data_preprocessor`` (default :class:`GeoDataPreprocessor` without normalisation)
and follow ``forward(inputs, data_samples, mode)`` of :class:`~geoperc.models.base.BaseGeoModel`.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.structures import InstanceData

from geoperc.models.base import DENSE_PROBS, DENSE_REGRESSION, ROTATED_BOXES, BaseDenseModel, BaseGeoModel
from geoperc.models.data_preprocessors.geo_preprocessor import GeoDataPreprocessor
from geoperc.registry import MODELS

__all__ = ['IdentityDenseModel', 'IdentityRegressionModel', 'FixedBoxModel', 'TinyConvSegModel',
           'softmax_']

_DEFAULT_PRE = dict(type=GeoDataPreprocessor)


def softmax_(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax over ``dim`` in place: torch's fused kernel writing into ``x`` (no output allocation;
    bitwise equal to ``x.softmax(dim)``)."""
    return torch.softmax(x, dim, out=x)


def _stack_dates(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1, 2) if x.dim() == 5 else x  # (B, T*C, H, W)


@MODELS.register_module()
class IdentityDenseModel(BaseDenseModel):
    """Returns its (normalised, if the preprocessor normalises) input bands as ``pred_probs``.

    Inputs ``(B, C, H, W)`` or ``(B, T, C, H, W)`` -> ``pred_probs`` ``(T*C, h, w)`` per sample, padding
    removed; ``pred_sem_seg`` is the argmax.

    Args:
        in_channels: bands per date; None accepts any band count (``num_classes`` then follows the
            input).
        num_dates: dates per sample.
    """

    def __init__(self, in_channels: Optional[int] = None, num_dates: int = 1, data_preprocessor=None,
                 init_cfg=None):
        super().__init__(in_channels or 0, (in_channels or 0) * num_dates,
                         data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE), init_cfg=init_cfg)
        self._in_channels = in_channels
        self.num_dates = int(num_dates)
        self.register_buffer('_dummy', torch.zeros(1), persistent=False)  # gives the model a device

    def _forward(self, inputs, data_samples=None):
        return _stack_dates(inputs)

    def loss(self, inputs, data_samples):
        return dict(loss_zero=inputs.float().sum() * 0)

    def predict_dense(self, inputs):
        return _stack_dates(inputs)


@MODELS.register_module()
class IdentityRegressionModel(IdentityDenseModel):
    """``pred_depth`` = band ``band`` of date 1 of its input (``dense_regression``).

    Args:
        band: 0-based band index returned.
    """

    output_kind = DENSE_REGRESSION

    def __init__(self, in_channels: Optional[int] = None, band: int = 0, data_preprocessor=None, init_cfg=None):
        super().__init__(in_channels, 1, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.band = int(band)
        self.num_classes = 0

    def predict_dense(self, inputs):
        x = inputs[:, 0] if inputs.dim() == 5 else inputs
        return x[:, self.band:self.band + 1]


@MODELS.register_module()
class TinyConvSegModel(BaseDenseModel):
    """A small fully convolutional segmenter: ``depth`` 3x3 conv+ReLU layers and a classifier.

    Works on one date ``(B, C, H, W)`` or stacks dates along channels ``(B, T, C, H, W)``.

    Args:
        in_channels: bands per date (the first layer takes ``in_channels * num_dates``).
        num_classes: K >= 2.
        width: hidden channels; depth: hidden 3x3 layers.
        head_kernel: kernel of the classifier (1, or 3 for the all-3x3 CNN of ``bench/tiled_inference.py``).
        num_dates: dates per sample.
    """

    output_kind = DENSE_PROBS

    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: int = 16, depth: int = 2,
                 head_kernel: int = 1, num_dates: int = 1, data_preprocessor=None, init_cfg=None):
        super().__init__(in_channels, num_classes, data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE),
                         init_cfg=init_cfg)
        self.num_dates = int(num_dates)
        layers: List[nn.Module] = []
        c = in_channels * self.num_dates
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(c, num_classes, head_kernel, padding=head_kernel // 2))
        self.net = nn.Sequential(*layers)

    def _forward(self, inputs, data_samples=None):
        return self.net(_stack_dates(inputs))

    def loss(self, inputs, data_samples):
        logits = self._forward(inputs)
        target = torch.stack([s.gt_sem_seg.data[0] for s in data_samples]).long()
        return dict(loss_ce=nn.functional.cross_entropy(logits, target, ignore_index=self.ignore_index))

    def predict_dense(self, inputs):
        return softmax_(self._forward(inputs), 1)


@MODELS.register_module()
class FixedBoxModel(BaseGeoModel):
    """Detector stand-in: fixed le90 rotated boxes in raster pixels, reported by every window seeing them.

    Args:
        boxes: ``(N, 5)`` ``(cx, cy, w, h, angle)`` in raster pixels of the input.
        scores: ``(N,)`` (default 0.9 each); labels: ``(N,)`` (default 0).
        jitter: maximum per-window shift (pixels) of the reported centres, deterministic per window, to
            mimic a detector that sees a box slightly differently from two tiles.
        in_channels: bands per date; None accepts any band count.
    """

    output_kind = ROTATED_BOXES

    def __init__(self, boxes: Sequence[Sequence[float]], scores: Optional[Sequence[float]] = None,
                 labels: Optional[Sequence[int]] = None, jitter: float = 0.0, in_channels: Optional[int] = None,
                 data_preprocessor=None, init_cfg=None):
        b = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 5)
        lab = torch.as_tensor(labels if labels is not None else [0] * len(b), dtype=torch.long)
        super().__init__(in_channels or 0, int(lab.max()) + 1 if len(lab) else 1,
                         data_preprocessor=data_preprocessor or dict(_DEFAULT_PRE), init_cfg=init_cfg)
        self._in_channels = in_channels
        self.register_buffer('boxes', b, persistent=False)
        self.register_buffer('scores', torch.as_tensor(scores if scores is not None else [0.9] * len(b),
                                                       dtype=torch.float32), persistent=False)
        self.register_buffer('labels', lab, persistent=False)
        self.jitter = float(jitter)

    def _forward(self, inputs, data_samples=None):
        return inputs

    def loss(self, inputs, data_samples):
        return dict(loss_zero=inputs.float().sum() * 0)

    def predict(self, inputs, data_samples=None):
        samples = self.new_samples(data_samples, inputs.shape[0])
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
