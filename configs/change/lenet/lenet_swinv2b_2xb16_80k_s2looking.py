# LENet (SwinV2-B) on S2Looking: the official recipe (dyzy41/lenet, configs/lenet/lenet_s2looking.py):
# 2 GPUs x 16 (not given in METHODS.md, LEVIR-CD's assumed), 256 px crops, lr 3e-4, PolyLR to 0 at
# 2 x max_iters, 80000 it, validation and checkpoints every 2000 it.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.s2looking import *  # noqa: F401,F403
    from ._base_lenet_swinv2b_iter import *  # noqa: F401,F403

max_iters = 80000
train_cfg.update(max_iters=max_iters, val_interval=2000)
param_scheduler[1].update(end=2 * max_iters)
default_hooks['checkpoint'].update(interval=2000)
model['data_preprocessor'].update(data_preprocessor)  # band statistics of the dataset
