# Tiny OmniFusion for tests and the CPU demo: the same architecture (18 tangent patches, geometric
# embedding, patch transformer, U-Net decoder, confidence merge, 2 passes) on a ResNet-18 of base width 16,
# 32-px patches (a 64x128 panorama has ~25 px across an "80 degree" patch), 1 transformer block, trained on
# generated box rooms in the Stanford2D3D layout
# (geoperc.testing.formats3d.write_box_rooms_stanford2d3d, 64x128 panoramas). Make the data with:
#   python -c "from geoperc.testing.formats3d import write_box_rooms_stanford2d3d as w; \
#       w('data/synth_rooms', areas=('area_1',), per_area=48); \
#       w('data/synth_rooms', areas=('area_5a',), per_area=8, seed=1)"
# (geoperc demo --task depth does this and trains it; tests/depth/test_depth_learning.py: AbsRel <= 0.15)
from mmengine.config import read_base

with read_base():
    from ..._base_.default_runtime import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler, InfiniteSampler, pseudo_collate
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from mmengine.runner import TestLoop, ValLoop
from torch.optim import AdamW

from geoperc.datasets.depth import Stanford2D3DDataset
from geoperc.datasets.transforms import PackPanoDepthInputs, PanoRandomFlip, PanoRandomYawRoll
from geoperc.engine.loops import ReproducibleIterBasedTrainLoop
from geoperc.evaluation.metrics import DepthMetric
from geoperc.models.data_preprocessors import GeoDataPreprocessor
from geoperc.models.depth import BerHuLoss, OmniFusion

model = dict(
    type=OmniFusion,
    data_preprocessor=dict(type=GeoDataPreprocessor, mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0]),
    in_channels=3, nrows=4, patch_size=32, fov=80.0, iters=2, confidence=True,
    encoder_depth=18, base_channels=16, num_layers=1, num_heads=4,
    loss=dict(type=BerHuLoss))

data_root = 'data/synth_rooms'
depth_range = dict(min_depth=0.3, max_depth=8.0)
train_pipeline = [dict(type=PanoRandomFlip, prob=0.5), dict(type=PanoRandomYawRoll, steps=4),
                  dict(type=PackPanoDepthInputs)]
test_pipeline = [dict(type=PackPanoDepthInputs)]
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=Stanford2D3DDataset, data_root=data_root, areas=['area_1'], channel_order='bgr',
                 pipeline=train_pipeline, **depth_range))
val_dataloader = dict(
    batch_size=2, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=Stanford2D3DDataset, data_root=data_root, areas=['area_5a'], channel_order='bgr',
                 pipeline=test_pipeline, test_mode=True, **depth_range))
test_dataloader = val_dataloader
val_evaluator = dict(type=DepthMetric, protocol='omnifusion', valid_key='depth_valid')
test_evaluator = val_evaluator

max_iters = 400
optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type=CosineAnnealingLR, T_max=max_iters - 30, eta_min=1e-5, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type=ReproducibleIterBasedTrainLoop, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
default_hooks['logger'].update(interval=25)
default_hooks['checkpoint'].update(interval=max_iters, max_keep_ckpts=1)
contract_tiny = dict(base_channels=8, num_heads=2)
