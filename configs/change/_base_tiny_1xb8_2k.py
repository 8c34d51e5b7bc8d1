# Training schedule of the tiny change configs (tests, CPU demos; a base: not a runnable config):
# _base_/schedules/iter_adamw.py shortened to 2000 iterations with lr 2e-3 (wd 0.01), a 50-iteration
# linear warm-up from 1e-3x, linear decay towards 0 at 2 x max_iters, validation and one kept checkpoint
# every 500 iterations.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.schedules.iter_adamw import *  # noqa: F401,F403

max_iters = 2000
optim_wrapper['optimizer'].update(lr=2e-3)
param_scheduler[0].update(start_factor=1e-3, end=50)
param_scheduler[1].update(begin=50, end=2 * max_iters)
train_cfg.update(max_iters=max_iters, val_interval=500)
default_hooks['checkpoint'].update(interval=500, max_keep_ckpts=1)
