# The FSG-Net (ResNet-18) training recipe shared by the dataset leaves of this folder (a base: not a
# runnable config). The paper's optimiser and schedule are not published; this follows the complexity
# script in zxXie-Air/FSG-Net (batch 32, 100 epochs, lr 1e-3, bce+dice, 256 px) with AdamW (wd 1e-3), a
# 500-iteration linear warm-up and poly decay over the epochs -- UNVERIFIED against the paper. Best
# checkpoint by change-class F1. The leaf sets the per-GPU batch (32) and the band statistics.
from mmengine.config import read_base
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import EpochBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.fsgnet_r18 import *  # noqa: F401,F403

max_epochs = 100
optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-3))
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type=PolyLR, power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs),
]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['checkpoint'].update(by_epoch=True, interval=1, max_keep_ckpts=3, save_best='change/change_f1',
                                   rule='greater')
