"""Softmax cross-entropy for dense prediction, with an ignore index and a loss weight.

Used by LENet for the main head (weight 1.0) and the two auxiliary heads (weight 0.3 each).

.. versionadded:: 0.1
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from geoperc.registry import MODELS


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Pixel-wise softmax cross-entropy.

    Args:
        loss_weight: multiplier of the loss (0.3 for LENet's auxiliary heads).
        ignore_index: reference value never counted (nodata, padding).
        class_weight: optional per-class weights.
        avg_non_ignore: ``True`` averages over the counted pixels only. ``False`` (mmseg's default, which
            LENet's official configs use) divides by all pixels, ignored ones included; the two differ only
            when a batch holds ignored pixels.
        align_corners: for resizing logits to the reference size.

    ``loss_name`` (``'loss_ce'``) is the key a model logs the returned scalar under.
    """

    loss_name = 'loss_ce'

    def __init__(self, *, loss_weight: float = 1.0, ignore_index: int = 255,
                 class_weight: Sequence[float] | None = None, avg_non_ignore: bool = False,
                 align_corners: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self.avg_non_ignore = avg_non_ignore
        self.align_corners = align_corners
        self.class_weight: Tensor | None
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float32), False)
        else:
            self.class_weight = None

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """``logits`` (B, K, h, w) at any resolution (bilinearly resized to the target), ``target``
        (B, H, W) long with ``ignore_index`` where not scored. Returns a scalar."""
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(logits, size=target.shape[-2:], mode='bilinear',
                                   align_corners=self.align_corners)
        loss = F.cross_entropy(logits.float(), target, weight=self.class_weight,
                               ignore_index=self.ignore_index, reduction='none')  # (B, H, W)
        if self.avg_non_ignore:
            denom = (target != self.ignore_index).sum().clamp(min=1)
        else:
            denom = torch.tensor(loss.numel(), device=loss.device).clamp(min=1)
        return self.loss_weight * loss.sum() / denom
