from .safe_checkpoint_hook import SafeCheckpointHook, flatten_history_buffers, restore_history_buffers

__all__ = ['SafeCheckpointHook', 'flatten_history_buffers', 'restore_history_buffers']
