"""Checkpoints that load with ``torch.load(..., weights_only=True)`` (torch >= 2.6).

MMEngine's Runner writes numpy scalars/arrays and its ``HistoryBuffer`` objects into checkpoint ``meta``
and ``message_hub``; torch's safe unpickler refuses them (``HistoryBuffer`` pickles bound methods through
``builtins.getattr``, which must stay forbidden), so a plain ``resume`` fails on torch >= 2.6 with
mmengine 0.10.7, while mmengine 0.11 loads *anything* with ``weights_only=False``.

geoperc's own checkpoints hold only tensors and plain Python values: ``SafeCheckpointHook`` (in every
config's ``default_runtime``) converts buffers, arrays and numpy scalars when saving, so any tool loads
them with plain ``torch.load(path, weights_only=True)``. geoperc's loader for local paths
(:func:`install_safe_loader`, :func:`load_checkpoint_file`) rebuilds the buffers and arrays for resuming,
and keeps a numpy allow-list (:data:`SAFE_GLOBALS`) only for third-party files and checkpoints written
before the conversion. Loading an untrusted full pickle is an explicit opt-in: ``trust_checkpoint=True`` /
``--trust-checkpoint`` / ``GEOPERC_TRUST_CHECKPOINT=1``.

Errors are :class:`~geoperc.errors.CheckpointError` (one line, exit 2 in the CLIs):
:class:`CheckpointNotFoundError` (also a ``FileNotFoundError``), :class:`UnsafeCheckpointError` (also a
``pickle.UnpicklingError``) and an unreadable / truncated file.
"""
import os
import pickle

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from geoperc.errors import CheckpointError

_TRUST_ENV = 'GEOPERC_TRUST_CHECKPOINT'


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The checkpoint holds objects the safe unpickler refuses (a full pickle)."""


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
    """``torch.load`` with ``weights_only=True`` (plus the numpy allow-list for third-party files), or a
    full pickle if trusted; buffers and arrays stored by ``SafeCheckpointHook`` come back as such."""
    if trust_checkpoint is None:
        trust_checkpoint = os.environ.get(_TRUST_ENV, '') == '1'
    if not os.path.isfile(filename):
        raise CheckpointNotFoundError(f'{filename}: checkpoint file not found')
    from .hooks.safe_checkpoint_hook import restore_history_buffers
    try:
        if trust_checkpoint:
            ckpt = torch.load(filename, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(SAFE_GLOBALS):
                ckpt = torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if 'weights_only' in str(e) or 'global' in str(e).lower():
            raise UnsafeCheckpointError(
                f'{filename}: refused to unpickle a non-tensor object ({first}). '
                'If you trust this file, pass --trust-checkpoint (or set GEOPERC_TRUST_CHECKPOINT=1).') from e
        raise CheckpointError(f'{filename}: not a readable checkpoint ({first})') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated zip, not a torch file, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f'{filename}: not a readable checkpoint, truncated or corrupt? ({first})') from e
    return restore_history_buffers(ckpt)


def _load_local(filename, map_location):
    return load_checkpoint_file(os.path.expanduser(filename), map_location)


def install_safe_loader():
    """Route MMEngine's local-path checkpoint loading (load_from / resume) through geoperc's loader."""
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
