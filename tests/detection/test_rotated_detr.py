"""The rotated DETR as a geoperc model: build from the tiny config, losses, gradients, predict contract."""
import math
import os

import pytest
import torch
from mmengine.structures import InstanceData

from geoperc.structures import GeoDataSample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, 'configs', 'detection', 'ars_detr', 'ars_detr_tiny_1xb4_2k_synth.py')


def _model(**over):
    from mmengine.config import Config

    from geoperc.registry import MODELS
    cfg = Config.fromfile(TINY)
    cfg.model.update(over)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def _batch(sizes=((96, 128), (128, 96))):
    inputs, samples = [], []
    for i, (h, w) in enumerate(sizes):
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8))
        s = GeoDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        b = torch.tensor([[30., 40, 20, 8, 0.3], [60, 50, 30, 10, -1.0], [20, 70, 12, 12, 0.0]])[:i + 2]
        s.gt_instances = InstanceData(bboxes=b, labels=torch.tensor([0, 2, 1])[:i + 2])
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_contract_and_loss_keys():
    from geoperc.models.base import ROTATED_BOXES
    m = _model()
    assert m.output_kind == ROTATED_BOXES and m.in_channels == 3 and m.size_divisor == 32
    data = m.data_preprocessor(_batch(), True)
    losses = m(**data, mode='loss')
    assert all(k.startswith('loss_') for k in losses)
    for part in ('cls', 'bbox', 'iou', 'angle'):
        for sfx in ('', '_d0', '_dn', '_dn_d0', '_enc'):
            assert f'loss_{part}{sfx}' in losses
    assert all(torch.isfinite(v) for v in losses.values())


def test_every_trainable_parameter_gets_a_gradient():
    m = _model()
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    # at initialisation the zero-initialised last regression layers and deformable-attention offset /
    # weight layers block some gradients (as in Deformable DETR); after one step every parameter learns
    for _ in range(2):
        opt.zero_grad()
        data = m.data_preprocessor(_batch(), True)
        losses = m(**data, mode='loss')
        sum(losses.values()).backward()
        opt.step()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert missing == [], missing[:10]


def test_predict_fills_pred_instances_in_input_pixels():
    m = _model()
    m.eval()
    batch = _batch()
    with torch.no_grad():
        out = m.test_step(batch)
    assert len(out) == 2
    for s, (h, w) in zip(out, [(96, 128), (128, 96)]):
        p = s.pred_instances
        assert p.bboxes.shape == (50, 5) and p.scores.shape == (50,) and p.labels.dtype == torch.long
        assert torch.all(p.bboxes[:, 2] >= p.bboxes[:, 3])                         # le90: w >= h
        assert torch.all(p.bboxes[:, 4] >= -math.pi / 2) and torch.all(p.bboxes[:, 4] < math.pi / 2)
        assert float(p.bboxes[:, 0].max()) <= w + 1e-3 and float(p.bboxes[:, 1].max()) <= h + 1e-3
        assert torch.all(p.scores[:-1] >= p.scores[1:])


def test_padding_is_masked():
    m = _model()
    feats = m.extract_feat(torch.zeros(2, 3, 128, 128))
    enc = m.pre_transformer(feats, (128, 128), [(64, 96), (128, 128)])
    assert enc['spatial_shapes'].tolist() == [[16, 16], [8, 8], [4, 4], [2, 2]]
    assert torch.allclose(enc['valid_ratios'][0, 0], torch.tensor([96 / 128, 64 / 128]))
    assert torch.allclose(enc['valid_ratios'][1], torch.ones(4, 2))
    mask0 = enc['feat_mask'][0, :256].view(16, 16)
    assert mask0[:8, :12].sum() == 0 and mask0[8:].all() and mask0[:, 12:].all()
    # proposals never come from padded tokens
    memory = torch.randn(2, enc['feat'].shape[1], m.embed_dims)
    _, props = m.gen_encoder_output_proposals(memory, enc['feat_mask'], enc['spatial_shapes'])
    assert torch.all(props[0, :256][mask0.flatten()] == 10000)


def test_e2d2_and_no_dn_variants_build():
    m = _model(num_encoder_layers=2, num_decoder_layers=2, dn_cfg=None, rotate_deform_attn=False)
    assert len(m.decoder.layers) == 2 and len(m.encoder.layers) == 2 and m.dn_generator is None
    assert len(m.bbox_head.cls_branches) == 3
    data = m.data_preprocessor(_batch(), True)
    losses = m(**data, mode='loss')
    assert 'loss_cls_dn' not in losses and 'loss_cls_enc' in losses


def test_empty_ground_truth_trains():
    m = _model()
    batch = _batch()
    for s in batch['data_samples']:
        s.gt_instances = InstanceData(bboxes=torch.zeros(0, 5), labels=torch.zeros(0, dtype=torch.long))
    losses = m(**m.data_preprocessor(batch, True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_bbox']) == 0.0
