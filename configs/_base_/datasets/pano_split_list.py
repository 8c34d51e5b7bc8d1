# Any equirectangular RGB-D set read through split lists ("<rgb> <depth>" per line, relative to data_root:
# filenames/{train,val,test}.txt; depth_format 'matterport3d' / 'stanford2d3d' / '3d60', see
# geoperc/datasets/depth/pano.py) with OmniFusion's loader conventions: cv2 BGR image resized to erp_size,
# valid depth 0.3 < d <= 8 m, augmentation = random horizontal flip + yaw roll in quarter turns, train batch 8,
# val/test batch 2 (the batch is the median-scaling group of the metric), OmniFusion's depth protocol.
# The common part of matterport3d.py, pano360d.py and stanford2d3d.py, which state only what is their own.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.depth import PanoSplitListDataset
from geoperc.datasets.transforms import PackPanoDepthInputs, PanoRandomFlip, PanoRandomYawRoll, PanoResize
from geoperc.evaluation.metrics import DepthMetric

data_root = 'data/pano'
erp_size = (512, 1024)
dataset_type = PanoSplitListDataset
depth_range = dict(min_depth=0.3, max_depth=8.0)
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
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='filenames/train.txt', depth_format='matterport3d',
                 channel_order='bgr', pipeline=train_pipeline, **depth_range))
val_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='filenames/val.txt', depth_format='matterport3d',
                 channel_order='bgr', pipeline=test_pipeline, test_mode=True, **depth_range))
test_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='filenames/test.txt', depth_format='matterport3d',
                 channel_order='bgr', pipeline=test_pipeline, test_mode=True, **depth_range))
val_evaluator = dict(type=DepthMetric, protocol='omnifusion', valid_key='depth_valid')
test_evaluator = val_evaluator
