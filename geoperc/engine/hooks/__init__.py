from .param_sync_hook import ParamSyncCheckHook, state_digest
from .safe_checkpoint_hook import SafeCheckpointHook, flatten_history_buffers, restore_history_buffers

__all__ = ['ParamSyncCheckHook', 'state_digest', 'SafeCheckpointHook', 'flatten_history_buffers', 'restore_history_buffers']
