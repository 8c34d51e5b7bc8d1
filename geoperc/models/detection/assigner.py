"""One-to-one (Hungarian) matching of rotated DETR queries to ground truth, ARS-DETR's costs.

The cost of query ``i`` for object ``j`` (official ``ARS_HungarianAssigner`` with the MutDet / ARS-DETR
config: weights 2 / 2 / 5 / 2)::

    2 * focal_cost(cls_i, label_j)                 mmdet FocalLossCost (alpha 0.25, gamma 2)
  + 2 * |(cx, cy, w, h)_i - (cx, cy, w, h)_j|_1    mmdet BBoxL1Cost, normalized by the image size
  + 5 * -GIoU(hbox_i, hbox_j)                      mmdet IoUCost on the *horizontal* boxes
  + 2 * csl_bce(angle_logits_i, CSL(angle_j)) * 2k_j / (k_j + 1)   aspect-ratio weighted angle cost

``hbox`` is ``(cx, cy, w, h)`` read as an axis-aligned box (the angle is left out, as in ARS-DETR's
GIoU loss). The angle cost is the mean over bins of the binary cross-entropy between the query's angle
logits and the object's CSL label (mmdet ``CrossEntropyLossCost`` with sigmoid), scaled by the
aspect-ratio weight ``2k / (k + 1)`` (``k = max(w/h, h/w)``).

The official head converts both boxes to ``xyxy`` before the assigner and the IoU cost runs on
*normalized* ``xyxy``; here it runs on pixel ``xyxy`` (mmdet 3's ``IoUCost``): the same on square inputs
(GIoU is invariant to a uniform scale).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.assigners.match_cost import BBoxL1Cost, FocalLossCost, IoUCost
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData

__all__ = ['RotatedHungarianAssigner', 'csl_bce_cost', 'aspect_ratio_weight']


def aspect_ratio_weight(wh: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` sizes -> ``(N,)`` ARS-DETR's angle weight ``2k / (k + 1)``, ``k = max(w/h, h/w)``."""
    w, h = wh[:, 0].clamp(min=1e-6), wh[:, 1].clamp(min=1e-6)
    k = torch.maximum(w / h, h / w)
    return 2 * k / (k + 1)


def csl_bce_cost(angle_logits: torch.Tensor, csl_targets: torch.Tensor) -> torch.Tensor:
    """``(Q, n)`` logits x ``(G, n)`` soft labels -> ``(Q, G)`` mean binary cross-entropy over bins."""
    n = angle_logits.shape[1]
    pos = F.binary_cross_entropy_with_logits(angle_logits, torch.ones_like(angle_logits), reduction='none')
    neg = F.binary_cross_entropy_with_logits(angle_logits, torch.zeros_like(angle_logits), reduction='none')
    return (pos @ csl_targets.T + neg @ (1 - csl_targets).T) / n


class RotatedHungarianAssigner:
    """Hungarian matching with the costs of the module docstring.

    Args:
        cls_weight / l1_weight / iou_weight / angle_weight: ARS-DETR: 2 / 2 / 5 / 2.
        aspect_ratio_weighting: scale the angle cost by ``2k / (k + 1)``.
    """

    def __init__(self, cls_weight: float = 2.0, l1_weight: float = 2.0, iou_weight: float = 5.0,
                 angle_weight: float = 2.0, aspect_ratio_weighting: bool = True):
        self.cls_cost = FocalLossCost(weight=cls_weight)
        self.l1_cost = BBoxL1Cost(weight=l1_weight, box_format='xywh')
        self.iou_cost = IoUCost(iou_mode='giou', weight=iou_weight)
        self.angle_weight = angle_weight
        self.aspect_ratio_weighting = aspect_ratio_weighting

    def cost(self, cls_logits: torch.Tensor, boxes: torch.Tensor, angle_logits: torch.Tensor,
             gt_boxes: torch.Tensor, gt_labels: torch.Tensor, gt_csl: torch.Tensor,
             img_shape: Tuple[int, int]) -> torch.Tensor:
        """``(Q, G)`` matching cost.

        Args:
            cls_logits: ``(Q, K)``; boxes: ``(Q, 4)`` normalized ``(cx, cy, w, h)``;
            angle_logits: ``(Q, n)``; gt_boxes: ``(G, 5)`` le90 pixels; gt_labels: ``(G,)``;
            gt_csl: ``(G, n)`` CSL targets; img_shape: ``(H, W)`` normalizing the boxes.
        """
        h, w = img_shape
        factor = boxes.new_tensor([w, h, w, h])
        pred = InstanceData(scores=cls_logits, bboxes=bbox_cxcywh_to_xyxy(boxes) * factor)
        gt = InstanceData(labels=gt_labels, bboxes=bbox_cxcywh_to_xyxy(gt_boxes[:, :4].float()))
        meta = dict(img_shape=(h, w))
        cost = self.cls_cost(pred, gt, meta) + self.l1_cost(pred, gt, meta) + self.iou_cost(pred, gt, meta)
        ang = csl_bce_cost(angle_logits.float(), gt_csl.float())
        if self.aspect_ratio_weighting:
            ang = ang * aspect_ratio_weight(gt_boxes[:, 2:4])[None]
        return cost + self.angle_weight * ang

    @torch.no_grad()
    def assign(self, *args, **kwargs) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(query_idx, gt_idx)`` (long, on the inputs' device) of the optimal one-to-one matching;
        arguments as :meth:`cost`."""
        from scipy.optimize import linear_sum_assignment
        cost = self.cost(*args, **kwargs)
        dev = cost.device
        if cost.numel() == 0:
            empty = torch.zeros(0, dtype=torch.long, device=dev)
            return empty, empty
        c = cost.detach().float().cpu()
        c = torch.nan_to_num(c, nan=1e8, posinf=1e8, neginf=-1e8)
        rows, cols = linear_sum_assignment(c.numpy())
        return torch.as_tensor(rows, dtype=torch.long, device=dev), torch.as_tensor(cols, dtype=torch.long,
                                                                                      device=dev)
