"""Check that data-parallel ranks end with identical parameters.

After training (and every ``interval`` iterations if set), each rank hashes its learnable parameters;
the digests are gathered, written to ``<work_dir>/param_digest_rank<r>.txt`` and compared. A mismatch
(e.g. a module outside DDP, a parameter updated outside the optimizer) raises with the ranks that differ.
Buffers are hashed separately and only reported: BN running statistics legitimately differ across ranks
under MMEngine's default ``broadcast_buffers=False`` without SyncBN (SyncBN needs GPUs).
"""
import hashlib
import os

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from geoperc.registry import HOOKS


def state_digest(model: torch.nn.Module, buffers: bool = False) -> str:
    """sha256 over the names and bytes of the parameters (or the buffers)."""
    h = hashlib.sha256()
    items = model.named_buffers() if buffers else model.named_parameters()
    for name, t in sorted(items, key=lambda kv: kv[0]):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@HOOKS.register_module()
class ParamSyncCheckHook(Hook):
    priority = 'LOW'

    def __init__(self, interval: int = 0, strict: bool = True):
        self.interval = interval
        self.strict = strict

    def _check(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        digest, buf = state_digest(model), state_digest(model, buffers=True)
        with open(os.path.join(runner.work_dir, f'param_digest_rank{get_rank()}.txt'), 'w') as f:
            f.write(f'{runner.iter} {digest} {buf}\n')
        gathered = all_gather_object((digest, buf)) if get_world_size() > 1 else [(digest, buf)]
        digests = [g[0] for g in gathered]
        if len({g[1] for g in gathered}) > 1:
            runner.logger.info('buffers (e.g. BN running statistics) differ across ranks, as expected '
                               'without SyncBN / broadcast_buffers')
        if len(set(digests)) > 1:
            msg = f'parameters differ across ranks at iter {runner.iter}: {digests}'
            if self.strict:
                raise RuntimeError(msg)
            runner.logger.warning(msg)
        else:
            runner.logger.info(f'parameters identical on all {len(digests)} rank(s) at iter {runner.iter}')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.interval and self.every_n_train_iters(runner, self.interval):
            self._check(runner)

    def after_train(self, runner):
        self._check(runner)
