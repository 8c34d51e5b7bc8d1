# Bi-temporal GeoTIFF scenes with a label raster (0 unchanged, 1 changed, 255/nodata not scored), any band
# count and dtype, cut into 256 px windows on date 1's grid (date 2 / label warped onto it when their grid
# differs). Each window carries crs / transform / window / nodata metainfo. Replace the pairs with your
# scenes (paths relative to data_root); keep training and validation scenes apart.
# Augmentation: LENet-style, the same random parameters for both dates, photometric distortion per date
# (pseudo-change augmentation; nodata pixels are left untouched).
from mmengine.dataset import DefaultSampler, pseudo_collate

from geoperc.datasets.change import GeoTIFFChangeDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomFlip, MultiDateRandomRotate, MultiDateRandomRotate90,
                                         PackChangeInputs)
from geoperc.evaluation.metrics import ChangeMetric

data_root = 'data/geotiff_pair'
train_pairs = [dict(a='train/date1.tif', b='train/date2.tif', label='train/label.tif')]
val_pairs = [dict(a='val/date1.tif', b='val/date2.tif', label='val/label.tif')]
test_pairs = val_pairs
tile = 256
train_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, mapping=None),  # the raster already holds 0 / 1 / 255
    dict(type=MultiDateRandomRotate, prob=0.5, degree=30),
    dict(type=MultiDateRandomRotate90, prob=0.5),
    dict(type=MultiDatePhotoMetricDistortion),
    dict(type=MultiDateRandomFlip, prob=0.5, direction=['horizontal', 'vertical']),
    dict(type=PackChangeInputs),
]
test_pipeline = [
    dict(type=LoadMultiDateImages),
    dict(type=LoadChangeLabel, mapping=None),
    dict(type=PackChangeInputs),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    drop_last=True,  # BN needs > 1 sample; iteration-based training never sees a ragged batch
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=train_pairs, tile=tile, overlap=tile // 2,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=val_pairs, tile=tile, overlap=0,
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=test_pairs, tile=tile, overlap=0,
                 pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(type=ChangeMetric)
test_evaluator = dict(type=ChangeMetric)
