# SSCBench-KITTI-360 for camera-based SSC (VPOcc's KITTI-360 setting): data_2d_raw/<drive>/{image_00/data_rect,
# voxels}, preprocessed targets under label_root (data_prep/kitti360/prepare.py --labels), stereo depth under
# depth_root/<drive>/<frame>.npy, VPs under vp_root (seq_<drive>.json). Images cropped to 376 x 1408, 19 classes;
# the loaders of semantickitti.py otherwise.
from mmengine.config import read_base

from geoperc.datasets.occupancy import KITTI360SSCDataset

with read_base():
    from .semantickitti import *  # noqa: F401,F403

data_root = 'data/SSCBench-KITTI-360'
label_root = 'data/SSCBench-KITTI-360/preprocess/labels'
depth_root = 'data/SSCBench-KITTI-360/depth'
vp_root = 'data/SSCBench-KITTI-360/vanishing_points'
image_shape = (376, 1408)
# pipelines: 0 LoadSSCImage, 1 LoadSSCDepth, 2 LoadVanishingPoint (as semantickitti.py) in the KITTI-360 layout
train_pipeline[0].update(image_shape=image_shape)  # noqa: F405
train_pipeline[1].update(depth_root=depth_root, layout='kitti360')  # noqa: F405
train_pipeline[2].update(dataset='kitti360')  # noqa: F405
test_pipeline[0].update(image_shape=image_shape)  # noqa: F405
test_pipeline[1].update(depth_root=depth_root, layout='kitti360')  # noqa: F405
test_pipeline[2].update(dataset='kitti360')  # noqa: F405
_ds = dict(type=KITTI360SSCDataset, data_root=data_root, label_root=label_root, vp_root=vp_root)
train_dataloader.dataset = dict(**_ds, split='train', pipeline=train_pipeline)  # noqa: F405
val_dataloader.dataset = dict(**_ds, split='val', pipeline=test_pipeline, test_mode=True)  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
val_evaluator.update(num_classes=19)  # noqa: F405
test_evaluator = val_evaluator  # noqa: F405
