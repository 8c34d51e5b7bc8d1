# Tiny LENet for tests and CPU demos: the same architecture with a 4-stage SwinV2 of width 16 (one block
# per stage), decoder width 32; 64 px tiles of the generated 4-band scene. Make the scene with:
#   python -c "from geoperc.testing import make_change_scene; make_change_scene('data/synth_change')"
# tests/models/test_learning.py trains this model to change-F1 >= 0.9 on generated pairs.
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
from geoperc.models.backbones import TimmSwinV2
from geoperc.models.change import LENet
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.losses import CrossEntropyLoss

bands = 4
model = dict(
    type=LENet,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[128.0] * bands, std=[64.0] * bands,
                           pad_size_divisor=32),
    backbone=dict(type=TimmSwinV2, model_name='swinv2_tiny_window8_256', in_channels=bands, embed_dim=16,
                  depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), pretrained=None, drop_path_rate=0.0),
    channels=32,
    decoder_heads=(1, 2, 4, 8),
    decoder_window=8,
    head_channels=32,
    loss_decode=dict(type=CrossEntropyLoss, loss_weight=1.0),
    loss_aux=[dict(type=CrossEntropyLoss, loss_weight=0.3), dict(type=CrossEntropyLoss, loss_weight=0.3)],
    norm_cfg=dict(type='BN', requires_grad=True),
    img_size=64,
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
