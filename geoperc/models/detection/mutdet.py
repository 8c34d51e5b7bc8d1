"""MutDet pre-training (step 3): the rotated DETR with mutual enhancement, an enhanced branch, the
auxiliary siamese head and contrastive alignment.

Huang, Feng, Liu, Wang, "MutDet: Mutually Optimizing Pre-training for Remote Sensing Object Detection",
ECCV 2024 (official code ``floatingstarZ/MutDet``: ``DetReg_ars_detr_Fast.py``,
``DetReg_dn_ars_detr_headv7.py``, ``dn_ars_rotated_transformer_template_matching.py``, ``transformer.py``;
as read for this project). Built on :class:`~.rotated_detr.RotatedDETR`
(ARS-DETR design), E2D2 with a frozen ResNet-50 as the official pre-training config.

One training step, per batch (as the official code)::

    backbone (frozen) -> neck -> deformable encoder -> memory F
    siamese / auxiliary branch: F -> enc_output (Linear + LN) -> proposal branches -> top-300 by the
        class-0 logit -> decoder (value F)                       losses ``loss_aux_*``
    enhanced branch: F (padding / border tokens zeroed) -> its own projection (Linear + LN) -> mutual
        enhancement with the object embeddings O (per image) -> (O_enh, F_enh);
        proposal branches on F_enh; token embedding MLP(256 -> 1024 -> 256), L2 -> score = max cosine
        to O_enh x class-0 logit -> top-300 -> decoder (value F_enh)  losses ``loss_enh_*``

Both branches share the decoder, the query embedding and the class / box / angle branches; the
denoising queries (made from the pseudo-boxes and pseudo-classes) join both. Losses of each branch:
ARS-DETR's detection losses (every decoder layer, the denoising queries, the encoder proposals with
binary targets) with 256 pseudo-classes, plus the symmetric InfoNCE alignment (tau 0.2, weight 2 tau,
:func:`~.mutdet_modules.info_nce`) between an embedding head on the last decoder layer's states
(``feature_embed``, MLP 256-256-256) and the L2-normalised *enhanced* object embeddings (not detached):
on the Hungarian-matched queries (``loss_<b>_embed``), on the denoising queries (``loss_<b>_embed_dn``)
and, in the enhanced branch, on the matched encoder proposals with the token embeddings
(``loss_enh_embed_enc``). Cosine similarities of positives / negatives are logged (``sim_*``).

Inputs: ``gt_instances`` with ``bboxes`` (pseudo-boxes, le90 pixels), ``labels`` (pseudo-classes) and
``embeds`` ``(N, 256)`` (step 2, :class:`~.mutdet_data.LoadObjectEmbeddings` +
:class:`~.mutdet_data.PackMutDetInputs`). ``predict`` runs the plain detector (the auxiliary branch, what
fine-tuning inherits) and needs no embeddings.

Choices (constructor arguments) where the official code is not followed or says nothing:

* ``score_mode='logit'`` multiplies the max cosine by the raw class-0 logit as the official code does
  (``'sigmoid'``: by its probability).
* ``mask_invalid_proposals=True``: tokens on the padding / border (whose proposal is the official
  10000-logit placeholder) cannot be selected by the enhanced branch; the official code lets them
  compete with scores from enhanced memory (in the plain branch their memory is zero and they rarely win).
* ``dn_align='first_group'``: the denoising alignment uses each image's positive queries of the first
  denoising group (every object once). The official code takes the first ``sum(N_i)`` positive rows of the
  batch, which are image 0's first groups when the images have different counts.
* ``obj_proj``: object embeddings of another width than ``embed_dims`` pass a Linear layer (the official
  PCA width equals the detector's 256, no layer).
* The logged negative similarity is the mean over off-diagonal pairs (official: over all pairs with the
  diagonal zeroed).

The Hungarian matches come from the head's own assigner (recorded per call, see :class:`_RecordingAssigner`),
so the alignment uses exactly the matching of the detection losses.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import MLP
from mmengine.structures import InstanceData

from geoperc.registry import MODELS
from .mutdet_modules import EmbeddingMLP, MutualEnhancement, enhanced_proposal_scores, info_nce
from .rotated_detr import RotatedDETR

__all__ = ['MutDet']


class _RecordingAssigner:
    """Wraps the head's assigner and records every ``assign`` result ``(query_idx, gt_idx)`` in order."""

    def __init__(self, assigner):
        self.inner = assigner
        self.records: List = []

    def assign(self, *args, **kwargs):
        out = self.inner.assign(*args, **kwargs)
        self.records.append(out)
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


@MODELS.register_module()
class MutDet(RotatedDETR):
    """MutDet pre-training detector (see the module docstring).

    Args:
        num_classes: pseudo-classes (official 256).
        num_encoder_layers / num_decoder_layers: official E2D2.
        obj_embed_dims: width of the step-2 object embeddings (official 256 = ``embed_dims``).
        enhance_depth / enhance_heads / enhance_mlp_dim: mutual enhancement (3 / 8 / 2048).
        enc_embed_hidden: hidden width of the token embedding MLP (1024).
        tau: InfoNCE temperature (0.2); ``align_weight``: per direction (default ``2 tau``).
        score_mode: ``'logit'`` (official) or ``'sigmoid'``.
        mask_invalid_proposals: see the module docstring.
        dn_align: ``'first_group'`` or ``'none'``.
        freeze_backbone: official: the backbone is frozen (``frozen_parameters=['backbone']``,
            ``frozen_stages=4``); its BatchNorm stays in eval mode.
        allow_random_backbone: silence the warning about a frozen backbone without ``pretrained`` weights.
        **kwargs: :class:`~.rotated_detr.RotatedDETR` arguments.
    """

    contract_input = dict(size=(64, 64), num_boxes=3, instance_fields=dict(embeds=dict(dim=256, unit=True)))

    def __init__(self, num_classes: int = 256, num_encoder_layers: int = 2, num_decoder_layers: int = 2,
                 obj_embed_dims: int = 256, enhance_depth: int = 3, enhance_heads: int = 8,
                 enhance_mlp_dim: int = 2048, enc_embed_hidden: int = 1024, tau: float = 0.2,
                 align_weight: Optional[float] = None, score_mode: str = 'logit',
                 mask_invalid_proposals: bool = True, dn_align: str = 'first_group', freeze_backbone: bool = True,
                 allow_random_backbone: bool = False, **kwargs):
        super().__init__(num_classes=num_classes, num_encoder_layers=num_encoder_layers,
                         num_decoder_layers=num_decoder_layers, **kwargs)
        if score_mode not in ('logit', 'sigmoid'):
            raise ValueError(f"score_mode must be 'logit' or 'sigmoid', got {score_mode!r}")
        if dn_align not in ('first_group', 'none'):
            raise ValueError(f"dn_align must be 'first_group' or 'none', got {dn_align!r}")
        C = self.embed_dims
        self.obj_embed_dims = obj_embed_dims
        self.obj_proj = nn.Identity() if obj_embed_dims == C else nn.Linear(obj_embed_dims, C)
        self.enhance = MutualEnhancement(C, enhance_depth, enhance_heads, enhance_mlp_dim)
        self.patch_memory_fc = nn.Linear(C, C)
        self.patch_memory_norm = nn.LayerNorm(C)
        self.enc_embed = EmbeddingMLP(C, enc_embed_hidden, C)
        self.feature_embed = MLP(C, C, C, 2)
        self.tau, self.align_weight = float(tau), align_weight
        self.score_mode, self.mask_invalid_proposals, self.dn_align = score_mode, mask_invalid_proposals, dn_align
        self.freeze_backbone, self.allow_random_backbone = freeze_backbone, allow_random_backbone
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
        self.bbox_head.assigner = _RecordingAssigner(self.bbox_head.assigner)
        self._init_mutdet()
        self.contract_input = dict(type(self).contract_input,
                                   instance_fields=dict(embeds=dict(dim=obj_embed_dims, unit=True)))

    def _init_mutdet(self) -> None:
        # official: these modules live in the transformer, whose init_weights xavier-initialises every matrix
        for mod in (self.enhance, self.patch_memory_fc, self.enc_embed, self.obj_proj):
            for p in mod.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    def init_weights(self) -> None:
        super().init_weights()
        self._init_mutdet()
        weights = self.pretrained or getattr(self.backbone, 'pretrained', None)
        if self.freeze_backbone and not weights and not self.allow_random_backbone:
            from mmengine.logging import print_log
            print_log('#' * 80 + '\nMutDet: the backbone is FROZEN and RANDOM (model.pretrained is None). The '
                      'official pre-training freezes an ImageNet ResNet-50: set model.pretrained to a local '
                      'torchvision checkpoint (or allow_random_backbone=True for tests).\n' + '#' * 80,
                      logger='current', level=30)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    # -- the enhanced branch ----------------------------------------------------------------------
    def select_enhanced(self, memory: torch.Tensor, memory_mask: torch.Tensor, spatial_shapes: torch.Tensor,
                        objects: List[torch.Tensor]) -> Dict:
        """Mutual enhancement and the enhanced two-stage selection (see the module docstring).

        Returns the proposal outputs for every token (``enc_cls``, ``enc_boxes``, ``enc_angle_logits``,
        ``enc_embeds`` (B, S, C) unit norm), ``topk_index``, ``reference_unact``, ``reference_angles``,
        the enhanced ``memory`` (B, S, C) and ``objects`` (list of enhanced ``(N_i, C)``)."""
        head = self.bbox_head
        L = self.decoder.num_layers
        _, props = self.gen_encoder_output_proposals(memory, memory_mask, spatial_shapes)
        invalid = (props >= 9999.0).any(-1)  # padding and border tokens (official 10000 placeholder)
        patch_mem = self.patch_memory_norm(self.patch_memory_fc(memory.masked_fill(invalid[..., None], 0.0)))
        objs, enh_mem = self.enhance.per_image(objects, patch_mem)
        enc_cls = head.cls_branches[L](enh_mem)
        enc_ang = head.angle_branches[L](enh_mem)
        enc_unact = head.reg_branches[L](enh_mem) + props
        enc_emb = F.normalize(self.enc_embed(enh_mem), dim=-1)
        scores = torch.stack([enhanced_proposal_scores(enc_emb[i], objs[i], enc_cls[i, :, 0], self.score_mode)
                              for i in range(len(objs))])
        if self.mask_invalid_proposals:
            scores = scores.masked_fill(invalid, float('-inf'))
        k = min(self.num_queries, scores.shape[1])
        top = torch.topk(scores.detach(), k, dim=1)[1]
        ref_unact = torch.gather(enc_unact, 1, top[..., None].expand(-1, -1, 4)).detach()
        ref_ang = head.angle_coder.decode(torch.gather(enc_ang, 1, top[..., None].expand(-1, -1, enc_ang.shape[-1]))
                                          .detach())
        return dict(enc_cls=enc_cls, enc_boxes=enc_unact.sigmoid(), enc_angle_logits=enc_ang, enc_embeds=enc_emb,
                    topk_index=top, reference_unact=ref_unact, reference_angles=ref_ang, memory=enh_mem,
                    objects=objs)

    def _decode(self, sel: Dict, value: torch.Tensor, enc_in: Dict, dn: Optional[dict]) -> Dict:
        """Queries (denoising first) from a selection, the shared decoder on ``value``, the head."""
        B = value.shape[0]
        query = self.query_embedding.weight[None].expand(B, -1, -1)[:, :sel['reference_unact'].shape[1]]
        ref_unact, ref_ang, attn_mask = sel['reference_unact'], sel['reference_angles'], None
        if dn is not None:
            query = torch.cat([dn['label_query'], query], 1)
            ref_unact = torch.cat([dn['bbox_query'], ref_unact], 1)
            ref_ang = torch.cat([dn['angles'], ref_ang], 1)
            attn_mask = dn['attn_mask'][:query.shape[1], :query.shape[1]]
        dec = self.forward_decoder(query=query, memory=value, memory_mask=enc_in['feat_mask'],
                                   reference_points=ref_unact.sigmoid(), reference_angles=ref_ang,
                                   attn_mask=attn_mask, spatial_shapes=enc_in['spatial_shapes'],
                                   level_start_index=enc_in['level_start_index'],
                                   valid_ratios=enc_in['valid_ratios'])
        cls, boxes, angs = self.bbox_head.forward_layers(dec['hidden'], dec['references'])
        return dict(all_cls=cls, all_boxes=boxes, all_angle_logits=angs, hidden=dec['hidden'])

    # -- losses -----------------------------------------------------------------------------------
    def _gts_with_embeds(self, data_samples: List, device) -> List[InstanceData]:
        gts = []
        for s in data_samples:
            gi = s.gt_instances
            if 'embeds' not in gi:
                raise ValueError(f'{s.metainfo.get("img_path", "a sample")}: gt_instances has no "embeds"; MutDet '
                                 'pre-training needs the step-2 object embeddings (LoadObjectEmbeddings + '
                                 'PackMutDetInputs in the pipeline)')
            b = gi.bboxes
            b = (b.tensor if hasattr(b, 'tensor') else torch.as_tensor(b)).to(device).float().reshape(-1, 5)
            lab = torch.as_tensor(gi.labels).to(device).long().reshape(-1)
            emb = torch.as_tensor(gi.embeds).to(device).float().reshape(len(lab), -1)
            if 'ignore_flags' in gi:
                keep = ~torch.as_tensor(gi.ignore_flags).to(device).bool().reshape(-1)
                b, lab, emb = b[keep], lab[keep], emb[keep]
            gts.append(InstanceData(bboxes=b, labels=lab, embeds=emb))
        return gts

    def _align(self, preds: List[torch.Tensor], targets: List[torch.Tensor]):
        return info_nce(torch.cat(preds), torch.cat(targets), self.tau, self.align_weight)

    def _branch_losses(self, name: str, out: Dict, sel: Dict, gts: List[InstanceData], targets: List[torch.Tensor],
                       img_shapes, dn: Optional[dict], enc_embeds: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        head = self.bbox_head
        rec = head.assigner
        if head.enc_loss_on == 'topk':
            idx = sel['topk_index']
            g = lambda t: torch.gather(t, 1, idx[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
            enc = (g(sel['enc_cls']), g(sel['enc_boxes']), g(sel['enc_angle_logits']))
            enc_embeds = g(enc_embeds) if enc_embeds is not None else None
        else:
            enc = (sel['enc_cls'], sel['enc_boxes'], sel['enc_angle_logits'])
        rec.records = []
        det = head.loss(out['all_cls'], out['all_boxes'], out['all_angle_logits'], enc, gts, img_shapes,
                        dn_meta=dn)
        with_gt = [i for i, gt in enumerate(gts) if len(gt.bboxes)]
        L, n = out['all_cls'].shape[0], len(with_gt)
        if len(rec.records) != (L + 1) * n:  # layers in order, then the proposals (RotatedDETRHead.loss)
            raise RuntimeError(f'expected {(L + 1) * n} assignments, recorded {len(rec.records)}')
        last, enc_rec = rec.records[(L - 1) * n:L * n], rec.records[L * n:]
        rec.records = []
        losses = {k.replace('loss_', f'loss_{name}_', 1): v for k, v in det.items()}
        pad = dn['pad_size'] if dn else 0
        z = self.feature_embed(out['hidden'][-1])  # (B, P + Q, C)
        preds, tg = [], []
        for i, (q, g) in zip(with_gt, last):
            preds.append(z[i, pad:][q])
            tg.append(targets[i][g])
        loss, pos, neg = self._align(preds or [z[:0, 0]], tg or [targets[0][:0]])
        losses[f'loss_{name}_embed'], losses[f'sim_pos_{name}'], losses[f'sim_neg_{name}'] = loss, pos, neg
        if dn is not None and self.dn_align == 'first_group':
            preds = [z[i, :len(gts[i].bboxes)] for i in with_gt]  # group 0 positives: slots 0 .. N_i - 1
            tg = [targets[i] for i in with_gt]
            loss, pos, neg = self._align(preds or [z[:0, 0]], tg or [targets[0][:0]])
            losses[f'loss_{name}_embed_dn'], losses[f'sim_pos_{name}_dn'] = loss, pos
        if enc_embeds is not None:
            preds = [enc_embeds[i][q] for i, (q, _) in zip(with_gt, enc_rec)]
            tg = [targets[i][g] for i, (_, g) in zip(with_gt, enc_rec)]
            loss, pos, neg = self._align(preds or [enc_embeds[:0, 0]], tg or [targets[0][:0]])
            losses[f'loss_{name}_embed_enc'], losses[f'sim_pos_{name}_enc'] = loss, pos
        return losses

    def loss(self, inputs: torch.Tensor, data_samples: List) -> Dict[str, torch.Tensor]:
        gts = self._gts_with_embeds(data_samples, inputs.device)
        img_shapes = self.img_shapes(inputs, data_samples)
        dn = None
        if self.dn_generator is not None and self.training:
            dn = self.dn_generator([g.bboxes for g in gts], [g.labels for g in gts], img_shapes)
        if self.freeze_backbone:
            with torch.no_grad():
                feats = self.backbone(inputs)
            feats = list(self.neck(tuple(feats)))
        else:
            feats = self.extract_feat(inputs)
        enc_in = self.pre_transformer(feats, inputs.shape[-2:], img_shapes)
        memory = self.forward_encoder(**enc_in)
        # auxiliary siamese head: the plain detector on the un-enhanced memory
        sel = self.select_queries(memory, enc_in['feat_mask'], enc_in['spatial_shapes'])
        aux = self._decode(sel, memory, enc_in, dn)
        # enhanced branch
        objects = [self.obj_proj(g.embeds) for g in gts]
        esel = self.select_enhanced(memory, enc_in['feat_mask'], enc_in['spatial_shapes'], objects)
        enh = self._decode(esel, esel['memory'], enc_in, dn)
        targets = [F.normalize(o, dim=-1) for o in esel['objects']]  # enhanced, not detached (official)
        losses = self._branch_losses('aux', aux, sel, gts, targets, img_shapes, dn, None)
        losses.update(self._branch_losses('enh', enh, esel, gts, targets, img_shapes, dn, esel['enc_embeds']))
        if dn is not None and dn['label_query'].numel() == 0:
            losses['loss_aux_cls'] = losses['loss_aux_cls'] + 0.0 * self.dn_generator.label_embedding.weight.sum()
        return losses
