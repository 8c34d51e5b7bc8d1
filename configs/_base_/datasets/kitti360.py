# SSCBench-KITTI-360 for camera-based SSC (VPOcc's KITTI-360 setting): data_2d_raw/<drive>/{image_00/data_rect,
# voxels}, preprocessed targets under label_root (data_prep/kitti360/prepare.py --labels), stereo depth under
# depth_root/<drive>/<frame>.npy, VPs under vp_root (seq_<drive>.json). Images cropped to 376 x 1408, 19 classes.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.occupancy import KITTI360SSCDataset
from geoperc.datasets.transforms.occupancy import (LoadSSCDepth, LoadSSCImage, LoadSSCTarget, LoadVanishingPoint,
                                                   PackSSCInputs, RandomFlipSSC)
from geoperc.evaluation.metrics.ssc_metric import SSCMetric

data_root = 'data/SSCBench-KITTI-360'
label_root = 'data/SSCBench-KITTI-360/preprocess/labels'
depth_root = 'data/SSCBench-KITTI-360/depth'
vp_root = 'data/SSCBench-KITTI-360/vanishing_points'
image_shape = (376, 1408)

train_pipeline = [
    dict(type=LoadSSCImage, image_shape=image_shape),
    dict(type=LoadSSCDepth, depth_root=depth_root, layout='kitti360'),
    dict(type=LoadVanishingPoint, estimate=True, dataset='kitti360'),
    dict(type=LoadSSCTarget),
    dict(type=RandomFlipSSC, prob=0.5),
    dict(type=PackSSCInputs),
]
test_pipeline = [
    dict(type=LoadSSCImage, image_shape=image_shape),
    dict(type=LoadSSCDepth, depth_root=depth_root, layout='kitti360'),
    dict(type=LoadVanishingPoint, estimate=True, dataset='kitti360'),
    dict(type=LoadSSCTarget),
    dict(type=PackSSCInputs),
]
_ds = dict(type=KITTI360SSCDataset, data_root=data_root, label_root=label_root, vp_root=vp_root)
train_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                        sampler=dict(type=DefaultSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
                        dataset=dict(**_ds, split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                      sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
                      dataset=dict(**_ds, split='val', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type=SSCMetric, num_classes=19)
test_evaluator = val_evaluator
