"""Rotated deformable DETR in the ARS-DETR design: the oriented detector MutDet fine-tunes.

Zeng, Chen, Ni, Gao, Zhang, Wang, Xu, Liu, "ARS-DETR: Aspect Ratio-Sensitive Detection Transformer
for Aerial Oriented Object Detection", IEEE TGRS 2024 (official code ``httle/ARS-DETR``); used as the
detector of Huang et al., "MutDet: Mutually Optimizing Pre-training for Remote Sensing Object
Detection", ECCV 2024 (``floatingstarZ/MutDet``). Facts and choices: ``configs/detection/ars_detr/README.md``.

Architecture (``RotatedDETR``)
------------------------------
* Backbone: ResNet-50 (:class:`~geoperc.models.backbones.GeoResNet`, mmdet's ResNet), stages 2-4
  (``out_indices=(1, 2, 3)``, strides 8 / 16 / 32) ->
  ChannelMapper (1x1 conv + GN(32) to 256, one extra 3x3 stride-2 level): 4 levels, strides 8-64.
* Sine positional encoding (128 features per axis, normalized, offset -0.5) + a learnt level embedding.
* Encoder: mmdet's Deformable DETR encoder (multi-scale deformable self-attention, FFN 1024, dropout 0.1);
  ``num_encoder_layers`` 6 (fine-tuning) or 2 (MutDet's E2D2 pre-training).
* Two-stage query selection: every encoder token is a proposal (a box of side ``0.05 * 2^level`` at the
  token); ``enc_output`` Linear + LayerNorm, then the proposal branches (class, box delta, CSL angle);
  the ``num_queries`` (300) tokens with the highest class-0 logit give the initial reference boxes and
  angles (detached); the content queries are a learnt embedding (DINO's mixed query selection).
* Decoder (:class:`~.rotated_detr_layers.RotatedDeformableDetrDecoder`): self-attention (8 heads),
  *rotated* multi-scale deformable cross-attention (:mod:`.rotated_deform_attn`), FFN 1024; iterative
  refinement of boxes and angles; ``num_decoder_layers`` 6 or 2.
* Denoising (:class:`~.rotated_detr_layers.RotatedDnQueryGenerator`) in training: noise 0.5 / 0.4 / 0.02,
  100 queries in dynamic groups.
* Angle: 180-bin CSL classification, le90, aspect-ratio window (:mod:`.csl`); losses and Hungarian
  costs in :mod:`.rotated_detr_head` and :mod:`.assigner`.

Contract: ``output_kind='rotated_boxes'``: ``predict`` fills ``pred_instances`` with ``bboxes`` (N, 5)
``(cx, cy, w, h, angle)`` le90, in input pixels (of the unpadded ``img_shape``), ``scores``,
``labels``. Training reads ``gt_instances.bboxes`` (G, 5) le90 pixels and ``gt_instances.labels``.
Images of a batch are padded by the preprocessor; padding is masked out of attention (the valid ratios
of Deformable DETR) and box coordinates are normalized by each image's own size.

Pieces for other detectors (MutDet pre-training): :meth:`RotatedDETR.extract_feat`,
:meth:`RotatedDETR.pre_transformer`, :meth:`RotatedDETR.forward_encoder`,
:meth:`RotatedDETR.gen_encoder_output_proposals`, :meth:`RotatedDETR.select_queries`,
:meth:`RotatedDETR.forward_decoder` and :meth:`RotatedDETR.forward_transformer` each do one step and
return plain dicts; the head (:attr:`RotatedDETR.bbox_head`) holds the branches and losses.

Choices where the official code gives no answer or is not followed (constructor arguments):
``enc_loss_on`` (official: all encoder tokens), GIoU cost and losses on pixel xyxy boxes (official:
normalized; the same on square inputs), offsets rotated in normalized coordinates (official; exact for
square inputs), predictions brought to le90.
"""
import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import DeformableDetrTransformerEncoder, SinePositionalEncoding
from mmengine.structures import InstanceData
from torch.nn.init import normal_

from geoperc.models.base import ROTATED_BOXES, BaseGeoModel, build_module
from geoperc.registry import MODELS
from .rotated_deform_attn import RotatedMultiScaleDeformableAttention
from .rotated_detr_head import RotatedDETRHead
from .rotated_detr_layers import RotatedDeformableDetrDecoder, RotatedDnQueryGenerator

__all__ = ['RotatedDETR']


def _default_backbone(in_channels: int) -> dict:
    from geoperc.models.backbones import GeoResNet
    return dict(type=GeoResNet, depth=50, num_stages=4, out_indices=(1, 2, 3), frozen_stages=1,
                norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                in_channels=in_channels)


def _default_neck(in_channels, embed_dims: int, num_levels: int) -> dict:
    from mmdet.models.necks import ChannelMapper
    return dict(type=ChannelMapper, in_channels=list(in_channels), kernel_size=1, out_channels=embed_dims,
                act_cfg=None, norm_cfg=dict(type='GN', num_groups=32), num_outs=num_levels)


@MODELS.register_module()
class RotatedDETR(BaseGeoModel):
    """Rotated deformable DETR, ARS-DETR design (see the module docstring).

    Args:
        num_classes: object classes.
        in_channels: image bands (the backbone's first convolution takes them).
        backbone / neck: config dicts or modules (default
            :class:`~geoperc.models.backbones.GeoResNet` 50, stages 2-4 / ChannelMapper GN 32 from the
            backbone's ``out_channels`` to 4 levels). Any :class:`~geoperc.models.backbones.GeoBackbone`
            fits; a plain mmdet backbone (tuple output) also works.
        pretrained: local backbone checkpoint (torchvision / mmdet ResNet keys), first conv adapted to
            ``in_channels``; handed to a GeoBackbone's own ``pretrained``; None = random init. Never
            downloaded (a missing file raises ``CheckpointError``).
        embed_dims: transformer width (256).
        num_feature_levels: levels the neck gives (4).
        num_queries: matching queries (300).
        num_encoder_layers / num_decoder_layers: 6 / 6 (fine-tuning), 2 / 2 (MutDet pre-training).
        encoder_layer_cfg / decoder_layer_cfg: mmdet layer configs (defaults: 8 heads, 4 points, FFN 1024,
            dropout 0.1).
        rotate_deform_attn: rotated cross-attention in the decoder (ARS-DETR: True).
        dn_cfg: :class:`RotatedDnQueryGenerator` arguments (None: no denoising).
        head_cfg: :class:`RotatedDETRHead` arguments (angle coder, losses, assigner, max_per_img, ...).
        data_preprocessor / init_cfg: as every geoperc model.
    """

    output_kind = ROTATED_BOXES
    contract_input = dict(size=(64, 64))

    def __init__(self, num_classes: int, in_channels: int = 3, backbone=None, neck=None,
                 pretrained: Optional[str] = None, embed_dims: int = 256, num_feature_levels: int = 4,
                 num_queries: int = 300, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 encoder_layer_cfg: Optional[dict] = None, decoder_layer_cfg: Optional[dict] = None,
                 num_heads: int = 8, num_points: int = 4, feedforward_channels: int = 1024, dropout: float = 0.1,
                 rotate_deform_attn: bool = True,
                 dn_cfg: Optional[dict] = dict(label_noise_scale=0.5, box_noise_scale=0.4, angle_noise_scale=0.02,
                                               num_dn_queries=100),
                 head_cfg: Optional[dict] = None, data_preprocessor=None, init_cfg=None):
        super().__init__(in_channels, num_classes, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(backbone, dict) and 'in_channels' not in backbone:
            backbone = dict(backbone, in_channels=in_channels)
        self.backbone = build_module(backbone if backbone is not None else _default_backbone(in_channels))
        from geoperc.models.backbones import GeoBackbone, check_local_checkpoint
        pretrained = check_local_checkpoint(pretrained)
        if pretrained and isinstance(self.backbone, GeoBackbone):
            self.backbone.pretrained = pretrained  # loaded by the backbone's own init_weights
            pretrained = None
        self.pretrained = pretrained
        if neck is None:
            neck = _default_neck(getattr(self.backbone, 'out_channels', [512, 1024, 2048]), embed_dims,
                                 num_feature_levels)
        self.neck = build_module(neck)
        self.embed_dims = embed_dims
        self.num_feature_levels = num_feature_levels
        self.num_queries = num_queries
        self.positional_encoding = SinePositionalEncoding(num_feats=embed_dims // 2, normalize=True, offset=-0.5)
        enc_cfg = encoder_layer_cfg or dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, num_levels=num_feature_levels,
                               num_points=num_points, dropout=dropout, batch_first=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=feedforward_channels, ffn_drop=dropout))
        dec_cfg = decoder_layer_cfg or dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, dropout=dropout),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, num_levels=num_feature_levels,
                                num_points=num_points, dropout=dropout),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=feedforward_channels, ffn_drop=dropout))
        self.encoder = DeformableDetrTransformerEncoder(num_layers=num_encoder_layers, layer_cfg=enc_cfg)
        self.decoder = RotatedDeformableDetrDecoder(num_layers=num_decoder_layers, layer_cfg=dec_cfg,
                                                    rotate_deform_attn=rotate_deform_attn)
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, embed_dims))
        self.query_embedding = nn.Embedding(num_queries, embed_dims)
        self.memory_trans_fc = nn.Linear(embed_dims, embed_dims)
        self.memory_trans_norm = nn.LayerNorm(embed_dims)
        head_cfg = dict(head_cfg or {})
        self.bbox_head = RotatedDETRHead(num_classes=num_classes, embed_dims=embed_dims,
                                         num_pred_layers=num_decoder_layers + 1, **head_cfg)
        self.dn_generator = RotatedDnQueryGenerator(num_classes=num_classes, embed_dims=embed_dims,
                                                    num_matching_queries=num_queries, **dn_cfg) if dn_cfg else None
        self._init_transformer()

    # -- weights ----------------------------------------------------------------------------------
    def _init_transformer(self) -> None:
        for coder in (self.encoder, self.decoder):
            for p in coder.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, (RotatedMultiScaleDeformableAttention,)) or type(m).__name__ == \
                    'MultiScaleDeformableAttention':
                m.init_weights()
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)
        normal_(self.level_embed)
        normal_(self.query_embedding.weight)
        self.bbox_head.init_branches()

    def init_weights(self) -> None:
        super().init_weights()
        self._init_transformer()
        if self.pretrained:
            from geoperc.models.backbones import load_pretrained
            load_pretrained(self.backbone, self.pretrained)

    # -- steps ------------------------------------------------------------------------------------
    def extract_feat(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """``(B, C, H, W)`` -> the neck's levels ``[(B, 256, H/8, W/8), ..., (B, 256, H/64, W/64)]``."""
        feats = self.backbone(inputs)
        return list(self.neck(tuple(feats)))

    @staticmethod
    def img_shapes(inputs: torch.Tensor, data_samples: Optional[List]) -> List[tuple]:
        """Per sample ``(h, w)`` of the unpadded image (``img_shape`` metainfo, else the batch size)."""
        H, W = inputs.shape[-2:]
        if not data_samples:
            return [(H, W)] * inputs.shape[0]
        return [tuple(int(v) for v in s.metainfo.get('img_shape', (H, W))[:2]) for s in data_samples]

    def pre_transformer(self, feats: List[torch.Tensor], batch_shape, img_shapes: List[tuple]) -> Dict:
        """Flatten the levels with masks, positions, shapes and valid ratios (Deformable DETR)."""
        B = feats[0].shape[0]
        H, W = batch_shape
        masks = feats[0].new_ones((B, H, W))
        for i, (h, w) in enumerate(img_shapes):
            masks[i, :h, :w] = 0
        flat, mflat, pflat, shapes, ratios = [], [], [], [], []
        for lvl, feat in enumerate(feats):
            m = F.interpolate(masks[None], size=feat.shape[-2:]).to(torch.bool)[0]
            pos = self.positional_encoding(m)
            h, w = feat.shape[-2:]
            shapes.append((h, w))
            flat.append(feat.flatten(2).transpose(1, 2))
            mflat.append(m.flatten(1))
            pflat.append(pos.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1))
            vh = (~m[:, :, 0]).sum(1).float() / h
            vw = (~m[:, 0, :]).sum(1).float() / w
            ratios.append(torch.stack([vw, vh], -1))
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=feats[0].device)
        level_start_index = torch.cat([spatial_shapes.new_zeros(1), spatial_shapes.prod(1).cumsum(0)[:-1]])
        return dict(feat=torch.cat(flat, 1), feat_mask=torch.cat(mflat, 1), feat_pos=torch.cat(pflat, 1),
                    spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                    valid_ratios=torch.stack(ratios, 1))

    def forward_encoder(self, feat, feat_mask, feat_pos, spatial_shapes, level_start_index, valid_ratios,
                        **kwargs) -> torch.Tensor:
        """Deformable encoder -> memory ``(B, S, C)``."""
        return self.encoder(query=feat, query_pos=feat_pos, key_padding_mask=feat_mask,
                            spatial_shapes=spatial_shapes, level_start_index=level_start_index,
                            valid_ratios=valid_ratios)

    def gen_encoder_output_proposals(self, memory: torch.Tensor, memory_mask: torch.Tensor,
                                     spatial_shapes: torch.Tensor):
        """One proposal per token: ``(output_memory (B, S, C), proposals (B, S, 4) logit space)``; padded
        and border tokens get memory 0 and proposal logits 10000 (as the official code)."""
        B = memory.shape[0]
        props, cur = [], 0
        for lvl, (h, w) in enumerate(spatial_shapes.tolist()):
            m = memory_mask[:, cur:cur + h * w].view(B, h, w)
            vh = (~m[:, :, 0]).sum(1)
            vw = (~m[:, 0, :]).sum(1)
            gy, gx = torch.meshgrid(torch.linspace(0, h - 1, h, device=memory.device),
                                    torch.linspace(0, w - 1, w, device=memory.device), indexing='ij')
            grid = torch.stack([gx, gy], -1)
            scale = torch.stack([vw, vh], -1).view(B, 1, 1, 2).float()
            grid = (grid[None].expand(B, -1, -1, -1) + 0.5) / scale
            wh = torch.ones_like(grid) * 0.05 * (2.0 ** lvl)
            props.append(torch.cat([grid, wh], -1).view(B, -1, 4))
            cur += h * w
        props = torch.cat(props, 1)
        valid = ((props > 0.01) & (props < 0.99)).all(-1, keepdim=True)
        props = torch.log(props / (1 - props))
        props = props.masked_fill(memory_mask[..., None], 10000.0).masked_fill(~valid, 10000.0)
        out = memory.masked_fill(memory_mask[..., None], 0.0).masked_fill(~valid, 0.0)
        out = self.memory_trans_norm(self.memory_trans_fc(out))
        return out, props

    def select_queries(self, memory: torch.Tensor, memory_mask: torch.Tensor, spatial_shapes: torch.Tensor
                       ) -> Dict[str, torch.Tensor]:
        """Two-stage selection: proposal branch outputs for every token and the top-``num_queries``
        references (by the class-0 logit, detached) with their decoded angles."""
        head = self.bbox_head
        L = self.decoder.num_layers
        out_mem, props = self.gen_encoder_output_proposals(memory, memory_mask, spatial_shapes)
        enc_cls = head.cls_branches[L](out_mem)
        enc_coord_unact = head.reg_branches[L](out_mem) + props
        enc_ang = head.angle_branches[L](out_mem)
        k = min(self.num_queries, enc_cls.shape[1])
        top = torch.topk(enc_cls[..., 0], k, dim=1)[1]
        ref_unact = torch.gather(enc_coord_unact, 1, top[..., None].expand(-1, -1, 4)).detach()
        top_ang_logits = torch.gather(enc_ang, 1, top[..., None].expand(-1, -1, enc_ang.shape[-1]))
        ref_angles = head.angle_coder.decode(top_ang_logits.detach())
        enc_coord = enc_coord_unact.sigmoid()
        return dict(enc_cls=enc_cls, enc_boxes=enc_coord, enc_angle_logits=enc_ang, topk_index=top,
                    reference_unact=ref_unact, reference_angles=ref_angles)

    def forward_decoder(self, query, memory, memory_mask, reference_points, reference_angles, attn_mask,
                        spatial_shapes, level_start_index, valid_ratios, **kwargs) -> Dict[str, torch.Tensor]:
        """Decoder -> ``hidden`` (L, B, Q, C), ``references`` (L + 1, B, Q, 4), ``ref_angles``."""
        head = self.bbox_head
        hidden, refs, angs = self.decoder(query=query, value=memory, key_padding_mask=memory_mask,
                                          self_attn_mask=attn_mask, reference_points=reference_points,
                                          reference_angles=reference_angles, spatial_shapes=spatial_shapes,
                                          level_start_index=level_start_index, valid_ratios=valid_ratios,
                                          reg_branches=head.reg_branches, angle_branches=head.angle_branches,
                                          angle_coder=head.angle_coder)
        return dict(hidden=hidden, references=refs, ref_angles=angs)

    def forward_transformer(self, inputs: torch.Tensor, data_samples: Optional[List] = None,
                            dn: Optional[dict] = None) -> Dict[str, torch.Tensor]:
        """Backbone to decoder; ``dn`` (from the generator) prepends denoising queries. Returns the
        head's per-layer outputs (``all_cls``, ``all_boxes``, ``all_angle_logits``), the proposals' and
        the intermediate tensors (``memory``, ``enc``, ``dec``, ``shapes``)."""
        img_shapes = self.img_shapes(inputs, data_samples)
        feats = self.extract_feat(inputs)
        enc_in = self.pre_transformer(feats, inputs.shape[-2:], img_shapes)
        memory = self.forward_encoder(**enc_in)
        sel = self.select_queries(memory, enc_in['feat_mask'], enc_in['spatial_shapes'])
        B = inputs.shape[0]
        query = self.query_embedding.weight[None].expand(B, -1, -1)[:, :sel['reference_unact'].shape[1]]
        ref_unact, ref_ang, attn_mask = sel['reference_unact'], sel['reference_angles'], None
        if dn is not None:
            query = torch.cat([dn['label_query'], query], 1)
            ref_unact = torch.cat([dn['bbox_query'], ref_unact], 1)
            ref_ang = torch.cat([dn['angles'], ref_ang], 1)
            attn_mask = dn['attn_mask']
            if attn_mask.shape[0] != query.shape[1]:  # fewer proposals than queries (tiny inputs)
                attn_mask = attn_mask[:query.shape[1], :query.shape[1]]
        dec = self.forward_decoder(query=query, memory=memory, memory_mask=enc_in['feat_mask'],
                                   reference_points=ref_unact.sigmoid(), reference_angles=ref_ang,
                                   attn_mask=attn_mask, spatial_shapes=enc_in['spatial_shapes'],
                                   level_start_index=enc_in['level_start_index'],
                                   valid_ratios=enc_in['valid_ratios'])
        all_cls, all_boxes, all_angs = self.bbox_head.forward_layers(dec['hidden'], dec['references'])
        if dn is not None and dn['label_query'].numel() == 0:
            all_cls = all_cls + 0.0 * self.dn_generator.label_embedding.weight.sum()
        return dict(all_cls=all_cls, all_boxes=all_boxes, all_angle_logits=all_angs, enc=sel, dec=dec,
                    memory=memory, enc_in=enc_in, img_shapes=img_shapes)

    # -- contract ---------------------------------------------------------------------------------
    def _forward(self, inputs: torch.Tensor, data_samples: Optional[List] = None):
        out = self.forward_transformer(inputs, data_samples)
        return out['all_cls'], out['all_boxes'], out['all_angle_logits']

    @staticmethod
    def _gts(data_samples: List, device) -> List[InstanceData]:
        gts = []
        for s in data_samples:
            gi = s.gt_instances
            b = gi.bboxes
            b = b.tensor if hasattr(b, 'tensor') else torch.as_tensor(b)
            b = b.to(device).float().reshape(-1, 5)
            lab = torch.as_tensor(gi.labels).to(device).long().reshape(-1)
            if 'ignore_flags' in gi:
                keep = ~torch.as_tensor(gi.ignore_flags).to(device).bool().reshape(-1)
                b, lab = b[keep], lab[keep]
            gts.append(InstanceData(bboxes=b, labels=lab))
        return gts

    def loss(self, inputs: torch.Tensor, data_samples: List) -> Dict[str, torch.Tensor]:
        gts = self._gts(data_samples, inputs.device)
        img_shapes = self.img_shapes(inputs, data_samples)
        dn = None
        if self.dn_generator is not None and self.training:
            dn = self.dn_generator([g.bboxes for g in gts], [g.labels for g in gts], img_shapes)
        out = self.forward_transformer(inputs, data_samples, dn=dn)
        sel = out['enc']
        if self.bbox_head.enc_loss_on == 'topk':
            idx = sel['topk_index']
            g = lambda t: torch.gather(t, 1, idx[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
            enc = (g(sel['enc_cls']), g(sel['enc_boxes']), g(sel['enc_angle_logits']))
        else:
            enc = (sel['enc_cls'], sel['enc_boxes'], sel['enc_angle_logits'])
        return self.bbox_head.loss(out['all_cls'], out['all_boxes'], out['all_angle_logits'], enc, gts,
                                   img_shapes, dn_meta=dn)

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List] = None) -> List:
        out = self.forward_transformer(inputs, data_samples)
        results = self.bbox_head.predict(out['all_cls'][-1], out['all_boxes'][-1], out['all_angle_logits'][-1],
                                         out['img_shapes'])
        samples = self.new_samples(data_samples, inputs.shape[0])
        for s, r in zip(samples, results):
            s.pred_instances = r
        return samples
