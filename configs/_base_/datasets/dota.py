# DOTA v1.0 split into 1024 x 1024 patches with gap 200 (data_prep/dota/split.py, mmrotate ss_trainval):
#   python data_prep/dota/split.py --img-dir $DOTA/train/images --ann-dir $DOTA/train/labelTxt \
#       --out $DOTA_SPLIT/train --sizes 1024 --gaps 200      (the same for val; test without --ann-dir)
# data_root (the one setting) holds trainval/ (train and val split into one folder), val/ and test/,
# each with images/ and labelTxt/ (test: images/ only).
# Validation scores the patches; full-image mAP: test_evaluator merges patches (see the README).
from mmengine.dataset import DefaultSampler

from geoperc.datasets.detection import DOTADataset
from geoperc.datasets.transforms import (LoadRotatedAnnotations, LoadRotatedImage, PackRotatedDetInputs,
                                         RFilterAnnotations, RRandomFlip, RResize)
from geoperc.evaluation.metrics import RotatedMAPMetric

data_root = 'data/split_ss_dota'
train_pipeline = [
    dict(type=LoadRotatedImage),
    dict(type=LoadRotatedAnnotations),
    dict(type=RResize, scale=(1024, 1024), keep_ratio=True),
    dict(type=RRandomFlip, prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type=RFilterAnnotations, min_size=1e-2, keep_empty=True),
    dict(type=PackRotatedDetInputs),
]
test_pipeline = [
    dict(type=LoadRotatedImage),
    dict(type=RResize, scale=(1024, 1024), keep_ratio=True),
    dict(type=LoadRotatedAnnotations),
    dict(type=PackRotatedDetInputs),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=DOTADataset, data_root=data_root + '/trainval', version='1.0', filter_empty_gt=True,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=DOTADataset, data_root=data_root + '/val', version='1.0', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=DOTADataset, data_root=data_root + '/test', data_prefix=dict(img='images', ann=None),
                 version='1.0', test_mode=True, pipeline=test_pipeline))
# DOTA devkit rules: IoU > 0.5, difficult ignored, VOC07 11 points; patches scored as they are
val_evaluator = dict(type=RotatedMAPMetric, iou_thrs=[0.5, 0.75], mode='11points', match='dota_devkit',
                     ignore_difficult=True)
# test split: merge patches per image and write Task1_<class>.txt for the DOTA server
test_evaluator = dict(type=RotatedMAPMetric, merge_patches=True, merge_iou_thr=0.1, format_only=True,
                      outfile_prefix='work_dirs/dota_submission')
