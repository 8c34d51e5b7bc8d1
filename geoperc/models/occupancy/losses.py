"""Semantic scene completion losses of MonoScene / Symphonies / VPOcc (weights 1, summed).

Cao & de Charette, "MonoScene: Monocular 3D Semantic Scene Completion", CVPR 2022; as used by VPOcc
(official criterions ``ce_ssc``, ``sem_scal``, ``geo_scal``, the design notes on VPOcc):

* :func:`ce_ssc_loss`: class-weighted cross-entropy over voxels, ``ignore_index`` 255, mean over the
  weights of the counted voxels (``F.cross_entropy(weight=..., reduction='mean')``). SemanticKITTI's
  weights are ``1 / log(freq + 1e-6)`` of the class frequencies hard-coded in the official dataset
  (:data:`SEMANTIC_KITTI_CLASS_FREQ`).
* :func:`sem_scal_loss`: for every class present in the target, BCE-to-one of its soft precision,
  recall and specificity over the valid voxels (each term only when its denominator is positive),
  averaged over the classes present.
* :func:`geo_scal_loss`: the same three terms for "occupied" (``1 - p(empty)``) against target != 0.

Like the official code, scores of the whole batch are pooled (one precision per class over all
samples' voxels).
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['SEMANTIC_KITTI_CLASS_FREQ', 'KITTI360_CLASS_FREQ', 'class_weights_from_freq', 'ce_ssc_loss',
           'sem_scal_loss', 'geo_scal_loss', 'SSCLoss']

#: voxel class frequencies of SemanticKITTI train (empty first), as hard-coded in the official dataset
SEMANTIC_KITTI_CLASS_FREQ = (
    5.41773033e09, 1.57835390e07, 1.25136000e05, 1.18809000e05, 6.46799000e05, 8.21951000e05, 2.62978000e05,
    2.83696000e05, 2.04750000e05, 6.16887030e07, 4.50296100e06, 4.48836500e07, 2.26992300e06, 5.68402180e07,
    1.57196520e07, 1.58442623e08, 2.06162300e06, 3.69705220e07, 1.15198800e06, 3.34146000e05)

#: SSCBench-KITTI-360 voxel class frequencies (19 classes, empty first), as in the Symphonies/VPOcc dataset
KITTI360_CLASS_FREQ = (
    2264087502, 20098728, 104972, 96297, 1149426, 4051087, 125103, 105540713, 16292249, 45297267, 14454132,
    110397082, 6766219, 295883213, 50037503, 1561069, 406330, 30516166, 1950115)


def class_weights_from_freq(freq: Sequence[float]) -> torch.Tensor:
    """``1 / log(freq + 1e-6)`` per class (float32)."""
    return torch.tensor([1.0 / math.log(float(f) + 1e-6) for f in freq], dtype=torch.float32)


def ce_ssc_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: Optional[torch.Tensor] = None,
                ignore_index: int = 255) -> torch.Tensor:
    """``logits (B, C, X, Y, Z)``, ``target (B, X, Y, Z)`` long."""
    w = class_weights.to(logits.device, torch.float32) if class_weights is not None else None
    return F.cross_entropy(logits.float(), target.long(), weight=w, ignore_index=ignore_index, reduction='mean')


def _bce_one(x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(x.clamp(0.0, 1.0), torch.ones_like(x))


def sem_scal_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    prob = F.softmax(logits.float(), dim=1)
    mask = target != ignore_index
    t = target[mask]
    loss = logits.new_zeros(())
    cnt = 0
    for c in range(prob.shape[1]):
        p = prob[:, c][mask]
        tc = (t == c).float()
        if tc.sum() <= 0:
            continue
        cnt += 1
        nom = (p * tc).sum()
        if p.sum() > 0:
            loss = loss + _bce_one(nom / p.sum())
        loss = loss + _bce_one(nom / tc.sum())
        if (1 - tc).sum() > 0:
            loss = loss + _bce_one(((1 - p) * (1 - tc)).sum() / (1 - tc).sum())
    return loss / max(cnt, 1)


def geo_scal_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255,
                  empty_index: int = 0) -> torch.Tensor:
    prob = F.softmax(logits.float(), dim=1)
    mask = target != ignore_index
    empty = prob[:, empty_index][mask]
    nonempty = 1 - empty
    tgt = (target[mask] != empty_index).float()
    inter = (tgt * nonempty).sum()
    eps = torch.finfo(prob.dtype).tiny  # the official code divides unguarded; keep 0/0 finite
    precision = inter / nonempty.sum().clamp(min=eps)
    recall = inter / tgt.sum().clamp(min=eps)
    spec = ((1 - tgt) * empty).sum() / (1 - tgt).sum().clamp(min=eps)
    return _bce_one(precision) + _bce_one(recall) + _bce_one(spec)


class SSCLoss(nn.Module):
    """The three VPOcc criteria -> ``dict(loss_ce, loss_sem_scal, loss_geo_scal)`` (weights default 1).

    Args:
        class_weights: CE weights per class, or None for unweighted CE.
        loss_weights: ``dict(ce=1, sem_scal=1, geo_scal=1)``; a criterion with weight 0 is skipped.
    """

    def __init__(self, class_weights: Optional[Sequence[float]] = None, ignore_index: int = 255,
                 empty_index: int = 0, loss_weights: Optional[dict] = None):
        super().__init__()
        cw = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer('class_weights', cw, persistent=False)
        self.ignore_index, self.empty_index = ignore_index, empty_index
        self.loss_weights = dict(ce=1.0, sem_scal=1.0, geo_scal=1.0, **(loss_weights or {}))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> dict:
        out = {}
        lw = self.loss_weights
        if lw['ce']:
            out['loss_ce'] = lw['ce'] * ce_ssc_loss(logits, target, self.class_weights, self.ignore_index)
        if lw['sem_scal']:
            out['loss_sem_scal'] = lw['sem_scal'] * sem_scal_loss(logits, target, self.ignore_index)
        if lw['geo_scal']:
            out['loss_geo_scal'] = lw['geo_scal'] * geo_scal_loss(logits, target, self.ignore_index,
                                                                  self.empty_index)
        return out
