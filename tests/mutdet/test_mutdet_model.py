"""MutDet pre-training model: losses per branch, gradients, the enhanced selection, fine-tune loading."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from geoperc.structures import GeoDataSample

C = 32


def _tiny(cls=None, **kw):
    from mmdet.models.backbones import ResNet
    from mmdet.models.necks import ChannelMapper

    from geoperc.models.detection.mutdet import MutDet
    cls = cls or MutDet
    bb = dict(type=ResNet, depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
              norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch')
    neck = dict(type=ChannelMapper, in_channels=[128, 256, 512], kernel_size=1, out_channels=C, act_cfg=None,
                norm_cfg=dict(type='GN', num_groups=8), num_outs=4)
    args = dict(num_classes=8, backbone=bb, neck=neck, embed_dims=C, num_queries=20, num_heads=4, num_points=2,
                feedforward_channels=64, dn_cfg=dict(num_dn_queries=10))
    if cls is MutDet:
        args.update(obj_embed_dims=C, enhance_depth=2, enhance_heads=4, enhance_mlp_dim=64, enc_embed_hidden=64)
    args.update(kw)
    torch.manual_seed(0)
    return cls(**args)


def _batch(n=(3, 4), seed=0, sizes=((64, 64), (56, 60)), dim=C):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 255, (len(n), 3, 64, 64), generator=g).float()
    samples = []
    for i, k in enumerate(n):
        s = GeoDataSample(metainfo=dict(img_shape=sizes[i]))
        b = torch.tensor([[24.0, 24.0, 18.0, 8.0, 0.3]]).repeat(k, 1) + torch.rand(k, 5, generator=g) * 12
        b[:, 4] = (b[:, 4] + math.pi / 2) % math.pi - math.pi / 2
        s.gt_instances = InstanceData(bboxes=b, labels=torch.randint(0, 8, (k,), generator=g),
                                      embeds=F.normalize(torch.randn(k, dim, generator=g), dim=-1))
        samples.append(s)
    return x, samples


def test_loss_keys_per_branch_finite_with_gradients():
    m = _tiny()
    m.train()
    assert not m.backbone.training  # frozen backbone stays in eval mode
    x, samples = _batch()
    losses = m.loss(x, samples)
    for b in ('aux', 'enh'):
        for k in ('cls', 'bbox', 'iou', 'angle'):
            for sfx in ('', '_d0', '_dn', '_dn_d0', '_enc'):
                assert f'loss_{b}_{k}{sfx}' in losses
        assert f'loss_{b}_embed' in losses and f'loss_{b}_embed_dn' in losses
    assert 'loss_enh_embed_enc' in losses and 'loss_aux_embed_enc' not in losses
    assert all(k.startswith(('loss_aux_', 'loss_enh_', 'sim_')) for k in losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    total = sum(v for k, v in losses.items() if k.startswith('loss_'))
    total.backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert all(p.grad is None and not p.requires_grad for p in m.backbone.parameters())
    # the enhancement module learns from both the alignment targets and the enhanced branch
    assert m.enhance.layers[0].cross_attn_mem_to_obj.q_proj.weight.grad.abs().sum() > 0
    assert m.enc_embed.fc1.weight.grad.abs().sum() > 0


def test_alignment_targets_are_the_enhanced_objects_not_detached():
    m = _tiny()
    m.train()
    x, samples = _batch()
    losses = m.loss(x, samples)
    emb = [s.gt_instances.embeds.requires_grad_(True) for s in samples]
    losses = m.loss(x, samples)
    losses['loss_aux_embed'].backward()
    # the aux branch's alignment reaches the input embeddings through the enhancement module only
    assert emb[0].grad is not None and emb[0].grad.abs().sum() > 0
    assert m.enhance.layers[-1].self_attn.q_proj.weight.grad is not None


def test_enhanced_selection_scores_and_masking():
    from geoperc.models.detection.mutdet_modules import enhanced_proposal_scores
    m = _tiny()
    m.eval()
    x, samples = _batch()
    img_shapes = m.img_shapes(x, samples)
    with torch.no_grad():
        feats = m.extract_feat(x)
        enc_in = m.pre_transformer(feats, x.shape[-2:], img_shapes)
        mem = m.forward_encoder(**enc_in)
        objs = [s.gt_instances.embeds for s in samples]
        sel = m.select_enhanced(mem, enc_in['feat_mask'], enc_in['spatial_shapes'], objs)
        _, props = m.gen_encoder_output_proposals(mem, enc_in['feat_mask'], enc_in['spatial_shapes'])
    invalid = (props >= 9999).any(-1)
    assert invalid[1].any()  # the smaller image has padding
    for i in range(2):
        s = enhanced_proposal_scores(sel['enc_embeds'][i], sel['objects'][i], sel['enc_cls'][i, :, 0])
        s[invalid[i]] = -math.inf
        assert torch.equal(sel['topk_index'][i], s.topk(20).indices)
        assert not invalid[i][sel['topk_index'][i]].any()
        assert sel['objects'][i].shape == objs[i].shape
    assert sel['memory'].shape == mem.shape
    assert torch.allclose(sel['enc_embeds'].norm(dim=-1), torch.ones(()), atol=1e-5)


def test_missing_embeddings_is_explained():
    m = _tiny()
    m.train()
    x, samples = _batch()
    del samples[0].gt_instances.embeds
    with pytest.raises(ValueError, match='embeds'):
        m.loss(x, samples)


def test_predict_is_the_plain_detector():
    m = _tiny()
    m.eval()
    x, samples = _batch()
    for s in samples:
        del s.gt_instances.embeds
    with torch.no_grad():
        out = m.predict(x, samples)
    assert out[0].pred_instances.bboxes.shape[1] == 5 and len(out) == 2


def test_finetune_loading_reports_exactly_the_mismatches():
    from geoperc.models.detection import RotatedDETR
    from geoperc.models.detection.convert_mutdet import format_report, load_mutdet_pretrained
    pre = _tiny()
    with torch.no_grad():
        for p in pre.parameters():
            p.add_(0.5)  # distinguishable from any initialisation
    sd = {k: v.clone() for k, v in pre.state_dict().items()}
    ft = _tiny(RotatedDETR, num_classes=3, num_encoder_layers=6, num_decoder_layers=6)
    init = {k: v.clone() for k, v in ft.state_dict().items()}
    rep = load_mutdet_pretrained(ft, {'state_dict': sd})
    now = ft.state_dict()
    # classification head and label embedding: re-initialised (exactly those, nothing else class-specific)
    assert {k.rsplit('.', 1)[0] for k in rep['reinitialised']} == \
        {f'bbox_head.cls_branches.{i}' for i in range(7)} | {'dn_generator.label_embedding'}
    for i in range(7):
        assert torch.equal(now[f'bbox_head.cls_branches.{i}.weight'], init[f'bbox_head.cls_branches.{i}.weight'])
    assert not rep['shape_mismatch']
    # shared parts loaded
    for k in ('decoder.layers.1.cross_attn.sampling_offsets.weight', 'encoder.layers.0.self_attn.value_proj.weight',
              'neck.convs.0.conv.weight', 'query_embedding.weight', 'memory_trans_fc.weight', 'level_embed',
              'bbox_head.reg_branches.1.4.weight', 'decoder.ref_point_head.layers.0.weight'):
        assert torch.equal(now[k], sd[k]), k
    # the encoder-proposal branches move from index 2 (E2D2) to index 6 (E6D6)
    assert torch.equal(now['bbox_head.reg_branches.6.0.weight'], sd['bbox_head.reg_branches.2.0.weight'])
    assert torch.equal(now['bbox_head.angle_branches.6.weight'], sd['bbox_head.angle_branches.2.weight'])
    assert torch.equal(now['bbox_head.reg_branches.2.0.weight'], init['bbox_head.reg_branches.2.0.weight'])
    # new layers untouched, pre-training-only modules dropped
    assert torch.equal(now['decoder.layers.4.ffn.layers.0.0.weight'], init['decoder.layers.4.ffn.layers.0.0.weight'])
    assert any(k.startswith('decoder.layers.5.') for k in rep['new'])
    assert any(k.startswith('encoder.layers.2.') for k in rep['new'])
    assert {k.split('.')[0] for k in rep['dropped']} == {'enhance', 'patch_memory_fc', 'patch_memory_norm',
                                                         'enc_embed', 'feature_embed'}
    text = format_report(rep)
    assert 'E2D2' in text and 'E6D6' in text and 'bbox_head.reg_branches.2 -> bbox_head.reg_branches.6' in text
    assert set(now) == set(init)


def test_official_keys_are_mapped():
    from geoperc.models.detection.convert_mutdet import convert, official_to_geoperc
    t = torch.zeros(2)
    off = {'bbox_head.transformer.encoder.layers.1.attentions.0.sampling_offsets.weight': t,
           'bbox_head.transformer.decoder.layers.0.attentions.1.value_proj.bias': t,
           'bbox_head.transformer.decoder.layers.0.ffns.0.layers.0.0.weight': t,
           'bbox_head.transformer.decoder.ref_point_head.2.weight': t,
           'bbox_head.transformer.decoder.layers.1.norms.2.weight': t,
           'bbox_head.transformer.feature_enhance.layers.2.cross_attn_image_to_token.q_proj.weight': t,
           'bbox_head.transformer.feature_enhance.layers.0.mlp.lin1.weight': t,
           'bbox_head.transformer.patch_enc_decode.2.bias': t,
           'bbox_head.label_embedding.weight': t, 'bbox_head.reg_branches.2.4.weight': t,
           'bbox_head.transformer.level_embeds': t, 'backbone.conv1.weight': t, 'bbox_head.mystery': t}
    new, unmatched = official_to_geoperc({'state_dict': off})
    assert set(new) == {'encoder.layers.1.self_attn.sampling_offsets.weight',
                        'decoder.layers.0.cross_attn.value_proj.bias', 'decoder.layers.0.ffn.layers.0.0.weight',
                        'decoder.ref_point_head.layers.1.weight', 'decoder.layers.1.norms.2.weight',
                        'enhance.layers.2.cross_attn_mem_to_obj.q_proj.weight', 'enhance.layers.0.mlp.0.weight',
                        'enc_embed.fc2.bias', 'dn_generator.label_embedding.weight',
                        'bbox_head.reg_branches.2.4.weight', 'level_embed', 'backbone.conv1.weight'}
    assert unmatched == ['bbox_head.mystery']
    ft, rep = convert(off)
    assert 'bbox_head.reg_branches.6.4.weight' in ft and 'enhance.layers.0.mlp.0.weight' not in ft
    assert rep['unmatched'] == ['bbox_head.mystery'] and rep['notes']
