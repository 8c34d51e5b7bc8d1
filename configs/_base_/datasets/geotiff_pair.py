# Bi-temporal GeoTIFF scenes with a label raster (0 unchanged, 1 changed, 255/nodata not scored), any band
# count and dtype, cut into 256 px windows on date 1's grid (date 2 / label warped onto it when their grid
# differs). Each window carries crs / transform / window / nodata metainfo. Replace the pairs with your
# scenes (paths relative to data_root); keep training and validation scenes apart.
# Augmentation: LENet-style, the same random parameters for both dates, photometric distortion per date
# (pseudo-change augmentation; nodata pixels are left untouched). Loader settings, evaluators and the
# one-setting data_root: the common change base (change_folder.py).
from mmengine.config import read_base

from geoperc.datasets.change import GeoTIFFChangeDataset
from geoperc.datasets.transforms import (LoadChangeLabel, LoadMultiDateImages, MultiDatePhotoMetricDistortion,
                                         MultiDateRandomFlip, MultiDateRandomRotate, MultiDateRandomRotate90,
                                         PackChangeInputs)

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/geotiff_pair'
# Replace with the per-band statistics of your scenes; len(mean) is the band count the model must be built
# with (model.in_channels). These are the ImageNet RGB values on 0-255.
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
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
train_dataloader.update(batch_size=8)
val_dataloader.update(batch_size=4)
test_dataloader.update(batch_size=4)
train_dataloader['dataset'] = dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=train_pairs, tile=tile,
                                   overlap=tile // 2, metainfo=dict(classes=classes), pipeline=train_pipeline)
val_dataloader['dataset'] = dict(type=GeoTIFFChangeDataset, data_root=data_root, pairs=val_pairs, tile=tile,
                                 overlap=0, metainfo=dict(classes=classes), pipeline=test_pipeline, test_mode=True)
test_dataloader['dataset'] = dict(val_dataloader['dataset'], pairs=test_pairs)
