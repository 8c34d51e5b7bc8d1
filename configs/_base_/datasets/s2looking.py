# S2Looking in its release layout: {train,val,test}/{Image1,Image2,label}/*.png, 1024 px, labels 0/255;
# label = union of label1/label2 when label/ is absent (data_prep/s2looking/README.md). Augmentation =
# LENet's official pipeline (RandomCrop 256, RandomRotate p=0.5 +-30 deg, PhotoMetricDistortion,
# RandomFlip p=0.5), same random parameters for both dates, photometric distortion per date.
# Val/test: whole 1024 px images (models accept any size divisible by 32); LENet's official val points
# at test, we validate on val. batch_size is per GPU (MMEngine).
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.change import S2LookingDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                                         PackChangeInputs)
from geoperc.evaluation.metrics import ChangeMetric

data_root = 'data/S2Looking'
crop_size = (256, 256)
train_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel),  # 0/255 -> 0/1
    dict(type=MultiDateRandomCrop, crop_size=crop_size),
    dict(type=MultiDateRandomRotate, prob=0.5, degree=30),
    dict(type=MultiDatePhotoMetricDistortion),
    dict(type=MultiDateRandomFlip, prob=0.5),
    dict(type=PackChangeInputs),
]
test_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel),
    dict(type=PackChangeInputs),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    drop_last=True,  # BN needs > 1 sample; iteration-based training never sees a ragged batch
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=S2LookingDataset, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=S2LookingDataset, data_root=data_root, split='val', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=S2LookingDataset, data_root=data_root, split='test', pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type=ChangeMetric)
test_evaluator = dict(type=ChangeMetric)
