# Bi-temporal change detection in the common folder layout {train,val,test}/{A,B,label}/<name>.png
# (FolderChangeDataset, LEVIR-CD's folder names), labels 0 / 255 -> 0 / 1. Every folder-layout change
# dataset base imports this file and sets only what is its own: the dataset class, `data_root`, the band
# statistics (`data_preprocessor`), the class names and, where they differ, the label encoding and batch.
#
# Augmentation = LENet's official pipeline: RandomCrop 256, RandomRotate p=0.5 +-30 deg,
# PhotoMetricDistortion, RandomFlip p=0.5 -- here with the same random parameters for both dates, and the
# photometric distortion drawn per date (a pseudo-change augmentation). Val/test: whole images (any size
# works; the preprocessor pads to the model's size_divisor). batch_size is per GPU (MMEngine).
#
# `data_root` is the one setting that moves the data: `--cfg-options data_root=PATH` points train, val and
# test at PATH (geoperc.runner replaces it wherever a dataset uses the config's data_root).
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.change import FolderChangeDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomCrop, MultiDateRandomFlip, MultiDateRandomRotate,
                                         PackChangeInputs)
from geoperc.evaluation.metrics import ChangeMetric

data_root = 'data/change'
classes = ('unchanged', 'changed')
# Band statistics of the files, one value per band on their stored scale; len(mean) is the band count the
# model must be built with (model.in_channels). Leaves apply them with
# model['data_preprocessor'].update(data_preprocessor). ImageNet RGB statistics on 0-255 values.
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
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
    dataset=dict(type=FolderChangeDataset, data_root=data_root, split='train', metainfo=dict(classes=classes),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    # we validate on val; LENet's official val points at the test split
    dataset=dict(type=FolderChangeDataset, data_root=data_root, split='val', metainfo=dict(classes=classes),
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type=ChangeMetric)
test_evaluator = dict(type=ChangeMetric)
