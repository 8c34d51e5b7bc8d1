import os

import pytest
import torch
import torch.nn.functional as F

from geoperc.errors import CheckpointError
from geoperc.models.base import DENSE_PROBS
from geoperc.models.change import FSGNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.change.fsgnet import DAWIM, LGFU, STSAM, CoordAtt, CrossTemporalAttention
from geoperc.models.losses import BCEDiceLoss, CrossEntropyLoss
from tests.conftest import ROOT
from tests.models.change_data import make_pairs, to_batch

BN = dict(type='BN', requires_grad=True)


def tiny_fsgnet(**kw):
    cfg = dict(backbone=dict(depth=18, base_channels=16), in_channels=4, channels=32)
    cfg.update(kw)
    m = FSGNet(**cfg)
    m.init_weights()
    return m


# -- STSAM (official file) ----------------------------------------------------------------------------
def test_cross_temporal_attention_matches_reference_math():
    torch.manual_seed(0)
    m = CrossTemporalAttention(16)
    assert m.gamma.item() == 0 and m.query_conv.out_channels == 2 and m.value_conv.out_channels == 16
    f1, f2 = torch.randn(2, 16, 3, 4), torch.randn(2, 16, 3, 4)
    o1, o2 = m(f1, f2)
    assert torch.equal(o1, f1) and torch.equal(o2, f2)  # gamma = 0 at init
    with torch.no_grad():
        m.gamma.fill_(0.5)
        o1, o2 = m(f1, f2)
    e1, e2 = f1 + m.t_embedding1, f2 + m.t_embedding2
    q2 = m.query_conv(e2).flatten(2)  # (B, C/8, N)
    k1 = m.key_conv(e1).flatten(2)
    v1 = m.value_conv(e1).flatten(2)
    attn = torch.softmax(torch.einsum('bcn,bcm->bnm', q2, k1), dim=-1)  # no 1/sqrt(d) scaling
    ref1 = 0.5 * torch.einsum('bcm,bnm->bcn', v1, attn).reshape(2, 16, 3, 4) + f1
    assert torch.allclose(o1, ref1, atol=1e-5)


def test_coord_att_and_stsam_shapes_gradients():
    ca = CoordAtt(64, BN)
    assert ca.conv1.out_channels == 8  # mip = max(8, 64 // 32)
    assert CoordAtt(512, BN).conv1.out_channels == 16
    x = torch.randn(2, 64, 5, 7, requires_grad=True)
    y = ca(x)
    assert y.shape == x.shape and (y.abs() <= x.abs() + 1e-6).all()  # sigmoid gates shrink
    m = STSAM(64, BN)
    f1 = torch.randn(2, 64, 4, 4, requires_grad=True)
    f2 = torch.randn(2, 64, 4, 4, requires_grad=True)
    o1, o2 = m(f1, f2)
    assert o1.shape == o2.shape == (2, 64, 4, 4) and (o1 >= 0).all()  # ReLU after fusion
    (o1.sum() + o2.sum()).backward()
    assert f1.grad is not None and f2.grad is not None
    no_grad = [n for n, p in m.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    assert m.branch1.gamma.grad is not None and m.branch1.gamma.grad.abs() > 0


# -- DAWIM / LGFU (designed from the paper) -----------------------------------------------------------
@pytest.mark.parametrize('size', [(8, 8), (7, 5)])
def test_dawim_identity_when_gates_closed(size):
    torch.manual_seed(0)
    m = DAWIM(8, BN).eval()
    with torch.no_grad():  # sigmoid(-100) = 0: no low-frequency pull, no high-frequency emphasis
        m.low_gate.bn.bias.fill_(-100.0)
        m.high_gate.bn.bias.fill_(-100.0)
    f1, f2 = torch.randn(2, 8, *size), torch.randn(2, 8, *size)
    o1, o2 = m(f1, f2)
    assert torch.allclose(o1, f1, atol=1e-5) and torch.allclose(o2, f2, atol=1e-5)


def test_dawim_low_gate_open_equalises_low_frequency():
    from geoperc.ops.haar import haar_dwt2d
    m = DAWIM(4, BN).eval()
    with torch.no_grad():
        m.low_gate.bn.bias.fill_(100.0)  # G_L = 1: both dates get the mean low band
        m.high_gate.bn.bias.fill_(-100.0)
    f1 = torch.randn(1, 4, 8, 8)
    f2 = 1.5 * f1 + 2.0  # a pure radiometric change (gain + offset)
    o1, o2 = m(f1, f2)
    l1, l2 = haar_dwt2d(o1)[0], haar_dwt2d(o2)[0]
    assert torch.allclose(l1, l2, atol=1e-5)
    assert torch.allclose(haar_dwt2d(o1)[1], haar_dwt2d(f1)[1], atol=1e-5)  # details untouched


def test_dawim_shapes_gradients():
    m = DAWIM(8, BN)
    f1 = torch.randn(2, 8, 6, 10, requires_grad=True)
    f2 = torch.randn(2, 8, 6, 10, requires_grad=True)
    o1, o2 = m(f1, f2)
    assert o1.shape == o2.shape == f1.shape
    (o1 ** 2).sum().add((o2 ** 2).sum()).backward()
    assert f1.grad is not None and all(p.grad is not None for p in m.parameters())


def test_lgfu_shapes_gradients_and_gate():
    m = LGFU(16, BN)
    deep = torch.randn(2, 16, 4, 4, requires_grad=True)
    shallow = torch.randn(2, 16, 8, 8, requires_grad=True)
    out = m(deep, shallow)
    assert out.shape == (2, 16, 8, 8)
    out.sum().backward()
    assert deep.grad is not None and shallow.grad is not None
    assert all(p.grad is not None for p in m.parameters())
    m.eval()
    with torch.no_grad():  # a closed gate ignores the shallow details
        m.gate.bn.bias.fill_(-100.0)
        a = m(deep, shallow)
        b = m(deep, torch.randn_like(shallow))
    assert torch.allclose(a, b, atol=1e-5)


# -- model --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('bands,size', [(4, (64, 64)), (7, (96, 160))])
def test_tiny_fsgnet_any_bands_and_size(bands, size):
    m = tiny_fsgnet(in_channels=bands).eval()  # eval: no dropout, so both calls agree
    assert m.backbone.conv1.in_channels == bands
    x = torch.randn(2, 2, bands, *size)
    [z] = m(x)  # mode='tensor': the list of raw outputs, main first
    assert z.shape == (2, 1, size[0] // 4, size[1] // 4)
    probs = m.predict_dense(x)
    assert probs.shape == (2, 2, *size)
    assert torch.allclose(probs[:, 1], torch.sigmoid(F.interpolate(z, size=size, mode='bilinear'))[:, 0],
                          atol=1e-6)


def test_fsgnet_declares_the_contract():
    m = tiny_fsgnet(in_channels=5)
    assert m.output_kind == DENSE_PROBS and m.num_dates == 2 and m.in_channels == 5 and m.num_classes == 2
    assert m.size_divisor == 32 == m.backbone.size_divisibility  # default preprocessor pads to the backbone's
    assert isinstance(m.loss_main, BCEDiceLoss)
    with pytest.raises(ValueError, match='C = 5'):
        m(torch.randn(1, 2, 4, 64, 64))
    with pytest.raises(ValueError, match='pad_size_divisor=32'):
        tiny_fsgnet(data_preprocessor=dict(type=GeoDataPreprocessor, pad_size_divisor=16))
    with pytest.raises(ValueError, match='model.in_channels'):
        tiny_fsgnet(backbone=dict(depth=18, base_channels=16, in_channels=3))


def test_fsgnet_multiclass_softmax_head():
    """num_classes is not hard-coded: K > 2 gives K softmax logits and cross-entropy."""
    torch.manual_seed(0)
    m = tiny_fsgnet(num_classes=3)
    assert m.head[-1].out_channels == 3 and isinstance(m.loss_main, CrossEntropyLoss)
    right = torch.arange(64) >= 32  # changes in the right half become class 2
    pairs = [(img, torch.where(lab == 1, 1 + right.to(lab.dtype), lab)) for img, lab in make_pairs(2, 0)]
    assert {0, 1, 2} <= set(torch.cat([lab.flatten() for _, lab in pairs]).tolist())
    batch = m.data_preprocessor(to_batch(pairs), training=True)
    losses = m(**batch, mode='loss')
    assert set(losses) == {'loss_ce'} and torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    m.eval()
    with torch.no_grad():
        out = m.test_step(to_batch(pairs))
    assert out[0].pred_probs.data.shape == (3, 64, 64)
    assert torch.allclose(out[0].pred_probs.data.sum(0), torch.ones(64, 64), atol=1e-5)
    with pytest.raises(ValueError, match='binary'):
        tiny_fsgnet(num_classes=3, use_sigmoid=True)


def test_tiny_fsgnet_loss_gradients_and_predict():
    torch.manual_seed(0)
    m = tiny_fsgnet()
    batch = m.data_preprocessor(to_batch(make_pairs(2, 0)), training=True)
    losses = m(**batch, mode='loss')
    assert set(losses) == {'loss_bce', 'loss_dice'}
    sum(losses.values()).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing, missing
    m.eval()
    with torch.no_grad():
        out = m.test_step(to_batch([(i[..., :40, :56], l[:40, :56]) for i, l in make_pairs(2, 1)]))
    for s in out:
        assert s.pred_probs.data.shape == (2, 40, 56)
        assert torch.allclose(s.pred_probs.data.sum(0), torch.ones(40, 56), atol=1e-5)
        assert s.pred_sem_seg.data.shape == (1, 40, 56)
        assert torch.equal(s.pred_sem_seg.data[0], s.pred_probs.data.argmax(0))


@pytest.mark.parametrize('depth,channels', [(18, [64, 128, 256, 512]), (34, [64, 128, 256, 512]),
                                            (50, [256, 512, 1024, 2048])])
def test_fsgnet_resnet_depths(depth, channels):
    m = FSGNet(backbone=dict(depth=depth))
    assert [r.conv.in_channels for r in m.reduce] == channels == m.backbone.out_channels
    assert set(m.stsam) == {'3'} and set(m.dawim) == {'0', '1', '2', '3'}


def test_fsgnet_r18_parameter_count():
    assert sum(p.numel() for p in FSGNet().parameters()) == 12_647_978


def test_fsgnet_pretrained_rgb_weights_adapted_to_bands(tmp_path):
    from mmdet.models.backbones import ResNet
    src = ResNet(depth=18, base_channels=16, out_indices=(0, 1, 2, 3))
    src.init_weights()
    path = os.path.join(tmp_path, 'r18.pth')
    torch.save({'state_dict': {**src.state_dict(), 'fc.weight': torch.zeros(3, 3)}}, path)
    m = tiny_fsgnet(in_channels=5, pretrained=path)  # the backbone's init_weights loads after the default init
    w3, w5 = src.conv1.weight, m.backbone.conv1.weight
    assert w5.shape[1] == 5
    assert torch.allclose(w5[:, 4], w3[:, 1] * 3 / 5) and torch.allclose(w5[:, 0], w3[:, 0] * 3 / 5)
    assert torch.equal(m.backbone.layer3[0].conv1.weight, src.layer3[0].conv1.weight)
    with pytest.raises(CheckpointError, match='missing.pth'):
        tiny_fsgnet(pretrained=os.path.join(tmp_path, 'missing.pth'))


def test_tiny_config_builds():
    from mmengine.config import Config

    from geoperc.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/change/fsgnet/fsgnet_tiny_1xb8_2k_synth.py'))
    m = MODELS.build(cfg.model)
    assert isinstance(m, FSGNet) and m.backbone.conv1.in_channels == 4 == m.in_channels
    assert m.data_preprocessor.mean.tolist() == [128.0] * 4 and m.size_divisor == 32
