# VPOcc on SSCBench-KITTI-360 (official configs/config_kitti_360.yaml + models/vpocc_kitti_360.yaml): the
# recipe of _base_vpocc_r50_4xb1_30e.py on _base_/datasets/kitti360.py, with 376 x 1408 images, 19 classes
# and KITTI-360 class weights.
# Reference (official README): val IoU 46.35 / mIoU 20.06, test 46.39 / 19.80.
from mmengine.config import read_base

with read_base():
    from ..._base_.datasets.kitti360 import *  # noqa: F401,F403
    from ._base_vpocc_r50_4xb1_30e import *  # noqa: F401,F403

model.update(num_classes=19, class_weights='kitti360')  # noqa: F405
