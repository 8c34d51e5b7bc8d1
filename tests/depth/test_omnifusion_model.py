"""OmniFusion: the official build's keys/shapes/parameter counts, conversion of official checkpoints,
output shapes, refinement, token width and the merge-weight cache."""
import os

import pytest
import torch

from geoperc.models.depth import OmniFusion
from geoperc.models.depth.convert_omnifusion import convert, official_key_shapes

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'official')
# the official parameter counts (tests/fixtures/official/README.md)
OFFICIAL_PARAMS = {128: 42_479_042, 256: 42_466_730}


def tiny(**kw):
    cfg = dict(patch_size=64, base_channels=8, encoder_depth=18, num_layers=1, num_heads=2)
    cfg.update(kw)
    torch.manual_seed(0)
    return OmniFusion(**cfg)


def _official_random_state(patch, prefix='module.'):
    path = os.path.join(FIXTURES, f'omnifusion_p{patch}.tsv')
    assert os.path.isfile(path), f'{path}: the official key list must ship with the tests'
    g = torch.Generator().manual_seed(patch)
    state = {}
    for k, (shape, dtype) in official_key_shapes(path).items():
        state[prefix + k] = torch.randint(0, 100, shape) if dtype == 'int64' else torch.randn(shape, generator=g)
    return state


@pytest.mark.parametrize('patch', [128, 256])
@pytest.mark.parametrize('prefix', ['module.', ''])
def test_official_checkpoint_converts_and_loads_strict(patch, prefix):
    official = _official_random_state(patch, prefix)
    model = OmniFusion(patch_size=patch)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[patch]
    new, report = convert(official)
    assert report['unmatched'] == [] and report['converted'] == 375
    assert any(f'patch_size={patch}' in n for n in report['notes'])
    model.load_state_dict(new, strict=True)
    # values are carried over (5-D official kernels squeezed to 2-D)
    torch.testing.assert_close(model.conv1.weight, official[prefix + 'conv1.weight'][..., 0])
    torch.testing.assert_close(model.transformer.pos_emb, official[prefix + 'transformer.pos_emb'])
    torch.testing.assert_close(model.down1.weight, official[prefix + 'down1.weight'][..., 0])


def test_converter_reports_what_it_cannot_map():
    state = _official_random_state(128)
    state['module.extra_head.weight'] = torch.zeros(3)
    state['module.layer1.0.conv1.weight'] = torch.zeros(64, 64, 3, 3, 2)  # not a (k, k, 1) kernel
    new, report = convert(state)
    assert sorted(report['unmatched']) == ['module.extra_head.weight', 'module.layer1.0.conv1.weight']
    assert 'layer1.0.conv1.weight' not in new


def test_token_width_follows_patch_size():
    assert OmniFusion(patch_size=128).down1.out_channels == 32
    assert OmniFusion(patch_size=256).down1.out_channels == 8
    with pytest.raises(ValueError, match='multiple of 32'):
        OmniFusion(patch_size=100)


@pytest.mark.parametrize('merge', ['omnifusion', 'exact'])
def test_output_shapes_batch_and_passes(merge):
    model = tiny(merge=merge).eval()
    x = torch.rand(2, 3, 32, 64) * 255
    with torch.no_grad():
        preds = model(x, mode='tensor')
        dense = model.predict_dense(x)
    assert len(preds) == 2 and all(p.shape == (2, 1, 32, 64) for p in preds)
    assert dense.shape == (2, 1, 32, 64) and (dense >= 0).all() and torch.isfinite(dense).all()
    torch.testing.assert_close(dense, preds[-1])
    # samples of a batch are independent in eval mode
    with torch.no_grad():
        single = model.predict_dense(x[1:])
    torch.testing.assert_close(single, dense[1:], atol=1e-5, rtol=1e-4)


def test_refinement_uses_the_previous_depth(monkeypatch):
    model = tiny().eval()
    x = torch.rand(1, 3, 32, 64) * 255
    seen = []
    orig = model.mlp_points2.forward
    monkeypatch.setattr(model.mlp_points2, 'forward', lambda t: (seen.append(t.clone()), orig(t))[1])
    with torch.no_grad():
        coarse, fine = model.forward_passes(x, 2)
    assert len(seen) == 1
    # the refinement's geometry input is the unit ray scaled by the coarse depth re-sampled to the patches
    q = (model.patch_size[0] // 4, model.patch_size[1] // 4)
    depth_patches = model.to_patches(coarse, q)
    ray_len = seen[0].norm(dim=1, keepdim=True)
    torch.testing.assert_close(ray_len, depth_patches, atol=1e-5, rtol=1e-4)
    # a different coarse depth changes the refined output
    with torch.no_grad():
        model.pred.bias.add_(1.0)
        coarse2, fine2 = model.forward_passes(x, 2)
    assert not torch.allclose(fine, fine2)
    # gradients flow through the previous pass unless detached (official: not detached)
    model.train()
    out = model.forward_passes(x, 2)
    assert out[0].requires_grad and out[1].grad_fn is not None


def test_confidence_merge_is_weighted_mean():
    model = tiny(confidence=True).eval()
    d = torch.rand(18, 1, 64, 64) + 1
    conf = torch.rand(18, 1, 64, 64)
    merged = model.to_erp(torch.cat([d * conf, conf], 1), (32, 64))
    plain = model.to_erp(d, (32, 64))
    # constant depth per patch: the weighted mean stays inside the range of the patches
    ratio = merged[:, :1] / merged[:, 1:]
    assert (ratio >= d.min() - 1e-5).all() and (ratio <= d.max() + 1e-5).all()
    assert not torch.allclose(ratio, plain)


def test_merge_cache_is_keyed_by_every_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tiny(merge_cache_dir=str(tmp_path / 'work'))
    maps = torch.rand(18, 1, 64, 64)
    model.to_erp(maps, (32, 64))
    model.to_erp(maps, (32, 64))
    assert model.merge_cache.computed == 1
    model.to_erp(maps, (16, 32))                          # ERP size
    model.to_erp(torch.rand(18, 1, 32, 32), (32, 64))     # patch size
    assert model.merge_cache.computed == 3
    files = sorted(os.listdir(tmp_path / 'work'))
    assert len(files) == 3 and all(f.startswith('omnifusion_merge_') for f in files)
    assert sorted(os.listdir(tmp_path)) == ['work']       # nothing in the current directory
    # a fresh model with the same directory reads the files instead of recomputing
    again = tiny(merge_cache_dir=str(tmp_path / 'work'))
    torch.testing.assert_close(again.to_erp(maps, (32, 64)), model.to_erp(maps, (32, 64)))
    assert again.merge_cache.computed == 0
    # FoV, its convention, the layout and the merge convention each give other weights
    from geoperc.models.depth.tangent import merge_key
    base = merge_key(4, 64, (32, 64), 80)
    variants = [merge_key(4, 64, (32, 64), 70), merge_key(4, 64, (32, 64), 80, 'exact'),
                merge_key(6, 64, (32, 64), 80), merge_key(4, 64, (32, 64), 80, merge='exact')]
    assert len({base, *variants}) == 5
    outs = [tiny(**kw).to_erp(maps if kw.get('nrows', 4) == 4 else torch.rand(46, 1, 64, 64), (32, 64))
            for kw in (dict(), dict(fov=70), dict(fov_convention='exact'), dict(merge='exact'))]
    for o in outs[1:]:
        assert not torch.allclose(o, outs[0])
    # memory-only cache never writes
    mem = tiny()
    mem.to_erp(maps, (32, 64))
    assert sorted(os.listdir(tmp_path)) == ['work']


def test_convert_checkpoint_file(tmp_path):
    from geoperc.models.convert import convert_file, main
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'out' / 'converted.pth')
    torch.save(_official_random_state(128), src)  # DataParallel keys, as released
    report = convert_file('omnifusion', src, dst)
    assert report['unmatched'] == []
    ckpt = torch.load(dst, weights_only=True)
    OmniFusion(patch_size=128).load_state_dict(ckpt['state_dict'], strict=True)
    assert main(['omnifusion', src, dst]) == 0


def test_predict_fills_pred_depth_and_crops_to_each_sample():
    from mmengine.structures import PixelData

    from geoperc.structures import GeoDataSample
    model = tiny().eval()
    samples = []
    for h, w in ((32, 64), (24, 64)):
        s = GeoDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_depth = PixelData(data=torch.ones(1, h, w) * 2)
        s.depth_valid = PixelData(data=torch.ones(1, h, w, dtype=torch.bool))
        samples.append(s)
    batch = dict(inputs=[torch.randint(0, 255, (3, 32, 64), dtype=torch.uint8),
                         torch.randint(0, 255, (3, 24, 64), dtype=torch.uint8)], data_samples=samples)
    out = model.test_step(batch)
    assert out[0].pred_depth.data.shape == (1, 32, 64) and out[1].pred_depth.data.shape == (1, 24, 64)
    assert out[1].depth_valid.data.shape == (1, 24, 64) and out[1].gt_depth.data.shape == (1, 24, 64)
    # training: loss keys, one summed loss, per-pass values logged
    model.train()
    for s, (h, w) in zip(samples, ((32, 64), (24, 64))):
        s.set_metainfo(dict(img_shape=(h, w)))
    batch['data_samples'] = [s for s in samples]
    losses = model.loss(*model.data_preprocessor(batch, True).values())
    assert set(losses) == {'loss_berhu', 'berhu_pass0', 'berhu_pass1'}
    torch.testing.assert_close(losses['loss_berhu'].detach(), (losses['berhu_pass0'] + losses['berhu_pass1']) / 2)


def test_backbone_pretrained_loads_torchvision_resnet(tmp_path):
    import torchvision
    tv = torchvision.models.resnet34(weights=None)
    path = str(tmp_path / 'resnet34.pth')
    torch.save(tv.state_dict(), path)
    model = OmniFusion(patch_size=128, backbone_pretrained=path)
    model.init_weights()
    torch.testing.assert_close(model.conv1.weight, tv.conv1.weight)
    torch.testing.assert_close(model.layer4[2].bn2.running_var, tv.layer4[2].bn2.running_var)
    torch.testing.assert_close(model.layer3[5].conv2.weight, tv.layer3[5].conv2.weight)
