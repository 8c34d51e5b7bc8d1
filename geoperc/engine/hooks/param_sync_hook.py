"""Check that data-parallel ranks end with identical parameters.

After training (and every ``interval`` iterations if set), each rank hashes its model parameters and
buffers; the digests are gathered, written to ``<work_dir>/param_digest_rank<r>.txt`` and compared. A
mismatch (e.g. a module outside DDP, unsynchronised BN statistics) raises with the ranks that differ.
"""
import hashlib
import os

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from geoperc.registry import HOOKS


def state_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
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
        digest = state_digest(model)
        with open(os.path.join(runner.work_dir, f'param_digest_rank{get_rank()}.txt'), 'w') as f:
            f.write(f'{runner.iter} {digest}\n')
        digests = all_gather_object(digest) if get_world_size() > 1 else [digest]
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
