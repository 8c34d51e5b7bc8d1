"""BerHu (reverse Huber) depth loss as OmniFusion's official ``supervision/direct.py`` computes it."""
from typing import Optional

import torch
from torch import Tensor, nn

from geoperc.registry import MODELS

__all__ = ['BerHuLoss', 'berhu_loss']


def berhu_loss(pred: Tensor, target: Tensor, mask: Tensor, weight: Optional[Tensor] = None,
               threshold: float = 0.2, c_from: str = 'all', eps: float = 1e-6) -> Tensor:
    """Masked BerHu loss, official conventions.

    ``diff = target - pred``, ``c = threshold * max|diff|`` (official ``/ 5``; a Python float, so no
    gradient flows through ``c``); per pixel ``|diff|`` where ``|diff| <= c`` else ``(diff^2 + c^2) /
    (2c)``; per sample the sum over valid pixels divided by their count; then the mean over the batch.

    Args:
        pred / target: ``(B, 1, H, W)`` metres. ``target`` is zeroed where ``mask`` is False, as the
            official loader zeroes invalid depth before the loss sees it.
        mask: ``(B, 1, H, W)`` bool/0-1 valid pixels.
        weight: optional per-pixel weights (the official training passes ones).
        c_from: ``'all'`` (official: ``max|diff|`` over *every* pixel, invalid ones included, where the
            zeroed target makes ``|diff| = pred``) or ``'valid'`` (only valid pixels).
        eps: floor of ``c`` (the official code divides by zero when the prediction is exact).

    A sample without valid pixels contributes 0 (the official code returns NaN for the batch).
    """
    if c_from not in ('all', 'valid'):
        raise ValueError(f"c_from must be 'all' or 'valid', got {c_from!r}")
    m = mask.to(pred.dtype)
    target = target * m
    diff = target - pred
    ad = diff.abs()
    ref = ad if c_from == 'all' else ad[m > 0]
    c = max(float(ref.detach().max()) * threshold if ref.numel() else 0.0, eps)
    loss = torch.where(ad <= c, ad, (diff * diff + c * c) / (2 * c))
    B = pred.shape[0]
    loss = loss * m if weight is None else loss * m * weight
    count = m.reshape(B, -1).sum(1)
    per_sample = loss.reshape(B, -1).sum(1) / count.clamp_min(1)
    return per_sample.mean()


@MODELS.register_module()
class BerHuLoss(nn.Module):
    """:func:`berhu_loss` as a module (``threshold`` 0.2 = the official ``max / 5``)."""

    def __init__(self, threshold: float = 0.2, c_from: str = 'all', loss_weight: float = 1.0, eps: float = 1e-6):
        super().__init__()
        self.threshold = threshold
        self.c_from = c_from
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor, weight: Optional[Tensor] = None) -> Tensor:
        return self.loss_weight * berhu_loss(pred, target, mask, weight, self.threshold, self.c_from, self.eps)
