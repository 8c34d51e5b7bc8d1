# The embedded default (`make demo`): a tiny FSG-Net (ResNet-18 of base width 16, decoder width 32)
# trained on 64 px windows of the generated 4-band UTM scene (geoperc.testing.make_change_scene), held-out
# scene for validation. Same runner, bases and data pipeline as the full configs.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.geotiff_pair import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.fsgnet_r18 import *  # noqa: F401,F403

from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets.transforms import MultiDateRandomFlip, MultiDateRandomRotate90
from geoperc.engine.hooks import ParamSyncCheckHook, SafeCheckpointHook
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop

bands = 4
norm_cfg = dict(type='BN', requires_grad=True)
model.update(
    in_channels=bands, channels=32, norm_cfg=norm_cfg,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[128.0] * bands, std=[64.0] * bands,
                           pad_size_divisor=32))
model['backbone'].update(base_channels=16, norm_cfg=norm_cfg)

scene = [dict(a='date1.tif', b='date2.tif', label='label.tif')]
train_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, mapping=None),
    dict(type=MultiDateRandomFlip, prob=0.5, direction=['horizontal', 'vertical']),
    dict(type=MultiDateRandomRotate90, prob=0.5),
    dict(type=MultiDatePhotoMetricDistortion),  # per date: pseudo-change augmentation
    dict(type=PackChangeInputs),
]
train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader['dataset'].update(data_root='demo_output/scene_train', pairs=scene, tile=64, overlap=32,
                                   pipeline=train_pipeline)
for _loader in (val_dataloader, test_dataloader):
    _loader.update(batch_size=8, num_workers=0, persistent_workers=False)
    _loader['dataset'].update(data_root='demo_output/scene_test', pairs=scene, tile=64, overlap=0)

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
contract_input_size = (64, 64)
