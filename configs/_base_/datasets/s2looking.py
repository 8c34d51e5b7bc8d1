# S2Looking in its release layout: {train,val,test}/{Image1,Image2,label}/*.png, 1024 px, labels 0/255;
# label = union of label1/label2 when label/ is absent (data_prep/s2looking/README.md), on the common
# folder base (change_folder.py).
from mmengine.config import read_base

from geoperc.datasets.change import S2LookingDataset

with read_base():
    from .change_folder import *  # noqa: F401,F403

data_root = 'data/S2Looking'
classes = ('unchanged', 'building change')
for _loader in (train_dataloader, val_dataloader, test_dataloader):
    _loader['dataset'].update(type=S2LookingDataset, data_root=data_root, metainfo=dict(classes=classes))
