"""Checkpoints saved before the change models moved onto geoperc/models/base.py still load.

``tests/models/fixtures/*.json`` hold the state-dict entries (key, shape, dtype, in order) of the tiny and
full builds as recorded from revision 8a0be633 by ``tests/models/fixtures/record_state_dicts.py``. Today's
models, built from the same configs, must have exactly those entries (no key moved, so no mapping shim is
needed), and a checkpoint with exactly those entries must load strictly and be what the model then holds.
"""
import json
import os

import pytest
import torch

from tests.conftest import ROOT

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def _fixture(name):
    with open(os.path.join(FIXTURES, f'{name}.json')) as f:
        return json.load(f)


def _build(config):
    from mmengine.config import Config

    from geoperc.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(os.path.join(ROOT, config)).model)


@pytest.mark.parametrize('name,params', [('fsgnet_tiny', None), ('fsgnet_r18', 12_647_978),
                                         ('lenet_tiny', None), ('lenet_swinv2b', 168_063_726)])
def test_state_dict_entries_unchanged(name, params):
    old = _fixture(name)
    model = _build(old['config'])
    new = [[k, list(v.shape), str(v.dtype).replace('torch.', '')] for k, v in model.state_dict().items()]
    assert new == old['state_dict']
    assert sum(p.numel() for p in model.parameters()) == old['params'] == (params or old['params'])


@pytest.mark.parametrize('name', ['fsgnet_tiny', 'lenet_tiny'])
def test_legacy_checkpoint_loads_strictly(name, tmp_path):
    """A runner checkpoint (``{'meta', 'state_dict'}``) with the old entries loads with mmengine's
    ``load_checkpoint(strict=True)``, and predicting uses the loaded weights."""
    from mmengine.runner import load_checkpoint
    old = _fixture(name)
    g = torch.Generator().manual_seed(1)
    legacy = {}
    for key, shape, dtype in old['state_dict']:
        dt = getattr(torch, dtype)
        legacy[key] = (torch.randint(0, 5, shape, generator=g).to(dt) if not dt.is_floating_point
                       else torch.rand(shape, generator=g, dtype=dt) * 0.1 + (1.0 if 'running_var' in key else 0.0))
    path = os.path.join(tmp_path, 'legacy.pth')
    torch.save(dict(meta=dict(revision='8a0be633'), state_dict=legacy), path)
    model = _build(old['config']).eval()
    load_checkpoint(model, path, map_location='cpu', strict=True)
    sd = model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in legacy.items())
    x = torch.rand(1, 2, model.in_channels, 64, 64)
    with torch.no_grad():
        a = model.predict_dense(x)
        model.load_state_dict({k: v * 0.5 if v.is_floating_point() else v for k, v in legacy.items()})
        b = model.predict_dense(x)
    assert torch.isfinite(a).all() and not torch.allclose(a, b)  # the output depends on the loaded weights
