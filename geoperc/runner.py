"""Train / test on MMEngine's ``Runner`` (mmdet-style, thin): what ``geoperc train|test``,
``tools/train.py`` and ``tools/test.py`` run once :mod:`geoperc.cli.train` / :mod:`geoperc.cli.test` have
parsed their arguments, and what the demos call directly.

User input is checked where it is read, before any work, and reported as :mod:`geoperc.errors`
(one line, exit 2 under :func:`geoperc.cli.common.run`):

* a missing config -> :class:`~geoperc.errors.SettingsError`; a missing checkpoint ->
  :class:`~geoperc.errors.CheckpointError`;
* ``--cfg-options``: every key must name a setting of the config, or an argument of the class its
  ``type`` names, else :class:`~geoperc.errors.SettingsError` with the closest valid name (difflib):
  ``trian_cfg.max_iters=2`` -> "did you mean train_cfg?";
* ``data_root`` is the one setting that moves a dataset: ``--cfg-options data_root=PATH`` replaces the
  config's ``data_root`` in every train / val / test dataset that uses it (explicit
  ``*_dataloader.dataset.data_root=`` options still win);
* a dataset ``data_root`` that does not exist -> :class:`~geoperc.errors.DatasetError` naming the config,
  the loader and the one setting that fixes it.
"""
import difflib
import inspect
import os
import os.path as osp
import sys
from typing import Dict, Iterable, List, Optional

from mmengine.config import Config

from geoperc.errors import CheckpointError, DatasetError, SettingsError

__all__ = ['load_config', 'check_cfg_options', 'apply_data_root', 'check_data_roots', 'train', 'test']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


# -- --cfg-options ------------------------------------------------------------------------------------
def _runner_keys() -> List[str]:
    """Top-level keys MMEngine's Runner reads from a config."""
    from mmengine.runner import Runner
    keys = [n for n in inspect.signature(Runner.__init__).parameters if n not in ('self', 'cfg')]
    return keys + ['launcher', 'runner_type', 'model_wrapper_cfg', 'find_unused_parameters', 'compile',
                   'auto_scale_lr', 'data_root']


def _accepted_args(obj) -> Optional[List[str]]:
    """Keyword arguments ``obj`` (a class or function) accepts; None when it takes ``**kwargs`` all the way
    up (cannot be judged)."""
    names: List[str] = []
    targets = [c.__init__ for c in inspect.getmro(obj) if '__init__' in vars(c)] if inspect.isclass(obj) else [obj]
    for fn in targets:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        names += [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != 'self']
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names  # this level does not pass further keywords on
    return None


def _loader_args() -> List[str]:
    from torch.utils.data import DataLoader
    return (_accepted_args(DataLoader) or []) + ['sampler', 'batch_sampler', 'collate_fn', 'dataset']


def _unknown(key: str, where: str, choices: Iterable[str], source: str) -> SettingsError:
    choices = sorted(set(str(c) for c in choices))
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    hint = f'; did you mean {close[0]!r}?' if close else f' (valid: {", ".join(choices[:12])}' \
                                                            f'{", ..." if len(choices) > 12 else ""})'
    return SettingsError(f'{source}: --cfg-options {where}: unknown setting {key!r}{hint}')


def check_cfg_options(cfg: Config, options: Dict[str, object], source: str = 'config') -> None:
    """Refuse ``--cfg-options`` keys that name nothing (see the module docstring).

    A key is valid when each part names an existing setting; a new part is valid when its dict has a
    ``type`` class that accepts it as an argument, when it is a top-level key MMEngine's Runner reads, or
    when it is a loader argument (``train_dataloader.pin_memory``). In a free-form dict (``default_hooks``,
    ``custom_keys``, a class taking ``**kwargs``) a new key is refused only when it is one edit away from
    an existing one (a typo). Raises :class:`SettingsError`.
    """
    for full in options:
        parts = full.split('.')
        node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        for depth, key in enumerate(parts):
            where = '.'.join(parts[:depth + 1])
            if isinstance(node, (list, tuple)):
                if not key.isdigit() or int(key) >= len(node):
                    raise SettingsError(f'{source}: --cfg-options {where}: {".".join(parts[:depth]) or "it"} '
                                        f'is a list of {len(node)}; give an index 0..{len(node) - 1}')
                node = node[int(key)]
                continue
            if not isinstance(node, dict):
                raise SettingsError(f'{source}: --cfg-options {where}: {".".join(parts[:depth])} is a '
                                    f'{type(node).__name__} ({node!r}), it has no setting {key!r}')
            if key in node:
                node = node[key]
                continue
            if key == 'type' or key.startswith('_'):
                break
            existing = list(node.keys())
            if depth == 0:
                accepted = _runner_keys()
                if key in accepted:
                    break
                raise _unknown(key, where, existing + accepted, source)
            typ = node.get('type')
            accepted = _accepted_args(typ) if callable(typ) else None
            if accepted is None and parts[0] in LOADERS and depth == 1:
                accepted = _loader_args()
            if accepted is not None:
                if key in accepted:
                    break
                raise _unknown(key, where, existing + accepted, source)
            if difflib.get_close_matches(key, existing, n=1, cutoff=0.8):
                raise _unknown(key, where, existing, source)
            break  # a new entry of a free-form dict


# -- data_root ----------------------------------------------------------------------------------------
def _datasets(ds) -> Iterable[dict]:
    """A dataset config and the ones it wraps (ConcatDataset ``datasets``, RepeatDataset ``dataset``)."""
    if not isinstance(ds, dict):
        return
    yield ds
    for key in ('dataset', 'datasets'):
        sub = ds.get(key)
        for s in ([sub] if isinstance(sub, dict) else sub if isinstance(sub, (list, tuple)) else []):
            yield from _datasets(s)


def _under(path, root) -> Optional[str]:
    """``path`` relative to ``root`` ('' for root itself) when it is ``root`` or below it, else None."""
    if not isinstance(path, str) or not isinstance(root, str) or not root:
        return None
    p, r = osp.normpath(path), osp.normpath(root)
    if p == r:
        return ''
    return osp.relpath(p, r) if p.startswith(r.rstrip(os.sep) + os.sep) else None


def apply_data_root(cfg: Config, old: Optional[str]) -> None:
    """After ``data_root`` changed from ``old``: every dataset whose ``data_root`` was ``old`` (or a folder
    below it, e.g. ``old/trainval``) now reads the same place under the new one."""
    new = cfg.get('data_root')
    if new is None or new == old:
        return
    for name in LOADERS:
        loader = cfg.get(name)
        for ds in _datasets(loader.get('dataset') if isinstance(loader, dict) else None):
            rel = _under(ds.get('data_root'), old)
            if rel is not None:
                ds['data_root'] = osp.join(new, rel) if rel else new


def check_data_roots(cfg: Config, loaders: Iterable[str], source: str) -> None:
    """Each dataset of ``loaders`` has an existing ``data_root`` (when it names one)."""
    for name in loaders:
        loader = cfg.get(name)
        for ds in _datasets(loader.get('dataset') if isinstance(loader, dict) else None):
            root = ds.get('data_root')
            if root and not osp.isdir(root):
                hint = ('set it with --cfg-options data_root=PATH' if _under(root, cfg.get('data_root')) is not None
                        else f'set it with --cfg-options {name}.dataset.data_root=PATH')
                raise DatasetError(f'{source}: {name} data_root {root!r} is not a folder; {hint}')


# -- config -------------------------------------------------------------------------------------------
def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none', trust_checkpoint: bool = False) -> Config:
    """Read ``config``, check and merge ``cfg_options``, apply the one ``data_root`` setting."""
    from geoperc.engine.checkpoint import install_safe_loader, trust_checkpoints
    if not osp.isfile(config):
        raise SettingsError(f'{config}: config file not found')
    install_safe_loader()
    if trust_checkpoint:
        trust_checkpoints(True)
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        check_cfg_options(cfg, cfg_options, config)
        old_root = cfg.get('data_root')
        cfg.merge_from_dict(cfg_options)
        apply_data_root(cfg, old_root)
    if launcher != 'none':
        _cpu_distributed(cfg, launcher)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def _cpu_distributed(cfg: Config, launcher: str):
    """Multi-process training without GPUs (CI, CPU clusters): MMEngine 0.10 always calls
    ``torch.cuda.set_device`` and wraps DDP with ``device_ids=[LOCAL_RANK]``; on CPU we initialise a gloo
    process group ourselves (MMEngine then skips its own init) and wrap with ``device_ids=None``."""
    import torch
    if torch.cuda.is_available():
        return
    import torch.distributed as dist
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if launcher == 'pytorch' and not dist.is_initialized():
        print('geoperc: no GPU here, training on CPU processes with the gloo backend', file=sys.stderr)
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))


def _build_runner(cfg: Config):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def _finish_distributed():
    """Tear the process group down before exit (gloo aborts at interpreter exit otherwise)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# -- entry points -------------------------------------------------------------------------------------
def train(config: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
          resume: Optional[str] = None, amp: bool = False, launcher: str = 'none',
          trust_checkpoint: bool = False):
    """Train ``config``; returns the MMEngine runner.

    Args:
        resume: ``'auto'`` (the latest checkpoint in the work dir), a checkpoint path, or None.
        amp: mixed precision (needs a GPU).
    """
    cfg = load_config(config, cfg_options, work_dir, launcher, trust_checkpoint)
    if amp:
        import torch
        if not torch.cuda.is_available():
            raise SettingsError('--amp needs a GPU (MMEngine AmpOptimWrapper); none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise CheckpointError(f'{resume}: checkpoint file not found (--resume)')
        cfg.resume = True
        cfg.load_from = resume
    loaders = ['train_dataloader'] + (['val_dataloader'] if cfg.get('val_cfg') is not None else [])
    check_data_roots(cfg, loaders, config)
    runner = _build_runner(cfg)
    runner.train()
    _finish_distributed()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
         out: Optional[str] = None, launcher: str = 'none', trust_checkpoint: bool = False):
    """Evaluate ``checkpoint`` on ``config``'s test set; returns the metrics dict.

    Args:
        out: also dump the raw predictions to this ``.pkl`` file.
    """
    cfg = load_config(config, cfg_options, work_dir, launcher, trust_checkpoint)
    if not osp.isfile(checkpoint):
        raise CheckpointError(f'{checkpoint}: checkpoint file not found')
    cfg.load_from = checkpoint
    check_data_roots(cfg, ['test_dataloader'], config)
    runner = _build_runner(cfg)
    if out:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))
    metrics = runner.test()
    _finish_distributed()
    return metrics

