"""Keep Runner checkpoints loadable with ``torch.load(weights_only=True)``.

MMEngine stores ``HistoryBuffer`` objects in ``checkpoint['message_hub']['log_scalars']``; they pickle
their ``statistics_methods`` through ``builtins.getattr``, which a safe unpickler must never allow. This
hook stores each buffer as a plain dict of arrays before saving; :func:`restore_history_buffers`
(called by geoperc's checkpoint loader) turns them back into buffers before MMEngine reads them.
"""
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from geoperc.registry import HOOKS

_TAG = '__geoperc_history_buffer__'


def flatten_history_buffers(checkpoint: dict) -> dict:
    scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
    for k, buf in list(scalars.items()):
        if isinstance(buf, HistoryBuffer):
            log, count = buf.data
            scalars[k] = {_TAG: True, 'log_history': log, 'count_history': count,
                          'max_length': buf.max_length}
    return checkpoint


def restore_history_buffers(checkpoint: dict) -> dict:
    if not isinstance(checkpoint, dict):
        return checkpoint
    hub = checkpoint.get('message_hub')
    scalars = hub.get('log_scalars', {}) if isinstance(hub, dict) else {}
    for k, v in list(scalars.items()):
        if isinstance(v, dict) and v.get(_TAG):
            scalars[k] = HistoryBuffer(v['log_history'], v['count_history'], v['max_length'])
    return checkpoint


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write checkpoints that geoperc loads with ``weights_only=True``; in ``default_runtime``."""
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        flatten_history_buffers(checkpoint)
