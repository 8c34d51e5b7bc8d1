"""Decoder and query denoising of the rotated deformable DETR (ARS-DETR design).

Re-written on mmdet 3 / mmcv 2 from what the official ARS-DETR code does (``httle/ARS-DETR``:
``DNARSDeformableDetrTransformerDecoder``, ``DnQueryGenerator``; the same classes are vendored by
MutDet). Importable on their own so that other detectors (MutDet pre-training) reuse them.

:class:`RotatedDeformableDetrDecoder`
    DINO-style decoder with iterative refinement of ``(cx, cy, w, h)`` references (normalized,
    sigmoid space) and of the reference *angles*: after each layer the layer's regression branch
    refines the box (``sigmoid(delta + logit(ref))``, detached) and its CSL angle branch gives the next
    reference angle (decoded arg-max, detached). The query position is ``MLP(sine(cx, cy, w, h))``.
    With ``rotate_deform_attn`` the cross-attention is
    :class:`~geoperc.models.detection.rotated_deform_attn.RotatedMultiScaleDeformableAttention`; the
    angle passed to it is folded to ``[-pi/4, pi/4)`` with w and h swapped where the fold turned the
    box by 90 degrees (the official decoder does this: the same rectangle, a smaller turn).
:class:`RotatedDnQueryGenerator`
    Contrastive denoising queries with angles: noise label 0.5 (a label is replaced by a random class
    with probability ``0.5 * 0.5``), box 0.4 (corners moved by up to 0.4 of the half size; negatives by
    0.4-0.8), angle 0.02 (``a += u * a * 0.02``, ``u`` in ``(-1, 1)``, ``(-2, -1) U (1, 2)`` for
    negatives: *relative* noise, as the official generator; an angle of 0 stays 0), dynamic groups of
    ``num_dn_queries // max_gts`` positive + negative copies. Returns label queries, box references
    (logit space), angles, the self-attention mask (groups cannot see each other, matching queries
    cannot see any denoising query) and the layout.
"""
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.layers import DeformableDetrTransformerDecoderLayer, MLP, inverse_sigmoid
from mmdet.models.layers.transformer.utils import coordinate_to_encoding
from mmengine.model import BaseModule, ModuleList

from .csl import CSLCoder, wrap_le90
from .rotated_deform_attn import RotatedMultiScaleDeformableAttention

__all__ = ['RotatedDeformableDetrDecoderLayer', 'RotatedDeformableDetrDecoder', 'RotatedDnQueryGenerator',
           'fold_angle_quarter']


def fold_angle_quarter(ref_boxes: torch.Tensor, angles: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold angles to ``[-pi/4, pi/4)`` (period pi/2), swapping w and h where the box turned by 90 deg.

    Args:
        ref_boxes: ``(..., 4)`` ``(cx, cy, w, h)``.
        angles: ``(...)`` radians.
    """
    swap = (angles >= math.pi / 4) | (angles < -math.pi / 4)
    boxes = torch.where(swap[..., None], ref_boxes[..., [0, 1, 3, 2]], ref_boxes)
    folded = torch.remainder(angles + math.pi / 4, math.pi / 2) - math.pi / 4
    return boxes, folded


class RotatedDeformableDetrDecoderLayer(DeformableDetrTransformerDecoderLayer):
    """mmdet's Deformable DETR decoder layer (self-attention, deformable cross-attention, FFN, post-norm)
    with :class:`RotatedMultiScaleDeformableAttention` as cross-attention; ``reference_angles`` reaches
    it through the layer's ``**kwargs``."""

    def _init_layers(self) -> None:
        from mmcv.cnn import build_norm_layer
        from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
        self.self_attn = MultiheadAttention(**self.self_attn_cfg)
        self.cross_attn = RotatedMultiScaleDeformableAttention(**self.cross_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(3)])


class RotatedDeformableDetrDecoder(BaseModule):
    """Decoder with box and angle refinement (see the module docstring).

    Args:
        num_layers: decoder layers (6 for fine-tuning, 2 in MutDet's E2D2 pre-training).
        layer_cfg: :class:`RotatedDeformableDetrDecoderLayer` arguments (``self_attn_cfg``,
            ``cross_attn_cfg``, ``ffn_cfg``); ``batch_first`` is forced on.
        rotate_deform_attn: rotate the sampling offsets by the reference angles (ARS-DETR); False gives
            plain deformable attention (the angle is ignored).
    """

    def __init__(self, num_layers: int = 6, layer_cfg: Optional[dict] = None, rotate_deform_attn: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        layer_cfg = dict(layer_cfg or {})
        layer_cfg.setdefault('self_attn_cfg', dict(embed_dims=256, num_heads=8, dropout=0.1))
        layer_cfg.setdefault('cross_attn_cfg', dict(embed_dims=256, num_levels=4))
        layer_cfg.setdefault('ffn_cfg', dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.1))
        layer_cfg['self_attn_cfg'] = dict(layer_cfg['self_attn_cfg'], batch_first=True)
        layer_cfg['cross_attn_cfg'] = dict(layer_cfg['cross_attn_cfg'], batch_first=True)
        self.layers = ModuleList([RotatedDeformableDetrDecoderLayer(**layer_cfg) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.embed_dims = self.layers[0].embed_dims
        self.rotate_deform_attn = rotate_deform_attn
        self.ref_point_head = MLP(self.embed_dims * 2, self.embed_dims, self.embed_dims, 2)
        self.norm = nn.LayerNorm(self.embed_dims)

    def forward(self, query: torch.Tensor, value: torch.Tensor, key_padding_mask: torch.Tensor,
                self_attn_mask: Optional[torch.Tensor], reference_points: torch.Tensor,
                reference_angles: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                valid_ratios: torch.Tensor, reg_branches: nn.ModuleList, angle_branches: nn.ModuleList,
                angle_coder: CSLCoder) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the layers.

        Args:
            query: ``(B, Q, C)`` content queries (denoising ones first).
            value: ``(B, S, C)`` encoder memory.
            key_padding_mask: ``(B, S)`` True at padding.
            self_attn_mask: ``(Q, Q)`` bool, True = not attended (denoising), or None.
            reference_points: ``(B, Q, 4)`` initial ``(cx, cy, w, h)`` in ``[0, 1]``.
            reference_angles: ``(B, Q)`` initial angles (radians, le90).
            reg_branches / angle_branches: one per layer (only the first ``num_layers`` are used).

        Returns:
            ``hidden`` ``(L, B, Q, C)`` (normed outputs of every layer), ``references`` ``(L + 1, B, Q, 4)``
            (the input reference of each layer, then the last refinement) and ``ref_angles``
            ``(L + 1, B, Q)`` the same for angles.
        """
        hidden, refs, angs = [], [reference_points], [reference_angles]
        for lid, layer in enumerate(self.layers):
            ref_in = reference_points[:, :, None] * torch.cat([valid_ratios, valid_ratios], -1)[:, None]
            ang_in = reference_angles
            if self.rotate_deform_attn:
                ref_in, ang_in = fold_angle_quarter(ref_in, ang_in[:, :, None].expand(-1, -1, ref_in.shape[2]))
                ang_in = ang_in[..., None]  # (B, Q, L, 1)
            else:
                ang_in = None
            query_pos = self.ref_point_head(coordinate_to_encoding(ref_in[:, :, 0, :], num_feats=self.embed_dims // 2))
            query = layer(query, query_pos=query_pos, value=value, key_padding_mask=key_padding_mask,
                          self_attn_mask=self_attn_mask, spatial_shapes=spatial_shapes,
                          level_start_index=level_start_index, valid_ratios=valid_ratios,
                          reference_points=ref_in, reference_angles=ang_in)
            delta = reg_branches[lid](query)
            new_ref = (delta + inverse_sigmoid(reference_points, eps=1e-3)).sigmoid()
            reference_points = new_ref.detach()
            reference_angles = angle_coder.decode(angle_branches[lid](query).detach())
            hidden.append(self.norm(query))
            refs.append(new_ref)
            angs.append(reference_angles)
        return torch.stack(hidden), torch.stack(refs), torch.stack(angs)


class RotatedDnQueryGenerator(BaseModule):
    """Denoising queries for rotated boxes (see the module docstring).

    Args:
        num_classes / embed_dims: label embedding size.
        num_matching_queries: the matching (two-stage) queries that follow the denoising ones.
        label_noise_scale / box_noise_scale / angle_noise_scale: ARS-DETR: 0.5 / 0.4 / 0.02.
        num_dn_queries: dynamic groups: ``max(1, num_dn_queries // max_gts_in_batch)`` groups.
    """

    def __init__(self, num_classes: int, embed_dims: int = 256, num_matching_queries: int = 300,
                 label_noise_scale: float = 0.5, box_noise_scale: float = 0.4, angle_noise_scale: float = 0.02,
                 num_dn_queries: int = 100, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_matching_queries = num_matching_queries
        self.label_noise_scale = label_noise_scale
        self.box_noise_scale = box_noise_scale
        self.angle_noise_scale = angle_noise_scale
        self.num_dn_queries = num_dn_queries
        self.label_embedding = nn.Embedding(num_classes, embed_dims)

    def forward(self, gt_boxes: List[torch.Tensor], gt_labels: List[torch.Tensor],
                img_shapes: List[Tuple[int, int]]) -> Optional[Dict[str, torch.Tensor]]:
        """Denoising queries for a batch.

        Args:
            gt_boxes: per image ``(G, 5)`` le90 boxes in pixels.
            gt_labels: per image ``(G,)``.
            img_shapes: per image ``(H, W)`` the boxes are normalized by.

        Returns:
            None when the batch has no object; else a dict with ``label_query`` ``(B, P, C)``,
            ``bbox_query`` ``(B, P, 4)`` (logit space), ``angles`` ``(B, P)``, ``attn_mask``
            ``(P + Q, P + Q)`` bool, ``num_groups``, ``max_gts`` and ``pad_size`` P
            (``2 * max_gts * num_groups``: per group ``max_gts`` positive then ``max_gts`` negative slots).
        """
        device = self.label_embedding.weight.device
        counts = [len(b) for b in gt_boxes]
        max_gts = max(counts) if counts else 0
        if max_gts == 0:
            return None
        num_groups = max(1, self.num_dn_queries // max_gts)
        B = len(gt_boxes)
        pad = 2 * max_gts * num_groups
        label_query = torch.zeros(B, pad, self.embed_dims, device=device)
        bbox_query = torch.zeros(B, pad, 4, device=device)
        angles = torch.zeros(B, pad, device=device)
        for i, (boxes, labels, (h, w)) in enumerate(zip(gt_boxes, gt_labels, img_shapes)):
            g = len(boxes)
            if g == 0:
                continue
            boxes = boxes.to(device).float()
            norm = boxes[:, :4] / boxes.new_tensor([w, h, w, h])
            # 2 * num_groups copies: (group, positive|negative, gt)
            cxcywh = norm[None, None].expand(num_groups, 2, g, 4).clone()
            ang = boxes[:, 4][None, None].expand(num_groups, 2, g).clone()
            lab = labels.to(device).long()[None, None].expand(num_groups, 2, g).clone()
            neg = torch.zeros(num_groups, 2, g, 1, device=device)
            neg[:, 1] = 1.0
            if self.label_noise_scale > 0:
                flip = torch.rand(lab.shape, device=device) < self.label_noise_scale * 0.5
                lab = torch.where(flip, torch.randint_like(lab, 0, self.num_classes), lab)
            if self.box_noise_scale > 0:
                xyxy = torch.cat([cxcywh[..., :2] - cxcywh[..., 2:] / 2, cxcywh[..., :2] + cxcywh[..., 2:] / 2], -1)
                diff = torch.cat([cxcywh[..., 2:] / 2, cxcywh[..., 2:] / 2], -1)
                sign = torch.randint(0, 2, xyxy.shape, device=device).float() * 2 - 1
                part = (torch.rand(xyxy.shape, device=device) + neg) * sign
                xyxy = (xyxy + part * diff * self.box_noise_scale).clamp(0.0, 1.0)
                cxcywh = torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], -1)
            if self.angle_noise_scale > 0:
                sign = torch.randint(0, 2, ang.shape, device=device).float() * 2 - 1
                part = (torch.rand(ang.shape, device=device) + neg[..., 0]) * sign
                ang = wrap_le90(ang + part * ang * self.angle_noise_scale)
            # slot of (group k, pos/neg j, gt n): k * 2 * max_gts + j * max_gts + n
            slots = (torch.arange(num_groups, device=device)[:, None, None] * 2 * max_gts
                     + torch.arange(2, device=device)[None, :, None] * max_gts
                     + torch.arange(g, device=device)[None, None, :]).reshape(-1)
            label_query[i, slots] = self.label_embedding(lab.reshape(-1))
            bbox_query[i, slots] = inverse_sigmoid(cxcywh.reshape(-1, 4), eps=1e-3)
            angles[i, slots] = ang.reshape(-1)
        total = pad + self.num_matching_queries
        attn_mask = torch.zeros(total, total, dtype=torch.bool, device=device)
        attn_mask[pad:, :pad] = True  # matching queries never see the denoising ones
        size = 2 * max_gts
        for k in range(num_groups):
            rows = slice(k * size, (k + 1) * size)
            attn_mask[rows, :k * size] = True
            attn_mask[rows, (k + 1) * size:pad] = True
        return dict(label_query=label_query, bbox_query=bbox_query, angles=angles, attn_mask=attn_mask,
                    num_groups=num_groups, max_gts=max_gts, pad_size=pad)
