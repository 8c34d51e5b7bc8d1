"""Runner checkpoints that any torch >= 2.6 tool loads with plain ``torch.load(path, weights_only=True)``.

MMEngine writes numpy scalars and arrays (``meta``, ``message_hub['runtime_info']``) and its
``HistoryBuffer`` objects (``message_hub['log_scalars']``) into checkpoints; torch's safe unpickler
refuses numpy (``numpy._core.multiarray._reconstruct``) and ``HistoryBuffer`` pickles bound methods through
``builtins.getattr``, which a safe unpickler must never allow. Before a checkpoint is written this hook
stores everything it holds as tensors and plain Python values (:func:`to_plain`):

* ``HistoryBuffer`` -> ``{'__geoperc_history_buffer__': True, 'log_history': tensor, 'count_history':
  tensor, 'max_length': int}``;
* a numpy array -> ``{'__geoperc_ndarray__': True, 'data': tensor (or nested list for non-numeric
  dtypes), 'dtype': 'float64', ...}``, the values bit for bit;
* a numpy scalar -> the Python ``int`` / ``float`` / ``bool`` / ``complex`` / ``str`` it holds.

:func:`from_plain` (called by geoperc's loader, :func:`geoperc.engine.checkpoint.load_checkpoint_file`)
turns the tagged dicts back into buffers and arrays, so ``--resume`` continues exactly (tested in
``tests/foundation/test_resume_and_dist.py``). A plain ``torch.load`` sees the tagged dicts.
"""
from collections import OrderedDict

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from geoperc.registry import HOOKS

__all__ = ['SafeCheckpointHook', 'to_plain', 'from_plain', 'flatten_history_buffers', 'restore_history_buffers']

_TAG = '__geoperc_history_buffer__'
_ARRAY = '__geoperc_ndarray__'


def _array_to_plain(a: np.ndarray) -> dict:
    a = np.asarray(a)
    if a.dtype.kind in 'biufc' and not a.dtype.byteorder == '>':
        try:
            return {_ARRAY: True, 'data': torch.from_numpy(np.ascontiguousarray(a).copy()), 'dtype': a.dtype.str}
        except TypeError:  # a numeric dtype torch has no tensor for
            pass
    if a.dtype.kind in 'biufcUS':
        return {_ARRAY: True, 'list': a.tolist(), 'shape': list(a.shape), 'dtype': a.dtype.str}
    raise TypeError(f'cannot store a numpy array of dtype {a.dtype} as plain values')


def to_plain(obj):
    """``obj`` with every HistoryBuffer, numpy array and numpy scalar replaced by tensors and plain
    Python values (new containers; ``obj`` itself is not modified)."""
    if isinstance(obj, torch.Tensor) or obj is None or type(obj) in (bool, int, float, complex, str, bytes):
        return obj
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {_TAG: True, 'log_history': _array_to_plain(log), 'count_history': _array_to_plain(count),
                'max_length': int(obj.max_length)}
    if isinstance(obj, np.ndarray):
        return _array_to_plain(obj)
    if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
        return obj.item()
    if isinstance(obj, dict):
        return _rebuild_dict(obj, to_plain, to_plain)
    if isinstance(obj, (list, tuple, set)):
        items = [to_plain(v) for v in obj]
        if all(a is b for a, b in zip(items, obj)) and type(obj) in (list, tuple, set):
            return obj
        return type(obj)(items) if type(obj) in (list, tuple, set) else list(items)
    return obj  # torch types (dtype, device, Size) and anything else pass through


def _rebuild_dict(obj: dict, fk, fv) -> dict:
    """``obj`` itself when ``fk`` / ``fv`` change nothing (keeps a state dict's ``_metadata``), else a new
    dict (OrderedDict for OrderedDicts) of the converted items."""
    items = [(fk(k), fv(v)) for k, v in obj.items()]
    if all(k2 is k and v2 is v for (k2, v2), (k, v) in zip(items, obj.items())):
        return obj
    out = OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if hasattr(obj, '_metadata') and isinstance(out, OrderedDict):
        out._metadata = obj._metadata
    return out


def _array_from_plain(d: dict) -> np.ndarray:
    if 'data' in d:
        return d['data'].numpy().astype(np.dtype(d['dtype']), copy=True)
    return np.asarray(d['list'], dtype=np.dtype(d['dtype'])).reshape(d['shape'])


def from_plain(obj):
    """Undo :func:`to_plain`: tagged dicts become HistoryBuffers and numpy arrays again."""
    if isinstance(obj, dict):
        if obj.get(_TAG) is True:
            log, count = (from_plain(obj[k]) for k in ('log_history', 'count_history'))
            return HistoryBuffer(log, count, obj['max_length'])
        if obj.get(_ARRAY) is True:
            return _array_from_plain(obj)
        return _rebuild_dict(obj, lambda k: k, from_plain)
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        items = [from_plain(v) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj)) else type(obj)(items)
    return obj


def flatten_history_buffers(checkpoint: dict) -> dict:
    """Every entry of ``checkpoint`` as plain values (in place on the top-level dict); returns it."""
    for k in list(checkpoint):
        checkpoint[k] = to_plain(checkpoint[k])
    return checkpoint


def restore_history_buffers(checkpoint):
    """What :func:`flatten_history_buffers` stored, back as buffers and arrays (for resuming)."""
    return from_plain(checkpoint) if isinstance(checkpoint, dict) else checkpoint


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write checkpoints as tensors and plain values (``torch.load(weights_only=True)`` loads them with
    no allow-list); in every config through ``configs/_base_/default_runtime.py``."""
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        flatten_history_buffers(checkpoint)
