# 360D (3D60: Matterport3D / Stanford2D3D / SunCG renders) through the official OmniFusion lists
# (filenames/train_omnidepth.txt, test_omnidepth.txt; "<rgb> <depth.exr>" per line). Depth: OpenEXR float
# metres, channel R (needs the OpenEXR package or an OpenCV build with OpenEXR). OmniFusion's loader:
# 512x256, BGR, valid 0.3 < d <= 8 m, flip + quarter-turn roll; val/test batch 2 (pano_split_list.py).
from mmengine.config import read_base

with read_base():
    from .pano_split_list import *  # noqa: F401,F403

data_root = 'data/360D'
erp_size = (256, 512)
train_pipeline[0].update(scale=erp_size)  # noqa: F405
test_pipeline[0].update(scale=erp_size)  # noqa: F405
common = dict(data_root=data_root, depth_format='3d60', **depth_range)  # noqa: F405
train_dataloader.dataset.update(ann_file='filenames/train_omnidepth.txt', pipeline=train_pipeline,  # noqa: F405
                                **common)
val_dataloader.dataset.update(ann_file='filenames/test_omnidepth.txt', pipeline=test_pipeline, **common)  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
