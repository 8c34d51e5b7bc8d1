"""The model contract, for every config under configs/ and every registered model with a tiny default.

Each config builds (model, optimizer, evaluator and dataset types as classes, SafeCheckpointHook, the
runtime's default hooks, one top-level data_root used by train, val and test, at most two base levels);
its model (with the config's ``contract_tiny`` merged in) takes one optimizer step on a batch generated
from what it declares (``geoperc.testing.contract``): finite ``loss_*`` keys, a gradient for every
trainable parameter, and ``predict`` returns the ``pred_*`` fields of its ``output_kind`` with the declared
shapes, dtypes and value ranges at each sample's own size. Nothing here names a family: a config of a new
kind is covered when it is added.
"""
import ast
import copy
import functools
import glob
import inspect
import os

import pytest
import torch

from tests.conftest import ROOT

CONFIG_DIR = os.path.join(ROOT, 'configs')
CONFIGS = sorted(p for p in glob.glob(os.path.join(CONFIG_DIR, '**', '*.py'), recursive=True)
                 if '_base_' not in os.path.relpath(p, CONFIG_DIR))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _ids(p):
    return os.path.relpath(p, CONFIG_DIR)


@functools.lru_cache(maxsize=None)
def _cfg(path):
    from mmengine.config import Config
    return Config.fromfile(path)


def _registered_models():
    """Concrete BaseGeoModel classes registered in geoperc's MODELS (every family module imported)."""
    from geoperc.models.base import BaseGeoModel
    from geoperc.registry import MODELS
    MODELS.import_from_location()
    return sorted({c for c in MODELS.module_dict.values()
                   if inspect.isclass(c) and issubclass(c, BaseGeoModel) and not inspect.isabstract(c)},
                  key=lambda c: f'{c.__module__}.{c.__qualname__}')


def _model_type(cfg):
    from geoperc.registry import MODELS
    t = cfg.model['type']
    return MODELS.get(t) if isinstance(t, str) else t


TINY = [c for c in _registered_models() if getattr(c, 'contract_tiny', None) is not None]


@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_config_contract(path):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper

    from geoperc.registry import MODELS
    from geoperc.testing.contract import run_contract, tiny_model_cfg
    cfg, who = _cfg(path), _ids(path)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(tiny_model_cfg(cfg.model, cfg.get('contract_tiny'))))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    run_contract(model, optim, allow_unused=bool(cfg.get('find_unused_parameters', False)), who=who)


@pytest.mark.parametrize('cls', TINY, ids=lambda c: c.__name__)
def test_registered_model_contract(cls):
    from mmengine.optim import build_optim_wrapper

    from geoperc.testing.contract import run_contract
    torch.manual_seed(0)
    model = cls(**copy.deepcopy(cls.contract_tiny))
    optim = build_optim_wrapper(model, dict(optimizer=dict(type=torch.optim.SGD, lr=0.01)))
    run_contract(model, optim, allow_unused=False, who=cls.__name__)


def test_every_model_is_covered():
    """A concrete model of geoperc.models is used by a config or declares ``contract_tiny``."""
    used = {_model_type(_cfg(p)) for p in CONFIGS}
    missing = [f'{c.__module__}.{c.__name__}' for c in _registered_models()
               if c.__module__.startswith('geoperc.models') and c not in used
               and getattr(c, 'contract_tiny', None) is None]
    assert not missing, f'not covered by the contract test (add a config or contract_tiny): {missing}'


# -- what every config carries -----------------------------------------------------------------------
@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_config_structure(path):
    from geoperc.engine.hooks import SafeCheckpointHook
    cfg, who = _cfg(path), _ids(path)
    for key in ('model', 'train_dataloader', 'train_cfg', 'optim_wrapper', 'default_scope'):
        assert key in cfg, f'{who} lacks {key}'
    if 'val_evaluator' in cfg and cfg.get('val_cfg') is not None:
        ev = cfg.val_evaluator
        assert isinstance(ev.get('type') if isinstance(ev, dict) else ev[0]['type'], type)
    assert isinstance(_model_type(cfg), type), f'{who}: model type must be a class'
    for name in LOADERS:
        if cfg.get(name) is not None:
            assert isinstance(cfg[name].dataset.type, type), f'{who}: {name}.dataset type must be a class'
    # checkpoints must load with weights_only=True (default_runtime's SafeCheckpointHook)
    assert any(h.get('type') in (SafeCheckpointHook, 'SafeCheckpointHook') for h in cfg.get('custom_hooks', [])), \
        f'{who}: no SafeCheckpointHook (inherit configs/_base_/default_runtime.py)'
    # the runtime's hooks are updated, never replaced (replacing drops sampler_seed, ...)
    runtime = _cfg(os.path.join(CONFIG_DIR, '_base_', 'default_runtime.py'))
    lost = set(runtime.default_hooks) - set(cfg.get('default_hooks', {}))
    assert not lost, f'{who}: default_hooks lost {sorted(lost)}: update default_runtime\'s hooks, do not replace them'


def _datasets(ds):
    """A dataset config and the ones it wraps (ConcatDataset, RepeatDataset, ...)."""
    yield ds
    for key in ('dataset', 'datasets'):
        sub = ds.get(key) if isinstance(ds, dict) else None
        for s in ([sub] if isinstance(sub, dict) else sub or []):
            yield from _datasets(s)


@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_one_data_root(path):
    """Every dataset of train, val and test reads the config's top-level data_root (or a folder below
    it): ``--cfg-options data_root=PATH`` moves them all."""
    from geoperc.runner import _under
    cfg, who = _cfg(path), _ids(path)
    roots = {name: [d.get('data_root') for d in _datasets(cfg[name].dataset)]
             for name in LOADERS if cfg.get(name) is not None}
    assert 'data_root' in cfg, f'{who}: no top-level data_root (dataset roots: {roots})'
    for name, rs in roots.items():
        assert any(_under(r, cfg.data_root) is not None for r in rs), \
            f'{who}: {name} does not read data_root={cfg.data_root!r} ({rs})'


def _bases(path):
    """Files a pure-Python config imports inside ``with read_base():``."""
    tree = ast.parse(open(path).read(), path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(isinstance(i.context_expr, ast.Call)
                                              and getattr(i.context_expr.func, 'id', '') == 'read_base'
                                              for i in node.items):
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    base = os.path.dirname(path)
                    for _ in range(imp.level - 1):
                        base = os.path.dirname(base)
                    out.append(os.path.normpath(os.path.join(base, *imp.module.split('.')) + '.py'))
    return out


def _depth(path):
    return 1 + max((_depth(b) for b in _bases(path)), default=0) if _bases(path) else 0


def _closure(path):
    seen = []
    for b in _bases(path):
        seen += [b] + _closure(b)
    return seen


@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_base_levels(path):
    """At most two levels of bases, default_runtime.py among them."""
    who = _ids(path)
    assert _depth(path) <= 2, f'{who}: {_depth(path)} levels of _base_ imports (at most 2)'
    assert os.path.join(CONFIG_DIR, '_base_', 'default_runtime.py') in _closure(path), \
        f'{who} does not inherit configs/_base_/default_runtime.py'
