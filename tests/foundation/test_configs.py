"""Contract: every config under configs/ builds (model, optimizer, schedules, evaluator types) and its
model runs ``loss`` (one optimizer step) and ``predict`` on generated inputs. Grows with configs/."""
import glob
import os

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def _ids(p):
    return os.path.relpath(p, os.path.join(ROOT, 'configs'))


def _sample_inputs(model, cfg, batch=2, seed=0):
    from mmengine.structures import PixelData

    from geoperc.models.change import BaseChangeDetector
    from geoperc.structures import GeoDataSample
    pre = model.data_preprocessor
    bands = pre.mean.numel() if getattr(pre, '_normalize', False) else 3
    h, w = cfg.get('contract_input_size', (64, 64))
    rng = np.random.default_rng(seed)
    if isinstance(model, BaseChangeDetector):
        from geoperc.testing import synth_change_pair
        inputs, samples = [], []
        for _ in range(batch):
            a, b, lab, _ = synth_change_pair(rng, h, w, bands)
            inputs.append(torch.from_numpy(np.stack([a, b])))
            s = GeoDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
            s.gt_sem_seg = PixelData(data=torch.from_numpy(lab[None].astype(np.int64)))
            samples.append(s)
        return dict(inputs=inputs, data_samples=samples)
    raise NotImplementedError(f'no contract inputs for {type(model).__name__}')


@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_config_builds_and_runs(path, tmp_path):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from geoperc.registry import MODELS
    cfg = Config.fromfile(path)
    for key in ('model', 'train_dataloader', 'train_cfg', 'optim_wrapper', 'default_scope'):
        assert key in cfg, f'{_ids(path)} lacks {key}'
    if len(CONFIGS) and 'val_evaluator' in cfg and cfg.get('val_cfg') is not None:
        ev = cfg.val_evaluator
        assert isinstance(ev.get('type') if isinstance(ev, dict) else ev[0]['type'], type)
    assert isinstance(cfg.train_dataloader.dataset.type, type), 'dataset type must be a class'
    # checkpoints must load with weights_only=True (default_runtime's SafeCheckpointHook)
    from geoperc.engine.hooks import SafeCheckpointHook
    assert any(h.get('type') in (SafeCheckpointHook, 'SafeCheckpointHook') for h in cfg.get('custom_hooks', [])), \
        f'{_ids(path)}: no SafeCheckpointHook (inherit configs/_base_/default_runtime.py)'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = _sample_inputs(model, cfg)
    model.train()
    log = model.train_step(batch, optim)
    assert all(torch.isfinite(v).all() for v in log.values()), log
    model.eval()
    with torch.no_grad():
        out = model.test_step(_sample_inputs(model, cfg, seed=1))
    assert len(out) == 2
    for s in out:
        if 'seg_logits' in s:
            p = s.seg_logits.data
            assert p.shape[0] >= 2 and torch.allclose(p.sum(0), torch.ones_like(p[0]), atol=1e-4)
            assert s.pred_sem_seg.data.shape[-2:] == p.shape[-2:]
