# The embedded default (`make demo`): a tiny FSG-Net (ResNet-18 of base width 16, decoder width 32)
# trained on 64 px windows of the generated 4-band UTM scene (geoperc.testing.make_change_scene), held-out
# scene for validation. Same runner, bases and data pipeline as the full configs.
# Data: one data_root holding scene_train/ and scene_test/ (what geoperc.demos.change writes); move it
# with the one setting `--cfg-options data_root=PATH`.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.synth_change import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.fsgnet_r18 import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets.transforms import MultiDatePhotoMetricDistortion
from geoperc.engine.hooks import ParamSyncCheckHook, SafeCheckpointHook
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop
from geoperc.models.data_preprocessors import GeoDataPreprocessor

data_root = 'demo_output'
norm_cfg = dict(type='BN', requires_grad=True)
model.update(
    in_channels=4, channels=32, norm_cfg=norm_cfg,
    data_preprocessor=dict(type=GeoDataPreprocessor, pad_size_divisor=32, **data_preprocessor))
model['backbone'].update(base_channels=16, norm_cfg=norm_cfg)

train_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, mapping=None),
    dict(type=MultiDateRandomFlip, prob=0.5, direction=['horizontal', 'vertical']),
    dict(type=MultiDateRandomRotate90, prob=0.5),
    dict(type=MultiDatePhotoMetricDistortion),  # per date: pseudo-change augmentation
    dict(type=PackChangeInputs),
]
# a finite shuffling sampler over the training scene's windows, whole batches only
train_dataloader.update(sampler=dict(type=DefaultSampler, shuffle=True), drop_last=True)
train_dataloader['dataset'].update(data_root=data_root, pipeline=train_pipeline,
                                   pairs=[dict(a='scene_train/date1.tif', b='scene_train/date2.tif',
                                               label='scene_train/label.tif')])
val_dataloader['dataset'].update(data_root=data_root,
                                 pairs=[dict(a='scene_test/date1.tif', b='scene_test/date2.tif',
                                             label='scene_test/label.tif')])
test_dataloader = val_dataloader

max_iters = 400
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=False, begin=50, end=2 * max_iters),
]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['logger'].update(interval=25)
default_hooks['checkpoint'].update(interval=max_iters, max_keep_ckpts=2)
custom_hooks = [dict(type=SafeCheckpointHook), dict(type=ParamSyncCheckHook)]
