# Matterport3D panoramas as UniFuse / OmniFusion use them (stitched by UniFuse's MATLAB script), read
# through the official split lists (filenames/matterport3d_{train,val,test}.txt of yuliangguo/OmniFusion,
# "<rgb> <depth>" per line, relative to data_root). Depth 16-bit PNG / 4000 (metres); OmniFusion's loader:
# 1024x512, BGR, valid 0.3 < d <= 10 m, flip + quarter-turn roll; val/test batch 2 (pano_split_list.py).
from mmengine.config import read_base

with read_base():
    from .pano_split_list import *  # noqa: F401,F403

data_root = 'data/Matterport3D'
depth_range = dict(min_depth=0.3, max_depth=10.0)
common = dict(data_root=data_root, depth_format='matterport3d', **depth_range)
train_dataloader.dataset.update(ann_file='filenames/matterport3d_train.txt', **common)  # noqa: F405
val_dataloader.dataset.update(ann_file='filenames/matterport3d_val.txt', **common)  # noqa: F405
test_dataloader.dataset.update(ann_file='filenames/matterport3d_test.txt', **common)  # noqa: F405
val_evaluator.update(max_depth=10.0)  # noqa: F405
test_evaluator = val_evaluator  # noqa: F405
