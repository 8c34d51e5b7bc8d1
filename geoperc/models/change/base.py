"""Shared behaviour of bi-temporal change detectors.

A change detector takes ``inputs`` of shape ``(B, T, C, H, W)`` (T = 2 dates, any band count) and
implements two methods:

* ``forward_logits(inputs) -> Tensor | list[Tensor]``: raw logits at any resolution, main output first.
  ``(B, K, h, w)`` with K = ``num_classes`` (softmax) or K = 1 (a single change logit, sigmoid).
* ``loss(inputs, data_samples) -> dict``: the paper's losses.

The base class turns the main logits into probabilities at input resolution (``predict_probs``),
crops the preprocessor's padding, and fills ``seg_logits`` (class probabilities, K >= 2: a binary
logit p is reported as [1 - p, p]) and ``pred_sem_seg`` (argmax; invalid pixels -> ``ignore_index``).
Tiled inference calls ``predict_probs`` on windows and blends the probabilities before the argmax.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData


class BaseChangeDetector(BaseModel):

    def __init__(self, num_classes: int = 2, ignore_index: int = 255, align_corners: bool = False,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.align_corners = align_corners

    # -- to implement -------------------------------------------------------------------------
    def forward_logits(self, inputs: torch.Tensor):
        raise NotImplementedError

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_logits(inputs)
        raise RuntimeError(f'Invalid mode "{mode}": use loss, predict or tensor')

    @staticmethod
    def stack_targets(data_samples) -> torch.Tensor:
        """(B, H, W) long change labels from the samples' ``gt_sem_seg``."""
        return torch.stack([s.gt_sem_seg.data.squeeze(0) for s in data_samples]).long()

    def resize(self, logits: torch.Tensor, size) -> torch.Tensor:
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=size, mode='bilinear', align_corners=self.align_corners)

    def predict_probs(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, K>=2, H, W) class probabilities at the input resolution."""
        out = self.forward_logits(inputs)
        main = out[0] if isinstance(out, (list, tuple)) else out
        main = self.resize(main, inputs.shape[-2:])
        if main.shape[1] == 1:
            p = main.sigmoid()
            return torch.cat([1 - p, p], dim=1)
        return main.softmax(dim=1)

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> List:
        probs = self.predict_probs(inputs)
        return self.postprocess(probs, data_samples)

    def postprocess(self, probs: torch.Tensor, data_samples: Optional[List]) -> List:
        from geoperc.structures import GeoDataSample
        if data_samples is None:
            data_samples = [GeoDataSample() for _ in range(probs.shape[0])]
        for p, sample in zip(probs, data_samples):
            h, w = sample.metainfo.get('img_shape', p.shape[-2:])
            p = p[:, :h, :w]
            label = p.argmax(dim=0, keepdim=True)
            if 'valid_mask' in sample:
                valid = sample.valid_mask.data[..., :h, :w].to(label.device).bool()
                label = torch.where(valid, label, torch.full_like(label, self.ignore_index))
                sample.valid_mask = PixelData(data=valid)
            if 'gt_sem_seg' in sample:
                sample.gt_sem_seg = PixelData(data=sample.gt_sem_seg.data[..., :h, :w])
            sample.seg_logits = PixelData(data=p)
            sample.pred_sem_seg = PixelData(data=label)
        return data_samples
