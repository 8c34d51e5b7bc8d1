# DIOR-R (800 x 800 images, 20 classes) in its release layout; data_root (the one setting) holds
# JPEGImages-trainval/, JPEGImages-test/, Annotations/Oriented Bounding Boxes/ and ImageSets/Main/.
# Official split: trainval (11,725 images) -> test (11,738). mAP as mmrotate (IoU >= 0.5, 11 points,
# nothing ignored: DIOR-R marks no difficult objects in the released XMLs used by mmrotate's DIORDataset).
from mmengine.dataset import DefaultSampler

from geoperc.datasets.detection import DIORRDataset
from geoperc.datasets.transforms import (LoadRotatedAnnotations, LoadRotatedImage, PackRotatedDetInputs,
                                         RFilterAnnotations, RRandomFlip, RResize)
from geoperc.evaluation.metrics import RotatedMAPMetric

data_root = 'data/DIOR-R'
train_pipeline = [
    dict(type=LoadRotatedImage),
    dict(type=LoadRotatedAnnotations),
    dict(type=RResize, scale=(800, 800), keep_ratio=True),
    dict(type=RRandomFlip, prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type=RFilterAnnotations, min_size=1e-2, keep_empty=True),
    dict(type=PackRotatedDetInputs),
]
test_pipeline = [
    dict(type=LoadRotatedImage),
    dict(type=RResize, scale=(800, 800), keep_ratio=True),
    dict(type=LoadRotatedAnnotations),
    dict(type=PackRotatedDetInputs),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=DIORRDataset, data_root=data_root, split='trainval', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=DIORRDataset, data_root=data_root, split='test', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type=RotatedMAPMetric, iou_thrs=[0.5, 0.75], mode='11points', match='mmrotate',
                     ignore_difficult=False)
test_evaluator = val_evaluator
