# FSG-Net (ResNet-18) on GZ-CD. The paper's optimiser and schedule are not published; this follows the
# complexity script in zxXie-Air/FSG-Net (batch 32, 100 epochs, lr 1e-3, bce+dice, 256 px) with AdamW
# (wd 1e-3), a 500-iteration linear warm-up and poly decay over the epochs -- UNVERIFIED against the paper.
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler
from mmengine.hooks import CheckpointHook
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import EpochBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

with read_base():
    from ..._base_.datasets.gzcd import *
    from ..._base_.default_runtime import *
    from ..._base_.models.fsgnet_r18 import *

# epoch-based: a finite, shuffling sampler whatever the dataset base uses
train_dataloader.update(batch_size=32, sampler=dict(type=DefaultSampler, shuffle=True))

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
default_hooks.update(checkpoint=dict(type=CheckpointHook, by_epoch=True, interval=1, max_keep_ckpts=3,
                                     save_best='change/change_f1', rule='greater'))
