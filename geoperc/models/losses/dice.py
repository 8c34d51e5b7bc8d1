"""Binary cross-entropy + Dice for a single change logit (FSG-Net's ``bce+dice``).

``L = w_bce * BCE(sigmoid(z), y) + w_dice * (1 - (2 sum(p y) + s) / (sum(p) + sum(y) + s))``, the Dice term
computed over the whole batch (one global overlap, as in the change-detection template FSG-Net's
complexity script points to), pixels equal to ``ignore_index`` excluded from both terms.

.. versionadded:: 0.1
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from geoperc.registry import MODELS


def _prepare(logits: Tensor, target: Tensor, ignore_index: int,
             align_corners: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(B, 1, h, w) logits and (B, H, W) target -> flat logits, float target, valid mask."""
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode='bilinear', align_corners=align_corners)
    if logits.shape[1] != 1:
        raise ValueError(f'binary losses need a single change logit, got {logits.shape[1]} channels')
    z = logits[:, 0].float()
    valid = target != ignore_index
    y = (target == 1).float()
    return z, y, valid.float()


@MODELS.register_module()
class DiceLoss(nn.Module):
    """Soft Dice loss on ``sigmoid(logit)`` for the change class, ignored pixels excluded (logged as
    ``loss_name`` = ``'loss_dice'``)."""

    loss_name = 'loss_dice'

    def __init__(self, *, loss_weight: float = 1.0, smooth: float = 1.0, ignore_index: int = 255,
                 align_corners: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.smooth = smooth
        self.ignore_index = ignore_index
        self.align_corners = align_corners

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        z, y, m = _prepare(logits, target, self.ignore_index, self.align_corners)
        p = z.sigmoid() * m
        y = y * m
        dice = (2 * (p * y).sum() + self.smooth) / (p.sum() + y.sum() + self.smooth)
        return self.loss_weight * (1 - dice)


@MODELS.register_module()
class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE + dice_weight * Dice`` on one change logit (B, 1, h, w).

    Returns a dict ``{'loss_bce': ..., 'loss_dice': ...}`` so both terms are logged (MMEngine sums every
    key containing ``loss``).
    """

    def __init__(self, *, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0,
                 pos_weight: float | None = None, ignore_index: int = 255, align_corners: bool = False) -> None:
        super().__init__()
        self.bce_weight = bce_weight
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.dice = DiceLoss(loss_weight=dice_weight, smooth=smooth, ignore_index=ignore_index,
                             align_corners=align_corners)

    def forward(self, logits: Tensor, target: Tensor) -> dict[str, Tensor]:
        z, y, m = _prepare(logits, target, self.ignore_index, self.align_corners)
        pw = None if self.pos_weight is None else z.new_tensor(self.pos_weight)
        bce = F.binary_cross_entropy_with_logits(z, y, reduction='none', pos_weight=pw)
        bce = (bce * m).sum() / m.sum().clamp(min=1)
        return dict(loss_bce=self.bce_weight * bce, loss_dice=self.dice(logits, target))
