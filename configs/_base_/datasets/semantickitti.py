# SemanticKITTI SSC for camera-based models (VPOcc): the release layout under data_root (sequences/XX/...,
# see geoperc/io/semantic_kitti.py), offline stereo depth under depth_root (VoxFormer / MobileStereoNet
# layout sequences/XX/NNNNNN.npy) and VPOcc's NeurVPS vanishing points under vp_root (seq_XX.json; make them
# without downloads with data_prep/semantic_kitti/vanishing_points.py). Images cropped to 370 x 1220, random
# horizontal flip in training (VP and target mirrored as the official dataset), batch 1 per GPU.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.occupancy import SemanticKITTISSCDataset
from geoperc.datasets.transforms.occupancy import (LoadSSCDepth, LoadSSCImage, LoadSSCTarget, LoadVanishingPoint,
                                                   PackSSCInputs, RandomFlipSSC)
from geoperc.evaluation.metrics.ssc_metric import SSCMetric

data_root = 'data/SemanticKITTI/dataset'
depth_root = 'data/SemanticKITTI/depth'
vp_root = 'data/SemanticKITTI/vanishing_points'
image_shape = (370, 1220)

train_pipeline = [
    dict(type=LoadSSCImage, image_shape=image_shape),
    dict(type=LoadSSCDepth, depth_root=depth_root),
    dict(type=LoadVanishingPoint, estimate=True),
    dict(type=LoadSSCTarget),
    dict(type=RandomFlipSSC, prob=0.5),
    dict(type=PackSSCInputs),
]
test_pipeline = [
    dict(type=LoadSSCImage, image_shape=image_shape),
    dict(type=LoadSSCDepth, depth_root=depth_root),
    dict(type=LoadVanishingPoint, estimate=True),
    dict(type=LoadSSCTarget),
    dict(type=PackSSCInputs),
]
_ds = dict(type=SemanticKITTISSCDataset, data_root=data_root, vp_root=vp_root)
train_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                        sampler=dict(type=DefaultSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
                        dataset=dict(**_ds, split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True,
                      sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
                      dataset=dict(**_ds, split='val', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type=SSCMetric, num_classes=20)
test_evaluator = val_evaluator
