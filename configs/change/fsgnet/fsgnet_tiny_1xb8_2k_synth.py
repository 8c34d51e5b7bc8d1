# Tiny FSG-Net for tests and CPU demos: the same architecture on a ResNet-18 of base width 16 (channels
# 16-128), decoder width 32; 64 px tiles of the generated 4-band scene. Make the scene with:
#   python -c "from geoperc.testing import make_change_scene; make_change_scene('data/synth_change')"
# tests/models/test_learning.py trains this model to change-F1 >= 0.9 on generated pairs.
from mmdet.models.backbones import ResNet
from mmengine.config import read_base

with read_base():  # runtime shared by every config: SafeCheckpointHook, env, visualiser, log processor
    from ..._base_.default_runtime import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.hooks import CheckpointHook, IterTimerHook, LoggerHook, ParamSchedulerHook
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets import (GeoTIFFChangeDataset, LoadChangeLabel, LoadMultiDateImages,
                              MultiDateRandomFlip, MultiDateRandomRotate90, PackChangeInputs)
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop
from geoperc.evaluation.metrics import ChangeMetric
from geoperc.models.change import FSGNet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.losses import BCEDiceLoss

bands = 4
model = dict(
    type=FSGNet,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[128.0] * bands, std=[64.0] * bands,
                           pad_size_divisor=32),
    backbone=dict(type=ResNet, depth=18, base_channels=16, out_indices=(0, 1, 2, 3), norm_eval=False,
                  style='pytorch', init_cfg=None),
    in_channels=bands,
    channels=32,
    dawim_levels=(0, 1, 2, 3),
    stsam_levels=(3,),
    loss=dict(type=BCEDiceLoss, bce_weight=1.0, dice_weight=1.0),
    norm_cfg=dict(type='BN', requires_grad=True),
)

scene = [dict(a='date1.tif', b='date2.tif', label='label.tif')]
train_pipeline = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None),
                  dict(type=MultiDateRandomFlip, prob=0.5), dict(type=MultiDateRandomRotate90, prob=0.5),
                  dict(type=PackChangeInputs)]
test_pipeline = [dict(type=LoadMultiDateImages), dict(type=LoadChangeLabel, mapping=None),
                 dict(type=PackChangeInputs)]
train_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type=InfiniteSampler, shuffle=True),
                        dataset=dict(type=GeoTIFFChangeDataset, data_root='data/synth_change', pairs=scene,
                                     tile=64, overlap=32, pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
                      dataset=dict(type=GeoTIFFChangeDataset, data_root='data/synth_change', pairs=scene,
                                   tile=64, overlap=0, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type=ChangeMetric)
test_evaluator = val_evaluator

max_iters = 2000
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=False, begin=50, end=2 * max_iters),
]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=500)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks = dict(timer=dict(type=IterTimerHook),
                     logger=dict(type=LoggerHook, interval=50, log_metric_by_epoch=False),
                     param_scheduler=dict(type=ParamSchedulerHook),
                     checkpoint=dict(type=CheckpointHook, by_epoch=False, interval=500, max_keep_ckpts=1))
