# LENet (SwinV2-B) on CLCD: the official recipe (dyzy41/lenet, configs/lenet/lenet_clcd.py): 2 GPUs x 12,
# 256 px crops, lr 3e-5, PolyLR to 0 at 2 x max_iters, 20000 it, validation and checkpoints every 200 it.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.clcd import *  # noqa: F401,F403
    from ._base_lenet_swinv2b_iter import *  # noqa: F401,F403

model['data_preprocessor'].update(data_preprocessor)  # band statistics of the dataset
train_dataloader.update(batch_size=12)
optim_wrapper['optimizer'].update(lr=3e-5)
max_iters = 20000
train_cfg.update(max_iters=max_iters, val_interval=200)
param_scheduler[1].update(end=2 * max_iters)
default_hooks['checkpoint'].update(interval=200)
