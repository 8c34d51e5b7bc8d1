# The VPOcc (ResNet-50) training recipe shared by the dataset leaves of this folder (a base: not a runnable
# config), the official one (configs/config.yaml + schedules/adamw_lr2e-4_30e.yaml of vision3d-lab/VPOcc):
# 4 GPUs x batch 1 (SyncBN), AdamW lr 2e-4 (eps 1e-3, wd 1e-4), encoder lr x 0.1, MultiStepLR x0.1 at
# epoch 25, 30 epochs, seed 53, validation each epoch, best checkpoint by SSC mIoU.
from mmengine.config import read_base
from mmengine.optim import MultiStepLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.vpocc import *  # noqa: F401,F403

optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=2e-4, eps=1e-3, weight_decay=1e-4),
                     paramwise_cfg=dict(custom_keys={'encoder': dict(lr_mult=0.1)}))
param_scheduler = [dict(type=MultiStepLR, milestones=[25], gamma=0.1, by_epoch=True)]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=30, val_interval=1)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['checkpoint'].update(by_epoch=True, interval=1, max_keep_ckpts=3, save_best='ssc/miou',  # noqa: F405
                                   rule='greater')
log_processor.update(by_epoch=True)  # noqa: F405
randomness = dict(seed=53)
sync_bn = 'torch'
# the contract test (tests/foundation/test_configs.py) builds this architecture small: same parts, tiny sizes
contract_tiny = dict(encoder=dict(depth=18, hidden_dims=32, num_encoder_layers=1, ffn_dims=64, gn_groups=8),
                     embed_dims=16, scene_size=(32, 32, 8), voxel_size=0.8, voxel_origin=(0.0, -12.8, -2.0),
                     downsample_z=1, num_heads=4, num_layers=1)
