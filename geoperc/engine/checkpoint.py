"""Checkpoints that load with ``torch.load(..., weights_only=True)`` (torch >= 2.6).

MMEngine's Runner writes numpy scalars/arrays and its ``HistoryBuffer`` objects into checkpoint ``meta``
and ``message_hub``; torch's safe unpickler refuses them (``HistoryBuffer`` pickles bound methods through
``builtins.getattr``, which must stay forbidden), so a plain ``resume`` fails on torch >= 2.6 with
mmengine 0.10.7, while mmengine 0.11 loads *anything* with ``weights_only=False``.

geoperc registers its own loader for local paths (:func:`install_safe_loader`): it allow-lists exactly the
types geoperc's checkpoints hold (:data:`SAFE_GLOBALS`) and loads with ``weights_only=True``; ``SafeCheckpointHook`` (in every config's ``default_runtime``) stores the
history buffers as plain arrays when saving and the loader rebuilds them. Loading an
untrusted full pickle is an explicit opt-in: ``trust_checkpoint=True`` / ``--trust-checkpoint`` /
``GEOPERC_TRUST_CHECKPOINT=1``.
"""
import os
import pickle

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

_TRUST_ENV = 'GEOPERC_TRUST_CHECKPOINT'


def _numpy_globals():
    out = [np.ndarray, np.dtype]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    out += [_reconstruct, scalar]
    # dtype classes (np.dtypes.Float64DType, ...) appear in pickles written by numpy >= 1.25
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return out


SAFE_GLOBALS = _numpy_globals()


def trust_checkpoints(flag: bool = True):
    """Opt in (or out) of loading full pickles for this process and its children."""
    if flag:
        os.environ[_TRUST_ENV] = '1'
    else:
        os.environ.pop(_TRUST_ENV, None)


def load_checkpoint_file(filename, map_location='cpu', trust_checkpoint=None):
    """``torch.load`` with ``weights_only=True`` and geoperc's allow-list, or a full pickle if trusted."""
    if trust_checkpoint is None:
        trust_checkpoint = os.environ.get(_TRUST_ENV, '') == '1'
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint file not found')
    from .hooks.safe_checkpoint_hook import restore_history_buffers
    if trust_checkpoint:
        return restore_history_buffers(torch.load(filename, map_location=map_location, weights_only=False))
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            ckpt = torch.load(filename, map_location=map_location, weights_only=True)
        return restore_history_buffers(ckpt)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(
            f'{filename}: refused to unpickle a non-tensor object ({str(e).splitlines()[0]}). '
            'If you trust this file, pass --trust-checkpoint (or set GEOPERC_TRUST_CHECKPOINT=1).'
        ) from e


def _load_local(filename, map_location):
    return load_checkpoint_file(os.path.expanduser(filename), map_location)


def install_safe_loader():
    """Route MMEngine's local-path checkpoint loading (load_from / resume) through geoperc's loader."""
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
