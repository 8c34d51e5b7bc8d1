# 360D (3D60: Matterport3D / Stanford2D3D / SunCG renders) through the official OmniFusion lists
# (filenames/train_omnidepth.txt, test_omnidepth.txt; "<rgb> <depth.exr>" per line). Depth: OpenEXR float
# metres, channel R (needs the OpenEXR package or an OpenCV build with OpenEXR). OmniFusion's loader:
# 512x256, BGR, valid 0.3 < d <= 8 m, flip + quarter-turn roll; val/test batch 2.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.depth import PanoSplitListDataset
from geoperc.datasets.transforms import PackPanoDepthInputs, PanoRandomFlip, PanoRandomYawRoll, PanoResize
from geoperc.evaluation.metrics import DepthMetric

data_root = 'data/360D'
erp_size = (256, 512)
dataset_type = PanoSplitListDataset
depth_range = dict(min_depth=0.3, max_depth=8.0)
common = dict(type=dataset_type, data_root=data_root, depth_format='3d60', channel_order='bgr', **depth_range)
train_pipeline = [
    dict(type=PanoResize, scale=erp_size),
    dict(type=PanoRandomFlip, prob=0.5),
    dict(type=PanoRandomYawRoll, steps=4),
    dict(type=PackPanoDepthInputs),
]
test_pipeline = [dict(type=PanoResize, scale=erp_size), dict(type=PackPanoDepthInputs)]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type=DefaultSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=dict(ann_file='filenames/train_omnidepth.txt', pipeline=train_pipeline, **common))
val_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(ann_file='filenames/test_omnidepth.txt', pipeline=test_pipeline, test_mode=True, **common))
test_dataloader = val_dataloader
val_evaluator = dict(type=DepthMetric, protocol='omnifusion', valid_key='depth_valid')
test_evaluator = val_evaluator
