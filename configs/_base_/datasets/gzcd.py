# GZ-CD, cropped split copy: {train,val,test}/{A,B,label}/*.png, 256 px, labels 0/255
# (data_prep/gzcd/README.md; for the release's T1/T2/labels_change scenes use split='raw' for training
# and your own val/test selection), on the common folder base (change_folder.py).
from mmengine.config import read_base

from geoperc.datasets.change import GZCDDataset

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/GZ-CD'
classes = ('unchanged', 'building change')
for _loader in (train_dataloader, val_dataloader, test_dataloader):
    _loader['dataset'].update(type=GZCDDataset, data_root=data_root, metainfo=dict(classes=classes))
