"""The change configs: the recipes they document, band statistics from the data, the tiny variants.
(Base levels, the runtime and one optimiser step of every config: tests/foundation/test_configs.py.)"""
import glob
import os

import pytest

from tests.conftest import ROOT

CHANGE = os.path.join(ROOT, 'configs', 'change')
LEAVES = sorted(p for p in glob.glob(os.path.join(CHANGE, '**', '*.py'), recursive=True)
                if not os.path.basename(p).startswith('_base_'))


def _load(path):
    from mmengine.config import Config
    return Config.fromfile(path)


def test_leaves_found():
    names = {os.path.basename(p) for p in LEAVES}
    assert {'fsgnet_r18_1xb32_100e_levircd.py', 'lenet_swinv2b_2xb12_20k_clcd.py',
            'fsgnet_tiny_1xb8_2k_synth.py', 'lenet_tiny_1xb8_2k_synth.py'} <= names and len(names) == 8


@pytest.mark.parametrize('path', LEAVES, ids=os.path.basename)
def test_leaf_hooks_and_band_statistics(path):
    cfg = _load(path)
    assert set(cfg.default_hooks) >= {'timer', 'logger', 'param_scheduler', 'checkpoint', 'sampler_seed'}
    pre = cfg.model.data_preprocessor
    assert pre.pad_size_divisor == 32
    assert len(pre.mean) == len(pre.std) == cfg.model.in_channels  # statistics of the dataset base
    assert pre.mean == cfg.data_preprocessor.mean and pre.std == cfg.data_preprocessor.std
    assert not {'backbone_pretrained', 'loss_decode'} & set(cfg.model)
    assert 'in_channels' not in cfg.model.backbone  # given once, as model.in_channels


def test_fsgnet_recipe():
    for ds in ('levircd', 'cdd', 'gzcd'):
        cfg = _load(os.path.join(CHANGE, 'fsgnet', f'fsgnet_r18_1xb32_100e_{ds}.py'))
        assert cfg.train_dataloader.batch_size == 32 and cfg.train_cfg.max_epochs == 100
        assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.optim_wrapper.optimizer.weight_decay == 1e-3
        assert cfg.default_hooks.checkpoint.save_best == 'change/change_f1'
        assert cfg.default_hooks.checkpoint.by_epoch and cfg.model.backbone.depth == 18


@pytest.mark.parametrize('ds,batch,lr,iters,val', [('2xb16_40k_levircd', 16, 3e-4, 40000, 1000),
                                                   ('2xb12_20k_clcd', 12, 3e-5, 20000, 200),
                                                   ('2xb16_80k_s2looking', 16, 3e-4, 80000, 2000)])
def test_lenet_official_recipes(ds, batch, lr, iters, val):
    cfg = _load(os.path.join(CHANGE, 'lenet', f'lenet_swinv2b_{ds}.py'))
    assert cfg.train_dataloader.batch_size == batch and cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.train_cfg.max_iters == iters and cfg.train_cfg.val_interval == val
    warm, poly = cfg.param_scheduler
    assert (warm.start_factor, warm.end) == (1e-6, 1500) and (poly.begin, poly.end) == (1500, 2 * iters)
    assert cfg.default_hooks.checkpoint.interval == val
    assert cfg.default_hooks.checkpoint.save_best == 'change/change_iou'
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['norm'].decay_mult == 0.0


@pytest.mark.parametrize('name', ['fsgnet/fsgnet_tiny_1xb8_2k_synth.py', 'lenet/lenet_tiny_1xb8_2k_synth.py'])
def test_tiny_schedule(name):
    cfg = _load(os.path.join(CHANGE, name))
    assert cfg.train_cfg.max_iters == 2000 and cfg.train_cfg.val_interval == 500
    assert cfg.optim_wrapper.optimizer.lr == 2e-3
    warm, poly = cfg.param_scheduler
    assert (warm.start_factor, warm.end, poly.begin, poly.end) == (1e-3, 50, 50, 4000)
    assert cfg.model.norm_cfg.type == 'BN' and cfg.model.in_channels == 4
    for key, value in cfg.contract_tiny.items():  # the tiny config is the model base's tiny variant
        if key == 'backbone':
            assert all(cfg.model.backbone[k] == v for k, v in value.items())
        else:
            assert cfg.model[key] == value, key
