# Tiny VPOcc for tests and the CPU demo: the full architecture (VPZoomer, VPCA, deformable branch, SVF, 3D UNet,
# head) with a ResNet-18 encoder, a 1-layer pixel decoder of width 64 and 32-d queries, on the generated
# SemanticKITTI-format street scenes (geoperc.testing.formats3d.write_ssc_street: 32 x 32 x 8 voxels of
# 0.8 m, 48 x 160 images, rendered depth, exact VPs). Query grid 16 x 16 x 4 (project_scale 2, downsample_z 1).
# Iteration-based AdamW; batch 2. tests/occupancy/test_occupancy_learning.py trains it (SC IoU >= 0.5).
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets.occupancy import SemanticKITTISSCDataset
from geoperc.datasets.transforms.occupancy import (LoadSSCDepth, LoadSSCImage, LoadSSCTarget, LoadVanishingPoint,
                                                   PackSSCInputs, RandomFlipSSC)
from geoperc.evaluation.metrics.ssc_metric import SSCMetric

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403
    from ..._base_.models.vpocc import *  # noqa: F401,F403

data_root = 'data/synth_ssc'
grid_shape = (32, 32, 8)
model.update(  # noqa: F405
    encoder=dict(type=VPOccImageEncoder, depth=18, hidden_dims=64, num_encoder_layers=1, ffn_dims=128,  # noqa: F405
                 gn_groups=8, frozen_bn=False),
    embed_dims=32, scene_size=grid_shape, voxel_size=0.8, voxel_origin=(0.0, -12.8, -2.0), downsample_z=1,
    num_heads=4, num_layers=2, attn_dropout=0.0, class_weights='none')
train_pipeline = [
    dict(type=LoadSSCImage),
    dict(type=LoadSSCDepth, depth_root=data_root + '/depth'),
    dict(type=LoadVanishingPoint, estimate=True),
    dict(type=LoadSSCTarget),
    dict(type=PackSSCInputs),
]
_ds = dict(type=SemanticKITTISSCDataset, data_root=data_root, vp_root=data_root + '/vanishing_points',
           grid_shape=grid_shape, sequences=['00'], pipeline=train_pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=True),
                        collate_fn=dict(type=pseudo_collate), dataset=_ds)
val_dataloader = dict(batch_size=2, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
                      collate_fn=dict(type=pseudo_collate), dataset=dict(_ds, sequences=['08'], test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type=SSCMetric, num_classes=20)
test_evaluator = val_evaluator
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=2e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = []
train_cfg = dict(type=IterBasedTrainLoop, max_iters=200, val_interval=100000)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks.update(logger=dict(type=LoggerHook, interval=10, log_metric_by_epoch=False),  # noqa: F405
                     checkpoint=dict(type=CheckpointHook, by_epoch=False, interval=100000))  # noqa: F405
