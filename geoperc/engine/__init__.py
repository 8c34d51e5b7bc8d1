"""Runner-side pieces: safe checkpoint loading, cross-cutting hooks."""
from .checkpoint import (CheckpointNotFoundError, UnsafeCheckpointError, install_safe_loader, load_checkpoint_file,
                         trust_checkpoints)
from .hooks import SafeCheckpointHook
from .loops import ReproducibleIterBasedTrainLoop

__all__ = ['install_safe_loader', 'load_checkpoint_file', 'trust_checkpoints', 'CheckpointNotFoundError',
           'UnsafeCheckpointError', 'SafeCheckpointHook', 'ReproducibleIterBasedTrainLoop']
