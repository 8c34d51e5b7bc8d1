# DOTA v1.0 split into 1024 x 1024 patches with gap 200 (data_prep/dota/split.py, mmrotate ss_trainval):
#   python data_prep/dota/split.py --img-dir $DOTA/train/images --ann-dir $DOTA/train/labelTxt \
#       --out $DOTA_SPLIT/train --sizes 1024 --gaps 200      (the same for val; test without --ann-dir)
# data_root (the one setting) holds trainval/ (train and val split into one folder), val/ and test/,
# each with images/ and labelTxt/ (test: images/ only).
# Validation scores the patches; full-image mAP: test_evaluator merges patches (see the README).
# The loaders of dior_r.py (pipelines, batch sizes) otherwise, at 1024 x 1024.
from mmengine.config import read_base

from geoperc.datasets.detection import DOTADataset
from geoperc.evaluation.metrics import RotatedMAPMetric

with read_base():
    from .dior_r import *  # noqa: F401,F403

data_root = 'data/split_ss_dota'
train_pipeline[2].update(scale=(1024, 1024))  # noqa: F405  (RResize)
test_pipeline[1].update(scale=(1024, 1024))  # noqa: F405  (RResize)
train_dataloader.dataset = dict(type=DOTADataset, data_root=data_root + '/trainval', version='1.0',  # noqa: F405
                                filter_empty_gt=True, pipeline=train_pipeline)  # noqa: F405
val_dataloader.dataset = dict(type=DOTADataset, data_root=data_root + '/val', version='1.0',  # noqa: F405
                              test_mode=True, pipeline=test_pipeline)  # noqa: F405
test_dataloader = dict(
    val_dataloader,  # noqa: F405
    dataset=dict(type=DOTADataset, data_root=data_root + '/test', data_prefix=dict(img='images', ann=None),
                 version='1.0', test_mode=True, pipeline=test_pipeline))  # noqa: F405
# DOTA devkit rules: IoU > 0.5, difficult ignored, VOC07 11 points; patches scored as they are
val_evaluator.update(match='dota_devkit', ignore_difficult=True)  # noqa: F405
# test split: merge patches per image and write Task1_<class>.txt for the DOTA server
test_evaluator = dict(type=RotatedMAPMetric, merge_patches=True, merge_iou_thr=0.1, format_only=True,
                      outfile_prefix='work_dirs/dota_submission')
