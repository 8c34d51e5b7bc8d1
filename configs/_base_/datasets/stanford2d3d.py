# Stanford2D3D panoramas in the release layout (area_*/pano/{rgb,depth}), fold 1 as UniFuse / OmniFusion:
# train on areas 1, 2, 3, 4, 6, test on area 5 (5a + 5b). Depth in the release's own units (1/512 m,
# 65535 = missing; OmniFusion's loader uses 128/65535, 0.2% larger, irrelevant under median scaling).
# OmniFusion's loader conventions: cv2 BGR image, resized to 512x1024 (INTER_AREA), valid depth
# 0.3 < d <= 8 m, augmentation = random horizontal flip + yaw roll in quarter turns (train script:
# rotate=True, flip=True), val/test batch 2 (the batch is the median-scaling group of the metric).
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.depth import Stanford2D3DDataset
from geoperc.datasets.transforms import PackPanoDepthInputs, PanoRandomFlip, PanoRandomYawRoll, PanoResize
from geoperc.evaluation.metrics import DepthMetric

data_root = 'data/Stanford2D3D'
erp_size = (512, 1024)
dataset_type = Stanford2D3DDataset
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
    dataset=dict(type=dataset_type, data_root=data_root, split='train', channel_order='bgr',
                 pipeline=train_pipeline, **depth_range))
val_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', channel_order='bgr',
                 pipeline=test_pipeline, test_mode=True, **depth_range))
test_dataloader = val_dataloader
# OmniFusion's protocol: per-batch median scaling, 0.3 < gt <= 8 m, pixel-pooled means
val_evaluator = dict(type=DepthMetric, protocol='omnifusion', valid_key='depth_valid')
test_evaluator = val_evaluator
