# Matterport3D panoramas as UniFuse / OmniFusion use them (stitched by UniFuse's MATLAB script), read
# through the official split lists (filenames/matterport3d_{train,val,test}.txt of yuliangguo/OmniFusion,
# "<rgb> <depth>" per line, relative to data_root). Depth 16-bit PNG / 4000 (metres); OmniFusion's loader:
# 1024x512, BGR, valid 0.3 < d <= 10 m, flip + quarter-turn roll; val/test batch 2.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.depth import PanoSplitListDataset
from geoperc.datasets.transforms import PackPanoDepthInputs, PanoRandomFlip, PanoRandomYawRoll, PanoResize
from geoperc.evaluation.metrics import DepthMetric

data_root = 'data/Matterport3D'
erp_size = (512, 1024)
dataset_type = PanoSplitListDataset
depth_range = dict(min_depth=0.3, max_depth=10.0)
common = dict(type=dataset_type, data_root=data_root, depth_format='matterport3d', channel_order='bgr',
              **depth_range)
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
    dataset=dict(ann_file='filenames/matterport3d_train.txt', pipeline=train_pipeline, **common))
val_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(ann_file='filenames/matterport3d_val.txt', pipeline=test_pipeline, test_mode=True, **common))
test_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(ann_file='filenames/matterport3d_test.txt', pipeline=test_pipeline, test_mode=True, **common))
val_evaluator = dict(type=DepthMetric, protocol='omnifusion', max_depth=10.0, valid_key='depth_valid')
test_evaluator = val_evaluator
