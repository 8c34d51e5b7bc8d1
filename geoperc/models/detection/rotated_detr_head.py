"""Prediction branches, losses and post-processing of the rotated deformable DETR (ARS-DETR design).

Behaviour of the official ``DNARSDeformableDETRHead`` (``httle/ARS-DETR``; vendored by MutDet),
re-written on mmdet 3:

* Branches, one set per decoder layer plus one for the encoder proposals (two-stage, box refinement):
  ``cls`` Linear(C, K); ``reg`` MLP (Linear-ReLU x2, Linear -> 4) predicting a delta added to the
  logit of the layer's reference box; ``angle`` Linear(C, 180), CSL logits (:mod:`.csl`).
* Losses of each layer, of the denoising queries of each layer and of the encoder proposals
  (binary targets: every object is class 0):
  focal (alpha 0.25, gamma 2, weight 2.0, averaged over the positives), L1 on normalized
  ``(cx, cy, w, h)`` (2.0), GIoU on the horizontal ``(cx, cy, w, h)`` box (5.0) and the CSL angle loss
  (sigmoid cross-entropy over 180 bins, 2.0, averaged over ``positives x 180``), the angle weight of a
  positive scaled by ``2k / (k + 1)`` (aspect-ratio weighting, ``k = max(w/h, h/w)``).
  Keys: ``loss_cls`` ... for the last layer, ``loss_cls_d0`` ... for the earlier layers,
  ``loss_cls_enc`` ... for the proposals, ``loss_cls_dn`` / ``loss_cls_dn_d0`` ... for denoising.
* Prediction (last layer): sigmoid scores over queries x classes, the best ``max_per_img`` pairs,
  boxes scaled to pixels by the image size and brought to le90 (``w >= h``).

Initialisation as the official head: class biases at prior 0.01, the last regression layer zero, the
angle branch PyTorch's default (the official prior-0.01 angle bias is commented out; ``angle_bias_prior``
sets one).

Prediction departs from the official ``_get_bboxes_single`` in two harmless ways: boxes are scaled by
(W, H, W, H) (the official code multiplies all four by the width: the same on square inputs) and brought
to le90 (``w >= h``), which the contract requires.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Linear
from mmdet.models.losses import CrossEntropyLoss, FocalLoss, GIoULoss, L1Loss
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule, bias_init_with_prob, constant_init
from mmengine.structures import InstanceData

from geoperc.models.base import build_module
from .assigner import RotatedHungarianAssigner, aspect_ratio_weight
from .csl import CSLCoder

__all__ = ['RotatedDETRHead', 'regularize_le90_torch']


def regularize_le90_torch(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, 5)`` boxes -> le90 (``w >= h``, angle in ``[-pi/2, pi/2)``), differentiable-free torch."""
    cx, cy, w, h, a = boxes.unbind(-1)
    swap = w < h
    w2, h2 = torch.where(swap, h, w), torch.where(swap, w, h)
    a = torch.where(swap, a + math.pi / 2, a)
    a = torch.remainder(a + math.pi / 2, math.pi) - math.pi / 2
    return torch.stack([cx, cy, w2, h2, a], -1)


def _mlp_reg(embed_dims: int, num_fcs: int = 2) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [Linear(embed_dims, embed_dims), nn.ReLU()]
    layers.append(Linear(embed_dims, 4))
    return nn.Sequential(*layers)


class RotatedDETRHead(BaseModule):
    """Branches, targets, losses and post-processing (see the module docstring).

    Args:
        num_classes: K.
        embed_dims: C.
        num_pred_layers: branch sets (decoder layers + 1 for the encoder proposals).
        angle_coder: :class:`CSLCoder` arguments (ARS-DETR: ``window='aspect_ratio'``, omega 1, radius 6,
            normalize) or a coder.
        loss_cls / loss_bbox / loss_iou / loss_angle: mmdet loss configs.
        assigner: :class:`RotatedHungarianAssigner` arguments (match-cost weights).
        aspect_ratio_weighting: weight each positive's angle loss by ``2k / (k + 1)``.
        enc_loss_on: ``'all'`` encoder tokens (official, mmdet-2 two-stage) or only the ``'topk'``
            selected proposals (mmdet-3 DINO; cheaper).
        max_per_img: detections kept per image.
        angle_bias_prior: initialise the angle-branch biases at this prior probability (None: PyTorch's
            default, as the official head).
    """

    def __init__(self, num_classes: int, embed_dims: int = 256, num_pred_layers: int = 7, num_reg_fcs: int = 2,
                 angle_coder=None, loss_cls=None, loss_bbox=None, loss_iou=None, loss_angle=None,
                 assigner: Optional[dict] = None, aspect_ratio_weighting: bool = True, enc_loss_on: str = 'all',
                 max_per_img: int = 100, sync_cls_avg_factor: bool = True, angle_bias_prior: Optional[float] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if enc_loss_on not in ('all', 'topk'):
            raise ValueError(f"enc_loss_on must be 'all' or 'topk', got {enc_loss_on!r}")
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        coder = angle_coder if isinstance(angle_coder, CSLCoder) else CSLCoder(
            **(angle_coder or dict(omega=1, window='aspect_ratio', radius=6, normalize=True)))
        self.angle_coder = coder
        self.coding_len = coder.coding_len
        self.cls_branches = nn.ModuleList([Linear(embed_dims, num_classes) for _ in range(num_pred_layers)])
        self.reg_branches = nn.ModuleList([_mlp_reg(embed_dims, num_reg_fcs) for _ in range(num_pred_layers)])
        self.angle_branches = nn.ModuleList([Linear(embed_dims, coder.coding_len) for _ in range(num_pred_layers)])
        self.loss_cls = build_module(loss_cls or dict(type=FocalLoss, use_sigmoid=True, gamma=2.0, alpha=0.25,
                                                      loss_weight=2.0))
        self.loss_bbox = build_module(loss_bbox or dict(type=L1Loss, loss_weight=2.0))
        self.loss_iou = build_module(loss_iou or dict(type=GIoULoss, loss_weight=5.0))
        self.loss_angle = build_module(loss_angle or dict(type=CrossEntropyLoss, use_sigmoid=True, loss_weight=2.0))
        self.assigner = RotatedHungarianAssigner(**(assigner or {}))
        self.aspect_ratio_weighting = aspect_ratio_weighting
        self.enc_loss_on = enc_loss_on
        self.max_per_img = max_per_img
        self.sync_cls_avg_factor = sync_cls_avg_factor
        self.angle_bias_prior = angle_bias_prior
        self.init_branches()

    def init_branches(self) -> None:
        for m in self.cls_branches:
            nn.init.constant_(m.bias, bias_init_with_prob(0.01))
        if self.angle_bias_prior is not None:
            for m in self.angle_branches:
                nn.init.constant_(m.bias, bias_init_with_prob(self.angle_bias_prior))
        for m in self.reg_branches:
            constant_init(m[-1], 0, bias=0)

    def init_weights(self) -> None:
        super().init_weights()
        self.init_branches()

    # -- forward ----------------------------------------------------------------------------------
    def forward_layers(self, hidden: torch.Tensor, references: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``hidden`` ``(L, B, Q, C)``, ``references`` ``(L + 1, B, Q, 4)`` (each layer's input reference
        first) -> ``cls`` ``(L, B, Q, K)``, ``boxes`` ``(L, B, Q, 4)`` in ``[0, 1]``, ``angle_logits``
        ``(L, B, Q, 180)``."""
        from mmdet.models.layers import inverse_sigmoid
        cls, boxes, angs = [], [], []
        for lid in range(hidden.shape[0]):
            cls.append(self.cls_branches[lid](hidden[lid]))
            boxes.append((self.reg_branches[lid](hidden[lid]) + inverse_sigmoid(references[lid], eps=1e-3)).sigmoid())
            angs.append(self.angle_branches[lid](hidden[lid]))
        return torch.stack(cls), torch.stack(boxes), torch.stack(angs)

    # -- targets ----------------------------------------------------------------------------------
    def encode_angles(self, gt_boxes: torch.Tensor) -> torch.Tensor:
        """``(G, 5)`` le90 boxes -> ``(G, 180)`` CSL targets."""
        k = torch.maximum(gt_boxes[:, 2] / gt_boxes[:, 3].clamp(min=1e-6),
                          gt_boxes[:, 3] / gt_boxes[:, 2].clamp(min=1e-6))
        return self.angle_coder.encode(gt_boxes[:, 4], k)

    def _targets(self, n: int, pos: torch.Tensor, gt_idx: torch.Tensor, gt_boxes: torch.Tensor,
                 gt_labels: torch.Tensor, gt_csl: torch.Tensor, img_shape, device) -> Tuple[torch.Tensor, ...]:
        h, w = img_shape
        labels = torch.full((n,), self.num_classes, dtype=torch.long, device=device)
        box_t = torch.zeros(n, 4, device=device)
        box_w = torch.zeros(n, 4, device=device)
        ang_t = torch.zeros(n, self.coding_len, device=device)
        ang_w = torch.zeros(n, self.coding_len, device=device)
        if len(pos):
            labels[pos] = gt_labels[gt_idx]
            box_t[pos] = gt_boxes[gt_idx, :4].float() / box_t.new_tensor([w, h, w, h])
            box_w[pos] = 1.0
            ang_t[pos] = gt_csl[gt_idx]
            aw = aspect_ratio_weight(gt_boxes[gt_idx, 2:4].float()) if self.aspect_ratio_weighting else \
                torch.ones(len(pos), device=device)
            ang_w[pos] = aw[:, None]
        return labels, box_t, box_w, ang_t, ang_w

    def _losses(self, cls: torch.Tensor, boxes: torch.Tensor, angs: torch.Tensor, targets: List[tuple],
                img_shapes: Sequence, num_pos: int) -> Tuple[torch.Tensor, ...]:
        labels, box_t, box_w, ang_t, ang_w = [torch.cat(t) for t in zip(*targets)]
        cls = cls.reshape(-1, self.num_classes)
        boxes = boxes.reshape(-1, 4)
        angs = angs.reshape(-1, self.coding_len)
        avg = cls.new_tensor([float(num_pos)])
        if self.sync_cls_avg_factor:
            avg = reduce_mean(avg)
        avg = max(float(avg), 1.0)
        loss_cls = self.loss_cls(cls, labels, torch.ones_like(labels, dtype=cls.dtype), avg_factor=avg)
        factors = torch.cat([boxes.new_tensor([w, h, w, h]).expand(len(t[0]), 4)
                             for t, (h, w) in zip(targets, img_shapes)])
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(boxes) * factors, bbox_cxcywh_to_xyxy(box_t) * factors,
                                 box_w, avg_factor=avg)
        loss_bbox = self.loss_bbox(boxes, box_t, box_w, avg_factor=avg)
        loss_angle = self.loss_angle(angs, ang_t, ang_w, avg_factor=avg * self.coding_len)
        return loss_cls, loss_bbox, loss_iou, loss_angle

    def loss_matched(self, cls: torch.Tensor, boxes: torch.Tensor, angs: torch.Tensor, gts: List[InstanceData],
                     img_shapes: Sequence, binary: bool = False) -> Tuple[torch.Tensor, ...]:
        """Losses of one layer's matching queries: ``cls`` ``(B, Q, K)``, ``boxes`` ``(B, Q, 4)``,
        ``angs`` ``(B, Q, 180)``; ``gts`` per image (``bboxes`` (G, 5) pixels, ``labels``);
        ``binary``: all objects are class 0 (encoder proposals)."""
        targets, num_pos = [], 0
        for i, gt in enumerate(gts):
            gb = gt.bboxes.float()
            gl = torch.zeros_like(gt.labels) if binary else gt.labels
            csl = self.encode_angles(gb)
            q, g = self.assigner.assign(cls[i], boxes[i], angs[i], gb, gl, csl, img_shapes[i]) if len(gb) else \
                (torch.zeros(0, dtype=torch.long, device=cls.device),) * 2
            targets.append(self._targets(cls.shape[1], q, g, gb, gl, csl, img_shapes[i], cls.device))
            num_pos += len(q)
        return self._losses(cls, boxes, angs, targets, img_shapes, num_pos)

    def loss_dn(self, cls: torch.Tensor, boxes: torch.Tensor, angs: torch.Tensor, gts: List[InstanceData],
                img_shapes: Sequence, dn_meta: dict) -> Tuple[torch.Tensor, ...]:
        """Losses of one layer's denoising queries (positives reconstruct their object, negatives are
        background)."""
        G, max_gts = dn_meta['num_groups'], dn_meta['max_gts']
        targets, num_pos = [], 0
        for i, gt in enumerate(gts):
            gb = gt.bboxes.float()
            n = len(gb)
            dev = cls.device
            t = torch.arange(n, device=dev)
            pos = (torch.arange(G, device=dev)[:, None] * 2 * max_gts + t[None]).reshape(-1)
            gidx = t[None].expand(G, n).reshape(-1)
            targets.append(self._targets(cls.shape[1], pos, gidx, gb, gt.labels, self.encode_angles(gb),
                                         img_shapes[i], dev))
            num_pos += len(pos)
        return self._losses(cls, boxes, angs, targets, img_shapes, num_pos)

    def loss(self, all_cls: torch.Tensor, all_boxes: torch.Tensor, all_angs: torch.Tensor,
             enc_outputs: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]], gts: List[InstanceData],
             img_shapes: Sequence, dn_meta: Optional[dict] = None) -> Dict[str, torch.Tensor]:
        """All losses. ``all_*`` are ``(L, B, P + Q, ...)`` with the ``P = dn_meta['pad_size']``
        denoising queries first; ``enc_outputs`` = (cls, boxes, angle logits) of the proposals."""
        names = ('loss_cls', 'loss_bbox', 'loss_iou', 'loss_angle')
        pad = dn_meta['pad_size'] if dn_meta else 0
        L = all_cls.shape[0]
        out = {}
        for lid in range(L):
            vals = self.loss_matched(all_cls[lid, :, pad:], all_boxes[lid, :, pad:], all_angs[lid, :, pad:], gts,
                                     img_shapes)
            sfx = '' if lid == L - 1 else f'_d{lid}'
            out.update({f'{k}{sfx}': v for k, v in zip(names, vals)})
            if dn_meta:
                vals = self.loss_dn(all_cls[lid, :, :pad], all_boxes[lid, :, :pad], all_angs[lid, :, :pad], gts,
                                    img_shapes, dn_meta)
                out.update({f'{k}_dn{sfx}': v for k, v in zip(names, vals)})
        if enc_outputs is not None:
            vals = self.loss_matched(*enc_outputs, gts, img_shapes, binary=True)
            out.update({f'{k}_enc': v for k, v in zip(names, vals)})
        return out

    # -- predict ----------------------------------------------------------------------------------
    def predict(self, cls: torch.Tensor, boxes: torch.Tensor, angs: torch.Tensor,
                img_shapes: Sequence) -> List[InstanceData]:
        """Last-layer outputs ``(B, Q, ...)`` -> per image ``InstanceData(bboxes (N, 5) le90 pixels,
        scores, labels)``."""
        results = []
        K = self.num_classes
        for i in range(cls.shape[0]):
            h, w = img_shapes[i]
            scores = cls[i].sigmoid().flatten()
            k = min(self.max_per_img, scores.numel())
            top, idx = scores.topk(k)
            q, labels = idx // K, idx % K
            b = boxes[i, q] * boxes.new_tensor([w, h, w, h])
            a = self.angle_coder.decode(angs[i, q])
            rb = regularize_le90_torch(torch.cat([b, a[:, None]], -1))
            results.append(InstanceData(bboxes=rb, scores=top, labels=labels))
        return results
