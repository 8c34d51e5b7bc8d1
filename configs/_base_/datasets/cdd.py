# CDD (Real/subset) in its release layout: {train,val,test}/{A,B,OUT}/*.jpg, 256 px, JPEG masks near
# 0/255 -> LoadChangeLabel(threshold=128) (data_prep/cdd/README.md). data_root may be the archive's top
# folder, Real or Real/subset. Same augmentation as LENet's official pipeline (crop 256 is a no-op on
# 256 px pairs); the same random parameters for both dates, photometric distortion per date.
# batch_size is per GPU (MMEngine).
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.change import CDDDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                                         PackChangeInputs)
from geoperc.evaluation.metrics import ChangeMetric

data_root = 'data/ChangeDetectionDataset/Real/subset'
crop_size = (256, 256)
train_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, threshold=128),
    dict(type=MultiDateRandomCrop, crop_size=crop_size),
    dict(type=MultiDateRandomRotate, prob=0.5, degree=30),
    dict(type=MultiDatePhotoMetricDistortion),
    dict(type=MultiDateRandomFlip, prob=0.5),
    dict(type=PackChangeInputs),
]
test_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, threshold=128),
    dict(type=PackChangeInputs),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    drop_last=True,  # BN needs > 1 sample; iteration-based training never sees a ragged batch
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=CDDDataset, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=CDDDataset, data_root=data_root, split='val', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=CDDDataset, data_root=data_root, split='test', pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type=ChangeMetric)
test_evaluator = dict(type=ChangeMetric)
