"""The OmniFusion configs carry the official schedule and data settings."""
import glob
import os.path as osp

import pytest
import torch

from tests.conftest import ROOT

FULL = sorted(glob.glob(osp.join(ROOT, 'configs', 'depth', 'omnifusion', 'omnifusion_r34_*.py')))


@pytest.mark.parametrize('path', FULL, ids=osp.basename)
def test_schedule_equals_official_warm_restarts(path):
    from mmengine.config import Config
    from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts
    cfg = Config.fromfile(path)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.lr, opt.weight_decay, tuple(opt.betas)) == (1e-4, 0.01, (0.9, 0.999))
    assert cfg.train_dataloader.batch_size == 8 and cfg.val_dataloader.batch_size == 2
    sched = dict(cfg.param_scheduler[0])
    cls = sched.pop('type')
    assert sched.pop('convert_to_iter_based') is False  # stepped per epoch, as the official scheduler
    T0, epochs = (5, 100) if '1pass' in path else (2, 80)
    assert cfg.train_cfg.max_epochs == epochs and cfg.model.iters == (1 if '1pass' in path else 2)
    o1 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    o2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    ours, official = cls(o1, **sched), CosineAnnealingWarmRestarts(o2, T_0=T0, T_mult=2, eta_min=1e-6)
    for _ in range(epochs):
        assert o1.param_groups[0]['lr'] == pytest.approx(o2.param_groups[0]['lr'], rel=1e-9, abs=1e-15)
        o1.step(), o2.step()
        ours.step(), official.step()
    ds = cfg.train_dataloader.dataset
    assert ds.channel_order == 'bgr' and ds.min_depth == 0.3
    assert ds.max_depth == (10.0 if 'matterport' in path else 8.0)
    assert cfg.model.data_preprocessor.std == [255.0] * 3 and cfg.model.data_preprocessor.mean == [0.0] * 3
    assert cfg.model.patch_size == (128 if 'p128' in path else 256)
