# The ARS-DETR R50 (E6D6) training recipe shared by the full-size leaves of this folder and MutDet's
# pre-training (a base: not a runnable config): MutDet's fine-tuning schedule
# (Step3_Finetuning/ars_detr_DIOR_MutDet.py): AdamW 1e-4, weight decay 1e-5, lr x0.1 for the backbone,
# sampling offsets and reference points, grad-clip 35, linear warm-up 500 iterations from 1/3, 36 epochs,
# lr x0.1 at epoch 32, batch 2 per GPU (set by the dataset bases); validation and checkpoints every 4 epochs.
# The leaf sets the dataset, data_root and the number of classes.
from mmengine.config import read_base
from mmengine.optim import LinearLR, MultiStepLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop, LogProcessor, TestLoop, ValLoop
from torch.optim import AdamW

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.rotated_detr_r50 import *  # noqa: F401,F403

max_epochs = 36
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=1e-4, weight_decay=1e-5),
    clip_grad=dict(max_norm=35, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1), 'sampling_offsets': dict(lr_mult=0.1),
                                    'reference_points': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type=LinearLR, start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type=MultiStepLR, by_epoch=True, begin=0, end=max_epochs, milestones=[32], gamma=0.1),
]
default_hooks['logger'].update(interval=50, log_metric_by_epoch=True)  # noqa: F405
default_hooks['checkpoint'].update(by_epoch=True, interval=4, max_keep_ckpts=3)  # noqa: F405
log_processor = dict(type=LogProcessor, window_size=50, by_epoch=True)
