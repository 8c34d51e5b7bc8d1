"""Models for inference: build from a config + checkpoint (safe loading) and fingerprint the weights
(resume manifests). What a model consumes and produces is read from its contract
(``geoperc/models/base.py``: ``in_channels``, ``num_dates``, ``size_divisor``, ``output_kind``)."""
import hashlib
import os
import pickle
from typing import Optional

import torch

from geoperc.errors import CheckpointError, InferenceError, SettingsError

__all__ = ['build_model', 'model_fingerprint', 'InferenceError']


def build_model(config_path: str, checkpoint: Optional[str] = None, device: str = 'cpu',
                cfg_options: Optional[dict] = None):
    """Build ``cfg.model`` from an MMEngine config, load weights, move to ``device``, eval mode.

    Args:
        config_path: MMEngine config file (pure-Python or classic).
        checkpoint: checkpoint file (weights under ``state_dict``), or None for the initial weights.
        device: torch device.
        cfg_options: overrides merged into the config (``--cfg-options``).

    Raises:
        SettingsError: the config does not exist or has no ``model``.
        CheckpointError: the checkpoint does not exist, cannot be loaded safely, misses weights of the
            model or their shapes differ.
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from geoperc.engine.checkpoint import load_checkpoint_file
    from geoperc.registry import MODELS
    if not os.path.isfile(config_path):
        raise SettingsError(f'{config_path}: config file not found')
    cfg = Config.fromfile(config_path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise SettingsError(f'{config_path}: the config has no `model`')
    scope = DefaultScope.get_current_instance()
    if scope is None or scope.scope_name != 'geoperc':
        DefaultScope.get_instance(f'geoperc-infer-{id(cfg)}', scope_name='geoperc')
    model = MODELS.build(cfg.model)
    if checkpoint:
        try:
            ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
        except FileNotFoundError as e:
            raise CheckpointError(str(e)) from e
        except pickle.UnpicklingError as e:
            raise CheckpointError(f'{checkpoint}: {e}') from e
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
        state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as e:  # shape mismatches
            detail = ' '.join(str(e).split('\n', 1)[-1].split())[:300]
            raise CheckpointError(f'{checkpoint}: weights do not fit the model of {config_path}: {detail}') from e
        if missing:
            raise CheckpointError(f'{checkpoint}: checkpoint misses {len(missing)} weights of the model, '
                                  f'e.g. {missing[:5]}; is it from this config ({config_path})?')
        if unexpected:
            from mmengine.logging import print_log
            print_log(f'{checkpoint}: ignored {len(unexpected)} unexpected weights, e.g. {unexpected[:5]}',
                      logger='current')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if isinstance(meta, dict) and meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    return model.to(device).eval()


def model_fingerprint(model) -> str:
    """SHA-256 of the model class, its state dict (names, dtypes, bytes) and its preprocessor's buffers
    and settings: partial results are reused only by the same model."""
    h = hashlib.sha256(type(model).__qualname__.encode())
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    pre = getattr(model, 'data_preprocessor', None)
    if pre is not None:
        for k, v in sorted(pre.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b'')
        for name in ('mean', 'std'):  # non-persistent buffers are not in the state dict
            v = getattr(pre, name, None)
            if isinstance(v, torch.Tensor):
                h.update(v.detach().cpu().numpy().tobytes())
        for name in ('scale', 'pad_size_divisor', 'pad_value'):
            if hasattr(pre, name):
                h.update(f'{name}={getattr(pre, name)!r}'.encode())
    return h.hexdigest()
