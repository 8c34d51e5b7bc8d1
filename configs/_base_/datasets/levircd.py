# LEVIR-CD in its release layout: {train,val,test}/{A,B,label}/*.png, 1024 px, labels 0/255
# (data_prep/levircd/README.md). Augmentation = LENet's official pipeline: RandomCrop 256,
# RandomRotate p=0.5 +-30 deg, PhotoMetricDistortion, RandomFlip p=0.5 -- here with the same random
# parameters for both dates, and the photometric distortion drawn per date (a pseudo-change augmentation).
# Val/test: whole 1024 px images (any size divisible by 32 works for the models); LENet's official val
# points at the test split, we validate on val. To evaluate the data_prep/levircd/crop.py 256 px crops,
# point test_dataloader.dataset.data_root at the crop folder.
# batch_size is per GPU (MMEngine); the official runs used 16 per GPU on 2 GPUs.
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.change import LEVIRCDDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                                         PackChangeInputs)
from geoperc.evaluation.metrics import ChangeMetric

data_root = 'data/LEVIR-CD'
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
    dataset=dict(type=LEVIRCDDataset, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=LEVIRCDDataset, data_root=data_root, split='val', pipeline=test_pipeline,
                 test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=LEVIRCDDataset, data_root=data_root, split='test', pipeline=test_pipeline,
                 test_mode=True))
val_evaluator = dict(type=ChangeMetric)
test_evaluator = dict(type=ChangeMetric)
