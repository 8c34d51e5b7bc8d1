# CLCD in its release layout: {train,val,test}/{time1,time2,label}/*.png, 512 px, labels 0/255
# (data_prep/clcd/README.md), on the common folder base (change_folder.py). The official CLCD runs used
# batch 12 per GPU.
from mmengine.config import read_base

from geoperc.datasets.change import CLCDDataset

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/CLCD'
classes = ('unchanged', 'cropland change')
train_dataloader.update(batch_size=12)
for _loader in (train_dataloader, val_dataloader, test_dataloader):
    _loader['dataset'].update(type=CLCDDataset, data_root=data_root, metainfo=dict(classes=classes))
