import os

import pytest
import torch
import torch.nn.functional as F

from geoperc.models.backbones import GeoResNet, TimmSwinV2
from geoperc.models.base import DENSE_PROBS
from geoperc.models.change import BaseChangeDetector, LENet
from geoperc.models.losses import CrossEntropyLoss
from geoperc.models.change.lenet import CSDW, FPN, FCNHead, SELayerIn2Out, SwinV2Pair
from tests.conftest import ROOT
from tests.models.change_data import make_pairs, to_batch

BN = dict(type='BN', requires_grad=True)
TINY_BACKBONE = dict(type=TimmSwinV2, model_name='swinv2_tiny_window8_256', embed_dim=16, depths=(1, 1, 1, 1),
                     num_heads=(1, 2, 4, 8), drop_path_rate=0.0)


def tiny_lenet(**kw):
    cfg = dict(in_channels=4, backbone=dict(TINY_BACKBONE), channels=32, decoder_heads=(1, 2, 4, 8),
               head_channels=32, img_size=64)
    cfg.update(kw)
    return LENet(**cfg)


# -- blocks -------------------------------------------------------------------------------------------
def test_csdw_weights_formula_and_range():
    torch.manual_seed(0)
    xa, xb = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
    w = CSDW.weights(xa, xb)
    s = 1 - torch.sigmoid((xa * xb).sum(1) / (xa.norm(dim=1) * xb.norm(dim=1)))  # (N, H, W)
    fa, fb = xa.flatten(2), xb.flatten(2)
    c = 1 - torch.sigmoid((fa * fb).sum(2) / (fa.norm(dim=2) * fb.norm(dim=2)))  # (N, C)
    assert torch.allclose(w, s[:, None] * c[:, :, None, None], atol=1e-6)
    lo, hi = (1 - torch.sigmoid(torch.tensor(1.0))) ** 2, (1 - torch.sigmoid(torch.tensor(-1.0))) ** 2
    assert w.min() >= lo - 1e-6 and w.max() <= hi + 1e-6  # about [0.072, 0.534]
    # identical dates: cos = 1 everywhere -> the smallest weight
    assert torch.allclose(CSDW.weights(xa, xa), torch.full_like(xa, float(lo)), atol=1e-5)


def test_csdw_shapes_gradients_and_separate_blocks():
    m = CSDW(8, BN)
    xa = torch.randn(2, 8, 6, 6, requires_grad=True)
    xb = torch.randn(2, 8, 6, 6, requires_grad=True)
    oa, ob = m(xa, xb)
    assert oa.shape == ob.shape == xa.shape
    (oa.sum() + ob.sum()).backward()
    assert xa.grad is not None and xb.grad is not None
    assert all(p.grad is not None for p in m.parameters())
    assert m.conv_a.conv1.weight.data_ptr() != m.conv_b.conv1.weight.data_ptr()
    assert sum(p.numel() for p in CSDW(128, BN).parameters()) == 590_848  # METHODS.md section 8


def test_se_layer_fpn_and_head():
    se = SELayerIn2Out(512, 256, BN)
    assert se.conv1.conv.out_channels == 32  # make_divisible(512 / 16, 8)
    assert sum(p.numel() for p in se.parameters()) == 164_896
    x = torch.randn(2, 64, 4, 4, requires_grad=True)
    y = SELayerIn2Out(64, 32, BN)(x)
    assert y.shape == (2, 32, 4, 4) and (y >= 0).all() and (y <= 1).all()  # HSigmoid output
    y.sum().backward()
    fpn = FPN([8, 16, 32, 64], 16)
    feats = [torch.randn(1, c, 32 // 2 ** i, 32 // 2 ** i) for i, c in enumerate([8, 16, 32, 64])]
    outs = fpn(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32 // 2 ** i, 32 // 2 ** i) for i in range(4)]
    head = FCNHead(64, 16, 2, in_index=1, norm_cfg=BN)
    maps = [torch.randn(2, 64, 4, 4), torch.randn(2, 64, 8, 8, requires_grad=True)]
    logits = head(maps)
    assert logits.shape == (2, 2, 8, 8)
    logits.sum().backward()
    assert maps[1].grad is not None


def test_swinv2_pair_follows_input_size():
    blk = SwinV2Pair(16, 2, (16, 16), window_size=8)
    assert [b.shift_size for b in blk.blocks] == [(0, 0), (4, 4)]
    x = torch.randn(2, 16, 16, 16, requires_grad=True)
    y = blk(x)
    assert y.shape == (2, 16, 16, 16)  # NHWC in, NCHW out
    y.sum().backward()
    assert x.grad is not None
    assert blk(torch.randn(1, 32, 24, 16)).shape == (1, 16, 32, 24)
    assert [b.shift_size for b in blk.blocks] == [(0, 0), (4, 4)]
    blk(torch.randn(1, 4, 4, 16))  # smaller than the window: one unshifted window
    assert [b.window_size for b in blk.blocks] == [(4, 4), (4, 4)]
    assert [b.shift_size for b in blk.blocks] == [(0, 0), (0, 0)]
    blk(torch.randn(1, 16, 16, 16))  # back: shift restored
    assert [b.shift_size for b in blk.blocks] == [(0, 0), (4, 4)]


# -- model --------------------------------------------------------------------------------------------
def test_full_lenet_parameter_count():
    """The official forward-pass parameter count (METHODS.md section 8), part by part."""
    m = LENet()
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert n(m.backbone) == 86_891_768
    assert [n(c) for c in m.csdw_enc] == [590_848, 590_848, 2_361_344, 9_441_280, 37_756_928]
    assert n(m.fpn_a) == n(m.fpn_b) == 2_852_864
    assert n(m.dec_a) == n(m.dec_b) == 6_389_880
    assert n(m.se_a) == n(m.se_b) == 659_584
    assert n(m.csdw_dec) == 7_084_032
    assert n(m.decode_head) == 1_180_674 and [n(h) for h in m.aux_heads] == [1_180_674] * 2
    assert n(m) == 168_063_726
    assert m.backbone.stage_channels == [128, 128, 256, 512, 1024]
    assert m.backbone.out_channels == [128, 256, 512, 1024] and m.backbone.strides == [4, 8, 16, 32]
    assert m.output_kind == DENSE_PROBS and m.num_dates == 2 and m.in_channels == 3 and m.size_divisor == 32


@pytest.mark.parametrize('size', [(64, 64), (96, 160)])
def test_tiny_lenet_shapes(size):
    torch.manual_seed(0)
    m = tiny_lenet()
    H, W = size
    x = torch.randn(2, 2, 4, H, W)
    maps = m.change_maps(x)
    assert [tuple(t.shape) for t in maps] == [(2, 64, H // 8, W // 8), (2, 64, H // 4, W // 4),
                                             (2, 64, H // 4, W // 4)]
    logits = m(x)  # mode='tensor'
    assert [tuple(t.shape) for t in logits] == [(2, 2, H // 4, W // 4), (2, 2, H // 8, W // 8),
                                               (2, 2, H // 4, W // 4)]


def test_tiny_lenet_resize_round_trip_is_consistent():
    torch.manual_seed(0)
    m = tiny_lenet().eval()
    x = torch.randn(1, 2, 4, 64, 64)
    with torch.no_grad():
        a = m(x)[0]
        m(torch.randn(1, 2, 4, 128, 96))
        b = m(x)[0]
    assert torch.allclose(a, b, atol=1e-5)


def test_tiny_lenet_layer_exchange():
    m = tiny_lenet()
    seen = {}
    m.fpn_a.register_forward_pre_hook(lambda mod, args: seen.__setitem__('a', args[0]))
    m.fpn_b.register_forward_pre_hook(lambda mod, args: seen.__setitem__('b', args[0]))
    x = torch.randn(2, 2, 4, 64, 64)
    m.eval()
    with torch.no_grad():
        fa, fb = m.encode(x[:, 0], x[:, 1])
        m.change_maps(x)
    for i in range(4):
        src_a, src_b = (fb, fa) if i in (0, 2) else (fa, fb)
        assert torch.equal(seen['a'][i], src_a[i]) and torch.equal(seen['b'][i], src_b[i])


def test_tiny_lenet_loss_and_gradients():
    torch.manual_seed(0)
    m = tiny_lenet()
    batch = m.data_preprocessor(to_batch(make_pairs(2, 0)), training=True)
    losses = m(**batch, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_ce_aux0', 'loss_ce_aux1'}
    sum(losses.values()).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing, missing  # no dead parameters (official: an unused Swin-T)


def test_tiny_lenet_aux_weights():
    torch.manual_seed(0)
    m = tiny_lenet().eval()  # eval: dropout off, so both calls see the same logits
    batch = m.data_preprocessor(to_batch(make_pairs(2, 0)), training=False)
    with torch.no_grad():
        losses = m(**batch, mode='loss')
        logits = m(batch['inputs'])
    target = BaseChangeDetector.stack_targets(batch['data_samples'])
    ce = lambda z: F.cross_entropy(F.interpolate(z, size=target.shape[-2:], mode='bilinear'), target)  # noqa
    assert losses['loss_ce'].item() == pytest.approx(ce(logits[0]).item(), rel=1e-5)
    assert losses['loss_ce_aux0'].item() == pytest.approx(0.3 * ce(logits[1]).item(), rel=1e-5)
    assert losses['loss_ce_aux1'].item() == pytest.approx(0.3 * ce(logits[2]).item(), rel=1e-5)


def test_tiny_lenet_predict_format_and_padding_crop():
    m = tiny_lenet()
    m.eval()
    pairs = [(img[..., :50, :60], lab[:50, :60]) for img, lab in make_pairs(2, 0)]
    with torch.no_grad():
        out = m.test_step(to_batch(pairs))  # preprocessor pads 50x60 -> 64x64
    assert len(out) == 2
    for s in out:
        assert s.pred_probs.data.shape == (2, 50, 60)
        assert torch.allclose(s.pred_probs.data.sum(0), torch.ones(50, 60), atol=1e-5)
        assert s.pred_sem_seg.data.shape == (1, 50, 60)
        assert set(s.pred_sem_seg.data.unique().tolist()) <= {0, 1}


def test_lenet_rejects_bad_inputs():
    m = tiny_lenet()
    with pytest.raises(ValueError, match='divisible by 32'):
        m(torch.randn(1, 2, 4, 48, 64))
    with pytest.raises(ValueError, match=r'\(B, 2, C, H, W\)'):
        m(torch.randn(1, 4, 64, 64))
    with pytest.raises(TypeError, match='StagedGeoBackbone'):  # CSDW acts between stages
        LENet(in_channels=4, backbone=dict(type=GeoResNet, depth=18), img_size=64)


def test_lenet_losses_in_the_shared_vocabulary():
    m = tiny_lenet(loss=dict(type=CrossEntropyLoss, loss_weight=0.5), aux_in_index=(1,),
                   loss_aux=[dict(type=CrossEntropyLoss, loss_weight=0.2)])
    assert m.loss_main.loss_weight == 0.5 and [f.loss_weight for f in m.loss_aux] == [0.2]
    batch = m.data_preprocessor(to_batch(make_pairs(2, 0)), training=True)
    assert set(m(**batch, mode='loss')) == {'loss_ce', 'loss_ce_aux0'}
    with pytest.raises(ValueError, match='auxiliary'):
        tiny_lenet(aux_in_index=(0, 1), loss_aux=[dict(type=CrossEntropyLoss)])


def test_swinv2_backbone_local_pretrained_with_band_adaptation(tmp_path):
    import timm
    kw = dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), img_size=64)
    src = timm.create_model('swinv2_tiny_window8_256', num_classes=0, **kw)
    path = os.path.join(tmp_path, 'weights.pth')
    torch.save(src.state_dict(), path)
    enc = TimmSwinV2(model_name='swinv2_tiny_window8_256', pretrained=path, in_channels=3, **kw)
    assert torch.equal(enc.model.layers[2].blocks[0].attn.qkv.weight, src.layers[2].blocks[0].attn.qkv.weight)
    enc5 = TimmSwinV2(model_name='swinv2_tiny_window8_256', pretrained=path, in_channels=5, **kw)
    w3, w5 = src.patch_embed.proj.weight, enc5.model.patch_embed.proj.weight
    assert w5.shape[1] == 5
    assert torch.allclose(w5[:, 3], w3[:, 0] * 3 / 5) and torch.allclose(w5[:, 1], w3[:, 1] * 3 / 5)


def test_tiny_config_builds():
    from mmengine.config import Config

    from geoperc.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/change/lenet/lenet_tiny_1xb8_2k_synth.py'))
    m = MODELS.build(cfg.model)
    assert isinstance(m, LENet) and m.backbone.in_channels == 4 == m.in_channels
    assert m.data_preprocessor.mean.tolist() == [128.0] * 4 and m.size_divisor == 32
