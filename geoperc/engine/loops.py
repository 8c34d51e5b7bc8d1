"""Training loops.

:class:`ReproducibleIterBasedTrainLoop` is MMEngine's ``IterBasedTrainLoop`` plus one guarantee: the
random state used for iteration *i* (data augmentation in the main process, dropout, drop-path) is a
function of ``(seed, i)`` alone. MMEngine does not save RNG states in checkpoints, so with its loop a
resumed run draws different augmentations than an uninterrupted one; with this loop, on CPU with
``num_workers=0``, train -> kill -> ``--resume`` reaches the same weights as an uninterrupted run (tested).
With ``num_workers > 0`` the sample order is still exact (the sampler is seeded by epoch) but worker-side
augmentation follows the workers' own seeds.
"""
import logging
import random

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from geoperc.registry import LOOPS


def seed_iteration(seed: int, it: int) -> None:
    s = (int(seed) * 1_000_003 + int(it)) % (2 ** 31)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


@LOOPS.register_module()
class ReproducibleIterBasedTrainLoop(IterBasedTrainLoop):

    def run(self):
        runner = self.runner
        seed = runner.seed if runner.seed is not None else 0
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(f'Advance dataloader {self._iter} steps to skip data that has already been trained',
                      logger='current', level=logging.INFO)
            for _ in range(self._iter):
                next(self.dataloader_iterator)
        while self._iter < self._max_iters and not self.stop_training:
            runner.model.train()
            seed_iteration(seed, self._iter)
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                runner.val_loop.run()
        runner.call_hook('after_train_epoch')
        runner.call_hook('after_train')
        return runner.model
